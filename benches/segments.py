#!/usr/bin/env python3
"""Many files against one: the same generated MXCP log as one file and split into segments.

    python benches/segments.py --size-mb 10240 --segments 200 --runs 2 --keep-data /var/tmp/bench
    python benches/segments.py --size-mb 64 --segments 16 --runs 1     # quick check

The log (generated as by compare.py, seeded) is split at line boundaries into N files of about
equal size, named like MXCP's own segments (`logs-bench-20260101T000000-NNN.jsonl`, beside
`logs-bench_schemas.jsonl`), so they get the same retention. Then, alternating: a dry run of the
one file, a dry run of the directory of segments, a real run of a fresh copy of each (made and
synced before the clock starts). The table gives the median wall time, MB/s, and the segments'
time over the one file's; the deleted counts of both must be equal and match the generator.
Markdown to stdout, figures to --json-out.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path
from typing import IO, Any, NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parent))

from compare import (
    LOG,
    MB,
    REGISTRY,
    REPO,
    Method,
    MiB,
    _median,
    bench_dirs,
    filesystem_of,
    machine,
    measure,
    prepare_data,
    product_command,
    split,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=float, default=10240, help="total log size in MiB (default 10240)")
    parser.add_argument("--segments", type=int, default=200, help="number of segment files (default 200)")
    parser.add_argument("--runs", type=int, default=2, help="repetitions of each method (default 2)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--now", default="2026-11-27T00:00:00Z", help="retention instant (--now)")
    parser.add_argument("--keep-data", type=Path, help="generate the log here once and reuse it")
    parser.add_argument("--json-out", type=Path, default=REPO / "benches" / "results" / "segments.json")
    args = parser.parse_args(argv)
    mxcp = product_command()
    if mxcp is None:
        parser.error("mxcp-compact is not installed (run make build)")
    with bench_dirs(args.keep_data, "segments-") as (data_dir, work):
        return _run(args, data_dir, work, mxcp)


class Dirs(NamedTuple):
    """The dry runs' one file and segments, and where the real runs get fresh copies of them; each
    directory with the registry."""

    one: Path
    many: Path
    real_one: Path
    real_many: Path


def _run(args: argparse.Namespace, data_dir: Path, work: Path, mxcp: str) -> int:
    master, stats = prepare_data(data_dir, args.size_mb, args.seed, args.now)
    registry = master.with_name(master.name.replace(".jsonl", "_schemas.jsonl"))
    size = master.stat().st_size
    needed = 4.2 * size
    if shutil.disk_usage(work).free < needed:
        raise SystemExit(f"segments.py: need {needed / MiB:.0f} MiB free in {work}")
    dirs = Dirs(*(work / n for n in ("one", "many", "real-one", "real-many")))
    for directory in dirs:
        directory.mkdir()
        shutil.copyfile(registry, directory / REGISTRY)
    # A copy, not a hard link: a dry run refuses a hard-linked log, as the real run does.
    shutil.copyfile(master, dirs.one / LOG)
    print(f"splitting {master.name} into {args.segments} segments", file=sys.stderr, flush=True)
    segments = split(master, dirs.many, args.segments)
    methods = _methods(args, mxcp, dirs, segments)
    for rep in range(args.runs):
        for method in methods:
            run = measure(method)
            print(f"  run {rep + 1}/{args.runs} {method.name}: {run.seconds:.3f} s", file=sys.stderr, flush=True)

    checks = _checks(methods, dirs, stats)
    rows, ratios = _rows(methods, size)
    document = {"params": vars(args) | {"keep_data": str(args.keep_data), "json_out": str(args.json_out)}}
    document |= {"machine": machine(), "bytes": size, "rows": rows, "ratios": ratios, "checks": checks}
    _write_markdown(sys.stdout, args, work, document)
    args.json_out.parent.mkdir(parents=True, exist_ok=True)
    args.json_out.write_text(json.dumps(document, indent=2))
    return 0 if all(checks.values()) else 1


def _methods(args: argparse.Namespace, mxcp: str, dirs: Dirs, segments: list[Path]) -> list[Method]:
    """Dry runs of the one file and of the segments, then real runs of fresh copies of each."""

    def fresh(source: list[Path], target: Path) -> None:
        for path in target.glob("logs-bench*.jsonl"):
            if path.name != REGISTRY:
                path.unlink()
        for path in source:
            shutil.copyfile(path, target / path.name)
        os.sync()

    common = ["log-cleanup", "--json", "--now", args.now]
    return [
        Method("dry run, one file", lambda: [mxcp, *common, "--dry-run", "--path", str(dirs.one / LOG)]),
        Method(f"dry run, {args.segments} segments", lambda: [mxcp, *common, "--dry-run", "--path", str(dirs.many)]),
        Method(
            "real run, one file",
            lambda: [mxcp, *common, "--path", str(dirs.real_one / LOG)],
            setup=lambda: fresh([dirs.one / LOG], dirs.real_one),
            note="fresh copy",
        ),
        Method(
            f"real run, {args.segments} segments",
            lambda: [mxcp, *common, "--path", str(dirs.real_many)],
            setup=lambda: fresh(segments, dirs.real_many),
            note="fresh copies",
        ),
    ]


def _checks(methods: list[Method], dirs: Dirs, stats: dict[str, Any]) -> dict[str, bool]:
    deleted = [json.loads(m.runs[-1].stdout)["deleted_per_schema"] for m in methods]
    return {
        "all_runs_delete_what_the_generator_says": all(d == stats["deleted_per_schema"] for d in deleted),
        "kept_bytes_equal": sum(p.stat().st_size for p in dirs.real_many.glob("logs-bench-*.jsonl"))
        == (dirs.real_one / LOG).stat().st_size
        == stats["bytes"] - stats["deleted_bytes"],
    }


def _rows(methods: list[Method], size: int) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """The table's rows, and the segments' median time over the one file's (dry and real runs)."""
    rows = []
    for method in methods:
        times = [r.seconds for r in method.runs]
        rows.append({"method": method.name, "median_s": _median(times), "times_s": times, "note": method.note})
    for row in rows:
        row["mb_per_s"] = size / MB / row["median_s"]
    ratios = {
        "dry_run_segments_over_one": rows[1]["median_s"] / rows[0]["median_s"],
        "real_run_segments_over_one": rows[3]["median_s"] / rows[2]["median_s"],
    }
    return rows, ratios


