"""Type stubs for the Rust core (rust/lib.rs)."""

from os import PathLike
from pathlib import Path
from typing import Literal

__version__: str
# "plain", or "pgo" for the profile-guided build of benches/pgo_build.sh (make build-pgo, make wheel).
BUILD: str

class Rules:
    """Retention rules; see mxcp_compact.rules.Retention for the precedence."""

    def __init__(
        self,
        overrides: list[tuple[str, int | None]],
        all_schemas_set: bool,
        all_schemas_days: int | None,
        registry: list[tuple[str, int, int | None, bool]],
    ) -> None: ...
    def policy(self, schema_name: str, version: int) -> tuple[Literal["days", "forever", "none"], int | None]: ...
    def canonical(self) -> str:
        """The rules as one text, equal for equal rules whatever their order (what a count was
        computed under)."""

class Progress:
    """Bytes and lines decided so far (updated per window), and a stop request."""

    def __init__(self) -> None: ...
    def counts(self) -> tuple[int, int]: ...
    def cancel(self) -> None: ...

class Archive:
    """Deleted lines of one run, appended to PATH (.gz gzip, .zst zstd, else plain). Waits up
    to `wait_s` for another run holding it (BlockingIOError after that; KeyboardInterrupt
    when `progress` is cancelled meanwhile)."""

    def __init__(self, path: str | PathLike[str], wait_s: float = 0.0, progress: Progress | None = None) -> None: ...
    def counts(self) -> tuple[int, int]:
        """(lines, uncompressed bytes) archived so far."""
    def repaired(self) -> int:
        """Bytes of an unfinished member, left by a run that stopped, cut off when it was opened
        (the archive is held by this run, an exclusive flock, until the object is collected)."""
    def discard_if_empty(self) -> bool:
        """Removes the archive if this run created it and wrote nothing to it (an empty .gz or
        .zst is no stream: zcat fails on it); True if it did."""

class ReadLock:
    """A shared flock on the log at `path` for a reader outside the core (the export's load),
    held until `release`: waits for an in-place shift of it to settle, and does not wait for a
    lock this process holds itself (a cleanup's own archive)."""

    def __init__(self, path: str | PathLike[str]) -> None: ...
    def release(self) -> None: ...

class DirLock:
    """The run lock on one audit directory (an flock on the directory itself), taken once for
    all its files; raises BlockingIOError (an OSError) naming the holder's pid when another run holds it, and
    KeyboardInterrupt when `progress` is cancelled while it waits."""

    def __init__(self, dir: str | PathLike[str], wait_s: float = 0.0, progress: Progress | None = None) -> None: ...
    def release(self) -> None: ...

class SchemaCount:
    """Records of one `schema_name:schema_version` seen in a file."""

    schema_name: str
    schema_version: str
    policy: Literal["days", "forever", "none"]
    retention_days: int | None
    deleted: int
    deleted_bytes: int
    kept: int
    #: The oldest kept record whose timestamp was read; None when there is none.
    oldest_kept_ns: int | None
    #: Some kept records were not read (no policy): their age is unknown.
    kept_age_unknown: bool
    def __init__(
        self,
        *,
        schema_name: str,
        schema_version: str,
        policy: str,
        retention_days: int | None,
        deleted: int,
        deleted_bytes: int,
        kept: int,
        oldest_kept_ns: int | None = None,
        kept_age_unknown: bool = False,
    ) -> None: ...
    @property
    def key(self) -> str: ...

