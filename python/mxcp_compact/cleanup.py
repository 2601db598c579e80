"""log-cleanup (and erase, the same run with `--where` conditions instead of retention) from a
parsed request to an exit status: plan the run (`cleanup_plan`), carry the plan out file by
file, print the report.

Free of Typer and Click on purpose: the scheduled command line is parsed by `launch` without
them (their imports cost more than the whole cleanup of a small log), and the Typer CLI builds
the same `options.CleanupRequest` for every other spelling.

Exit status: 0 done (or nothing to do), 1 some file could not be compacted (the others were),
2 bad options or configuration (nothing touched), 130 interrupted (Ctrl-C), 143 stopped by
SIGTERM.
"""

from __future__ import annotations

import errno
import gc
import os
import signal
import sys
import time
from pathlib import Path

from mxcp_compact.paths import resolved, resolved_or_same

# typing.TYPE_CHECKING without importing typing, which costs ~5 ms of every command's start-up.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from mxcp_compact.cleanup_plan import CleanupPlan
    from mxcp_compact.discovery import LogFile
    from mxcp_compact.options import CleanupRequest
    from mxcp_compact.report import FileOutcome, RunSummary

__all__ = ["execute", "report_failure", "run"]


def execute(
    request: CleanupRequest,
    started: float | None = None,
    *,
    where: Sequence[str] | None = None,
) -> int:
    """Runs the cleanup (an erasure with `where`, see `plan_cleanup`), prints the report (text
    or JSON), and returns the exit status."""
    # The cyclic collector finds nothing to free in a run (its objects die by reference count),
    # but the imports of the plan and of orjson allocate enough to start it about 20 times, a
    # few ms of CPU taken from the scan's workers on a two-core machine. Paused, not disabled:
    # a caller in the same process (tests, a scheduler) gets it back.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _execute(request, started, where)
    finally:
        if collecting:
            gc.enable()


def _execute(request: CleanupRequest, started: float | None, where: Sequence[str] | None) -> int:
    from mxcp_compact.cleanup_plan import CleanupError, plan_cleanup

    started = time.monotonic() if started is None else started
    json_output = request.json_output
    style = request.output_style or "guide"
    plan = None
    try:
        plan = plan_cleanup(request, Path.cwd(), os.environ, where)
        if json_output:
            _import_in_background("orjson")
        summary = run(plan, started)
    except CleanupError as failure:
        status = report_failure(str(failure), json_output, 2, failure.output_style or style)
        return _record_failure(plan, status, started)
    except Exception as error:  # a bug or an unexpected OS failure: one line, unless --debug
        if request.debug:
            raise
        status = report_failure(f"{type(error).__name__}: {error}", json_output, 1, style)
        return _record_failure(plan, status, started)
    from mxcp_compact.report import append_trail

    if plan.audit_trail is not None:
        try:
            append_trail(plan.audit_trail, summary)
        except OSError as error:
            problem = f"{plan.audit_trail}: cannot append the deletion trail: {error.strerror or error}"
            summary = summary._replace(run_errors=(*summary.run_errors, problem))
    if plan.metrics is not None:
        summary = _record_metrics(plan.metrics, summary, started)
    try:
        _print_report(summary, request, plan.output_style)
    except BrokenPipeError:
        raise  # `| head`: the reader has seen enough (the caller exits 1, quietly)
    except OSError as error:
        # A full disk under `>> cleanup.log`, or a closed stdout: the cleanup is done, the
        # report is lost, and the run must not read as a success.
        problem = f"cannot write the report to standard output: {error.strerror or error}"
        print(f"Error: {problem}", file=sys.stderr)
        if plan.metrics is not None:
            _record_metrics(plan.metrics, summary._replace(run_errors=(*summary.run_errors, problem)), started)
        return 1
    if summary.interrupted:
        return 128 + summary.interrupted
    return 1 if summary.errors else 0


def _record_metrics(path: Path, summary: RunSummary, started: float) -> RunSummary:
    """Writes the metrics file, last, so that it records the exit status (a failed trail
    included); a file that cannot be written is one more run error, like the trail."""
    from mxcp_compact.metrics import cleanup_metrics, write_or_explain

    success = not summary.errors and not summary.interrupted
    problem = write_or_explain(path, cleanup_metrics(summary, success, time.monotonic() - started))
    if problem is None:
        return summary
    return summary._replace(run_errors=(*summary.run_errors, problem))


