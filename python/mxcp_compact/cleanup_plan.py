"""log-cleanup's plan: every setting of a run resolved once, before any file is touched.

A `CleanupRequest` says what was given on the command line; the settings file, the profile and
the rules between options fill in the rest here, in `plan_cleanup`, and nowhere else: the
archive (its `{date}`, the settings file's default, `--archive ''`), the wait, the deletion
trail, the metrics file (none for a dry run), the output style, `--emergency` meaning in
place, and an archive refused with in-place compaction. `cleanup.run` only carries the plan out.

The erase command is the same run with other decisions: its `--where` conditions make the plan
an erasure (`erase`), which the core applies instead of retention.
"""

from __future__ import annotations

from collections import namedtuple
from pathlib import Path

from mxcp_compact.config import RunConfig, resolve_run
from mxcp_compact.discovery import LogFile, is_segment_name
from mxcp_compact.errors import ConfigError

# typing.TYPE_CHECKING without importing typing, which costs ~5 ms of every command's start-up.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from mxcp_compact.options import CleanupRequest

__all__ = ["CleanupError", "CleanupPlan", "parse_where", "plan_cleanup"]


class CleanupError(ConfigError):
    """A configuration problem of log-cleanup, reported as one line with exit status 2."""

    def __init__(self, message: str, output_style: str | None = None) -> None:
        super().__init__(message)
        #: The style to report it in, once the settings file has been read.
        self.output_style = output_style


# A named tuple rather than a frozen dataclass: both are immutable, but building the dataclass
# costs every run about 2 ms of start-up (8 M instructions for its 16 fields), the tuple a tenth.
class CleanupPlan(
    namedtuple(
        "CleanupPlan",
        [
            "files",  # tuple[LogFile, ...]
            "rules",  # Mapping[Path | None, core rules]: per schema registry (None: no registry beside the logs)
            "now_ns",  # int
            "profile",  # str | None
            "skipped_reason",  # str | None: why the run does nothing at all (audit disabled)
            "dry_run",  # bool
            "in_place",  # bool: --in-place, or --emergency, which is in-place compaction that reports the bytes freed
            "emergency",  # bool
            "threads",  # int
            "wait",  # float: seconds to wait for another run on the same directory
            "archive",  # Path | None: where the deleted lines go, {date} filled in; None: no archive (or --archive '')
            # Path | None: a DuckDB archive is staged as JSONL beside it, durable before each swap like any
            # archive, and loaded into the database at the end of the run (kept, and reported, if that fails).
            "archive_staging",
            "audit_trail",  # Path | None: the deletion trail appended to after the run
            "metrics",  # Path | None: the Prometheus textfile written after the run (None for a dry run)
            "output_style",  # str: "guide" or "mxcp"
            "scrub",  # bool: overwrite deleted bytes before releasing them (--scrub, or cleanup.scrub)
            "show_progress",  # bool: a progress line on a terminal; never with --json
            "notes",  # tuple[str, ...]: warnings known before any file is compacted (registry lines, skipped files)
            # tuple[tuple[str, str], ...] | None: the erase command's (FIELD, VALUE) conditions, checked by the
            # core; None: retention applies.
            "erase",
            # bool: skip files the incremental index shows have nothing to delete (not with --full,
            # nor for an erasure, whose conditions no index can answer).
            "use_index",
            # Path | None: the settings file's [archive] directory, cleaned with the archive retention;
            # today's archive, written there during the run, is cleaned at its end too.
            "archive_directory",
            "debug",  # bool: a file's unexpected error prints its traceback (--debug)
        ],
        defaults=(None, False, None, False),
    )
):
    """What one log-cleanup (or erase) run does, decided from the request, the settings file and the profile."""

    __slots__ = ()

    @property
    def writes_archive(self) -> bool:
        """Whether the run opens the archive: a dry run writes none, and nor does a run with no file."""
        return self.archive is not None and not self.dry_run and bool(self.files)


