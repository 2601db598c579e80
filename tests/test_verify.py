"""`mxcp-compact verify`: exit status, per-file findings and the JSON document, from the CLI."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import FIXTURE_NOW, RunCli


def test_verify_fails_on_the_fixture_before_cleanup_and_passes_after(
    fixture_project: Path, cli_subprocess: RunCli
) -> None:
    before = cli_subprocess(["verify", "--now", FIXTURE_NOW], cwd=fixture_project)
    assert before.exit_code == 1, before.stderr
    assert "logs-default.jsonl: 273 records past retention (oldest 2026-02-27T00:00:00+00:00, line 1)" in before.stdout
    assert before.stdout.endswith("Not compliant: 346 records past their retention in 5 files checked.\n")
    assert cli_subprocess(["log-cleanup", "--now", FIXTURE_NOW], cwd=fixture_project).exit_code == 0
    after = cli_subprocess(["verify", "--now", FIXTURE_NOW, "--json"], cwd=fixture_project)
    assert after.exit_code == 0, after.stderr
    document = json.loads(after.stdout)
    assert (document["status"], document["records_past_retention"], len(document["files"])) == ("compliant", 0, 5)


def test_verify_names_the_oldest_expired_record_future_records_and_unevaluable_lines(
    tmp_path: Path, cli_subprocess: RunCli
) -> None:
    def record(timestamp: str) -> str:
        return f'{{"schema_name": "mxcp.endpoints", "schema_version": 2, "timestamp": "{timestamp}"}}\n'

    log = tmp_path / "logs-default.jsonl"
    lines = [record("2026-11-20T00:00:00Z")] * 5
    lines[1] = record("2026-03-01T00:00:00Z")
    lines[3] = record("2025-12-31T23:00:00Z")
    lines += ["{broken\n", record("2027-06-01T00:00:00Z")]
    log.write_text("".join(lines))
    result = cli_subprocess(["verify", "--path", log, "--now", FIXTURE_NOW, "--json"], cwd=tmp_path)
    assert result.exit_code == 1
    (entry,) = json.loads(result.stdout)["files"]
    assert entry["records_past_retention"] == 2
    assert (entry["oldest_past_retention"], entry["oldest_past_retention_line"]) == ("2025-12-31T23:00:00+00:00", 4)
    assert (entry["future_records"], entry["first_future_line"], entry["unevaluable"]) == (1, 7, 1)
    text = cli_subprocess(["verify", "--path", log, "--now", FIXTURE_NOW], cwd=tmp_path)
    assert "1 records dated in the future (first at line 7)" in text.stdout
    assert "1 lines could not be evaluated (kept)" in text.stdout


def test_verify_reports_bad_options_and_unreadable_files(tmp_path: Path, cli_subprocess: RunCli) -> None:
    bad = cli_subprocess(["verify", "--path", tmp_path, "--retain", "x"], cwd=tmp_path)
    assert bad.exit_code == 2 and bad.stderr.startswith("Error: ")
    missing = cli_subprocess(["verify", "--path", tmp_path / "gone.jsonl", "--json"], cwd=tmp_path)
    assert missing.exit_code in (1, 2)
    assert "gone.jsonl" in missing.stdout + missing.stderr


def test_verify_names_an_oldest_record_that_an_offset_moves_into_year_0(tmp_path: Path, cli_subprocess: RunCli) -> None:
    log = tmp_path / "logs-default.jsonl"
    log.write_text('{"schema_name": "mxcp.endpoints", "schema_version": 2, "timestamp": "0001-01-01T00:00:00+01:00"}\n')
    result = cli_subprocess(["verify", "--path", log, "--now", FIXTURE_NOW, "--json"], cwd=tmp_path)
    assert result.exit_code == 1, result.stderr
    (entry,) = json.loads(result.stdout)["files"]
    assert entry["oldest_past_retention"] == "0000-12-31T23:00:00+00:00"
    text = cli_subprocess(["verify", "--path", log, "--now", FIXTURE_NOW], cwd=tmp_path)
    assert text.exit_code == 1 and "0000-12-31T23:00:00+00:00" in text.stdout, text.stdout + text.stderr


def test_a_file_that_cannot_be_read_leaves_the_logs_not_proven_compliant(
    tmp_path: Path, cli_subprocess: RunCli
) -> None:
    import gzip

    logs = tmp_path / "logs"
    logs.mkdir()
    young = '{"schema_name": "mxcp.endpoints", "schema_version": 2, "timestamp": "2026-11-20T00:00:00Z"}\n'
    (logs / "logs-default.jsonl").write_text(young)
    cut = logs / "logs-default.jsonl.1.gz"
    cut.write_bytes(gzip.compress(young.encode() * 50)[:40])
    result = cli_subprocess(["verify", "--path", logs, "--now", FIXTURE_NOW], cwd=tmp_path)
    assert result.exit_code == 1
    assert f"{cut}: not checked: is not valid gzip" in result.stdout, result.stdout
    assert result.stdout.endswith("Not proven compliant: 1 of 2 files could not be checked.\n")
    assert "Not compliant: 0 records" not in result.stdout
    document = json.loads(
        cli_subprocess(["verify", "--path", logs, "--now", FIXTURE_NOW, "--json"], cwd=tmp_path).stdout
    )
    assert (document["status"], document["records_past_retention"], document["files_not_checked"]) == (
        "not_compliant",
        0,
        1,
    )


def test_verify_of_a_directory_without_logs_says_nothing_was_checked(tmp_path: Path, cli_subprocess: RunCli) -> None:
    empty = tmp_path / "audit"
    empty.mkdir()
    result = cli_subprocess(["verify", "--path", empty, "--now", FIXTURE_NOW], cwd=tmp_path)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "Compliant: no audit log was found, so none holds a record past its retention.\n"
    assert "note: nothing was checked" in result.stderr
