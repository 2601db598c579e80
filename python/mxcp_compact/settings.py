"""The settings file, `mxcp-compact.toml` beside `mxcp-site.yml`: retention defaults and
log-cleanup's defaults (archive, deletion trail, metrics file, wait, output style), strictly validated.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Mapping
from pathlib import Path

from mxcp_compact.errors import ConfigError
from mxcp_compact.options import MAX_WAIT_SECONDS, OUTPUT_STYLES
from mxcp_compact.rules import Retention, check_schema_name, parse_days

# typing.TYPE_CHECKING without importing typing, which costs ~5 ms of every command's start-up.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from mxcp_compact.rules import Days

__all__ = ["TOOL_CONFIG_FILE", "ToolConfig", "load_tool_config"]

#: Our own settings live beside mxcp-site.yml: MXCP forbids unknown keys in its own file.
TOOL_CONFIG_FILE = "mxcp-compact.toml"

_TOOL_CONFIG_KEYS = {
    "retention": {"default_days", "schemas"},
    "cleanup": {"archive", "audit_trail", "metrics", "wait", "output_style", "scrub"},
    "archive": {"directory", "retention_days"},
}


# A named tuple rather than a frozen dataclass (see registry.RegistryEntry).
class ToolConfig(
    namedtuple(
        "ToolConfig",
        [
            "path",  # Path | None
            "schemas",  # Mapping[str, Days]
            "default_days",  # Days | None
            "audit_trail",  # Path | None
            "wait",  # float | None
            "archive",  # str | None: archive path template (may hold {date}), relative to the file's directory
            "output_style",  # str | None: log-cleanup's output, "guide" or "mxcp" (like --output-style)
            "scrub",  # bool: overwrite deleted bytes before releasing them (like --scrub)
            # Path | None: [archive], a directory of archives (ours, logrotate's) cleaned with their own retention.
            "archive_directory",
            "archive_retention_days",  # Days | None
            # Path | None: the Prometheus textfile log-cleanup writes (like --metrics), relative to the file's
            # directory.
            "metrics",
        ],
        defaults=(None, None, None, None, None, None, None, False, None, None, None),
    )
):
    """Settings from `mxcp-compact.toml`; empty when there is no such file."""

    __slots__ = ()

    def __new__(
        cls, path: Path | None = None, schemas: Mapping[str, Days] | None = None, *args: Any, **kwargs: Any
    ) -> ToolConfig:
        # Settings given no `schemas` get a dict of their own, as a dataclass's default_factory gives.
        return super().__new__(cls, path, {} if schemas is None else schemas, *args, **kwargs)

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
    for name in schemas:
        check_schema_name(name, f"{path}: retention.schemas")
    default_days = None
    if "default_days" in retention:
        default_days = _toml_days(retention["default_days"], f"{path}: retention.default_days")
    return ToolConfig(
        path, schemas, default_days, **_cleanup_settings(path, cleanup), **_archive_settings(path, data.get("archive"))
    )


def _archive_settings(path: Path, archive: Mapping[str, Any] | None) -> dict[str, Any]:
    """The [archive] table: both keys or neither, so that no archive is cleaned by accident."""
    if archive is None:
        return {}
    if set(archive) != {"directory", "retention_days"}:
        raise ConfigError(f"{path}: [archive] needs both directory and retention_days")
    if not isinstance(archive["directory"], str) or not archive["directory"]:
        raise ConfigError(f"{path}: archive.directory must be a directory path")
    return {
        "archive_directory": path.parent / Path(archive["directory"]).expanduser(),
        "archive_retention_days": _toml_days(archive["retention_days"], f"{path}: archive.retention_days"),
    }


def _cleanup_settings(path: Path, cleanup: Mapping[str, Any]) -> dict[str, Any]:
    """The [cleanup] table, validated, as ToolConfig fields."""
    settings: dict[str, Any] = {}
    if "audit_trail" in cleanup:
        if not isinstance(cleanup["audit_trail"], str) or not cleanup["audit_trail"]:
            raise ConfigError(f"{path}: cleanup.audit_trail must be a file path")
        settings["audit_trail"] = path.parent / Path(cleanup["audit_trail"]).expanduser()
    if "metrics" in cleanup:
        if not isinstance(cleanup["metrics"], str) or not cleanup["metrics"]:
            raise ConfigError(f"{path}: cleanup.metrics must be a file path")
        settings["metrics"] = path.parent / Path(cleanup["metrics"]).expanduser()
    if "archive" in cleanup:
        if not isinstance(cleanup["archive"], str) or not cleanup["archive"]:
            raise ConfigError(f"{path}: cleanup.archive must be a file path (it may contain {{date}})")
        settings["archive"] = str(path.parent / Path(cleanup["archive"]).expanduser())
    if "scrub" in cleanup:
        if not isinstance(cleanup["scrub"], bool):
            raise ConfigError(f"{path}: cleanup.scrub must be true or false")
        settings["scrub"] = cleanup["scrub"]
    wait = cleanup.get("wait")
    if wait is not None:
        if isinstance(wait, bool) or not isinstance(wait, (int, float)) or not 0 <= wait <= MAX_WAIT_SECONDS:
            raise ConfigError(f"{path}: cleanup.wait must be a number of seconds from 0 to {MAX_WAIT_SECONDS} (a year)")
        settings["wait"] = float(wait)
    if "output_style" in cleanup:
        if cleanup["output_style"] not in OUTPUT_STYLES:
            spelled = " or ".join(f'"{style}"' for style in OUTPUT_STYLES)
            raise ConfigError(f"{path}: cleanup.output_style must be {spelled}")
        settings["output_style"] = cleanup["output_style"]
    return settings


def _toml_days(value: object, what: str) -> Days:
    if isinstance(value, str):
        return parse_days(value, what)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f'{what}: expected a whole number of days or "none", got {value!r}')
    return parse_days(str(value), what)
