"""The `mxcp-compact` command line (Typer): parse options and hand them to the command's module.

`launch` parses the scheduled `log-cleanup` command line itself and comes here for everything
else; this module stays the reference for what every option means.

Exit status: 0 done (or nothing to do), 1 some file could not be compacted (the others were),
2 bad options or configuration (nothing touched), 130 interrupted. Errors are one line;
`--debug` adds the traceback.
"""

import enum
import os
import sys
import time
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from mxcp_compact import __version__, cleanup
from mxcp_compact.cleanup import CleanupRequest

__all__ = ["OutputStyle", "app", "main"]


class OutputStyle(str, enum.Enum):
    """`log-cleanup --output-style` (cleanup.OUTPUT_STYLES, as Click choices)."""

    guide = "guide"
    mxcp = "mxcp"


# "\b" keeps click from rewrapping the paragraph that follows it.
EXAMPLES = """\b
Examples:
  mxcp-compact log-cleanup --dry-run                  # preview, current MXCP project
  mxcp-compact log-cleanup --profile production       # apply retention
  mxcp-compact log-cleanup --path /var/log/mxcp --retain mxcp.endpoints=365
  mxcp-compact log-cleanup --json --now 2026-11-27T00:00:00Z
  mxcp-compact log-cleanup --emergency                # disk full: free space in place

\b
  # crontab, daily at 02:00 (set PATH=... in the crontab so cron finds mxcp-compact)
  0 2 * * * cd /opt/mxcp && mxcp-compact log-cleanup --profile production >>/var/log/mxcp/cleanup.log 2>&1
"""

app = typer.Typer(
    name="mxcp-compact",
    help="Fast, safe retention cleanup for MXCP JSONL audit logs.\n\n" + EXAMPLES,
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mxcp-compact {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """Fast, safe retention cleanup for MXCP JSONL audit logs."""


@app.command(
    "log-cleanup",
    help="Delete audit records past their retention, keeping every other line byte for byte.\n\n" + EXAMPLES,
)
def log_cleanup(
    profile: Annotated[
        str | None, typer.Option(metavar="NAME", help="MXCP profile (default: $MXCP_PROFILE, then the site's).")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be deleted; change nothing.")] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks and per-file detail.")] = False,
    path: Annotated[
        list[Path] | None,
        typer.Option(
            "--path",
            metavar="FILE_OR_DIR",
            help="Log file or directory to compact (repeatable); no mxcp-site.yml needed.",
            show_default=False,
        ),
    ] = None,
    retention_days: Annotated[
        str | None, typer.Option(metavar="DAYS", help="Retention for every schema: DAYS, or 'none' to keep forever.")
    ] = None,
    retain: Annotated[
        list[str] | None,
        typer.Option(
            metavar="SCHEMA=DAYS",
            help="Retention for one schema, SCHEMA=DAYS or SCHEMA=none (repeatable; wins).",
            show_default=False,
        ),
    ] = None,
    now: Annotated[
        str | None,
        typer.Option(metavar="TIMESTAMP", help="Evaluate retention as of this instant (ISO timestamp or date)."),
    ] = None,
    wait: Annotated[
        float | None,
        typer.Option(
            metavar="SECONDS",
            help="Seconds to wait for another mxcp-compact working on the same directory (default 0).",
            min=0,
            show_default=False,
        ),
    ] = None,
    in_place: Annotated[
        bool,
        typer.Option(
            "--in-place",
            help="Compact in place, keeping each file's inode (for writers that hold the file open).",
        ),
    ] = False,
    emergency: Annotated[
        bool,
        typer.Option(
            "--emergency",
            help="Disk full: free space without a temp copy (in place), and report the bytes freed.",
        ),
    ] = False,
    threads: Annotated[int, typer.Option(metavar="N", help="Scan threads (0: one per core).", min=0)] = 0,
    config_file: Annotated[
        Path | None,
        typer.Option(
            "--config",
            metavar="FILE",
            help="Settings file (default: mxcp-compact.toml beside mxcp-site.yml).",
            show_default=False,
        ),
    ] = None,
    archive: Annotated[
        str | None,
        typer.Option(
            metavar="PATH",
            help=(
                "Write the deleted lines to PATH first (.jsonl.gz, .jsonl.zst, .jsonl, or .duckdb for table"
                " audit_logs; {date} = YYYYMMDD)."
            ),
            show_default=False,
        ),
    ] = None,
    audit_trail: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE",
            help="Append one JSON line per run (time, host, user, files, deleted per schema, bytes) to FILE.",
            show_default=False,
        ),
    ] = None,
    output_style: Annotated[
        OutputStyle | None,
        typer.Option(
            help=(
                "guide: the seed guide's output (default); mxcp: exactly what MXCP 0.12.3's `mxcp log-cleanup`"
                ' prints (mxcp.endpoints:v2 keys, JSON as {"status": "ok", "result": ...}).'
                " The settings file's cleanup.output_style sets the default."
            ),
            show_default=False,
        ),
    ] = None,
) -> None:
    started = time.monotonic()
    request = CleanupRequest(
        profile=profile,
        dry_run=dry_run,
        paths=tuple(path or ()),
        retention_days=retention_days,
        retain=tuple(retain or ()),
        now=now,
        wait=wait,
        threads=threads,
        in_place=in_place or emergency,
        emergency=emergency,
        config_file=config_file,
        audit_trail=audit_trail,
        archive=archive,
        json_output=json_output,
        debug=debug,
        output_style=output_style.value if output_style is not None else None,
    )
    status = cleanup.execute(request, started)
    if status:
        raise typer.Exit(status)


