"""Compressed and rotated archives (`x.jsonl.1`, `x.jsonl.2.gz`, multi-frame `.jsonl.zst`)
cleaned record by record from the command line, and `[archive]` retention beside the logs'."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
import zstandard

from conftest import RunCli

NOW = "2026-11-27T00:00:00Z"


def record(day: str, n: int) -> str:
    return f'{{"schema_name": "mxcp.endpoints", "schema_version": 2, "timestamp": "{day}T00:00:00Z", "n": {n}}}\n'


def mixed(first: int, count: int, old_day: str = "2020-01-01") -> tuple[str, str]:
    """(all lines, the lines 90-day retention keeps): every third expired."""
    numbers = range(first, first + count)
    lines = [record(old_day if n % 3 == 0 else "2026-11-20", n) for n in numbers]
    return "".join(lines), "".join(line for n, line in zip(numbers, lines, strict=True) if n % 3 != 0)


def gzip_members(*parts: str) -> bytes:
    return b"".join(gzip.compress(part.encode()) for part in parts)


def zstd_frames(*parts: str) -> bytes:
    return b"".join(zstandard.ZstdCompressor().compress(part.encode()) for part in parts)


def unzstd(data: bytes) -> bytes:
    reader = zstandard.ZstdDecompressor().stream_reader(data, read_across_frames=True)
    return reader.read()


def test_a_directory_of_rotated_and_compressed_logs_is_cleaned_record_by_record(
    tmp_path: Path, cli_subprocess: RunCli
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    plain, plain_kept = mixed(0, 300)
    rotated, rotated_kept = mixed(300, 300)
    first, first_kept = mixed(600, 200)
    second, second_kept = mixed(800, 200)
    third, third_kept = mixed(1000, 200)
    (logs / "x.jsonl").write_text(plain)
    (logs / "x.jsonl.1").write_text(rotated)
    (logs / "x.jsonl.2.gz").write_bytes(gzip_members(first, second))
    (logs / "deleted-20261101.jsonl.zst").write_bytes(zstd_frames(first, second, third))
    (logs / "x.jsonl-20200101.gz").write_bytes(gzip_members(record("2020-01-01", 1) * 5))
    corrupt = gzip_members(first)[:-20]
    (logs / "x.jsonl.3.gz").write_bytes(corrupt)
    dry = cli_subprocess(["log-cleanup", "--path", logs, "--now", NOW, "--dry-run", "--json"], cwd=tmp_path)
    result = cli_subprocess(["log-cleanup", "--path", logs, "--now", NOW, "--json"], cwd=tmp_path)
    assert result.exit_code == 1, result.stderr  # the corrupt archive fails, the others are done
    report = json.loads(result.stdout)
    expired = sum(text.count("2020-01-01") for text in (plain, rotated, first, second, first, second, third)) + 5
    assert json.loads(dry.stdout)["message"].startswith(f"Would delete {expired} records")
    assert report["message"].startswith(f"Deleted {expired} records")
    assert (logs / "x.jsonl").read_text() == plain_kept
    assert (logs / "x.jsonl.1").read_text() == rotated_kept
    assert gzip.decompress((logs / "x.jsonl.2.gz").read_bytes()).decode() == first_kept + second_kept
    assert unzstd((logs / "deleted-20261101.jsonl.zst").read_bytes()).decode() == first_kept + second_kept + third_kept
    assert not (logs / "x.jsonl-20200101.gz").exists(), "a wholly expired archive is removed"
    assert (logs / "x.jsonl.3.gz").read_bytes() == corrupt
    (failed,) = [f for f in report["files"] if f["action"] == "error"]
    assert "x.jsonl.3.gz" in failed["path"] and "is not valid gzip" in failed["error"]
    assert sorted(p.name for p in logs.iterdir() if p.name.startswith(".")) == []


def test_archives_keep_their_own_retention_in_the_same_run_and_verify_checks_them(
    tmp_path: Path, cli_subprocess: RunCli
) -> None:
    logs, archive = tmp_path / "logs", tmp_path / "archive"
    logs.mkdir()
    archive.mkdir()
    log, log_kept = mixed(0, 90)
    (logs / "logs-default.jsonl").write_text(log)
    # In the archive: records from 2021 (past 6 years: deleted) and from 2024 (kept).
    old = "".join(record("2020-06-01", n) for n in range(10))
    young = "".join(record("2024-06-01", n) for n in range(10, 30))
    (archive / "deleted-20250101.jsonl.zst").write_bytes(zstd_frames(old, young))
    settings = tmp_path / "mxcp-compact.toml"
    settings.write_text('[archive]\ndirectory = "archive"\nretention_days = 2190\n')
    base = ["--path", logs, "--now", NOW, "--config", settings]
    before = cli_subprocess(["verify", *base, "--json"], cwd=tmp_path)
    assert before.exit_code == 1
    counts = {Path(f["path"]).name: f["records_past_retention"] for f in json.loads(before.stdout)["files"]}
    assert counts == {"logs-default.jsonl": 30, "deleted-20250101.jsonl.zst": 10}
    cleaned = cli_subprocess(["log-cleanup", *base], cwd=tmp_path)
    assert cleaned.exit_code == 0, cleaned.stderr
    assert "Total records deleted: 40" in cleaned.stdout
    assert (logs / "logs-default.jsonl").read_text() == log_kept
    assert unzstd((archive / "deleted-20250101.jsonl.zst").read_bytes()).decode() == young
    assert cli_subprocess(["verify", *base], cwd=tmp_path).exit_code == 0


def archiving_into_the_archive_directory(
    tmp_path: Path, lines: list[str], name: str, retention_days: int
) -> tuple[Path, Path, list[str | Path]]:
    """A log of `lines`, and a settings file whose [archive] directory also receives the run's
    own archive `name`: the logs and archive directories, and the options of such a run."""
    logs, archive = tmp_path / "logs", tmp_path / "archive"
    logs.mkdir()
    archive.mkdir()
    (logs / "logs-default.jsonl").write_text("".join(lines))
    settings = tmp_path / "mxcp-compact.toml"
    settings.write_text(
        f'[cleanup]\narchive = "archive/{name}"\n\n[archive]\ndirectory = "archive"\n'
        f"retention_days = {retention_days}\n"
    )
    return logs, archive, ["--path", logs, "--now", NOW, "--config", settings]


def test_records_archived_today_past_the_archive_retention_are_cleaned_in_the_same_run(
    tmp_path: Path, cli_subprocess: RunCli
) -> None:
    """Today's archive is written during the run, after the plan listed the [archive]
    directory: it is cleaned at the end too, so verify is content right after one run."""
    # Every third record expired: from 2020 (past 200 days too) or from 2026-06-01 (not yet).
    lines = [record(("2020-01-01" if n % 2 else "2026-06-01") if n % 3 == 0 else "2026-11-20", n) for n in range(90)]
    _, archive, base = archiving_into_the_archive_directory(tmp_path, lines, "deleted-{date}.jsonl.gz", 200)
    cleaned = cli_subprocess(["log-cleanup", *base], cwd=tmp_path)
    assert cleaned.exit_code == 0, cleaned.stderr
    assert "the archive retention removed 15 of the records it received" in cleaned.stderr
    todays = archive / "deleted-20261127.jsonl.gz"
    assert gzip.decompress(todays.read_bytes()).decode() == "".join(item for item in lines if "2026-06-01" in item)
    assert cli_subprocess(["verify", *base], cwd=tmp_path).exit_code == 0


def test_a_second_run_on_the_same_day_appends_to_todays_archive_and_cleans_it_again(
    tmp_path: Path, cli_subprocess: RunCli
) -> None:
    # The [archive] directory listed today's archive, the run's own --archive: every same-day
    # rerun (a retry after exit 1, a manual run after the timer's) and its dry run was exit 2.
    first = [record("2024-01-01" if n % 2 else "2026-11-20", n) for n in range(20)]
    logs, archive, base = archiving_into_the_archive_directory(tmp_path, first, "deleted-{date}.jsonl.zst", 2190)
    assert cli_subprocess(["log-cleanup", *base], cwd=tmp_path).exit_code == 0
    later = [record("2024-06-01", 100 + n) for n in range(3)]
    with (logs / "logs-default.jsonl").open("a") as appending:
        appending.write("".join(later))
    dry = cli_subprocess(["log-cleanup", "--dry-run", "--json", *base], cwd=tmp_path)
    assert dry.exit_code == 0, dry.stderr
    assert json.loads(dry.stdout)["deleted_per_schema"] == {"mxcp.endpoints:2": 3}
    again = cli_subprocess(["log-cleanup", *base], cwd=tmp_path)
    assert again.exit_code == 0, again.stderr
    todays = archive / "deleted-20261127.jsonl.zst"
    assert unzstd(todays.read_bytes()).decode() == "".join([*(item for item in first if "2024" in item), *later])
    assert cli_subprocess(["verify", *base], cwd=tmp_path).exit_code == 0


@pytest.mark.parametrize("inside", [False, True], ids=["outbox-elsewhere", "outbox-in-the-archive"])
def test_what_the_archive_retention_removes_goes_to_no_archive(
    tmp_path: Path, cli_subprocess: RunCli, inside: bool
) -> None:
    """Records past the archive retention are past every retention: copying them into the run's
    archive kept them for good (outside the [archive] directory) or counted them twice (inside)."""
    logs, archive, outbox = tmp_path / "logs", tmp_path / "archive", tmp_path / "outbox"
    for directory in (logs, archive, outbox):
        directory.mkdir()
    (logs / "a.jsonl").write_text(record("2026-11-20", 0))
    (archive / "old-20190101.jsonl").write_text("".join(record(f"2019-01-0{n}", n) for n in (1, 2, 3)))
    target = archive if inside else outbox
    settings = tmp_path / "mxcp-compact.toml"
    settings.write_text(
        f'[cleanup]\narchive = "{target}/deleted-{{date}}.jsonl"\n\n[archive]\ndirectory = "archive"\n'
        "retention_days = 365\n"
    )
    base = ["--path", logs, "--now", NOW, "--config", settings]
    cleaned = cli_subprocess(["log-cleanup", "--json", *base], cwd=tmp_path)
    assert cleaned.exit_code == 0, cleaned.stderr
    report = json.loads(cleaned.stdout)
    assert report["message"] == "Deleted 3 records"
    assert report["bytes_freed"] == 3 * len(record("2019-01-01", 1))
    assert not (archive / "old-20190101.jsonl").exists()
    todays = target / "deleted-20261127.jsonl"
    assert not todays.exists() or todays.read_text() == ""
    assert cli_subprocess(["verify", *base], cwd=tmp_path).exit_code == 0


def test_one_schema_in_the_logs_and_the_archive_shows_both_retentions(tmp_path: Path, cli_subprocess: RunCli) -> None:
    logs, archive = tmp_path / "logs", tmp_path / "archive"
    logs.mkdir()
    archive.mkdir()
    (logs / "logs-default.jsonl").write_text(record("2026-01-01", 0))
    (archive / "old.jsonl").write_text(record("2019-01-01", 1))
    settings = tmp_path / "mxcp-compact.toml"
    settings.write_text('[archive]\ndirectory = "archive"\nretention_days = 2000\n')
    base = ["--path", logs, "--now", NOW, "--config", settings]
    dry = cli_subprocess(["log-cleanup", "--dry-run", *base], cwd=tmp_path)
    assert dry.exit_code == 0, dry.stderr
    assert "  mxcp.endpoints:2 (retention: 90 days): 1 records\n" in dry.stdout
    assert "  mxcp.endpoints:2 (retention: 2000 days): 1 records\n" in dry.stdout
    stats = cli_subprocess(["stats", "--json", *base], cwd=tmp_path)
    assert json.loads(stats.stdout)["schemas"]["mxcp.endpoints:2"]["retention"] == "90 days / 2000 days"


def test_an_incomplete_archive_section_is_a_configuration_error(tmp_path: Path, cli_subprocess: RunCli) -> None:
    settings = tmp_path / "mxcp-compact.toml"
    settings.write_text('[archive]\ndirectory = "archive"\n')
    result = cli_subprocess(["log-cleanup", "--path", tmp_path, "--config", settings], cwd=tmp_path)
    assert result.exit_code == 2
    assert "[archive] needs both directory and retention_days" in result.stderr


def test_an_archive_directory_that_is_the_audit_directory_cleans_only_rotated_copies_there(
    fixture_project: Path, cli_subprocess: RunCli
) -> None:
    # Pointed at the audit directory (where logrotate leaves its copies), it cleaned every file
    # there as an archive: other profiles' live logs, one whose audit is off, emptied and removed.
    audit = fixture_project / "audit"
    others = {name: (audit / "logs-default.jsonl").read_bytes() for name in ("logs-staging.jsonl", "logs-eu.jsonl")}
    for name, content in others.items():
        (audit / name).write_bytes(content)
    rotated = audit / "logs-default.jsonl.1.gz"
    rotated.write_bytes(gzip.compress((audit / "logs-default.jsonl").read_bytes()))
    (fixture_project / "mxcp-compact.toml").write_text('[archive]\ndirectory = "audit"\nretention_days = 0\n')
    result = cli_subprocess(["log-cleanup", "--json", "--now", NOW], cwd=fixture_project)
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert not rotated.exists(), "every record of the rotated copy is past 0 days"
    for name, content in others.items():
        assert (audit / name).read_bytes() == content
    assert any("its 2 plain .jsonl files" in note for note in report["notes"]), report["notes"]


@pytest.mark.parametrize("name", ["deleted-{date}.jsonl.gz", "deleted-{date}.jsonl.zst", "deleted-{date}.jsonl"])
def test_a_day_with_nothing_to_delete_writes_no_archive(tmp_path: Path, cli_subprocess: RunCli, name: str) -> None:
    # Each quiet day left an empty archive, and an empty .gz or .zst is no stream: zcat and
    # zstdcat fail on it (exit 1), so `zcat archive/*.gz` failed in a directory a timer fills.
    logs, archive = tmp_path / "logs", tmp_path / "archive"
    logs.mkdir()
    archive.mkdir()
    (logs / "logs-default.jsonl").write_text(record("2026-11-20", 1))
    base = ["log-cleanup", "--json", "--path", logs, "--now", NOW, "--archive", archive / name]
    quiet = cli_subprocess(base, cwd=tmp_path)
    assert quiet.exit_code == 0, quiet.stderr
    report = json.loads(quiet.stdout)
    assert report["archive"] is None and list(archive.iterdir()) == []
    written = archive / name.replace("{date}", "20261127")
    assert f"nothing was deleted, so no archive was written ({written})" in report["notes"]
    # An archive that was there already is left as it is, even empty.
    written.write_bytes(b"")
    assert cli_subprocess(base, cwd=tmp_path).exit_code == 0
    assert written.exists()
