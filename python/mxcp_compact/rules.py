"""Retention rules: days per schema in precedence order, the options that set them (`--retain`,
`--retention-days`), and the instant they are evaluated at (`--now`).
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Iterable, Mapping

from mxcp_compact.errors import ConfigError

# typing.TYPE_CHECKING without importing typing, which costs ~5 ms of every command's start-up.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Literal

    from mxcp_compact.registry import RegistryEntry

    #: Days a record lives, or FOREVER.
    Days = int | Literal["forever"]

__all__ = ["FOREVER", "Days", "Retention", "check_schema_name", "parse_days", "parse_now", "parse_retain"]

FOREVER: Literal["forever"] = "forever"


def __getattr__(name: str) -> object:
    # `Days` at run time, for code that imports it: built on first use, as it needs typing.
    if name == "Days":
        from typing import Literal

        return int | Literal["forever"]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# A named tuple rather than a frozen dataclass (see registry.RegistryEntry).
class Retention(
    namedtuple(
        "Retention",
        [
            "schemas",  # Mapping[str, Days]: per schema name
            "all_schemas",  # Days | None
            "registry",  # tuple[RegistryEntry, ...]
        ],
    )
):
    """Retention rules, in precedence order: `schemas` (per schema name), `all_schemas`, then the
    `registry`, then MXCP's built-in 90 days for `mxcp.endpoints`."""

    __slots__ = ()

    def __new__(
        cls,
        schemas: Mapping[str, Days] | None = None,
        all_schemas: Days | None = None,
        registry: tuple[RegistryEntry, ...] = (),
    ) -> Retention:
        # Rules given no `schemas` get a dict of their own, as a dataclass's default_factory gives.
        return super().__new__(cls, {} if schemas is None else schemas, all_schemas, registry)

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
    if isinstance(days, int) and not isinstance(days, bool) and days > _MOST_DAYS:
        raise ConfigError(f"{what}: {days} days is more than the largest retention, {_MOST_DAYS} days")
    if not isinstance(days, int) or isinstance(days, bool) or days < 0:
        # What a caller of the API writes for keep-forever is FOREVER ('forever'); the options
        # and settings read 'none' as that.
        raise ConfigError(f"{what} must be a whole number of days >= 0 or FOREVER ('forever'), not {days!r}")


#: The core stores days in 32 bits.
_MOST_DAYS = 2**32 - 1


def parse_days(text: str, what: str) -> Days:
    value = text.strip().lower()
    if value in ("none", "null", "forever"):
        return FOREVER
    # ASCII digits only: int() also reads "9_0" and other scripts' digits ("٩٠") as 90.
    if not (value.isascii() and value.lstrip("-").isdigit()):
        raise ConfigError(f"{what}: expected a whole number of days or 'none', got {text!r}")
    days = int(value)
    if days < 0:
        raise ConfigError(f"{what}: days must not be negative, got {days}")
    _check_days(days, what)
    return days


def parse_retain(text: str) -> tuple[str, Days]:
    """`SCHEMA=DAYS` or `SCHEMA=none` (keep forever)."""
    name, sep, days = text.rpartition("=")
    if not sep or not name.strip():
        raise ConfigError(f"--retain {text!r}: expected SCHEMA=DAYS or SCHEMA=none, e.g. mxcp.endpoints=365")
    check_schema_name(name.strip(), f"--retain {text!r}")
    return name.strip(), parse_days(days, f"--retain {text!r}")


def check_schema_name(name: str, what: str) -> None:
    """A rule's schema must be a name a record can have: a rule for `mxcp.endpoints=5` or for
    `mxcp.endpoints:2` (the form the reports print) matched nothing, in silence. (The mxcp style
    prints `mxcp.endpoints:v2`; that form is not refused: `orders:v2` can be a schema's own name,
    and no other option could give it a rule.)"""
    if not name.strip():
        raise ConfigError(f"{what}: an empty schema name matches no record")
    if "=" in name:
        raise ConfigError(f"{what}: {name!r} is no schema name (one '=' separates it from the days)")
    base, colon, version = name.rpartition(":")
    if colon and version.isdigit():
        raise ConfigError(f"{what}: a rule applies to every version of a schema; write {base!r}, not {name!r}")


def parse_now(text: str) -> int:
    """`--now` as nanoseconds since the epoch: an ISO timestamp, or a date (midnight UTC)."""
    from mxcp_compact import _core

    value = _core.parse_now(text.strip())
    if value is None:
        raise ConfigError(
            f"--now {text!r}: not a timestamp; use e.g. 2026-11-27T00:00:00Z, 2026-11-27 12:00:00+02:00 or 2026-11-27"
        )
    return int(value)