def _record_failure(plan: CleanupPlan | None, status: int, started: float) -> int:
    """Records a run that stopped with an error once planned (before, its profile and metrics
    file may be what is wrong, and the last success time going stale says it); returns `status`."""
    if plan is None or plan.metrics is None:
        return status
    from mxcp_compact.metrics import RunMetrics, write_or_explain

    figures = RunMetrics("log-cleanup", plan.profile, False, time.time(), time.monotonic() - started)
    problem = write_or_explain(plan.metrics, figures)
    if problem is not None:
        print(f"error: {problem}", file=sys.stderr)
    return status


def _print_report(summary: Any, request: CleanupRequest, style: str) -> None:
    if style == "mxcp":
        from mxcp_compact.mxcp_style import render_json, render_text
    else:
        from mxcp_compact.report import render_json, render_text
    if sys.stdout is None:  # started with stdout closed (`>&-`)
        raise OSError(errno.EBADF, "it is closed")
    if request.json_output:
        sys.stdout.buffer.write(render_json(summary))
        sys.stdout.flush()
        return
    text, notes = render_text(summary)
    sys.stdout.write(text)
    sys.stdout.flush()
    for note in notes:
        print(note, file=sys.stderr)
    if request.debug:
        for outcome in summary.outcomes:
            if outcome.result is not None:
                r = outcome.result
                print(
                    f"debug: {r.path}: {r.action}, {r.lines} lines, {r.deleted} deleted, "
                    f"{r.bytes_before} -> {r.bytes_after} bytes",
                    file=sys.stderr,
                )


def report_failure(message: str, json_output: bool, code: int, style: str = "guide") -> int:
    """Prints a one-line error (or the JSON error document) and returns `code`."""
    from mxcp_compact.report import displayable

    message = displayable(message)
    if style == "mxcp":
        from mxcp_compact.mxcp_style import print_error

        print_error(message, json_output)
    elif json_output:
        from mxcp_compact.report import error_json

        sys.stdout.buffer.write(error_json(message))
        sys.stdout.flush()
    else:
        print(f"Error: {message}", file=sys.stderr)
    return code


def run(plan: CleanupPlan, started: float) -> RunSummary:
    """Carries out the plan: compacts its files (or says why not), archives and reports on the
    deleted lines, and returns what happened."""
    from mxcp_compact.report import FileOutcome, RunSummary

    notes = list(plan.notes)
    if plan.skipped_reason is not None:
        elapsed = time.monotonic() - started
        return RunSummary(plan.dry_run, plan.profile, (), elapsed, notes, plan.skipped_reason, erase=plan.erase)
    from mxcp_compact import _core

    progress = _core.Progress()
    archive, refused = _open_archive(plan, progress)
    if archive is not None and (cut := archive.repaired()):
        notes.append(
            f"{plan.archive_staging or plan.archive}: cut off the last {cut} bytes, an unfinished"
            " member left by a run that stopped (its lines were still in the logs, and are archived again)"
        )
    if plan.scrub and not plan.dry_run:
        notes += _scrub_limits(plan)
    if refused is None:
        outcomes, interrupted = _compact_files(plan, archive, notes, progress)
    else:
        why, interrupted = refused
        outcomes = [FileOutcome(log.path, error=f"{log.path}: not compacted, because {why}") for log in plan.files]
    run_errors: list[str] = []
    archived = None
    if archive is not None and plan.archive is not None:
        lines, size = archive.counts()
        if lines == 0 and plan.archive_staging is None and archive.discard_if_empty():
            # An empty .gz or .zst is no stream (zcat fails on it): a quiet day writes none.
            notes.append(f"nothing was deleted, so no archive was written ({plan.archive})")
        if not interrupted:
            outcomes += _clean_todays_archive(plan, notes)
        if plan.archive_staging is not None:
            notes += _load_staging(plan.archive_staging, plan.archive, run_errors)
        archived = _archive_record(plan.archive, lines, size) if plan.archive.exists() else None
        if archived is not None:
            # Each line a file lost went in once; the rest came from a file then stopped or
            # failed before its swap, which still holds them (the next run archives them again).
            # (Today's archive, cleaned after, has an outcome but no place in plan.files.)
            pairs = zip(outcomes, plan.files, strict=False)
            lost = sum(o.result.deleted for o, log in pairs if o.result and not log.archived)
            archived["lines_still_in_logs"] = max(lines - lost, 0)
    elif plan.archive is not None and plan.dry_run:
        notes.append(f"a dry run writes no archive ({plan.archive})")
    summary = RunSummary(
        plan.dry_run,
        plan.profile,
        outcomes,
        time.monotonic() - started,
        notes,
        run_errors=tuple(run_errors),
        archive=archived,
        interrupted=interrupted,
        erase=plan.erase,
    )
    if plan.emergency and not plan.dry_run:
        freed = summary.bytes_freed + summary.freed_so_far
        unfinished = (
            f", {summary.freed_so_far} of them by compactions the next run finishes" if summary.freed_so_far else ""
        )
        notes.append(f"freed {freed} bytes ({freed / 2**20:.1f} MiB){unfinished}")
    return summary


