#!/usr/bin/env python3
"""Build a demo MXCP project with realistic multi-MB audit logs: `python benches/make_demo.py DIR`.

The story: the project ran MXCP 0.11 (single ever-growing `audit/logs-default.jsonl`, `+00:00`
timestamps, schema_version 1) until it upgraded to 0.12.3 about 125 days ago; since then MXCP
writes rotated segments `logs-default-YYYYMMDDTHHMMSS.jsonl` (named by the UTC time they were
started; `Z` timestamps, schema_version 2), and every `mxcp` CLI run left an empty segment. The
oldest segment is entirely past retention (the real run deletes it). Profile `production` logs to
`audit/prod/logs-production.jsonl` (segments only). Each stem has its schema registry
`<stem>_schemas.jsonl` (mxcp.endpoints 90 days, app.payments 365, app.debug 7, app.forever kept).

Timestamps are relative to `--now` (default: the current time), so that `mxcp-compact log-cleanup`
run right after, without `--now`, has the work described here to do. About 30 MiB in total.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

from generate import MiB, Stats, generate, parse_time

SITE = """\
mxcp: 1
project: demo-shop
profile: default
profiles:
  default:
    audit:
      enabled: true
  production:
    audit:
      enabled: true
      path: audit/prod/logs-production.jsonl
"""

# (directory, stem, MXCP version, MiB, window start and end in days before now, schema mix, seed)
_ENDPOINTS_AND_DEBUG = {"mxcp.endpoints": 0.85, "app.debug": 0.15}
_FILES = [
    ("audit", "logs-default", "0.11", 6, 420, 125, None, 11),
    ("audit", "logs-default", "0.12", 4, 125, 95, _ENDPOINTS_AND_DEBUG, 12),  # fully expired
    ("audit", "logs-default", "0.12", 4, 95, 60, None, 13),
    ("audit", "logs-default", "0.12", 4, 60, 20, None, 14),
    ("audit", "logs-default", "0.12", 4, 20, 0.01, None, 15),
    ("audit/prod", "logs-production", "0.12", 6, 240, 30, None, 21),
    ("audit/prod", "logs-production", "0.12", 3, 30, 0.01, None, 22),
]


def _segment_name(stem: str, start: datetime) -> str:
    return f"{stem}-{start.strftime('%Y%m%dT%H%M%S')}.jsonl"


def build(root: Path, now: datetime) -> list[Stats]:
    root.mkdir(parents=True, exist_ok=True)
    if any(root.iterdir()):
        raise SystemExit(f"make_demo.py: {root} is not empty; remove it first")
    (root / "mxcp-site.yml").write_text(SITE, encoding="utf-8")
    stats = []
    for directory, stem, version, mib, start_days, end_days, mix, seed in _FILES:
        folder = root / directory
        folder.mkdir(parents=True, exist_ok=True)
        start = now - timedelta(days=start_days)
        end = now - timedelta(days=end_days)
        name = f"{stem}.jsonl" if version == "0.11" else _segment_name(stem, start)
        stats.append(
            generate(
                folder / name,
                mib * MiB,
                seed=seed,
                now=now,
                mxcp_version=version,
                start=start,
                end=end,
                schema_mix=mix,
            )
        )
    # The empty segment every `mxcp log` / `mxcp log-cleanup` run leaves behind.
    (root / "audit" / _segment_name("logs-default", now - timedelta(minutes=10))).touch()
    return stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dir", type=Path, help="directory to create (must be empty or absent)")
    parser.add_argument("--now", help="the instant the logs are relative to (default: the current time)")
    args = parser.parse_args(argv)
    now = parse_time(args.now) if args.now else datetime.now(timezone.utc).replace(microsecond=0)
    stats = build(args.dir, now)
    total = sum(s.bytes for s in stats)
    deleted = sum(s.deleted_bytes for s in stats)
    lines = sum(s.lines for s in stats)
    deleted_lines = sum(s.deleted_lines for s in stats)
    files = len(stats) + 1
    print(
        f"demo MXCP project in {args.dir}: {files} audit log files ({total / MiB:.1f} MiB, {lines} records; "
        f"{deleted_lines} records = {deleted / total:.0%} of bytes past retention as of "
        f"{now.isoformat().replace('+00:00', 'Z')}), profiles default and production"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
