"""The `mxcp-compact` command line (Typer): parse options and hand them to the command's module.

`launch` parses the scheduled `log-cleanup` command line itself and comes here for everything
else; this module stays the reference for how every option is parsed. log-cleanup's options are
declared once, in `options`, and its Typer command is generated from that declaration.

Exit status: 0 done (or nothing to do), 1 some file could not be compacted (the others were),
2 bad options or configuration (nothing touched), 130 interrupted (Ctrl-C), 143 stopped by
SIGTERM. Errors are one line; `--debug` adds the traceback.
"""

import inspect
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Annotated, Any, NoReturn

import click
import typer

from mxcp_compact import __version__, cleanup
from mxcp_compact.options import CHOICE, FLAG, OPTIONS, REPEATABLE, CleanupRequest, OptionSpec

__all__ = ["app", "main"]


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


def _option(*declarations: str, **settings: Any) -> Any:
    """`typer.Option` without the environment-variable hint: no option reads one, and Click 8.2
    would add "(env var: 'None')" to every error about the option."""
    settings.setdefault("show_envvar", False)
    return typer.Option(*declarations, **settings)


@app.callback()
def _root(
    version: Annotated[
        bool, _option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """Fast, safe retention cleanup for MXCP JSONL audit logs."""


_BY_FLAG = {option.flag: option for option in OPTIONS}


def _typer_parameter(option: OptionSpec) -> inspect.Parameter:
    """`option` as a parameter of the Typer command: its Click type, default and --help line."""
    value_type = option.value_type
    if option.kind == FLAG:
        annotation, default = bool, False
    elif option.kind == REPEATABLE:
        annotation, default = list[value_type] | None, None
    elif option.default is not None:
        annotation, default = value_type, option.default
    else:
        annotation, default = value_type | None, None
    click_type: click.ParamType | None = None
    if option.kind == CHOICE:
        click_type = click.Choice(option.choices)
    elif value_type is float:
        click_type = _FiniteFloat(min=option.minimum, max=option.maximum)
    declared = _option(
        option.flag,
        metavar=option.metavar,
        help=option.help,
        min=None if click_type is not None else option.minimum,
        max=None if click_type is not None else option.maximum,
        show_default=option.show_default,
        click_type=click_type,
    )
    return inspect.Parameter(
        option.field, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=Annotated[annotation, declared]
    )


class _FiniteFloat(click.FloatRange):
    """A float in range that is a real number: Click's range lets `inf` and `nan` through (a
    `--wait nan` then failed inside the run, file by file)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


def log_cleanup(**given: Any) -> None:
    started = time.monotonic()
    for option in OPTIONS:
        # Click passes a repeatable option that was not given as None.
        if option.kind == REPEATABLE:
            given[option.field] = tuple(given[option.field] or ())
    status = cleanup.execute(CleanupRequest(**given), started)
    if status:
        raise typer.Exit(status)


# Typer reads a command's options from its signature: this one is generated from OPTIONS.
log_cleanup.__signature__ = inspect.Signature([_typer_parameter(option) for option in OPTIONS])
app.command(
    "log-cleanup",
    help="Delete audit records past their retention, keeping every other line byte for byte.\n\n" + EXAMPLES,
)(log_cleanup)


ERASE_EXAMPLES = """\b
Conditions:
  --where user_id=zoe          top-level user_id is the text zoe (compared after unescaping)
  --where user_id=null         JSON null; also true, false and integers: duration_ms=42
  --where 'duration_ms="42"'   a quoted JSON string: the text 42, not the number
  Several --where must all hold. The value is everything after the first '='.

\b
Examples:
  mxcp-compact erase --where user_id=zoe --dry-run    # count, change nothing
  mxcp-compact erase --where user_id=zoe --profile production --audit-trail /var/log/mxcp/erasures.jsonl
  mxcp-compact erase --where user_id=zoe --where session_id=s-42 --path /var/log/mxcp --scrub
"""


# The erase command's longer options, declared apart to keep its signature readable.
_Where = Annotated[
    list[str] | None,
    _option(
        "--where",
        metavar="FIELD=VALUE",
        help="Erase records whose top-level FIELD equals VALUE (repeatable: all must hold).",
        show_default=False,
    ),
]
_EraseArchive = Annotated[
    str | None,
    _option(
        "--archive",
        metavar="PATH",
        help="Write the erased lines to PATH first (.jsonl.gz, .jsonl.zst, .jsonl or .duckdb; {date} ="
        " YYYYMMDD). The settings file's archive is not used: it would keep what is being erased.",
        show_default=False,
    ),
]
_EraseTrail = Annotated[
    Path | None,
    _option(
        "--audit-trail",
        metavar="FILE",
        help="Append one JSON line per run (time, host, user, the conditions, files, erased per schema) to FILE.",
        show_default=False,
    ),
]


@app.command(
    "erase",
    help="Delete exactly the audit records whose top-level fields equal the --where values, whatever their"
    " age (an erasure request), keeping every other line byte for byte. Archives and backups still hold"
    " their copies.\n\n" + ERASE_EXAMPLES,
)
def erase(
    where: _Where = None,
    profile: Annotated[str | None, _option(metavar="NAME", help=_BY_FLAG["--profile"].help)] = None,
    path: Annotated[
        list[Path] | None,
        _option("--path", metavar="FILE_OR_DIR", help=_BY_FLAG["--path"].help, show_default=False),
    ] = None,
    dry_run: Annotated[bool, _option("--dry-run", help="Show what would be erased; change nothing.")] = False,
    json_output: Annotated[bool, _option("--json", help="Print the result as JSON.")] = False,
    archive: _EraseArchive = None,
    audit_trail: _EraseTrail = None,
    in_place: Annotated[bool, _option("--in-place", help=_BY_FLAG["--in-place"].help)] = False,
    wait: Annotated[
        float | None,
        _option(
            metavar="SECONDS",
            click_type=_FiniteFloat(min=0, max=_BY_FLAG["--wait"].maximum),
            help=_BY_FLAG["--wait"].help,
            show_default=False,
        ),
    ] = None,
    threads: Annotated[
        int, _option(metavar="N", min=0, max=_BY_FLAG["--threads"].maximum, help=_BY_FLAG["--threads"].help)
    ] = 0,
    now: Annotated[
        str | None, _option(metavar="TIMESTAMP", help="The instant {date} in --archive is taken from.")
    ] = None,
    config_file: Annotated[
        Path | None, _option("--config", metavar="FILE", help=_BY_FLAG["--config"].help, show_default=False)
    ] = None,
    scrub: Annotated[
        bool, _option("--scrub", help="Overwrite the erased bytes before their space is released.")
    ] = False,
    no_scrub: Annotated[bool, _option("--no-scrub", help=_BY_FLAG["--no-scrub"].help)] = False,
) -> None:
    started = time.monotonic()
    request = CleanupRequest(
        profile=profile,
        paths=tuple(path or ()),
        dry_run=dry_run,
        json_output=json_output,
        now=now,
        wait=wait,
        in_place=in_place,
        threads=threads,
        config_file=config_file,
        archive=archive,
        audit_trail=audit_trail,
        scrub=scrub,
        no_scrub=no_scrub,
    )
    status = cleanup.execute(request, started, where=tuple(where or ()))
    if status:
        raise typer.Exit(status)


_METRICS_OPTION = _option(
    "--metrics",
    metavar="FILE",
    help="Write the run's figures to FILE, a Prometheus textfile (*.prom for node_exporter); one file per command.",
    show_default=False,
)


# The options stats and verify share (they read the logs as log-cleanup would, and change nothing).
_Profile = Annotated[str | None, _option(metavar="NAME", help="MXCP profile.")]
_Paths = Annotated[
    list[Path] | None,
    _option("--path", metavar="FILE_OR_DIR", help="Log file or directory (repeatable).", show_default=False),
]
_Json = Annotated[bool, _option("--json", help="Print JSON.")]
_Now = Annotated[str | None, _option(metavar="TIMESTAMP", help="Evaluate retention as of this instant.")]
_RetentionDays = Annotated[str | None, _option(metavar="DAYS", help="As for log-cleanup.")]
_Retain = Annotated[list[str] | None, _option(metavar="SCHEMA=DAYS", help="As for log-cleanup.", show_default=False)]
_Config = Annotated[Path | None, _option("--config", metavar="FILE", help="Settings file.", show_default=False)]


def _refuse_bad_metrics_file(metrics_file: Path | None, run: Any, json_output: bool) -> None:
    """Exit 2, before the command runs, when `--metrics` names a file it must not replace."""
    from mxcp_compact.outputs import output_problem

    if metrics_file is not None:
        logs = [log.path for log in run.plan.files]
        problem = output_problem(metrics_file, "--metrics", logs, replaced=True)
        if problem is not None:
            _fail(problem, json_output, 2)


def _not_a_database(database: Path, logs: list[Path]) -> str | None:
    """Why `--duckdb` cannot be written, or None: it must be a DuckDB database or not exist yet
    (DuckDB opened an existing .csv, .json or .parquet file in memory, reported success and
    wrote nothing), and it must be none of the logs."""
    from mxcp_compact.outputs import duckdb_name_problem, output_problem

    problem = output_problem(database, "--duckdb", logs, replaced=False) or duckdb_name_problem(database, "--duckdb")
    if problem is not None or not database.exists() or database.stat().st_size == 0:
        return problem
    with database.open("rb") as existing:
        header = existing.read(12)
    # A DuckDB file has its magic bytes after an 8-byte checksum.
    return None if header[8:12] == b"DUCK" else f"{database}: --duckdb names a file that is not a DuckDB database"


def _say_skipped(reason: str, json_output: bool) -> None:
    """A disabled profile's message, as JSON with `--json` (as log-cleanup prints it)."""
    if not json_output:
        typer.echo(reason)
        return
    import orjson

    document = {"status": "skipped", "message": reason}
    sys.stdout.buffer.write(orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n")


def _survey_run(
    profile: str | None,
    paths: list[Path] | None,
    retention_days: str | None,
    retain: list[str] | None,
    now: str | None,
    config_file: Path | None,
) -> Any:
    """The files and rules of a read-only command, resolved as log-cleanup resolves them."""
    from mxcp_compact import config

    return config.resolve_run(
        profile=profile,
        paths=paths or [],
        retention_days=retention_days,
        retain=retain or [],
        now=now,
        config_file=config_file,
        cwd=Path.cwd(),
        env=os.environ,
    )


@app.command("stats", help="Records and bytes per schema and per month, growth, and what a cleanup would delete now.")
def stats(
    profile: _Profile = None,
    path: _Paths = None,
    json_output: _Json = False,
    now: _Now = None,
    retention_days: _RetentionDays = None,
    retain: _Retain = None,
    config_file: _Config = None,
    metrics_file: Annotated[Path | None, _METRICS_OPTION] = None,
    warn_size: Annotated[
        str | None,
        _option(metavar="SIZE", help="Exit 1 when the logs total more than SIZE (e.g. 500M, 1G).", show_default=False),
    ] = None,
) -> None:
    from mxcp_compact import config
    from mxcp_compact.report import displayable
    from mxcp_compact.stats import LogStats, parse_size, render_stats_json, render_stats_text, survey

    started = time.monotonic()
    try:
        limit = parse_size(warn_size) if warn_size is not None else None
        run = _survey_run(profile, path, retention_days, retain, now, config_file)
    except config.ConfigError as error:
        _fail(str(error), json_output, 2)
    _refuse_bad_metrics_file(metrics_file, run, json_output)
    if run.plan.skipped_reason is not None:
        _say_skipped(run.plan.skipped_reason, json_output)
        _finish(0, metrics_file, lambda m: m.skipped_metrics("stats", run.plan.profile, _since(started)))
        return
    result: LogStats = survey(run)
    if json_output:
        sys.stdout.buffer.write(render_stats_json(result, limit))
    else:
        sys.stdout.write(render_stats_text(result, limit))
        for note in (*run.notes, *result.errors):
            print(f"note: {displayable(note)}", file=sys.stderr)
    sys.stdout.flush()
    status = 1 if result.errors or (limit is not None and result.total_bytes > limit) else 0
    _finish(status, metrics_file, lambda m: m.stats_metrics(result, run.now_ns, status == 0, _since(started)))


@app.command(
    "verify",
    help="Exit 0 when no record past its retention remains (1 otherwise): per file the count, the oldest"
    " such record and its line, records dated in the future, and lines that could not be evaluated.",
)
def verify(
    profile: _Profile = None,
    path: _Paths = None,
    json_output: _Json = False,
    now: _Now = None,
    retention_days: _RetentionDays = None,
    retain: _Retain = None,
    config_file: _Config = None,
    metrics_file: Annotated[Path | None, _METRICS_OPTION] = None,
) -> None:
    from mxcp_compact import config
    from mxcp_compact.report import displayable
    from mxcp_compact.verify import check, render_json, render_text

    started = time.monotonic()
    try:
        run = _survey_run(profile, path, retention_days, retain, now, config_file)
    except config.ConfigError as error:
        _fail(str(error), json_output, 2)
    _refuse_bad_metrics_file(metrics_file, run, json_output)
    if run.plan.skipped_reason is not None:
        _say_skipped(run.plan.skipped_reason, json_output)
        _finish(0, metrics_file, lambda m: m.skipped_metrics("verify", run.plan.profile, _since(started)))
        return
    result = check([(run, [log.path for log in run.plan.files])], run.plan.profile)
    if json_output:
        sys.stdout.buffer.write(render_json(result))
    else:
        sys.stdout.write(render_text(result))
        for note in run.notes:
            print(f"note: {displayable(note)}", file=sys.stderr)
        if not result.files:
            # True, but a compliance check that read nothing is more often a wrong path.
            print("note: nothing was checked: is --path (or the profile's audit directory) right?", file=sys.stderr)
    sys.stdout.flush()
    status = 0 if result.compliant else 1
    _finish(status, metrics_file, lambda m: m.verify_metrics(result, run.now_ns, status == 0, _since(started)))


@app.command("export", help="Load audit logs into a DuckDB file (table audit_logs, MXCP's columns, UTC timestamps).")
def export(
    duckdb_file: Annotated[Path, _option("--duckdb", metavar="FILE", help="DuckDB database to write.")],
    since: Annotated[
        str | None, _option(metavar="AGE", help="Only records newer than AGE (30d, 12h, 2w).", show_default=False)
    ] = None,
    profile: Annotated[str | None, _option(metavar="NAME", help="MXCP profile.")] = None,
    path: Annotated[
        list[Path] | None,
        _option("--path", metavar="FILE_OR_DIR", help="Log file or directory (repeatable).", show_default=False),
    ] = None,
    now: Annotated[str | None, _option(metavar="TIMESTAMP", help="The instant --since counts from.")] = None,
    json_output: Annotated[bool, _option("--json", help="Print JSON.")] = False,
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
        from mxcp_compact.export import check_since, export_duckdb

        check_since(since, since_ns, run.now_ns)
    except config.ConfigError as error:
        _fail(str(error), json_output, 2)
    except ModuleNotFoundError:
        _fail("export needs the duckdb package: pip install 'mxcp-compact[duckdb]'", json_output, 2)
    if run.plan.skipped_reason is not None:
        _say_skipped(run.plan.skipped_reason, json_output)
        return
    problem = _not_a_database(duckdb_file, [log.path for log in run.plan.files])
    if problem is not None:
        _fail(problem, json_output, 2)
    try:
        result = export_duckdb([log.path for log in run.plan.files], duckdb_file, since_ns)
    except Exception as error:  # duckdb raises its own exception types
        _fail(f"{duckdb_file}: export failed: {error}", json_output, 1)
    from mxcp_compact.report import displayable

    if json_output:
        import orjson

        document = {
            "status": "error" if result.not_exported else "success",
            "database": str(result.database),
            "table": "audit_logs",
            "rows": result.rows,
            "lines_not_loaded": result.not_loaded,
            "records_filtered": result.filtered,
            "errors": [displayable(problem) for problem in result.not_exported],
        }
        sys.stdout.buffer.write(orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n")
    else:
        left_out = len(result.not_exported)
        but = f"; {left_out} {'file was' if left_out == 1 else 'files were'} not exported (below)" if left_out else ""
        typer.echo(f"Exported {result.rows} records to {result.database} (table audit_logs){but}.")
    if result.not_loaded:
        print(f"note: {result.not_loaded} lines are not JSON records and were not loaded", file=sys.stderr)
    if result.filtered:
        why = "older than --since, or with" if since is not None else "with"
        print(
            f"note: {result.filtered} records {why} a timestamp DuckDB cannot read were not exported", file=sys.stderr
        )
    for problem in result.not_exported:
        print(f"error: {displayable(problem)}; not exported", file=sys.stderr)
    if result.not_exported:
        raise typer.Exit(1)


def _age_ns(text: str) -> int:
    from mxcp_compact.errors import ConfigError

    units = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 7 * 86_400}
    value, unit = text[:-1], text[-1:].lower()
    if unit not in units or not value.isdigit():
        raise ConfigError(f"--since {text!r}: expected an age such as 30d, 12h or 2w")
    return int(value) * units[unit] * 1_000_000_000


# The trick of config.py, without importing typing's: the schedule module loads when the command runs.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from mxcp_compact.schedule import Schedule


# The schedule command's longer options, declared apart to keep its signature readable.
_Compose = Annotated[
    bool,
    _option(
        "--compose",
        help="A docker compose service (YAML) that cleans up at start and then daily at the --at time, UTC.",
    ),
]
_Kubernetes = Annotated[
    bool, _option("--kubernetes", help="A Kubernetes CronJob and the PersistentVolumeClaim it mounts (YAML).")
]
_Install = Annotated[bool, _option("--install", help="Write the systemd units to the unit directory (root).")]
_ScheduleUser = Annotated[
    str, _option(metavar="USER", help="User the cleanup runs as (containers: a uid such as 1000, or a name).")
]
_WorkingDir = Annotated[
    Path | None,
    _option(
        metavar="DIR",
        help="The MXCP project (default: the one found from here); containers see it at the same path.",
        show_default=False,
    ),
]
_At = Annotated[
    str,
    _option(
        metavar="CRON_TIME",
        help=(
            "When to run, as crontab time fields: --cron (local time), --kubernetes (UTC),"
            " --compose ('MINUTE HOUR * * *', UTC)."
        ),
    ),
]
_Image = Annotated[
    str, _option(metavar="IMAGE", help="Container image (--compose, --kubernetes); it must contain mxcp-compact.")
]
_Claim = Annotated[
    str,
    _option(
        metavar="NAME",
        help="The audit volume (--compose) or PersistentVolumeClaim (--kubernetes); the MXCP server mounts it too.",
    ),
]
_Namespace = Annotated[
    str | None, _option(metavar="NAMESPACE", help="Kubernetes namespace (default: kubectl's).", show_default=False)
]


#: The schedule's times when none is given: 02:00 every day.
_DEFAULT_AT = "0 2 * * *"
_DEFAULT_ON_CALENDAR = "daily"


@app.command(
    "schedule",
    help=(
        "Print (or install) a daily cleanup: a crontab line, systemd service and timer units, a docker compose"
        " service or a Kubernetes CronJob. All run the same log-cleanup command line."
    ),
)
def schedule(
    systemd: Annotated[bool, _option("--systemd", help="systemd service + timer units.")] = False,
    cron: Annotated[bool, _option("--cron", help="A crontab line.")] = False,
    compose: _Compose = False,
    kubernetes: _Kubernetes = False,
    profile: Annotated[str | None, _option(metavar="NAME", help="MXCP profile the cleanup uses.")] = None,
    install: _Install = False,
    user: _ScheduleUser = "mxcp",
    group: Annotated[str | None, _option(metavar="GROUP", help="Group (default: the user).")] = None,
    working_dir: _WorkingDir = None,
    on_calendar: Annotated[str, _option(metavar="SPEC", help="systemd OnCalendar.")] = _DEFAULT_ON_CALENDAR,
    at: _At = _DEFAULT_AT,
    image: _Image = "mxcp-compact:latest",
    claim: _Claim = "mxcp-audit",
    namespace: _Namespace = None,
    unit_dir: Annotated[Path, _option(hidden=True)] = Path("/etc/systemd/system"),
) -> None:
    from mxcp_compact.schedule import audit_disabled_warning, cron_line

    kinds = {"--cron": cron, "--systemd": systemd, "--compose": compose, "--kubernetes": kubernetes}
    chosen = [kind for kind, wanted in kinds.items() if wanted]
    if len(chosen) != 1:
        _fail("choose one of --cron, --systemd, --compose or --kubernetes", False, 2)
    if install and not systemd:
        _fail(f"--install writes systemd units; {_INSTALL_INSTEAD[chosen[0]]}", False, 2)
    # Cron separates its fields by any run of blanks; the schedules print them one space apart.
    at = " ".join(at.split())
    _check_schedule_time(chosen[0], on_calendar, at)
    plan, site = _valid_schedule(
        chosen[0],
        working_dir,
        profile=profile,
        user=user,
        group=group or user,
        on_calendar=on_calendar,
        cron_time=at,
        image=image,
        claim=claim,
        namespace=namespace,
    )
    if cron:
        typer.echo(cron_line(plan))
    elif systemd:
        _schedule_systemd(plan, install, unit_dir)
    else:
        _schedule_container(plan, compose, site_checked=site is not None)
    disabled = audit_disabled_warning(site, profile)
    if disabled is not None:
        typer.echo(disabled, err=True)


def _check_schedule_time(kind: str, on_calendar: str, at: str) -> None:
    """Exit 2 for a time option the chosen output would silently drop, or an OnCalendar systemd
    cannot parse (the timer would refuse to start)."""
    from mxcp_compact.schedule import check_cron_time, check_on_calendar

    if kind == "--systemd" and at != _DEFAULT_AT:
        _fail("--at is for --cron, --compose and --kubernetes; --systemd takes --on-calendar", False, 2)
    if kind != "--systemd" and on_calendar != _DEFAULT_ON_CALENDAR:
        _fail(f"--on-calendar is for --systemd; {kind} takes --at", False, 2)
    try:
        if kind == "--systemd":
            check_on_calendar(on_calendar)
        if kind == "--kubernetes":
            check_cron_time(at, kubernetes=True)
    except ValueError as error:
        _fail(str(error), False, 2)


def _valid_schedule(kind: str, working_dir: Path | None, **fields: Any) -> tuple["Schedule", Path | None]:
    """The `Schedule` of `fields` for the project that `working_dir` (or the current directory)
    names, and that project's mxcp-site.yml; or exit 2, before anything is printed, with why it
    cannot be printed safely or every scheduled run would fail (no project, an unknown profile)."""
    from mxcp_compact.schedule import Schedule, audit_directory, find_project

    try:
        working_dir, site = find_project(working_dir, Path.cwd(), kind, fields["profile"])
        # Only the containers mount the audit directory.
        audit_dir = audit_directory(working_dir, site, fields["profile"]) if kind in _CONTAINERS else None
        return Schedule(working_dir=working_dir, audit_dir=audit_dir, **fields), site
    except ValueError as error:  # ConfigError included
        _fail(str(error), False, 2)


_CONTAINERS = ("--compose", "--kubernetes")


_INSTALL_INSTEAD = {
    "--cron": "add the --cron line with `crontab -e`",
    "--compose": "save the --compose output as mxcp-log-cleanup.yml and run"
    " `docker compose -f docker-compose.yml -f mxcp-log-cleanup.yml up -d`",
    "--kubernetes": "apply the --kubernetes output with `kubectl apply -f mxcp-log-cleanup.yaml`",
}


def _schedule_systemd(plan: "Schedule", install: bool, unit_dir: Path) -> None:
    from mxcp_compact.schedule import account_warnings, install_systemd, systemd_units

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


def _schedule_container(plan: "Schedule", compose: bool, site_checked: bool) -> None:
    from mxcp_compact.schedule import compose_file, kubernetes_manifests, kubernetes_warnings

    try:
        text = compose_file(plan) if compose else kubernetes_manifests(plan)
    except ValueError as error:
        _fail(str(error), False, 2)
    typer.echo(text, nl=False)
    # The host's accounts mean nothing in a container; only Kubernetes needs the ids to be numbers.
    for warning in [] if compose else kubernetes_warnings(plan, site_checked):
        typer.echo(warning, err=True)


def _finish(status: int, metrics_file: Path | None, figures: Callable[[ModuleType], Any]) -> None:
    """Writes `figures(metrics module)` to the metrics file, if one is given, then exits with
    `status`, or 1 after a one-line error when the file cannot be written. The lambda keeps the
    metrics module unimported when no file is asked for."""
    if metrics_file is not None:
        from mxcp_compact import metrics
        from mxcp_compact.report import displayable

        problem = metrics.write_or_explain(metrics_file, figures(metrics))
        if problem is not None:
            print(f"Error: {displayable(problem)}", file=sys.stderr)
            status = status or 1
    if status:
        raise typer.Exit(status)


def _since(started: float) -> float:
    return time.monotonic() - started


def _fail(message: str, json_output: bool, code: int) -> NoReturn:
    raise typer.Exit(cleanup.report_failure(message, json_output, code))


def _given_twice(group: click.Command, args: list[str]) -> str | None:
    """The first option of `args`' command (in `group`, the built app) that takes one value and
    is given more than once: Click would silently keep the last (two `--archive`s, and the first
    is never written)."""
    command = group.commands.get(args[0]) if args and isinstance(group, click.Group) else None
    if command is None:
        return None
    options = {name: param for param in command.params if isinstance(param, click.Option) for name in param.opts}
    seen: set[str | None] = set()
    tokens = iter(args[1:])
    for token in tokens:
        name, has_value, _ = token.partition("=")
        option = options.get(name)
        if token == "--" or (option is None and token.startswith("-")):
            # Past this, only Click knows which tokens are values: it decides.
            return None
        if option is None or option.is_flag:
            continue
        if not has_value:
            next(tokens, None)
        if not option.multiple and option.name in seen:
            return name
        seen.add(option.name)
    return None


class _NamedPath(click.ParamType):
    """A path option's type that refuses an empty value, then converts as before (`inner`).
    `Path("")` is `.`: with an unset variable in `--path "$AUDIT_DIR"`, the run would work on
    whatever directory cron or the shell started it in."""

    def __init__(self, inner: click.ParamType) -> None:
        self.inner = inner
        self.name = inner.name

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and not value:
            self.fail("an empty path (an unset variable?); name a file or directory.", param, ctx)
        return self.inner.convert(value, param, ctx)


def _refuse_empty_paths(group: click.Group) -> None:
    """Gives every path option of the built app the `_NamedPath` check (`--archive ''` is a
    text option, and means: no archive)."""
    for command in group.commands.values():
        for param in command.params:
            if isinstance(param, click.Option) and isinstance(param.type, click.Path):
                param.type = _NamedPath(param.type)


def _show_on_one_line(error: click.ClickException) -> None:
    """A usage error as one line, where Click prints three (usage, hint, error): what a cron mail
    or a journal line shows whole. Bare `mxcp-compact` still prints the help."""
    shows_help = getattr(click.exceptions, "NoArgsIsHelpError", ())
    if not isinstance(error, click.UsageError) or isinstance(error, shows_help):
        error.show()
        return
    hint = f" (see '{error.ctx.command_path} --help')" if error.ctx is not None else ""
    print(f"Error: {error.format_message()}{hint}", file=sys.stderr)


def main() -> None:
    """Runs the Typer app; with `--json`, a usage error (an unknown option, a bad value) is the
    JSON error document on stdout, like every other error of a JSON run, instead of Click's
    usage text alone."""
    try:
        # Built once (about 5 ms), for the check and the run.
        command = typer.main.get_command(app)
        if isinstance(command, click.Group):
            _refuse_empty_paths(command)
        twice = _given_twice(command, sys.argv[1:])
        if twice is not None:
            raise click.UsageError(f"{twice} is given more than once; it takes one value, so give it once.")
        status = command(prog_name="mxcp-compact", standalone_mode=False)
    except click.ClickException as error:
        if "--json" not in sys.argv[1:]:
            _show_on_one_line(error)
            sys.exit(error.exit_code)
        sys.exit(cleanup.report_failure(error.format_message(), True, error.exit_code))
    except click.Abort:
        print("Aborted!", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        # Ctrl-C before the command runs (while Click builds and parses it): a stop request.
        print("\nAborted!", file=sys.stderr)
        sys.exit(130)
    sys.exit(status if isinstance(status, int) else 0)
