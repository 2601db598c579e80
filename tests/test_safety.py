"""Never lose a record: live writers, crashes, full disks, files changing under us, locks,
permissions and durability (issue 4). Each test states the scenario it proves.

"Nothing lost" means: every retained line of the input is present exactly once and byte for
byte, and every line a writer appended is present exactly once.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import run_traced
from mxcp_compact import compact
from mxcp_compact.rules import Retention

NOW = "2026-11-27T00:00:00Z"
OLD = "2020-01-01T00:00:00Z"
NEW = "2026-11-20T00:00:00Z"
CLI = [sys.executable, "-m", "mxcp_compact"]


def line(timestamp: str, **fields: object) -> str:
    record = {"schema_name": "mxcp.endpoints", "schema_version": 2, "timestamp": timestamp, **fields}
    return json.dumps(record) + "\n"


def write_log(path: Path, count: int, *, pad: int = 200, old_every: int = 2) -> list[str]:
    """Writes `count` records, every `old_every`-th expired. Returns the lines that must stay."""
    lines = [line(OLD if i % old_every == 0 else NEW, orig=i, pad="x" * pad) for i in range(count)]
    path.write_text("".join(lines))
    return [item for item in lines if NEW in item]


def run_cli(*args: str, env: dict[str, str] | None = None, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, "log-cleanup", "--now", NOW, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=False,
        **kwargs,  # type: ignore[arg-type]
    )


def wait_for(path: Path, what: str, seconds: float = 30) -> None:
    """Waits until `path` exists (a pause point's signal file, a temp file...)."""
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


def start_paused(args: list[str], pause: str, signal_file: Path, **popen: Any) -> subprocess.Popen[str]:
    """Starts `mxcp-compact log-cleanup --now NOW ARGS`, which pauses at the point `pause`
    (`NAME[:N]=MILLIS`, see `failpoint`) and creates `signal_file` when it gets there."""
    pause_env = {"MXCP_COMPACT_PAUSE_AT": pause, "MXCP_COMPACT_PAUSE_SIGNAL": str(signal_file)}
    return subprocess.Popen(
        [*CLI, "log-cleanup", "--now", NOW, *args], env={**os.environ, **pause_env}, text=True, **popen
    )


def is_root() -> bool:
    return os.geteuid() == 0


@contextlib.contextmanager
def small_filesystem(tmp_path: Path, kind: str, size: str) -> Iterator[Path]:
    """A size-limited tmpfs or loop-mounted ext4, unmounted afterwards."""
    if not is_root():
        pytest.skip("mounting a small filesystem needs root (CI runs as root)")
    mount_point = tmp_path / f"mnt-{kind}"
    mount_point.mkdir()
    if kind == "tmpfs":
        command = ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount_point)]
    else:
        if shutil.which("mkfs.ext4") is None:
            pytest.skip("mkfs.ext4 (e2fsprogs) is not installed")
        image = tmp_path / "ext4.img"
        subprocess.run(["truncate", "-s", size, str(image)], check=True)
        subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], check=True, capture_output=True)
        command = ["mount", "-o", "loop", str(image), str(mount_point)]
    mounted = subprocess.run(command, capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a {kind} here: {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


# 1. A live MXCP-style writer: opens by path in append mode, writes a batch, closes, as fast as
#    it can, while dry and real runs compact the same file.

WRITER = """
import json, os, sys
path, stop, batches = sys.argv[1], sys.argv[2], 0
seq = 0
while not os.path.exists(stop):
    batch = []
    for _ in range(5):
        ts = "{old}" if seq % 3 == 0 else "{new}"
        batch.append(json.dumps({{"schema_name": "mxcp.endpoints", "timestamp": ts, "seq": seq}}) + "\\n")
        seq += 1
    with open(path, "a") as handle:
        handle.write("".join(batch))
print(seq)
"""


# Copies of logs from 8 MiB up are written with O_DIRECT and catch up appended lines buffered.
@pytest.mark.parametrize("records", [4000, 80_000], ids=["page_cache_copy", "o_direct_copy"])
def test_live_reopening_writer_loses_nothing_across_many_runs(tmp_path: Path, records: int) -> None:
    log = tmp_path / "logs-default.jsonl"
    retained = write_log(log, records)
    if records > 4000:
        assert sum(map(len, retained)) >= 8 << 20, "the copies must stay large enough for O_DIRECT"
    stop = tmp_path / "stop"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER.format(old=OLD, new=NEW), str(log), str(stop)],
        stdout=subprocess.PIPE,
        text=True,
    )
    deleted = 0
    try:
        # The runs race the writer only once it writes (on a busy machine its start-up alone
        # outlasted all 60 runs once).
        size = log.stat().st_size
        deadline = time.monotonic() + 30
        while log.stat().st_size == size and time.monotonic() < deadline:
            time.sleep(0.01)
        for iteration in range(60):
            result = compact(log, now=NOW, dry_run=iteration % 4 == 3)
            if result.action != "dry_run":
                deleted += result.deleted
    finally:
        stop.touch()
        out, _ = writer.communicate(timeout=60)
    written = int(out)
    lines = log.read_text().splitlines(keepends=True)
    originals = [item for item in lines if '"orig"' in item]
    assert originals == retained
    seqs = [json.loads(item)["seq"] for item in lines if '"seq"' in item]
    assert len(seqs) == len(set(seqs)), "a writer line was duplicated"
    expected = {seq for seq in range(written) if seq % 3 != 0}
    missing = expected - set(seqs)
    assert not missing, f"{len(missing)} appended lines lost, e.g. {sorted(missing)[:5]}"
    assert written > 1000, "the writer should have been busy during the runs"
    assert deleted > 0


# 2. A long-lived O_APPEND writer holds one descriptor for the whole test.

HOLDER = """
import sys
handle = open(sys.argv[1], "a", buffering=1)
for text in sys.stdin:
    handle.write(text)
    handle.flush()
    print("ok", flush=True)
"""


def test_long_lived_writer_is_refused_by_rename_and_compacted_in_place(tmp_path: Path) -> None:
    log = tmp_path / "logs-default.jsonl"
    retained = write_log(log, 300)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(log)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert holder.stdin is not None and holder.stdout is not None

    def append(text: str) -> None:
        holder.stdin.write(text)  # type: ignore[union-attr]
        holder.stdin.flush()  # type: ignore[union-attr]
        assert holder.stdout.readline().strip() == "ok"  # type: ignore[union-attr]

    try:
        before = log.read_bytes()
        append(line(NEW, seq=1))
        refused = run_cli("--path", str(log))
        assert refused.returncode == 1
        assert f"pid {holder.pid}" in refused.stderr and "--in-place" in refused.stderr
        assert log.read_bytes() == before + line(NEW, seq=1).encode()

        inode = log.stat().st_ino
        in_place = run_cli("--path", str(log), "--in-place")
        assert in_place.returncode == 0, in_place.stderr
        assert log.stat().st_ino == inode
        append(line(NEW, seq=2))
    finally:
        holder.stdin.close()
        holder.wait(timeout=10)
        holder.stdout.close()
    assert log.read_text() == "".join([*retained, line(NEW, seq=1), line(NEW, seq=2)])


# 3. Crash at any point: the file is the old or the new content; the next run completes.

RENAME_POINTS = [
    "window",
    "temp-created",
    "before-temp-fsync",
    "before-swap",
    "before-rename",
    "after-rename",
]


@pytest.mark.parametrize("point", RENAME_POINTS)
def test_crash_during_a_rewrite_leaves_old_or_new_and_the_next_run_completes(tmp_path: Path, point: str) -> None:
    log = tmp_path / "logs-default.jsonl"
    retained = write_log(log, 2000)
    original = log.read_text()
    crashed = run_cli("--path", str(log), env={"MXCP_COMPACT_CRASH_AT": point})
    assert crashed.returncode == -signal.SIGABRT, crashed.stderr
    assert log.read_text() in (original, "".join(retained))
    temp = tmp_path / ".logs-default.jsonl.mxcp-compact.tmp"
    if temp.exists():
        # The dry run says it is there and leaves it; the real run removes it.
        preview = run_cli("--path", str(log), "--dry-run")
        assert "a temp file left by an interrupted run is there" in preview.stderr, preview.stderr
        assert temp.exists()
    finished = run_cli("--path", str(log))
    assert finished.returncode == 0, finished.stderr
    assert log.read_text() == "".join(retained)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["logs-default.jsonl"]