def _clean_todays_archive(plan: CleanupPlan, notes: list[str]) -> list[FileOutcome]:
    """Today's archive, when it lies in the `[archive]` directory, cleaned with the archive
    retention once the run has written it: it did not exist when the plan listed that directory,
    and records archived today that are already past the archive retention would otherwise stay
    a day (verify failed right after a run)."""
    from mxcp_compact import _core
    from mxcp_compact.discovery import LogFile

    archive_path, directory = plan.archive, plan.archive_directory
    if archive_path is None or directory is None or not archive_path.exists():
        return []
    if resolved_or_same(archive_path.parent) != resolved_or_same(directory) or archive_path.suffix == ".duckdb":
        return []
    if any(resolved_or_same(log.path) == resolved_or_same(archive_path) for log in plan.files):
        return []  # it was listed, and cleaned, in the run itself
    todays = LogFile(archive_path, None, is_segment=True, archived=True)
    outcome, _ = _compact_file(plan, todays, None, _core.Progress(), notes)
    if outcome.result is not None and outcome.result.deleted:
        notes.append(
            f"{archive_path}: the archive retention removed {outcome.result.deleted} of the records it received"
        )
    return [outcome]


def _scrub_limits(plan: CleanupPlan) -> list[str]:
    """Warnings for the directories whose filesystem cannot overwrite a file's blocks in place."""
    from mxcp_compact import _core

    warnings = []
    for directory in sorted({log.path.parent for log in plan.files}):
        limit = _core.scrub_limit(directory)
        if limit is not None:
            warnings.append(f"--scrub cannot reach the old blocks on {limit} ({directory}): deleted bytes may remain")
    return warnings


def _open_archive(plan: CleanupPlan, progress: Any) -> tuple[Any, tuple[str, int] | None]:
    """The core archive receiving the deleted lines (None: the run writes none), waiting up to
    `--wait` for another run that holds it, as for a directory; or, when that wait ends (run out,
    or a stop request), why no file can be compacted and the signal that stopped the run (0:
    none). Another run's archive is that run's business, not a configuration error: each file is
    refused (exit 1), as when the directory is busy."""
    if not plan.writes_archive:
        return None, None
    from mxcp_compact import _core
    from mxcp_compact.cleanup_plan import CleanupError
    from mxcp_compact.progress import Watch

    if plan.archive_staging is not None:
        try:
            import duckdb  # noqa: F401  (fail before deleting anything)
        except ModuleNotFoundError:
            raise CleanupError(
                "--archive FILE.duckdb needs the duckdb package: pip install 'mxcp-compact[duckdb]'", plan.output_style
            ) from None
    with Watch(progress, 0, sys.stderr, show=False) as watch:
        try:
            return _core.Archive(plan.archive_staging or plan.archive, plan.wait, progress), None
        except KeyboardInterrupt:
            why = "the run was interrupted while it waited for another run to finish with the archive"
            return None, (why, watch.stop_signal or signal.SIGINT)
        except BlockingIOError as error:
            return None, (str(error), 0)
        except OSError as error:
            raise CleanupError(str(error), plan.output_style) from None


