"""pytest-benchmark benchmarks of mxcp-compact, with correctness checks.

    make bench                                  # timed; JSON in benches/results/bench.json
    pytest benches --benchmark-disable          # smoke mode (CI): every case runs once, checked

Logs come from `generate.py` (MXCP 0.12 records, ~50% of the bytes past retention, registry
beside the log), once per session per size, with the generator's exact expectations: counts per
`schema:version` and the expected output bytes. Real runs mutate their input, so each round gets a
fresh copy (`benchmark.pedantic` with a setup function; the copy is not timed). Sizes in MiB:
`MXCP_BENCH_SIZES=1,16,64` (the default); `MXCP_BENCH_ROUNDS` caps the real-run rounds.
"""

from __future__ import annotations

import filecmp
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import orjson
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mxcp_compact
from generate import DEFAULT_NOW, MiB, Stats, generate, parse_time

NOW = DEFAULT_NOW
SIZES = [int(s) for s in os.environ.get("MXCP_BENCH_SIZES", "1,16,64").split(",") if s.strip()]
MAX_ROUNDS = int(os.environ.get("MXCP_BENCH_ROUNDS", "10"))
LOG_NAME = "logs-bench.jsonl"


@dataclass(frozen=True)
class Corpus:
    """One generated log in its own directory (with its registry), and what compaction must do."""

    log: Path
    expected: Path  # the lines a correct compaction keeps
    stats: Stats

    @property
    def registry(self) -> Path:
        return self.log.with_name("logs-bench_schemas.jsonl")


class Corpora:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._cache: dict[tuple[int, int], Corpus] = {}

    def get(self, size_mib: int, seed: int = 1) -> Corpus:
        key = (size_mib, seed)
        if key not in self._cache:
            folder = self.root / f"{size_mib}mib-seed{seed}"
            folder.mkdir()
            log, expected = folder / LOG_NAME, folder / "expected.out"
            stats = generate(log, size_mib * MiB, seed=seed, now=NOW, expected_out=expected)
            self._cache[key] = Corpus(log, expected, stats)
        return self._cache[key]


@pytest.fixture(scope="session")
def corpora(tmp_path_factory: pytest.TempPathFactory) -> Corpora:
    return Corpora(tmp_path_factory.mktemp("bench-data"))


def _fresh_copy(corpus: Corpus, tmp_path: Path) -> Path:
    target = tmp_path / LOG_NAME
    shutil.copyfile(corpus.log, target)
    registry = tmp_path / corpus.registry.name
    if not registry.exists():
        shutil.copyfile(corpus.registry, registry)
    return target


