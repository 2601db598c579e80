"""`mxcp-compact stats`: the seed guide's "check log distribution" and "monitor log growth" as
one command. The counting is done by the Rust core in one read of each file (`survey_file`),
with the same decisions as a dry run, so "would delete" equals what `log-cleanup` deletes."""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from mxcp_compact.config import ConfigError, RunConfig

if TYPE_CHECKING:
    from mxcp_compact import _core

__all__ = ["LogStats", "months_with_gaps", "parse_size", "render_stats_json", "render_stats_text", "survey"]

_UNITS = {"": 1, "B": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
_BAR_WIDTH = 30
#: A UTC month as the core names it: year 0 and year 10000 are reachable through an offset.
_MONTH = re.compile(r"[0-9]{4,5}-[0-9]{2}")
#: Longer runs of months without records are shown as one line of text.
_MAX_EMPTY_MONTHS_SHOWN = 12


@dataclass
class SchemaStats:
    records: int = 0
    bytes: int = 0
    would_delete: int = 0
    would_delete_bytes: int = 0
    retention: str = "no policy"


@dataclass
class LogStats:
    profile: str | None
    files: list[tuple[Path, int]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    schemas: dict[str, SchemaStats] = field(default_factory=dict)
    months: dict[str, tuple[int, int]] = field(default_factory=dict)
    oldest_ns: int | None = None
    newest_ns: int | None = None
    records: int = 0
    unevaluable: dict[str, int] = field(default_factory=dict)
    #: Records dated more than a day after now (clock skew).
    future_records: int = 0
    #: Each schema's retentions over the files: the logs' and the [archive] directory's differ.
    retentions: dict[str, list[str]] = field(default_factory=dict)

    @property
    def total_bytes(self) -> int:
        return sum(size for _, size in self.files)

    @property
    def would_delete(self) -> tuple[int, int]:
        return (
            sum(s.would_delete for s in self.schemas.values()),
            sum(s.would_delete_bytes for s in self.schemas.values()),
        )

    @property
    def span_days(self) -> float | None:
        if self.oldest_ns is None or self.newest_ns is None:
            return None
        return max((self.newest_ns - self.oldest_ns) / 86_400e9, 1.0)

    @property
    def growth_per_day(self) -> float | None:
        span = self.span_days
        return None if span is None else self.total_bytes / span


def parse_size(text: str) -> int:
    """`500M`, `1G`, `1.5GiB`, `2048` (bytes); binary units; exact (no float), at most 2**63 - 1
    bytes (what the JSON and the metrics carry)."""
    from fractions import Fraction

    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:I?B)?\s*", text.upper())
    if match is None:
        raise ConfigError(f"--warn-size {text!r}: expected a size such as 500M or 1G")
    size = int(Fraction(match.group(1)) * _UNITS[match.group(2)])
    if size > _MOST_BYTES:
        raise ConfigError(f"--warn-size {text!r}: more than the largest size, {_MOST_BYTES} bytes (8 EiB)")
    return size


_MOST_BYTES = 2**63 - 1


def survey(run: RunConfig) -> LogStats:
    from mxcp_compact import _core

    result = LogStats(profile=run.plan.profile)
    for log in run.plan.files:
        try:
            surveyed = _core.survey_file(log.path, run.rules[log.rules_key], run.now_ns)
        except (OSError, ValueError) as error:
            result.errors.append(str(error))
            # It still takes its room on the disk: the size check must see it.
            with contextlib.suppress(OSError):
                result.files.append((log.path, log.path.stat().st_size))
            continue
        _merge(result, log.path, surveyed)
    return result


def _merge(result: LogStats, path: Path, survey: _core.Survey) -> None:
    result.files.append((path, survey.bytes))
    result.records += survey.lines
    result.future_records += survey.future_records
    for schema_name, schema_version, month, records, size in survey.buckets:
        key = f"{schema_name}:{schema_version}" if schema_name else "(unreadable lines)"
        schema = result.schemas.setdefault(key, SchemaStats())
        schema.records += records
        schema.bytes += size
        month = month or "(no timestamp)"
        seen_records, seen_size = result.months.get(month, (0, 0))
        result.months[month] = (seen_records + records, seen_size + size)
    for entry in survey.schemas:
        schema = result.schemas.setdefault(entry.key, SchemaStats())
        schema.would_delete += entry.deleted
        schema.would_delete_bytes += entry.deleted_bytes
        text = {"days": f"{entry.retention_days} days", "forever": "forever"}.get(entry.policy, "no policy")
        seen = result.retentions.setdefault(entry.key, [])
        if text not in seen:
            seen.append(text)
        schema.retention = " / ".join(seen)
    for reason, count in survey.unevaluable.items():
        result.unevaluable[reason] = result.unevaluable.get(reason, 0) + count
    for key, pick in (("oldest_ns", min), ("newest_ns", max)):
        value = getattr(survey, key)
        if value is not None:
            current = getattr(result, key)
            setattr(result, key, value if current is None else pick(current, value))


def _size(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(count) < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} TiB"


def _instant(ns: int | None) -> str:
    from mxcp_compact.report import utc_instant

    return "-" if ns is None else utc_instant(ns)


def months_with_gaps(months: dict[str, tuple[int, int]]) -> list[tuple[str, tuple[int, int]]]:
    """Every month from the first to the last, those without records as (0, 0): a gap in the
    logs is information. Buckets that are not months ("(no timestamp)") come first, sorted."""
    named = sorted((key, value) for key, value in months.items() if not _MONTH.fullmatch(key))
    counts = {_month_index(key): value for key, value in months.items() if _MONTH.fullmatch(key)}
    if not counts:
        return named
    every = range(min(counts), max(counts) + 1)
    return named + [(f"{index // 12:04}-{index % 12 + 1:02}", counts.get(index, (0, 0))) for index in every]


def _month_index(month: str) -> int:
    """Months since year 0's January: `YYYY-MM`, or `YYYYY-MM` for year 10000."""
    year, number = month.split("-")
    return int(year) * 12 + int(number) - 1


def _month_lines(stats: LogStats) -> list[str]:
    """A line and a bar per month; a run of more than a year without records is one line."""
    from itertools import groupby

    months = months_with_gaps(stats.months)
    biggest = max((size for _, (_, size) in months), default=0)
    lines = []
    for empty, run in groupby(months, key=lambda item: item[1][0] == 0):
        group = list(run)
        if empty and len(group) > _MAX_EMPTY_MONTHS_SHOWN:
            lines.append(f"  {group[0][0]} to {group[-1][0]}: no records ({len(group)} months)")
            continue
        for month, (records, size) in group:
            bar = "█" * max(1, round(_BAR_WIDTH * size / biggest)) if size else ""
            lines.append(f"  {month:<14} {records:>10} {_size(size):>11}  {bar}".rstrip())
    return lines


def render_stats_text(stats: LogStats, limit: int | None) -> str:
    from mxcp_compact.report import displayable

    lines = [
        f"Audit logs: {len(stats.files)} files, {_size(stats.total_bytes)}, {stats.records} lines"
        + (f" (profile {stats.profile})" if stats.profile else ""),
        f"Oldest record: {_instant(stats.oldest_ns)}   newest: {_instant(stats.newest_ns)}",
    ]
    if stats.growth_per_day is not None:
        lines.append(f"Growth: {_size(stats.growth_per_day)} per day over {stats.span_days:.0f} days")
    lines += ["", "Per schema:", f"  {'schema':<28} {'records':>10} {'size':>11}  {'retention':<10} would delete"]
    for key, schema in sorted(stats.schemas.items()):
        delete = f"{schema.would_delete} ({_size(schema.would_delete_bytes)})" if schema.would_delete else "-"
        shown = displayable(key)
        lines.append(f"  {shown:<28} {schema.records:>10} {_size(schema.bytes):>11}  {schema.retention:<10} {delete}")
    lines += ["", "Per month (UTC):", *_month_lines(stats)]
    count, size = stats.would_delete
    lines += ["", f"A cleanup now would delete {count} records ({_size(size)})."]
    if limit is not None:
        verdict = "EXCEEDED" if stats.total_bytes > limit else "ok"
        lines.append(f"Size limit {_size(limit)}: {verdict} ({_size(stats.total_bytes)})")
    return "\n".join(lines) + "\n"


def render_stats_json(stats: LogStats, limit: int | None) -> bytes:
    import orjson

    from mxcp_compact.report import displayable

    count, size = stats.would_delete
    document = {
        "profile": stats.profile,
        "files": [{"path": displayable(path), "bytes": size_} for path, size_ in stats.files],
        "total_bytes": stats.total_bytes,
        "lines": stats.records,
        "oldest": _instant(stats.oldest_ns) if stats.oldest_ns is not None else None,
        "newest": _instant(stats.newest_ns) if stats.newest_ns is not None else None,
        "growth_bytes_per_day": stats.growth_per_day,
        "schemas": {key: vars(schema) for key, schema in sorted(stats.schemas.items())},
        "months": {month: {"records": r, "bytes": b} for month, (r, b) in months_with_gaps(stats.months)},
        "would_delete": {"records": count, "bytes": size},
        "unevaluable": stats.unevaluable,
        "warn_size": limit,
        "over_warn_size": limit is not None and stats.total_bytes > limit,
        "errors": [displayable(error) for error in stats.errors],
    }
    return orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n"
