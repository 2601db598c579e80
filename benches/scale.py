#!/usr/bin/env python3
"""Cost against size: the same generator at two sizes, dry and real runs, and peak memory.

    python benches/scale.py --sizes-mb 1024 4096 --runs 3 --keep-data /var/tmp/bench
    python benches/scale.py --sizes-mb 4 16 --runs 1                  # quick check

Alternating runs of `mxcp-compact --dry-run` and of a real run (on a fresh synced copy) on each
size; the table gives the median wall time of each and the ratio of the larger size's time to
the smaller's, against the ratio of the sizes. Peak RssAnon of one extra real and dry run on the
larger log is sampled from /proc/PID/status every 2 ms. Markdown to stdout, figures to
--json-out.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from compare import (
    LOG,
    REGISTRY,
    REPO,
    Method,
    _median,
    bench_dirs,
    machine,
    measure,
    peak_rss_anon,
    prepare_data,
    product_command,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes-mb", type=float, nargs=2, default=[1024, 4096], metavar=("SMALL", "LARGE"))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--now", default="2026-11-27T00:00:00Z")
    parser.add_argument("--keep-data", type=Path, help="generate the logs here once and reuse them")
    parser.add_argument("--json-out", type=Path, default=REPO / "benches" / "results" / "scale.json")
    args = parser.parse_args(argv)
    mxcp = product_command()
    if mxcp is None:
        parser.error("mxcp-compact is not installed (run make build)")
    with bench_dirs(args.keep_data, "scale-") as (data_dir, work):
        return _run(args, data_dir, work, mxcp)


def _run(args: argparse.Namespace, data_dir: Path, work: Path, mxcp: str) -> int:
    common = ["log-cleanup", "--json", "--now", args.now]
    logs, methods = [], []
    for size_mib in args.sizes_mb:
        master, stats = prepare_data(data_dir, size_mib, args.seed, args.now)
        target = work / f"{size_mib:g}"
        target.mkdir()
        shutil.copyfile(master.with_name(master.name.replace(".jsonl", "_schemas.jsonl")), target / REGISTRY)

        def fresh(master: Path = master, target: Path = target) -> None:
            (target / LOG).unlink(missing_ok=True)
            shutil.copyfile(master, target / LOG)
            os.sync()

        logs.append((master, stats, target, fresh))
        methods.append(
            Method(f"dry run, {size_mib:g} MiB", lambda m=master: [mxcp, *common, "--dry-run", "--path", str(m)])
        )
        methods.append(
            Method(f"real run, {size_mib:g} MiB", lambda t=target: [mxcp, *common, "--path", str(t / LOG)], setup=fresh)
        )
    order = [methods[0], methods[2], methods[1], methods[3]]
    for rep in range(args.runs):
        for method in order:
            run = measure(method)
            print(f"  run {rep + 1}/{args.runs} {method.name}: {run.seconds:.3f} s", file=sys.stderr, flush=True)
    checks = {}
    for index, (_, stats, _, _) in enumerate(logs):
        for method in methods[2 * index : 2 * index + 2]:
            report = json.loads(method.runs[-1].stdout)
            checks[f"{method.name} deletes what the generator says"] = (
                report["deleted_per_schema"] == stats["deleted_per_schema"]
            )
    large_master, _, large_target, large_fresh = logs[1]
    memory = {
        "real": peak_rss_anon([mxcp, *common, "--path", str(large_target / LOG)], large_fresh),
        "dry_run": peak_rss_anon([mxcp, *common, "--dry-run", "--path", str(large_master)], None),
    }
    medians = {m.name: _median([r.seconds for r in m.runs]) for m in methods}
    size_ratio = logs[1][0].stat().st_size / logs[0][0].stat().st_size
    ratios = {
        "dry_run": medians[methods[2].name] / medians[methods[0].name],
        "real_run": medians[methods[3].name] / medians[methods[1].name],
    }
    info = machine()
    out = sys.stdout
    out.write(f"## Cost against size: {args.sizes_mb[0]:g} MiB and {args.sizes_mb[1]:g} MiB, {args.runs} runs each\n\n")
    out.write(f"- Machine: {info['nproc']} CPUs, {info['cpu_model']}, {info['memory_gib']:.1f} GiB RAM\n\n")
    out.write("| method | median s | runs s |\n|---|---:|---|\n")
    for method in methods:
        runs = ", ".join(f"{r.seconds:.2f}" for r in method.runs)
        out.write(f"| {method.name} | {medians[method.name]:.3f} | {runs} |\n")
    out.write(
        f"\nLarger over smaller ({size_ratio:.2f}x the bytes): dry run {ratios['dry_run']:.2f}x, "
        f"real run {ratios['real_run']:.2f}x.\n"
        f"Peak RssAnon on the larger log: real run {memory['real']['rss_anon_peak_kib'] / 1024:.1f} MiB, "
        f"dry run {memory['dry_run']['rss_anon_peak_kib'] / 1024:.1f} MiB.\n\nChecks: "
        + ", ".join(f"{k} = {v}" for k, v in checks.items())
        + "\n"
    )
    args.json_out.parent.mkdir(parents=True, exist_ok=True)
    document = {"machine": info, "sizes_mb": args.sizes_mb, "medians_s": medians, "ratios": ratios}
    document |= {"size_ratio": size_ratio, "memory_kib": memory, "checks": checks}
    document["runs_s"] = {m.name: [r.seconds for r in m.runs] for m in methods}
    args.json_out.write_text(json.dumps(document, indent=2))
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