def plan_cleanup(
    request: CleanupRequest,
    cwd: Path,
    env: Mapping[str, str],
    where: Sequence[str] | None = None,
) -> CleanupPlan:
    """The plan for `request` run in `cwd`; raises `CleanupError` (with the output style once the
    settings file is read) for bad options or configuration. `where` (the erase command's
    FIELD=VALUE conditions, possibly none given) makes the run an erasure."""
    erase = parse_where(where) if where is not None else None
    use_index = erase is None and not request.full
    try:
        run = resolve_run(
            profile=request.profile,
            paths=request.paths,
            retention_days=request.retention_days,
            retain=request.retain,
            now=request.now,
            config_file=request.config_file,
            cwd=cwd,
            env=env,
            head_known=_text_heads_known(env) if use_index else None,
        )
    except ConfigError as error:
        raise CleanupError(str(error)) from None
    # MXCP has no erase command whose output could be copied.
    style = "guide" if erase is not None else request.output_style or run.settings.output_style or "guide"
    if request.scrub and request.no_scrub:
        raise CleanupError("--scrub and --no-scrub cannot be combined: give one of them", style)
    in_place = request.in_place or request.emergency
    try:
        archive = _archive(request, run, in_place, settings_archive=erase is None)
    except ConfigError as error:
        raise CleanupError(str(error), style) from None
    plan = run.plan
    notes = run.notes
    files, passed_over = _without_own_archives(plan.files, request, run, erase is None)
    notes = (*notes, *passed_over)
    if plan.skipped_reason is None and not plan.files and plan.audit_path is not None:
        notes = (*notes, f"no audit log files found for {plan.audit_path}")
    metrics = request.metrics if request.metrics is not None else run.settings.metrics
    if metrics is not None and request.dry_run:
        # A preview must not read as a cleanup that succeeded: the last success time would hide a stalled schedule.
        notes = (*notes, f"a dry run writes no metrics ({metrics})")
        metrics = None
    audit_trail = request.audit_trail if request.audit_trail is not None else run.settings.audit_trail
    # (A DuckDB archive is checked by DuckDB; its staging file sits beside it.)
    appended_archive = archive if archive is not None and archive.suffix != ".duckdb" else None
    compacted_first = _without_todays_archive(files, appended_archive)
    _check_outputs(compacted_first, style, archive=appended_archive, audit_trail=audit_trail, metrics=metrics)
    # A dry run writes no archive: it surveys today's as it is, with the other archives.
    files = files if request.dry_run else compacted_first
    return CleanupPlan(
        files=files,
        rules=run.rules,
        now_ns=run.now_ns,
        profile=plan.profile,
        skipped_reason=plan.skipped_reason,
        dry_run=request.dry_run,
        in_place=in_place,
        emergency=request.emergency,
        threads=request.threads,
        wait=request.wait if request.wait is not None else (run.settings.wait or 0.0),
        archive=archive,
        archive_staging=Path(f"{archive}.pending.jsonl") if archive and archive.suffix == ".duckdb" else None,
        audit_trail=audit_trail,
        metrics=metrics,
        output_style=style,
        scrub=request.scrub or (run.settings.scrub and not request.no_scrub),
        show_progress=not request.json_output,
        notes=notes,
        erase=erase,
        use_index=use_index,
        archive_directory=run.settings.archive_directory,
        debug=request.debug,
    )


def _text_heads_known(env: Mapping[str, str]) -> Callable[[Path], bool]:
    # Imported only for the runs that may use the index (which cleanup imports for them anyway).
    from mxcp_compact.index import text_heads_known

    return text_heads_known(env)


def _archive(request: CleanupRequest, run: RunConfig, in_place: bool, settings_archive: bool = True) -> Path | None:
    """`--archive`, else (with `settings_archive`) the settings file's archive, with `{date}`
    filled in; `--archive ''` runs without the settings file's. In-place compaction overwrites
    the lines it deletes, so it cannot archive them."""
    from_settings = settings_archive and request.archive is None and run.settings.archive is not None
    template = request.archive if request.archive is not None or not settings_archive else run.settings.archive
    if not template:
        return None
    # An error names where the template came from: the settings file, or the option.
    named = f"{run.settings.path}: cleanup.archive" if from_settings else "--archive"
    archive = _fill_date(template, run.now_ns, named)
    _check_archive_format(archive, template, named)
    if in_place:
        where = f"{run.settings.path} names an archive, but" if from_settings else "--archive cannot be combined with"
        raise ConfigError(
            f"{where} --in-place/--emergency: they overwrite lines in place and cannot archive them"
            + ("; add --archive '' to run without it" if from_settings else "")
        )
    if not archive.parent.is_dir():
        # Found by the dry run too, which writes no archive: it reported what the real run,
        # refused for this, would never delete.
        raise ConfigError(f"{named} {template!r}: its directory {archive.parent} does not exist")
    return archive


def _check_outputs(files: tuple[LogFile, ...], style: str, **outputs: Path | None) -> None:
    """Refuses, before anything is changed, an archive, trail or metrics file that is not a
    regular file (a FIFO would hang the run once its work is done; a device or a symlink would
    be replaced) or that is one of the logs or registries the run reads."""
    if not any(outputs.values()):
        return  # (the usual daily run: no module to load)
    from mxcp_compact.outputs import output_problem

    logs = [log.path for log in files]
    for name, path in outputs.items():
        if path is not None:
            problem = output_problem(path, f"--{name.replace('_', '-')}", logs, replaced=name == "metrics")
            if problem is not None:
                raise CleanupError(problem, style)


