"""The incremental index, from the command line: a file is skipped only when nothing in it can
expire, and every way the index can be stale or wrong leads to a full read and the result a
`--full` run gives."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import RunCli, console_script, run_traced

DAY1 = "2026-11-27T00:00:00Z"


def record(day: str, n: int) -> str:
    return f'{{"schema_name": "mxcp.endpoints", "schema_version": 2, "timestamp": "{day}T00:00:00Z", "n": {n}}}\n'


def make_logs(directory: Path) -> None:
    """Three segments: one with old records, one young, one of the future."""
    directory.mkdir()
    days = {"a": ("2026-01-01", "2026-11-01"), "b": ("2026-10-01", "2026-11-20"), "c": ("2026-11-25", "2026-11-26")}
    for name, (old, new) in days.items():
        lines = [record(old if n % 2 else new, n) for n in range(200)]
        (directory / f"logs-{name}.jsonl").write_text("".join(lines))


def cleanup(cli: RunCli, directory: Path, *args: str) -> dict[str, object]:
    result = cli(["log-cleanup", "--path", directory, "--json", *args], cwd=directory.parent)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def contents(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def deleted(report: dict[str, object]) -> int:
    return sum(f["deleted"] for f in report["files"])  # type: ignore[index, union-attr]


def test_a_second_run_reads_no_unchanged_file_and_reports_what_a_full_run_does(
    tmp_path: Path, cli_subprocess: RunCli
) -> None:
    logs = tmp_path / "logs"
    make_logs(logs)
    first = cleanup(cli_subprocess, logs, "--now", DAY1)
    assert deleted(first) == 100 + 0 + 0
    second = cleanup(cli_subprocess, logs, "--now", DAY1)
    assert any("3 files unchanged since the last run" in note for note in second["notes"])  # type: ignore[union-attr]
    full = cleanup(cli_subprocess, logs, "--now", DAY1, "--full", "--dry-run")
    assert [f["lines"] for f in second["files"]] == [f["lines"] for f in full["files"]]  # type: ignore[index, union-attr]
    assert second["unevaluable"] == full["unevaluable"] and deleted(second) == 0
    # Once b's old records expire, b is read again (and a dry run sees it without writing).
    later = "2027-01-01T00:00:00Z"
    dry = cleanup(cli_subprocess, logs, "--now", later, "--dry-run")
    assert deleted(dry) == 100
    assert any("2 files unchanged" in note for note in dry["notes"])  # type: ignore[union-attr]
    assert deleted(cleanup(cli_subprocess, logs, "--now", later)) == 100


def _edit_keeping_size(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data.replace(b"2026-11-26", b"2016-11-26", 1))


def _truncate_and_regrow(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(b"")
    path.write_bytes(record("2010-01-01", 999).encode() + data[len(record("2010-01-01", 999)) :])


def _replace_inode(path: Path) -> None:
    data = path.read_bytes()
    path.unlink()
    path.write_bytes(record("2010-01-01", 998).encode() + data[len(record("2010-01-01", 998)) :])


STALE_WAYS: dict[str, Callable[[Path], None]] = {
    "edited_keeping_its_size": _edit_keeping_size,
    "truncated_and_regrown": _truncate_and_regrow,
    "replaced_inode": _replace_inode,
}


@pytest.mark.parametrize("way", STALE_WAYS)
def test_a_changed_file_is_read_in_full_and_its_expired_records_deleted(
    tmp_path: Path, cli_subprocess: RunCli, way: str
) -> None:
    logs, twin = tmp_path / "logs", tmp_path / "twin"
    make_logs(logs)
    cleanup(cli_subprocess, logs, "--now", DAY1)
    shutil.copytree(logs, twin)
    for directory in (logs, twin):
        STALE_WAYS[way](directory / "logs-c.jsonl")
    indexed = cleanup(cli_subprocess, logs, "--now", DAY1)
    full = cleanup(cli_subprocess, twin, "--now", DAY1, "--full")
    assert deleted(indexed) == deleted(full) == 1
    assert contents(logs) == contents(twin)


@pytest.mark.parametrize(
    "args",
    [("--retain", "mxcp.endpoints=3"), ("--retention-days", "1"), ("--now", "2027-06-01"), ("--now", "2026-01-01")],
    ids=["rule_shortened", "all_rules_shortened", "clock_forward", "clock_moved_back"],
)
def test_other_rules_or_another_instant_give_the_full_runs_result(
    tmp_path: Path, cli_subprocess: RunCli, args: tuple[str, str]
) -> None:
    logs, twin = tmp_path / "logs", tmp_path / "twin"
    make_logs(logs)
    cleanup(cli_subprocess, logs, "--now", DAY1)
    shutil.copytree(logs, twin)
    options = ["--now", DAY1, *args] if args[0] != "--now" else list(args)
    indexed = cleanup(cli_subprocess, logs, *options)
    full = cleanup(cli_subprocess, twin, *options, "--full")
    assert deleted(indexed) == deleted(full)
    assert contents(logs) == contents(twin)


BROKEN_AFTER_ITS_FIELDS = record("2026-01-01", 3).replace("}", ", }")
BAD_TIMESTAMP = '{"schema_name": "mxcp.endpoints", "schema_version": 2, "timestamp": "garbage", "n": 2}\n'


def counts(report: dict[str, object]) -> list[object]:
    files = [{key: f[key] for key in ("path", "lines", "deleted", "unevaluable")} for f in report["files"]]  # type: ignore[union-attr]
    return [files, report["unevaluable"], report["lines_kept_unevaluated"]]


def read_every_file(report: dict[str, object]) -> bool:
    return not any("unchanged since the last run" in note for note in report["notes"])  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "args",
    [
        ("--retain", "mxcp.endpoints=none"),
        ("--retain", "mxcp.endpoints=400"),
        ("--retention-days", "100"),
        ("--now", "2026-03-01T00:00:00Z"),
    ],
    ids=["kept_forever", "rule_lengthened", "rules_changed_counts_alike", "clock_moved_back"],
)
def test_unevaluable_counts_are_replayed_only_under_the_rules_and_instant_that_made_them(
    tmp_path: Path, cli_subprocess: RunCli, args: tuple[str, str]
) -> None:
    # Under 90 days the broken record is expired, so it is read to its end and unevaluable; under
    # longer rules or an earlier --now it is young, kept unread, and no longer counted so.
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "logs-a.jsonl").write_text(record("2026-11-20", 1) + BAD_TIMESTAMP + BROKEN_AFTER_ITS_FIELDS)
    first = cleanup(cli_subprocess, logs, "--now", DAY1)
    assert first["unevaluable"] == {"bad_timestamp": 1, "invalid_json": 1}
    options = ["--now", DAY1, *args] if args[0] != "--now" else list(args)
    indexed = cleanup(cli_subprocess, logs, *options, "--dry-run")
    full = cleanup(cli_subprocess, logs, *options, "--dry-run", "--full")
    assert counts(indexed) == counts(full)
    assert read_every_file(indexed)
    # The same rules a day later: the counts hold, and the file is not read.
    later = cleanup(cli_subprocess, logs, "--now", "2026-11-28T00:00:00Z")
    assert not read_every_file(later) and counts(later) == counts(first)


def test_a_schema_that_loses_its_days_is_read_again(tmp_path: Path, cli_subprocess: RunCli) -> None:
    # Its records were counted retained; kept forever, a full read counts them unmanaged.
    logs = tmp_path / "logs"
    make_logs(logs)
    cleanup(cli_subprocess, logs, "--now", DAY1)
    assert not read_every_file(cleanup(cli_subprocess, logs, "--now", DAY1, "--dry-run"))
    assert read_every_file(cleanup(cli_subprocess, logs, "--now", DAY1, "--retain", "mxcp.endpoints=none"))
    assert not read_every_file(cleanup(cli_subprocess, logs, "--now", DAY1, "--retain", "mxcp.endpoints=none"))


def test_a_corrupt_or_unwritable_index_never_fails_the_run(tmp_path: Path, cli_subprocess: RunCli) -> None:
    logs = tmp_path / "logs"
    make_logs(logs)
    state = Path(os.environ["MXCP_COMPACT_STATE_DIR"])
    cleanup(cli_subprocess, logs, "--now", DAY1)
    for index in state.iterdir():
        index.write_text('{"version": 1, "directory": "x", "files": ')
    assert deleted(cleanup(cli_subprocess, logs, "--now", "2027-01-01")) == 100
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("")
    result = cli_subprocess(
        ["log-cleanup", "--path", logs, "--now", DAY1], cwd=tmp_path, env={"MXCP_COMPACT_STATE_DIR": str(blocked)}
    )
    assert result.exit_code == 0, result.stderr
    assert "cannot write the incremental index" in result.stderr
    assert sorted(p.name for p in logs.iterdir()) == ["logs-a.jsonl", "logs-b.jsonl", "logs-c.jsonl"]


@pytest.mark.parametrize("damage", ["fifo", "dev_zero", "deep_nesting"])
def test_an_index_that_is_no_regular_json_file_is_ignored_and_never_blocks_the_run(
    tmp_path: Path, cli_subprocess: RunCli, damage: str
) -> None:
    # A FIFO blocked the open of every run (--full too, holding the directory's lock, deaf to
    # SIGTERM); /dev/zero never ended; JSON nested past Python's recursion limit failed every
    # run until someone deleted the index by hand.
    logs = tmp_path / "logs"
    make_logs(logs)
    state = Path(os.environ["MXCP_COMPACT_STATE_DIR"])
    cleanup(cli_subprocess, logs, "--now", DAY1)
    (index,) = state.iterdir()
    index.unlink()
    if damage == "fifo":
        os.mkfifo(index)
    elif damage == "dev_zero":
        index.symlink_to("/dev/zero")
    else:
        index.write_text("[" * 200_000 + "]" * 200_000)
    later = ("--now", "2027-01-01T00:00:00Z")
    assert deleted(cleanup(cli_subprocess, logs, *later, "--dry-run")) == 100
    assert deleted(cleanup(cli_subprocess, logs, *later, "--dry-run", "--full")) == 100
    assert deleted(cleanup(cli_subprocess, logs, *later, "--full")) == 100
    assert deleted(cleanup(cli_subprocess, logs, *later)) == 0
    assert index.is_file() and not index.is_symlink(), "the real runs replaced it with a good index"


@pytest.mark.parametrize("damage", ["oldest_digit", "no_schemas"])
def test_an_index_damaged_into_other_valid_json_is_not_trusted(
    tmp_path: Path, cli_subprocess: RunCli, damage: str
) -> None:
    """An entry edited but still valid JSON (one digit of an oldest timestamp moved later, or
    its schema list emptied) would let a run skip a file whose records have expired; the
    index's checksum catches it and the file is read."""
    logs = tmp_path / "logs"
    make_logs(logs)
    state = Path(os.environ["MXCP_COMPACT_STATE_DIR"])
    cleanup(cli_subprocess, logs, "--now", DAY1)
    (index,) = state.iterdir()
    document = json.loads(index.read_text())
    entry = document["files"]["logs-b.jsonl"]
    if damage == "no_schemas":
        entry["schemas"] = []
    else:
        for schema in entry["schemas"]:
            schema["oldest_ns"] = int(str(schema["oldest_ns"]).replace("1", "9", 1))
    index.write_text(json.dumps(document))
    expected = deleted(cleanup(cli_subprocess, logs, "--now", "2027-01-01", "--full", "--dry-run"))
    assert expected == 100, "b's old records have expired by then"
    assert deleted(cleanup(cli_subprocess, logs, "--now", "2027-01-01")) == expected


