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
# MXCP_AUDIT_ENABLED's spellings, as MXCP reads them (any other value it ignores).
_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}
# What MXCP's pydantic model takes for a quoted `audit.enabled` (pydantic's bool strings).
_SITE_TRUE = {*_TRUE, "on", "t", "y"}
_SITE_FALSE = {*_FALSE, "off", "f", "n"}


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


def _env_flag(name: str, env: Mapping[str, str]) -> tuple[bool | None, str | None]:
    """The variable as MXCP reads it, and a note when it holds a value MXCP ignores (then the
    site file decides, as it does for MXCP's own writer)."""
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return None, None
    value = raw.strip().lower()
    if value in _TRUE:
        return True, None
    if value in _FALSE:
        return False, None
    return None, f"{name}={raw!r} is none of true/false, 1/0, yes/no: ignored, as MXCP ignores it"


def _site_flag(value: object, site_path: Path) -> bool:
    """`audit.enabled` as MXCP's model reads it: a YAML boolean, 0 or 1, or one of pydantic's
    words in a quoted string (`"false"` is false: `bool("false")` used to say true)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in (*_SITE_TRUE, *_SITE_FALSE):
        return value.strip().lower() in _SITE_TRUE
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    raise ConfigError(f"{site_path}: audit.enabled {value!r}: expected true or false")


def _mapping(value: object, what: str, site_path: Path) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{site_path}: {what} must be a mapping")
    return value


def _audit_directory(site: dict[str, Any], site_path: Path) -> Path:
    """`paths.audit`, where MXCP writes a profile's log when `audit.path` is not set."""
    directory = _mapping(site.get("paths"), "'paths'", site_path).get("audit", "audit")
    if not isinstance(directory, str) or not directory:
        raise ConfigError(f"{site_path}: paths.audit must be a non-empty string")
    return Path(directory)


def discover_profile_files(site_path: Path, profile_option: str | None, env: Mapping[str, str]) -> Plan:
    """The audit files of a profile of the MXCP project whose site file is `site_path`."""
    site = load_site(site_path)
    root = site_path.parent
    profiles = _mapping(site.get("profiles"), "'profiles'", site_path)
    profile = profile_option or env.get("MXCP_PROFILE") or site.get("profile") or "default"
    if not isinstance(profile, str):
        raise ConfigError(f"{site_path}: 'profile' must be a string")
    # MXCP gives the site's own profile an entry of defaults (audit off) when `profiles:` has
    # none; a name from --profile or MXCP_PROFILE must be listed (a typo is an error, not a skip).
    if profile not in profiles and profile != site.get("profile"):
        known = ", ".join(sorted(str(p) for p in profiles)) or "none"
        raise ConfigError(f"unknown profile {profile!r} in {site_path} (profiles: {known})")
    settings = _mapping(profiles.get(profile), f"profiles.{profile}", site_path)
    audit = _mapping(settings.get("audit"), f"profiles.{profile}.audit", site_path)
    enabled, ignored = _env_flag("MXCP_AUDIT_ENABLED", env)
    notes = () if ignored is None else ((site_path, ignored),)
    if enabled is None:
        enabled = _site_flag(audit.get("enabled", False), site_path)
    if not enabled:
        skipped = f"Audit logging is disabled for profile '{profile}'."
        return Plan(files=(), profile=profile, skipped_reason=skipped, passed_over=notes)
    raw_path = audit.get("path")
    if raw_path is not None and not isinstance(raw_path, str):
        raise ConfigError(f"{site_path}: profiles.{profile}.audit.path must be a string")
    # As MXCP writes it: relative to the project, `~` not expanded (MXCP writes `./~/...`).
    base = Path(raw_path) if raw_path else _audit_directory(site, site_path) / f"logs-{profile}.jsonl"
    if not base.is_absolute():
        base = root / base
    if base.is_dir():
        # MXCP writes its log at this path, so it must name a file (a directory gave "has 3
        # hard links" from the core, file by file).
        raise ConfigError(f"{site_path}: profiles.{profile}.audit.path {raw_path!r} is a directory; name the log file")
    return Plan(files=tuple(profile_files(base)), profile=profile, passed_over=notes, audit_path=base)