def _compact_files(plan: CleanupPlan, archive: Any, notes: list[str], progress: Any) -> tuple[list[FileOutcome], int]:
    """Each file's outcome, in order, and the signal that stopped the run (SIGINT, SIGTERM; 0:
    none); adds the files' notes."""
    from mxcp_compact.progress import Watch
    from mxcp_compact.report import FileOutcome

    outcomes: list[FileOutcome] = []
    locks = _DirLocks(plan, progress)
    indexes = _Indexes(plan)
    total_bytes = sum(_size_of(log.path) for log in plan.files)
    show = plan.show_progress and sys.stderr.isatty()
    interrupted = False
    with Watch(progress, total_bytes, sys.stderr, show) as watch:
        for position, log in enumerate(plan.files):
            interrupted = interrupted or watch.interrupted
            if interrupted or (archive is not None and any(o.error for o in outcomes)):
                # After Ctrl-C, or a failed archive (which means nothing more is deleted).
                why = "the run was interrupted" if interrupted else "an earlier file failed"
                outcomes.append(FileOutcome(log.path, error=f"{log.path}: not compacted, because {why}"))
                continue
            unchanged = indexes.unchanged(log)
            if unchanged is not None:
                outcomes.append(FileOutcome(log.path, result=unchanged))
                continue
            lock, busy = locks.for_file(log.path)
            if busy is not None:
                outcomes.append(FileOutcome(log.path, error=f"{log.path}: not compacted, because {busy}"))
                # A stop request ends a wait for a lock as it ends a pass.
                interrupted = watch.interrupted
                continue
            _read_ahead(indexes.next_to_read(plan.files[position + 1 :]))
            before = _stat_or_none(log.path)
            outcome, interrupted = _compact_file(plan, log, archive, progress, notes, lock)
            indexes.record(log, outcome, before)
            outcomes.append(outcome)
        if watch.interrupted and not interrupted:
            # The stop request came after the last file's last window (during its swap, say):
            # that file was completed and nothing was left to stop, so the run is not reported
            # as stopped (it used to exit 130 over a report of complete success).
            notes.append("a stop request came after the last file's last window: every file was completed")
        if plan.in_place and not plan.dry_run and not interrupted:
            _retry_once_space_is_freed(plan, outcomes, (archive, progress, notes, locks, indexes))
    notes += indexes.save()
    locks.release()
    return outcomes, (watch.stop_signal or signal.SIGINT) if interrupted else 0


class _Indexes:
    """The incremental index of each audit directory (see `index`): read by every run that may
    use it, written only by real runs, with what their full reads found."""

    def __init__(self, plan: CleanupPlan) -> None:
        self.plan = plan
        self.by_directory: dict[Path, Any] = {}
        self.by_parent: dict[Path, Any] = {}
        self.skipped = 0

    def _index(self, path: Path) -> Any:
        from mxcp_compact.index import FileIndex

        # Each file's index is looked up twice (see next_to_read): resolve each directory once.
        found = self.by_parent.get(path.parent)
        if found is None:
            directory = resolved_or_same(path.parent)
            found = self.by_directory.get(directory) or FileIndex(directory, os.environ)
            self.by_directory[directory] = self.by_parent[path.parent] = found
        return found

    def unchanged(self, log: LogFile) -> Any:
        """The result of a file the index shows has nothing to delete now, or None: read it."""
        if not self.plan.use_index:
            return None
        result = self._index(log.path).unchanged_result(
            log.path, self.plan.rules[log.rules_key], self.plan.now_ns, self.plan.dry_run
        )
        self.skipped += result is not None
        return result

    def next_to_read(self, later: Sequence[LogFile]) -> Path | None:
        """The first of `later` that the index does not vouch for: the next file to be read."""
        if not self.plan.use_index:
            return later[0].path if later else None
        for log in later:
            if not self._index(log.path).vouches(log.path, self.plan.rules[log.rules_key], self.plan.now_ns):
                return log.path
        return None

    def record(self, log: LogFile, outcome: FileOutcome, before: os.stat_result | None) -> None:
        """Remembers what the pass over `log` found; `before`: its stat before the pass."""
        if self.plan.dry_run or self.plan.erase is not None:
            return
        index = self._index(log.path)
        if outcome.result is not None:
            index.record(outcome.result, self.plan.rules[log.rules_key], self.plan.now_ns, before)
        else:
            index.forget(log.path)

    def save(self) -> list[str]:
        notes = [] if self.plan.dry_run else [note for index in self.by_directory.values() if (note := index.save())]
        if self.skipped:
            notes.append(
                f"{self.skipped} files unchanged since the last run, with nothing expired yet, were not read"
                " (incremental index; --full reads them)"
            )
        return notes


