"""log-cleanup's options, declared once, and the `CleanupRequest` they parse into.

`launch` (the quick parser of the scheduled command line), `cli` (the Typer command) and
`CleanupRequest` are all built from `OPTIONS`: an option added or changed here is the same in
all three. Every scheduled run imports this module, so it is kept to what the standard library
loads anyway (no typing, no dataclass: each class built by `dataclasses` costs a millisecond of
start-up, a named tuple a fifth of that).
"""

from __future__ import annotations

from collections import namedtuple
from pathlib import Path

__all__ = [
    "CHOICE",
    "FLAG",
    "MAX_WAIT_SECONDS",
    "NUMBER",
    "OPTIONS",
    "OUTPUT_STYLES",
    "REPEATABLE",
    "VALUE",
    "CleanupRequest",
    "OptionSpec",
]

# How an option is spelled, and what the request holds for it.
#: `--name`: True when given, else False.
FLAG = "flag"
#: `--name VALUE`, at most once; None when not given.
VALUE = "value"
#: `--name VALUE`, any number of times: a tuple, in command-line order.
REPEATABLE = "repeatable"
#: `--name VALUE` with VALUE one of `choices`, spelled exactly (Click's choices are case-sensitive).
CHOICE = "choice"
#: `--name N` with `minimum` <= N (<= `maximum` when there is one).
NUMBER = "number"

#: The longest `--wait` (and `cleanup.wait`): a year. Longer waits overflowed the clock.
MAX_WAIT_SECONDS = 365 * 86400

#: `--output-style` values: the seed guide's formats, or MXCP 0.12.3's own (see mxcp_style.py).
OUTPUT_STYLES = ("guide", "mxcp")


class OptionSpec(
    namedtuple(
        "OptionSpec",
        [
            "flag",
            "field",
            "kind",
            "help",
            "metavar",
            "value_type",
            "default",
            "choices",
            "minimum",
            "show_default",
            "maximum",
        ],
        defaults=(None, str, None, (), None, False, None),
    )
):
    """One log-cleanup option: its `flag` (`--path`), the `CleanupRequest` `field` it fills,
    its `kind` (FLAG, VALUE, REPEATABLE, CHOICE or NUMBER), its --help line (`help`, `metavar`,
    `show_default`), the type of each value (`value_type`: str, Path, int or float), the
    `default` of a VALUE or NUMBER not given, the `choices` of a CHOICE and the `minimum` (and
    `maximum`) of a NUMBER."""

    __slots__ = ()

    @property
    def absent(self) -> object:
        """The request's value when the option is not given."""
        if self.kind == FLAG:
            return False
        if self.kind == REPEATABLE:
            return ()
        return self.default


# In --help order.
OPTIONS = (
    OptionSpec(
        "--profile", "profile", VALUE, "MXCP profile (default: $MXCP_PROFILE, then the site's).", metavar="NAME"
    ),
    OptionSpec("--dry-run", "dry_run", FLAG, "Show what would be deleted; change nothing."),
    OptionSpec("--json", "json_output", FLAG, "Print the result as JSON."),
    OptionSpec("--debug", "debug", FLAG, "Show tracebacks and per-file detail."),
    OptionSpec(
        "--path",
        "paths",
        REPEATABLE,
        "Log file or directory to compact (repeatable); no mxcp-site.yml needed.",
        metavar="FILE_OR_DIR",
        value_type=Path,
    ),
    OptionSpec(
        "--retention-days",
        "retention_days",
        VALUE,
        "Retention for every schema: DAYS, or 'none' to keep forever.",
        metavar="DAYS",
    ),
    OptionSpec(
        "--retain",
        "retain",
        REPEATABLE,
        "Retention for one schema, SCHEMA=DAYS or SCHEMA=none (repeatable; wins).",
        metavar="SCHEMA=DAYS",
    ),
    OptionSpec(
        "--now", "now", VALUE, "Evaluate retention as of this instant (ISO timestamp or date).", metavar="TIMESTAMP"
    ),
    OptionSpec(
        "--wait",
        "wait",
        NUMBER,
        "Seconds to wait for another mxcp-compact working on the same directory or archive (default 0).",
        metavar="SECONDS",
        value_type=float,
        minimum=0,
        maximum=MAX_WAIT_SECONDS,
    ),
    OptionSpec(
        "--in-place",
        "in_place",
        FLAG,
        "Compact in place, keeping each file's inode (for writers that hold the file open).",
    ),
    OptionSpec(
        "--emergency",
        "emergency",
        FLAG,
        "Disk full: free space without a temp copy (in place), and report the bytes freed.",
    ),
    OptionSpec(
        "--threads",
        "threads",
        NUMBER,
        "Scan threads (0: one per core).",
        metavar="N",
        value_type=int,
        default=0,
        # Far more than any machine has; a bigger count failed in the core's conversion instead.
        maximum=4096,
        minimum=0,
        show_default=True,
    ),
    OptionSpec(
        "--config",
        "config_file",
        VALUE,
        "Settings file (default: mxcp-compact.toml beside mxcp-site.yml).",
        metavar="FILE",
        value_type=Path,
    ),
    OptionSpec(
        "--archive",
        "archive",
        VALUE,
        "Write the deleted lines to PATH first (.jsonl.gz, .jsonl.zst, .jsonl, or .duckdb for table"
        " audit_logs; {date} = YYYYMMDD).",
        metavar="PATH",
    ),
    OptionSpec(
        "--audit-trail",
        "audit_trail",
        VALUE,
        "Append one JSON line per run (time, host, user, files, deleted per schema, bytes) to FILE.",
        metavar="FILE",
        value_type=Path,
    ),
    OptionSpec(
        "--scrub",
        "scrub",
        FLAG,
        "Overwrite every deleted byte before its space is released (best effort, not sanitization:"
        " copy-on-write filesystems, snapshots, SSD wear levelling and the archive keep copies)."
        " The settings file's cleanup.scrub sets the default.",
    ),
    OptionSpec(
        "--no-scrub",
        "no_scrub",
        FLAG,
        "Do not overwrite deleted bytes in this run, even when the settings file's cleanup.scrub is true.",
    ),
    OptionSpec(
        "--metrics",
        "metrics",
        VALUE,
        "Write the run's figures (last success, deleted per schema, log bytes) to FILE for node_exporter's"
        " textfile collector (name it *.prom). Not written by a dry run.",
        metavar="FILE",
        value_type=Path,
    ),
    OptionSpec(
        "--full",
        "full",
        FLAG,
        "Read every file, also those the incremental index shows have nothing to delete yet.",
    ),
    OptionSpec(
        "--output-style",
        "output_style",
        CHOICE,
        "guide: the seed guide's output (default); mxcp: exactly what MXCP 0.12.3's `mxcp log-cleanup`"
        ' prints (mxcp.endpoints:v2 keys, JSON as {"status": "ok", "result": ...}).'
        " The settings file's cleanup.output_style sets the default.",
        choices=OUTPUT_STYLES,
    ),
)


class CleanupRequest(
    namedtuple("CleanupRequest", [option.field for option in OPTIONS], defaults=[option.absent for option in OPTIONS])
):
    """The log-cleanup options as given on the command line, one field per entry of `OPTIONS`
    (None, False or (): not given). What they amount to, with the settings file and the
    profile, is decided once, in `cleanup_plan.plan_cleanup`."""

    __slots__ = ()
