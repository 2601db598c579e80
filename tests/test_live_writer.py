"""A live MXCP-style writer beside scheduled cleanups (issue 9, item 2).

MXCP opens the current segment by path in append mode for each batch, writes, and closes. A
cleanup that catches it mid-batch must wait for that batch to close and then compact; reporting
the server as a long-lived writer ("held open for writing ... compact it with --in-place") makes a
cron job fail for nothing. The test runs 200 real `mxcp-compact log-cleanup` commands beside such
a writer, whose batches hold the file open for a while, and checks that every run exits 0 and
that no record is lost or duplicated.

Every other run cannot duplicate the writer's descriptor: `pidfd_getfd` needs ptrace rights that
Yama's ptrace_scope or a container's seccomp profile withhold, and the cleanup then watches the
writer by (pid, fd). Those runs reproduce that with a seccomp filter that makes `pidfd_getfd`
fail with EPERM.
"""

from __future__ import annotations

import ctypes
import errno
import json
import subprocess
import sys
import time
from pathlib import Path

from conftest import CliResult, console_script

NOW = "2026-11-27T00:00:00Z"
OLD = "2020-01-01T00:00:00Z"
NEW = "2026-11-20T00:00:00Z"
RUNS = 200

# Batches of four records, half of them expired, so that every cleanup has something to delete.
# The file stays open across a pause in the middle of each batch, 20-150 ms (a server busy
# serialising records, or short of CPU on a small machine), and one batch in ten stalls for
# 350-500 ms, harsher than MXCP's usual milliseconds; then a short gap until the next batch.
WRITER = """
import json, os, random, sys, time
path, stop = sys.argv[1], sys.argv[2]
rng = random.Random(9)
seq = batches = 0
while not os.path.exists(stop):
    batches += 1
    hold = rng.uniform(0.35, 0.5) if batches % 10 == 0 else rng.uniform(0.02, 0.15)
    with open(path, "a") as handle:
        for position in range(4):
            timestamp = "{old}" if seq % 2 == 0 else "{new}"
            record = {{"schema_name": "mxcp.endpoints", "schema_version": 2, "timestamp": timestamp, "seq": seq}}
            handle.write(json.dumps(record) + "\\n")
            seq += 1
            if position == 1:
                handle.flush()
                time.sleep(hold)
    time.sleep(rng.uniform(0.001, 0.005))
print(seq, flush=True)
"""

PIDFD_GETFD = 438  # the same number on every architecture that has the call
PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2


class SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint)]


class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(SockFilter))]


def deny_pidfd_getfd() -> None:
    """Runs in the cleanup's child before exec: from then on `pidfd_getfd` fails with EPERM, as it
    does under Yama's ptrace_scope=1 or a default container seccomp profile."""
    program = (SockFilter * 4)(
        SockFilter(0x20, 0, 0, 0),  # load the syscall number
        SockFilter(0x15, 0, 1, PIDFD_GETFD),  # pidfd_getfd?
        SockFilter(0x06, 0, 0, 0x00050000 | errno.EPERM),  # then fail with EPERM
        SockFilter(0x06, 0, 0, 0x7FFF0000),  # else allow
    )
    fprog = SockFprog(len(program), program)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "PR_SET_NO_NEW_PRIVS")
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "PR_SET_SECCOMP")


def cleanup(log: Path, *, pidfd_getfd: bool) -> CliResult:
    """One scheduled run, as cron would start it, on `log` alone."""
    completed = subprocess.run(
        [*console_script(), "log-cleanup", "--path", str(log), "--now", NOW, "--threads", "1", "--json"],
        cwd=log.parent,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        preexec_fn=None if pidfd_getfd else deny_pidfd_getfd,
    )
    return CliResult(completed.returncode, completed.stdout, completed.stderr)


def wait_for_expired_record(log: Path, writer: subprocess.Popen[str]) -> None:
    """Until the writer has appended a complete expired record, so that the next run deletes."""
    deadline = time.monotonic() + 30
    while not any(OLD in item and item.endswith("\n") for item in log.read_text().splitlines(keepends=True)):
        assert writer.poll() is None, "the writer stopped"
        assert time.monotonic() < deadline, "the writer appended nothing for 30 s"
        time.sleep(0.002)


def test_reopening_writer_holding_each_batch_open_is_never_reported(tmp_path: Path) -> None:
    log = tmp_path / "logs-default.jsonl"
    kept = [json.dumps({"schema_name": "mxcp.endpoints", "timestamp": NEW, "orig": i}) + "\n" for i in range(20)]
    log.write_text("".join(kept))
    stop = tmp_path / "stop"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER.format(old=OLD, new=NEW), str(log), str(stop)],
        stdout=subprocess.PIPE,
        text=True,
    )
    failures: dict[str, list[str]] = {"pidfd_getfd": [], "no_pidfd_getfd": []}
    deleted = 0
    try:
        for run in range(RUNS):
            wait_for_expired_record(log, writer)
            pidfd_getfd = run % 2 == 0
            result = cleanup(log, pidfd_getfd=pidfd_getfd)
            report = result.json()
            if result.exit_code != 0:
                failures["pidfd_getfd" if pidfd_getfd else "no_pidfd_getfd"].append(
                    "; ".join(report["errors"]) or result.stderr.strip()
                )
            else:
                deleted += report["files"][0]["deleted"]
    finally:
        stop.touch()
        out, _ = writer.communicate(timeout=60)
    failed = {mode: len(errors) for mode, errors in failures.items() if errors}
    assert not failed, (
        f"runs that failed, of {RUNS // 2} each: {failed}, e.g. {next(e for e in failures.values() if e)[0]}"
    )
    assert deleted >= RUNS, "every run should have deleted at least one record"

    final = cleanup(log, pidfd_getfd=True)
    assert final.exit_code == 0, final.stderr
    written = int(out)
    lines = log.read_text().splitlines(keepends=True)
    assert [item for item in lines if '"orig"' in item] == kept
    assert not [item for item in lines if OLD in item], "expired records are left"
    seqs = sorted(json.loads(item)["seq"] for item in lines if '"seq"' in item)
    # Late lines salvaged from the replaced file may land out of order: presence, not order.
    assert seqs == list(range(1, written, 2)), "young records lost or duplicated"
