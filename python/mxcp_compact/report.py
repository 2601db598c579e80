"""Render a run's outcome: the seed guide's text and JSON formats, plus notes on stderr.

Standard output carries exactly the seed guide's `mxcp log-cleanup` output (so scripts that parse
it keep working), plus, only when something failed, a line per failed file after it: a report
must not read "No records were deleted." when the truth is "could not". Everything else extra
(files, bytes, lines kept unevaluated, full error messages) goes to standard error in text mode
and to additional keys in JSON mode. `mxcp_style` renders MXCP 0.12.3's own output instead.

An erasure (the erase command) is reported by the same renderers, in its own words ("erased",
the conditions, `erased_per_schema`), so that nobody reads it as a retention run.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections import namedtuple
from collections.abc import Sequence
from pathlib import Path

from mxcp_compact.api import Result
from mxcp_compact.paths import resolved_or_same

__all__ = [
    "FileOutcome",
    "RunSummary",
    "append_trail",
    "describe_where",
    "displayable",
    "error_json",
    "failure_lines",
    "nothing_deleted",
    "render_json",
    "render_text",
    "short_reason",
    "stderr_notes",
    "trail_record",
    "utc_instant",
]


def displayable(text: object) -> str:
    """Text safe to print and to encode as JSON: a file name that is not UTF-8 (held by Python
    as surrogate escapes) shows its odd bytes as `\\xNN` instead of failing the whole report, and
    a control character in one (a newline, an escape sequence) shows as `\\xNN` too, so that every
    message stays on its line and cannot steer the terminal."""
    shown = str(text).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    if shown.isprintable():
        return shown
    return shown.translate(_CONTROL_ESCAPES)


#: `\\xNN` for every C0 control character and DEL.
_CONTROL_ESCAPES = {code: f"\\x{code:02x}" for code in (*range(0x20), 0x7F)}


# Named tuples rather than frozen dataclasses (see registry.RegistryEntry).
class FileOutcome(
    namedtuple(
        "FileOutcome",
        [
            "path",  # Path
            "result",  # Result | None
            "error",  # str | None
            # bool: a failed file is as it was before the run: true of every copy-and-rename failure, while a
            # failed in-place compaction may already have dropped part of the expired records.
            "untouched",
            # int: bytes an unfinished in-place compaction freed before it stopped (the run that
            # finishes it counts them, with its records).
            "freed_so_far",
        ],
        defaults=(None, None, True, 0),
    )
):
    """One file of a run: its result, or the error that kept it from being compacted."""

    __slots__ = ()


class RunSummary(
    namedtuple(
        "RunSummary",
        [
            "dry_run",  # bool
            "profile",  # str | None
            "outcomes",  # Sequence[FileOutcome]
            "elapsed_seconds",  # float
            "notes",  # Sequence[str]
            "skipped_reason",  # str | None
            # Sequence[str]: failures that are not about one log file (e.g. the deletion trail could not be written).
            "run_errors",
            # dict[str, object] | None: the archive of deleted lines: path, lines and bytes this run added, SHA-256
            # of the file.
            "archive",
            # int: the signal that stopped the run (SIGINT, SIGTERM; 0: none): the file being compacted and the
            # rest were left untouched.
            "interrupted",
            # Sequence[tuple[str, str]] | None: the erase command's (FIELD, VALUE) conditions: the run erased the
            # records meeting them instead of applying retention. None: a retention run.
            "erase",
        ],
        defaults=((), None, (), None, 0, None),
    )
):
    """What a run did: each file's outcome, the notes and errors, the archive written."""

    __slots__ = ()

    @property
    def verb(self) -> str:
        """What the run does to records: "delete", or "erase" for an erasure."""
        return "delete" if self.erase is None else "erase"

    @property
    def done(self) -> str:
        """What happened to the records: "deleted", or "erased" by an erasure."""
        return "deleted" if self.erase is None else "erased"

    @property
    def results(self) -> list[Result]:
        return [o.result for o in self.outcomes if o.result is not None]

    @property
    def errors(self) -> list[str]:
        return [o.error for o in self.outcomes if o.error is not None] + list(self.run_errors)

    @property
    def bytes_freed(self) -> int:
        return sum(r.bytes_before - r.bytes_after for r in self.results if r.action != "dry_run")

    @property
    def freed_so_far(self) -> int:
        """Bytes freed by in-place compactions that stopped before their end (not in `bytes_freed`)."""
        return sum(o.freed_so_far for o in self.outcomes)

    @property
    def bytes_scrubbed(self) -> int:
        return sum(r.bytes_scrubbed for r in self.results)

    @property
    def total_deleted(self) -> int:
        return sum(r.deleted for r in self.results)

    def deleted_per_schema(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for result in self.results:
            for key, count in result.deleted_per_schema.items():
                totals[key] = totals.get(key, 0) + count
        return dict(sorted(totals.items()))

    def dry_run_lines(self) -> list[tuple[str, int | None, int]]:
        """(label, retention days, count) per schema, as the seed's dry-run output shows them:
        by schema name, or by name:version when versions of one name have different retention."""
        # By retention too: one schema's records in the logs and in the [archive] directory
        # are deleted at different ages.
        by_key: dict[tuple[str, str, int | None], int] = {}
        for result in self.results:
            for schema in result.schemas:
                if schema.deleted:
                    key = (schema.schema_name, schema.schema_version, schema.retention_days)
                    by_key[key] = by_key.get(key, 0) + schema.deleted
        retention_by_name: dict[str, set[int | None]] = {}
        for name, _, days in by_key:
            retention_by_name.setdefault(name, set()).add(days)
        merged: dict[tuple[str, int | None], int] = {}
        for (name, version, days), count in sorted(by_key.items(), key=lambda item: (item[0][:2], item[0][2] or 0)):
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
    def failed(self) -> list[FileOutcome]:
        return [o for o in self.outcomes if o.error is not None]

    @property
    def failed_count(self) -> str:
        """Like "1 of 3 files could not be compacted" ("checked", for a dry run)."""
        total = len(self.outcomes)
        verb = "checked" if self.dry_run else "compacted"
        return f"{len(self.failed)} of {total} file{'' if total == 1 else 's'} could not be {verb}"

    @property
    def message(self) -> str:
        if self.skipped_reason is not None:
            return self.skipped_reason
        total = self.total_deleted
        parts = [f"Would {self.verb} {total} records" if self.dry_run else f"{self.done.capitalize()} {total} records"]
        failed = self.failed
        if failed:
            detail = self.failed_count
            if not self.dry_run and all(o.untouched for o in failed):
                detail += f" (nothing was {self.done} from {'it' if len(failed) == 1 else 'them'})"
            detail += f": {failed[0].error}"
            if len(failed) > 1:
                detail += f" (and {len(failed) - 1} more, see errors)"
            parts.append(detail)
        if self.run_errors:
            parts.append(self.run_errors[0])
        return "; ".join(parts)


def render_text(summary: RunSummary) -> tuple[str, list[str]]:
    """(standard output, lines for standard error)."""
    out: list[str] = []
    done = summary.done
    where = "" if summary.erase is None else f" where {describe_where(summary.erase)}"
    if summary.skipped_reason is not None:
        out.append(summary.skipped_reason)
    elif summary.dry_run:
        out += [f"DRY RUN: Analyzing what would be {done}{where}...", ""]
        lines = _dry_run_lines(summary)
        if lines:
            out += lines
            out += ["", f"Total records that would be {done}: {summary.total_deleted}", ""]
            out.append(f"Run without --dry-run to actually {summary.verb} these records.")
        else:
            out.append(nothing_deleted(summary))
    else:
        out += ["Applying retention policies..." if summary.erase is None else f"Erasing records{where}...", ""]
        per_schema = summary.deleted_per_schema()
        if per_schema:
            out.append(f"{done.capitalize()} records by schema:")
            out += [f"  {displayable(key)}: {count} records" for key, count in per_schema.items()]
            out += ["", f"Total records {done}: {summary.total_deleted}"]
        else:
            out.append(nothing_deleted(summary))
    out += failure_lines(summary)
    return "\n".join(out) + "\n", stderr_notes(summary)


def _dry_run_lines(summary: RunSummary) -> list[str]:
    """A dry run's count lines: by schema and retention, or for an erasure, whose records go
    whatever their retention, by schema key as the real run lists them."""
    if summary.erase is not None:
        return [f"  {displayable(key)}: {count} records" for key, count in summary.deleted_per_schema().items()]
    lines = summary.dry_run_lines()
    return [f"  {displayable(label)} (retention: {days} days): {count} records" for label, days, count in lines]


def describe_where(conditions: Sequence[tuple[str, str]]) -> str:
    """Conditions as the core reads them, e.g. `user_id = "zoe" and duration_ms = 42`: a value
    that the core takes as text is shown quoted, so that 42 and "42" cannot be confused."""
    import orjson

    shown = []
    for name, value in conditions:
        digits = value.removeprefix("-")
        integer = digits.isascii() and digits.isdigit() and (digits == "0" or not digits.startswith("0"))
        if not (integer or value in ("null", "true", "false") or value.startswith('"')):
            value = orjson.dumps(displayable(value)).decode()
        shown.append(f"{displayable(name)} = {displayable(value)}")
    return " and ".join(shown)


def nothing_deleted(summary: RunSummary) -> str:
    """The guide's "No records were deleted." sentence, which must not stand alone when a file
    failed: nothing deleted then means "could not", not "nothing to do"."""
    sentence = f"No records would be {summary.done}" if summary.dry_run else f"No records were {summary.done}"
    return f"{sentence}: {summary.failed_count}." if summary.failed else f"{sentence}."


#: The Gregorian calendar repeats every 400 years: 146,097 days.
_CYCLE_SECONDS = 146_097 * 86_400
#: 2000-01-01T00:00:00Z, where `utc_instant` counts its cycles from, in seconds since the epoch.
_CYCLE_START_SECONDS = 946_684_800


def utc_instant(ns: int) -> str:
    """The instant `ns` (nanoseconds since the epoch) in UTC, ISO 8601 to the second (truncated),
    exactly: integer arithmetic (a float rounded 9999-12-31T23:59:59.9999999Z up into year
    10000). An offset can move a record into year 0 or 10000 (`0001-01-01T00:00:00+01:00`),
    outside datetime's range, so the date is read at the same place of a 400-year cycle."""
    from datetime import datetime, timedelta, timezone

    cycles, into_cycle = divmod(ns // 1_000_000_000 - _CYCLE_START_SECONDS, _CYCLE_SECONDS)
    moment = datetime(2000, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=into_cycle)
    return f"{moment.year + 400 * cycles:04}{moment.isoformat(timespec='seconds')[4:]}"


def short_reason(outcome: FileOutcome) -> str:
    """What went wrong with a file, without its path and without the advice after the first "; "
    (the full message is on standard error and in the JSON `errors`)."""
    text = displayable(outcome.error)
    # The core names the file by its resolved path, the plan by the path as given.
    for named in (outcome.path, resolved_or_same(outcome.path)):
        prefix = f"{displayable(named)}: "
        if text.startswith(prefix):
            text = text[len(prefix) :]
            break
    return text.split("; ", 1)[0].removeprefix("not compacted, ")


def failure_lines(summary: RunSummary) -> list[str]:
    """Standard output's account of every failure, after the counts (empty when all went well)."""
    lines = []
    for outcome in summary.failed:
        where = f"{displayable(outcome.path)} ({short_reason(outcome)})"
        if summary.dry_run:
            lines.append(f"Not checked: {where}; nothing is counted for it.")
        elif outcome.untouched:
            lines.append(f"Not compacted: {where}; nothing was {summary.done} from it.")
        else:
            records = "expired" if summary.erase is None else "matching"
            freed = f"; {outcome.freed_so_far} bytes freed so far, counted by the next run" * bool(outcome.freed_so_far)
            lines.append(
                f"Not fully compacted: {where}; the in-place run may have {summary.done} some of its {records}"
                f" records before it stopped (not counted above{freed})."
            )
    lines += [f"Failed: {displayable(error)}" for error in summary.run_errors]
    return ["", *lines] if lines else []


def stderr_notes(summary: RunSummary) -> list[str]:
    notes = [f"note: {displayable(note)}" for note in summary.notes]
    if summary.archive:
        archive = summary.archive
        kept = archive.get("lines_still_in_logs", 0)
        where = displayable(archive["path"])
        if kept:
            notes.append(
                f"note: archived {archive['lines']} lines to {where}: {archive['lines'] - kept} {summary.done},"
                f" {kept} of files left as they were (the next run archives them again)"
            )
        else:
            notes.append(f"note: archived {archive['lines']} {summary.done} lines to {where}")
    if summary.bytes_scrubbed:
        notes.append(f"note: overwrote {summary.bytes_scrubbed} bytes of deleted lines before releasing them (--scrub)")
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
        f"{summary.done}_per_schema": summary.deleted_per_schema(),
        **_where_json(summary),
        "profile": summary.profile,
        "dry_run": summary.dry_run,
        "files": [_file_json(outcome, summary.done) for outcome in summary.outcomes],
        "bytes_before": sum(r.bytes_before for r in summary.results),
        "bytes_after": sum(r.bytes_after for r in summary.results),
        "bytes_freed": summary.bytes_freed,
        "bytes_scrubbed": summary.bytes_scrubbed,
        "archive": _archive_json(summary),
        "lines_kept_unevaluated": sum(summary.unevaluable.values()),
        "unevaluable": summary.unevaluable,
        "notes": [displayable(note) for note in summary.notes],
        "errors": [displayable(error) for error in summary.errors],
        "elapsed_seconds": round(summary.elapsed_seconds, 6),
    }
    return orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n"


def _archive_json(summary: RunSummary) -> dict[str, object] | None:
    """The run's archive, its path shown as every other path is (a name that is not UTF-8 would
    fail the whole document)."""
    if not summary.archive:
        return None
    return {**summary.archive, "path": displayable(summary.archive["path"])}


def _where_json(summary: RunSummary) -> dict[str, object]:
    """An erasure's conditions as given (`FIELD=VALUE`); nothing for a retention run."""
    if summary.erase is None:
        return {}
    return {"where": [displayable(f"{name}={value}") for name, value in summary.erase]}


def _file_json(outcome: FileOutcome, done: str = "deleted") -> dict[str, object]:
    """One file's entry; `done` names its counts ("deleted", or "erased" by an erasure)."""
    result = outcome.result
    if result is None:
        failed: dict[str, object] = {"path": displayable(outcome.path), "action": "error"}
        if not outcome.untouched:
            failed["bytes_freed_so_far"] = outcome.freed_so_far
        return {**failed, "error": displayable(outcome.error)}
    return {
        "path": displayable(result.path),
        "action": result.action,
        "lines": result.lines,
        done: result.deleted,
        "bytes_before": result.bytes_before,
        "bytes_after": result.bytes_after,
        f"{done}_per_schema": result.deleted_per_schema,
        "unevaluable": dict(result.unevaluable),
        "appended_bytes": result.appended_bytes,
        "bytes_scrubbed": result.bytes_scrubbed,
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
        f"{summary.done}_per_schema": summary.deleted_per_schema(),
        **_where_json(summary),
        "files": [_file_json(outcome, summary.done) for outcome in summary.outcomes],
        "bytes_before": sum(r.bytes_before for r in summary.results),
        "bytes_after": sum(r.bytes_after for r in summary.results),
        "bytes_freed": summary.bytes_freed,
        "bytes_scrubbed": summary.bytes_scrubbed,
        "archive": displayable(summary.archive["path"]) if summary.archive else None,
        "archive_sha256": summary.archive["sha256"] if summary.archive else None,
        "errors": [displayable(error) for error in summary.errors],
    }


def append_trail(path: Path, summary: RunSummary) -> None:
    """Appends the run's trail record to `path` as one JSON line, fsynced, or raises OSError
    leaving the trail as it was: a line cut by a full disk is taken back, since the next run's
    line would run into it. A trail whose last line a crash cut gets a line break first."""
    import orjson

    line = orjson.dumps(trail_record(summary)) + b"\n"
    created = not os.path.lexists(path)
    descriptor = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
    try:
        size = os.fstat(descriptor).st_size
        if size and os.pread(descriptor, 1, size - 1) != b"\n":
            line = b"\n" + line
        try:
            written = os.write(descriptor, line)
            if written != len(line):
                raise OSError(errno.ENOSPC, f"wrote {written} of {len(line)} bytes: {os.strerror(errno.ENOSPC)}")
            os.fsync(descriptor)
        except OSError:
            os.ftruncate(descriptor, size)
            if created:  # an empty trail this run made would only hide that none was written
                with contextlib.suppress(OSError):
                    path.unlink()
            raise
    finally:
        os.close(descriptor)
