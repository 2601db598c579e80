"""The `mxcp-compact` entry point: the scheduled command without loading Typer.

Importing Typer and Click takes about 100 ms on a small machine, more than the whole cleanup of
a small log. So the command line cron and systemd run (`log-cleanup` followed by plain options,
each spelled `--name value` or `--name=value`) is parsed here into the same `CleanupRequest`
the Typer command builds. Anything else (help, `--version`, other commands, an unknown or
repeated option, a value that needs checking or converting beyond the obvious) goes to the
Typer CLI, which stays the reference: tests parse generated command lines both ways and require
the same request, or a hand-over to Typer.
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

from mxcp_compact.cleanup import OUTPUT_STYLES, CleanupRequest, execute

# typing.TYPE_CHECKING without importing typing, which costs ~5 ms of every command's start-up.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["main", "parse_quick"]

_FLAGS = {
    "--dry-run": "dry_run",
    "--json": "json_output",
    "--debug": "debug",
    "--in-place": "in_place",
    "--emergency": "emergency",
}
# Options with a value: request field, and whether the option may be repeated (a list).
_VALUED = {
    "--profile": ("profile", False),
    "--path": ("paths", True),
    "--retention-days": ("retention_days", False),
    "--retain": ("retain", True),
    "--now": ("now", False),
    "--wait": ("wait", False),
    "--threads": ("threads", False),
    "--config": ("config_file", False),
    "--archive": ("archive", False),
    "--audit-trail": ("audit_trail", False),
    "--output-style": ("output_style", False),
}
_DEFAULTS: dict[str, Any] = {
    "profile": None,
    "dry_run": False,
    "paths": (),
    "retention_days": None,
    "retain": (),
    "now": None,
    "wait": None,
    "threads": 0,
    "in_place": False,
    "emergency": False,
    "config_file": None,
    "audit_trail": None,
    "archive": None,
    "json_output": False,
    "debug": False,
    "output_style": None,
}
_PATHS = {"paths", "config_file", "audit_trail"}
# Numbers are taken only in their plain decimal spelling; Click decides every other one.
_PLAIN_NUMBERS = {"wait": re.compile(r"[0-9]+(\.[0-9]+)?"), "threads": re.compile(r"[0-9]+")}
# Options with a fixed set of values, spelled exactly (Click's choices are case-sensitive).
_CHOICES = {"output_style": OUTPUT_STYLES}


def parse_quick(args: list[str]) -> CleanupRequest | None:
    """The `CleanupRequest` for `args` (without the program name), or None when Typer must parse."""
    if not args or args[0] != "log-cleanup":
        return None
    given: dict[str, Any] = {}
    rest = args[1:]
    index = 0
    while index < len(rest):
        token = rest[index]
        index += 1
        name, has_value, value = token.partition("=")
        if name in _FLAGS and not has_value:
            field = _FLAGS[name]
            if field in given:
                return None
            given[field] = True
            continue
        if name not in _VALUED:
            return None
        field, repeatable = _VALUED[name]
        if not has_value:
            if index >= len(rest):
                return None
            value = rest[index]
            index += 1
        if not value or value.startswith("-") or (field in given and not repeatable):
            return None
        if field in _CHOICES and value not in _CHOICES[field]:
            return None
        if field in _PLAIN_NUMBERS:
            if not _PLAIN_NUMBERS[field].fullmatch(value):
                return None
            given[field] = float(value) if field == "wait" else int(value)
        elif repeatable:
            item = Path(value) if field in _PATHS else value
            given[field] = (*given.get(field, ()), item)
        else:
            given[field] = Path(value) if field in _PATHS else value

    if given.get("emergency"):
        given["in_place"] = True
    return CleanupRequest(**{**_DEFAULTS, **given})


def main() -> None:
    started = time.monotonic()
    request = parse_quick(sys.argv[1:])
    if request is None:
        from mxcp_compact.cli import main as typer_main

        typer_main()
        return
    try:
        status = execute(request, started)
    except KeyboardInterrupt:
        # As Click does for the commands it runs.
        print("\nAborted!", file=sys.stderr)
        status = 1
    except BrokenPipeError:
        status = 1
    sys.exit(status)
