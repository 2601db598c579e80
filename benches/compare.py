#!/usr/bin/env python3
"""mxcp-compact side by side with baselines and the physical floors, on one generated MXCP log.

    python benches/compare.py --size-mb 1024 --runs 5 --json-out benches/results/compare.json
    python benches/compare.py --size-mb 8 --runs 2                    # quick check
    python benches/compare.py --size-mb 1024 --keep-data bench-data   # generate once, reuse later

Methods, run in alternation (A B C ... A B C ...) so that machine noise hits all of them alike:

- `mxcp-compact log-cleanup --path FILE` (real run, on a fresh copy of the log each repetition; the
  copy is made and synced to disk before the clock starts), and `--dry-run` (on the log itself);
- a plain Python + orjson reference of the same retention rule (registry included): reads lines,
  `orjson.loads`, `(now - timestamp).days > days`, writes kept lines to a temp file, fsyncs it and
  renames it over the log (fresh copy each repetition, like the real run);
- jq, when installed: `jq -c 'select(...)'` keeping a line unless the first 19 characters of its
  timestamp sort before its schema's cutoff (an approximation: UTC assumed, fractions of a second
  ignored, kept lines re-serialised), output fsynced and renamed;
- the floors: `cat FILE > /dev/null` and `cp --reflink=never FILE DST` + fsync of DST.

Every command is timed as a whole (process start-up included) with a warm page cache: the log is
read once before the first measurement, and copies are fresh in the cache. The Python reference's
output must be byte-identical to mxcp-compact's, and both must delete exactly what the generator
says is past retention. Peak anonymous memory (RssAnon) of mxcp-compact is sampled from
/proc/PID/status every 2 ms in one extra, untimed run per mode (wait4's ru_maxrss is no use here:
it counts the file pages the scan maps, and a child inherits its parent's high-water mark at
fork). CPU/wall is the child's user + system time from wait4 over its wall time (> 1: more than
one core busy).
Markdown to stdout, all figures to --json-out.
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
from typing import IO, Any

BENCHES = Path(__file__).resolve().parent
REPO = BENCHES.parent
MB = 1_000_000
MiB = 1024 * 1024
DAY_US = 86_400_000_000
LOG = "logs-bench.jsonl"
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


@dataclass
class Method:
    name: str
    argv: Callable[[], list[str]]
    setup: Callable[[], None] | None = None
    after: Callable[[], None] | None = None  # timed: work the command's caller does (fsync, rename)
    stdout_to: Callable[[], Path] | None = None
    note: str = ""
    runs: list[Run] = field(default_factory=list)


def _spawn(argv: Sequence[str], stdout_path: Path | None) -> tuple[subprocess.Popen[bytes], IO[bytes], IO[bytes]]:
    """Start a command with stdout to `stdout_path` (or a temp file to read back) and stderr to a
    temp file: no pipes to drain, so the parent can wait4() for the child's resource usage."""
    out: IO[bytes] = stdout_path.open("wb") if stdout_path is not None else tempfile.TemporaryFile()  # noqa: SIM115
    err: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115
    return subprocess.Popen(argv, stdout=out, stderr=err), out, err


def _finish(
    proc: subprocess.Popen[bytes],
    status: int,
    argv: Sequence[str],
    out: IO[bytes],
    err: IO[bytes],
    capture: bool,
) -> bytes:
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
    return data


def measure(method: Method) -> Run:
    if method.setup is not None:
        method.setup()
    argv = method.argv()
    stdout_path = method.stdout_to() if method.stdout_to is not None else None
    started = time.perf_counter()
    proc, out, err = _spawn(argv, stdout_path)
    _, status, usage = os.wait4(proc.pid, 0)
    if method.after is not None:
        method.after()
    seconds = time.perf_counter() - started
    data = _finish(proc, status, argv, out, err, capture=stdout_path is None)
    run = Run(seconds, usage.ru_utime + usage.ru_stime, data)
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


