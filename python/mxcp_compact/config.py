"""Resolve what a run works on: the MXCP profile, its audit files, and the retention rules.

Everything here is validated up front so that a bad option or a broken `mxcp-site.yml` is one
clear `ConfigError` (exit 2) before any file is touched. The result is a frozen `Plan`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

# typing.TYPE_CHECKING without importing typing, which costs ~5 ms of every command's start-up.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Literal

    #: Days a record lives, or FOREVER.
    Days = int | Literal["forever"]

__all__ = [
    "FOREVER",
    "ConfigError",
    "Days",
    "LogFile",
    "Plan",
    "RegistryEntry",
    "Retention",
    "RunConfig",
    "ToolConfig",
    "discover_profile_files",
    "expand_paths",
    "find_site",
    "load_registry",
    "load_tool_config",
    "parse_now",
    "parse_retain",
    "registry_path_for",
    "resolve_run",
]

FOREVER: Literal["forever"] = "forever"


def __getattr__(name: str) -> object:
    # `Days` at run time, for code that imports it: built on first use, as it needs typing.
    if name == "Days":
        from typing import Literal

        return int | Literal["forever"]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


SITE_FILE = "mxcp-site.yml"
#: Our own settings live beside mxcp-site.yml: MXCP forbids unknown keys in its own file.
TOOL_CONFIG_FILE = "mxcp-compact.toml"
_TOOL_CONFIG_KEYS = {
    "retention": {"default_days", "schemas"},
    "cleanup": {"archive", "audit_trail", "wait", "output_style"},
}
REGISTRY_SUFFIX = "_schemas.jsonl"
_SEGMENT_SUFFIX = re.compile(r"-\d{8}T\d{6}(?:-\d+)?$")
_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}
# Magic numbers of formats that are never JSONL text.
_BINARY_MAGIC = {
    b"\x1f\x8b": "gzip-compressed",
    b"\x28\xb5\x2f\xfd": "zstd-compressed",
    b"BZh": "bzip2-compressed",
    b"\xfd7zXZ\x00": "xz-compressed",
    b"PK\x03\x04": "a zip archive",
    b"DUCK": "a DuckDB database",
}


class ConfigError(ValueError):
    """Bad options or configuration: nothing was touched (exit status 2)."""


@dataclass(frozen=True)
class RegistryEntry:
    """One line of MXCP's schema registry (`<stem>_schemas.jsonl`)."""

    schema_name: str
    version: int
    retention_days: int | None  # None keeps records forever
    active: bool = True


@dataclass(frozen=True)
class Retention:
    """Retention rules, in precedence order: `schemas` (per schema name), `all_schemas`, then the
    `registry`, then MXCP's built-in 90 days for `mxcp.endpoints`."""

    schemas: Mapping[str, Days] = field(default_factory=dict)
    all_schemas: Days | None = None
    registry: tuple[RegistryEntry, ...] = ()

    def with_registry(self, registry: Iterable[RegistryEntry]) -> Retention:
        return Retention(schemas=self.schemas, all_schemas=self.all_schemas, registry=tuple(registry))

    def to_core(self) -> Any:
        from mxcp_compact import _core

        for name, days in self.schemas.items():
            _check_days(days, f"retention for {name!r}")
        if self.all_schemas is not None:
            _check_days(self.all_schemas, "retention for all schemas")
        return _core.Rules(
            [(name, None if days == FOREVER else days) for name, days in self.schemas.items()],
            self.all_schemas is not None,
            None if self.all_schemas in (None, FOREVER) else self.all_schemas,
            [(e.schema_name, e.version, e.retention_days, e.active) for e in self.registry],
        )


def _check_days(days: object, what: str) -> None:
    if days == FOREVER:
        return
    if not isinstance(days, int) or isinstance(days, bool) or not 0 <= days <= 2**32 - 1:
        raise ConfigError(f"{what} must be a whole number of days >= 0 or 'forever', not {days!r}")


@dataclass(frozen=True)
class LogFile:
    """One audit log file to compact."""

    path: Path
    registry: Path | None
    #: Segments are deleted once empty; a base file is kept, possibly empty.
    is_segment: bool


