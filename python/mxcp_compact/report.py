"""Render a run's outcome: the seed guide's text and JSON formats, plus notes on stderr.

Standard output carries exactly what `mxcp log-cleanup` prints (so scripts that parse it keep
working); everything extra (files, bytes, lines kept unevaluated, errors) goes to standard error
in text mode and to additional keys in JSON mode.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mxcp_compact.api import Result

__all__ = [
    "FileOutcome",
    "RunSummary",
    "append_trail",
    "displayable",
    "error_json",
    "render_json",
    "render_text",
    "trail_record",
]


def displayable(text: object) -> str:
    """Text safe to print and to encode as JSON: a file name that is not UTF-8 (held by Python
    as surrogate escapes) shows its odd bytes as `\\xNN` instead of failing the whole report."""
    return str(text).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


@dataclass(frozen=True)
class FileOutcome:
    path: Path
    result: Result | None = None
    error: str | None = None


@dataclass(frozen=True)
class RunSummary:
    dry_run: bool
    profile: str | None
    outcomes: Sequence[FileOutcome]
    elapsed_seconds: float
    notes: Sequence[str] = field(default_factory=tuple)
    skipped_reason: str | None = None
    #: Failures that are not about one log file (e.g. the deletion trail could not be written).
    run_errors: Sequence[str] = field(default_factory=tuple)
    #: The archive of deleted lines: path, lines and bytes this run added, SHA-256 of the file.
    archive: dict[str, object] | None = None
    #: Stopped by Ctrl-C: the file being compacted and the rest were left untouched.
    interrupted: bool = False

    @property
    def results(self) -> list[Result]:
        return [o.result for o in self.outcomes if o.result is not None]

    @property
    def errors(self) -> list[str]:
        return [o.error for o in self.outcomes if o.error is not None] + list(self.run_errors)

    @property
    def bytes_freed(self) -> int:
        return sum(r.bytes_in - r.bytes_out for r in self.results if r.action != "dry_run")

    @property
    def total_deleted(self) -> int:
        return sum(r.lines_deleted for r in self.results)

    def deleted_per_schema(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for result in self.results:
            for key, count in result.deleted_per_schema.items():
                totals[key] = totals.get(key, 0) + count
        return dict(sorted(totals.items()))

    def dry_run_lines(self) -> list[tuple[str, int | None, int]]:
        """(label, retention days, count) per schema, as the seed's dry-run output shows them:
        by schema name, or by name:version when versions of one name have different retention."""
        by_key: dict[tuple[str, str], tuple[int | None, int]] = {}
        for result in self.results:
            for schema in result.schemas:
                if schema.deleted:
                    key = (schema.schema_name, schema.schema_version)
                    days, count = by_key.get(key, (schema.retention_days, 0))
                    by_key[key] = (days, count + schema.deleted)
        retention_by_name: dict[str, set[int | None]] = {}
        for (name, _), (days, _) in by_key.items():
            retention_by_name.setdefault(name, set()).add(days)
        merged: dict[tuple[str, int | None], int] = {}
        for (name, version), (days, count) in sorted(by_key.items()):
            label = name if len(retention_by_name[name]) == 1 else f"{name}:{version}"
            merged[(label, days)] = merged.get((label, days), 0) + count
        return [(label, days, count) for (label, days), count in merged.items()]

    @property
    def unevaluable(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for result in self.results:
            for reason, count in result.unevaluable.items():
                totals[reason] = totals.get(reason, 0) + count
        return dict(sorted(totals.items()))

    @property
    def status(self) -> str:
        if self.interrupted:
            return "interrupted"
        if self.errors:
            return "error"
        if self.skipped_reason is not None:
            return "skipped"
        return "dry_run" if self.dry_run else "success"

    @property
    def message(self) -> str:
        if self.skipped_reason is not None:
            return self.skipped_reason
        total = self.total_deleted
        done = f"Would delete {total} records" if self.dry_run else f"Deleted {total} records"
        file_errors = [o.error for o in self.outcomes if o.error is not None]
        if file_errors:
            return f"{done}; {len(file_errors)} of {len(self.outcomes)} files failed: {file_errors[0]}"
        if self.run_errors:
            return f"{done}; {self.run_errors[0]}"
        return done


def render_text(summary: RunSummary) -> tuple[str, list[str]]:
    """(standard output, lines for standard error)."""
    out: list[str] = []
    if summary.skipped_reason is not None:
        out.append(summary.skipped_reason)
    elif summary.dry_run:
        out += ["DRY RUN: Analyzing what would be deleted...", ""]
        lines = summary.dry_run_lines()
        if lines:
            for label, days, count in lines:
                out.append(f"  {label} (retention: {days} days): {count} records")
            out += ["", f"Total records that would be deleted: {summary.total_deleted}", ""]
            out.append("Run without --dry-run to actually delete these records.")
        else:
            out.append("No records would be deleted.")
    else:
        out += ["Applying retention policies...", ""]
        per_schema = summary.deleted_per_schema()
        if per_schema:
            out.append("Deleted records by schema:")
            out += [f"  {key}: {count} records" for key, count in per_schema.items()]
            out += ["", f"Total records deleted: {summary.total_deleted}"]
        else:
            out.append("No records were deleted.")
    return "\n".join(out) + "\n", _notes(summary)


def _notes(summary: RunSummary) -> list[str]:
    notes = [f"note: {displayable(note)}" for note in summary.notes]
    if summary.archive:
        archive = summary.archive
        notes.append(f"note: archived {archive['lines']} deleted lines to {displayable(archive['path'])}")
    unevaluable = summary.unevaluable
    if unevaluable:
        total = sum(unevaluable.values())
        detail = ", ".join(f"{reason}: {count}" for reason, count in unevaluable.items())
        notes.append(f"note: {total} lines could not be evaluated and were kept ({detail})")
    notes += [f"error: {displayable(error)}" for error in summary.errors]
    return notes


def render_json(summary: RunSummary) -> bytes:
    import orjson

    document = {
        "status": summary.status,
        "message": displayable(summary.message),
        "deleted_per_schema": summary.deleted_per_schema(),
        "profile": summary.profile,
        "dry_run": summary.dry_run,
        "files": [_file_json(outcome) for outcome in summary.outcomes],
        "bytes_before": sum(r.bytes_in for r in summary.results),
        "bytes_after": sum(r.bytes_out for r in summary.results),
        "bytes_freed": summary.bytes_freed,
        "archive": summary.archive,
        "lines_kept_unevaluated": sum(summary.unevaluable.values()),
        "unevaluable": summary.unevaluable,
        "notes": [displayable(note) for note in summary.notes],
        "errors": [displayable(error) for error in summary.errors],
        "elapsed_seconds": round(summary.elapsed_seconds, 6),
    }
    return orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n"


def _file_json(outcome: FileOutcome) -> dict[str, object]:
    result = outcome.result
    if result is None:
        return {"path": displayable(outcome.path), "action": "error", "error": displayable(outcome.error)}
    return {
        "path": displayable(result.path),
        "action": result.action,
        "lines": result.lines_in,
        "deleted": result.lines_deleted,
        "bytes_before": result.bytes_in,
        "bytes_after": result.bytes_out,
        "deleted_per_schema": result.deleted_per_schema,
        "unevaluable": dict(result.unevaluable),
        "appended_bytes": result.appended_bytes,
    }


def error_json(message: str) -> bytes:
    import orjson

    return orjson.dumps({"status": "error", "message": message}, option=orjson.OPT_INDENT_2) + b"\n"


def trail_record(summary: RunSummary) -> dict[str, object]:
    """One line of the deletion trail: what was deleted, when, by whom, where."""
    import getpass
    import socket
    from datetime import datetime, timezone

    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return {
        "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "host": socket.gethostname(),
        "user": user,
        "pid": os.getpid(),
        "profile": summary.profile,
        "dry_run": summary.dry_run,
        "status": summary.status,
        "message": displayable(summary.message),
        "deleted_per_schema": summary.deleted_per_schema(),
        "files": [_file_json(outcome) for outcome in summary.outcomes],
        "bytes_before": sum(r.bytes_in for r in summary.results),
        "bytes_after": sum(r.bytes_out for r in summary.results),
        "bytes_freed": summary.bytes_freed,
        "archive": summary.archive["path"] if summary.archive else None,
        "archive_sha256": summary.archive["sha256"] if summary.archive else None,
        "errors": [displayable(error) for error in summary.errors],
    }


def append_trail(path: Path, summary: RunSummary) -> None:
    """Appends the run's trail record to `path` as one JSON line, fsynced."""
    import orjson

    line = orjson.dumps(trail_record(summary)) + b"\n"
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
    try:
        os.write(descriptor, line)
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
