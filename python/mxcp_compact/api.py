"""The Python API: compact one log file with given retention rules."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from mxcp_compact import _core
from mxcp_compact.discovery import registry_path_for
from mxcp_compact.registry import load_registry
from mxcp_compact.rules import Retention

# typing.TYPE_CHECKING without importing typing, which costs ~5 ms of every command's start-up.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from datetime import datetime
    from typing import Any

    from mxcp_compact.rules import Days

__all__ = ["Result", "SchemaCount", "compact", "compact_with_rules", "now_ns"]


@dataclass(frozen=True)
class SchemaCount:
    """Records of one `schema_name:schema_version` seen in a file."""

    schema_name: str
    schema_version: str
    policy: str  # "days", "forever" or "none"
    retention_days: int | None
    deleted: int
    deleted_bytes: int
    kept: int

    @property
    def key(self) -> str:
        return f"{self.schema_name}:{self.schema_version}"


@dataclass(frozen=True)
class Result:
    """What one file pass did (or, in a dry run, would do)."""

    path: Path
    target: Path
    action: str  # "rewritten", "removed", "unchanged" or "dry_run"
    lines_in: int
    lines_deleted: int
    bytes_in: int
    bytes_out: int
    deleted_bytes: int
    retained: int
    unmanaged: int
    blank: int
    unevaluable: Mapping[str, int]
    schemas: tuple[SchemaCount, ...]
    appended_bytes: int
    stale_temp_removed: bool
    #: Something worth telling the operator that is not an error (e.g. a writer that lingered).
    note: str | None = None

    @property
    def lines_out(self) -> int:
        return self.lines_in - self.lines_deleted

    @property
    def lines_unevaluated(self) -> int:
        """Lines kept because they could not be evaluated (broken JSON, missing keys...)."""
        return sum(self.unevaluable.values())

    @property
    def deleted_per_schema(self) -> dict[str, int]:
        return {s.key: s.deleted for s in self.schemas if s.deleted}

    @classmethod
    def from_core(cls, raw: Mapping[str, Any]) -> Result:
        return cls(
            path=Path(raw["path"]),
            target=Path(raw["target"]),
            action=raw["action"],
            lines_in=raw["lines"],
            lines_deleted=raw["deleted_lines"],
            bytes_in=raw["bytes_before"],
            bytes_out=raw["bytes_after"],
            deleted_bytes=raw["deleted_bytes"],
            retained=raw["retained"],
            unmanaged=raw["unmanaged"],
            blank=raw["blank"],
            unevaluable=dict(raw["unevaluable"]),
            schemas=tuple(SchemaCount(**schema) for schema in raw["schemas"]),
            appended_bytes=raw["appended_bytes"],
            stale_temp_removed=raw["stale_temp_removed"],
            note=raw.get("note"),
        )


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
) -> Result:
    """Delete the records of `path` that are past retention, keeping every other line byte for byte.

    `retention` is a `Retention`, or a mapping of schema name to days (or "forever"). When it
    carries no registry entries, the registry beside the file (`<stem>_schemas.jsonl`) is used
    if present. `in_place` keeps the file's inode and needs no free space for a copy (see the
    README's Safety section). Raises FileNotFoundError, PermissionError, ValueError (bad rules, not a regular
    file, hard links) or OSError (disk full, changed under us, another run holds the directory).
    """
    if retention is None:
        retention = Retention()
    elif not isinstance(retention, Retention):
        retention = Retention(schemas=dict(retention))
    log = Path(path)
    if not retention.registry:
        registry = registry_path_for(log)
        if registry is not None:
            retention = retention.with_registry(load_registry(registry)[0])
    return compact_with_rules(
        log, retention.to_core(), now_ns(now), dry_run, remove_if_empty, threads, lock_wait, in_place
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
) -> Result:
    """`compact` with rules already built by `Retention.to_core()` (shared across files), and
    optionally a `_core.Archive` receiving the deleted lines and a `_core.Progress`."""
    raw = _core.compact_file(
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
    )
    return Result.from_core(raw)
