"""log-cleanup from a parsed request to an exit status: resolve the plan, compact every file,
print the report.

Free of Typer and Click on purpose: the scheduled command line is parsed by `launch` without
them (their imports cost more than the whole cleanup of a small log), and the Typer CLI builds
the same `CleanupRequest` for every other spelling.

Exit status: 0 done (or nothing to do), 1 some file could not be compacted (the others were),
2 bad options or configuration (nothing touched), 130 interrupted.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

# typing.TYPE_CHECKING without importing typing, which costs ~5 ms of every command's start-up.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["OUTPUT_STYLES", "CleanupError", "CleanupRequest", "execute", "report_failure", "run"]


class CleanupError(ValueError):
    """A configuration problem, reported as one line with exit status 2."""

    def __init__(self, message: str, output_style: str | None = None) -> None:
        super().__init__(message)
        #: The style to report it in, once the settings file has been read.
        self.output_style = output_style


#: `--output-style` values: the seed guide's formats, or MXCP 0.12.3's own (see mxcp_style.py).
OUTPUT_STYLES = ("guide", "mxcp")


def execute(request: CleanupRequest, started: float | None = None) -> int:
    """Runs the cleanup, prints the report (text or JSON), and returns the exit status."""
    started = time.monotonic() if started is None else started
    json_output = request.json_output
    style = request.output_style or "guide"
    try:
        summary, audit_trail, style = run(request, started)
    except CleanupError as failure:
        return report_failure(str(failure), json_output, 2, failure.output_style or style)
    except Exception as error:  # a bug or an unexpected OS failure: one line, unless --debug
        if request.debug:
            raise
        return report_failure(f"{type(error).__name__}: {error}", json_output, 1, style)
    from mxcp_compact.report import append_trail

    if audit_trail is not None:
        try:
            append_trail(audit_trail, summary)
        except OSError as error:
            problem = f"{audit_trail}: cannot append the deletion trail: {error.strerror or error}"
            summary = dataclasses.replace(summary, run_errors=(*summary.run_errors, problem))
    _print_report(summary, request, style)
    if summary.interrupted:
        return 130
    return 1 if summary.errors else 0


def _print_report(summary: Any, request: CleanupRequest, style: str) -> None:
    if style == "mxcp":
        from mxcp_compact.mxcp_style import render_json, render_text
    else:
        from mxcp_compact.report import render_json, render_text
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


@dataclass(frozen=True)
class CleanupRequest:
    """The log-cleanup options, as given on the command line (None: not given)."""

    profile: str | None
    dry_run: bool
    paths: tuple[Path, ...]
    retention_days: str | None
    retain: tuple[str, ...]
    now: str | None
    wait: float | None
    threads: int
    in_place: bool
    emergency: bool
    config_file: Path | None
    audit_trail: Path | None
    archive: str | None
    json_output: bool = False
    debug: bool = False
    #: "guide" or "mxcp"; None: the settings file's `cleanup.output_style`, else "guide".
    output_style: str | None = None

    @property
    def show_progress(self) -> bool:
        return not self.json_output


def run(request: CleanupRequest, started: float) -> tuple[Any, Path | None, str]:
    """Resolves and runs the plan; returns the summary, the deletion trail to append to and the
    output style."""
    dry_run, in_place, threads = request.dry_run, request.in_place, request.threads
    from mxcp_compact import config
    from mxcp_compact.api import compact_with_rules
    from mxcp_compact.report import FileOutcome, RunSummary

    try:
        run = config.resolve_run(
            profile=request.profile,
            paths=request.paths,
            retention_days=request.retention_days,
            retain=request.retain,
            now=request.now,
            config_file=request.config_file,
            cwd=Path.cwd(),
            env=os.environ,
        )
    except config.ConfigError as error:
        raise CleanupError(str(error)) from None
    plan, instant, rules_by_registry = run.plan, run.now_ns, run.rules
    style = request.output_style or run.settings.output_style or "guide"
    try:
        archive_path, staging, archive = _open_archive(request, run)
    except CleanupError as error:
        raise CleanupError(str(error), style) from None
    notes = list(run.notes)
    wait = request.wait if request.wait is not None else (run.settings.wait or 0.0)
    audit_trail = request.audit_trail if request.audit_trail is not None else run.settings.audit_trail

    if plan.skipped_reason is not None:
        skipped = RunSummary(dry_run, plan.profile, (), time.monotonic() - started, notes, plan.skipped_reason)
        return skipped, None, style
    if not plan.files and plan.audit_path is not None:
        notes.append(f"no audit log files found for {plan.audit_path}")

    from mxcp_compact import _core
    from mxcp_compact.progress import Watch

    outcomes: list[FileOutcome] = []
    run_errors: list[str] = []
    progress = _core.Progress()
    total_bytes = sum(_size_of(log.path) for log in plan.files)
    show = request.show_progress and sys.stderr.isatty()
    interrupted = False
    # A copy-and-rename pass that fails leaves its file as it was; an in-place one may not.
    untouched = dry_run or not in_place
    with Watch(progress, total_bytes, sys.stderr, show) as watch:
        for log in plan.files:
            interrupted = interrupted or watch.interrupted
            if interrupted or (archive is not None and any(o.error for o in outcomes)):
                # After Ctrl-C, or a failed archive (which means nothing more is deleted).
                why = "the run was interrupted" if interrupted else "an earlier file failed"
                outcomes.append(FileOutcome(log.path, error=f"{log.path}: not compacted, because {why}"))
                continue
            try:
                result = compact_with_rules(
                    log.path,
                    rules_by_registry[log.registry],
                    instant,
                    dry_run,
                    log.is_segment,
                    threads,
                    wait,
                    in_place,
                    archive,
                    progress,
                )
            except KeyboardInterrupt:
                interrupted = True
                what = "the next run finishes the in-place compaction" if in_place else "left untouched"
                outcomes.append(FileOutcome(log.path, error=f"{log.path}: interrupted; {what}", untouched=untouched))
            except (OSError, ValueError) as error:
                outcomes.append(FileOutcome(log.path, error=str(error), untouched=untouched))
            else:
                outcomes.append(FileOutcome(log.path, result=result))
                if result.stale_temp_removed:
                    notes.append(f"{log.path}: removed a temp file left by an interrupted run")
                if result.appended_bytes:
                    notes.append(f"{log.path}: caught up {result.appended_bytes} bytes appended during the run")
                if result.note:
                    notes.append(f"{log.path}: {result.note}")
        # Ctrl-C during the last file's swap: that file is complete, nothing else to stop.
        interrupted = interrupted or watch.interrupted
    archived = None
    if archive is not None:
        lines, size = archive.counts()
        if staging is not None:
            notes += _load_staging(staging, archive_path, run_errors)
        archived = _archive_record(archive_path, lines, size) if archive_path.exists() else None
    elif archive_path is not None and dry_run:
        notes.append(f"a dry run writes no archive ({archive_path})")
    summary = RunSummary(
        dry_run,
        plan.profile,
        outcomes,
        time.monotonic() - started,
        notes,
        run_errors=tuple(run_errors),
        archive=archived,
        interrupted=interrupted,
    )
    if request.emergency and not dry_run:
        notes.append(f"freed {summary.bytes_freed} bytes ({summary.bytes_freed / 2**20:.1f} MiB)")
    return summary, audit_trail, style


def _open_archive(request: CleanupRequest, run: Any) -> tuple[Path | None, Path | None, Any]:
    """The archive's path, its DuckDB staging file (or None) and the open core archive (None in
    a dry run or without an archive)."""
    plan, instant, in_place, dry_run = run.plan, run.now_ns, request.in_place, request.dry_run
    from_settings = request.archive is None and run.settings.archive is not None
    archive_option = request.archive if request.archive is not None else run.settings.archive
    # --archive '' runs without the settings file's archive.
    archive_path = _archive_path(archive_option, instant) if archive_option else None
    if archive_path is not None and in_place:
        where = f"{run.settings.path} names an archive, but " if from_settings else "--archive cannot be combined with "
        raise CleanupError(
            f"{where}--in-place/--emergency overwrite lines in place and cannot archive them"
            + ("; add --archive '' to run without it" if from_settings else "")
        )
    # A DuckDB archive is staged as JSONL beside it, durable before each swap like any archive,
    # and loaded into the database at the end of the run (kept, and reported, if that fails).
    staging = Path(f"{archive_path}.pending.jsonl") if archive_path and archive_path.suffix == ".duckdb" else None
    archive = None
    if archive_path is not None and not dry_run and plan.files:
        from mxcp_compact import _core

        if staging is not None:
            try:
                import duckdb  # noqa: F401  (fail before deleting anything)
            except ModuleNotFoundError:
                raise CleanupError(
                    "--archive FILE.duckdb needs the duckdb package: pip install 'mxcp-compact[duckdb]'"
                ) from None
        try:
            archive = _core.Archive(staging or archive_path)
        except OSError as error:
            raise CleanupError(str(error)) from None
    return archive_path, staging, archive


def _size_of(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _archive_path(template: str, now_ns: int) -> Path:
    from datetime import datetime, timezone

    day = datetime.fromtimestamp(now_ns / 1e9, tz=timezone.utc).strftime("%Y%m%d")
    try:
        return Path(template.format(date=day))
    except (KeyError, IndexError, ValueError) as error:
        raise CleanupError(f"--archive {template!r}: only {{date}} may appear in braces ({error})") from None


def _load_staging(staging: Path, database: Path, run_errors: list[str]) -> list[str]:
    """Appends the staged deleted records to the DuckDB archive, then removes the staging file."""
    if not staging.exists() or staging.stat().st_size == 0:
        staging.unlink(missing_ok=True)
        return []
    from mxcp_compact.export import export_duckdb

    try:
        result = export_duckdb([staging], database, None)
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
    import hashlib

    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return {"path": str(path), "lines": lines, "bytes": size, "sha256": digest.hexdigest()}
