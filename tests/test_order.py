"""Kept lines come out byte for byte and in file order, at the production sizes (issue 9).

Issue 9: below the O_DIRECT threshold a kept run of 512 KiB or more was written straight to the
copy while smaller kept runs before it still waited in the 1 MiB write buffer, so the output held
the right lines in the wrong order. These tests run the real command and the real Python API,
which always use the production thresholds (the Rust unit tests shrink them):

* decision windows of 512 KiB to 16 MiB (span / (4 * threads)), in parallel from 2 MiB up;
* a 1 MiB write buffer, pieces of 512 KiB or more written directly;
* O_DIRECT copies for logs of 8 MiB or more, written in 4 MiB chunks;
* a trailing line without "\\n", carried over after the swap.

Whole files are built as runs of kept or deleted lines. Every line's verdict is unambiguous (and
the reference in reference.py is asked to confirm it for the ends of each run), every line carries
a `seq` that increases through the file, so the expected output is the kept runs joined in order.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

import mxcp_compact
from conftest import RunCli
from mxcp_compact import compact
from mxcp_compact.rules import Retention
from reference import NS_PER_SECOND, decide

KIB = 1 << 10
MIB = 1 << 20
#: Production sizes (rust/output.rs, rust/direct.rs): the write buffer, the direct-write piece, the
#: O_DIRECT threshold and chunk.
BUFFER = 1 * MIB
DIRECT_PIECE = 512 * KIB
DIRECT_MIN = 8 * MIB
DIRECT_CHUNK = 4 * MIB

NOW = "2026-12-01T00:00:00Z"
NOW_NS = 1_796_083_200 * NS_PER_SECOND  # NOW, for the reference
RETENTION = Retention(schemas={"mxcp.endpoints": 90})
EXPIRED = "2020-01-01T00:00:00Z"
RECENT = "2026-11-30T00:00:00Z"

# --------------------------------------------------------------------------------------------------
# Lines of an exact size, with an unambiguous verdict


@dataclass(frozen=True)
class Kind:
    """A line template: `head`, the seq digits, `middle`, padding, `end` (which ends with "\\n")."""

    head: bytes
    middle: bytes
    end: bytes
    deleted: bool


KINDS = {
    # Past the 90 days of mxcp.endpoints: deleted.
    "expired": Kind(
        b'{"schema_name": "mxcp.endpoints", "schema_version": 2, "timestamp": "' + EXPIRED.encode() + b'", "seq": ',
        b', "pad": "',
        b'"}\n',
        True,
    ),
    # The same, compact and without schema_version (version 1): deleted, and shorter.
    "expired_compact": Kind(
        b'{"schema_name":"mxcp.endpoints","timestamp":"' + EXPIRED.encode() + b'","seq":',
        b',"pad":"',
        b'"}\n',
        True,
    ),
    # One day old: kept.
    "recent": Kind(
        b'{"schema_name": "mxcp.endpoints", "schema_version": 2, "timestamp": "' + RECENT.encode() + b'", "seq": ',
        b', "pad": "',
        b'"}\n',
        False,
    ),
    # As old as "expired", but a schema without a policy: kept.
    "no_policy": Kind(
        b'{"schema_name": "app.events", "schema_version": 1, "timestamp": "' + EXPIRED.encode() + b'", "seq": ',
        b', "pad": "',
        b'"}\n',
        False,
    ),
    # No schema_name or timestamp: not evaluable, kept (and the shortest lines).
    "unevaluable": Kind(b'{"seq": ', b', "pad": "', b'"}\n', False),
}
KEPT_KINDS = [name for name, kind in KINDS.items() if not kind.deleted]
DELETED_KINDS = [name for name, kind in KINDS.items() if kind.deleted]


@dataclass(frozen=True)
class Run:
    """`count` consecutive lines of `kind`, each `line_size` bytes (or the template's minimum)."""

    kind: str
    line_size: int
    count: int

    def __repr__(self) -> str:
        return f"{self.kind}x{self.count}@{self.line_size}B"


@dataclass(frozen=True)
class Layout:
    """A whole log: the runs in order, then optionally a last line without its "\\n" (always kept,
    whatever its kind; its `count` is 1)."""

    runs: tuple[Run, ...]
    tail: Run | None = None

    def __repr__(self) -> str:
        tail = f" + partial {self.tail!r}" if self.tail else ""
        return f"Layout[{', '.join(map(repr, self.runs))}{tail}]"


@dataclass(frozen=True)
class Built:
    data: bytes
    expected: bytes
    deleted: int
    lines: int


def build(layout: Layout) -> Built:
    """The file's bytes and the bytes that must remain of it, in order."""
    pieces: list[bytes] = []
    kept: list[bytes] = []
    deleted = 0
    seq = 0
    runs = [*layout.runs, *([layout.tail] if layout.tail else [])]
    for index, run in enumerate(runs):
        kind = KINDS[run.kind]
        is_tail = layout.tail is not None and index == len(runs) - 1
        end = kind.end[:-1] if is_tail else kind.end
        size = run.line_size
        run_pieces: list[bytes] = []
        pads: dict[int, bytes] = {}
        for _ in range(run.count):
            digits = b"%d" % seq
            pad_len = max(0, size - (len(kind.head) + len(digits) + len(kind.middle) + len(end)))
            pad = pads.get(pad_len)
            if pad is None:
                pad = pads[pad_len] = b"x" * pad_len
            run_pieces += (kind.head, digits, kind.middle, pad, end)
            seq += 1
        # The reference must agree with the template's verdict (first and last line of the run).
        for first in (0, len(run_pieces) - 5):
            line = b"".join(run_pieces[first : first + 5])
            assert decide(line, RETENTION, NOW_NS) is (kind.deleted and not is_tail), line[:200]
        pieces += run_pieces
        if kind.deleted and not is_tail:
            deleted += run.count
        else:
            kept += run_pieces
    lines = seq
    return Built(b"".join(pieces), b"".join(kept), deleted, lines)


# --------------------------------------------------------------------------------------------------
# Comparing megabytes with a short message

SEQ = re.compile(rb'"seq": ?(\d+)')


def seq_at(data: bytes, offset: int) -> str:
    """The seq of the line holding `data[offset]` ("-" past the end)."""
    if offset >= len(data):
        return "-"
    start = data.rfind(b"\n", 0, offset) + 1
    match = SEQ.search(data[start : start + 200])
    return match[1].decode() if match else "?"


def first_difference(got: bytes, expected: bytes) -> int:
    step = 64 * KIB
    at = 0
    while got[at : at + step] == expected[at : at + step]:
        at += step
    while at < min(len(got), len(expected)) and got[at] == expected[at]:
        at += 1
    return at


def difference(got: bytes, expected: bytes) -> str:
    """A few lines about where `got` departs from `expected` (never the bytes themselves)."""
    at = first_difference(got, expected)
    seqs = [int(m[1]) for m in SEQ.finditer(got)]
    breaks = [(a, b) for a, b in itertools.pairwise(seqs) if b <= a]
    return (
        f"output differs from the expected kept lines at byte {at}: got {len(got)} bytes, expected {len(expected)}"
        f"\n  line there: got seq {seq_at(got, at)}, expected seq {seq_at(expected, at)}"
        f"\n  output seq order: {len(breaks)} place(s) where seq does not increase, first {breaks[:3]}"
    )


def assert_same_bytes(got: bytes, expected: bytes, context: str = "") -> None:
    if got != expected:
        pytest.fail(difference(got, expected) + (f"\n  {context}" if context else ""), pytrace=False)


# --------------------------------------------------------------------------------------------------
# Running the command

#: The package the tests import: the subprocess must run the same one (and its _core).
PACKAGE_ROOT = str(Path(mxcp_compact.__file__).resolve().parents[1])


def same_package_env() -> dict[str, str | None]:
    rest = os.environ.get("PYTHONPATH")
    return {"PYTHONPATH": PACKAGE_ROOT + (os.pathsep + rest if rest else "")}


def cleanup_with_cli(cli: RunCli, log: Path, threads: int) -> dict[str, Any]:
    args = ["log-cleanup", "--json", "--path", log.name, "--now", NOW, "--threads", str(threads)]
    result = cli(args, cwd=log.parent, env=same_package_env())
    assert result.exit_code == 0, result.stderr
    return result.json()


# --------------------------------------------------------------------------------------------------
# The issue's reproduction, exactly, through the installed command

REPRODUCTION = """
with open('logs-x.jsonl','w') as f:
  for i in range(5002):
    ts='2026-01-01T00:00:00Z' if i<2 else '2026-11-30T00:00:00Z'
    f.write('{"schema_name": "mxcp.endpoints", "schema_version": 2, "timestamp": "%s", "seq": %d, "pad": "%s"}\\n'%(ts,i,'x'*700))
"""  # noqa: E501 (the issue's command, as written)


@pytest.mark.parametrize("threads", [1, 2], ids=["1_thread", "2_threads"])
def test_issue_9_reproduction_keeps_the_5000_young_lines_in_order(
    cli_subprocess: RunCli, tmp_path: Path, threads: int
) -> None:
    subprocess.run([sys.executable, "-c", REPRODUCTION], cwd=tmp_path, check=True)
    log = tmp_path / "logs-x.jsonl"
    original = log.read_bytes()
    assert len(original) < DIRECT_MIN  # the buffered path
    expected = b"".join(original.splitlines(keepends=True)[2:])

    report = cleanup_with_cli(cli_subprocess, log, threads)

    assert_same_bytes(log.read_bytes(), expected, f"--threads {threads}")
    assert report["files"][0]["deleted"] == 2


# --------------------------------------------------------------------------------------------------
# Whole files of kept and deleted runs


#: Layouts that must always be checked, each aimed at a boundary of the writer.
PINNED = {
    # Issue 9's shape: a small kept run waits in the buffer, then a kept run of a whole window.
    "small_kept_then_big_kept_run_below_direct": Layout(
        (Run("expired", 812, 2), Run("recent", 812, 5000)),
    ),
    "small_kept_run_then_one_line_of_half_the_buffer": Layout(
        (Run("recent", 300, 3), Run("expired", 300, 1), Run("recent", DIRECT_PIECE, 1), Run("expired", 300, 2)),
    ),
    "kept_run_then_line_just_under_half_the_buffer_then_line_over_the_buffer": Layout(
        (
            Run("recent", 120, 100),
            Run("expired", 200, 1),
            Run("no_policy", DIRECT_PIECE - 1, 1),
            Run("expired_compact", 90, 3),
            Run("recent", BUFFER + 1, 1),
            Run("expired", 90, 1),
            Run("unevaluable", 60, 50),
        ),
    ),
    "interleaved_runs_of_every_size_below_direct": Layout(
        (
            Run("expired", 100, 10),
            *(
                run
                for size in (200, 4 * KIB, 64 * KIB, 300 * KIB, 700 * KIB)
                for run in (Run("recent", size, max(1, 900 * KIB // size)), Run("expired", 150, 3))
            ),
        ),
        Run("expired", 500, 1),
    ),
    # Exactly at the O_DIRECT threshold (lines of exactly 1 KiB), and one byte under it.
    "file_of_exactly_8_mib_starting_and_ending_deleted": Layout(
        (
            Run("expired", KIB, 1),
            Run("recent", KIB, 10),
            Run("expired", KIB, 5),
            Run("recent", KIB, 8170),
            Run("expired", KIB, 6),
        ),
    ),
    "file_one_byte_under_8_mib": Layout(
        (Run("recent", KIB, 100), Run("expired", KIB, 1), Run("recent", KIB, 8090), Run("recent", KIB - 1, 1)),
    ),
    # O_DIRECT: single lines over the 4 MiB chunk, small kept runs around them, a partial tail.
    "direct_copy_with_lines_straddling_the_chunk_and_partial_expired_tail": Layout(
        (
            Run("expired", 700, 3),
            Run("recent", 90, 7),
            Run("expired", 700, 1),
            Run("recent", DIRECT_CHUNK + 100, 1),
            Run("expired_compact", 80, 1),
            Run("recent", 5 * MIB, 1),
            Run("recent", 333, 3000),
            Run("expired", DIRECT_PIECE, 1),
            Run("no_policy", 20 * KIB, 20),
            Run("expired", 2 * MIB, 1),
        ),
        Run("expired", 300, 1),
    ),
    "direct_copy_of_many_small_runs_ending_deleted": Layout(
        tuple(Run("recent" if i % 2 else "expired", 150 + 37 * i, 200 + 7 * i) for i in range(60)),
    ),
    "kept_start_deleted_middle_kept_end_with_partial_kept_tail": Layout(
        (Run("recent", 2 * KIB, 1000), Run("expired", 2 * KIB, 2000), Run("recent", 2 * KIB, 1000)),
        Run("recent", 700 * KIB, 1),
    ),
    "everything_deleted_but_the_partial_tail": Layout((Run("expired", 4 * KIB, 3000),), Run("expired", 100, 1)),
    "few_kib_file": Layout((Run("recent", 80, 10), Run("expired", 80, 10), Run("unevaluable", 50, 10))),
}


#: Line size classes, drawn with these weights: mostly short lines, which make runs of many lines.
LINE_SIZES = {
    "short": (st.integers(50, 2 * KIB), 8),
    "medium": (st.integers(2 * KIB, 64 * KIB), 2),
    "long": (st.integers(64 * KIB, 1_100_000), 1),
    # Single lines around the direct piece, the buffer and the O_DIRECT chunk.
    "edge": (st.sampled_from([DIRECT_PIECE, BUFFER, DIRECT_CHUNK]).flatmap(lambda e: st.integers(e - 2, e + 2)), 1),
    "huge": (st.integers(DIRECT_CHUNK, 5 * MIB), 1),
}
LINE_SIZE_CLASSES = [name for name, (_, weight) in LINE_SIZES.items() for _ in range(weight)]


def line_size(draw: st.DrawFn, at_most: int) -> int:
    """A line size from ~50 bytes to ~1 MB (mostly short), or a single line of 512 KiB to 5 MiB."""
    return min(draw(LINE_SIZES[draw(st.sampled_from(LINE_SIZE_CLASSES))][0]), at_most)


#: Bytes of one run: 2**k to 2**(k+1), k from 0 (one line) to 22 (8 MiB), with extra weight on
#: 256 KiB to 8 MiB: around the 512 KiB direct piece, the 1 MiB buffer and the decision windows.
RUN_BYTES = st.sampled_from([*range(23), *range(18, 23)]).flatmap(lambda k: st.integers(1 << k, 2 << k))


@st.composite
def layouts(draw: st.DrawFn) -> Layout:
    """Alternating kept and deleted runs (either first, either last) filling a budget of a few KiB
    to ~20 MiB, then maybe a last line without its newline."""
    budget = draw(
        st.one_of(
            st.integers(4 * KIB, DIRECT_PIECE),
            # Most files take the buffered path, where pieces meet the buffer.
            st.integers(DIRECT_PIECE, 2 * MIB),
            st.integers(1 * MIB, 4 * MIB),
            st.integers(2 * MIB, 6 * MIB),
            st.integers(4 * MIB, DIRECT_MIN - 1),
            st.integers(DIRECT_MIN - 64 * KIB, DIRECT_MIN + 64 * KIB),
            st.integers(DIRECT_MIN, 20 * MIB),
        )
    )
    deleted = draw(st.booleans())
    runs: list[Run] = []
    total = 0
    while total < budget and len(runs) < 60:
        size = line_size(draw, budget)
        count = max(1, min(draw(RUN_BYTES), budget - total) // size)
        runs.append(Run(draw(st.sampled_from(DELETED_KINDS if deleted else KEPT_KINDS)), size, count))
        total += size * count
        deleted = not deleted
    tail = None
    if draw(st.booleans()):
        tail = Run(draw(st.sampled_from(list(KINDS))), line_size(draw, budget), 1)
    return Layout(tuple(runs), tail)


def with_pinned_examples(test: Callable[..., None]) -> Callable[..., None]:
    for layout in PINNED.values():
        test = example(layout=layout)(test)
    return test


@pytest.mark.parametrize("threads", [1, 3], ids=["1_thread", "3_threads"])
@with_pinned_examples
@given(layout=layouts())
@settings(
    max_examples=30,
    deadline=None,
    # Shrinking megabyte files takes minutes; the failure message already names the layout.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
        HealthCheck.function_scoped_fixture,
    ],
)
def test_compact_keeps_every_other_line_byte_for_byte_in_file_order(
    tmp_path: Path, threads: int, layout: Layout
) -> None:
    built = build(layout)
    directory = Path(tempfile.mkdtemp(dir=tmp_path))
    try:
        log = directory / "logs-order.jsonl"
        log.write_bytes(built.data)

        result = compact(log, retention=RETENTION, now=NOW, threads=threads)

        context = f"threads={threads}, {len(built.data)} bytes in, {layout!r}"
        assert_same_bytes(log.read_bytes(), built.expected, context)
        assert result.deleted == built.deleted, context
        assert result.lines == built.lines, context
        assert result.bytes_after == len(built.expected), context
    finally:
        shutil.rmtree(directory)


@pytest.mark.parametrize(
    "name",
    [
        "small_kept_then_big_kept_run_below_direct",
        "kept_run_then_line_just_under_half_the_buffer_then_line_over_the_buffer",
        "direct_copy_with_lines_straddling_the_chunk_and_partial_expired_tail",
    ],
)
def test_command_keeps_every_other_line_byte_for_byte_in_file_order(
    cli_subprocess: RunCli, tmp_path: Path, name: str
) -> None:
    built = build(PINNED[name])
    log = tmp_path / "logs-order.jsonl"
    log.write_bytes(built.data)

    report = cleanup_with_cli(cli_subprocess, log, threads=2)

    assert_same_bytes(log.read_bytes(), built.expected, f"--threads 2, {name}")
    assert report["files"][0]["deleted"] == built.deleted
