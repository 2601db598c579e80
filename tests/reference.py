"""A small, deliberately plain reference of the retention line decision (issue 2, "Retention (exact)").

Written from the spec, not from the Rust core, so that the property tests compare two independent
readings of the same rule. Speed does not matter here; obviousness does.

`decide(line, retention, now_ns)` is True when the line must be DELETED. A line is deleted only when
all of these hold, and kept otherwise:

1. it ends with b"\\n";
2. the rest is strict UTF-8 (no BOM) and one RFC 8259 JSON text (whitespace around it, NaN and
   Infinity rejected) whose value is an object nested at most MAX_DEPTH containers deep (the spec
   has no depth limit; this models the core's documented one, far beyond real MXCP records);
3. the top-level keys "schema_name" and "timestamp" (compared after unescaping) occur exactly once
   each with string values that are real Unicode text (no lone surrogate);
4. "schema_version", when present, occurs once (a repeated one is ambiguous, so kept) and is a
   JSON integer of any size (not a float, bool, string); the version is 1 when it is absent;
5. the schema has a policy of N days (see `policy_days`);
6. the timestamp parses (see `parse_timestamp`) and now - timestamp >= (N + 1) days, exactly, in
   nanoseconds.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any

NS_PER_SECOND = 10**9
NS_PER_DAY = 86_400 * NS_PER_SECOND
#: The Rust core keeps lines nested deeper than this (the top-level object counts as 1).
MAX_DEPTH = 512
BUILTIN_SCHEMA = "mxcp.endpoints"
BUILTIN_DAYS = 90
FOREVER = "forever"

_TIMESTAMP = re.compile(
    r"(?P<year>[0-9]{4})-(?P<month>[0-9]{2})-(?P<day>[0-9]{2})"
    r"[Tt ]"
    r"(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2}):(?P<second>[0-9]{2})"
    r"(?:\.(?P<fraction>[0-9]{1,9}))?"
    r"(?P<zone>[Zz]|(?P<sign>[+-])(?P<zhour>[0-9]{2}):?(?P<zminute>[0-9]{2}))?"
)
_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()


def parse_timestamp(text: str) -> int | None:
    """Nanoseconds since the Unix epoch, or None when `text` is not a possible timestamp."""
    match = _TIMESTAMP.fullmatch(text)
    if match is None:
        return None
    try:
        # datetime validates the calendar: Feb 30, hour 24, minute 60, second 60, year 0.
        local = dt.datetime(*(int(match[name]) for name in ("year", "month", "day", "hour", "minute", "second")))
    except ValueError:
        return None
    offset_seconds = 0
    if match["sign"]:
        zone_hours, zone_minutes = int(match["zhour"]), int(match["zminute"])
        if zone_hours > 23 or zone_minutes > 59:
            return None
        offset_seconds = (zone_hours * 3600 + zone_minutes * 60) * (1 if match["sign"] == "+" else -1)
    fraction_ns = int(match["fraction"].ljust(9, "0")) if match["fraction"] else 0
    days = local.date().toordinal() - _EPOCH_ORDINAL
    seconds = days * 86_400 + local.hour * 3600 + local.minute * 60 + local.second - offset_seconds
    return seconds * NS_PER_SECOND + fraction_ns


def policy_days(retention: Any, schema_name: str, version: int | str) -> int | None:
    """Days records of (schema_name, version) live; None = kept (forever or no policy).

    `retention` is a `mxcp_compact.rules.Retention` (only its plain fields are read). `version` is
    a str only for an integer too long to convert, which no registry entry can name."""
    schemas = dict(retention.schemas)
    if schema_name in schemas:
        return _days(schemas[schema_name])
    if retention.all_schemas is not None:
        return _days(retention.all_schemas)
    by_version: dict[tuple[str, int], tuple[int | None, bool]] = {}
    for entry in retention.registry:  # file order: a later line replaces an earlier one
        by_version[(entry.schema_name, entry.version)] = (entry.retention_days, entry.active)
    if (schema_name, version) in by_version:
        return by_version[(schema_name, version)][0]
    active = [(v, days) for (name, v), (days, is_active) in by_version.items() if name == schema_name and is_active]
    if active:
        return max(active)[1]  # the highest active version's days
    if schema_name == BUILTIN_SCHEMA:
        return BUILTIN_DAYS
    return None


def _days(value: int | str) -> int | None:
    return None if value == FOREVER else int(value)


@dataclass(frozen=True)
class _JsonInt:
    """An integer literal as written (json.loads would convert it with Python's digit limit)."""

    text: str


class _NotJson(Exception):
    pass


def _reject_constant(name: str) -> Any:
    raise _NotJson(name)  # NaN, Infinity, -Infinity are not JSON


class _Pairs(list):  # type: ignore[type-arg]
    """An object as its (key, value) pairs in order, duplicates included."""


def _depth(value: Any) -> int:
    """Container nesting depth (a scalar is 0, `{}` is 1), without recursion."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, _Pairs):  # checked first: _Pairs is a list too
            children = [v for _, v in item]
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in children)
    return deepest


def parse_line_object(body: bytes) -> _Pairs | None:
    """The top-level object of a line body (without its newline) as pairs, or None if not one."""
    try:
        text = body.decode("utf-8", errors="strict")
    except UnicodeDecodeError:
        return None
    if text.startswith("\ufeff"):
        return None
    try:
        value = json.loads(text, object_pairs_hook=_Pairs, parse_constant=_reject_constant, parse_int=_JsonInt)
    except (ValueError, _NotJson, RecursionError):
        return None
    if not isinstance(value, _Pairs) or _depth(value) > MAX_DEPTH:
        return None
    return value


def _is_text(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        value.encode("utf-8")  # a lone surrogate (from a \\ud800 escape) is not text
    except UnicodeEncodeError:
        return False
    return True


def record_fields(body: bytes) -> tuple[str, str, int | str] | None:
    """(schema_name, timestamp, version) of an evaluable line body, else None (kept)."""
    pairs = parse_line_object(body)
    if pairs is None:
        return None
    found: dict[str, list[Any]] = {"schema_name": [], "timestamp": [], "schema_version": []}
    for key, value in pairs:
        if key in found:
            found[key].append(value)
    names, stamps, versions = found["schema_name"], found["timestamp"], found["schema_version"]
    if len(names) != 1 or len(stamps) != 1 or len(versions) > 1:
        return None
    name, stamp = names[0], stamps[0]
    if not _is_text(name) or not _is_text(stamp):
        return None
    version: int | str = 1
    if versions:
        if not isinstance(versions[0], _JsonInt):
            return None  # float, bool, string, null, container
        literal = versions[0].text
        version = int(literal) if len(literal) < 100 else literal
    return name, stamp, version


def decide(line: bytes, retention: Any, now_ns: int) -> bool:
    """True when `line` (one piece of the file, with its newline if it has one) is deleted."""
    if not line.endswith(b"\n"):
        return False
    fields = record_fields(line[:-1])
    if fields is None:
        return False
    name, stamp, version = fields
    days = policy_days(retention, name, version)
    if days is None:
        return False
    stamp_ns = parse_timestamp(stamp)
    if stamp_ns is None:
        return False
    return now_ns - stamp_ns >= (days + 1) * NS_PER_DAY


def split_lines(data: bytes) -> list[bytes]:
    """Pieces of `data` split after each b"\\n"; the last may lack one (Rust's split_inclusive)."""
    parts = data.split(b"\n")
    pieces = [part + b"\n" for part in parts[:-1]]
    if parts[-1]:
        pieces.append(parts[-1])
    return pieces


def decide_all(data: bytes, retention: Any, now_ns: int) -> list[bool]:
    return [decide(line, retention, now_ns) for line in split_lines(data)]