def _rounds(size_mib: int) -> int:
    return max(3, min(MAX_ROUNDS, 64 // max(size_mib, 1)))


def _mxcp_compact() -> str:
    beside = Path(sys.executable).with_name("mxcp-compact")
    found = str(beside) if beside.exists() else shutil.which("mxcp-compact")
    if found is None:
        pytest.skip("the mxcp-compact command is not installed")
    return found


def _check_counts(result: mxcp_compact.Result, stats: Stats) -> None:
    assert result.lines == stats.lines
    assert result.bytes_before == stats.bytes
    assert result.deleted == stats.deleted_lines
    assert result.deleted_per_schema == stats.deleted_per_schema
    assert result.bytes_after == stats.kept_bytes
    assert result.lines_unevaluated == 0


@pytest.mark.parametrize("size_mib", SIZES, ids=[f"{s}MiB" for s in SIZES])
def test_dry_run(benchmark, corpora: Corpora, size_mib: int) -> None:
    corpus = corpora.get(size_mib)
    benchmark.extra_info.update(bytes=corpus.stats.bytes, lines=corpus.stats.lines)
    before = corpus.log.stat()
    result = benchmark(mxcp_compact.compact, corpus.log, now=NOW, dry_run=True)
    assert result.action == "dry_run"
    _check_counts(result, corpus.stats)
    after = corpus.log.stat()
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (
        before.st_size,
        before.st_mtime_ns,
        before.st_ino,
    )


@pytest.mark.parametrize("size_mib", SIZES, ids=[f"{s}MiB" for s in SIZES])
def test_real_run(benchmark, corpora: Corpora, tmp_path: Path, size_mib: int) -> None:
    corpus = corpora.get(size_mib)
    benchmark.extra_info.update(bytes=corpus.stats.bytes, lines=corpus.stats.lines)
    results: list[mxcp_compact.Result] = []

    def setup() -> tuple[tuple[Path], dict[str, object]]:
        return (_fresh_copy(corpus, tmp_path),), {"now": NOW}

    def run(path: Path, now: str) -> None:
        results.append(mxcp_compact.compact(path, now=now))

    benchmark.pedantic(run, setup=setup, rounds=_rounds(size_mib), iterations=1)
    dry = mxcp_compact.compact(corpus.log, now=NOW, dry_run=True)
    for result in results:
        assert result.action == "rewritten"
        _check_counts(result, corpus.stats)
        assert result.deleted_per_schema == dry.deleted_per_schema
        assert result.bytes_after < result.bytes_before
    output = tmp_path / LOG_NAME
    assert output.stat().st_size == corpus.stats.kept_bytes
    assert filecmp.cmp(output, corpus.expected, shallow=False), "kept lines differ from the generator's"
    assert sorted(p.name for p in tmp_path.iterdir() if "tmp" in p.name) == []


@pytest.mark.parametrize("threads", [1, 0], ids=["1-thread", "all-cores"])
def test_dry_run_threads(benchmark, corpora: Corpora, threads: int) -> None:
    """The scan on one core vs all cores, on the largest size."""
    corpus = corpora.get(max(SIZES))
    benchmark.extra_info.update(bytes=corpus.stats.bytes, threads=threads or os.cpu_count())
    result = benchmark(mxcp_compact.compact, corpus.log, now=NOW, dry_run=True, threads=threads)
    _check_counts(result, corpus.stats)


@pytest.mark.parametrize("dry_run", [True, False], ids=["dry-run", "real"])
def test_cli_end_to_end(benchmark, corpora: Corpora, tmp_path: Path, dry_run: bool) -> None:
    """The whole command on a 1 MiB log, Python start-up included."""
    corpus = corpora.get(1)
    command = [_mxcp_compact(), "log-cleanup", "--json", "--now", NOW, "--path", str(tmp_path / LOG_NAME)]
    if dry_run:
        command.append("--dry-run")
    benchmark.extra_info.update(bytes=corpus.stats.bytes)
    outputs: list[subprocess.CompletedProcess[bytes]] = []

    def setup() -> None:
        _fresh_copy(corpus, tmp_path)

    def run() -> None:
        outputs.append(subprocess.run(command, capture_output=True, check=False))

    benchmark.pedantic(run, setup=setup, rounds=15, iterations=1)
    for done in outputs:
        assert done.returncode == 0, done.stderr.decode()
        report = orjson.loads(done.stdout)
        assert report["status"] == ("dry_run" if dry_run else "success")
        assert report["deleted_per_schema"] == corpus.stats.deleted_per_schema
    expected = corpus.log if dry_run else corpus.expected
    assert filecmp.cmp(tmp_path / LOG_NAME, expected, shallow=False)


def test_cli_segments_dir(benchmark, corpora: Corpora, tmp_path: Path) -> None:
    """Many files: a directory of 16 x 1 MiB MXCP segments (`--path DIR`), some fully expired."""
    source = tmp_path / "source"
    source.mkdir()
    stats = []
    now = parse_time(NOW)
    for i in range(16):
        # consecutive 4-week windows, oldest first; the oldest four hold only schemas with a
        # finite retention and are entirely past it (the run deletes them)
        start, end = now - timedelta(days=(16 - i) * 28), now - timedelta(days=(15 - i) * 28)
        mix = {"mxcp.endpoints": 0.8, "app.debug": 0.2} if i < 4 else None
        name = f"logs-bench-{start:%Y%m%dT%H%M%S}.jsonl"
        stats.append(generate(source / name, MiB, seed=100 + i, now=NOW, start=start, end=end, schema_mix=mix))
    assert sum(s.deleted_lines == s.lines for s in stats) == 4
    work = tmp_path / "work"
    expected: dict[str, int] = {}
    for s in stats:
        for key, count in s.deleted_per_schema.items():
            expected[key] = expected.get(key, 0) + count
    total = sum(s.bytes for s in stats)
    benchmark.extra_info.update(bytes=total, files=len(stats))
    command = [_mxcp_compact(), "log-cleanup", "--json", "--now", NOW, "--path", str(work)]
    outputs: list[subprocess.CompletedProcess[bytes]] = []

    def setup() -> None:
        shutil.rmtree(work, ignore_errors=True)
        shutil.copytree(source, work)

    def run() -> None:
        outputs.append(subprocess.run(command, capture_output=True, check=False))

    benchmark.pedantic(run, setup=setup, rounds=5, iterations=1)
    for done in outputs:
        assert done.returncode == 0, done.stderr.decode()
        report = orjson.loads(done.stdout)
        assert report["deleted_per_schema"] == dict(sorted(expected.items()))
    kept = sorted(p.name for p in work.glob("logs-bench-*.jsonl"))
    assert kept == sorted(Path(s.path).name for s in stats if s.deleted_lines < s.lines)
    assert sum(p.stat().st_size for p in work.glob("logs-bench-*.jsonl")) == sum(s.kept_bytes for s in stats)