def test_after_an_in_place_run_the_index_reports_what_a_full_read_does(
    fixture_project: Path, cli_subprocess: RunCli
) -> None:
    # The collapse leaves a whitespace-only line its counts do not hold: recorded from them,
    # the next indexed run reported one line fewer than a full read.
    now = ("--now", DAY1)
    emergency = cli_subprocess(["log-cleanup", *now, "--emergency"], cwd=fixture_project)
    assert emergency.exit_code == 0, emergency.stderr
    for _ in range(2):  # the first reads what the in-place run left, the second trusts the index
        indexed = cli_subprocess(["log-cleanup", *now, "--dry-run", "--json"], cwd=fixture_project)
        full = cli_subprocess(["log-cleanup", *now, "--dry-run", "--json", "--full"], cwd=fixture_project)
        assert [(f["path"], f["lines"]) for f in indexed.json()["files"]] == [
            (f["path"], f["lines"]) for f in full.json()["files"]
        ]
        cli_subprocess(["log-cleanup", *now], cwd=fixture_project)


def test_an_erasure_reads_every_file_whatever_the_index_says(tmp_path: Path, cli_subprocess: RunCli) -> None:
    logs = tmp_path / "logs"
    make_logs(logs)
    cleanup(cli_subprocess, logs, "--now", DAY1)
    result = cli_subprocess(["erase", "--path", logs, "--where", "n=4", "--json"], cwd=tmp_path)
    assert result.exit_code == 0, result.stderr
    assert sum(json.loads(result.stdout)["erased_per_schema"].values()) == 3