@dataclass(frozen=True)
class Plan:
    files: tuple[LogFile, ...]
    profile: str | None
    #: Why the run does nothing at all (audit disabled); None otherwise.
    skipped_reason: str | None = None
    #: Files passed over, with the reason, reported as notes.
    passed_over: tuple[tuple[Path, str], ...] = ()
    audit_path: Path | None = None


def parse_days(text: str, what: str) -> Days:
    value = text.strip().lower()
    if value in ("none", "null", "forever"):
        return FOREVER
    try:
        days = int(value)
    except ValueError:
        raise ConfigError(f"{what}: expected a whole number of days or 'none', got {text!r}") from None
    if days < 0:
        raise ConfigError(f"{what}: days must not be negative, got {days}")
    _check_days(days, what)
    return days


def parse_retain(text: str) -> tuple[str, Days]:
    """`SCHEMA=DAYS` or `SCHEMA=none` (keep forever)."""
    name, sep, days = text.rpartition("=")
    if not sep or not name.strip():
        raise ConfigError(f"--retain {text!r}: expected SCHEMA=DAYS or SCHEMA=none, e.g. mxcp.endpoints=365")
    return name.strip(), parse_days(days, f"--retain {text!r}")


def parse_now(text: str) -> int:
    """`--now` as nanoseconds since the epoch: an ISO timestamp, or a date (midnight UTC)."""
    from mxcp_compact import _core

    value = _core.parse_now(text.strip())
    if value is None:
        raise ConfigError(
            f"--now {text!r}: not a timestamp; use e.g. 2026-11-27T00:00:00Z, 2026-11-27 12:00:00+02:00 or 2026-11-27"
        )
    return int(value)


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
        enabled = bool(audit.get("enabled", False))
    if not enabled:
        return Plan(files=(), profile=profile, skipped_reason=f"Audit logging is disabled for profile '{profile}'.")
    raw_path = audit.get("path")
    if raw_path is not None and not isinstance(raw_path, str):
        raise ConfigError(f"{site_path}: profiles.{profile}.audit.path must be a string")
    base = Path(raw_path).expanduser() if raw_path else Path("audit") / f"logs-{profile}.jsonl"
    if not base.is_absolute():
        base = root / base
    return Plan(files=tuple(_profile_files(base)), profile=profile, audit_path=base)


def _profile_files(base: Path) -> list[LogFile]:
    stem = base.name.removesuffix(".jsonl")
    registry = base.with_name(stem + REGISTRY_SUFFIX)
    registry_or_none = registry if registry.is_file() else None
    segment = re.compile(re.escape(stem) + r"-\d{8}T\d{6}(?:-\d+)?\.jsonl")
    files = []
    # Anything by a log's name that is not a directory is listed, so that one we cannot read
    # (a dangling symlink, a socket) is reported rather than silently passed over.
    if base.exists() or base.is_symlink():
        files.append(LogFile(base, registry_or_none, is_segment=False))
    if base.parent.is_dir():
        for entry in sorted(base.parent.iterdir()):
            if segment.fullmatch(entry.name) and not entry.is_dir():
                files.append(LogFile(entry, registry_or_none, is_segment=True))
    return files


def registry_path_for(log: Path) -> Path | None:
    """The registry beside a log: `<stem>_schemas.jsonl`, the stem without a segment suffix."""
    stem = _SEGMENT_SUFFIX.sub("", log.name.removesuffix(".jsonl"))
    candidate = log.with_name(stem + REGISTRY_SUFFIX)
    return candidate if candidate.is_file() else None


def _is_segment_name(name: str) -> bool:
    return name.endswith(".jsonl") and _SEGMENT_SUFFIX.search(name.removesuffix(".jsonl")) is not None


def binary_kind(path: Path) -> str | None:
    """Why a file is plainly not JSONL text (compressed, archive, NUL bytes), or None."""
    try:
        with path.open("rb") as handle:
            head = handle.read(512)
    except OSError:
        return None  # the core reports unreadable files with the right error
    for magic, kind in _BINARY_MAGIC.items():
        if head.startswith(magic):
            return kind
    if b"\x00" in head:
        return "binary (NUL bytes)"
    return None


