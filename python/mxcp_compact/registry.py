"""MXCP's schema registry (`<stem>_schemas.jsonl`): its entries, read and never written.

A registry line gives a schema version's `retention_days`; `rules.Retention` ranks them below
the command line and the settings file.
"""

from __future__ import annotations

import re
from collections import namedtuple
from pathlib import Path

from mxcp_compact.errors import ConfigError

# typing.TYPE_CHECKING without importing typing (see progress.py).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Collection

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


def load_registry(
    path: Path, decided: Collection[str] = (), every_schema_decided: bool = False
) -> tuple[tuple[RegistryEntry, ...], list[str]]:
    """Entries of a schema registry in file order, and warnings for lines that were ignored.

    A retention value we cannot understand is read as "keep forever": a typo in the registry
    must never delete records. A line that cannot be read at all (cut by a full disk, say) could
    have set any retention of the schema it names, or of any schema when it names none: skipping
    it could delete what it keeps, so it is refused (ConfigError) unless the command line
    decides that schema without the registry (`decided`: its `--retain` names;
    `every_schema_decided`: `--retention-days`). Lines are read with the standard `json`
    module, as MXCP reads them (it loads far faster than orjson, and a registry is a few lines)."""
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
            record = None
        problem = _problem(record)
        if problem is not None:
            warnings.append(_unreadable(path, number, line, record, problem, decided, every_schema_decided))
            continue
        entry = RegistryEntry(record["schema_name"], record["version"], None, record.get("active", True) is not False)
        _check_version(path, number, entry)
        days = record.get("retention_days")
        if days is not None and (not isinstance(days, int) or isinstance(days, bool) or not 0 <= days < 2**32):
            warnings.append(
                f"{path}:{number}: retention_days {days!r} of {entry.schema_name}:{entry.version} is not a whole"
                " number of days; its records are kept"
            )
            days = None
        entries.append(entry._replace(retention_days=days))
    return tuple(entries), warnings


def _problem(record: object) -> str | None:
    """Why a parsed registry line (None: not JSON) gives no entry, or None when it gives one."""
    if record is None:
        return "not valid JSON"
    if not isinstance(record, dict):
        return "not a JSON object"
    name = record.get("schema_name")
    version = record.get("version")
    if not isinstance(name, str) or not isinstance(version, int) or isinstance(version, bool):
        return "needs a string schema_name and an integer version"
    return None


def _check_version(path: Path, number: int, entry: RegistryEntry) -> None:
    if not -(2**63) <= entry.version < 2**63:
        # Ignoring it could change which version is the latest active one, and so shorten
        # the retention of other records: refused, as a registry that cannot be read.
        raise ConfigError(
            f"{path}:{number}: version {entry.version} of {entry.schema_name} is beyond the 64-bit range this tool"
            " reads; nothing was touched"
        )


# MXCP writes `schema_name` first: a line cut after it still says whose retention it held.
_NAME_AT_START = re.compile(rb'\A\s*\{\s*"schema_name"\s*:\s*"([^"\\\x00-\x1f]*)"')


def _unreadable(
    path: Path,
    number: int,
    line: bytes,
    record: object,
    problem: str,
    decided: Collection[str],
    every_schema_decided: bool,
) -> str:
    """The warning for a registry line that gives no entry, or ConfigError when skipping it
    could change a retention the command line does not decide."""
    warning = f"{path}:{number}: ignored registry line: {problem}"
    if every_schema_decided:
        return warning
    name = record.get("schema_name") if isinstance(record, dict) else None
    if not isinstance(name, str):
        found = _NAME_AT_START.match(line)
        try:
            name = found[1].decode("utf-8") if found is not None else None
        except UnicodeDecodeError:
            # No record can name a schema so (records are UTF-8): the line decides nothing.
            return warning
    if name in decided:
        return warning
    if name is None:
        whose, way_out = "any schema", "--retention-days DAYS"
    else:
        whose, way_out = f"the schema {name!r}", f"--retain {name}=DAYS"
    raise ConfigError(
        f"{path}:{number}: registry line cannot be read ({problem}); it may set the retention of {whose}, so nothing"
        f" was touched: repair the line, or decide without it with {way_out}"
    )
