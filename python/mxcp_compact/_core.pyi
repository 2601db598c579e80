"""Type stubs for the Rust core (rust/lib.rs)."""

from os import PathLike
from typing import Any, Literal

__version__: str

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

class Progress:
    """Bytes and lines decided so far (updated per window), and a stop request."""

    def __init__(self) -> None: ...
    def counts(self) -> tuple[int, int]: ...
    def cancel(self) -> None: ...

class Archive:
    """Deleted lines of one run, appended to PATH (.gz gzip, .zst zstd, else plain)."""

    def __init__(self, path: str | PathLike[str]) -> None: ...
    def counts(self) -> tuple[int, int]:
        """(lines, uncompressed bytes) archived so far."""

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
) -> dict[str, Any]:
    """One file pass with the GIL released. Raises FileNotFoundError, PermissionError,
    ValueError or OSError with a message that names the file."""

def decide_lines(data: bytes, rules: Rules, now_ns: int) -> list[str | None]:
    """Per line of data (split after each newline): None if deleted, else why it is kept."""

def survey_file(path: str | PathLike[str], rules: Rules, now_ns: int) -> dict[str, Any]:
    """Buckets (schema_name, schema_version, month, records, bytes), oldest_ns, newest_ns, and
    the dry-run tally keys of compact_file."""

def parse_record_timestamp(text: str) -> int | None: ...
def parse_now(text: str) -> int | None: ...