def expand_paths(paths: Iterable[Path]) -> Plan:
    """Files named by `--path`: a file as given, a directory as its `*.jsonl` minus registries."""
    files: list[LogFile] = []
    passed_over: list[tuple[Path, str]] = []
    seen: set[Path] = set()
    for given in paths:
        if not given.exists():
            raise ConfigError(f"{given}: no such file or directory")
        if given.is_dir():
            candidates = sorted(
                p
                for p in given.iterdir()
                if p.name.endswith(".jsonl") and not p.name.endswith(REGISTRY_SUFFIX) and not p.name.startswith(".")
            )
            for candidate in candidates:
                if candidate.is_dir():
                    continue
                kind = binary_kind(candidate)
                if kind is not None:
                    passed_over.append((candidate, f"skipped: {kind}, not a JSONL log"))
                    continue
                _add(files, seen, candidate)
        else:
            if given.name.endswith(REGISTRY_SUFFIX):
                raise ConfigError(f"{given}: is an MXCP schema registry; it is read, never compacted")
            _add(files, seen, given)
    return Plan(files=tuple(files), profile=None, passed_over=tuple(passed_over))


def _add(files: list[LogFile], seen: set[Path], path: Path) -> None:
    key = path.resolve()
    if key in seen:
        return
    seen.add(key)
    files.append(LogFile(path, registry_path_for(path), is_segment=_is_segment_name(path.name)))


def load_registry(path: Path) -> tuple[tuple[RegistryEntry, ...], list[str]]:
    """Entries of a schema registry in file order, and warnings for lines that were ignored.

    A retention value we cannot understand is read as "keep forever": a typo in the registry
    must never delete records. Lines are read with the standard `json` module, as MXCP reads
    them (it loads far faster than orjson, and a registry is a few lines)."""
    import json

    entries: list[RegistryEntry] = []
    warnings: list[str] = []
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the schema registry: {error.strerror or error}") from None
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:  # not JSON, or not UTF-8
            warnings.append(f"{path}:{number}: ignored registry line: not valid JSON")
            continue
        if not isinstance(record, dict):
            warnings.append(f"{path}:{number}: ignored registry line: not a JSON object")
            continue
        name = record.get("schema_name")
        version = record.get("version")
        if not isinstance(name, str) or not isinstance(version, int) or isinstance(version, bool):
            warnings.append(
                f"{path}:{number}: ignored registry line: needs a string schema_name and an integer version"
            )
            continue
        days = record.get("retention_days")
        if days is not None and (not isinstance(days, int) or isinstance(days, bool) or not 0 <= days < 2**32):
            warnings.append(
                f"{path}:{number}: retention_days {days!r} of {name}:{version} is not a whole number of days; "
                "its records are kept"
            )
            days = None
        entries.append(RegistryEntry(name, version, days, record.get("active", True) is not False))
    return tuple(entries), warnings


@dataclass(frozen=True)
class ToolConfig:
    """Settings from `mxcp-compact.toml`; empty when there is no such file."""

    path: Path | None = None
    schemas: Mapping[str, Days] = field(default_factory=dict)
    default_days: Days | None = None
    audit_trail: Path | None = None
    wait: float | None = None
    #: Archive path template (may hold {date}), relative to the file's directory.
    archive: str | None = None
    #: log-cleanup's output: "guide" or "mxcp" (like --output-style).
    output_style: str | None = None

    def retention(self, cli_schemas: Mapping[str, Days], cli_all_schemas: Days | None) -> Retention:
        """Command line > this file > schema registry > built-in: `--retain` beats
        `--retention-days`, which beats both of this file's settings; then the file's per-schema
        days beat its `default_days`."""
        if cli_all_schemas is not None:
            return Retention(schemas=dict(cli_schemas), all_schemas=cli_all_schemas)
        return Retention(schemas={**self.schemas, **cli_schemas}, all_schemas=self.default_days)


