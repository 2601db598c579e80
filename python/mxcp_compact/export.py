"""`mxcp-compact export --duckdb FILE`: load audit logs into DuckDB table `audit_logs`.

The table has MXCP's column names. `timestamp` is stored as an ISO string normalised to UTC
(`2026-11-27T23:45:26.889423+00:00`, as MXCP's own export writes it), so the seed guide's SQL
(`DATE_TRUNC('month', timestamp::TIMESTAMP)`, `timestamp::TIMESTAMP < CURRENT_DATE - INTERVAL
'90 days'`) gives correct answers: DuckDB's `::TIMESTAMP` drops an offset such as `+05:30`
silently, which is harmless only once every value is in UTC. Lines are loaded by DuckDB's own
JSON reader (no Python loop over records); lines it cannot load are counted and reported.
"""

from __future__ import annotations

import contextlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

# typing.TYPE_CHECKING without importing typing (as in api.py).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from duckdb import DuckDBPyConnection

__all__ = ["COLUMNS", "EARLIEST_SINCE_NS", "ExportResult", "NotAllLoadable", "check_since", "export_duckdb"]

#: The earliest `--since` cutoff: DuckDB's earliest TIMESTAMPTZ, 290309-12-22 (BC) 00:00:00 UTC, in
#: nanoseconds since the epoch (the cutoff is compared in DuckDB, as microseconds in a BIGINT;
#: one further back was a raw "Conversion Error: Type INT128 ... out of range").
EARLIEST_SINCE_NS = -9_223_372_022_400_000_000 * 1000
_EARLIEST_SINCE = "290309-12-22 BC, DuckDB's earliest timestamp"

#: MXCP 0.12's record keys and the DuckDB types they are loaded as (0.11 lacks execution_events).
COLUMNS: dict[str, str] = {
    "schema_name": "VARCHAR",
    "schema_version": "BIGINT",
    "record_id": "VARCHAR",
    "timestamp": "VARCHAR",
    "operation_type": "VARCHAR",
    "operation_name": "VARCHAR",
    "operation_status": "VARCHAR",
    "duration_ms": "BIGINT",
    "caller_type": "VARCHAR",
    "user_id": "VARCHAR",
    "session_id": "VARCHAR",
    "trace_id": "VARCHAR",
    "input_data": "JSON",
    "output_data": "JSON",
    "error": "VARCHAR",
    "policies_evaluated": "JSON",
    "policy_decision": "VARCHAR",
    "policy_reason": "VARCHAR",
    "business_context": "JSON",
    "execution_events": "JSON",
    "prev_hash": "VARCHAR",
    "record_hash": "VARCHAR",
    "signature": "VARCHAR",
}


@dataclass(frozen=True)
class ExportResult:
    database: Path
    rows: int
    #: Non-blank lines of the input that DuckDB could not load (broken JSON, not an object...).
    not_loaded: int
    #: Records left out by `since` or with a timestamp that does not parse.
    filtered: int
    #: One line per named file that was not loaded at all, and why (not a regular file...).
    not_exported: tuple[str, ...] = ()


def _count_lines(path: Path) -> int:
    """Non-blank lines, counted the way the loader sees them: a compressed file's decompressed
    lines, read by the core, which raises OSError when it does not decompress (truncated, corrupt)."""
    if path.name.endswith(_COMPRESSED):
        from mxcp_compact import _core

        survey = _core.survey_file(path, _core.Rules([], False, None, []), 0, 1)
        return survey.lines - survey.blank
    count = 0
    with path.open("rb") as handle:
        for line in handle:
            if line.strip():
                count += 1
    return count


def _refuse_half_moved(path: Path) -> None:
    """Raises OSError when an interrupted in-place compaction left `path` half moved: loaded as
    it is, some of its records would be rows twice."""
    from mxcp_compact import _core

    _core.refuse_pending_shift(path)


#: Names DuckDB decompresses as it reads them, as the cleanup does.
_COMPRESSED = (".gz", ".zst")


def _hold_for_reading(path: Path, held: contextlib.ExitStack) -> None:
    """A shared lock on `path` (the core's `ReadLock`), held (in `held`) until the load has read
    it: an in-place compaction of another run holds it exclusively while it moves the lines, so
    the load waits for the shift to end instead of loading some records twice."""
    from mxcp_compact import _core

    held.callback(_core.ReadLock(path).release)


def _loadable(files: list[Path], held: contextlib.ExitStack) -> tuple[list[str], list[int], tuple[str, ...]]:
    """The files to hand DuckDB (an empty one adds nothing), their non-blank lines, and a
    one-line problem for each file that cannot be loaded: a FIFO or device is no log, and reading
    one could hang the export (the cleanup reports them the same way), a file may vanish after it
    was listed, and a compressed file cut by a crash would fail the whole load. Each file handed
    on is held for reading in `held`."""
    loadable: list[str] = []
    counts: list[int] = []
    problems: list[str] = []
    for path in files:
        try:
            info = path.stat()
            if not stat.S_ISREG(info.st_mode):
                problems.append(f"{path}: not a regular file")
            elif info.st_size > 0:
                _hold_for_reading(path, held)
                _refuse_half_moved(path)
                counts.append(_count_lines(path))
                loadable.append(str(path))
        except OSError as error:
            # The core's own errors (errno None) name the file already.
            problems.append(str(error) if error.errno is None else f"{path}: {error.strerror or error}")
    return loadable, counts, tuple(problems)


