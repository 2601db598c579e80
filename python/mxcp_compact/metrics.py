"""`--metrics FILE`: the run's figures in Prometheus text exposition format, for node_exporter's
textfile collector, so that "cleanup has not succeeded for 2 days" and "audit log over 1 GB"
are ordinary alerts.

The file is written atomically (a temp beside it, fsynced, renamed over it), so the collector
never reads half a file. A failed run still updates the run time and status but never the
success time: the last success time of the same command and profile is carried over from the
file it replaces. Each write replaces the whole file, so each command (and profile) needs a file
of its own.

Every family is a gauge with the same HELP text and the same label names whichever command
writes it: the textfile collector merges the files of a directory and rejects a family whose
HELP or labels differ between them.
"""

from __future__ import annotations

import os
import time
from collections import namedtuple
from pathlib import Path

# typing.TYPE_CHECKING without importing typing (this module is loaded by log-cleanup --metrics).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from mxcp_compact.report import RunSummary
    from mxcp_compact.stats import LogStats
    from mxcp_compact.verify import Verification

__all__ = [
    "RunMetrics",
    "cleanup_metrics",
    "last_success",
    "render",
    "skipped_metrics",
    "stats_metrics",
    "verify_metrics",
    "write_metrics",
    "write_or_explain",
]

PREFIX = "mxcp_compact"


