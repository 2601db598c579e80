"""`--metrics FILE`: the Prometheus textfile each command writes, read back with prometheus_client's
parser, from the command line (subprocess) on a copy of the fixture project; and the rendering and
atomic write of `mxcp_compact.metrics` itself."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import FIXTURE_NOW, PROFILE_FILES, RunCli, console_script, record, write_log
from mxcp_compact import metrics
from mxcp_compact.metrics import RunMetrics, render, write_metrics

#: The fixture's oldest record is 2026-02-27T00:00:00Z: 273 days before FIXTURE_NOW.
FIXTURE_OLDEST_AGE = 273 * 86_400


def gauges(path: Path, command: str, profile: str) -> dict[str, float]:
    """Every sample of a metrics file by family name without the prefix (`records_deleted` as
    `records_deleted:SCHEMA:VERSION`), after checking that each is a gauge of this command and
    profile."""
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(path.read_text(encoding="utf-8")):
        assert family.type == "gauge", family.name
        for sample in family.samples:
            labels = dict(sample.labels)
            assert (labels.pop("command"), labels.pop("profile")) == (command, profile), sample
            name = sample.name.removeprefix("mxcp_compact_")
            if labels:
                name = f"{name}:{labels.pop('schema')}:{labels.pop('schema_version')}"
            assert not labels, sample
            assert name not in found, sample
            found[name] = sample.value
    return found


def names(directory: Path) -> list[str]:
    return sorted(entry.name for entry in directory.iterdir())


def sizes(project: Path, profile: str = "default") -> int:
    return sum((project / name).stat().st_size for name in PROFILE_FILES[profile] if (project / name).exists())


# --- log-cleanup ---------------------------------------------------------------------------------------


def test_a_successful_cleanup_records_its_deletions_and_a_success_at_the_run_time(
    fixture_project: Path, cli_subprocess: RunCli, tmp_path: Path
) -> None:
    prom = tmp_path / "cleanup.prom"
    before = time.time()
    result = cli_subprocess(["log-cleanup", "--now", FIXTURE_NOW, "--metrics", prom], cwd=fixture_project)
    assert result.exit_code == 0, result.stderr
    found = gauges(prom, "log-cleanup", "default")
    assert before <= found["last_run_timestamp_seconds"] <= time.time()
    assert found["last_success_timestamp_seconds"] == found["last_run_timestamp_seconds"]
    assert found["last_run_success"] == 1
    assert 0 < found["last_run_duration_seconds"] < 60
    assert found["records_deleted:mxcp.endpoints:1"] == 273
    assert found["records_deleted:mxcp.endpoints:2"] == 73
    assert found["log_bytes"] == sizes(fixture_project)
    assert found["unevaluable_lines"] == 0
    assert names(tmp_path) == ["cleanup.prom", "project"], "no temp file left beside it"


@pytest.mark.parametrize("stdout", ["/dev/full", "closed"])
def test_a_report_that_cannot_be_written_fails_the_run_in_one_line(
    fixture_project: Path, tmp_path: Path, stdout: str
) -> None:
    """Cron's `>> cleanup.log` on the full disk being cleaned, or a closed stdout: the cleanup
    is done, but the run exits 1 with one line on stderr and does not read as a success."""
    prom = tmp_path / "cleanup.prom"
    command = [*console_script(), "log-cleanup", "--now", FIXTURE_NOW, "--metrics", str(prom)]
    if stdout == "closed":
        # Python takes a closed descriptor 1 for no stdout at all (sys.stdout is None).
        command = ["sh", "-c", 'exec "$@" >&-', "sh", *command]
    with Path("/dev/full" if stdout == "/dev/full" else os.devnull).open("wb") as sink:
        done = subprocess.run(
            command, cwd=fixture_project, stdout=sink, stderr=subprocess.PIPE, text=True, timeout=120, check=False
        )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1].startswith("Error: cannot write the report to standard output")
    assert "Traceback" not in done.stderr
    found = gauges(prom, "log-cleanup", "default")
    assert found["last_run_success"] == 0
    assert found["records_deleted:mxcp.endpoints:2"] == 73, "the cleanup itself was done"


def test_a_cleanup_with_nothing_to_delete_records_zero_for_each_schema_seen(
    fixture_project: Path, cli_subprocess: RunCli, tmp_path: Path
) -> None:
    prom = tmp_path / "cleanup.prom"
    for _ in range(2):
        assert (
            cli_subprocess(["log-cleanup", "--now", FIXTURE_NOW, "--metrics", prom], cwd=fixture_project).exit_code == 0
        )
    found = gauges(prom, "log-cleanup", "default")
    assert (found["records_deleted:mxcp.endpoints:1"], found["records_deleted:mxcp.endpoints:2"]) == (0, 0)


def test_a_failed_cleanup_updates_the_run_time_and_status_but_keeps_the_last_success(
    fixture_project: Path, cli_subprocess: RunCli, tmp_path: Path
) -> None:
    prom = tmp_path / "cleanup.prom"
    first = cli_subprocess(["log-cleanup", "--now", "2026-06-01", "--metrics", prom], cwd=fixture_project)
    assert first.exit_code == 0, first.stderr
    succeeded = gauges(prom, "log-cleanup", "default")
    # A second name for the base log: the copy-and-rename path refuses it, the segments are compacted.
    os.link(fixture_project / "audit/logs-default.jsonl", tmp_path / "second-name.jsonl")
    failed_run = cli_subprocess(["log-cleanup", "--now", FIXTURE_NOW, "--metrics", prom], cwd=fixture_project)
    assert failed_run.exit_code == 1
    assert "has 2 hard links" in failed_run.stdout
    failed = gauges(prom, "log-cleanup", "default")
    assert failed["last_run_success"] == 0
    assert failed["last_run_timestamp_seconds"] > succeeded["last_run_timestamp_seconds"]
    assert failed["last_success_timestamp_seconds"] == succeeded["last_success_timestamp_seconds"]
    assert failed["records_deleted:mxcp.endpoints:2"] == 73, "what the other files did is still recorded"
    assert failed["log_bytes"] == sizes(fixture_project), "the file that failed counts at its size"


def test_a_run_that_fails_after_planning_is_recorded_as_failed(
    fixture_project: Path, cli_subprocess: RunCli, tmp_path: Path
) -> None:
    prom = tmp_path / "cleanup.prom"
    # A directory where the archive goes: refused when the run opens it, once planned (a
    # missing directory is refused by the plan itself now, so that a dry run refuses it too).
    archive = tmp_path / "deleted.jsonl"
    archive.mkdir()
    result = cli_subprocess(
        ["log-cleanup", "--now", FIXTURE_NOW, "--archive", archive, "--metrics", prom], cwd=fixture_project
    )
    assert result.exit_code == 2 and result.stderr.startswith("Error: ")
    found = gauges(prom, "log-cleanup", "default")
    assert found["last_run_success"] == 0
    assert "last_success_timestamp_seconds" not in found, "there never was a success"


def test_a_dry_run_writes_no_metrics_and_says_so(fixture_project: Path, cli_subprocess: RunCli, tmp_path: Path) -> None:
    prom = tmp_path / "cleanup.prom"
    result = cli_subprocess(["log-cleanup", "--dry-run", "--now", FIXTURE_NOW, "--metrics", prom], cwd=fixture_project)
    assert result.exit_code == 0, result.stderr
    assert not prom.exists()
    assert f"note: a dry run writes no metrics ({prom})" in result.stderr.splitlines()


def test_the_settings_file_names_the_metrics_file_relative_to_itself(
    fixture_project: Path, cli_subprocess: RunCli
) -> None:
    (fixture_project / "metrics").mkdir()
    (fixture_project / "mxcp-compact.toml").write_text('[cleanup]\nmetrics = "metrics/cleanup.prom"\n')
    result = cli_subprocess(["log-cleanup", "--now", FIXTURE_NOW], cwd=fixture_project / "audit")
    assert result.exit_code == 0, result.stderr
    found = gauges(fixture_project / "metrics/cleanup.prom", "log-cleanup", "default")
    assert found["records_deleted:mxcp.endpoints:1"] == 273
    (fixture_project / "mxcp-compact.toml").write_text("[cleanup]\nmetrics = 5\n")
    bad = cli_subprocess(["log-cleanup", "--now", FIXTURE_NOW], cwd=fixture_project)
    assert bad.exit_code == 2
    assert "cleanup.metrics must be a file path" in bad.stderr


def test_an_unwritable_metrics_file_fails_the_cleanup_after_reporting_it(
    fixture_project: Path, cli_subprocess: RunCli, tmp_path: Path
) -> None:
    in_the_way = tmp_path / "cleanup.prom"
    in_the_way.mkdir()  # a directory cannot be renamed over
    result = cli_subprocess(["log-cleanup", "--now", FIXTURE_NOW, "--metrics", in_the_way], cwd=fixture_project)
    assert result.exit_code == 1
    assert "Total records deleted: 346" in result.stdout
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"error: {in_the_way}: cannot write the metrics file: ")
    assert names(tmp_path) == ["cleanup.prom", "project"], "no temp file left beside it"
    assert not names(in_the_way)


# --- verify and stats ----------------------------------------------------------------------------------


def test_verify_records_not_compliant_before_the_cleanup_and_compliant_after(
    fixture_project: Path, cli_subprocess: RunCli, tmp_path: Path
) -> None:
    prom = tmp_path / "verify.prom"
    before = cli_subprocess(["verify", "--now", FIXTURE_NOW, "--metrics", prom], cwd=fixture_project)
    assert before.exit_code == 1
    failing = gauges(prom, "verify", "default")
    assert (failing["last_run_success"], failing["expired_records"]) == (0, 346)
    assert (failing["future_records"], failing["unevaluable_lines"]) == (0, 0)
    assert failing["oldest_record_age_seconds"] == FIXTURE_OLDEST_AGE
    assert "last_success_timestamp_seconds" not in failing
    assert cli_subprocess(["log-cleanup", "--now", FIXTURE_NOW], cwd=fixture_project).exit_code == 0
    after = cli_subprocess(["verify", "--now", FIXTURE_NOW, "--metrics", prom], cwd=fixture_project)
    assert after.exit_code == 0, after.stderr
    passing = gauges(prom, "verify", "default")
    assert (passing["last_run_success"], passing["expired_records"]) == (1, 0)
    assert passing["last_success_timestamp_seconds"] == passing["last_run_timestamp_seconds"]
    assert passing["oldest_record_age_seconds"] <= 91 * 86_400


def test_stats_records_the_log_size_oldest_record_age_future_and_unevaluable_lines(
    fixture_project: Path, cli_subprocess: RunCli, tmp_path: Path
) -> None:
    prom = tmp_path / "stats.prom"
    result = cli_subprocess(["stats", "--now", FIXTURE_NOW, "--metrics", prom], cwd=fixture_project)
    assert result.exit_code == 0, result.stderr
    found = gauges(prom, "stats", "default")
    assert found["last_run_success"] == 1
    assert found["log_bytes"] == sizes(fixture_project)
    assert found["oldest_record_age_seconds"] == FIXTURE_OLDEST_AGE
    assert (found["expired_records"], found["future_records"], found["unevaluable_lines"]) == (346, 0, 0)
    log = tmp_path / "logs" / "app.jsonl"
    write_log(
        log,
        [
            record("mxcp.endpoints", 2, "2026-11-26T00:00:00Z"),
            record("mxcp.endpoints", 2, "2027-06-01T00:00:00Z"),
            "{broken\n",
        ],
    )
    on_paths = cli_subprocess(["stats", "--path", log, "--now", FIXTURE_NOW, "--metrics", prom], cwd=tmp_path)
    assert on_paths.exit_code == 0, on_paths.stderr
    found = gauges(prom, "stats", "")
    assert (found["future_records"], found["unevaluable_lines"], found["log_bytes"]) == (1, 1, log.stat().st_size)
    assert found["oldest_record_age_seconds"] == 86_400


@pytest.mark.parametrize("command", ["verify", "stats"])
def test_an_unwritable_metrics_file_fails_verify_and_stats_with_one_line(
    command: str, fixture_project: Path, cli_subprocess: RunCli, tmp_path: Path
) -> None:
    prom = tmp_path / "no-such-dir" / f"{command}.prom"
    assert cli_subprocess(["log-cleanup", "--now", FIXTURE_NOW], cwd=fixture_project).exit_code == 0
    result = cli_subprocess([command, "--now", FIXTURE_NOW, "--metrics", prom], cwd=fixture_project)
    assert result.exit_code == 1
    assert result.stdout, "the command's own report comes first"
    (line,) = result.stderr.splitlines()
    assert line == f"Error: {prom}: cannot write the metrics file: No such file or directory"


def test_every_command_help_shows_the_metrics_option(cli_subprocess: RunCli, tmp_path: Path) -> None:
    for command in ("log-cleanup", "verify", "stats"):
        shown = cli_subprocess([command, "--help"], cwd=tmp_path)
        assert shown.exit_code == 0
        assert "--metrics FILE" in shown.stdout, command


# --- rendering and writing -----------------------------------------------------------------------------


def test_label_values_are_escaped_so_the_parser_reads_them_back() -> None:
    profile = 'odd "name" with \\ and\nnewline'
    figures = RunMetrics("stats", profile, True, 1_800_000_000.25, 0.5, {'a"b\\c:2': 3}, log_bytes=7)
    text = render(figures, None)
    assert len([line for line in text.splitlines() if not line.startswith("#")]) == 6, "one line per sample"
    samples = [sample for family in text_string_to_metric_families(text) for sample in family.samples]
    assert {sample.labels["profile"] for sample in samples} == {profile}
    (deleted,) = [sample for sample in samples if sample.name == "mxcp_compact_records_deleted"]
    assert (deleted.labels["schema"], deleted.labels["schema_version"], deleted.value) == ('a"b\\c', "2", 3)


def test_every_family_has_the_same_help_and_type_whichever_command_writes_it() -> None:
    # node_exporter's textfile collector merges the files of its directory and rejects a family
    # whose HELP or TYPE differs between them.
    full = {
        "deleted_per_schema": {"s:1": 1},
        "log_bytes": 1,
        "unevaluable_lines": 1,
        "future_records": 1,
        "oldest_record_age_seconds": 1.0,
        "expired_records": 1,
    }
    seen: dict[str, tuple[str, str]] = {}
    for command in ("log-cleanup", "verify", "stats"):
        text = render(RunMetrics(command, "p", True, 1.0, 1.0, **full), None)
        for family in text_string_to_metric_families(text):
            assert seen.setdefault(family.name, (family.documentation, family.type)) == (
                family.documentation,
                family.type,
            )
    assert len(seen) == 10


def test_the_write_replaces_the_file_atomically_and_leaves_no_temp(tmp_path: Path) -> None:
    prom = tmp_path / "mxcp.prom"
    write_metrics(prom, RunMetrics("verify", "default", True, 100.0, 1.0))
    write_metrics(prom, RunMetrics("verify", "default", False, 200.0, 1.0))
    assert names(tmp_path) == ["mxcp.prom"]
    found = gauges(prom, "verify", "default")
    assert (found["last_run_timestamp_seconds"], found["last_success_timestamp_seconds"]) == (200, 100)


def test_a_write_that_fails_leaves_the_previous_file_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prom = tmp_path / "mxcp.prom"
    write_metrics(prom, RunMetrics("verify", "default", True, 100.0, 1.0))
    previous = prom.read_bytes()

    def disk_full(descriptor: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(metrics.os, "fsync", disk_full)
    problem = metrics.write_or_explain(prom, RunMetrics("verify", "default", False, 200.0, 1.0))
    assert problem == f"{prom}: cannot write the metrics file: No space left on device"
    assert prom.read_bytes() == previous
    assert names(tmp_path) == ["mxcp.prom"]


def test_the_success_time_is_carried_over_for_the_same_command_and_profile_only(tmp_path: Path) -> None:
    prom = tmp_path / "mxcp.prom"
    write_metrics(prom, RunMetrics("log-cleanup", "default", True, 100.0, 1.0))
    write_metrics(prom, RunMetrics("log-cleanup", "production", False, 200.0, 1.0))
    assert "last_success_timestamp_seconds" not in gauges(prom, "log-cleanup", "production")
    write_metrics(prom, RunMetrics("log-cleanup", "production", True, 300.0, 1.0))
    write_metrics(prom, RunMetrics("log-cleanup", "production", False, 400.0, 1.0))
    assert gauges(prom, "log-cleanup", "production")["last_success_timestamp_seconds"] == 300


@pytest.mark.parametrize("profile", ["eu\u2028west", "a\x85b", "form\x0cfeed"])
def test_the_success_time_is_carried_over_whatever_characters_the_profile_holds(tmp_path: Path, profile: str) -> None:
    # str.splitlines() also splits at U+2028, NEL and form feed: the earlier success was not found.
    prom = tmp_path / "mxcp.prom"
    write_metrics(prom, RunMetrics("log-cleanup", profile, True, 100.0, 1.0))
    write_metrics(prom, RunMetrics("log-cleanup", profile, False, 200.0, 1.0))
    assert gauges(prom, "log-cleanup", profile)["last_success_timestamp_seconds"] == 100