def _archived_lines(archive: Path) -> list[str]:
    """The lines of an archive, read as `zcat`/`zstdcat` would (an error if a member is cut)."""
    raw = archive.read_bytes()
    if archive.name.endswith(".gz"):
        raw = gzip.decompress(raw)
    elif archive.name.endswith(".zst"):
        import zstandard

        # Frame by frame: zstandard's stream reader stops at a cut frame without a word.
        frames, rest = [], raw
        while rest:
            frame = zstandard.ZstdDecompressor().decompressobj()
            frames.append(frame.decompress(rest))
            if not frame.eof:
                raise EOFError(f"{archive}: a zstd frame without its end")
            rest = frame.unused_data
        raw = b"".join(frames)
    return raw.decode().splitlines(keepends=True)


@pytest.mark.parametrize("name", ["deleted.jsonl.gz", "deleted.jsonl.zst"])
def test_a_run_killed_while_archiving_leaves_no_cut_member_in_front_of_the_next_runs(tmp_path: Path, name: str) -> None:
    log, archive = tmp_path / "logs-default.jsonl", tmp_path / "archive" / name
    archive.parent.mkdir()
    retained = write_log(log, 150_000, pad=300)
    deleted = [item for item in log.read_text().splitlines(keepends=True) if OLD in item]
    # One worker: the first 16 MiB window is archived when the process dies at the second.
    crash = {"MXCP_COMPACT_CRASH_AT": "window:2"}
    crashed = run_cli("--path", str(log), "--threads", "1", "--archive", str(archive), env=crash)
    assert crashed.returncode == -signal.SIGABRT, crashed.stderr
    assert archive.stat().st_size > 0
    with pytest.raises((EOFError, OSError, ValueError)):
        _archived_lines(archive)  # what the stopped run left: a member without its end
    finished = run_cli("--path", str(log), "--archive", str(archive))
    assert finished.returncode == 0, finished.stderr
    assert "an unfinished member left by a run that stopped" in finished.stderr
    assert log.read_text() == "".join(retained)
    assert _archived_lines(archive) == deleted
    assert sorted(p.name for p in archive.parent.iterdir()) == [name]


IN_PLACE_POINTS = ["shift-commit:1", "shift-write:1", "shift-write:7", "shift-commit:3", "before-truncate", "truncated"]


@pytest.mark.parametrize("point", IN_PLACE_POINTS)
def test_crash_during_an_in_place_shift_is_finished_by_the_next_run(tmp_path: Path, point: str) -> None:
    log = tmp_path / "logs-default.jsonl"
    # Interleaved old and new lines: many small kept runs, so many writes and progress records.
    retained = write_log(log, 3000, old_every=2)
    crashed = run_cli("--path", str(log), "--in-place", env={"MXCP_COMPACT_CRASH_AT": point})
    assert crashed.returncode == -signal.SIGABRT, crashed.stderr
    dry = run_cli("--path", str(log), "--dry-run")
    assert dry.returncode == 1 and "interrupted in-place compaction" in dry.stderr
    finished = run_cli("--path", str(log))
    assert finished.returncode == 0, finished.stderr
    assert log.read_text() == "".join(retained)
    assert not (tmp_path / ".logs-default.jsonl.mxcp-compact.shift").exists()


@pytest.mark.parametrize("point", ["bounce-saved:1", "bounce-saved:2", "shift-write:2", "shift-write:3"])
def test_a_crash_while_kept_lines_move_through_the_journal_is_finished_by_the_next_run(
    tmp_path: Path, point: str
) -> None:
    # One short expired line before 10 MB of kept ones: the gap is too small to move them gap
    # by gap, so they go through the journal 4 MiB at a time, overwriting their own source.
    log = tmp_path / "logs-default.jsonl"
    kept = [line(NEW, orig=i, pad="x" * (400 + i % 90)) for i in range(22_000)]
    log.write_text("".join([*kept[:10], line(OLD, orig="late"), *kept[10:]]))
    crashed = run_cli("--path", str(log), "--in-place", env={"MXCP_COMPACT_CRASH_AT": point})
    assert crashed.returncode == -signal.SIGABRT, crashed.stderr
    assert (tmp_path / ".logs-default.jsonl.mxcp-compact.shift").exists()
    finished = run_cli("--path", str(log), "--json")
    assert finished.returncode == 0, finished.stderr
    assert json.loads(finished.stdout)["deleted_per_schema"] == {"mxcp.endpoints:2": 1}
    assert log.read_text() == "".join(kept)
    assert not (tmp_path / ".logs-default.jsonl.mxcp-compact.shift").exists()


@pytest.mark.parametrize("point", ["before-collapse", "collapsed", *IN_PLACE_POINTS])
def test_a_resumed_in_place_run_reports_what_the_interrupted_one_deleted(tmp_path: Path, point: str) -> None:
    log = tmp_path / "logs-default.jsonl"
    # An expired prefix of several blocks (collapsed on ext4), then interleaved lines.
    prefix = [line(OLD, orig=-i, pad="y" * 300) for i in range(1, 60)]
    mixed = write_log(log, 3000, old_every=2)
    log.write_text("".join(prefix) + log.read_text())
    original_size = log.stat().st_size
    expired = len(prefix) + 3000 - len(mixed)
    crashed = run_cli("--path", str(log), "--in-place", env={"MXCP_COMPACT_CRASH_AT": point})
    assert crashed.returncode == -signal.SIGABRT, crashed.stderr
    finished = run_cli("--path", str(log), "--json")
    assert finished.returncode == 0, finished.stderr
    # A collapsed prefix leaves one whitespace-only line where the straddling record ended.
    assert [kept for kept in log.read_text().splitlines(keepends=True) if kept.strip()] == mixed
    report = json.loads(finished.stdout)
    assert report["message"] == f"Deleted {expired} records"
    assert report["files"][0]["bytes_before"] == original_size
    assert report["files"][0]["appended_bytes"] == 0
    assert not any("caught up" in note for note in report["notes"])
    # The text report of a resumed run says the same.
    log.write_text(
        "".join(prefix) + "".join(line(OLD if i % 2 == 0 else NEW, orig=i, pad="x" * 200) for i in range(3000))
    )
    assert run_cli("--path", str(log), "--in-place", env={"MXCP_COMPACT_CRASH_AT": point}).returncode < 0
    text = run_cli("--path", str(log))
    assert text.returncode == 0, text.stderr
    assert f"Total records deleted: {expired}" in text.stdout
    assert "No records were deleted" not in text.stdout
    assert "caught up" not in text.stderr


def test_lines_appended_between_an_interrupted_and_the_resumed_run_are_kept_not_called_caught_up(
    tmp_path: Path,
) -> None:
    log = tmp_path / "logs-default.jsonl"
    retained = write_log(log, 3000, old_every=2)
    crashed = run_cli("--path", str(log), "--in-place", env={"MXCP_COMPACT_CRASH_AT": "shift-commit:2"})
    assert crashed.returncode == -signal.SIGABRT, crashed.stderr
    later = [line(NEW, orig=10_000 + i) for i in range(5)]
    with log.open("a") as appending:
        appending.write("".join(later))
    finished = run_cli("--path", str(log), "--json")
    assert finished.returncode == 0, finished.stderr
    report = json.loads(finished.stdout)
    assert report["files"][0]["appended_bytes"] == 0
    assert not any("caught up" in note for note in report["notes"]), report["notes"]
    assert log.read_text() == "".join(retained + later)


def test_lines_appended_during_an_in_place_run_are_reported_as_caught_up(tmp_path: Path) -> None:
    log = tmp_path / "logs-default.jsonl"
    retained = write_log(log, 3000, old_every=2)
    signal_file = tmp_path / "paused"
    piped = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    args = ["--path", str(log), "--in-place", "--json", "--threads", "1"]
    process = start_paused(args, "window:2=1000", signal_file, **piped)
    wait_for(signal_file, "the in-place run to reach its shift")
    later = "".join(line(NEW, orig=10_000 + i) for i in range(5))
    with log.open("a") as appending:
        appending.write(later)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    report = json.loads(stdout)
    assert report["files"][0]["appended_bytes"] == len(later)
    assert f"caught up {len(later)} bytes appended during the run" in " ".join(report["notes"])
    assert log.read_text() == "".join(retained) + later