class FileResult:
    """What one file pass did (or, in a dry run, would do); the JSON report's field names."""

    path: Path
    target: Path
    action: Literal["rewritten", "removed", "unchanged", "dry_run"]
    lines: int
    deleted: int
    bytes_before: int
    bytes_after: int
    deleted_bytes: int
    retained: int
    unmanaged: int
    blank: int
    unevaluable: dict[str, int]
    schemas: tuple[SchemaCount, ...]
    appended_bytes: int
    stale_temp_removed: bool
    note: str | None
    bytes_scrubbed: int
    #: A stop request ended the pass early (an in-place run, right after its collapse): what
    #: it did is final and counted, the rest of the file was not read.
    stopped_early: bool
    def __init__(
        self,
        *,
        path: str | PathLike[str],
        target: str | PathLike[str],
        action: str,
        lines: int,
        deleted: int,
        bytes_before: int,
        bytes_after: int,
        deleted_bytes: int,
        retained: int,
        unmanaged: int,
        blank: int,
        unevaluable: dict[str, int],
        schemas: tuple[SchemaCount, ...],
        appended_bytes: int,
        stale_temp_removed: bool,
        note: str | None = None,
        bytes_scrubbed: int = 0,
        stopped_early: bool = False,
    ) -> None: ...
    @property
    def lines_kept(self) -> int: ...
    @property
    def lines_unevaluated(self) -> int: ...
    @property
    def deleted_per_schema(self) -> dict[str, int]: ...

class Survey:
    """What `stats` reads of one file."""

    lines: int
    #: Lines of JSON whitespace only.
    blank: int
    bytes: int
    deleted: int
    deleted_bytes: int
    unevaluable: dict[str, int]
    schemas: tuple[SchemaCount, ...]
    #: (schema_name, schema_version, month, records, bytes), in order of first line.
    buckets: tuple[tuple[str, str, str, int, int], ...]
    oldest_ns: int | None
    newest_ns: int | None
    #: The oldest record past its retention: timestamp and line number (from 1).
    oldest_expired_ns: int | None
    oldest_expired_line: int | None
    #: Records dated more than a day after now, and the line number of the first.
    future_records: int
    first_future_line: int | None

def compact_file(
    path: str | PathLike[str],
    rules: Rules,
    now_ns: int,
    dry_run: bool,
    remove_if_empty: bool,
    threads: int = 0,
    lock_wait_s: float = 0.0,
    in_place: bool = False,
    archive: Archive | None = None,
    progress: Progress | None = None,
    locked: DirLock | None = None,
    erase: list[tuple[str, str]] | None = None,
    scrub: bool = False,
) -> FileResult:
    """One file pass with the GIL released; with `erase` (FIELD, VALUE) conditions it deletes the
    valid records meeting all of them instead of applying retention. Raises FileNotFoundError, PermissionError,
    ValueError or OSError with a message that names the file; an in-place pass that failed before it
    changed the log sets `log_unchanged = True` on the exception."""

def survey_file(path: str | PathLike[str], rules: Rules, now_ns: int, threads: int = 0) -> Survey:
    """The stats survey of one file, with the same decisions as a dry run."""

# Test-only (rust/lib.rs, mod testing): the decisions the reference is compared with.
def decide_lines(data: bytes, rules: Rules, now_ns: int) -> list[str | None]:
    """Per line of data (split after each newline): None if deleted, else why it is kept.

    Decided four ways (each line alone and all of data as one span, each with the native and
    the portable byte searches); AssertionError if any two differ."""

def parse_record_timestamp(text: str) -> int | None: ...
def parse_now(text: str) -> int | None: ...
def read_ahead(path: str | PathLike[str], length: int) -> None:
    """Starts the kernel reading the first length bytes of the log at path (what is not cached
    already), two 1 MiB chunks in flight so that the file being compacted meanwhile keeps its
    reads first, from a thread of the core's own; returns at once. Failures are ignored."""

def prefetch(path: str | PathLike[str]) -> None:
    """Starts reading the head of the log at path into the page cache, a chunk or two at a time
    (so that other reads need not wait long behind it), from a thread of the core's own; returns
    at once. A non-regular file is left alone; failures are ignored."""

def refuse_pending_shift(path: str | PathLike[str]) -> None:
    """Raises OSError (naming the file) when an interrupted in-place compaction left `path` half
    moved, as a dry run does; FileNotFoundError when it is gone."""

def scrub_limit(path: str | PathLike[str]) -> str | None:
    """Why overwriting in place cannot work on the filesystem holding path, or None."""
