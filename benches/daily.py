#!/usr/bin/env python3
"""The daily job: a directory of MXCP segments cleaned yesterday, plus today's new segment.

    python benches/daily.py --size-mb 1024 --segments 20 --runs 3      # as in the README
    python benches/daily.py --size-mb 8 --segments 4 --runs 1           # quick check

A seeded log (benches/generate.py, about 1% of the bytes expiring a day) is split into
`--segments` MXCP-named segments and one more, today's. Yesterday's real run (with the
incremental index) cleans the segments; today's segment is added; then, alternating and with
the page cache dropped before each command when run as root (warm otherwise): today's dry run
with the index, the same with `--full`, and `cat` of the directory. Finally one real run with
the index, and one `--full` real run of a twin copy, which must leave the same bytes. Markdown to
stdout, figures to --json-out.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

BENCHES = Path(__file__).resolve().parent
COMMAND = [sys.executable, "-m", "mxcp_compact"]
YESTERDAY, TODAY = "2026-11-27T00:00:00Z", "2026-11-28T00:00:00Z"


def drop_caches() -> bool:
    """Drops the page cache (root only); whether it did."""
    if os.geteuid() != 0:
        return False
    os.sync()
    Path("/proc/sys/vm/drop_caches").write_text("3\n")
    return True


def timed(command: list[str], env: dict[str, str]) -> tuple[float, str]:
    drop_caches()
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    elapsed = time.monotonic() - started
    if done.returncode not in (0,):
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.strip()}")
    return elapsed, done.stdout


def prepare(data: Path, size_mb: float, segments: int) -> tuple[Path, Path]:
    """The audit directory (segments and registry) and today's segment, apart."""
    master = data / "logs-bench.jsonl"
    generate = [sys.executable, str(BENCHES / "generate.py"), str(master), "--size-mb", str(size_mb)]
    subprocess.run([*generate, "--expired-fraction", "0.011", "--now", YESTERDAY], check=True, capture_output=True)
    audit = data / "audit"
    audit.mkdir()
    shutil.move(data / "logs-bench_schemas.jsonl", audit / "logs-bench_schemas.jsonl")
    lines = master.read_bytes().splitlines(keepends=True)
    master.unlink()
    per = -(-len(lines) // (segments + 1))
    for index in range(segments + 1):
        name = f"logs-bench-202608{index + 1:02d}T000000.jsonl"
        target = audit / name if index < segments else data / name
        target.write_bytes(b"".join(lines[index * per : (index + 1) * per]))
    return audit, data / f"logs-bench-202608{segments + 1:02d}T000000.jsonl"


def deleted(report: str) -> int:
    return sum(item["deleted"] for item in json.loads(report)["files"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=1024)
    parser.add_argument("--segments", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--data", type=Path, default=Path("bench-data") / "daily")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    shutil.rmtree(args.data, ignore_errors=True)
    args.data.mkdir(parents=True)
    env = {**os.environ, "MXCP_COMPACT_STATE_DIR": str(args.data / "state")}
    audit, today = prepare(args.data, args.size_mb, args.segments)
    cleanup = [*COMMAND, "log-cleanup", "--path", str(audit), "--json"]
    subprocess.run([*cleanup, "--now", YESTERDAY], check=True, capture_output=True, env=env)
    shutil.move(today, audit / today.name)
    twin = args.data / "twin"
    shutil.copytree(audit, twin)
    commands = {
        "dry run, index": [*cleanup, "--now", TODAY, "--dry-run"],
        "dry run, --full": [*cleanup, "--now", TODAY, "--dry-run", "--full"],
        "cat DIR/*": ["sh", "-c", f"cat {audit}/* > /dev/null"],
    }
    times: dict[str, list[float]] = {name: [] for name in commands}
    outputs: dict[str, str] = {}
    for _ in range(args.runs):
        for name, command in commands.items():
            elapsed, outputs[name] = timed(command, env)
            times[name].append(elapsed)
    real_time, real = timed([*cleanup, "--now", TODAY], env)
    full_time, full = timed([*COMMAND, "log-cleanup", "--path", str(twin), "--json", "--now", TODAY, "--full"], env)
    same = all((audit / p.name).read_bytes() == p.read_bytes() for p in twin.iterdir())
    checks = {
        "dry_runs_agree": deleted(outputs["dry run, index"]) == deleted(outputs["dry run, --full"]),
        "real_runs_agree": deleted(real) == deleted(full) == deleted(outputs["dry run, --full"]),
        "same_bytes_as_full": same,
    }
    report(args, times, {"real run, index": real_time, "real run, --full": full_time}, checks)
    shutil.rmtree(args.data, ignore_errors=True)
    if not all(checks.values()):
        raise SystemExit(f"checks failed: {checks}")


def report(args: argparse.Namespace, times: dict[str, list[float]], once: dict[str, float], checks: dict) -> None:
    cache = "cold (page cache dropped before each)" if os.geteuid() == 0 else "warm (not root)"
    cat = statistics.median(times["cat DIR/*"])
    print(f"Daily job: {args.size_mb:g} MiB in {args.segments} segments + 1 new, {args.runs} runs, {cache}\n")
    print("| command | median s | min s | max s | x cat |\n|---|---:|---:|---:|---:|")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"| {name} | {median:.3f} | {min(values):.3f} | {max(values):.3f} | {median / cat:.2f} |")
    for name, value in once.items():
        print(f"| {name} (once) | {value:.3f} | | | {value / cat:.2f} |")
    print(f"\nchecks: {checks}")
    if args.json_out:
        document = {"times": times, "once": once, "checks": checks, "cache": cache}
        args.json_out.write_text(json.dumps(document, indent=2))


if __name__ == "__main__":
    main()
