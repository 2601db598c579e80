"""Resolve what a run works on: options, site, profile, files, settings file and registries
into one `RunConfig`, for every command (log-cleanup plans further in `cleanup_plan`).

Everything is validated up front so that a bad option or a broken `mxcp-site.yml` is one clear
`ConfigError` (exit 2) before any file is touched. Each concern has its own module: `profiles`
(mxcp-site.yml), `discovery` (which files), `registry` (MXCP's schema registry), `settings`
(mxcp-compact.toml) and `rules` (retention).
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from mxcp_compact.discovery import ARCHIVE_RULES, Plan, archive_files, expand_paths
from mxcp_compact.errors import ConfigError
from mxcp_compact.paths import resolved_or_same
from mxcp_compact.profiles import discover_profile_files, find_site
from mxcp_compact.registry import RegistryEntry, load_registry
from mxcp_compact.rules import Retention, parse_days, parse_now, parse_retain
from mxcp_compact.settings import TOOL_CONFIG_FILE, ToolConfig, load_tool_config

# typing.TYPE_CHECKING without importing typing, which costs ~5 ms of every command's start-up.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from mxcp_compact.rules import Days

__all__ = ["ConfigError", "RunConfig", "resolve_run"]


# A named tuple rather than a frozen dataclass (see registry.RegistryEntry).
class RunConfig(
    namedtuple(
        "RunConfig",
        [
            "plan",  # Plan
            "rules",  # Mapping[Path | None, core rules]: per schema registry (None: no registry beside the logs)
            "now_ns",  # int
            "settings",  # ToolConfig
            "notes",  # tuple[str, ...]: warnings worth showing (ignored registry lines, skipped files)
        ],
    )
):
    """Everything a command needs, resolved and validated before any file is touched."""

    __slots__ = ()


def resolve_run(
    *,
    profile: str | None,
    paths: Iterable[Path],
    retention_days: str | None,
    retain: Iterable[str],
    now: str | None,
    config_file: Path | None,
    cwd: Path,
    env: Mapping[str, str],
    head_known: Callable[[Path], bool] | None = None,
) -> RunConfig:
    """Options, site, profile, files, settings file and registries into one `RunConfig`;
    `head_known` as for `discovery.expand_paths`."""
    import time

    paths = list(paths)
    overrides = _retain_rules(retain)
    all_schemas = parse_days(retention_days, "--retention-days") if retention_days is not None else None
    instant = parse_now(now) if now is not None else time.time_ns()
    unread_settings: tuple[str, ...] = ()
    if paths:
        if profile is not None:
            raise ConfigError("--profile and --path cannot be combined: --path names the files itself")
        plan = expand_paths(paths, head_known)
        unread_settings = _settings_a_path_run_does_not_read(cwd) if config_file is None else ()
    else:
        site = find_site(cwd)
        if site is None:
            raise ConfigError(
                "no mxcp-site.yml in this directory or its parents; run inside an MXCP project or pass --path"
            )
        plan = discover_profile_files(site, profile, env)
        beside = site.parent / TOOL_CONFIG_FILE
        if config_file is None and beside.is_file():
            config_file = beside
    settings = load_tool_config(config_file) if config_file is not None else ToolConfig()
    plan = _with_archives(plan, settings)
    base = settings.retention(overrides, all_schemas)
    notes = [*unread_settings, *(f"{path}: {reason}" for path, reason in plan.passed_over)]
    rules: dict[Path | None, Any] = {}
    if settings.archive_directory is not None:
        rules[ARCHIVE_RULES] = Retention(all_schemas=settings.archive_retention_days).to_core()
    for log in plan.files:
        if log.rules_key not in rules:
            registry: tuple[RegistryEntry, ...] = ()
            if log.registry is not None:
                registry, warnings = load_registry(log.registry, base.schemas, base.all_schemas is not None)
                notes += warnings
            rules[log.registry] = base.with_registry(registry).to_core()
    return RunConfig(plan, rules, instant, settings, tuple(notes))


def _settings_a_path_run_does_not_read(cwd: Path) -> tuple[str, ...]:
    """A note on the project's settings file, which a `--path` run does not read: its retention
    (a schema kept 365 days, say) does not apply unless `--config` names it."""
    site = find_site(cwd)
    beside = site.parent / TOOL_CONFIG_FILE if site is not None else None
    if beside is None or not beside.is_file():
        return ()
    return (
        f"{beside}: not read by a --path run (its retention and archive settings do not apply); add --config {beside}",
    )


def _with_archives(plan: Plan, settings: ToolConfig) -> Plan:
    """The plan, with the settings file's archive directory after the logs (not when audit is
    disabled: then the run does nothing)."""
    if settings.archive_directory is None or plan.skipped_reason is not None:
        return plan
    known = {resolved_or_same(log.path) for log in plan.files}
    try:
        listed = archive_files(settings.archive_directory)
    except ConfigError as error:
        raise ConfigError(f"{settings.path}: {error}") from None
    extra = [log for log in listed if resolved_or_same(log.path) not in known]
    passed_over = plan.passed_over
    if _holds_the_logs(settings.archive_directory, plan):
        # Every file there is cleaned as an archive and removed once empty: other profiles' live
        # logs (one whose audit is off among them) went with the archive retention. Only rotated
        # and compressed copies (logrotate's `.jsonl.1`, `.jsonl.2.gz`) are archives there.
        live = [log for log in extra if log.path.name.endswith(".jsonl")]
        extra = [log for log in extra if not log.path.name.endswith(".jsonl")]
        if live:
            why = (
                f"the [archive] directory holds the audit logs: its {len(live)} plain .jsonl files"
                f" ({live[0].path.name}...) are not cleaned as archives, only its rotated and compressed copies"
            )
            passed_over = (*passed_over, (settings.archive_directory, why))
    return plan._replace(files=(*plan.files, *extra), passed_over=passed_over)


def _holds_the_logs(directory: Path, plan: Plan) -> bool:
    archives = resolved_or_same(directory)
    logs = [log.path for log in plan.files] + ([plan.audit_path] if plan.audit_path is not None else [])
    return any(resolved_or_same(path.parent) == archives for path in logs)


def _retain_rules(retain: Iterable[str]) -> dict[str, Days]:
    """The `--retain` rules by schema; one schema given two different rules is refused, not
    decided by the order of the options."""
    rules: dict[str, Days] = {}
    for item in retain:
        name, days = parse_retain(item)
        if name in rules and rules[name] != days:
            raise ConfigError(f"--retain {item!r}: {name} already has a rule ({rules[name]}); give each schema one")
        rules[name] = days
    return rules
