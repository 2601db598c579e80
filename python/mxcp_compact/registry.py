"""MXCP's schema registry (`<stem>_schemas.jsonl`): its entries, read and never written.

A registry line gives a schema version's `retention_days`; `rules.Retention` ranks them below
the command line and the settings file.
"""

from __future__ import annotations

from collections import namedtuple
from pathlib import Path

from mxcp_compact.errors import ConfigError

__all__ = ["REGISTRY_SUFFIX", "RegistryEntry", "load_registry"]

#: A registry is named after its log's stem: `logs-default.jsonl` -> `logs-default_schemas.jsonl`.
REGISTRY_SUFFIX = "_schemas.jsonl"


# Named tuples rather than frozen dataclasses, here and in every module a scheduled run imports:
# both are immutable, but `dataclasses` imports inspect (with ast, dis, tokenize, linecache...),
# about 60 ms of a cold start-up, and building each class costs a millisecond more.
class RegistryEntry(
    namedtuple(
        "RegistryEntry",
        [
            "schema_name",  # str
            "version",  # int
            "retention_days",  # int | None: None keeps records forever
            "active",  # bool
        ],
        defaults=(True,),
    )
):
    """One line of MXCP's schema registry (`<stem>_schemas.jsonl`)."""

    __slots__ = ()


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
        if not -(2**63) <= version < 2**63:
            # Ignoring it could change which version is the latest active one, and so shorten
            # the retention of other records: refused, as a registry that cannot be read.
            raise ConfigError(
                f"{path}:{number}: version {version} of {name} is beyond the 64-bit range this tool reads; "
                "nothing was touched"
            )
        days = record.get("retention_days")
        if days is not None and (not isinstance(days, int) or isinstance(days, bool) or not 0 <= days < 2**32):
            warnings.append(
                f"{path}:{number}: retention_days {days!r} of {name}:{version} is not a whole number of days; "
                "its records are kept"
            )
            days = None
        entries.append(RegistryEntry(name, version, days, record.get("active", True) is not False))
    return tuple(entries), warnings
