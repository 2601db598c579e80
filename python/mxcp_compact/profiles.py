"""MXCP projects: the nearest `mxcp-site.yml`, its profiles, and a profile's audit logs.

A profile's audit settings (`audit.enabled`, `MXCP_AUDIT_ENABLED`, `audit.path`) decide whether
a run does anything and where its base log is; `discovery` lists that log's segments.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from mxcp_compact.discovery import Plan, profile_files
from mxcp_compact.errors import ConfigError

# typing.TYPE_CHECKING without importing typing, which costs ~5 ms of every command's start-up.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["SITE_FILE", "discover_profile_files", "find_site", "load_site"]

SITE_FILE = "mxcp-site.yml"
# MXCP_AUDIT_ENABLED's spellings, as MXCP reads them.
_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


def find_site(start: Path) -> Path | None:
    """The nearest `mxcp-site.yml` in `start` or its parents."""
    start = start.resolve()
    for directory in (start, *start.parents):
        candidate = directory / SITE_FILE
        if candidate.is_file():
            return candidate
    return None


def load_site(path: Path) -> dict[str, Any]:
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read: {error}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = error.problem or error.context or "invalid YAML"
        raise ConfigError(f"{where}: invalid YAML: {problem}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: invalid YAML: {error}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data


def _env_flag(name: str, env: Mapping[str, str]) -> bool | None:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return None
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name}={raw!r}: expected true/false, 1/0 or yes/no")


def _site_flag(value: object, site_path: Path) -> bool:
    """`audit.enabled` as MXCP reads it: a YAML boolean, or the same words as the environment
    variable in a quoted string (`"false"` is false: `bool("false")` used to say true)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in (*_TRUE, *_FALSE):
        return value.strip().lower() in _TRUE
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise ConfigError(f"{site_path}: audit.enabled {value!r}: expected true or false")


def discover_profile_files(site_path: Path, profile_option: str | None, env: Mapping[str, str]) -> Plan:
    """The audit files of a profile of the MXCP project whose site file is `site_path`."""
    site = load_site(site_path)
    root = site_path.parent
    profiles = site.get("profiles") or {}
    if not isinstance(profiles, dict):
        raise ConfigError(f"{site_path}: 'profiles' must be a mapping")
    profile = profile_option or env.get("MXCP_PROFILE") or site.get("profile") or "default"
    if not isinstance(profile, str):
        raise ConfigError(f"{site_path}: 'profile' must be a string")
    if profile not in profiles:
        known = ", ".join(sorted(str(p) for p in profiles)) or "none"
        raise ConfigError(f"unknown profile {profile!r} in {site_path} (profiles: {known})")
    audit = (profiles.get(profile) or {}).get("audit") or {}
    if not isinstance(audit, dict):
        raise ConfigError(f"{site_path}: profiles.{profile}.audit must be a mapping")
    enabled = _env_flag("MXCP_AUDIT_ENABLED", env)
    if enabled is None:
        enabled = _site_flag(audit.get("enabled", False), site_path)
    if not enabled:
        return Plan(files=(), profile=profile, skipped_reason=f"Audit logging is disabled for profile '{profile}'.")
    raw_path = audit.get("path")
    if raw_path is not None and not isinstance(raw_path, str):
        raise ConfigError(f"{site_path}: profiles.{profile}.audit.path must be a string")
    base = Path(raw_path).expanduser() if raw_path else Path("audit") / f"logs-{profile}.jsonl"
    if not base.is_absolute():
        base = root / base
    if base.is_dir():
        # MXCP writes its log at this path, so it must name a file (a directory gave "has 3
        # hard links" from the core, file by file).
        raise ConfigError(f"{site_path}: profiles.{profile}.audit.path {raw_path!r} is a directory; name the log file")
    return Plan(files=tuple(profile_files(base)), profile=profile, audit_path=base)