def test_stats_like_a_dry_run_refuses_a_file_with_a_pending_in_place_shift(tmp_path: Path) -> None:
    log = tmp_path / "logs-default.jsonl"
    retained = write_log(log, 3000, old_every=2)
    crashed = run_cli("--path", str(log), "--in-place", env={"MXCP_COMPACT_CRASH_AT": "shift-commit:3"})
    assert crashed.returncode == -signal.SIGABRT, crashed.stderr
    stats = subprocess.run([*CLI, "stats", "--path", str(log)], capture_output=True, text=True, check=False)
    assert stats.returncode == 1
    assert "interrupted in-place compaction is pending" in stats.stderr
    assert run_cli("--path", str(log)).returncode == 0
    assert log.read_text() == "".join(retained)


def test_a_copy_of_a_half_shifted_log_is_refused_by_every_command_and_never_compacted(tmp_path: Path) -> None:
    # `cp -a` of the directory after an interrupted shift: the copy holds half-moved lines and
    # the progress record, which names the original's inode. Compacted as it is, the copy kept
    # thousands of records twice (exit 0).
    logs, copy = tmp_path / "logs", tmp_path / "copy"
    logs.mkdir()
    log = logs / "logs-default.jsonl"
    retained = write_log(log, 3000, old_every=2)
    crashed = run_cli("--path", str(log), "--in-place", env={"MXCP_COMPACT_CRASH_AT": "shift-commit:3"})
    assert crashed.returncode == -signal.SIGABRT, crashed.stderr
    shutil.copytree(logs, copy)
    half_moved = (copy / log.name).read_bytes()
    record = copy / f".{log.name}.mxcp-compact.shift"
    for args in (["--in-place"], [], ["--dry-run"]):
        refused = run_cli("--path", str(copy / log.name), *args)
        assert refused.returncode == 1, (args, refused.stderr)
        assert f"{record} is the progress record of an interrupted in-place compaction of another inode" in (
            refused.stderr
        )
    stats = subprocess.run([*CLI, "stats", "--path", str(copy)], capture_output=True, text=True, check=False)
    assert stats.returncode == 1 and "of another inode" in stats.stderr
    assert (copy / log.name).read_bytes() == half_moved and record.exists()
    # The original, whose record it is, is finished as before.
    assert run_cli("--path", str(log)).returncode == 0
    assert log.read_text() == "".join(retained)


def test_export_refuses_a_log_with_a_pending_in_place_shift(tmp_path: Path) -> None:
    pytest.importorskip("duckdb", reason="export needs the duckdb extra")
    log = tmp_path / "logs-default.jsonl"
    retained = write_log(log, 3000, old_every=2)
    crashed = run_cli("--path", str(log), "--in-place", env={"MXCP_COMPACT_CRASH_AT": "shift-commit:3"})
    assert crashed.returncode == -signal.SIGABRT, crashed.stderr
    database = tmp_path / "audit.duckdb"
    export = [*CLI, "export", "--duckdb", str(database), "--path", str(log)]
    refused = subprocess.run(export, capture_output=True, text=True, check=False)
    assert refused.returncode == 1, refused.stderr
    assert "interrupted in-place compaction is pending" in refused.stdout + refused.stderr
    assert run_cli("--path", str(log)).returncode == 0
    exported = subprocess.run(export, capture_output=True, text=True, check=False)
    assert exported.returncode == 0, exported.stderr
    assert f"Exported {len(retained)} records" in exported.stdout


READERS_DURING_A_SHIFT = {
    "dry run": ["log-cleanup", "--now", NOW, "--dry-run", "--json"],
    "stats": ["stats", "--now", NOW, "--json"],
    "verify": ["verify", "--now", NOW],
    "export": ["export", "--duckdb", "{database}"],
}


@pytest.mark.parametrize("reader", sorted(READERS_DURING_A_SHIFT))
def test_a_reader_started_during_another_runs_in_place_shift_waits_and_reads_the_result(
    tmp_path: Path, reader: str
) -> None:
    """A dry run, stats, verify or export of a log another run is shifting in place waits for
    the shift to settle, then reads the compacted file: never the half-moved lines (some of them
    twice), never a refusal of the live shift's progress record."""
    if reader == "export":
        pytest.importorskip("duckdb", reason="export needs the duckdb extra")
    log = tmp_path / "logs-default.jsonl"
    retained = write_log(log, 3000, old_every=2)
    signal_file = tmp_path / "paused"
    shifting = start_paused(["--path", str(log), "--in-place"], "shift-write:7=1500", signal_file)
    wait_for(signal_file, "the shift to be half done")
    database = tmp_path / "audit.duckdb"
    argv = [part.format(database=database) for part in READERS_DURING_A_SHIFT[reader]]
    piped = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    reading = subprocess.Popen([*CLI, *argv, "--path", str(log)], text=True, **piped)
    try:
        time.sleep(0.3)
        waited = reading.poll() is None
        stdout, stderr = reading.communicate(timeout=60)
        assert waited, f"the reader waits for the shift, but ended: {stdout + stderr}"
        assert shifting.wait(timeout=30) == 0
    finally:
        for process in (reading, shifting):
            if process.poll() is None:
                process.kill()
            process.wait()
    assert log.read_text() == "".join(retained)
    assert reading.returncode == 0, stdout + stderr
    if reader == "dry run":
        report = json.loads(stdout)
        assert (report["files"][0]["lines"], report["files"][0]["deleted"]) == (len(retained), 0)
    elif reader == "stats":
        report = json.loads(stdout)
        assert (report["lines"], report["would_delete"]["records"]) == (len(retained), 0), stdout
    elif reader == "export":
        assert f"Exported {len(retained)} records" in stdout, stdout


def test_sigkill_at_random_moments_never_leaves_a_partial_file(tmp_path: Path) -> None:
    log = tmp_path / "logs-default.jsonl"
    retained = write_log(log, 60_000, pad=300)
    original = log.read_text()
    expected = "".join(retained)
    for attempt in range(12):
        log.write_text(original)
        process = subprocess.Popen([*CLI, "log-cleanup", "--now", NOW, "--path", str(log)])
        time.sleep(0.02 + attempt * 0.04)
        process.kill()
        process.wait()
        assert log.read_text() in (original, expected), f"attempt {attempt}"
        assert run_cli("--path", str(log)).returncode == 0
        assert log.read_text() == expected
        assert not (tmp_path / ".logs-default.jsonl.mxcp-compact.tmp").exists()


# 4. Disk full: a normal run fails cleanly; --emergency frees space without a temp copy.


@pytest.mark.parametrize("kind", ["tmpfs", "ext4"])
def test_disk_full_fails_cleanly_then_emergency_frees_space(tmp_path: Path, kind: str) -> None:
    with small_filesystem(tmp_path, kind, "3M" if kind == "tmpfs" else "8M") as mount:
        log = mount / "logs-default.jsonl"
        # Expired prefix then mixed: the retained data is larger than the free space.
        lines = [line(OLD, orig=i, pad="x" * 1000) for i in range(1200)]
        lines += [line(NEW if i % 4 else OLD, orig=i, pad="y" * 1000) for i in range(1200, 2000)]
        size_target = 2_600_000 if kind == "tmpfs" else 5_800_000
        while sum(map(len, lines)) < size_target:
            i = len(lines)
            lines.append(line(NEW if i % 4 else OLD, orig=i, pad="z" * 1000))
        log.write_text("".join(lines))
        retained = "".join(item for item in lines if NEW in item)
        free = shutil.disk_usage(mount).free
        assert free < len(retained), "the scenario needs less free space than the retained data"
        original = log.read_bytes()
        inode = log.stat().st_ino

        normal = run_cli("--path", str(log))
        assert normal.returncode == 1
        assert str(log) in normal.stderr and "no space left" in normal.stderr and "--emergency" in normal.stderr
        assert log.read_bytes() == original
        assert sorted(p.name for p in mount.iterdir() if p.name != "lost+found") == ["logs-default.jsonl"]

        emergency = run_cli("--path", str(log), "--emergency", "--json")
        assert emergency.returncode == 0, emergency.stderr
        report = json.loads(emergency.stdout)
        assert report["bytes_freed"] == len(original) - log.stat().st_size > 0
        assert log.stat().st_ino == inode
        text = log.read_text()
        if kind == "ext4":
            # The block-aligned expired prefix was collapsed; what remained of the record that
            # straddled the block boundary is one whitespace-only line.
            first, rest = text.split("\n", 1)
            assert first.strip() == "" and len(first) < 4096
            assert rest == retained
        else:
            assert text == retained
        assert shutil.disk_usage(mount).free > free