def test_while_a_file_is_compacted_the_disk_reads_ahead_the_next_file_the_index_cannot_skip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from conftest import run_in_process
    from mxcp_compact import cleanup as cleanup_module

    logs = tmp_path / "logs"
    make_logs(logs)
    assert deleted(cleanup(run_in_process, logs, "--now", DAY1)) == 100
    # Later, a and c get an expired record each; b is unchanged with nothing expired yet.
    later = "2026-12-15T00:00:00Z"
    for name in ("logs-a.jsonl", "logs-c.jsonl"):
        (logs / name).write_text((logs / name).read_text() + record("2010-01-01", 7))
    hinted: list[Path | None] = []
    real_read_ahead = cleanup_module._read_ahead
    monkeypatch.setattr(cleanup_module, "_read_ahead", lambda path: (hinted.append(path), real_read_ahead(path)))
    report = cleanup(run_in_process, logs, "--now", later)
    assert [f["deleted"] for f in report["files"]] == [1, 0, 1]  # type: ignore[index]
    # While a is compacted, c's head is asked for (b is skipped); c is the last file read.
    assert hinted == [logs / "logs-c.jsonl", None]
    assert deleted(cleanup(run_in_process, logs, "--now", later, "--full", "--dry-run")) == 0


def test_a_temp_copy_left_by_a_killed_run_is_removed_by_the_next_run_whatever_the_index_says(
    tmp_path: Path, cli_subprocess: RunCli
) -> None:
    logs, twin = tmp_path / "logs", tmp_path / "twin"
    make_logs(logs)
    cleanup(cli_subprocess, logs, "--now", DAY1)
    shutil.copytree(logs, twin)
    temp = ".logs-c.jsonl.mxcp-compact.tmp"
    for directory in (logs, twin):
        # An erasure killed before its rename (a power cut, SIGKILL) leaves its copy behind.
        killed = cli_subprocess(
            ["erase", "--where", "n=1", "--path", directory / "logs-c.jsonl"],
            cwd=tmp_path,
            env={"MXCP_COMPACT_CRASH_AT": "before-rename"},
        )
        assert killed.exit_code != 0 and (directory / temp).exists()
    dry = cleanup(cli_subprocess, logs, "--now", DAY1, "--dry-run")
    assert any("a temp file left by an interrupted" in note for note in dry["notes"]), dry["notes"]  # type: ignore[union-attr]
    indexed = cleanup(cli_subprocess, logs, "--now", DAY1)
    full = cleanup(cli_subprocess, twin, "--now", DAY1, "--full")
    for report in (indexed, full):
        assert any("removed a temp file left by an interrupted run" in note for note in report["notes"])  # type: ignore[union-attr]
    assert contents(logs) == contents(twin) and not (logs / temp).exists()