def _write_markdown(out: IO[str], args: argparse.Namespace, work: Path, document: dict[str, Any]) -> None:
    info, size, ratios, checks = document["machine"], document["bytes"], document["ratios"], document["checks"]
    title = f"One file against {args.segments} segments: {size / MiB:.0f} MiB of MXCP log, {args.runs} runs each"
    out.write(f"## {title}\n\n")
    out.write(f"- Machine: {info['nproc']} CPUs, {info['cpu_model']}, {info['memory_gib']:.1f} GiB RAM\n")
    out.write(f"- Disk: {filesystem_of(work)}; segments of {size / args.segments / MiB:.0f} MiB\n\n")
    out.write("| method | median s | MB/s | runs s | notes |\n|---|---:|---:|---|---|\n")
    for row in document["rows"]:
        runs = ", ".join(f"{t:.2f}" for t in row["times_s"])
        out.write(f"| {row['method']} | {row['median_s']:.3f} | {row['mb_per_s']:.0f} | {runs} | {row['note']} |\n")
    out.write(
        f"\nSegments over one file: dry run {ratios['dry_run_segments_over_one']:.2f}x, "
        f"real run {ratios['real_run_segments_over_one']:.2f}x.\n\nChecks: "
        + ", ".join(f"{k} = {v}" for k, v in checks.items())
        + "\n"
    )


if __name__ == "__main__":
    sys.exit(main())
