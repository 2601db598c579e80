#!/usr/bin/env python3
"""mxcp-compact against its floors in issue 11's scenarios, and side by side with baselines.

    python benches/compare.py --no-jq                     # = make compare: 1 GiB (4 GiB rows), 3 runs
    python benches/compare.py --size-mb 8 --runs 1        # quick check (32 MiB rows)
    python benches/compare.py --keep-data bench-data      # generate once, reuse later
    python benches/compare.py --scenarios daily,cold      # some rows only

Prints ONE scenarios table (each row: mxcp-compact's median (min-max), its floor or baseline
timed in the same run, alternating with it, the median of the per-repetition ratios, the target
and whether it is met), then the methods table. Scenarios (`--scenarios`, default all; SIZE =
--size-mb, 4 GiB rows are 4x SIZE):

- methods: on a warm SIZE log (~50% expired), alternating: the real run (fresh synced copy), the
  floor `head -c KEPT COPY > DST` + `sync DST` + `rm COPY` (KEPT: the bytes the generator says are
  kept; a fresh synced copy), `--dry-run`, `cat FILE > /dev/null`, a plain Python + orjson
  reference of the rule (temp + fsync + rename), `--archive` .zst and .gz, jq when installed (an
  approximation: UTC assumed, fractions ignored, lines re-serialised) and `cp` + fsync. Rows:
  real run <= 1.0x the floor, dry run <= 2.0x cat; and the whole real-run command on a 1 MiB log
  against `python -c pass` (7 runs). Checks: the reference's output is byte-identical to
  mxcp-compact's, counts match the generator's.
- segments: dry run over SIZE as 20 MXCP-named segments against the same bytes as one file,
  warm, <= 1.15x.
- cold: dry run against `cat`, `sync; echo 3 > /proc/sys/vm/drop_caches` before each, <= 1.15x
  (root only; else "not measured", as with --no-drop-caches).
- scale: 4x SIZE against SIZE, dry and real runs, <= 4.4x; peak RssAnon on 4x (sampled from
  /proc/PID/status every 2 ms, one untimed run each: wait4's ru_maxrss counts the mapped file
  pages) < 64 MiB.
- legacy: one 4x file, time-ordered, ~1% of bytes expiring: warm real run against dry run (info).
- daily: 4x SIZE of `mxcp.endpoints` records (MXCP's default schema, 90 days) over 92 days up to
  day 1 (--now minus a day), one time-ordered stream cut into segments of 50 MiB (scaled with
  SIZE) named `logs-bench-YYYYMMDDTHHMMSS.jsonl` after their first record, as MXCP rotates. Day
  1's real run (incremental index in a scratch $MXCP_COMPACT_STATE_DIR) deletes the oldest day;
  today's segment is added and --now moves a day on: that next real run, cold, against a cold
  `cat` of the directory, <= 0.10x. The index trusts a file by its inode and ctime, which no copy
  keeps, so each repetition copies the pre-day-1 directory and runs day 1 on it, untimed, with
  its own state directory, then syncs. Checks: a `--full` dry run afterwards deletes nothing, the
  result is byte-identical to a `--full` real run of a twin, counts match the generator's.
- daily-mix: the same with generate.py's five-schema mix (info: `app.debug`'s 7 days spread a
  day's expiring records over more segments).

Whole commands are timed, start-up included. Markdown to stdout; every run's figures to
--json-out. Exit status 1 when a check fails (not when a target is missed).
"""

from __future__ import annotations

import argparse
import contextlib
import filecmp
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import IO, Any, NamedTuple

BENCHES = Path(__file__).resolve().parent
REPO = BENCHES.parent
MB = 1_000_000
MiB = 1024 * 1024
DAY_US = 86_400_000_000
LOG = "logs-bench.jsonl"
GENERATION_S: list[float] = []  # seconds spent generating logs in this process (not reused ones)
REGISTRY = "logs-bench_schemas.jsonl"


# --------------------------------------------------------------------------------------------
# The Python + orjson reference (runs in its own process: `compare.py --reference LOG NOW`)


def load_policies(registry: Path | None) -> Callable[[str, int], int | None]:
    """Days of (schema_name, schema_version), None = kept: the registry's entry for that version
    (a later line replaces an earlier one), else the highest active version of the name, else 90
    days for mxcp.endpoints, else no policy."""
    import orjson

    by_version: dict[tuple[str, int], tuple[int | None, bool]] = {}
    if registry is not None and registry.is_file():
        for line in registry.read_bytes().splitlines():
            if line.strip():
                entry = orjson.loads(line)
                by_version[(entry["schema_name"], entry["version"])] = (
                    entry.get("retention_days"),
                    entry.get("active", True) is not False,
                )
    latest: dict[str, tuple[int, int | None]] = {}
    for (name, version), (days, active) in by_version.items():
        if active and (name not in latest or version > latest[name][0]):
            latest[name] = (version, days)

    def policy(name: str, version: int) -> int | None:
        if (name, version) in by_version:
            return by_version[(name, version)][0]
        if name in latest:
            return latest[name][1]
        return 90 if name == "mxcp.endpoints" else None

    return policy


def _parse_ts(text: str) -> datetime | None:
    if text[-1:] in "Zz":
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def reference(log: Path, now_text: str) -> dict[str, object]:
    """Compact `log` in plain Python + orjson; returns counts."""
    import orjson

    now = _parse_ts(now_text)
    assert now is not None, now_text
    policy = load_policies(log.with_name(REGISTRY))
    days_of: dict[tuple[str, object], int | None] = {}
    deleted = kept = 0
    tmp = log.with_name(f".{log.name}.reference.tmp")
    with log.open("rb") as src, tmp.open("wb") as dst:
        for line in src:
            if line.endswith(b"\n"):
                try:
                    record = orjson.loads(line)
                except orjson.JSONDecodeError:
                    record = None
                if type(record) is dict:
                    name, stamp = record.get("schema_name"), record.get("timestamp")
                    version = record.get("schema_version", 1)
                    if type(name) is str and type(stamp) is str and type(version) is int:
                        key = (name, version)
                        if key not in days_of:
                            days_of[key] = policy(name, version)
                        days = days_of[key]
                        if days is not None:
                            moment = _parse_ts(stamp)
                            if moment is not None and (now - moment).days > days:
                                deleted += 1
                                continue
            kept += 1
            dst.write(line)
        dst.flush()
        os.fsync(dst.fileno())
    tmp.replace(log)
    _fsync(log.parent)
    return {"deleted": deleted, "kept": kept}


def _fsync(path: Path) -> None:
    """fsync of a file, or of a directory (which makes a rename in it durable)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --------------------------------------------------------------------------------------------
# Measuring


@dataclass
class Run:
    seconds: float
    cpu_seconds: float  # user + sys of the child (from wait4)
    stdout: bytes = b""
    stderr: str = ""


@dataclass
class Method:
    name: str
    argv: Callable[[], list[str]]
    setup: Callable[[], None] | None = None
    after: Callable[[], None] | None = None  # timed: work the command's caller does (fsync, rename)
    stdout_to: Callable[[], Path] | None = None
    note: str = ""
    env: dict[str, str] | None = None
    runs: list[Run] = field(default_factory=list)


def _spawn(
    argv: Sequence[str], stdout_path: Path | None, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], IO[bytes], IO[bytes]]:
    """Start a command with stdout to `stdout_path` (or a temp file to read back) and stderr to a
    temp file: no pipes to drain, so the parent can wait4() for the child's resource usage."""
    out: IO[bytes] = stdout_path.open("wb") if stdout_path is not None else tempfile.TemporaryFile()  # noqa: SIM115
    err: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115
    return subprocess.Popen(argv, stdout=out, stderr=err, env=env), out, err


def _finish(
    proc: subprocess.Popen[bytes],
    status: int,
    argv: Sequence[str],
    out: IO[bytes],
    err: IO[bytes],
    capture: bool,
) -> tuple[bytes, str]:
    proc.returncode = os.waitstatus_to_exitcode(status)
    data = b""
    if capture:
        out.seek(0)
        data = out.read()
    out.close()
    err.seek(0)
    message = err.read().decode(errors="replace")
    err.close()
    if proc.returncode != 0:
        raise SystemExit(f"compare.py: {' '.join(argv)} failed with status {proc.returncode}:\n{message}")
    return data, message


def measure(method: Method) -> Run:
    if method.setup is not None:
        method.setup()
    argv = method.argv()
    stdout_path = method.stdout_to() if method.stdout_to is not None else None
    started = time.perf_counter()
    proc, out, err = _spawn(argv, stdout_path, method.env)
    _, status, usage = os.wait4(proc.pid, 0)
    if method.after is not None:
        method.after()
    seconds = time.perf_counter() - started
    data, message = _finish(proc, status, argv, out, err, capture=stdout_path is None)
    run = Run(seconds, usage.ru_utime + usage.ru_stime, data, message)
    method.runs.append(run)
    return run