def _fill(mount: Path) -> None:
    """Takes every free byte of the filesystem at `mount`."""
    with (mount / "filler").open("wb", buffering=0) as filler:
        try:
            while True:
                filler.write(b"\0" * 4096)
        except OSError:
            pass
    assert shutil.disk_usage(mount).free < 4096


def test_emergency_on_a_completely_full_disk_starts_once_another_file_has_freed_space(tmp_path: Path) -> None:
    """Not one free block: the shift's progress record cannot be written, so the file is left as
    it was, with no record that would mark it pending; once a wholly expired log has been
    emptied (which needs no record), the file is compacted on a second try."""
    with small_filesystem(tmp_path, "tmpfs", "2M") as mount:
        mixed, expired = mount / "a.jsonl", mount / "z.jsonl"
        lines = [line(OLD if i % 2 else NEW, orig=i, pad="x" * 300) for i in range(1000)]
        mixed.write_text("".join(lines))
        expired.write_text("".join(line(OLD, orig=i, pad="x" * 300) for i in range(500)))
        original = mixed.read_bytes()
        _fill(mount)

        alone = run_cli("--path", str(mixed), "--emergency")
        assert alone.returncode == 1
        assert "no space left on the device for the progress record" in alone.stderr
        assert "the log is intact" in alone.stderr and "Errno" not in alone.stderr
        assert mixed.read_bytes() == original
        assert sorted(p.name for p in mount.iterdir()) == ["a.jsonl", "filler", "z.jsonl"]
        assert run_cli("--path", str(mixed), "--dry-run").returncode == 0, "no pending compaction is left"

        both = run_cli("--path", str(mount), "--emergency")
        assert both.returncode == 0, both.stderr
        assert f"{mixed}: compacted on a second try" in both.stderr
        assert mixed.read_text() == "".join(item for item in lines if NEW in item)
        assert expired.read_bytes() == b""
        assert sorted(p.name for p in mount.iterdir()) == ["a.jsonl", "filler", "z.jsonl"]


def test_disk_full_during_a_direct_copy_fails_cleanly(tmp_path: Path) -> None:
    """Logs of 64 MiB and more are copied with O_DIRECT from a writer thread: a full disk there is
    reported like any other, the log keeps every byte and the temp is removed."""
    if shutil.which("strace") is None:
        pytest.skip("strace is not installed (.ci/run installs it)")
    with small_filesystem(tmp_path, "ext4", "100M") as mount:
        log = mount / "logs-default.jsonl"
        pad = "p" * 4000
        lines = [line(OLD if i % 8 == 0 else NEW, orig=i, pad=pad) for i in range(18_000)]
        log.write_text("".join(lines))
        assert log.stat().st_size >= 64 << 20, "the scenario needs a log large enough for O_DIRECT"
        retained = sum(len(item) for item in lines if NEW in item)
        assert shutil.disk_usage(mount).free < retained, "the scenario needs less free space than the kept data"
        digest = hashlib.sha256(log.read_bytes()).hexdigest()
        trace = tmp_path / "trace.txt"
        command = [*CLI, "log-cleanup", "--now", NOW, "--path", str(log)]
        traced = run_traced(command, trace, "fcntl")
        assert "O_DIRECT" in trace.read_text(), "the copy was expected to be written with O_DIRECT"
        assert traced.returncode == 1
        assert str(log) in traced.stderr and "no space left" in traced.stderr
        assert hashlib.sha256(log.read_bytes()).hexdigest() == digest
        assert sorted(p.name for p in mount.iterdir() if p.name != "lost+found") == ["logs-default.jsonl"]


# 5. Truncation or rotation under our feet.


def test_truncation_while_mapped_is_reported_and_the_process_survives(tmp_path: Path) -> None:
    log = tmp_path / "logs-default.jsonl"
    write_log(log, 150_000, pad=300)
    signal_file = tmp_path / "paused"
    os.environ["MXCP_COMPACT_PAUSE_AT"] = "window:2=600"
    os.environ["MXCP_COMPACT_PAUSE_SIGNAL"] = str(signal_file)
    try:
        errors: list[BaseException] = []

        def run() -> None:
            try:
                compact(log, now=NOW, threads=1)
            except BaseException as error:
                errors.append(error)

        worker = threading.Thread(target=run)
        worker.start()
        wait_for(signal_file, "the run to pause between windows")
        with log.open("r+") as handle:
            handle.truncate(1000)
        worker.join(timeout=60)
    finally:
        del os.environ["MXCP_COMPACT_PAUSE_AT"]
        del os.environ["MXCP_COMPACT_PAUSE_SIGNAL"]
    assert len(errors) == 1 and isinstance(errors[0], OSError)
    assert "was truncated" in str(errors[0])
    assert log.stat().st_size == 1000
    assert not (tmp_path / ".logs-default.jsonl.mxcp-compact.tmp").exists()


def test_rotation_during_a_run_leaves_both_files_intact(tmp_path: Path) -> None:
    log = tmp_path / "logs-default.jsonl"
    write_log(log, 3000)
    original = log.read_bytes()
    rotated = tmp_path / "logs-default.jsonl.1"
    process = subprocess.Popen(
        [*CLI, "log-cleanup", "--now", NOW, "--path", str(log)],
        env={**os.environ, "MXCP_COMPACT_PAUSE_AT": "before-swap=1500"},
        stderr=subprocess.PIPE,
        text=True,
    )
    temp = tmp_path / ".logs-default.jsonl.mxcp-compact.tmp"
    wait_for(temp, "the run to write its temp")
    log.rename(rotated)
    log.write_text(line(NEW, fresh=1))
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 1
    assert "renamed or replaced" in stderr
    assert rotated.read_bytes() == original
    assert log.read_text() == line(NEW, fresh=1)
    assert not temp.exists()


@pytest.mark.parametrize("mode", ["--in-place", "--emergency"])
def test_lines_appended_while_the_shift_settles_are_kept(tmp_path: Path, mode: str) -> None:
    """An MXCP-style writer (open, append, close) adds lines after the search has ended, while
    the shift makes itself durable before the truncate: none of them may be cut off."""
    log = tmp_path / "logs-default.jsonl"
    retained = write_log(log, 3000)
    signal_file = tmp_path / "paused"
    piped = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    process = start_paused(["--path", str(log), mode], "before-late-lines=1000", signal_file, **piped)
    wait_for(signal_file, "the shift to reach its truncate")
    late = [line(NEW, late=i) for i in range(50)]
    for record in late:
        with log.open("a") as writer:
            writer.write(record)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert log.read_text() == "".join(retained + late)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["logs-default.jsonl", "paused"]


# 6. Two cleanups at once.


def test_second_cleanup_waits_or_reports_the_running_one(tmp_path: Path) -> None:
    log = tmp_path / "logs-default.jsonl"
    retained = write_log(log, 3000)
    signal_file = tmp_path / "paused"
    first = start_paused(["--path", str(log)], "window=1500", signal_file)
    wait_for(signal_file, "the first run to hold the lock")
    busy = run_cli("--path", str(log))
    assert busy.returncode == 1
    assert f"another mxcp-compact is running (pid {first.pid})" in busy.stderr
    reason = f"because {tmp_path}: another mxcp-compact is running (pid {first.pid})"
    assert f"Not compacted: {log} ({reason}); nothing was deleted from it." in busy.stdout, busy.stdout
    waited = run_cli("--path", str(log), "--wait", "30")
    assert first.wait(timeout=30) == 0
    assert waited.returncode == 0, waited.stderr
    assert log.read_text() == "".join(retained)