def load_tool_config(path: Path) -> ToolConfig:
    """Reads and validates `mxcp-compact.toml`: unknown keys and bad values are errors."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(f"{path}: cannot read: {error.strerror or error}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: invalid TOML: {error}") from None
    for section, values in data.items():
        if section not in _TOOL_CONFIG_KEYS:
            raise ConfigError(f"{path}: unknown section [{section}] (known: {', '.join(sorted(_TOOL_CONFIG_KEYS))})")
        if not isinstance(values, dict):
            raise ConfigError(f"{path}: [{section}] must be a table")
        for key in values:
            if key not in _TOOL_CONFIG_KEYS[section]:
                known = ", ".join(sorted(_TOOL_CONFIG_KEYS[section]))
                raise ConfigError(f"{path}: unknown key {section}.{key} (known: {known})")
    retention = data.get("retention", {})
    cleanup = data.get("cleanup", {})
    schemas_table = retention.get("schemas", {})
    if not isinstance(schemas_table, dict):
        raise ConfigError(f"{path}: retention.schemas must be a table of schema = days")
    schemas = {
        str(name): _toml_days(value, f"{path}: retention.schemas.{name}") for name, value in schemas_table.items()
    }
    default_days = None
    if "default_days" in retention:
        default_days = _toml_days(retention["default_days"], f"{path}: retention.default_days")
    return ToolConfig(path, schemas, default_days, **_cleanup_settings(path, cleanup))


def _cleanup_settings(path: Path, cleanup: Mapping[str, Any]) -> dict[str, Any]:
    """The [cleanup] table, validated, as ToolConfig fields."""
    settings: dict[str, Any] = {}
    if "audit_trail" in cleanup:
        if not isinstance(cleanup["audit_trail"], str) or not cleanup["audit_trail"]:
            raise ConfigError(f"{path}: cleanup.audit_trail must be a file path")
        settings["audit_trail"] = path.parent / Path(cleanup["audit_trail"]).expanduser()
    if "archive" in cleanup:
        if not isinstance(cleanup["archive"], str) or not cleanup["archive"]:
            raise ConfigError(f"{path}: cleanup.archive must be a file path (it may contain {{date}})")
        settings["archive"] = str(path.parent / Path(cleanup["archive"]).expanduser())
    wait = cleanup.get("wait")
    if wait is not None:
        if isinstance(wait, bool) or not isinstance(wait, (int, float)) or wait < 0:
            raise ConfigError(f"{path}: cleanup.wait must be a number of seconds >= 0")
        settings["wait"] = float(wait)
    if "output_style" in cleanup:
        if cleanup["output_style"] not in ("guide", "mxcp"):
            raise ConfigError(f'{path}: cleanup.output_style must be "guide" or "mxcp"')
        settings["output_style"] = cleanup["output_style"]
    return settings


def _toml_days(value: object, what: str) -> Days:
    if isinstance(value, str):
        return parse_days(value, what)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f'{what}: expected a whole number of days or "none", got {value!r}')
    return parse_days(str(value), what)


@dataclass(frozen=True)
class RunConfig:
    """Everything a command needs, resolved and validated before any file is touched."""

    plan: Plan
    #: Core retention rules per schema registry (None: no registry beside the logs).
    rules: Mapping[Path | None, Any]
    now_ns: int
    settings: ToolConfig
    #: Warnings worth showing (ignored registry lines, skipped files).
    notes: tuple[str, ...]


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
) -> RunConfig:
    """Options, site, profile, files, settings file and registries into one `RunConfig`."""
    import time

    paths = list(paths)
    overrides = dict(parse_retain(item) for item in retain)
    all_schemas = parse_days(retention_days, "--retention-days") if retention_days is not None else None
    instant = parse_now(now) if now is not None else time.time_ns()
    if paths:
        if profile is not None:
            raise ConfigError("--profile and --path cannot be combined: --path names the files itself")
        plan = expand_paths(paths)
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
    base = settings.retention(overrides, all_schemas)
    notes = [f"{path}: {reason}" for path, reason in plan.passed_over]
    rules: dict[Path | None, Any] = {}
    for log in plan.files:
        if log.registry not in rules:
            registry: tuple[RegistryEntry, ...] = ()
            if log.registry is not None:
                registry, warnings = load_registry(log.registry)
                notes += warnings
            rules[log.registry] = base.with_registry(registry).to_core()
    return RunConfig(plan, rules, instant, settings, tuple(notes))