def peak_rss_anon(argv: Sequence[str], setup: Callable[[], None] | None) -> dict[str, int]:
    """Peak RssAnon and VmHWM (KiB) of a command, sampled from /proc/PID/status every 2 ms."""
    if setup is not None:
        setup()
    proc, out, err = _spawn(argv, None)
    peak_anon = hwm = samples = 0
    status_file = Path(f"/proc/{proc.pid}/status")
    while True:
        try:
            for line in status_file.read_text().splitlines():
                if line.startswith("RssAnon:"):
                    peak_anon = max(peak_anon, int(line.split()[1]))
                elif line.startswith("VmHWM:"):
                    hwm = max(hwm, int(line.split()[1]))
            samples += 1
        except (OSError, ValueError, IndexError):
            pass
        pid, status, _ = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        time.sleep(0.002)
    _finish(proc, status, argv, out, err, capture=False)
    return {"rss_anon_peak_kib": peak_anon, "vm_hwm_kib": hwm, "samples": samples}


# --------------------------------------------------------------------------------------------
# The machine


def machine() -> dict[str, Any]:
    def first(path: str, prefix: str) -> str:
        try:
            for line in Path(path).read_text().splitlines():
                if line.startswith(prefix):
                    return line.split(":", 1)[1].strip()
        except OSError:
            pass
        return "?"

    def version(argv: list[str]) -> str:
        try:
            done = subprocess.run(argv, capture_output=True, text=True, check=False)
            return (done.stdout or done.stderr).strip().splitlines()[0]
        except (OSError, IndexError):
            return "not installed"

    mem_kib = first("/proc/meminfo", "MemTotal")
    return {
        "nproc": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu_model": first("/proc/cpuinfo", "model name"),
        "memory_gib": round(int(mem_kib.split()[0]) / MiB, 1) if mem_kib != "?" else "?",
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load_average": os.getloadavg(),
        "cp": version(["cp", "--version"]),
        "jq": version(["jq", "--version"]) if shutil.which("jq") else "not installed",
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def filesystem_of(path: Path) -> str:
    best, kind = "", "?"
    try:
        for line in Path("/proc/mounts").read_text().splitlines():
            device, mount, fstype = line.split()[:3]
            if str(path.resolve()).startswith(mount) and len(mount) > len(best):
                best, kind = mount, f"{fstype} on {device} (mounted at {mount})"
    except OSError:
        pass
    return kind


def package_dir(python: str = sys.executable) -> Path | None:
    """Where `python` imports mxcp_compact from."""
    where = subprocess.run(
        [python, "-c", "import mxcp_compact._core as c; print(c.__file__)"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return Path(where).parent if where else None


def product_build(python: str = sys.executable) -> str:
    """Which build of the core `python` imports: "plain", or "pgo" (benches/pgo_build.sh)."""
    done = subprocess.run(
        [python, "-c", "import mxcp_compact._core as c; print(getattr(c, 'BUILD', 'plain'))"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() or "?"


def product_fingerprint() -> tuple[str, float]:
    """`git describe --dirty` of the repository, and the newest mtime among the installed
    mxcp_compact package's files (it changes when someone rebuilds the product mid-run)."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(REPO), "describe", "--always", "--dirty"], capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        commit = "?"
    newest = 0.0
    folder = package_dir()
    if folder is not None:
        for path in folder.iterdir():
            if path.suffix in (".py", ".so"):
                newest = max(newest, path.stat().st_mtime)
    return commit or "?", newest


def snapshot_product(target: Path) -> str:
    """A private copy of the installed mxcp_compact package and an `mxcp-compact` script that runs
    it exactly as the console script does, so a rebuild during the run cannot mix versions."""
    folder = package_dir()
    if folder is None:
        raise SystemExit("compare.py: cannot import mxcp_compact")
    shutil.copytree(folder, target / "mxcp_compact", ignore=shutil.ignore_patterns("__pycache__"))
    script = target / "mxcp-compact"
    script.write_text(
        f"#!{sys.executable}\nimport sys\nsys.path.insert(0, {str(target)!r})\n"
        "from mxcp_compact.launch import main\nsys.exit(main())\n"
    )
    script.chmod(0o755)
    # Byte-compiled now, or every run would compile it again where PYTHONDONTWRITEBYTECODE is set.
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(target / "mxcp_compact")], check=True)
    return str(script)


# --------------------------------------------------------------------------------------------
# Data


def prepare_data(
    data_dir: Path, size_mib: float, seed: int, now: str, expired_fraction: float = 0.5
) -> tuple[Path, dict[str, Any]]:
    """The master log (and registry) in `data_dir`, generated unless a matching one is there."""
    sys.path.insert(0, str(BENCHES))
    from generate import generate

    tag = f"{size_mib:g}mib-seed{seed}" + (f"-expired{expired_fraction:g}" if expired_fraction != 0.5 else "")
    master = data_dir / f"logs-bench-{tag}.jsonl"
    sidecar = data_dir / f"logs-bench-{tag}.stats.json"
    wanted: dict[str, Any] = {"size_mib": size_mib, "seed": seed, "now": now}
    if expired_fraction != 0.5:
        wanted["expired_fraction"] = expired_fraction
    if master.is_file() and sidecar.is_file():
        stats = json.loads(sidecar.read_text())
        if stats.get("params") == wanted and master.stat().st_size == stats["bytes"]:
            print(f"reusing {master} ({stats['bytes'] / MiB:.0f} MiB)", file=sys.stderr)
            return master, stats
    print(f"generating {master} ({size_mib:g} MiB)...", file=sys.stderr, flush=True)
    stats = generate(master, int(size_mib * MiB), seed=seed, now=now, expired_fraction=expired_fraction).as_dict()
    stats["params"] = wanted
    sidecar.write_text(json.dumps(stats, indent=2, ensure_ascii=False))
    print(f"  done in {stats['seconds']:.1f} s", file=sys.stderr)
    GENERATION_S.append(stats["seconds"])
    return master, stats


def jq_cutoffs(days_by_key: dict[str, int | None], now: datetime) -> dict[str, str | None]:
    """Per "name:version", the instant (UTC, whole seconds, `YYYY-MM-DDTHH:MM:SS`) before which a
    record is past retention; null: kept."""
    return {
        key: None if days is None else (now - timedelta(days=days + 1)).strftime("%Y-%m-%dT%H:%M:%S")
        for key, days in days_by_key.items()
    }


# What a jq user would write: keep a line unless its timestamp sorts before its schema's cutoff.
# Approximate: UTC timestamps assumed, the fraction of a second ignored, lines re-serialised.
JQ_FILTER = (
    'select(($cut[.schema_name + ":" + ((.schema_version // 1) | tostring)]) as $c'
    " | $c == null or .timestamp[0:19] >= $c)"
)


# --------------------------------------------------------------------------------------------
# Main

SCENARIOS = ("methods", "segments", "cold", "scale", "legacy", "daily", "daily-mix")
#: Every row with a target, and the legacy file; daily-mix (an info row, and the slowest: its
#: day 1 is the first clean of app.debug) only when asked for, so `make compare` stays short.
DEFAULT_SCENARIOS = ("methods", "segments", "cold", "scale", "legacy", "daily")
ENDPOINTS_ONLY = {"mxcp.endpoints": 1.0}


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=float, default=1024, help="log size in MiB (default 1024; 4x for 4 GiB rows)")
    parser.add_argument("--runs", type=int, default=3, help="repetitions of each method (default 3)")
    parser.add_argument(
        "--quick-runs",
        type=int,
        help="repetitions of the rows whose pair takes about two seconds, segments and cold, whose"
        " ratio swings most on a noisy machine (default: 3x --runs)",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--now", default="2026-11-27T00:00:00Z", help="retention instant (--now)")
    parser.add_argument("--json-out", type=Path, default=BENCHES / "results" / "compare.json")
    parser.add_argument("--keep-data", type=Path, help="generate the logs here once and reuse them")
    parser.add_argument(
        "--scenarios",
        default=",".join(DEFAULT_SCENARIOS),
        help=f"comma-separated subset of {','.join(SCENARIOS)}, or all (default: all but daily-mix)",
    )
    parser.add_argument("--no-jq", action="store_true", help="skip jq even when installed")
    parser.add_argument(
        "--no-drop-caches",
        action="store_true",
        help="never drop the page cache, as if not root (cold rows are skipped, the daily rows run warm)",
    )
    parser.add_argument(
        "--snapshot-product",
        action="store_true",
        help="run a private copy of the installed mxcp_compact package (when it may be rebuilt during the run)",
    )
    parser.add_argument("--mxcp-arg", action="append", default=[], help="extra mxcp-compact option (repeatable)")
    parser.add_argument("--reference", nargs=2, metavar=("LOG", "NOW"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.reference:
        print(json.dumps(reference(Path(args.reference[0]), args.reference[1])))
        return 0
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if args.quick_runs is None:
        args.quick_runs = 3 * args.runs
    if args.quick_runs < args.runs:
        parser.error("--quick-runs must be at least --runs")
    chosen = [name.strip() for name in args.scenarios.split(",") if name.strip()]
    if chosen == ["all"]:
        chosen = list(SCENARIOS)
    unknown = sorted(set(chosen) - set(SCENARIOS))
    if unknown:
        parser.error(f"unknown scenarios {unknown}; known: {', '.join(SCENARIOS)}")
    args.scenario_list = [name for name in SCENARIOS if name in chosen]
    mxcp = product_command()
    if mxcp is None:
        parser.error("mxcp-compact is not installed (run make build)")
    jq = None if args.no_jq else shutil.which("jq")
    with bench_dirs(args.keep_data, "compare-") as (data_dir, work):
        return _compare(args, data_dir, work, mxcp, jq)


def product_command() -> str | None:
    """The `mxcp-compact` installed beside this Python, else the one on PATH."""
    beside = Path(sys.executable).with_name("mxcp-compact")
    return str(beside) if beside.exists() else shutil.which("mxcp-compact")


@contextlib.contextmanager
def bench_dirs(keep_data: Path | None, prefix: str) -> Iterator[tuple[Path, Path]]:
    """The data directory (`keep_data`, kept, or a temporary one under bench-data/) and a scratch
    directory inside it; both temporary ones are removed afterwards."""
    if keep_data is not None:
        data_dir = keep_data.resolve()
        data_dir.mkdir(parents=True, exist_ok=True)
    else:
        (REPO / "bench-data").mkdir(exist_ok=True)
        data_dir = Path(tempfile.mkdtemp(prefix=prefix, dir=REPO / "bench-data"))
    work = Path(tempfile.mkdtemp(prefix="work-", dir=data_dir))
    try:
        yield data_dir, work
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if keep_data is None:
            shutil.rmtree(data_dir, ignore_errors=True)


@dataclass
class Context:
    args: argparse.Namespace
    data_dir: Path
    work: Path
    mxcp: str
    jq: str | None
    cold: bool  # the page cache can be dropped (root, and not --no-drop-caches)
    common: list[str]  # log-cleanup --json --now NOW and the extra options
    checks: dict[str, object] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)  # per scenario, for --json-out

    @property
    def no_cold_reason(self) -> str:
        return "needs root" if os.geteuid() != 0 else "--no-drop-caches"

    @property
    def big_mib(self) -> float:
        return 4 * self.args.size_mb

    def scratch(self, name: str) -> Path:
        path = self.work / name
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        return path


def drop_caches() -> None:
    """`sync; echo 3 > /proc/sys/vm/drop_caches` (root only)."""
    os.sync()
    Path("/proc/sys/vm/drop_caches").write_text("3\n")


def warm(*paths: Path) -> None:
    """Reads the files once, so that the page cache holds them."""
    for path in paths:
        with path.open("rb") as handle:
            while handle.read(16 * MiB):
                pass


def fresh_copies(sources: Sequence[Path], target_dir: Path) -> Callable[[], None]:
    """A setup: the files copied anew into `target_dir` (old copies removed), synced to disk."""

    def setup() -> None:
        for source in sources:
            target = target_dir / source.name
            target.unlink(missing_ok=True)
            shutil.copyfile(source, target)
        os.sync()

    return setup


def run_times(method: Method) -> list[float]:
    return [run.seconds for run in method.runs]


def run_loop(methods: Sequence[Method], runs: int, label: str, alternate: bool = True) -> None:
    """Each method once per repetition, the order reversed every other one (ABC CBA ABC...):
    on this machine whatever ran just before (a drop of the cache, a write-back, the disk's
    host-side cache) shifts a command's time, and each method is then first as often as last.
    `alternate=False` keeps the order, for methods where one prepares what the next measures."""
    for rep in range(runs):
        for method in methods if rep % 2 == 0 or not alternate else reversed(methods):
            run = measure(method)
            print(f"  {label} run {rep + 1}/{runs} {method.name}: {run.seconds:.3f} s", file=sys.stderr, flush=True)


def mib(size: float) -> str:
    """A size for a label: 1 GiB, 50 MiB, 0.4 MiB."""
    if size >= 1024 * MiB:
        return f"{size / 1024 / MiB:.3g} GiB"
    return f"{size / MiB:.0f} MiB" if size >= 10 * MiB else f"{size / MiB:.1f} MiB"


def fmt_times(times: Sequence[float], unit: str = "s") -> str:
    if not times:
        return ""
    if unit == "ms":
        values = [t * 1000 for t in times]
        med, low, high = _median(values), min(values), max(values)
        return f"{med:.0f} ms ({low:.0f}-{high:.0f})" if len(values) > 1 else f"{med:.0f} ms"
    med, low, high = _median(list(times)), min(times), max(times)
    return f"{med:.3f} s ({low:.3f}-{high:.3f})" if len(times) > 1 else f"{med:.3f} s"


def scenario_row(
    scenario: str,
    mxcp_times: Sequence[float],
    baseline: str,
    baseline_times: Sequence[float],
    target: float | None,
    note: str = "",
    unit: str = "s",
    valid: bool = True,
) -> dict[str, Any]:
    """One row of the scenarios table: the ratio is the median of the per-repetition ratios (each
    repetition runs the two back to back); `valid` False: measured, but not as the target says
    (warm where it must be cold), so met is None."""
    pairs = [a / b for a, b in zip(mxcp_times, baseline_times, strict=False) if b > 0]
    ratio = _median(pairs) if pairs else None
    met = None if target is None or ratio is None or not valid else ratio <= target
    return {
        "scenario": scenario,
        "mxcp_s": list(mxcp_times),
        "mxcp": fmt_times(mxcp_times, unit),
        "baseline": baseline,
        "baseline_s": list(baseline_times),
        "baseline_text": fmt_times(baseline_times, unit),
        "ratio": ratio,
        "ratios": pairs,
        "ratio_of_medians": _median(list(mxcp_times)) / _median(list(baseline_times)) if baseline_times else None,
        "target": f"<= {target:.2f}x" if target is not None else "info",
        "target_ratio": target,
        "met": met,
        "note": note,
    }


def not_measured(scenario: str, why: str, target: str) -> dict[str, Any]:
    return {"scenario": scenario, "mxcp": f"not measured ({why})", "baseline": "", "baseline_text": "",
            "ratio": None, "target": target, "met": None, "note": ""}  # fmt: skip


def deleted_total(report: dict[str, Any]) -> int:
    return sum(int(item.get("deleted", 0)) for item in report.get("files", []))


def text_report(run: Run) -> dict[str, Any]:
    """What a run printed as text (the timer's output: guide style, notes on stderr), in the
    shape the JSON report's checks read: the total deleted and the index's note."""
    import re

    text = run.stdout.decode()
    total = re.search(r"^Total records deleted: (\d+)$", text, re.MULTILINE)
    if total is None and "No records were deleted." not in text:
        raise SystemExit(f"compare.py: no deletion count in the output:\n{text}")
    notes = [line.removeprefix("note: ") for line in run.stderr.splitlines() if line.startswith("note: ")]
    return {"files": [{"deleted": int(total.group(1)) if total else 0}], "notes": notes}


def files_not_read(report: dict[str, Any]) -> int:
    """How many files the incremental index let the run skip (from its note)."""
    import re

    for note in report.get("notes", []):
        found = re.match(r"(\d+) files? unchanged since the last run", note)
        if found:
            return int(found.group(1))
    return 0


def log_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.name.endswith(".jsonl") and p.name != REGISTRY)


def same_tree(left: Path, right: Path) -> bool:
    names = sorted(p.name for p in left.iterdir())
    if names != sorted(p.name for p in right.iterdir()):
        return False
    return all(filecmp.cmp(left / name, right / name, shallow=False) for name in names)


@dataclass
class Outcome:
    """What a whole benchmark measured, and on what: the Markdown report and the JSON document."""

    info: dict[str, Any]  # machine(), at the start
    version: str  # `mxcp-compact --version`
    commit: str  # `git describe --dirty` at the start
    rows: list[dict[str, Any]] = field(default_factory=list)  # the scenarios table
    methods: dict[str, Any] = field(default_factory=dict)  # the methods table's figures ({}: not run)
    methods_markdown: str = ""
    durations: dict[str, float] = field(default_factory=dict)  # seconds per scenario
    wall: float = 0.0


def _compare(args: argparse.Namespace, data_dir: Path, work: Path, mxcp: str, jq: str | None) -> int:
    began = time.perf_counter()
    _check_free_space(args, data_dir)
    # The incremental index of every run goes to a scratch state directory, never the system's.
    os.environ["MXCP_COMPACT_STATE_DIR"] = str(work / "state")
    info = machine()
    commit, product_before = product_fingerprint()
    if args.snapshot_product:
        (work / "product").mkdir()
        mxcp = snapshot_product(work / "product")
    version = subprocess.run([mxcp, "--version"], capture_output=True, text=True, check=False).stdout.strip()
    version += f", {product_build()} build"
    cold = os.geteuid() == 0 and not args.no_drop_caches
    ctx = Context(args, data_dir, work, mxcp, jq, cold, ["log-cleanup", "--json", "--now", args.now, *args.mxcp_arg])
    outcome = Outcome(info, version, commit)
    _run_scenarios(ctx, outcome)
    _check_product_unchanged(ctx, commit, product_before)
    outcome.wall = time.perf_counter() - began
    _write_markdown(sys.stdout, ctx, outcome)
    _write_json(ctx, outcome)
    return _exit_status(ctx)


def _check_free_space(args: argparse.Namespace, data_dir: Path) -> None:
    size_needed = (
        args.size_mb * MiB * (26 if {"scale", "legacy", "daily", "daily-mix"} & set(args.scenario_list) else 8)
    )
    free = shutil.disk_usage(data_dir).free
    if free < size_needed:
        raise SystemExit(f"compare.py: {free / MiB:.0f} MiB free in {data_dir}, need {size_needed / MiB:.0f}")


def _run_scenarios(ctx: Context, outcome: Outcome) -> None:
    """Each chosen scenario in turn (its scratch directory removed after it), into `outcome`."""
    rows = outcome.rows
    for name in ctx.args.scenario_list:
        print(f"scenario {name}", file=sys.stderr, flush=True)
        started = time.perf_counter()
        if name == "methods":
            outcome.methods = _methods(ctx)
            rows += outcome.methods.pop("scenario_rows")
            outcome.methods_markdown = outcome.methods.pop("markdown")
        elif name == "segments":
            rows.append(_segments(ctx))
        elif name == "cold":
            rows.append(_cold(ctx))
        elif name == "scale":
            rows += _scale(ctx)
        elif name == "legacy":
            rows += _legacy(ctx)
        elif name == "daily":
            rows.append(_daily(ctx, "daily", ENDPOINTS_ONLY, target=0.10))
        elif name == "daily-mix":
            rows.append(_daily(ctx, "daily-mix", None, target=None))
        shutil.rmtree(ctx.work / name, ignore_errors=True)
        outcome.durations[name] = time.perf_counter() - started
        print(f"scenario {name}: {outcome.durations[name]:.0f} s", file=sys.stderr, flush=True)


def _check_product_unchanged(ctx: Context, commit: str, product_before: float) -> None:
    """A warning when the product or the working tree changed while the scenarios ran."""
    commit_after, product_after = product_fingerprint()
    if product_after != product_before and not ctx.args.snapshot_product:
        ctx.errors.append(
            "the installed mxcp_compact package was modified during the run: the timings may mix versions "
            "(--snapshot-product runs a private copy)"
        )
    elif commit_after != commit:
        ctx.errors.append(f"the working tree changed during the run (git {commit} -> {commit_after})")


def _write_markdown(out: IO[str], ctx: Context, outcome: Outcome) -> None:
    _write_header(out, ctx, outcome)
    _write_scenarios_table(out, outcome.rows)
    out.write(outcome.methods_markdown)
    for error in ctx.errors:
        out.write(f"\n**Warning**: {error}\n")
    out.write("\nChecks: " + ", ".join(f"{k} = {v}" for k, v in ctx.checks.items()) + "\n")


def _write_header(out: IO[str], ctx: Context, outcome: Outcome) -> None:
    """The title and what the figures were measured on, and how."""
    args, info = ctx.args, outcome.info
    load = info["load_average"]
    out.write(
        f"## mxcp-compact: issue 11's scenarios, {args.runs} runs each, segments and cold {args.quick_runs}"
        f" (--size-mb {args.size_mb:g})\n\n"
    )
    out.write(
        f"- Machine: {info['nproc']} CPUs ({info['usable_cpus']} usable), {info['cpu_model']}, "
        f"{info['memory_gib']} GiB RAM, Linux {info['kernel']}, Python {info['python']}; "
        f"load average at start {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}\n"
    )
    out.write(f"- Disk: {filesystem_of(ctx.data_dir)}; {info['cp']}\n")
    snapshot = ", private copy of the installed package" if args.snapshot_product else ""
    extra = " " + " ".join(args.mxcp_arg) if args.mxcp_arg else ""
    out.write(f"- mxcp-compact: {outcome.version} (git {outcome.commit}{snapshot}){extra}; --now {args.now}\n")
    cache = (
        "as root: page cache dropped before every cold command"
        if ctx.cold
        else f"cold rows not measured ({ctx.no_cold_reason}), the daily rows run warm"
    )
    out.write(
        "- Wall time of whole commands, start-up included; each row's two commands alternate in the same run "
        f"(AB BA AB...); ratio = median of the per-repetition ratios; {cache}.\n"
    )
    spent = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in outcome.durations.items())
    out.write(
        f"- Whole benchmark: {outcome.wall:.0f} s ({spent}), of which {sum(GENERATION_S):.0f} s generating logs "
        "(none when --keep-data had them).\n\n"
    )


def _write_scenarios_table(out: IO[str], rows: list[dict[str, Any]]) -> None:
    out.write(
        "| scenario | mxcp-compact: median (min-max) | floor / baseline | baseline: median (min-max) "
        "| ratio | target | met |\n"
    )
    out.write("|---|---|---|---|---:|---|---|\n")
    for row in rows:
        ratio = f"{row['ratio']:.2f}x" if row.get("ratio") is not None else ""
        met = {True: "met", False: "**missed**", None: ""}[row.get("met")]
        if row.get("met") is None and row.get("target") not in ("info", "") and row.get("ratio") is not None:
            met = "n/a (warm)"
        scenario = row["scenario"] + (f" ({row['note']})" if row.get("note") else "")
        out.write(
            f"| {scenario} | {row['mxcp']} | {row['baseline']} | {row['baseline_text']} | {ratio} | "
            f"{row['target']} | {met} |\n"
        )
    out.write("\n")


def _write_json(ctx: Context, outcome: Outcome) -> None:
    args = ctx.args
    result = {
        "machine": outcome.info,
        "filesystem": filesystem_of(ctx.data_dir),
        "mxcp_compact": {"version": outcome.version, "git": outcome.commit, "extra_args": args.mxcp_arg},
        "params": {
            "size_mib": args.size_mb,
            "runs": args.runs,
            "quick_runs": args.quick_runs,
            "seed": args.seed,
            "now": args.now,
            "scenarios": args.scenario_list,
            "cold": ctx.cold,
        },
        "wall_s": outcome.wall,
        "scenario_wall_s": outcome.durations,
        "generation_s": sum(GENERATION_S),
        "scenarios": outcome.rows,
        "methods": outcome.methods,
        "figures": ctx.figures,
        "checks": ctx.checks,
        "errors": ctx.errors,
    }
    args.json_out.parent.mkdir(parents=True, exist_ok=True)
    args.json_out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(f"JSON: {args.json_out}; whole benchmark {outcome.wall:.0f} s", file=sys.stderr)


def _exit_status(ctx: Context) -> int:
    """1 when a check failed (the errors are warnings: they are printed, not counted)."""
    failed = [k for k, v in ctx.checks.items() if v is False]
    for error in ctx.errors:
        print(f"compare.py: {error}", file=sys.stderr)
    if failed:
        print(f"compare.py: CHECKS FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


# --------------------------------------------------------------------------------------------
# The methods table (and rows 1, 2 and the 1 MiB command of the scenarios table)


@dataclass(frozen=True)
class MethodsLog:
    """The methods scenario's log, and what the generator says of it."""

    master: Path
    stats: dict[str, Any]
    size: int  # bytes
    kept_bytes: int  # what a correct compaction keeps


class MethodDirs(NamedTuple):
    """A directory for each method that writes, each with the registry beside its log."""

    real: Path
    reference: Path
    jq: Path
    cp: Path
    gz: Path
    zst: Path
    floor: Path

    @classmethod
    def create(cls, work: Path, registry: Path) -> MethodDirs:
        names = ("mxcp", "reference", "jq", "cp", "archive-gz", "archive-zst", "floor")
        dirs = cls(*(work / name for name in names))
        for directory in dirs:
            directory.mkdir(parents=True)
            shutil.copyfile(registry, directory / REGISTRY)
        return dirs

    @property
    def floor_kept(self) -> Path:
        """Where the floor writes the kept bytes of its copy (`floor / LOG`)."""
        return self.floor / "kept.jsonl"


def _methods(ctx: Context) -> dict[str, Any]:
    """Every method on the warm SIZE log, alternating: the methods table's figures and Markdown,
    its checks, and the scenarios table's rows 1, 2 and the small log's."""
    args, work = ctx.args, ctx.work / "methods"
    master, stats = prepare_data(ctx.data_dir, args.size_mb, args.seed, args.now)
    registry = master.with_name(master.name.replace(".jsonl", "_schemas.jsonl"))
    log = MethodsLog(master, stats, master.stat().st_size, stats["bytes"] - stats["deleted_bytes"])
    dirs = MethodDirs.create(work, registry)
    methods = _method_list(ctx, log, dirs, _jq_cutoffs_arg(registry, stats, args.now))

    print(f"warming the page cache: reading {master.name} once", file=sys.stderr, flush=True)
    warm(master)
    run_loop(methods, args.runs, "methods")
    by_name = {m.name: m for m in methods}
    _methods_checks(ctx, by_name, log, dirs)

    # The small log (the whole command, start-up included): a failure is reported, not fatal.
    small: dict[str, Any] = {}
    try:
        small = _small_log(ctx.data_dir, work, args.now, ctx.mxcp, args.mxcp_arg)
    except (SystemExit, subprocess.CalledProcessError) as error:
        ctx.errors.append(str(error))

    rows = _method_rows(by_name, log.size)
    return {
        "log": {k: v for k, v in stats.items() if k != "params"},
        "results": rows,
        "small_log": small,
        "scenario_rows": _methods_scenario_rows(by_name, log, small),
        "markdown": _methods_markdown(ctx, log, rows),
    }


def _jq_cutoffs_arg(registry: Path, stats: dict[str, Any], now_text: str) -> str:
    """jq's `--argjson cut`: the cutoff of each name:version the log holds, under `registry`."""
    policy = load_policies(registry)
    days_by_key = {}
    for key in stats["lines_per_schema"]:
        name, _, schema_version = str(key).rpartition(":")
        days_by_key[key] = policy(name, int(schema_version))
    now_moment = _parse_ts(now_text)
    if now_moment is None:
        raise SystemExit(f"compare.py: --now {now_text!r} is not an ISO timestamp")
    return json.dumps(jq_cutoffs(days_by_key, now_moment.astimezone(timezone.utc)))


def _method_list(ctx: Context, log: MethodsLog, dirs: MethodDirs, cutoffs: str) -> list[Method]:
    """The methods in the order they run and the table lists them; jq only when installed."""
    mxcp, common, master, work = ctx.mxcp, ctx.common, log.master, ctx.work / "methods"
    real_argv = [mxcp, *common, "--path", str(dirs.real / LOG)]
    dry_argv = [mxcp, *common, "--dry-run", "--path", str(master)]
    ref_argv = [sys.executable, str(Path(__file__).resolve()), "--reference", str(dirs.reference / LOG), ctx.args.now]
    methods = [
        Method(
            "mxcp-compact (real run)", lambda: real_argv, setup=_fresh_as(master, dirs.real / LOG), note="fresh copy"
        ),
        _floor_method(log, dirs),
        Method("mxcp-compact --dry-run", lambda: dry_argv),
        Method(
            "cat FILE > /dev/null",
            lambda: ["cat", str(master)],
            stdout_to=lambda: Path(os.devnull),
            note="floor: read",
        ),
        Method(
            "Python + orjson reference",
            lambda: ref_argv,
            setup=_fresh_as(master, dirs.reference / LOG),
            note="fresh copy; temp + fsync + rename",
        ),
        _archive_method(ctx, master, dirs.zst, work / "deleted.jsonl.zst", "zstd"),
        _archive_method(ctx, master, dirs.gz, work / "deleted.jsonl.gz", "gzip"),
    ]
    if ctx.jq is not None:
        methods.append(_jq_method(ctx.jq, cutoffs, master, dirs.jq))
    cp_dst = dirs.cp / "copy.jsonl"
    methods.append(
        Method(
            "cp FILE DST + fsync",
            lambda: ["cp", "--reflink=never", str(master), str(cp_dst)],
            setup=_removed(cp_dst),
            after=lambda: _fsync(cp_dst),
            note="floor: copy",
        )
    )
    return methods


def _floor_method(log: MethodsLog, dirs: MethodDirs) -> Method:
    # The least a rewrite must do: write the kept bytes durably and free the replaced file.
    floor_script = 'head -c "$0" "$1" > "$2" && sync "$2" && rm "$1"'
    floor_argv = ["sh", "-c", floor_script, str(log.kept_bytes), str(dirs.floor / LOG), str(dirs.floor_kept)]
    return Method(
        "head -c KEPT + fsync + rm",
        lambda: floor_argv,
        setup=_fresh_as(log.master, dirs.floor / LOG, dirs.floor_kept),
        note="floor: rewrite (fresh copy: its first KEPT bytes written + fsync, then the copy removed)",
    )


def _archive_method(ctx: Context, master: Path, directory: Path, archive: Path, codec: str) -> Method:
    """A real run of a fresh copy in `directory`, archiving the deleted lines to `archive`."""
    argv = [ctx.mxcp, *ctx.common, "--archive", str(archive), "--path", str(directory / LOG)]
    return Method(
        f"mxcp-compact --archive .jsonl{archive.suffix}",
        lambda: argv,
        setup=_fresh_as(master, directory / LOG, archive),
        note=f"real run + {codec} archive of the deleted lines, same pass",
    )


def _jq_method(jq: str, cutoffs: str, master: Path, directory: Path) -> Method:
    """jq's output to a temporary file, then fsync + rename over the log, as a careful script does."""
    jq_tmp, jq_out = directory / ".jq.tmp", directory / LOG
    jq_argv = [jq, "-c", "--argjson", "cut", cutoffs, JQ_FILTER, str(master)]

    def jq_after() -> None:
        _fsync(jq_tmp)
        jq_tmp.replace(jq_out)
        _fsync(directory)

    return Method(
        "jq -c select(...) (approximate)",
        lambda: jq_argv,
        setup=_removed(jq_out),
        after=jq_after,
        stdout_to=lambda: jq_tmp,
        note="rule approximated; re-serialises lines; + fsync + rename",
    )


def _methods_checks(ctx: Context, by_name: dict[str, Method], log: MethodsLog, dirs: MethodDirs) -> None:
    """Each method's last run against the generator's counts, and the reference against mxcp-compact."""
    checks, stats, kept_bytes = ctx.checks, log.stats, log.kept_bytes
    expected_deleted = stats["deleted_per_schema"]
    real_report = json.loads(by_name["mxcp-compact (real run)"].runs[-1].stdout)
    dry_report = json.loads(by_name["mxcp-compact --dry-run"].runs[-1].stdout)
    checks["real_run_counts_match_generator"] = real_report["deleted_per_schema"] == expected_deleted
    checks["dry_run_equals_real_run"] = dry_report["deleted_per_schema"] == real_report["deleted_per_schema"]
    ref_counts = json.loads(by_name["Python + orjson reference"].runs[-1].stdout)
    checks["reference_counts_match_generator"] = ref_counts["deleted"] == stats["deleted_lines"]
    checks["mxcp_output_size_matches_generator"] = (dirs.real / LOG).stat().st_size == kept_bytes
    checks["reference_and_mxcp_byte_identical"] = filecmp.cmp(dirs.real / LOG, dirs.reference / LOG, shallow=False)
    checks["floor_wrote_the_kept_bytes"] = (
        dirs.floor_kept.stat().st_size == kept_bytes and not (dirs.floor / LOG).exists()
    )
    for name, label in (("zstd", "mxcp-compact --archive .jsonl.zst"), ("gzip", "mxcp-compact --archive .jsonl.gz")):
        archived = json.loads(by_name[label].runs[-1].stdout)["archive"]
        checks[f"{name}_archive_holds_the_deleted_lines"] = archived["lines"] == stats["deleted_lines"]
    if ctx.jq is not None:
        with (dirs.jq / LOG).open("rb") as handle:
            jq_kept = sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(16 * MiB), b""))
        checks["jq_kept_lines_minus_exact"] = jq_kept - (stats["lines"] - stats["deleted_lines"])


def _method_rows(by_name: dict[str, Method], size: int) -> list[dict[str, Any]]:
    """The methods table: each method's times, throughput and its ratios to `cp` and `cat`."""
    cat = _median(run_times(by_name["cat FILE > /dev/null"]))
    cp = _median(run_times(by_name["cp FILE DST + fsync"]))
    rows = []
    for method in by_name.values():
        times = run_times(method)
        med = _median(times)
        cpu = _median([r.cpu_seconds for r in method.runs])
        rows.append(
            {
                "method": method.name,
                "median_s": med,
                "min_s": min(times),
                "max_s": max(times),
                "times_s": times,
                "mb_per_s": size / MB / med,
                "vs_cp_fsync": med / cp,
                "vs_cat": med / cat,
                "cpu_s": cpu,
                "cpu_per_wall": cpu / med,
                "note": method.note,
            }
        )
    return rows


def _methods_scenario_rows(by_name: dict[str, Method], log: MethodsLog, small: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows 1 and 2 of the scenarios table (real run against the floor, dry run against `cat`), and
    the small log's whole command when it ran."""
    gib, stats, size = mib(log.size), log.stats, log.size
    expired = f"{stats['deleted_bytes'] / size:.0%} of bytes expired"
    rows = [
        scenario_row(
            f"Warm {gib}, {expired}: real run",
            run_times(by_name["mxcp-compact (real run)"]),
            f"`head -c {log.kept_bytes}` + fsync + `rm` of the copy",
            run_times(by_name["head -c KEPT + fsync + rm"]),
            1.0,
            note="fresh synced copies",
        ),
        scenario_row(
            f"Warm {gib}: dry run",
            run_times(by_name["mxcp-compact --dry-run"]),
            "`cat FILE > /dev/null`",
            run_times(by_name["cat FILE > /dev/null"]),
            2.0,
        ),
    ]
    if small:
        row = scenario_row(
            f"{small['bytes'] / MiB:.0f} MiB log: whole real-run command",
            [t / 1000 for t in small["times_ms"]],
            "`python -c pass`",
            [t / 1000 for t in small["python_times_ms"]],
            None,
            unit="ms",
            note=f"median of {small['runs']}; issue 3 had < 150 ms",
        )
        rows.append(row)
    return rows


def _methods_markdown(ctx: Context, log: MethodsLog, rows: list[dict[str, Any]]) -> str:
    args, stats, size = ctx.args, log.stats, log.size
    med = {row["method"]: row["median_s"] for row in rows}
    real, dry, ref = med["mxcp-compact (real run)"], med["mxcp-compact --dry-run"], med["Python + orjson reference"]
    md = [f"## Methods side by side: {size / MiB:.0f} MiB MXCP log, {args.runs} runs each\n\n"]
    md.append(
        f"- Log: {stats['lines']} lines, MXCP {stats['mxcp_version']} records, seed {args.seed}, "
        f"{stats['huge_lines']} lines of 100 KB+ (max {stats['max_line_bytes'] / MB:.1f} MB); "
        f"{stats['deleted_lines']} lines / {stats['deleted_bytes'] / size:.1%} of bytes past retention "
        f"as of {args.now}; jq: {'not run' if ctx.jq is None else machine()['jq']}\n"
    )
    md.append(
        "- Warm page cache (the log is read once before the first run; copies are fresh in cache). "
        "Methods alternate, the order reversed every other run (ABC CBA...). Real runs work on a fresh copy "
        "made and synced before the clock starts. MB = 10^6 bytes.\n\n"
    )
    md.append("| method | median s | min s | max s | MB/s | x cp+fsync | x cat | CPU/wall | notes |\n")
    md.append("|---|---:|---:|---:|---:|---:|---:|---:|---|\n")
    for row in rows:
        md.append(
            f"| {row['method']} | {row['median_s']:.3f} | {row['min_s']:.3f} | {row['max_s']:.3f} | "
            f"{row['mb_per_s']:.0f} | {row['vs_cp_fsync']:.2f} | {row['vs_cat']:.2f} | "
            f"{row['cpu_per_wall']:.2f} | {row['note']} |\n"
        )
    md.append(
        f"\nAgainst the Python + orjson reference: real run {ref / real:.1f}x faster, dry run {ref / dry:.1f}x "
        f"faster (issue 3's targets: 10x, 20x).\n"
    )
    return "".join(md)


def _small_log(data_dir: Path, work: Path, now: str, mxcp: str, extra: list[str]) -> dict[str, Any]:
    """The whole real-run command on a 1 MiB log (fresh copy each time), and `python -c pass`."""
    from generate import generate

    source = data_dir / "small"
    source.mkdir(exist_ok=True)
    stats = generate(source / LOG, MiB, seed=3, now=now)
    target_dir = work / "small"
    target_dir.mkdir()
    shutil.copyfile(source / REGISTRY, target_dir / REGISTRY)
    times, python = [], []
    runs = 7
    for _ in range(runs):
        shutil.copyfile(source / LOG, target_dir / LOG)
        os.sync()
        started = time.perf_counter()
        subprocess.run(
            [mxcp, "log-cleanup", "--now", now, *extra, "--path", str(target_dir / LOG)],
            capture_output=True,
            check=True,
        )
        times.append(time.perf_counter() - started)
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        python.append(time.perf_counter() - started)
    return {
        "bytes": stats.bytes,
        "runs": runs,
        "median_ms": _median(times) * 1000,
        "times_ms": [t * 1000 for t in times],
        "python_ms": _median(python) * 1000,
        "python_times_ms": [t * 1000 for t in python],
    }


# --------------------------------------------------------------------------------------------
# Segments, cold cache, scale, the single legacy file


#: How `split` names the segments: MXCP's own `logs-<profile>-<stamp>.jsonl` form.
SEGMENT_NAME = "logs-bench-20260101T000000-{index:03d}.jsonl"


def split(master: Path, directory: Path, segments: int) -> list[Path]:
    """Writes `master` as `segments` files of about equal size, cut after a newline."""
    size = master.stat().st_size
    target = -(-size // segments)
    paths: list[Path] = []
    with master.open("rb") as source:
        for index in range(segments):
            path = directory / SEGMENT_NAME.format(index=index)
            with path.open("wb") as out:
                chunk = source.read(target)
                out.write(chunk)
                if chunk and not chunk.endswith(b"\n"):
                    out.write(source.readline())
            paths.append(path)
    assert sum(p.stat().st_size for p in paths) == size
    return paths


def _segments(ctx: Context) -> dict[str, Any]:
    """Dry run over the 1x log as 20 MXCP-named segments against the same bytes as one file, warm."""
    args, work = ctx.args, ctx.scratch("segments")
    master, stats = prepare_data(ctx.data_dir, args.size_mb, args.seed, args.now)
    registry = master.with_name(master.name.replace(".jsonl", "_schemas.jsonl"))
    one_dir, many_dir = work / "one", work / "many"
    for directory in (one_dir, many_dir):
        directory.mkdir()
        shutil.copyfile(registry, directory / REGISTRY)
    # A copy, not a hard link: a dry run refuses a hard-linked log, as the real run does.
    shutil.copyfile(master, one_dir / LOG)
    count = 20
    pieces = split(master, many_dir, count)
    warm(one_dir / LOG, *pieces)
    one = Method("dry run, one file", lambda: [ctx.mxcp, *ctx.common, "--dry-run", "--path", str(one_dir / LOG)])
    many = Method(f"dry run, {count} segments", lambda: [ctx.mxcp, *ctx.common, "--dry-run", "--path", str(many_dir)])
    run_loop([many, one], args.quick_runs, "segments")
    deleted = [json.loads(m.runs[-1].stdout)["deleted_per_schema"] for m in (one, many)]
    ctx.checks["segments_delete_what_one_file_deletes"] = deleted[0] == deleted[1] == stats["deleted_per_schema"]
    ctx.figures["segments"] = {"segments": count, "one_file_s": run_times(one), "segments_s": run_times(many)}
    size = master.stat().st_size
    return scenario_row(
        f"Segments: dry run, {mib(size)} as {count} segments of {mib(size / count)}, warm",
        run_times(many),
        "dry run of the same bytes as one file",
        run_times(one),
        1.15,
    )


def _cold(ctx: Context) -> dict[str, Any]:
    """Dry run against `cat`, the page cache dropped before each."""
    args = ctx.args
    label = f"Cold {mib(args.size_mb * MiB)}: dry run"
    if not ctx.cold:
        return not_measured(label, ctx.no_cold_reason, "<= 1.15x")
    master, stats = prepare_data(ctx.data_dir, args.size_mb, args.seed, args.now)
    dry = Method("cold dry run", lambda: [ctx.mxcp, *ctx.common, "--dry-run", "--path", str(master)], setup=drop_caches)
    cat = Method("cold cat", lambda: ["cat", str(master)], setup=drop_caches, stdout_to=lambda: Path(os.devnull))
    run_loop([dry, cat], args.quick_runs, "cold")
    report = json.loads(dry.runs[-1].stdout)
    ctx.checks["cold_dry_run_counts_match_generator"] = report["deleted_per_schema"] == stats["deleted_per_schema"]
    ctx.figures["cold"] = {"dry_run_s": run_times(dry), "cat_s": run_times(cat)}
    return scenario_row(label, run_times(dry), "cold `cat FILE > /dev/null`", run_times(cat), 1.15)


def _scale(ctx: Context) -> list[dict[str, Any]]:
    """1x and 4x logs of the same generator, dry and real runs alternating; peak RssAnon on 4x."""
    args, work, mxcp = ctx.args, ctx.scratch("scale"), ctx.mxcp
    logs = []
    for size_mib in (args.size_mb, ctx.big_mib):
        master, stats = prepare_data(ctx.data_dir, size_mib, args.seed, args.now)
        target = work / f"{size_mib:g}"
        target.mkdir()
        shutil.copyfile(master.with_name(master.name.replace(".jsonl", "_schemas.jsonl")), target / REGISTRY)
        logs.append((master, stats, target))
    small_master, big_master = logs[0][0], logs[1][0]
    methods = []
    for master, _, target in logs:
        label = mib(master.stat().st_size)
        methods.append(Method(f"dry run, {label}", lambda m=master: [mxcp, *ctx.common, "--dry-run", "--path", str(m)]))
        methods.append(
            Method(
                f"real run, {label}",
                lambda t=target: [mxcp, *ctx.common, "--path", str(t / LOG)],
                setup=_fresh_as(master, target / LOG),
            )
        )
    warm(small_master, big_master)
    run_loop([methods[0], methods[2], methods[1], methods[3]], args.runs, "scale")
    for index, (_, stats, _) in enumerate(logs):
        for method in methods[2 * index : 2 * index + 2]:
            report = json.loads(method.runs[-1].stdout)
            ctx.checks[f"scale: {method.name} deletes what the generator says"] = (
                report["deleted_per_schema"] == stats["deleted_per_schema"]
            )
    big_target = logs[1][2]
    memory: dict[str, dict[str, int]] = {}
    try:
        memory["real"] = peak_rss_anon(
            [mxcp, *ctx.common, "--path", str(big_target / LOG)], _fresh_as(big_master, big_target / LOG)
        )
        memory["dry_run"] = peak_rss_anon([mxcp, *ctx.common, "--dry-run", "--path", str(big_master)], None)
    except SystemExit as error:
        ctx.errors.append(str(error))
    ctx.figures["scale"] = {m.name: run_times(m) for m in methods} | {"memory_kib": memory}
    big, small = mib(big_master.stat().st_size), mib(small_master.stat().st_size)
    rows = [
        scenario_row(f"Scale: {big} dry run", run_times(methods[2]), f"{small} dry run", run_times(methods[0]), 4.4),
        scenario_row(
            f"Scale: {big} real run",
            run_times(methods[3]),
            f"{small} real run",
            run_times(methods[1]),
            4.4,
            note="fresh synced copies",
        ),
    ]
    if len(memory) == 2:
        real_mib, dry_mib = (memory[k]["rss_anon_peak_kib"] / 1024 for k in ("real", "dry_run"))
        rows.append(
            {
                "scenario": f"Peak RssAnon on {big} (sampled every 2 ms, untimed runs)",
                "mxcp": f"real {real_mib:.1f} MiB, dry {dry_mib:.1f} MiB",
                "baseline": "",
                "baseline_text": "",
                "ratio": None,
                "target": "< 64 MiB",
                "target_mib": 64,
                "met": max(real_mib, dry_mib) < 64,
                "note": "",
                "memory_kib": memory,
            }
        )
    else:
        rows.append(not_measured(f"Peak RssAnon on {big}", "error", "< 64 MiB"))
    return rows


def _fresh_as(source: Path, target: Path, *gone: Path) -> Callable[[], None]:
    """A setup: `source` copied anew to `target` (after removing the files `gone`), synced."""

    def setup() -> None:
        for path in gone:
            path.unlink(missing_ok=True)
        target.unlink(missing_ok=True)
        shutil.copyfile(source, target)
        os.sync()

    return setup


def _removed(path: Path) -> Callable[[], None]:
    """A setup: `path` removed, synced."""

    def setup() -> None:
        path.unlink(missing_ok=True)
        os.sync()

    return setup


def _legacy(ctx: Context) -> list[dict[str, Any]]:
    """One 4x file, time-ordered, ~1% expiring: warm real run (fresh copy) and dry run."""
    args, work, mxcp = ctx.args, ctx.scratch("legacy"), ctx.mxcp
    master, stats = prepare_data(ctx.data_dir, ctx.big_mib, args.seed, args.now, expired_fraction=0.01)
    shutil.copyfile(master.with_name(master.name.replace(".jsonl", "_schemas.jsonl")), work / REGISTRY)
    real = Method(
        "legacy real run", lambda: [mxcp, *ctx.common, "--path", str(work / LOG)], setup=_fresh_as(master, work / LOG)
    )
    dry = Method("legacy dry run", lambda: [mxcp, *ctx.common, "--dry-run", "--path", str(master)])
    warm(master)
    run_loop([real, dry], args.runs, "legacy")
    for method in (real, dry):
        report = json.loads(method.runs[-1].stdout)
        ctx.checks[f"legacy: {method.name} deletes what the generator says"] = (
            report["deleted_per_schema"] == stats["deleted_per_schema"]
        )
    ctx.checks["legacy: kept bytes match the generator"] = (work / LOG).stat().st_size == stats["bytes"] - stats[
        "deleted_bytes"
    ]
    ctx.figures["legacy"] = {"real_run_s": run_times(real), "dry_run_s": run_times(dry)}
    size = master.stat().st_size
    return [
        scenario_row(
            f"Single legacy file, {mib(size)}, {stats['deleted_bytes'] / size:.1%} of bytes expiring, warm: real run",
            run_times(real),
            "dry run of the same file",
            run_times(dry),
            None,
            note="fresh synced copy",
        )
    ]


# --------------------------------------------------------------------------------------------
# The daily job: MXCP segments, a day-1 run with the incremental index, then the next day

SEGMENT_MIB = 50  # MXCP's max_file_size in this scenario, at --size-mb 1024 (scaled with it)
HISTORY_DAYS = 92  # days of records before day 1's run; it deletes the oldest, leaving 91


def daily_data(ctx: Context, tag: str, mix: dict[str, float] | None) -> dict[str, Any]:
    """A directory of MXCP segments (`logs-bench-YYYYMMDDTHHMMSS.jsonl`, named after their first
    record's time) holding HISTORY_DAYS days of records up to day 1 (= --now minus a day): one
    generated stream with uniform traffic, 4x --size-mb, cut at line ends into segments of about
    SEGMENT_MIB (scaled with --size-mb), so each holds the records after the previous one's; and
    apart, today's segment: the next day's records (up to 5 min before --now). Generated unless a
    matching one is in the data directory."""
    from generate import generate, parse_time

    args = ctx.args
    total = int(ctx.big_mib * MiB)
    count = max(1, round(total / (SEGMENT_MIB * MiB * args.size_mb / 1024)))
    now = parse_time(args.now)
    day1 = now - timedelta(days=1)
    start = day1 - timedelta(days=HISTORY_DAYS)
    folder = ctx.data_dir / f"{tag}-{ctx.big_mib:g}mib-seed{args.seed}"
    sidecar = folder / "stats.json"
    wanted = {"bytes": total, "segments": count, "now": args.now, "seed": args.seed, "mix": mix, "days": HISTORY_DAYS}
    wanted["layout"] = "one stream cut into segments"
    if sidecar.is_file():
        stats = json.loads(sidecar.read_text())
        if stats.get("params") == wanted:
            print(f"reusing {folder}", file=sys.stderr)
            return stats
    shutil.rmtree(folder, ignore_errors=True)
    audit, today = folder / "audit", folder / "today"
    audit.mkdir(parents=True)
    today.mkdir()
    print(f"generating {folder}: {count} segments + today's ({total / MiB:.0f} MiB)...", file=sys.stderr, flush=True)
    began = time.perf_counter()
    # One time-ordered stream cut into segments (each holds the records after the previous one's),
    # as MXCP's writer rotates by size; then today's records.
    stream = folder / "stream.jsonl"
    history = generate(stream, total, seed=args.seed, now=now, start=start, end=day1, growth=1.0, schema_mix=mix)
    stream.with_name("stream_schemas.jsonl").rename(audit / REGISTRY)
    names = []
    for piece in split(stream, audit, count):
        if piece.stat().st_size == 0:  # a long line ran over the last cut (small sizes)
            piece.unlink()
            continue
        name = _segment_name(piece)
        piece.rename(audit / name)
        names.append(name)
    stream.unlink()
    per_day = total // HISTORY_DAYS
    fresh = generate(
        today / "today.tmp", per_day, seed=args.seed + 1, now=now, start=day1, end=now - timedelta(minutes=5),
        growth=1.0, schema_mix=mix, registry=False,
    )  # fmt: skip
    names.append(_segment_name(today / "today.tmp"))
    (today / "today.tmp").rename(today / names[-1])
    kept_bytes = history.kept_bytes + fresh.kept_bytes
    lines = history.lines + fresh.lines
    deleted_lines = history.deleted_lines + fresh.deleted_lines
    assert len(set(names)) == len(names), "two segments share a name"
    result = {
        "params": wanted,
        "audit": str(audit),
        "today": str(today / names[-1]),
        "segments": len(names) - 1,
        "segment_bytes": total // (len(names) - 1),
        "today_bytes": per_day,
        "bytes": sum(p.stat().st_size for p in log_files(audit)) + (today / names[-1]).stat().st_size,
        "lines": lines,
        "deleted_lines_by_now": deleted_lines,  # what day 1's run and the next day's delete together
        "kept_bytes_by_now": kept_bytes,
        "day1": day1.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "seconds": round(time.perf_counter() - began, 1),
    }
    sidecar.write_text(json.dumps(result, indent=2))
    GENERATION_S.append(result["seconds"])
    return result


def _segment_name(path: Path) -> str:
    """`logs-bench-YYYYMMDDTHHMMSS.jsonl` after the time of the file's first record."""
    from generate import parse_time

    with path.open("rb") as handle:
        first = json.loads(handle.readline())["timestamp"]
    return f"logs-bench-{parse_time(first):%Y%m%dT%H%M%S}.jsonl"


@dataclass
class DailyRun:
    """One daily scenario: its data, where each repetition runs, and what the untimed day-1 runs did."""

    ctx: Context
    tag: str
    data: dict[str, Any]  # from daily_data
    base: Path  # the scenario's scratch directory
    env: dict[str, str]  # the measured runs' environment: their own state directory
    day1_s: list[float] = field(default_factory=list)
    day1_deleted: list[int] = field(default_factory=list)
    dir_bytes: list[int] = field(default_factory=list)  # the directory the measured run faces

    @property
    def run_dir(self) -> Path:
        return self.base / "audit"

    @property
    def state(self) -> Path:
        return self.base / "state"

    @property
    def cleanup(self) -> list[str]:
        return [self.ctx.mxcp, "log-cleanup", "--json", *self.ctx.args.mxcp_arg]

    def run(self, argv: list[str], state_dir: Path) -> tuple[float, dict[str, Any]]:
        """An untimed command with its index in `state_dir`: its seconds and its JSON report."""
        started = time.perf_counter()
        environment = {**self.env, "MXCP_COMPACT_STATE_DIR": str(state_dir)}
        done = subprocess.run(argv, capture_output=True, env=environment, check=False)
        elapsed = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"compare.py: {' '.join(argv)} failed ({done.returncode}): {done.stderr.decode()}")
        return elapsed, json.loads(done.stdout)

    def day_one(self, target: Path, state_dir: Path) -> None:
        """`target` as the next day finds it: a copy of the segments cleaned on day 1 with a fresh
        index in `state_dir`, then today's segment added; synced."""
        audit, today = Path(self.data["audit"]), Path(self.data["today"])
        shutil.rmtree(target, ignore_errors=True)
        shutil.rmtree(state_dir, ignore_errors=True)
        state_dir.mkdir()
        shutil.copytree(audit, target)
        os.sync()
        elapsed, report = self.run([*self.cleanup, "--now", self.data["day1"], "--path", str(target)], state_dir)
        self.day1_s.append(elapsed)
        self.day1_deleted.append(deleted_total(report))
        shutil.copyfile(today, target / today.name)
        os.sync()

    def setup_cat(self) -> None:
        """The setup of `cat`, and so of the next day's run after it: a fresh day-1 directory."""
        self.day_one(self.run_dir, self.state)
        self.dir_bytes.append(sum(p.stat().st_size for p in log_files(self.run_dir)))
        if self.ctx.cold:
            drop_caches()


def _daily(ctx: Context, tag: str, mix: dict[str, float] | None, target: float | None) -> dict[str, Any]:
    """Day 1: a real run (index on) of the segments as of --now minus a day; then today's segment
    is added and the clock moves a day: the measured command is that next real run, cold, against
    a cold `cat` of the directory. The index records inodes and ctimes, which no copy keeps, so
    each repetition copies the pre-day-1 directory and runs day 1 on it (untimed), with its own
    state directory, then adds today's segment and syncs before the clock starts."""
    data = daily_data(ctx, tag, mix)
    base = ctx.scratch(tag)
    daily = DailyRun(ctx, tag, data, base, {**os.environ, "MXCP_COMPACT_STATE_DIR": str(base / "state")})
    run_dir = daily.run_dir
    cat = Method(
        "cat of the directory",
        lambda: ["cat", *map(str, sorted(run_dir.iterdir()))],
        setup=daily.setup_cat,
        stdout_to=lambda: Path(os.devnull),
    )
    # Timed as the timer runs it: text output (--json would add orjson's imports to a cold start).
    text_cleanup = [part for part in daily.cleanup if part != "--json"]
    nxt = Method(
        "next day's real run",
        lambda: [*text_cleanup, "--now", ctx.args.now, "--path", str(run_dir)],
        setup=drop_caches if ctx.cold else None,
        env=daily.env,
    )
    # Always `cat` first: its setup lays out the next day that the run then cleans. Reversed
    # every other repetition (as `run_loop` does elsewhere), the run came right after the last
    # one, on a directory cleaned already (it read no file and deleted nothing). Each method's
    # setup ends in a sync and a cache drop, so what ran before shifts neither.
    run_loop([cat, nxt], ctx.args.runs, tag, alternate=False)
    reports = [text_report(r) for r in nxt.runs]
    _daily_checks(daily, reports)
    return _daily_row(daily, cat, nxt, reports, mix, target)


def _daily_checks(daily: DailyRun, reports: list[dict[str, Any]]) -> None:
    """Every repetition measured the same work; nothing left to delete, the same bytes as a
    --full run of a twin, the generator's counts."""
    measured = reports[-1]
    ctx, now, run_dir = daily.ctx, daily.ctx.args.now, daily.run_dir
    _, full_dry = daily.run([*daily.cleanup, "--full", "--dry-run", "--now", now, "--path", str(run_dir)], daily.state)
    twin, twin_state = daily.base / "twin", daily.base / "state-twin"
    daily.day_one(twin, twin_state)
    _, full_real = daily.run([*daily.cleanup, "--full", "--now", now, "--path", str(twin)], twin_state)
    prefix = f"{daily.tag}: "
    work = {(deleted_total(report), files_not_read(report)) for report in reports}
    ctx.checks[prefix + "every repetition deleted as much and read as many files"] = len(work) == 1
    ctx.checks[prefix + "full dry run after the measured run deletes nothing"] = deleted_total(full_dry) == 0
    ctx.checks[prefix + "same bytes as a --full real run of a twin"] = same_tree(run_dir, twin)
    ctx.checks[prefix + "same count as the --full run"] = deleted_total(measured) == deleted_total(full_real)
    # day1_deleted[-1] is the twin's day 1, which deletes what the measured run's day 1 did.
    ctx.checks[prefix + "day 1 + next day delete what the generator says"] = (
        daily.day1_deleted[-1] + deleted_total(measured) == daily.data["deleted_lines_by_now"]
    )
    ctx.checks[prefix + "kept bytes match the generator"] = (
        sum(p.stat().st_size for p in log_files(run_dir)) == daily.data["kept_bytes_by_now"]
    )


def _daily_row(
    daily: DailyRun,
    cat: Method,
    nxt: Method,
    reports: list[dict[str, Any]],
    mix: dict[str, float] | None,
    target: float | None,
) -> dict[str, Any]:
    """The scenario's row; its figures go to ctx.figures (for --json-out)."""
    ctx, data, dir_bytes = daily.ctx, daily.data, daily.dir_bytes
    measured = reports[-1]
    skipped = [files_not_read(r) for r in reports]
    files = len(log_files(daily.run_dir))
    ctx.figures[daily.tag] = {
        "data": data,
        "cat_s": run_times(cat),
        "next_day_s": run_times(nxt),
        "day1_s": daily.day1_s,
        "day1_deleted": daily.day1_deleted,
        "directory_bytes": dir_bytes,
        "next_day_deleted": [deleted_total(r) for r in reports],
        "files": files,
        "files_not_read": skipped,
        "cold": ctx.cold,
    }
    which = "mxcp.endpoints only" if mix == ENDPOINTS_ONLY else "generate.py's five-schema mix"
    cache = "cold" if ctx.cold else f"warm ({ctx.no_cold_reason})"
    scenario = (
        f"Daily: {mib(dir_bytes[-1])} in {data['segments']} + 1 segments of "
        f"{mib(data['segment_bytes'])} ({which}), the next day's real run, {cache}"
    )
    note = f"read {files - _median(skipped):.0f} of {files} files, deleted {deleted_total(measured)} records"
    return scenario_row(
        scenario, run_times(nxt), "cold `cat` of the directory" if ctx.cold else "`cat` of the directory",
        run_times(cat), target, note=note, valid=ctx.cold,
    )  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