def _import_in_background(module: str) -> None:
    """Imports `module` from a daemon thread while the logs are scanned (the scan releases the
    GIL): orjson's import (dataclasses, inspect, uuid...) takes about 30 ms on a cold cache, and
    only the report, after the scan, needs it. The report's own import waits for this one."""
    import contextlib
    import threading

    def load() -> None:
        # A failure is the report's own import's to raise, where it is handled.
        with contextlib.suppress(ImportError):
            __import__(module)

    threading.Thread(target=load, name=f"mxcp-compact-import-{module}", daemon=True).start()


#: How much of the next file to read is asked for while the current one is compacted; the
#: core's own read-ahead takes over from there when it scans it.
_READ_AHEAD_BYTES = 64 << 20


def _read_ahead(path: Path | None) -> None:
    """Starts the disk reading the head of the next file to compact while this one is compacted
    (its fsync, swap and writer check leave the disk idle): on a cold cache the next scan then
    starts from memory. The core does it from a thread of its own, skipping what is cached: a
    Python thread doing it cost about 7 ms a file on warm segments (20 of 51 MiB, paired dry
    runs against one file: 1.21-1.26x with it, 1.03-1.05x with no hint, 1.08x with the core's).
    Paced (two 1 MiB reads in flight): hinted at once, the next file's head went to the disk
    before this file's own reads. A hint only: any failure changes nothing."""
    if path is None:
        return
    from mxcp_compact._core import read_ahead

    read_ahead(path, _READ_AHEAD_BYTES)


class _DirLocks:
    """The run lock of each audit directory, taken once, at its first file, and held to the end
    of the run: `--wait` waits for another run, not between files, and two runs never
    interleave over one directory. A dry run takes none."""

    def __init__(self, plan: CleanupPlan, progress: Any = None) -> None:
        self.plan = plan
        #: Its stop request (Ctrl-C, SIGTERM) also ends a wait for a lock.
        self.progress = progress
        self.held: dict[Path, Any] = {}
        self.refused: dict[Path, str] = {}

    def for_file(self, path: Path) -> tuple[Any, str | None]:
        """(the lock to pass to the core, or None for it to lock itself; why the directory is busy)."""
        if self.plan.dry_run:
            return None, None
        try:
            directory = resolved(path, strict=True).parent
        except OSError:
            return None, None  # the core reports the file
        if directory in self.refused:
            return None, self.refused[directory]
        if directory not in self.held:
            from mxcp_compact import _core

            try:
                self.held[directory] = _core.DirLock(directory, self.plan.wait, self.progress)
            except KeyboardInterrupt:
                self.refused[directory] = "the run was interrupted while it waited for another run to finish"
                return None, self.refused[directory]
            except PermissionError:
                # A directory we may not open: the core's own fallback decides (nothing to delete
                # needs no writing).
                self.held[directory] = None
            except OSError as error:
                self.refused[directory] = str(error)
                return None, self.refused[directory]
        return self.held[directory], None

    def release(self) -> None:
        for lock in self.held.values():
            if lock is not None:
                lock.release()


def _compact_file(
    plan: CleanupPlan, log: LogFile, archive: Any, progress: Any, notes: list[str], lock: Any = None
) -> tuple[FileOutcome, bool]:
    """One file's outcome, and whether Ctrl-C stopped it; adds its notes."""
    from mxcp_compact.api import compact_with_rules
    from mxcp_compact.report import FileOutcome

    # A copy-and-rename pass that fails leaves its file as it was; an in-place one may not.
    untouched = plan.dry_run or not plan.in_place
    size_before = _size_of(log.path)
    try:
        result = compact_with_rules(
            log.path,
            plan.rules[log.rules_key],
            plan.now_ns,
            plan.dry_run,
            log.is_segment,
            plan.threads,
            plan.wait,
            plan.in_place,
            # What the archive retention removes from an archive is past every retention: it
            # goes nowhere (into today's archive it would live on, and be counted twice).
            None if log.archived else archive,
            progress,
            scrub=plan.scrub,
            locked=lock,
            erase=plan.erase,
        )
    except KeyboardInterrupt as interrupt:
        untouched = untouched or _log_unchanged(interrupt)
        what = "left untouched" if untouched else "the next run finishes the in-place compaction"
        error = f"{log.path}: interrupted; {what}"
        return _failed(log.path, error, untouched, size_before), True
    except (OSError, ValueError) as error:
        if isinstance(error, OSError) and error.errno == errno.ENOSPC:
            # The core's "no space" errors are raised only while the file is as it was.
            return FileOutcome(log.path, error=error.strerror, untouched=True), False
        return _failed(log.path, str(error), untouched or _log_unchanged(error), size_before), False
    except BaseException as error:
        # A bug (or a panic in the core) costs this file, not the report: the files done before
        # it were compacted, and their deletions must still reach the report and the trail.
        if not isinstance(error, Exception) and type(error).__name__ != "PanicException":
            raise
        if plan.debug:
            import traceback

            traceback.print_exc()
        message = f"{log.path}: not compacted: unexpected {type(error).__name__}: {error} (--debug shows where)"
        return _failed(log.path, message, untouched or _log_unchanged(error), size_before), False
    if result.stale_temp_removed:
        notes.append(f"{log.path}: removed a temp file left by an interrupted run")
    if result.appended_bytes:
        notes.append(f"{log.path}: caught up {result.appended_bytes} bytes appended during the run")
    if result.note:
        notes.append(f"{log.path}: {result.note}")
    # Stopped early, with what it deleted counted: the run stops here as after any stop.
    return FileOutcome(log.path, result=result), result.stopped_early