def test_a_second_cleanup_sharing_the_archive_waits_or_reports_the_running_one(tmp_path: Path) -> None:
    """Two audit directories, one `--archive`: the second run is refused like a busy directory
    (exit 1, every file named, nothing deleted), and `--wait` waits for the first to finish."""
    first_dir, second_dir = tmp_path / "a", tmp_path / "b"
    first_dir.mkdir()
    second_dir.mkdir()
    first_log, second_log = first_dir / "logs-default.jsonl", second_dir / "logs-default.jsonl"
    first_kept, second_kept = write_log(first_log, 3000), write_log(second_log, 40)
    second_before = second_log.read_text()
    archive = tmp_path / "deleted.jsonl"
    signal_file = tmp_path / "paused"
    first = start_paused(["--path", str(first_log), "--archive", str(archive)], "window=1500", signal_file)
    wait_for(signal_file, "the first run to hold the archive")
    busy = run_cli("--path", str(second_log), "--archive", str(archive))
    assert busy.returncode == 1, busy.stderr
    reason = f"because {archive}: another mxcp-compact is running (pid {first.pid})"
    assert f"Not compacted: {second_log} ({reason}); nothing was deleted from it." in busy.stdout, busy.stdout
    assert second_log.read_text() == second_before
    waited = run_cli("--path", str(second_log), "--archive", str(archive), "--wait", "30")
    assert first.wait(timeout=30) == 0
    assert waited.returncode == 0, waited.stderr
    assert first_log.read_text() == "".join(first_kept)
    assert second_log.read_text() == "".join(second_kept)
    archived = archive.read_text().splitlines(keepends=True)
    assert len(archived) == 1500 + 20, "each run archived its deleted lines once"


def test_a_stop_request_ends_the_wait_for_a_held_archive(tmp_path: Path) -> None:
    first_dir, second_dir = tmp_path / "a", tmp_path / "b"
    first_dir.mkdir()
    second_dir.mkdir()
    first_log, second_log = first_dir / "logs-default.jsonl", second_dir / "logs-default.jsonl"
    write_log(first_log, 3000)
    write_log(second_log, 40)
    second_before = second_log.read_text()
    archive = tmp_path / "deleted.jsonl"
    first = start_paused(["--path", str(first_log), "--archive", str(archive)], "window=3000", tmp_path / "paused")
    wait_for(tmp_path / "paused", "the first run to hold the archive")
    piped = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    waiting = subprocess.Popen(
        [*CLI, "log-cleanup", "--now", NOW, "--path", str(second_log), "--archive", str(archive), "--wait", "600"],
        text=True,
        **piped,
    )
    time.sleep(0.5)
    assert waiting.poll() is None, "it waits for the archive"
    waiting.send_signal(signal.SIGTERM)
    stdout, _ = waiting.communicate(timeout=20)
    assert waiting.returncode == 128 + signal.SIGTERM
    assert "interrupted while it waited for another run to finish with the archive" in stdout, stdout
    assert second_log.read_text() == second_before
    first.kill()
    first.wait(timeout=30)