@app.command("stats", help="Records and bytes per schema and per month, growth, and what a cleanup would delete now.")
def stats(
    profile: Annotated[str | None, typer.Option(metavar="NAME", help="MXCP profile.")] = None,
    path: Annotated[
        list[Path] | None,
        typer.Option("--path", metavar="FILE_OR_DIR", help="Log file or directory (repeatable).", show_default=False),
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    now: Annotated[str | None, typer.Option(metavar="TIMESTAMP", help="Evaluate retention as of this instant.")] = None,
    retention_days: Annotated[str | None, typer.Option(metavar="DAYS", help="As for log-cleanup.")] = None,
    retain: Annotated[
        list[str] | None, typer.Option(metavar="SCHEMA=DAYS", help="As for log-cleanup.", show_default=False)
    ] = None,
    config_file: Annotated[
        Path | None, typer.Option("--config", metavar="FILE", help="Settings file.", show_default=False)
    ] = None,
    warn_size: Annotated[
        str | None,
        typer.Option(
            metavar="SIZE", help="Exit 1 when the logs total more than SIZE (e.g. 500M, 1G).", show_default=False
        ),
    ] = None,
) -> None:
    from mxcp_compact import config
    from mxcp_compact.report import displayable
    from mxcp_compact.stats import LogStats, parse_size, render_stats_json, render_stats_text, survey

    try:
        limit = parse_size(warn_size) if warn_size is not None else None
        run = config.resolve_run(
            profile=profile,
            paths=path or [],
            retention_days=retention_days,
            retain=retain or [],
            now=now,
            config_file=config_file,
            cwd=Path.cwd(),
            env=os.environ,
        )
    except config.ConfigError as error:
        _fail(str(error), json_output, 2)
    if run.plan.skipped_reason is not None:
        typer.echo(run.plan.skipped_reason)
        return
    result: LogStats = survey(run)
    if json_output:
        sys.stdout.buffer.write(render_stats_json(result, limit))
    else:
        sys.stdout.write(render_stats_text(result, limit))
        for note in (*run.notes, *result.errors):
            print(f"note: {displayable(note)}", file=sys.stderr)
    sys.stdout.flush()
    if result.errors or (limit is not None and result.total_bytes > limit):
        raise typer.Exit(1)


@app.command("export", help="Load audit logs into a DuckDB file (table audit_logs, MXCP's columns, UTC timestamps).")
def export(
    duckdb_file: Annotated[Path, typer.Option("--duckdb", metavar="FILE", help="DuckDB database to write.")],
    since: Annotated[
        str | None, typer.Option(metavar="AGE", help="Only records newer than AGE (30d, 12h, 2w).", show_default=False)
    ] = None,
    profile: Annotated[str | None, typer.Option(metavar="NAME", help="MXCP profile.")] = None,
    path: Annotated[
        list[Path] | None,
        typer.Option("--path", metavar="FILE_OR_DIR", help="Log file or directory (repeatable).", show_default=False),
    ] = None,
    now: Annotated[str | None, typer.Option(metavar="TIMESTAMP", help="The instant --since counts from.")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    from mxcp_compact import config

    try:
        run = config.resolve_run(
            profile=profile,
            paths=path or [],
            retention_days=None,
            retain=[],
            now=now,
            config_file=None,
            cwd=Path.cwd(),
            env=os.environ,
        )
        since_ns = run.now_ns - _age_ns(since) if since is not None else None
        from mxcp_compact.export import export_duckdb
    except config.ConfigError as error:
        _fail(str(error), json_output, 2)
    except ModuleNotFoundError:
        _fail("export needs the duckdb package: pip install 'mxcp-compact[duckdb]'", json_output, 2)
    if run.plan.skipped_reason is not None:
        typer.echo(run.plan.skipped_reason)
        return
    try:
        result = export_duckdb([log.path for log in run.plan.files], duckdb_file, since_ns)
    except Exception as error:  # duckdb raises its own exception types
        _fail(f"{duckdb_file}: export failed: {error}", json_output, 1)
    if json_output:
        import orjson

        document = {
            "status": "success",
            "database": str(result.database),
            "table": "audit_logs",
            "rows": result.rows,
            "lines_not_loaded": result.not_loaded,
            "records_filtered": result.filtered,
        }
        sys.stdout.buffer.write(orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n")
    else:
        typer.echo(f"Exported {result.rows} records to {result.database} (table audit_logs).")
    if result.not_loaded:
        print(f"note: {result.not_loaded} lines are not JSON records and were not loaded", file=sys.stderr)


def _age_ns(text: str) -> int:
    from mxcp_compact.errors import ConfigError

    units = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 7 * 86_400}
    value, unit = text[:-1], text[-1:].lower()
    if unit not in units or not value.isdigit():
        raise ConfigError(f"--since {text!r}: expected an age such as 30d, 12h or 2w")
    return int(value) * units[unit] * 1_000_000_000


@app.command("schedule", help="Print (or install) a daily cleanup: a crontab line or systemd service and timer units.")
def schedule(
    systemd: Annotated[bool, typer.Option("--systemd", help="systemd service + timer units.")] = False,
    cron: Annotated[bool, typer.Option("--cron", help="A crontab line.")] = False,
    profile: Annotated[str | None, typer.Option(metavar="NAME", help="MXCP profile the cleanup uses.")] = None,
    install: Annotated[
        bool, typer.Option("--install", help="Write the systemd units to the unit directory (root).")
    ] = False,
    user: Annotated[str, typer.Option(metavar="USER", help="User the service runs as.")] = "mxcp",
    group: Annotated[str | None, typer.Option(metavar="GROUP", help="Group (default: the user).")] = None,
    working_dir: Annotated[
        Path | None,
        typer.Option(metavar="DIR", help="The MXCP project (default: the one found from here).", show_default=False),
    ] = None,
    on_calendar: Annotated[str, typer.Option(metavar="SPEC", help="systemd OnCalendar.")] = "daily",
    at: Annotated[str, typer.Option(metavar="CRON_TIME", help="Crontab time fields.")] = "0 2 * * *",
    unit_dir: Annotated[Path, typer.Option(hidden=True)] = Path("/etc/systemd/system"),
) -> None:
    from mxcp_compact.profiles import find_site
    from mxcp_compact.schedule import Schedule, account_warnings, cron_line, install_systemd, systemd_units

    if systemd == cron:
        _fail("choose one of --systemd or --cron", False, 2)
    if install and cron:
        _fail("--install writes systemd units; add the --cron line with `crontab -e`", False, 2)
    if working_dir is None:
        site = find_site(Path.cwd())
        working_dir = site.parent if site is not None else Path.cwd()
    plan = Schedule(
        profile=profile,
        working_dir=working_dir.resolve(),
        user=user,
        group=group or user,
        on_calendar=on_calendar,
        cron_time=at,
    )
    if cron:
        typer.echo(cron_line(plan))
        return
    if install:
        try:
            written = install_systemd(plan, unit_dir)
        except OSError as error:
            _fail(f"cannot write the units to {unit_dir}: {error.strerror or error} (run as root)", False, 1)
        for path in written:
            typer.echo(f"wrote {path}")
        typer.echo(f"now: systemctl daemon-reload && systemctl enable --now {written[-1].name}")
    else:
        for name, text in systemd_units(plan).items():
            typer.echo(f"# {unit_dir / name}\n{text}")
        typer.echo("# then: sudo systemctl daemon-reload && sudo systemctl enable --now mxcp-log-cleanup.timer")
    # Last, where it is seen: the units are fine, but systemd will not start them without the account.
    for warning in account_warnings(plan.user, plan.group):
        typer.echo(warning, err=True)


def _fail(message: str, json_output: bool, code: int) -> NoReturn:
    raise typer.Exit(cleanup.report_failure(message, json_output, code))


def main() -> None:
    app(prog_name="mxcp-compact")
