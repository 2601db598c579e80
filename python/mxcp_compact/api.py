"""The Python API: compact one log file with given retention rules."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from mxcp_compact import _core
from mxcp_compact.discovery import registry_path_for
from mxcp_compact.options import MAX_WAIT_SECONDS
from mxcp_compact.registry import load_registry
from mxcp_compact.rules import Retention

# typing.TYPE_CHECKING without importing typing, which costs ~5 ms of every command's start-up.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from datetime import datetime
    from typing import Any

    from mxcp_compact.rules import Days

__all__ = ["Result", "SchemaCount", "compact", "compact_with_rules", "now_ns"]


#: What one file pass did (or, in a dry run, would do); typed and frozen, made by the core, with
#: the JSON report's field names (`lines`, `deleted`, `bytes_before`, `bytes_after`, ...).
Result = _core.FileResult
#: Records of one `schema_name:schema_version` seen in a file.
SchemaCount = _core.SchemaCount


def now_ns(now: datetime | str | int | None) -> int:
    """An instant as nanoseconds since the epoch; naive datetimes are UTC, None is the clock."""
    if now is None:
        return time.time_ns()
    if isinstance(now, bool):
        raise TypeError("now must be a datetime, an ISO string or nanoseconds")
    if isinstance(now, int):
        return now
    # Without the datetime module loaded (the command line never needs it), `now` cannot be a
    # datetime; so it is not imported just to check.
    clock = sys.modules.get("datetime")
    if clock is not None and isinstance(now, clock.datetime):
        utc = clock.timezone.utc
        aware = now if now.tzinfo is not None else now.replace(tzinfo=utc)
        delta = aware - clock.datetime(1970, 1, 1, tzinfo=utc)
        return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000
    if isinstance(now, str):
        from mxcp_compact.rules import parse_now

        return parse_now(now)
    raise TypeError("now must be a datetime, an ISO string or nanoseconds")


def compact(
    path: str | os.PathLike[str],
    *,
    retention: Retention | Mapping[str, Days] | None = None,
    now: datetime | str | int | None = None,
    dry_run: bool = False,
    remove_if_empty: bool = False,
    threads: int = 0,
    lock_wait: float = 0.0,
    in_place: bool = False,
    scrub: bool = False,
    erase: Sequence[tuple[str, str]] | None = None,
) -> Result:
    """Delete the records of `path` that are past retention, keeping every other line byte for byte.

    `retention` is a `Retention`, or a mapping of schema name to days (or "forever"). When it
    carries no registry entries, the registry beside the file (`<stem>_schemas.jsonl`) is used
    if present. `in_place` keeps the file's inode and needs no free space for a copy (see the
    README's Safety section); `scrub` overwrites every deleted byte before its space is released.
    `now` is a datetime (naive: UTC), a string as for `--now`, or an int of nanoseconds since the
    epoch; None is the clock. `threads` is the scan threads, 0 for one per core.

    `erase`, (FIELD, VALUE) pairs, deletes instead exactly the valid records whose top-level
    FIELD equals VALUE for every pair, whatever their age (retention then only names each
    schema's policy in `schemas`): VALUE `null`, `true`, `false` or an integer is that JSON
    literal, `"..."` a JSON string (`'"42"'` is the text 42), anything else the text itself.

    Raises FileNotFoundError, PermissionError, ValueError (bad rules or erase conditions, a
    negative `threads`, not a regular file, hard links) or OSError (disk full, changed under us,
    another run holds the directory). An in-place pass that failed before it changed the log
    sets `log_unchanged = True` on the exception.
    """
    _check_arguments(threads, lock_wait, retention)
    if retention is None:
        retention = Retention()
    elif not isinstance(retention, Retention):
        retention = Retention(schemas=dict(retention))
    log = Path(path)
    if not log.name:
        raise ValueError(f"path {os.fspath(path)!r} names no file")
    if not retention.registry:
        registry = registry_path_for(log)
        if registry is not None:
            entries, _ = load_registry(registry, retention.schemas, retention.all_schemas is not None)
            retention = retention.with_registry(entries)
    return compact_with_rules(
        log,
        retention.to_core(),
        now_ns(now),
        dry_run,
        remove_if_empty,
        threads,
        lock_wait,
        in_place,
        scrub=scrub,
        erase=erase,
    )


def _check_arguments(threads: object, lock_wait: object, retention: object) -> None:
    """TypeError or ValueError naming the parameter, instead of what the binding or a dict()
    would say about a misused one ("'<' not supported between 'str' and 'int'")."""
    # The core takes an unsigned count: -1 would be "OverflowError: can't convert negative int".
    if not isinstance(threads, int) or isinstance(threads, bool):
        raise TypeError(f"threads must be an int, not {type(threads).__name__}")
    if threads < 0:
        raise ValueError(f"threads must be 0 (one per core) or a positive number of threads, not {threads}")
    if not isinstance(lock_wait, (int, float)) or isinstance(lock_wait, bool):
        raise TypeError(f"lock_wait must be a number of seconds, not {type(lock_wait).__name__}")
    if not 0 <= lock_wait <= MAX_WAIT_SECONDS:
        raise ValueError(f"lock_wait must be from 0 to {MAX_WAIT_SECONDS} seconds (a year), not {lock_wait}")
    if retention is not None and not isinstance(retention, (Retention, Mapping)):
        raise TypeError(
            f"retention must be a Retention or a mapping of schema name to days, not {type(retention).__name__}"
        )


def compact_with_rules(
    path: Path,
    rules: Any,
    now: int,
    dry_run: bool,
    remove_if_empty: bool,
    threads: int,
    lock_wait: float,
    in_place: bool = False,
    archive: Any = None,
    progress: Any = None,
    scrub: bool = False,
    locked: Any = None,
    erase: Sequence[tuple[str, str]] | None = None,
) -> Result:
    """`compact` with rules already built by `Retention.to_core()` (shared across files), and
    optionally a `_core.Archive` receiving the deleted lines, a `_core.Progress`, the
    `_core.DirLock` of the file's directory when the caller holds it for a whole run, and the
    conditions of an erasure (as for `compact`)."""
    return _core.compact_file(
        path,
        rules,
        now,
        dry_run,
        remove_if_empty,
        threads=threads,
        lock_wait_s=lock_wait,
        in_place=in_place,
        archive=archive,
        progress=progress,
        erase=None if erase is None else list(erase),
        scrub=scrub,
        locked=locked,
    )