# A named tuple rather than a frozen dataclass, as log-cleanup --metrics loads this module (see
# registry.RegistryEntry).
class RunMetrics(
    namedtuple(
        "RunMetrics",
        [
            "command",  # str
            # str | None: "" for runs on --path files (an empty label value is what Prometheus stores as no label).
            "profile",
            "success",  # bool: the command exited 0
            "finished_at",  # float
            "duration_seconds",  # float
            # dict[str, int]: `schema_name:schema_version` -> records deleted, 0 for a schema seen but not deleted from.
            "deleted_per_schema",
            "log_bytes",  # int | None
            "unevaluable_lines",  # int | None
            "future_records",  # int | None
            # float | None: age of the oldest record of any schema at the instant retention was evaluated: exact,
            # but overall, because the survey knows the oldest timestamp per file, not per schema.
            "oldest_record_age_seconds",
            "expired_records",  # int | None: records past their retention still on disk (verify, stats)
        ],
        defaults=(None, None, None, None, None, None),
    )
):
    """What one command knows; a figure it does not know is None or empty and is left out."""

    __slots__ = ()

    def __new__(
        cls,
        command: str,
        profile: str | None,
        success: bool,
        finished_at: float,
        duration_seconds: float,
        deleted_per_schema: dict[str, int] | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> RunMetrics:
        # Figures given no `deleted_per_schema` get a dict of their own, as a dataclass's default_factory gives.
        deleted = {} if deleted_per_schema is None else deleted_per_schema
        return super().__new__(cls, command, profile, success, finished_at, duration_seconds, deleted, *args, **kwargs)


def _labels(**labels: str | None) -> str:
    return "{" + ",".join(f'{name}="{_escape(value or "")}"' for name, value in labels.items()) + "}"


def _escape(value: str) -> str:
    """A label value as the exposition format spells it: backslash, quote and newline escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _family(name: str, help_text: str, samples: list[tuple[str, float]]) -> list[str]:
    if not samples:
        return []
    full = f"{PREFIX}_{name}"
    lines = [f"# HELP {full} {help_text}", f"# TYPE {full} gauge"]
    lines += [f"{full}{labels} {_number(value)}" for labels, value in samples]
    return lines


def _number(value: float) -> str:
    """Integral values without a fraction, others as Python's shortest round-tripping form."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _base(metrics: RunMetrics) -> str:
    return _labels(command=metrics.command, profile=metrics.profile)


def render(metrics: RunMetrics, last_success_at: float | None) -> str:
    """The exposition text; `last_success_at` is the success time to keep when this run failed."""
    base = _base(metrics)
    success_at = metrics.finished_at if metrics.success else last_success_at
    lines = _family(
        "last_run_timestamp_seconds", "When the last run finished (Unix time).", [(base, metrics.finished_at)]
    )
    lines += _family("last_run_success", "1 if the last run exited 0, else 0.", [(base, float(metrics.success))])
    lines += _family(
        "last_success_timestamp_seconds",
        "When a run last exited 0 (Unix time).",
        [] if success_at is None else [(base, success_at)],
    )
    lines += _family("last_run_duration_seconds", "How long the last run took.", [(base, metrics.duration_seconds)])
    deleted = []
    for key, count in sorted(metrics.deleted_per_schema.items()):
        schema, _, version = key.rpartition(":")
        labels = _labels(command=metrics.command, profile=metrics.profile, schema=schema, schema_version=version)
        deleted.append((labels, float(count)))
    lines += _family("records_deleted", "Records the last log-cleanup deleted, by schema and version.", deleted)
    for name, help_text, value in (
        ("log_bytes", "Size of the audit logs, in bytes (for log-cleanup: after the run).", metrics.log_bytes),
        ("unevaluable_lines", "Lines kept because they could not be evaluated.", metrics.unevaluable_lines),
        ("future_records", "Records dated more than a day after now (clock skew).", metrics.future_records),
        ("expired_records", "Records past their retention still on disk.", metrics.expired_records),
        (
            "oldest_record_age_seconds",
            "Age of the oldest record, of any schema, when retention was evaluated.",
            metrics.oldest_record_age_seconds,
        ),
    ):
        lines += _family(name, help_text, [] if value is None else [(base, float(value))])
    return "\n".join(lines) + "\n"


def cleanup_metrics(summary: RunSummary, success: bool, duration: float) -> RunMetrics:
    """log-cleanup's figures: deleted per schema (0 for every schema seen), the logs' size after
    the run (a file that failed counts at its size now) and the lines left unevaluated."""
    deleted: dict[str, int] = {}
    for result in summary.results:
        for schema in result.schemas:
            deleted[schema.key] = deleted.get(schema.key, 0) + schema.deleted
    skipped = summary.skipped_reason is not None
    size = sum(r.bytes_after for r in summary.results) + sum(_size_of(o.path) for o in summary.failed)
    return RunMetrics(
        "log-cleanup",
        summary.profile,
        success,
        time.time(),
        duration,
        deleted_per_schema=deleted,
        log_bytes=None if skipped else size,
        unevaluable_lines=None if skipped else sum(summary.unevaluable.values()),
    )


def verify_metrics(result: Verification, now_ns: int, success: bool, duration: float) -> RunMetrics:
    """verify's figures, over the files it could read."""
    read = [item for item in result.files if item.error is None]
    return RunMetrics(
        "verify",
        result.profile,
        success,
        time.time(),
        duration,
        unevaluable_lines=sum(item.unevaluable for item in read),
        future_records=sum(item.future for item in read),
        oldest_record_age_seconds=_age(now_ns, [item.oldest_ns for item in read]),
        expired_records=result.expired,
    )


def stats_metrics(stats: LogStats, now_ns: int, success: bool, duration: float) -> RunMetrics:
    """stats' figures, over the files it could read."""
    return RunMetrics(
        "stats",
        stats.profile,
        success,
        time.time(),
        duration,
        log_bytes=stats.total_bytes,
        unevaluable_lines=sum(stats.unevaluable.values()),
        future_records=stats.future_records,
        oldest_record_age_seconds=_age(now_ns, [stats.oldest_ns]),
        expired_records=stats.would_delete[0],
    )


def skipped_metrics(command: str, profile: str | None, duration: float) -> RunMetrics:
    """A run that had nothing to look at (audit disabled for the profile): a success, no figures."""
    return RunMetrics(command, profile, True, time.time(), duration)


def _age(now_ns: int, oldest: list[int | None]) -> float | None:
    known = [ns for ns in oldest if ns is not None]
    return (now_ns - min(known)) / 1e9 if known else None


def _size_of(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def last_success(path: Path, command: str, profile: str | None) -> float | None:
    """The success time of `command` on `profile` recorded in an earlier metrics file, if any."""
    start = f"{PREFIX}_last_success_timestamp_seconds{_labels(command=command, profile=profile)} "
    try:
        # Bounded: a metrics file is a few KiB, and the path was checked to be a regular file.
        with path.open("rb") as earlier:
            text = earlier.read(1 << 20).decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    # Lines end at "\n" only: splitlines() also splits at U+2028 and the like, which a profile's
    # name in a label may hold, and the success time was then lost.
    for line in text.split("\n"):
        if line.startswith(start):
            try:
                return float(line[len(start) :])
            except ValueError:
                return None
    return None


def write_metrics(path: Path, metrics: RunMetrics) -> None:
    """Writes the metrics file atomically; raises OSError when it cannot (leaving no temp)."""
    text = render(metrics, last_success(path, metrics.command, metrics.profile))
    # The pid keeps two runs writing the same file from sharing a temp; the collector reads *.prom only.
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        try:
            os.write(descriptor, text.encode("utf-8"))
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        temp.replace(path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def write_or_explain(path: Path, metrics: RunMetrics) -> str | None:
    """Writes the metrics file; returns the one-line problem when it cannot, else None."""
    try:
        write_metrics(path, metrics)
    except OSError as error:
        return f"{path}: cannot write the metrics file: {error.strerror or error}"
    return None