def check_since(text: str | None, since_ns: int | None, now_ns: int) -> None:
    """Raises ConfigError (a usage error, exit 2) when `--since TEXT`, which counted back from
    `now_ns` gave the cutoff `since_ns`, reaches further back than DuckDB can compare with, naming
    the largest age accepted in the same unit; checked before DuckDB is touched."""
    if text is None or since_ns is None or since_ns >= EARLIEST_SINCE_NS:
        return
    from mxcp_compact.errors import ConfigError

    unit_ns = (now_ns - since_ns) // int(text[:-1])  # a value of 0 never reaches this far back
    largest = (now_ns - EARLIEST_SINCE_NS) // unit_ns
    raise ConfigError(
        f"--since {text!r}: out of range; the largest accepted is {largest}{text[-1]} ({_EARLIEST_SINCE})"
    )


class NotAllLoadable(ValueError):
    """An all-or-nothing load found lines DuckDB cannot store as they are; nothing was inserted."""


def export_duckdb(
    files: list[Path],
    database: Path,
    since_ns: int | None,
    *,
    all_or_nothing: bool = False,
    owner_only: bool = False,
) -> ExportResult:
    """Loads the records of `files` into table `audit_logs` of `database` (created if missing).

    `owner_only` (the `--archive X.duckdb` of a cleanup, which holds deleted records): a database
    this call creates is made 0600 as soon as DuckDB has created it, before any record is loaded,
    and what DuckDB writes beside it meanwhile (its write-ahead log, which holds the records until
    the connection closes) is created without group or other bits; an existing database keeps
    its mode.

    Raises ConfigError, before DuckDB is touched, when `since_ns` is before EARLIEST_SINCE_NS."""
    if since_ns is not None and since_ns < EARLIEST_SINCE_NS:
        from mxcp_compact.errors import ConfigError

        raise ConfigError(f"--since reaches back before {_EARLIEST_SINCE}: out of range")
    import duckdb

    with contextlib.ExitStack() as held:
        existing, counts, problems = _loadable(files, held)
        created = owner_only and not os.path.lexists(database)
        # The umask is the process's: nothing else creates files while a cleanup loads its archive.
        umask = os.umask(0o077) if owner_only else None
        try:
            connection = duckdb.connect(str(database))
            try:
                if created:
                    database.chmod(0o600)  # before any record is loaded
                return _load(connection, (existing, counts), problems, database, since_ns, all_or_nothing)
            finally:
                connection.close()
        finally:
            if umask is not None:
                os.umask(umask)


def _load(
    connection: DuckDBPyConnection,
    inputs: tuple[list[str], list[int]],
    problems: tuple[str, ...],
    database: Path,
    since_ns: int | None,
    all_or_nothing: bool,
) -> ExportResult:
    """The load itself, on an open connection, of the files and their non-blank line counts."""
    existing, counts = inputs
    columns = ", ".join(f"'{name}': '{kind}'" for name, kind in COLUMNS.items())
    select = ", ".join(
        "strftime(timezone('UTC', try_cast(\"timestamp\" AS TIMESTAMPTZ)), '%Y-%m-%dT%H:%M:%S.%f') || '+00:00'"
        ' AS "timestamp"'
        if name == "timestamp"
        else f'"{name}"'
        for name in COLUMNS
    )
    table = ", ".join(f'"{name}" {kind}' for name, kind in COLUMNS.items())
    connection.execute("SET TimeZone = 'UTC'")
    connection.execute(f"CREATE TABLE IF NOT EXISTS audit_logs ({table})")
    if not existing:
        return ExportResult(database, 0, 0, 0, problems)
    source = (
        f"read_json(?, format = 'newline_delimited', columns = {{{columns}}}, ignore_errors = true,"
        " maximum_object_size = 1073741824)"
    )
    connection.execute(f"CREATE TEMP TABLE loaded AS SELECT * FROM {source}", [existing])
    # With ignore_errors, a line that is not a JSON object comes back as a row of NULLs.
    all_null = " AND ".join(f'"{name}" IS NULL' for name in COLUMNS)
    broken = _scalar(connection, f"SELECT count(*) FROM loaded WHERE {all_null}")
    loaded = _scalar(connection, "SELECT count(*) FROM loaded") - broken
    condition = 'try_cast("timestamp" AS TIMESTAMPTZ) IS NOT NULL'
    parameters: list[object] = []
    if since_ns is not None:
        condition += ' AND try_cast("timestamp" AS TIMESTAMPTZ) >= make_timestamptz(?::BIGINT)'
        parameters.append(since_ns // 1000)
    total = sum(counts)
    if all_or_nothing:
        storable = _scalar(connection, f"SELECT count(*) FROM loaded WHERE {condition}", parameters)
        if storable != total:
            raise NotAllLoadable(
                f"{total - storable} of {total} lines are not records DuckDB can store as they are"
                " (broken JSON, or a timestamp it cannot read); none was inserted"
            )
    before = _scalar(connection, "SELECT count(*) FROM audit_logs")
    connection.execute(f"INSERT INTO audit_logs SELECT {select} FROM loaded WHERE {condition}", parameters)
    rows = _scalar(connection, "SELECT count(*) FROM audit_logs") - before
    return ExportResult(database, rows, total - loaded, loaded - rows, problems)


def _scalar(connection: object, sql: str, parameters: list[object] | None = None) -> int:
    row = connection.execute(sql, parameters or []).fetchone()  # type: ignore[attr-defined]
    return int(row[0]) if row else 0
