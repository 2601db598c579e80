"""`--metrics FILE`: the run's figures in Prometheus text exposition format, for node_exporter's
textfile collector, so that "cleanup has not succeeded for 2 days" and "audit log over 1 GB"
are ordinary alerts.

The file is written atomically (a temp beside it, fsynced, renamed over it), so the collector
never reads half a file. A failed run still updates the run time and status but never the
success time: the last success time is carried over from the file it replaces.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["RunMetrics", "last_success", "render", "write_metrics"]

PREFIX = "mxcp_compact"
_SUCCESS = re.compile(rf"^{PREFIX}_last_success_timestamp_seconds(?:\{{[^}}]*\}})? ([0-9.eE+-]+)$", re.M)


@dataclass(frozen=True)
class RunMetrics:
    """What one command knows; a figure it does not know is None or empty and is left out."""

    command: str
    profile: str | None
    success: bool
    finished_at: float
    duration_seconds: float
    deleted_per_schema: dict[str, int] = field(default_factory=dict)
    log_bytes: int | None = None
    unevaluable_lines: int | None = None
    future_records: int | None = None
    #: schema key -> age in seconds of its oldest record.
    oldest_record_age_seconds: dict[str, float] = field(default_factory=dict)
    #: For verify: records past their retention still on disk.
    expired_records: int | None = None


def _labels(**labels: str | None) -> str:
    shown = {name: value for name, value in labels.items() if value is not None}
    if not shown:
        return ""
    return "{" + ",".join(f'{name}="{_escape(value)}"' for name, value in shown.items()) + "}"


def _escape(value: str) -> str:
    """A label value as the exposition format spells it: backslash, quote and newline escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _family(name: str, kind: str, help_text: str, samples: list[tuple[str, float]]) -> list[str]:
    if not samples:
        return []
    full = f"{PREFIX}_{name}"
    lines = [f"# HELP {full} {help_text}", f"# TYPE {full} {kind}"]
    lines += [f"{full}{labels} {_number(value)}" for labels, value in samples]
    return lines


def _number(value: float) -> str:
    """Integral values without a fraction, others as Python's shortest round-tripping form."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def render(metrics: RunMetrics, last_success_at: float | None) -> str:
    """The exposition text; `last_success_at` is the success time to keep when this run failed."""
    base = {"command": metrics.command, "profile": metrics.profile}
    success_at = metrics.finished_at if metrics.success else last_success_at
    lines: list[str] = []
    lines += _family(
        "last_run_timestamp_seconds",
        "gauge",
        "When the last run finished (Unix time).",
        [(_labels(**base), metrics.finished_at)],
    )
    lines += _family(
        "last_run_success", "gauge", "1 if the last run succeeded, else 0.", [(_labels(**base), float(metrics.success))]
    )
    lines += _family(
        "last_success_timestamp_seconds",
        "gauge",
        "When a run last succeeded (Unix time).",
        [] if success_at is None else [(_labels(**base), success_at)],
    )
    lines += _family(
        "run_duration_seconds", "gauge", "How long the last run took.", [(_labels(**base), metrics.duration_seconds)]
    )
    deleted = [
        (_labels(**base, schema=schema), float(count)) for schema, count in sorted(metrics.deleted_per_schema.items())
    ]
    lines += _family(
        "records_deleted", "gauge", "Records the last run deleted (or, dry, would delete), by schema.", deleted
    )
    lines += _optional(
        "log_bytes", "Size of the profile's audit logs after the run, in bytes.", base, metrics.log_bytes
    )
    lines += _optional(
        "unevaluable_lines", "Lines kept because they could not be evaluated.", base, metrics.unevaluable_lines
    )
    lines += _optional(
        "future_records", "Records dated more than a day after now (clock skew).", base, metrics.future_records
    )
    lines += _optional("expired_records", "Records past their retention still on disk.", base, metrics.expired_records)
    ages = [(_labels(**base, schema=schema), age) for schema, age in sorted(metrics.oldest_record_age_seconds.items())]
    lines += _family("oldest_record_age_seconds", "gauge", "Age of the oldest record, by schema.", ages)
    return "\n".join(lines) + "\n"


def _optional(name: str, help_text: str, base: dict[str, str | None], value: int | None) -> list[str]:
    return [] if value is None else _family(name, "gauge", help_text, [(_labels(**base), float(value))])


def last_success(path: Path) -> float | None:
    """The success time recorded in an earlier metrics file, if any."""
    try:
        found = _SUCCESS.search(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return None
    return float(found.group(1)) if found else None


def write_metrics(path: Path, metrics: RunMetrics) -> None:
    """Writes the metrics file atomically; raises OSError when it cannot."""
    text = render(metrics, last_success(path))
    temp = path.with_name(f".{path.name}.tmp")
    descriptor = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        os.write(descriptor, text.encode("utf-8"))
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    temp.replace(path)