def test_a_pending_shift_beside_a_symlinked_logs_target_is_seen_by_the_index(
    tmp_path: Path, cli_subprocess: RunCli
) -> None:
    real, logs = tmp_path / "real", tmp_path / "logs"
    make_logs(real)
    logs.mkdir()
    (logs / "logs-b.jsonl").symlink_to(real / "logs-b.jsonl")
    cleanup(cli_subprocess, logs, "--now", DAY1)
    # A later --now has records to delete; that in-place run is killed mid-shift.
    killed = cli_subprocess(
        ["log-cleanup", "--path", logs, "--in-place", "--now", "2027-01-15T00:00:00Z"],
        cwd=tmp_path,
        env={"MXCP_COMPACT_CRASH_AT": "shift-commit:1"},
    )
    assert killed.exit_code != 0
    record_beside_target = real / ".logs-b.jsonl.mxcp-compact.shift"
    assert record_beside_target.exists()
    dry = cli_subprocess(["log-cleanup", "--path", logs, "--json", "--now", DAY1, "--dry-run"], cwd=tmp_path)
    assert dry.exit_code == 1 and "interrupted in-place compaction is pending" in dry.stdout
    cleanup(cli_subprocess, logs, "--now", DAY1)
    assert not record_beside_target.exists()


def test_a_file_edited_while_a_run_read_it_is_read_again_by_the_next(tmp_path: Path, cli_subprocess: RunCli) -> None:
    # The index stored the file's stat facts as they were after the pass, and the ages of the
    # bytes read before the edit: the edited, expired record stayed unread for 90 days.
    logs, twin = tmp_path / "logs", tmp_path / "twin"
    logs.mkdir()
    log = logs / "logs-a.jsonl"
    log.write_text("".join(record("2026-11-20", n) for n in range(300_000)))
    signal_file = tmp_path / "paused"
    pause = {"MXCP_COMPACT_PAUSE_AT": "window:2=1500", "MXCP_COMPACT_PAUSE_SIGNAL": str(signal_file)}
    command = [*console_script(), "log-cleanup", "--path", str(logs), "--threads", "1", "--now", DAY1]
    paused = subprocess.Popen(command, env={**os.environ, **pause}, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while not signal_file.exists():
        assert time.monotonic() < deadline, "the run never reached its second window"
        time.sleep(0.01)
    with log.open("r+b") as handle:  # the first record made old, keeping the size
        handle.write(record("2025-03-01", 0).encode())
    assert paused.wait(timeout=60) == 0
    shutil.copytree(logs, twin)
    indexed = cleanup(cli_subprocess, logs, "--now", DAY1)
    full = cleanup(cli_subprocess, twin, "--now", DAY1, "--full")
    assert deleted(indexed) == deleted(full) == 1
    assert contents(logs) == contents(twin)


def _logs_opened(trace: Path, logs: Path) -> set[str]:
    """The log files of `logs` that a traced command opened (not its own temp copies)."""
    opened = set()
    for row in trace.read_text().splitlines():
        if "openat(" in row and f'"{logs}/' in row:
            opened.add(row.split(f'"{logs}/', 1)[1].split('"', 1)[0])
    return {name for name in opened if not name.startswith(".")}


def test_a_directory_run_opens_no_file_the_index_vouches_for(tmp_path: Path) -> None:
    # Not even to read its head for a compressed file's magic: on a cold cache that read is a
    # disk read per file, as long as the work of the whole run on a directory of segments.
    logs = tmp_path / "logs"
    make_logs(logs)
    command = [*console_script(), "log-cleanup", "--path", str(logs), "--now", DAY1]
    assert subprocess.run(command, capture_output=True, check=False).returncode == 0
    (logs / "logs-c.jsonl").write_text((logs / "logs-c.jsonl").read_text() + record("2010-01-01", 7))
    for extra in ((), ("--dry-run",)):
        trace = tmp_path / "trace.txt"
        traced = run_traced([*command, *extra], trace, "openat")
        assert traced.returncode == 0, traced.stderr
        # c changed (its head is read, and it is compacted); a and b are not opened at all,
        # nor anything by the dry run after it.
        assert _logs_opened(trace, logs) == (set() if extra else {"logs-c.jsonl"})


def test_a_file_with_a_binary_head_the_index_recorded_is_still_passed_over_in_a_directory_run(
    tmp_path: Path, cli_subprocess: RunCli
) -> None:
    # Named on its own, a file is compacted whatever its head; in a directory, the same file
    # with a gzip head is passed over, even when the index knows it and it has not changed.
    logs = tmp_path / "logs"
    make_logs(logs)
    odd = logs / "logs-z.jsonl"
    odd.write_bytes(b"\x1f\x8b\x08\x00 not text\n" + record("2026-11-20", 1).encode())
    named = cleanup(cli_subprocess, odd, "--now", DAY1)
    assert [f["action"] for f in named["files"]] == ["unchanged"]  # type: ignore[index]
    for extra in ((), ("--dry-run",), ("--full",)):
        report = cleanup(cli_subprocess, logs, "--now", DAY1, *extra)
        assert f"{odd}: skipped: gzip-compressed, not a JSONL log" in report["notes"]  # type: ignore[operator]
        assert odd.name not in {Path(f["path"]).name for f in report["files"]}  # type: ignore[index]


def test_a_file_the_index_knows_that_becomes_a_database_is_passed_over(tmp_path: Path, cli_subprocess: RunCli) -> None:
    logs = tmp_path / "logs"
    make_logs(logs)
    cleanup(cli_subprocess, logs, "--now", DAY1)
    database = logs / "logs-b.jsonl"
    database.write_bytes(b"12345678DUCK" + bytes(4084))
    report = cleanup(cli_subprocess, logs, "--now", DAY1)
    assert f"{database}: skipped: a DuckDB database, not a JSONL log" in report["notes"]  # type: ignore[operator]
    assert database.read_bytes() == b"12345678DUCK" + bytes(4084)


def test_an_index_written_before_it_kept_text_heads_learns_them_on_the_next_real_run(tmp_path: Path) -> None:
    from mxcp_compact import index as index_module

    logs = tmp_path / "logs"
    make_logs(logs)
    command = [*console_script(), "log-cleanup", "--path", str(logs), "--now", DAY1]
    assert subprocess.run(command, capture_output=True, check=False).returncode == 0
    (written,) = index_module.state_dir(os.environ).glob("index-*.json")
    document = json.loads(written.read_text())
    for entry in document["files"].values():
        del entry["text_head"]
    directory = Path(document["directory"])
    document["checksum"] = index_module._checksum(directory, document["files"])
    written.write_text(json.dumps(document))
    # The run after the upgrade reads the heads once (and nothing else) and remembers them.
    learning = run_traced(command, tmp_path / "learning.txt", "openat")
    assert learning.returncode == 0, learning.stderr
    assert _logs_opened(tmp_path / "learning.txt", logs) == {"logs-a.jsonl", "logs-b.jsonl", "logs-c.jsonl"}
    assert all(entry["text_head"] for entry in json.loads(written.read_text())["files"].values())
    learnt = run_traced(command, tmp_path / "learnt.txt", "openat")
    assert learnt.returncode == 0, learnt.stderr
    assert _logs_opened(tmp_path / "learnt.txt", logs) == set()