def _without_own_archives(
    files: tuple[LogFile, ...], request: CleanupRequest, run: RunConfig, settings_archive: bool
) -> tuple[tuple[LogFile, ...], tuple[str, ...]]:
    """The logs to compact, minus the archives the `--archive` (or settings) template writes,
    today's and any other day's, when they lie among the logs: compacting one would delete the
    records it keeps (they are all expired), and a plain `.jsonl` archive would be archived into
    itself. Each one passed over gets a note."""
    template = request.archive if request.archive is not None or not settings_archive else run.settings.archive
    if not template:
        return files, ()
    import os
    import re

    shape = Path(template)
    directory = os.path.realpath(shape.parent)
    literal = [re.escape(part) for part in shape.name.split("{date}")]
    name = re.compile("[0-9]{8}".join(literal))

    def own(log: LogFile) -> bool:
        in_place = bool(name.fullmatch(log.path.name)) and os.path.realpath(log.path.parent) == directory
        # An MXCP segment is a log whatever the template says (an archive named like one is refused).
        return in_place and not log.archived and not is_segment_name(log.path.name)

    archives = [log.path for log in files if own(log)]
    if not archives:
        return files, ()
    more = f" and {len(archives) - 1} more" if len(archives) > 1 else ""
    note = f"not compacted: {archives[0]}{more}, the archives that --archive {template} writes"
    return tuple(log for log in files if not own(log)), (note,)


def _without_todays_archive(files: tuple[LogFile, ...], archive: Path | None) -> tuple[LogFile, ...]:
    """The files minus today's archive where the `[archive]` directory lists it: the run appends
    to it first and cleans it with the archive retention at its end (`cleanup`), as on the day's
    first run, when it did not exist yet. Listed, it made every same-day rerun refuse itself."""
    if archive is None:
        return files
    from mxcp_compact.paths import resolved_or_same

    today = resolved_or_same(archive)
    return tuple(log for log in files if not (log.archived and resolved_or_same(log.path) == today))


def _fill_date(template: str, now_ns: int, named: str = "--archive") -> Path:

    from mxcp_compact.report import utc_instant

    day = utc_instant(now_ns)[:10].replace("-", "")
    try:
        return Path(template.format(date=day))
    except (KeyError, IndexError, ValueError):
        raise ConfigError(
            f"{named} {template!r}: only {{date}} may appear in braces (write {{{{ and }}}} for a brace)"
        ) from None


#: What an archive is written as, by the end of its name; any other name is plain JSONL too.
_ARCHIVE_FORMATS = (".gz", ".zst", ".duckdb")
#: Ends of names that promise a compression or container the archive is not written in.
_FOREIGN_FORMATS = frozenset(
    (".bz2", ".xz", ".lz4", ".lzma", ".lz", ".z", ".br", ".zip", ".7z", ".tar", ".tgz", ".zstd", ".sz")
)


def _check_archive_format(archive: Path, template: str, named: str) -> None:
    """Refuses an archive name whose end promises a format it would not be written in: plain
    JSONL in `deleted.jsonl.bz2` (or `.GZ`) is an archive its own tools cannot read."""
    suffix = archive.suffix
    if suffix == ".duckdb":
        from mxcp_compact.outputs import duckdb_name_problem

        problem = duckdb_name_problem(archive, named)
        if problem is not None:
            raise ConfigError(problem)
    if suffix in _ARCHIVE_FORMATS:
        return
    if suffix.lower() in _ARCHIVE_FORMATS or suffix.lower() in _FOREIGN_FORMATS:
        raise ConfigError(
            f"{named} {template!r}: an archive is written as .jsonl.gz, .jsonl.zst, .duckdb (lower case) or"
            f" plain JSONL; a name ending in {suffix} would hold plain text"
        )


def parse_where(where: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """`--where FIELD=VALUE` conditions as (FIELD, VALUE) pairs, split at the first `=` (a value
    may hold more), and judged by the core before any log is read: raises `CleanupError`."""
    conditions = []
    for item in where:
        if not item.isascii():
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                # An argument that is not UTF-8 (surrogate escapes) could never equal a record's text.
                raise CleanupError(f"--where {item}: FIELD=VALUE must be UTF-8 text", "guide") from None
        field, equals, value = item.partition("=")
        if not equals:
            raise CleanupError(f"--where {item}: expected FIELD=VALUE, e.g. --where user_id=zoe", "guide")
        conditions.append((field, value))
    _check_conditions(conditions)
    return tuple(conditions)


def _check_conditions(conditions: list[tuple[str, str]]) -> None:
    """The core's own parser of conditions judges them (one set of rules, not a Python copy that
    could drift), on an empty scratch file, so that a bad one stops the run with nothing touched."""
    import tempfile

    from mxcp_compact import _core

    with tempfile.TemporaryDirectory(prefix="mxcp-compact-where-") as scratch:
        empty = Path(scratch) / "empty.jsonl"
        empty.touch()
        try:
            _core.compact_file(empty, _core.Rules([], False, None, []), 0, True, False, erase=conditions)
        except ValueError as error:
            raise CleanupError(str(error), "guide") from None
