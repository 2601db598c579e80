"""`--output-style mxcp`: what MXCP 0.12.3's own `mxcp log-cleanup` prints, for scripts written
against it.

Copied from MXCP 0.12.3 (PyPI wheel `mxcp-0.12.3-py3-none-any.whl`):
`mxcp/server/interfaces/cli/log_cleanup.py` (`_cleanup`: the text lines, the JSON `result`
objects, the disabled-audit sentence), `mxcp/server/interfaces/cli/utils.py` (`output_result`:
`json.dumps({"status": "ok", "result": ...}, indent=2, default=str)` printed with a newline;
`output_error`: `json.dumps({"status": "error", "error": str(e)}, indent=2)`, then
`click.Abort`, which prints `Aborted!` on stderr) and `mxcp/sdk/audit/models.py`
(`get_schema_id`: `f"{schema_name}:v{version}"`).

Where MXCP's numbers are wrong, ours stay right in MXCP's shape: its dry run counts every record
of a schema *name* once per registered version (so v1 and v2 both show the name's total), while
here each version counts its own records and the text shows one line per name and retention.
A file that could not be compacted (MXCP only logs that) makes the JSON an MXCP error document
and adds the same "Not compacted" lines as the guide style to the text.
"""

from __future__ import annotations

import json
import sys

from mxcp_compact.report import RunSummary, displayable, failure_lines, nothing_deleted, stderr_notes

__all__ = ["deleted_per_schema", "error_json", "print_error", "render_json", "render_text", "skipped_message"]


def skipped_message(profile: str | None) -> str:
    return f"Audit logging is not enabled for profile '{profile}'"


def _version_order(version: str) -> tuple[int, int, str]:
    return (0, int(version), "") if version.isdigit() else (1, 0, version)


def deleted_per_schema(summary: RunSummary) -> dict[str, int]:
    """Deleted (or, in a dry run, deletable) records per MXCP schema id `name:vN`."""
    totals: dict[tuple[str, str], int] = {}
    for result in summary.results:
        for schema in result.schemas:
            if schema.deleted:
                key = (schema.schema_name, schema.schema_version)
                totals[key] = totals.get(key, 0) + schema.deleted
    ordered = sorted(totals.items(), key=lambda item: (item[0][0], _version_order(item[0][1])))
    return {f"{name}:v{version}": count for (name, version), count in ordered}


def _dry_run_lines(summary: RunSummary) -> list[str]:
    by_name: dict[tuple[str, int | None], int] = {}
    for result in summary.results:
        for schema in result.schemas:
            if schema.deleted:
                key = (schema.schema_name, schema.retention_days)
                by_name[key] = by_name.get(key, 0) + schema.deleted
    ordered = sorted(by_name.items(), key=lambda item: (item[0][0], item[0][1] or 0))
    return [f"  {displayable(name)} (retention: {days} days): {count} records" for (name, days), count in ordered]


def render_text(summary: RunSummary) -> tuple[str, list[str]]:
    """(standard output, lines for standard error), line for line as `_cleanup` echoes them."""
    total = summary.total_deleted
    if summary.skipped_reason is not None:
        out = [skipped_message(summary.profile)]
    elif summary.dry_run:
        out = ["DRY RUN: Analyzing what would be deleted...", "", *_dry_run_lines(summary)]
        if total == 0:
            out.append(nothing_deleted(summary))
        else:
            out += ["", f"Total records that would be deleted: {total}", ""]
            out.append("Run without --dry-run to actually delete these records.")
    else:
        out = ["Applying retention policies..."]
        if total == 0:
            out.append(nothing_deleted(summary))
        else:
            out += ["", "Deleted records by schema:"]
            out += [f"  {displayable(key)}: {count} records" for key, count in deleted_per_schema(summary).items()]
            out += ["", f"Total records deleted: {total}"]
    out += failure_lines(summary)
    return "\n".join(out) + "\n", stderr_notes(summary)


def _dumps(document: dict[str, object]) -> bytes:
    # MXCP's json.dumps arguments exactly: indent=2 (so "," and ": "), ASCII escapes, key order kept.
    return (json.dumps(document, indent=2, default=str) + "\n").encode("ascii")


def render_json(summary: RunSummary) -> bytes:
    if summary.errors:
        return error_json(summary.message)
    if summary.skipped_reason is not None:
        result = {"status": "skipped", "message": skipped_message(summary.profile), "deleted_per_schema": {}}
    else:
        total = summary.total_deleted
        result = {
            "status": "dry_run" if summary.dry_run else "success",
            "message": f"Would delete {total} records" if summary.dry_run else f"Deleted {total} records",
            "deleted_per_schema": deleted_per_schema(summary),
        }
    return _dumps({"status": "ok", "result": result})


def error_json(message: str) -> bytes:
    return _dumps({"status": "error", "error": message})


def print_error(message: str, json_output: bool) -> None:
    """`output_error`: the error document on stdout or `Error: ...` on stderr, then Click's
    `Aborted!` on stderr."""
    if json_output:
        sys.stdout.buffer.write(error_json(message))
        sys.stdout.flush()
    else:
        print(f"Error: {message}", file=sys.stderr)
    print("Aborted!", file=sys.stderr)