def _failed(path: Path, error: str, untouched: bool, size_before: int) -> FileOutcome:
    """A failed file's outcome; one an in-place compaction changed says how much it has freed
    (a collapsed expired prefix, say), which the run that finishes it counts."""
    from mxcp_compact.report import FileOutcome

    freed = 0 if untouched else max(size_before - _size_of(path), 0)
    return FileOutcome(path, error=error, untouched=untouched, freed_so_far=freed)


def _log_unchanged(error: BaseException) -> bool:
    """Whether the core says an in-place compaction failed before it changed the log."""
    return getattr(error, "log_unchanged", False) is True


def _retry_once_space_is_freed(plan: CleanupPlan, outcomes: list[FileOutcome], context: tuple) -> None:
    """On a full disk an in-place compaction cannot start until its progress record fits: each
    file that failed that way, left as it was (the only in-place failure marked `untouched`), is
    tried once more when the other files have freed some space."""
    archive, progress, notes, locks, indexes = context
    if not any(o.result is not None and o.result.bytes_after < o.result.bytes_before for o in outcomes):
        return
    for position, (log, outcome) in enumerate(zip(plan.files, outcomes, strict=True)):
        if outcome.error is None or not outcome.untouched:
            continue
        lock, busy = locks.for_file(log.path)
        if busy is not None:
            continue
        before = _stat_or_none(log.path)
        retried, _ = _compact_file(plan, log, archive, progress, notes, lock)
        indexes.record(log, retried, before)
        outcomes[position] = retried
        if retried.error is None:
            notes.append(f"{log.path}: compacted on a second try, once the other files had freed space")


def _stat_or_none(path: Path) -> os.stat_result | None:
    try:
        return path.stat()
    except OSError:
        return None


def _size_of(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _load_staging(staging: Path, database: Path, run_errors: list[str]) -> list[str]:
    """Appends the staged deleted records to the DuckDB archive, then removes the staging file."""
    if not staging.exists() or staging.stat().st_size == 0:
        staging.unlink(missing_ok=True)
        return []
    from mxcp_compact.export import export_duckdb

    try:
        # All or nothing: a record DuckDB cannot store must stay in the staging file, not vanish.
        # Owner-only: the archive holds deleted records (input_data, output_data), so a new one
        # is 0600 before any record is in it (an existing one keeps the mode it was given).
        result = export_duckdb([staging], database, None, all_or_nothing=True, owner_only=True)
    except Exception as error:  # duckdb raises its own types; the staged lines stay on disk
        run_errors.append(f"{database}: loading the archived records failed ({error}); they are kept in {staging}")
        return []
    staging.unlink()
    notes = [f"loaded {result.rows} deleted records into {database} (table audit_logs)"]
    if result.not_loaded or result.filtered:
        notes.append(f"{result.not_loaded + result.filtered} deleted lines were not records DuckDB could load")
    return notes


def _archive_record(path: Path, lines: int, size: int) -> dict[str, Any]:
    """The archive's path, what this run put in it, and the SHA-256 of the whole file."""
    # hashlib (OpenSSL), not the builtin `index.sha256`: loading libcrypto costs ~25 ms cold,
    # but it hashes ~7x faster (895 against 125 MB/s here), and an archive may be large.
    import hashlib

    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return {"path": str(path), "lines": lines, "bytes": size, "sha256": digest.hexdigest()}