def prepare_data(data_dir: Path, size_mib: float, seed: int, now: str) -> tuple[Path, dict[str, Any]]:
    """The master log (and registry) in `data_dir`, generated unless a matching one is there."""
    sys.path.insert(0, str(BENCHES))
    from generate import generate

    tag = f"{size_mib:g}mib-seed{seed}"
    master = data_dir / f"logs-bench-{tag}.jsonl"
    sidecar = data_dir / f"logs-bench-{tag}.stats.json"
    wanted = {"size_mib": size_mib, "seed": seed, "now": now}
    if master.is_file() and sidecar.is_file():
        stats = json.loads(sidecar.read_text())
        if stats.get("params") == wanted and master.stat().st_size == stats["bytes"]:
            print(f"reusing {master} ({stats['bytes'] / MiB:.0f} MiB)", file=sys.stderr)
            return master, stats
    print(f"generating {master} ({size_mib:g} MiB)...", file=sys.stderr, flush=True)
    stats = generate(master, int(size_mib * MiB), seed=seed, now=now).as_dict()
    stats["params"] = wanted
    sidecar.write_text(json.dumps(stats, indent=2, ensure_ascii=False))
    print(f"  done in {stats['seconds']:.1f} s", file=sys.stderr)
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


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=float, default=1024, help="log size in MiB (default 1024)")
    parser.add_argument("--runs", type=int, default=5, help="repetitions of each method (default 5)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--now", default="2026-11-27T00:00:00Z", help="retention instant (--now)")
    parser.add_argument("--json-out", type=Path, default=BENCHES / "results" / "compare.json")
    parser.add_argument("--keep-data", type=Path, help="generate the log here once and reuse it")
    parser.add_argument("--no-jq", action="store_true", help="skip jq even when installed")
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