def test_a_run_locks_each_directory_once_and_leaves_nothing_in_it(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    retained = {
        path: write_log(path, 200) for path in (first / "logs-1.jsonl", first / "logs-2.jsonl", second / "logs-3.jsonl")
    }
    trace = tmp_path / "trace"
    command = [*CLI, "log-cleanup", "--now", NOW, "--path", str(first), "--path", str(second)]
    traced = run_traced(command, trace, "flock")
    assert traced.returncode == 0, traced.stderr
    locks = [entry for entry in trace.read_text().splitlines() if "LOCK_EX" in entry]
    assert len(locks) == 2, locks  # three files, two directories
    for path, lines in retained.items():
        assert path.read_text() == "".join(lines)
    assert sorted(p.name for p in first.iterdir()) == ["logs-1.jsonl", "logs-2.jsonl"]


# 7. Permissions and links.


def test_mode_and_owner_are_kept_when_rewriting_as_root(tmp_path: Path) -> None:
    if not is_root():
        pytest.skip("changing a file's owner needs root (CI runs as root)")
    log = tmp_path / "logs-default.jsonl"
    retained = write_log(log, 100)
    os.chown(log, 65534, 65534)
    log.chmod(0o440)
    assert run_cli("--path", str(log)).returncode == 0
    stat = log.stat()
    assert (stat.st_uid, stat.st_gid, stat.st_mode & 0o7777) == (65534, 65534, 0o440)
    assert log.read_text() == "".join(retained)


def test_unwritable_directory_is_reported_and_the_file_untouched(tmp_path: Path) -> None:
    if not is_root():
        pytest.skip("a read-only bind mount needs root (CI runs as root)")
    directory = tmp_path / "logs"
    directory.mkdir()
    log = directory / "logs-default.jsonl"
    write_log(log, 100)
    untouched = directory / "logs-other.jsonl"
    untouched.write_text(line(NEW, keep=1))
    original = log.read_bytes()
    # Root ignores permission bits, so make the directory read-only for everyone instead.
    for command in (
        ["mount", "--bind", str(directory), str(directory)],
        ["mount", "-o", "remount,ro,bind", str(directory)],
    ):
        mounted = subprocess.run(command, capture_output=True, text=True, check=False)
        if mounted.returncode != 0:
            subprocess.run(["umount", str(directory)], check=False)
            pytest.skip(f"cannot make a read-only bind mount here: {mounted.stderr.strip()}")
    try:
        preview = run_cli("--path", str(directory), "--dry-run")
        result = run_cli("--path", str(directory))
    finally:
        subprocess.run(["umount", str(directory)], check=True)
    # The dry run promises nothing the real run cannot do.
    assert preview.returncode == 1
    assert "logs-default.jsonl" in preview.stderr and "Read-only file system" in preview.stderr
    assert "logs-other.jsonl" not in preview.stderr
    assert result.returncode == 1
    assert "logs-default.jsonl" in result.stderr or str(directory) in result.stderr
    assert "Read-only file system" in result.stderr
    assert "logs-other.jsonl" not in result.stderr, "a file with nothing to delete needs no writing"
    assert log.read_bytes() == original
    assert untouched.read_text() == line(NEW, keep=1)


@pytest.mark.parametrize("attribute", ["+i", "+a"])
def test_an_immutable_or_append_only_log_is_refused_by_the_dry_run_as_by_the_real_run(
    tmp_path: Path, attribute: str
) -> None:
    log = tmp_path / "logs-default.jsonl"
    write_log(log, 100)
    original = log.read_bytes()
    marked = subprocess.run(["chattr", attribute, str(log)], capture_output=True, text=True, check=False)
    if marked.returncode != 0:
        pytest.skip(f"chattr {attribute} is refused here (needs root and ext4-like attributes): {marked.stderr}")
    try:
        previews = [run_cli("--path", str(log), "--dry-run", *mode) for mode in ([], ["--in-place"])]
        reals = [run_cli("--path", str(log), *mode) for mode in ([], ["--in-place"])]
    finally:
        subprocess.run(["chattr", f"-{attribute[1:]}", str(log)], check=True)
    for preview, real in zip(previews, reals, strict=True):
        # The dry run promises nothing the real run cannot do, and says why.
        assert preview.returncode == real.returncode == 1, (preview.stdout, real.stderr)
        assert "immutable or append-only" in preview.stderr
        # Neither real run could open the file: neither claims it may have changed it.
        assert "nothing was deleted from it" in real.stdout and "may have" not in real.stdout, real.stdout
    assert log.read_bytes() == original
    assert sorted(p.name for p in tmp_path.iterdir()) == ["logs-default.jsonl"]


@pytest.mark.parametrize(
    ("pause", "changed"),
    [
        # The first window of the shift (after the expired-prefix probe's): nothing is moved yet.
        ("window:2=1500", False),
        # The second: the first window's kept lines have been moved down.
        ("window:3=1500", True),
    ],
)
def test_an_interrupted_in_place_run_says_whether_it_changed_the_log(tmp_path: Path, pause: str, changed: bool) -> None:
    log = tmp_path / "logs-default.jsonl"
    retained = write_log(log, 120_000, pad=300)
    original = log.read_bytes()
    signal_file = tmp_path / "paused"
    piped = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    process = start_paused(["--path", str(log), "--threads", "1", "--in-place"], pause, signal_file, **piped)
    wait_for(signal_file, "the in-place run to reach its window")
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    if changed:
        assert "interrupted; the next run finishes the in-place compaction" in stderr
        assert "the in-place run may have deleted some of its expired records" in stdout
        assert log.read_bytes() != original
    else:
        assert "interrupted; left untouched" in stderr
        assert "Not compacted:" in stdout and "nothing was deleted from it" in stdout
        assert log.read_bytes() == original
    assert run_cli("--path", str(log), "--in-place").returncode == 0
    assert log.read_text() == "".join(retained)


def test_an_emergency_run_stopped_mid_shift_says_how_much_its_collapse_freed(tmp_path: Path) -> None:
    # The collapse frees the expired prefix at once; stopped later, mid-shift, the run counts no
    # record (the next run finishes and counts them), but "freed 0 bytes" misled an operator
    # watching a full disk.
    log = tmp_path / "logs-default.jsonl"
    prefix = "".join(line(OLD, orig=-i, pad="y" * 300) for i in range(1, 3000))
    retained = write_log(log, 120_000, pad=300)
    log.write_text(prefix + log.read_text())
    size_before = log.stat().st_size
    signal_file = tmp_path / "paused"
    piped = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    args = ["--path", str(log), "--threads", "1", "--emergency", "--json"]
    process = start_paused(args, "window:3=1500", signal_file, **piped)
    wait_for(signal_file, "the emergency run to reach its shift")
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 143, stderr
    freed = size_before - log.stat().st_size
    assert freed > len(prefix) // 2, "the collapse freed the prefix's whole blocks"
    report = json.loads(stdout)
    assert report["files"][0]["bytes_freed_so_far"] == freed
    note = f"freed {freed} bytes ({freed / 2**20:.1f} MiB), {freed} of them by compactions the next run finishes"
    assert note in report["notes"]
    text = run_cli("--path", str(log), "--in-place")
    assert text.returncode == 0, text.stderr
    assert [kept for kept in log.read_text().splitlines(keepends=True) if kept.strip()] == retained


def test_an_in_place_run_stopped_right_after_its_collapse_reports_and_trails_what_it_deleted(
    tmp_path: Path,
) -> None:
    # Expired records first, as in a log that grows in time order: the collapse removes them,
    # then the stop comes before the search of the rest has moved anything. No progress record
    # is left (there is nothing to finish), so only this run can count those deletions.
    log = tmp_path / "logs-default.jsonl"
    expired = [line(OLD, orig=i, pad="x" * 200) for i in range(3000)]
    kept = [line(NEW, orig=i, pad="x" * 200) for i in range(3000)]
    late = line(OLD, orig="late")
    original = [*expired, *kept[:1500], late, *kept[1500:]]
    log.write_text("".join(original))
    trail = tmp_path / "trail.jsonl"
    signal_file = tmp_path / "paused"
    piped = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    args = ["--path", str(log), "--in-place", "--json", "--audit-trail", str(trail)]
    process = start_paused(args, "collapsed=1500", signal_file, **piped)
    wait_for(signal_file, "the in-place run to collapse its expired prefix")
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 143, stderr
    report = json.loads(stdout)
    assert (report["status"], report["deleted_per_schema"]) == ("interrupted", {"mxcp.endpoints:2": 3000})
    note = f"{log}: stopped on request after its expired prefix was removed; the next run reads the rest"
    assert note in report["notes"]
    entry = json.loads(trail.read_text())
    assert (entry["status"], entry["deleted_per_schema"]) == ("interrupted", {"mxcp.endpoints:2": 3000})
    # What is left is a whole log: the blanked tail of the last expired line, then the rest.
    assert log.read_text().lstrip(" ") == "\n" + "".join(original[len(expired) :])
    # The rest was never read, so the index must not vouch for the file: the next run reads it
    # and deletes the expired line the stopped run never reached.
    again = run_cli("--path", str(log), "--in-place", "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["deleted_per_schema"] == {"mxcp.endpoints:2": 1}
    assert late not in log.read_text()


def test_hard_linked_log_is_refused_by_rename_and_compacted_in_place(tmp_path: Path) -> None:
    log = tmp_path / "logs-default.jsonl"
    retained = write_log(log, 100)
    other = tmp_path / "backup-link"
    os.link(log, other)
    preview = run_cli("--path", str(log), "--dry-run")
    assert preview.returncode == 1 and "hard links" in preview.stderr, "the dry run refuses it too"
    assert run_cli("--path", str(log), "--dry-run", "--in-place").returncode == 0
    refused = run_cli("--path", str(log))
    assert refused.returncode == 1 and "hard links" in refused.stderr
    assert run_cli("--path", str(log), "--in-place").returncode == 0
    assert log.read_text() == other.read_text() == "".join(retained)


def test_symlinked_log_is_compacted_at_its_target(tmp_path: Path) -> None:
    real = tmp_path / "real.jsonl"
    retained = write_log(real, 100)
    link = tmp_path / "logs-default.jsonl"
    link.symlink_to(real)
    assert run_cli("--path", str(link)).returncode == 0
    assert link.is_symlink() and real.read_text() == "".join(retained)


def test_non_utf8_file_name_is_compacted_and_reported(tmp_path: Path) -> None:
    directory = tmp_path / "logs"
    directory.mkdir()
    name = os.fsdecode(b"logs-\xff\xfe.jsonl")
    log = directory / name
    retained = write_log(log, 100)
    for extra in ([], ["--json"]):
        result = run_cli("--path", str(directory), *extra)
        assert result.returncode == 0, result.stderr
    assert log.read_text() == "".join(retained)


def test_a_file_name_with_a_newline_or_an_escape_is_compacted_and_shown_on_one_line(tmp_path: Path) -> None:
    directory = tmp_path / "logs"
    directory.mkdir()
    log = directory / "logs-a\nb\x1b[31m.jsonl"
    retained = write_log(log, 100)
    checked = subprocess.run(
        [*CLI, "verify", "--now", NOW, "--path", str(directory)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 1, "its expired records are found (it used to be passed over in silence)"
    assert checked.stdout.splitlines()[0].startswith(f"{directory}/logs-a\\x0ab\\x1b[31m.jsonl: 50 records past")
    result = run_cli("--path", str(directory))
    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stdout + result.stderr
    assert log.read_text() == "".join(retained)


def test_a_symlink_loop_is_named_as_one(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").symlink_to(tmp_path / "b.jsonl")
    (tmp_path / "b.jsonl").symlink_to(tmp_path / "a.jsonl")
    result = run_cli("--path", str(tmp_path / "a.jsonl"))
    assert result.returncode == 2
    assert result.stderr.strip() == f"Error: {tmp_path / 'a.jsonl'}: Too many levels of symbolic links"


@pytest.mark.parametrize("command", ["log-cleanup", "stats", "verify"])
def test_a_symlink_loop_among_the_logs_costs_its_links_and_never_the_run(tmp_path: Path, command: str) -> None:
    # Python 3.11's Path.resolve raises RuntimeError on a loop: the run died after compacting
    # the files before it, with no report and no trail line, and stats and verify printed a traceback.
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.jsonl").symlink_to(logs / "b.jsonl")
    (logs / "b.jsonl").symlink_to(logs / "a.jsonl")
    retained = write_log(logs / "c.jsonl", 10, old_every=2)
    trail = tmp_path / "trail.jsonl"
    extra = ["--audit-trail", str(trail)] if command == "log-cleanup" else []
    result = subprocess.run(
        [*CLI, command, "--now", NOW, "--path", str(logs), *extra], capture_output=True, text=True, check=False
    )
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    for name in ("a.jsonl", "b.jsonl"):
        assert f"{logs / name}" in result.stdout + result.stderr
    assert "Too many levels of symbolic links" in result.stdout + result.stderr
    if command == "log-cleanup":
        assert (logs / "c.jsonl").read_text() == "".join(retained)
        assert json.loads(trail.read_text())["deleted_per_schema"] == {"mxcp.endpoints:2": 5}


# 8. Hostile content, handled without loss or unbounded memory.


DEEP = (
    b'{"schema_name": "mxcp.endpoints", "timestamp": "'
    + OLD.encode()
    + b'", "x": '
    + b"[" * 100_000
    + b"]" * 100_000
    + b"}\n"
)
EXPIRED = line(OLD, a=1).encode()
KEPT = line(NEW, b=2).encode()


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param(b"x" * 5_000_000, b"x" * 5_000_000, id="no-newline-at-all"),
        pytest.param(b"\n" * 1_000_000, b"\n" * 1_000_000, id="only-newlines"),
        pytest.param(EXPIRED + KEPT + b"\0" * 100_000, KEPT + b"\0" * 100_000, id="nul-filled-tail"),
        pytest.param(b"\xff" + EXPIRED + EXPIRED + KEPT, b"\xff" + EXPIRED + KEPT, id="invalid-utf8"),
        pytest.param(DEEP + EXPIRED + KEPT, DEEP + KEPT, id="depth-100000"),
        pytest.param(line(OLD, big="q" * 64_000_000).encode() + KEPT, KEPT, id="64-MB-single-line"),
    ],
)
def test_hostile_files_keep_every_line_that_is_not_a_valid_expired_record(
    tmp_path: Path, content: bytes, expected: bytes
) -> None:
    log = tmp_path / "logs-default.jsonl"
    log.write_bytes(content)
    result = compact(log, retention=Retention(), now=NOW)
    assert log.read_bytes() == expected
    assert result.lines == len(content.splitlines(keepends=True))


# 9. Durability: the temp is fsynced before the rename, the directory after it.


def test_temp_is_fsynced_before_the_rename_and_the_directory_after(tmp_path: Path) -> None:
    log = tmp_path / "logs-default.jsonl"
    write_log(log, 200)
    trace = tmp_path / "trace.txt"
    command = [*CLI, "log-cleanup", "--now", NOW, "--path", str(log)]
    traced = run_traced(command, trace, "openat,fsync,fdatasync,rename,renameat,renameat2")
    assert traced.returncode == 0, traced.stderr
    events = [row.split(None, 1)[1] for row in trace.read_text().splitlines() if " " in row]
    temp_name = ".logs-default.jsonl.mxcp-compact.tmp"
    temp_fd = next(
        e.rsplit("= ", 1)[1] for e in events if e.startswith("openat(") and temp_name in e and "O_CREAT" in e
    )
    rename_at = next(i for i, e in enumerate(events) if e.startswith("rename") and temp_name in e)
    temp_sync = [i for i, e in enumerate(events) if e.startswith((f"fsync({temp_fd})", f"fdatasync({temp_fd})"))]
    assert temp_sync and temp_sync[-1] < rename_at, "the temp must be fsynced before the rename"
    dir_opens = [
        (i, e.rsplit("= ", 1)[1])
        for i, e in enumerate(events)
        if i > rename_at and e.startswith("openat(") and f'"{tmp_path}"' in e
    ]
    assert any(any(e.startswith(f"fsync({fd})") for e in events[i:]) for i, fd in dir_opens), (
        "the directory must be fsynced after the rename"
    )


def test_a_failing_archive_deletes_nothing(tmp_path: Path) -> None:
    """Archive before delete: when the archive cannot be written (its disk is full), the file
    being compacted keeps every line and no later file is compacted."""
    logs = tmp_path / "logs"
    logs.mkdir()
    first, second = logs / "logs-a.jsonl", logs / "logs-b.jsonl"
    write_log(first, 2000, pad=300)
    write_log(second, 2000, pad=300)
    originals = {path: path.read_bytes() for path in (first, second)}
    with small_filesystem(tmp_path, "tmpfs", "64k") as mount:
        result = run_cli("--path", str(logs), "--archive", str(mount / "deleted.jsonl"))
    assert result.returncode == 1
    assert "deleted.jsonl: cannot write the archive (the log is left untouched): No space left" in result.stderr
    assert "not compacted, because an earlier file failed" in result.stderr
    for path, content in originals.items():
        assert path.read_bytes() == content
    assert sorted(p.name for p in logs.iterdir()) == ["logs-a.jsonl", "logs-b.jsonl"]


def test_an_archive_that_fills_its_disk_ends_with_whole_members_and_reports_them_alone(tmp_path: Path) -> None:
    # The failed member was left half written until the next run's repair: the report gave the
    # archive's hash over it (with 0 lines), and it held the disk's last bytes all that time.
    small, big = tmp_path / "small.jsonl", tmp_path / "logs-big.jsonl"
    write_log(small, 10)
    big_kept = write_log(big, 2000, pad=300)
    with small_filesystem(tmp_path, "tmpfs", "64k") as mount:
        archive = mount / "deleted.jsonl"
        assert run_cli("--path", str(small), "--archive", str(archive)).returncode == 0
        whole = archive.read_bytes()
        failed = run_cli("--path", str(big), "--archive", str(archive), "--json")
        assert failed.returncode == 1, failed.stderr
        assert archive.read_bytes() == whole
        assert not (mount / ".deleted.jsonl.mxcp-compact-member").exists()
        report = json.loads(failed.stdout)["archive"]
        assert (report["lines"], report["sha256"]) == (0, hashlib.sha256(whole).hexdigest())
    assert [item for item in big.read_text().splitlines(keepends=True) if NEW in item] == big_kept
    assert len(big.read_text().splitlines()) == 2000


def test_a_run_on_a_full_disk_leaves_no_empty_archive_marker_or_trail_behind(tmp_path: Path) -> None:
    # Each failed run left a 0-byte archive, a 0-byte member marker and a 0-byte trail there.
    log = tmp_path / "logs-default.jsonl"
    write_log(log, 200, old_every=1)
    original = log.read_text()
    with small_filesystem(tmp_path, "tmpfs", "64k") as mount:
        filler = mount / "filler"
        with filler.open("wb", buffering=0) as handle, contextlib.suppress(OSError):
            while True:
                handle.write(b"x" * 512)
        args = ["--path", str(log), "--archive", str(mount / "a.jsonl.gz"), "--audit-trail", str(mount / "t.jsonl")]
        result = run_cli(*args)
        left = sorted(p.name for p in mount.iterdir())
    assert result.returncode == 1, result.stderr
    assert "No space left" in result.stderr
    assert left == ["filler"]
    assert log.read_text() == original


def test_lines_archived_from_a_file_a_stop_request_left_as_it_was_are_not_called_deleted(tmp_path: Path) -> None:
    log = tmp_path / "logs-default.jsonl"
    write_log(log, 120_000, pad=300)
    original = log.read_bytes()
    for output in (["--json"], []):
        archive = tmp_path / f"deleted{len(output)}.jsonl"
        signal_file = tmp_path / f"paused{len(output)}"
        piped = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
        args = ["--path", str(log), "--threads", "1", "--archive", str(archive), *output]
        process = start_paused(args, "window:2=1500", signal_file, **piped)
        wait_for(signal_file, "the run to reach its second window")
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
        assert process.returncode == 130, stderr
        assert log.read_bytes() == original
        lines = archive.read_text().count("\n")
        if output:
            archived = json.loads(stdout)["archive"]
            assert archived["lines"] == archived["lines_still_in_logs"] == lines > 0, archived
        else:
            note = f"archived {lines} lines to {archive}: 0 deleted, {lines} of files left as they were"
            assert f"note: {note} (the next run archives them again)" in stderr, stderr


@pytest.mark.parametrize(("stop", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_stop_request_ends_a_wait_for_another_runs_lock_at_once(tmp_path: Path, stop: int, status: int) -> None:
    import fcntl

    log = tmp_path / "logs-default.jsonl"
    write_log(log, 100)
    original = log.read_bytes()
    holder = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(holder, fcntl.LOCK_EX)  # another run, working on this directory
    try:
        process = subprocess.Popen(
            [*CLI, "log-cleanup", "--now", NOW, "--path", str(log), "--wait", "300"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(1.5)
        assert process.poll() is None, "it waits for the lock"
        stopped_at = time.monotonic()
        process.send_signal(stop)
        stdout, stderr = process.communicate(timeout=60)
        waited = time.monotonic() - stopped_at
    finally:
        os.close(holder)
    assert process.returncode == status, stderr
    assert waited < 5, f"the stop request waited {waited:.1f} s for the lock"
    assert "interrupted while it waited for another run to finish" in stdout + stderr
    assert "Traceback" not in stderr
    assert log.read_bytes() == original


@pytest.mark.parametrize(("stop", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_or_sigterm_stops_cleanly_with_the_original_intact(tmp_path: Path, stop: int, status: int) -> None:
    """Ctrl-C, and SIGTERM as `systemctl stop`, `timeout` and `docker stop` send it: the
    original stays intact and no temp file is left behind."""
    log = tmp_path / "logs-default.jsonl"
    write_log(log, 120_000, pad=300)
    original = log.read_bytes()
    signal_file = tmp_path / "paused"
    piped = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    process = start_paused(["--path", str(log), "--threads", "1"], "window:2=1500", signal_file, **piped)
    wait_for(signal_file, "the run to reach its second window")
    process.send_signal(stop)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == status, stderr
    assert "interrupted; left untouched" in stderr
    assert "Traceback" not in stderr
    assert log.read_bytes() == original
    assert sorted(p.name for p in tmp_path.iterdir()) == ["logs-default.jsonl", "paused"]


def test_ctrl_c_after_the_last_window_lets_the_run_finish_as_a_success(tmp_path: Path) -> None:
    """A stop request that comes when nothing is left to stop (the last file is being swapped
    in): that file is completed, and the run does not claim to have been stopped."""
    log = tmp_path / "logs-default.jsonl"
    retained = write_log(log, 2000)
    signal_file = tmp_path / "paused"
    piped = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    process = start_paused(["--path", str(log)], "before-swap=1000", signal_file, **piped)
    wait_for(signal_file, "the run to reach its swap")
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert "every file was completed" in stderr
    assert "Total records deleted: 1000" in stdout
    assert log.read_text() == "".join(retained)


# 9. Scrubbing: deleted records cannot be read back from the device.


def _scrub_run(
    tmp_path: Path, *, scrub: bool, in_place: bool, compressed: bool = False
) -> tuple[bytes, str, dict[str, object]]:
    """Compacts a log (`compressed`: a .gz one) on a loop ext4 (no discard) from the command
    line; returns the raw image, the log's text and the JSON report."""
    tmp_path.mkdir()
    with small_filesystem(tmp_path, "ext4", "16M") as mount:
        log = mount / ("logs-default.jsonl.1.gz" if compressed else "logs-default.jsonl")
        lines = [
            line(OLD, orig=i, secret=f"SECRET-{i:05d}", pad="s" * 300)
            if i % 2 == 0
            else line(NEW, orig=i, pad="k" * 300)
            for i in range(4000)
        ]
        data = "".join(lines).encode()
        log.write_bytes(gzip.compress(data, mtime=0) if compressed else data)
        subprocess.run(["sync"], check=True)
        flags = [*(["--scrub"] if scrub else []), *(["--in-place"] if in_place else [])]
        completed = run_cli("--path", str(log), "--json", *flags)
        assert completed.returncode == 0, completed.stderr
        text = gzip.decompress(log.read_bytes()).decode() if compressed else log.read_text()
        subprocess.run(["sync"], check=True)
        image = (tmp_path / "ext4.img").read_bytes()
    return image, text, json.loads(completed.stdout)


def test_scrub_leaves_no_record_of_a_compressed_log_on_the_device(tmp_path: Path) -> None:
    """Every byte of a .gz encodes records: the whole replaced file is overwritten, and so is
    the decompressed copy the run searched."""
    plain_image, plain_text, plain = _scrub_run(tmp_path / "plain", scrub=False, in_place=False, compressed=True)
    image, text, report = _scrub_run(tmp_path / "scrubbed", scrub=True, in_place=False, compressed=True)
    lines = [
        line(OLD, orig=i, secret=f"SECRET-{i:05d}", pad="s" * 300) if i % 2 == 0 else line(NEW, orig=i, pad="k" * 300)
        for i in range(4000)
    ]
    original = gzip.compress("".join(lines).encode(), mtime=0)
    probe = original[len(original) // 2 : len(original) // 2 + 256]
    # Without scrubbing the old compressed blocks are still there. (The decompressed copy, an
    # unnamed temp, may never reach the device; where it does, it is overwritten too.)
    assert probe in plain_image
    assert probe not in image and b"SECRET-" not in image
    assert text == plain_text and "SECRET-" not in text
    assert report["message"] == plain["message"] == "Deleted 2000 records"
    assert report["bytes_scrubbed"] >= len(original) + len(b"".join(x.encode() for x in lines))


@pytest.mark.parametrize("in_place", [False, True], ids=["rename", "in_place"])
def test_scrub_leaves_no_deleted_record_on_the_device_and_the_same_result(tmp_path: Path, in_place: bool) -> None:
    plain_image, plain_text, plain = _scrub_run(tmp_path / "plain", scrub=False, in_place=in_place)
    # Without scrubbing the freed blocks still hold the records: the check below can fail.
    assert b"SECRET-" in plain_image
    assert plain["bytes_scrubbed"] == 0
    image, text, report = _scrub_run(tmp_path / "scrubbed", scrub=True, in_place=in_place)
    assert b"SECRET-" not in image
    assert text == plain_text and "SECRET-" not in text
    assert report["message"] == plain["message"] == "Deleted 2000 records"
    assert report["bytes_scrubbed"] >= report["files"][0]["bytes_before"] - report["files"][0]["bytes_after"] > 0


def test_scrub_from_the_settings_file_and_its_limits_are_reported(tmp_path: Path) -> None:
    with small_filesystem(tmp_path, "tmpfs", "4M") as mount:
        log = mount / "logs-default.jsonl"
        write_log(log, 200)
        settings = tmp_path / "mxcp-compact.toml"
        settings.write_text("[cleanup]\nscrub = true\n")
        completed = run_cli("--path", str(log), "--config", str(settings))
        assert completed.returncode == 0, completed.stderr
        assert "--scrub cannot reach the old blocks on tmpfs" in completed.stderr
        assert "note: overwrote" in completed.stderr and "(--scrub)" in completed.stderr
    settings.write_text("[cleanup]\nscrub = 1\n")
    bad = run_cli("--path", str(tmp_path), "--config", str(settings))
    assert bad.returncode == 2 and "cleanup.scrub must be true or false" in bad.stderr


@pytest.mark.parametrize("command", ["log-cleanup", "erase"])
def test_no_scrub_turns_the_settings_files_scrub_off_for_one_run(tmp_path: Path, command: str) -> None:
    settings = tmp_path / "mxcp-compact.toml"
    settings.write_text("[cleanup]\nscrub = true\n")
    # log-cleanup deletes the expired records; erase the one record that matches, whatever its age.
    selection = ["--where", "orig=0"] if command == "erase" else []
    reports, texts = {}, {}
    for no_scrub in (False, True):
        log = tmp_path / f"no-scrub-{no_scrub}" / "logs-default.jsonl"
        log.parent.mkdir()
        write_log(log, 40)
        flags = ["--no-scrub"] if no_scrub else []
        completed = subprocess.run(
            [*CLI, command, "--now", NOW, "--path", str(log), "--config", str(settings), "--json", *selection, *flags],
            capture_output=True,
            text=True,
            check=False,
        )
        assert completed.returncode == 0, completed.stderr
        reports[no_scrub], texts[no_scrub] = json.loads(completed.stdout), log.read_text()
    assert reports[False]["bytes_scrubbed"] > 0
    assert reports[True]["bytes_scrubbed"] == 0
    assert reports[True]["message"] == reports[False]["message"]
    assert texts[True] == texts[False] and texts[True].count("\n") == (20 if command == "log-cleanup" else 39)


def test_scrub_and_no_scrub_together_are_refused_before_anything_is_touched(tmp_path: Path) -> None:
    log = tmp_path / "logs-default.jsonl"
    write_log(log, 20)
    before = log.read_bytes()
    completed = run_cli("--path", str(log), "--scrub", "--no-scrub")
    assert completed.returncode == 2
    assert completed.stderr.strip().splitlines() == [
        "Error: --scrub and --no-scrub cannot be combined: give one of them"
    ]
    assert log.read_bytes() == before