def _compare(args: argparse.Namespace, data_dir: Path, work: Path, mxcp: str, jq: str | None) -> int:
    size_needed = args.size_mb * MiB * 4.5
    free = shutil.disk_usage(data_dir).free
    if free < size_needed:
        raise SystemExit(f"compare.py: {free / MiB:.0f} MiB free in {data_dir}, need {size_needed / MiB:.0f}")
    info = machine()
    master, stats = prepare_data(data_dir, args.size_mb, args.seed, args.now)
    size = master.stat().st_size
    commit, product_before = product_fingerprint()
    if args.snapshot_product:
        (work / "product").mkdir()
        mxcp = snapshot_product(work / "product")
    version = subprocess.run([mxcp, "--version"], capture_output=True, text=True, check=False).stdout.strip()

    real_dir, ref_dir, jq_dir, cp_dir, gz_dir, zst_dir = (
        work / n for n in ("mxcp", "reference", "jq", "cp", "archive-gz", "archive-zst")
    )
    for directory in (real_dir, ref_dir, jq_dir, cp_dir, gz_dir, zst_dir):
        directory.mkdir()
        shutil.copyfile(master.with_name(master.name.replace(".jsonl", "_schemas.jsonl")), directory / REGISTRY)

    def fresh_copy(directory: Path) -> Callable[[], None]:
        def setup() -> None:
            target = directory / LOG
            target.unlink(missing_ok=True)
            shutil.copyfile(master, target)
            os.sync()

        return setup

    def fresh_copy_without(directory: Path, archive: Path) -> Callable[[], None]:
        copy = fresh_copy(directory)

        def setup() -> None:
            archive.unlink(missing_ok=True)
            copy()

        return setup

    def clean(path: Path) -> Callable[[], None]:
        def setup() -> None:
            path.unlink(missing_ok=True)
            os.sync()

        return setup

    jq_tmp, jq_out, cp_dst = jq_dir / ".jq.tmp", jq_dir / LOG, cp_dir / "copy.jsonl"

    def jq_after() -> None:
        _fsync(jq_tmp)
        jq_tmp.replace(jq_out)
        _fsync(jq_dir)

    policy = load_policies(master.with_name(master.name.replace(".jsonl", "_schemas.jsonl")))
    days_by_key = {}
    for key in stats["lines_per_schema"]:
        name, _, schema_version = str(key).rpartition(":")
        days_by_key[key] = policy(name, int(schema_version))
    now_moment = _parse_ts(args.now)
    if now_moment is None:
        raise SystemExit(f"compare.py: --now {args.now!r} is not an ISO timestamp")
    cutoffs = json.dumps(jq_cutoffs(days_by_key, now_moment.astimezone(timezone.utc)))

    common = ["log-cleanup", "--json", "--now", args.now, *args.mxcp_arg]
    real_argv = [mxcp, *common, "--path", str(real_dir / LOG)]
    dry_argv = [mxcp, *common, "--dry-run", "--path", str(master)]
    ref_argv = [sys.executable, str(Path(__file__).resolve()), "--reference", str(ref_dir / LOG), args.now]
    jq_argv = [jq or "jq", "-c", "--argjson", "cut", cutoffs, JQ_FILTER, str(master)]
    gz_archive, zst_archive = work / "deleted.jsonl.gz", work / "deleted.jsonl.zst"
    gz_argv = [mxcp, *common, "--archive", str(gz_archive), "--path", str(gz_dir / LOG)]
    zst_argv = [mxcp, *common, "--archive", str(zst_archive), "--path", str(zst_dir / LOG)]
    methods = [
        Method("mxcp-compact (real run)", lambda: real_argv, setup=fresh_copy(real_dir), note="fresh copy"),
        Method("mxcp-compact --dry-run", lambda: dry_argv),
        Method(
            "Python + orjson reference",
            lambda: ref_argv,
            setup=fresh_copy(ref_dir),
            note="fresh copy; temp + fsync + rename",
        ),
        Method(
            "mxcp-compact --archive .jsonl.zst",
            lambda: zst_argv,
            setup=fresh_copy_without(zst_dir, zst_archive),
            note="real run + zstd archive of the deleted lines, same pass",
        ),
        Method(
            "mxcp-compact --archive .jsonl.gz",
            lambda: gz_argv,
            setup=fresh_copy_without(gz_dir, gz_archive),
            note="real run + gzip archive of the deleted lines, same pass",
        ),
    ]
    if jq is not None:
        methods.append(
            Method(
                "jq -c select(...) (approximate)",
                lambda: jq_argv,
                setup=clean(jq_out),
                after=jq_after,
                stdout_to=lambda: jq_tmp,
                note="rule approximated; re-serialises lines; + fsync + rename",
            )
        )
    methods += [
        Method(
            "cat FILE > /dev/null",
            lambda: ["cat", str(master)],
            stdout_to=lambda: Path(os.devnull),
            note="floor: read",
        ),
        Method(
            "cp FILE DST + fsync",
            lambda: ["cp", "--reflink=never", str(master), str(cp_dst)],
            setup=clean(cp_dst),
            after=lambda: _fsync(cp_dst),
            note="floor: copy",
        ),
    ]

    print(f"warming the page cache: reading {master.name} once", file=sys.stderr, flush=True)
    with master.open("rb") as handle:
        while handle.read(16 * MiB):
            pass

    for rep in range(args.runs):
        for method in methods:
            run = measure(method)
            print(f"  run {rep + 1}/{args.runs} {method.name}: {run.seconds:.3f} s", file=sys.stderr, flush=True)

    # -- checks
    checks: dict[str, object] = {}
    expected_deleted = stats["deleted_per_schema"]
    real_report = json.loads(methods[0].runs[-1].stdout)
    dry_report = json.loads(methods[1].runs[-1].stdout)
    checks["real_run_counts_match_generator"] = real_report["deleted_per_schema"] == expected_deleted
    checks["dry_run_equals_real_run"] = dry_report["deleted_per_schema"] == real_report["deleted_per_schema"]
    ref_counts = json.loads(methods[2].runs[-1].stdout)
    checks["reference_counts_match_generator"] = ref_counts["deleted"] == stats["deleted_lines"]
    kept_bytes = stats["bytes"] - stats["deleted_bytes"]
    checks["mxcp_output_size_matches_generator"] = (real_dir / LOG).stat().st_size == kept_bytes
    checks["reference_and_mxcp_byte_identical"] = filecmp.cmp(real_dir / LOG, ref_dir / LOG, shallow=False)
    for name, archive_method in (("zstd", methods[3]), ("gzip", methods[4])):
        archived = json.loads(archive_method.runs[-1].stdout)["archive"]
        checks[f"{name}_archive_holds_the_deleted_lines"] = archived["lines"] == stats["deleted_lines"]
    if jq is not None:
        with jq_out.open("rb") as handle:
            jq_kept = sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(16 * MiB), b""))
        checks["jq_kept_lines_minus_exact"] = jq_kept - (stats["lines"] - stats["deleted_lines"])

    # -- memory (untimed extra runs) and a small log (the whole command, start-up included); a
    # failure here is reported, not fatal: the timings above are kept
    print("measuring peak RssAnon (extra untimed runs)", file=sys.stderr, flush=True)
    errors: list[str] = []
    memory: dict[str, dict[str, int]] = {}
    try:
        memory["real"] = peak_rss_anon(real_argv, fresh_copy(real_dir))
        memory["dry_run"] = peak_rss_anon(dry_argv, None)
    except SystemExit as error:
        errors.append(str(error))
    small: dict[str, Any] = {}
    try:
        small = _small_log(data_dir, work, args.now, mxcp, args.mxcp_arg)
    except (SystemExit, subprocess.CalledProcessError) as error:
        errors.append(str(error))
    commit_after, product_after = product_fingerprint()
    if product_after != product_before and not args.snapshot_product:
        errors.append(
            "the installed mxcp_compact package was modified during the run: the timings may mix versions "
            "(--snapshot-product runs a private copy)"
        )
    elif commit_after != commit:
        errors.append(f"the working tree changed during the run (git {commit} -> {commit_after})")

    # -- report
    by_name = {m.name: m for m in methods}
    cat = _median([r.seconds for r in by_name["cat FILE > /dev/null"].runs])
    cp = _median([r.seconds for r in by_name["cp FILE DST + fsync"].runs])
    rows = []
    for method in methods:
        times = [r.seconds for r in method.runs]
        med = _median(times)
        cpu = _median([r.cpu_seconds for r in method.runs])
        rows.append(
            {
                "method": method.name,
                "median_s": med,
                "min_s": min(times),
                "times_s": times,
                "mb_per_s": size / MB / med,
                "vs_cp_fsync": med / cp,
                "vs_cat": med / cat,
                "cpu_s": cpu,
                "cpu_per_wall": cpu / med,
                "note": method.note,
            }
        )
    med = {row["method"]: row["median_s"] for row in rows}
    real, dry, ref = (
        med["mxcp-compact (real run)"],
        med["mxcp-compact --dry-run"],
        med["Python + orjson reference"],
    )
    targets: list[tuple[str, float | None, bool, str]] = [
        ("real run <= 1.0x cp + fsync", real / cp, real <= cp, f"{real / cp:.2f}x"),
        ("real run >= 10x faster than Python + orjson", ref / real, ref / real >= 10, f"{ref / real:.1f}x faster"),
        ("dry run >= 20x faster than Python + orjson", ref / dry, ref / dry >= 20, f"{ref / dry:.1f}x faster"),
        ("dry run <= 3x cat FILE > /dev/null", dry / cat, dry <= 3 * cat, f"{dry / cat:.2f}x"),
    ]
    if len(memory) == 2:
        anon_mib = max(m["rss_anon_peak_kib"] for m in memory.values()) / 1024
        targets.append(("peak RssAnon < 64 MiB", anon_mib, anon_mib < 64, f"{anon_mib:.1f} MiB (at this size)"))
    else:
        targets.append(("peak RssAnon < 64 MiB", None, False, "not measured (error)"))
    if small:
        ms = small["median_ms"]
        targets.append(("1 MiB log, whole command < 150 ms", ms, ms < 150, f"{ms:.0f} ms"))
    else:
        targets.append(("1 MiB log, whole command < 150 ms", None, False, "not measured (error)"))

    out = sys.stdout
    load = info["load_average"]
    out.write(f"## mxcp-compact vs baselines: {size / MiB:.0f} MiB MXCP log, {args.runs} runs each\n\n")
    out.write(
        f"- Machine: {info['nproc']} CPUs ({info['usable_cpus']} usable), {info['cpu_model']}, "
        f"{info['memory_gib']} GiB RAM, Linux {info['kernel']}, Python {info['python']}; "
        f"load average at start {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}\n"
    )
    out.write(f"- Disk: {filesystem_of(data_dir)}; {info['cp']}; jq: {info['jq']}\n")
    snapshot = ", private copy of the installed package" if args.snapshot_product else ""
    extra = " " + " ".join(args.mxcp_arg) if args.mxcp_arg else ""
    out.write(f"- mxcp-compact: {version} (git {commit}{snapshot}){extra}\n")
    out.write(
        f"- Log: {stats['lines']} lines, MXCP {stats['mxcp_version']} records, seed {args.seed}, "
        f"{stats['huge_lines']} lines of 100 KB+ (max {stats['max_line_bytes'] / MB:.1f} MB); "
        f"{stats['deleted_lines']} lines / {stats['deleted_bytes'] / size:.1%} of bytes past retention "
        f"as of {args.now}\n"
    )
    out.write(
        "- Warm page cache (the log is read once before the first run; copies are fresh in cache). "
        "Wall time of the whole command, start-up included; methods alternate (ABCABC...). "
        "Real runs work on a fresh copy made and synced before the clock starts. MB = 10^6 bytes.\n\n"
    )
    out.write("| method | median s | min s | MB/s | x cp+fsync | x cat | CPU/wall | notes |\n")
    out.write("|---|---:|---:|---:|---:|---:|---:|---|\n")
    for row in rows:
        out.write(
            f"| {row['method']} | {row['median_s']:.3f} | {row['min_s']:.3f} | {row['mb_per_s']:.0f} | "
            f"{row['vs_cp_fsync']:.2f} | {row['vs_cat']:.2f} | {row['cpu_per_wall']:.2f} | "
            f"{row['note']} |\n"
        )
    if len(memory) == 2:
        out.write(
            f"\nPeak RssAnon of mxcp-compact (sampled every 2 ms from /proc/PID/status, separate run): "
            f"real run {memory['real']['rss_anon_peak_kib'] / 1024:.1f} MiB, "
            f"dry run {memory['dry_run']['rss_anon_peak_kib'] / 1024:.1f} MiB "
            f"(VmHWM, file pages included: {memory['real']['vm_hwm_kib'] / 1024:.0f} / "
            f"{memory['dry_run']['vm_hwm_kib'] / 1024:.0f} MiB).\n"
        )
    if small:
        out.write(
            f"Small log ({small['bytes'] / MiB:.1f} MiB), whole real-run command, median of {small['runs']}: "
            f"{small['median_ms']:.0f} ms (`python -c pass`: {small['python_ms']:.0f} ms).\n"
        )
    for error in errors:
        out.write(f"\n**Warning**: {error}\n")
    out.write("\n")
    out.write("Checks: " + ", ".join(f"{k} = {v}" for k, v in checks.items()) + "\n\n")
    out.write("Targets (issue 3; measured on this size):\n\n")
    for label, _, ok, shown in targets:
        out.write(f"- [{'x' if ok else ' '}] {label}: {shown}\n")

    result = {
        "machine": info,
        "filesystem": filesystem_of(data_dir),
        "mxcp_compact": {"version": version, "git": commit, "extra_args": args.mxcp_arg},
        "params": {"size_mib": args.size_mb, "runs": args.runs, "seed": args.seed, "now": args.now},
        "log": {k: v for k, v in stats.items() if k != "params"},
        "results": rows,
        "memory_kib": memory,
        "small_log": small,
        "checks": checks,
        "errors": errors,
        "targets": [{"target": label, "value": value, "met": ok} for label, value, ok, _ in targets],
    }
    args.json_out.parent.mkdir(parents=True, exist_ok=True)
    args.json_out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(f"JSON: {args.json_out}", file=sys.stderr)
    failed = [k for k, v in checks.items() if v is False]
    for error in errors:
        print(f"compare.py: {error}", file=sys.stderr)
    if failed:
        print(f"compare.py: CHECKS FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def _small_log(data_dir: Path, work: Path, now: str, mxcp: str, extra: list[str]) -> dict[str, float]:
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
    }


if __name__ == "__main__":
    sys.exit(main())
