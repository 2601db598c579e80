"""`log-cleanup --output-style mxcp`: exactly what MXCP 0.12.3's `mxcp log-cleanup` prints.

The expected strings are MXCP's own, quoted from the 0.12.3 wheel on PyPI
(`pip download --no-deps mxcp==0.12.3`):

- `mxcp/server/interfaces/cli/log_cleanup.py`, `_cleanup()`: the `click.echo` lines of the real
  run and the dry run, the `result` objects given to `output_result`, and the sentence for a
  profile without audit logging.
- `mxcp/server/interfaces/cli/utils.py`: `output_result()` prints
  `json.dumps({"status": "ok", "result": result}, indent=2, default=str)`; `output_error()` prints
  `json.dumps({"status": "error", **{"error": str(error)}}, indent=2)` (or `Error: ...` on stderr)
  and raises `click.Abort`, which Click reports as `Aborted!` on stderr.
- `mxcp/sdk/audit/models.py`, `get_schema_id()`: `f"{self.schema_name}:v{self.version}"`.

The same strings were also checked by running MXCP 0.12.3 itself next to mxcp-compact on copies of
one project (real run, dry run, both with --json, nothing to delete, audit disabled): identical
standard output.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

from conftest import FIXTURE_NOW, record, run_subprocess, write_log

MXCP = ("--output-style", "mxcp", "--now", FIXTURE_NOW)

# _cleanup(), real run: "Applying retention policies...", click.echo(), "Deleted records by schema:",
# f"  {schema_id}: {count} records" per schema, click.echo(), f"Total records deleted: {total_deleted}".
MXCP_REAL_RUN = (
    "Applying retention policies...\n"
    "\n"
    "Deleted records by schema:\n"
    "  mxcp.endpoints:v1: 273 records\n"
    "  mxcp.endpoints:v2: 73 records\n"
    "\n"
    "Total records deleted: 346\n"
)
# _cleanup(), dry run: "DRY RUN: Analyzing what would be deleted...", click.echo(),
# f"  {schema.schema_name} (retention: {schema.retention_days} days): {count} records",
# click.echo(), f"Total records that would be deleted: {total_would_delete}", click.echo(),
# "Run without --dry-run to actually delete these records."
MXCP_DRY_RUN = (
    "DRY RUN: Analyzing what would be deleted...\n"
    "\n"
    "  mxcp.endpoints (retention: 90 days): 92 records\n"
    "\n"
    "Total records that would be deleted: 92\n"
    "\n"
    "Run without --dry-run to actually delete these records.\n"
)
# _cleanup() with total_deleted == 0: no blank line after the first one (unlike the seed guide).
MXCP_NOTHING_DELETED = "Applying retention policies...\nNo records were deleted.\n"
# output_result({"status": "success", "message": f"Deleted {total_deleted} records", "deleted_per_schema": ...}).
MXCP_REAL_RUN_JSON = """\
{
  "status": "ok",
  "result": {
    "status": "success",
    "message": "Deleted 346 records",
    "deleted_per_schema": {
      "mxcp.endpoints:v1": 273,
      "mxcp.endpoints:v2": 73
    }
  }
}
"""
# output_result({"status": "dry_run", "message": f"Would delete {total_would_delete} records", ...}).
MXCP_DRY_RUN_JSON = """\
{
  "status": "ok",
  "result": {
    "status": "dry_run",
    "message": "Would delete 346 records",
    "deleted_per_schema": {
      "mxcp.endpoints:v1": 273,
      "mxcp.endpoints:v2": 73
    }
  }
}
"""
# _cleanup(): message = f"Audit logging is not enabled for profile '{profile_name}'"; click.echo(message),
# or output_result({"status": "skipped", "message": message, "deleted_per_schema": {}}).
MXCP_DISABLED = "Audit logging is not enabled for profile 'staging'"
MXCP_DISABLED_JSON = """\
{
  "status": "ok",
  "result": {
    "status": "skipped",
    "message": "Audit logging is not enabled for profile 'staging'",
    "deleted_per_schema": {}
  }
}
"""


def test_real_run_text_is_mxcps(fixture_project: Path) -> None:
    result = run_subprocess(["log-cleanup", *MXCP], cwd=fixture_project)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == MXCP_REAL_RUN


def test_dry_run_text_is_mxcps(fixture_project: Path) -> None:
    result = run_subprocess(["log-cleanup", "--dry-run", "--profile", "production", *MXCP], cwd=fixture_project)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == MXCP_DRY_RUN


def test_dry_run_text_shows_one_line_per_schema_name_and_retention(fixture_project: Path) -> None:
    # MXCP prints one line per registered version, each counting every record of the name (so
    # 346 twice here, "total" 692); the versions' own counts, summed, are the truth.
    result = run_subprocess(["log-cleanup", "--dry-run", *MXCP], cwd=fixture_project)
    assert result.stdout == MXCP_DRY_RUN.replace("92", "346")


def test_real_run_with_nothing_to_delete_is_mxcps(fixture_project: Path) -> None:
    assert run_subprocess(["log-cleanup", *MXCP], cwd=fixture_project).exit_code == 0
    again = run_subprocess(["log-cleanup", *MXCP], cwd=fixture_project)
    assert (again.exit_code, again.stdout) == (0, MXCP_NOTHING_DELETED)


def test_json_real_run_is_mxcps_document_byte_for_byte(fixture_project: Path) -> None:
    result = run_subprocess(["log-cleanup", "--json", *MXCP], cwd=fixture_project)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == MXCP_REAL_RUN_JSON


def test_json_dry_run_is_mxcps_document_byte_for_byte(fixture_project: Path) -> None:
    result = run_subprocess(["log-cleanup", "--json", "--dry-run", *MXCP], cwd=fixture_project)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == MXCP_DRY_RUN_JSON


def test_json_escapes_non_ascii_as_mxcps_json_dumps_does(tmp_path: Path) -> None:
    log = tmp_path / "a.jsonl"
    write_log(log, [record("app.événements", 1, "2020-01-01T00:00:00Z")])
    result = run_subprocess(
        ["log-cleanup", "--json", "--path", str(log), "--retain", "app.événements=7", *MXCP], cwd=tmp_path
    )
    assert '"app.\\u00e9v\\u00e9nements:v1": 1' in result.stdout
    assert result.stdout.isascii()


def test_error_in_json_is_mxcps_error_document(fixture_project: Path) -> None:
    result = run_subprocess(["log-cleanup", "--json", "--profile", "nope", *MXCP], cwd=fixture_project)
    # output_error(): print(json.dumps({"status": "error", **error_info}, indent=2)); click.Abort().
    message = f"unknown profile 'nope' in {fixture_project / 'mxcp-site.yml'} (profiles: default, production, staging)"
    assert result.stdout == '{\n  "status": "error",\n  "error": "' + message + '"\n}\n'
    assert result.stderr == "Aborted!\n"
    assert result.exit_code == 2, "exit statuses stay mxcp-compact's"


def test_error_in_text_is_mxcps_two_lines_on_stderr(fixture_project: Path) -> None:
    result = run_subprocess(["log-cleanup", "--profile", "nope", *MXCP], cwd=fixture_project)
    # output_error(): click.echo(f"Error: {error_info['error']}", err=True); click.Abort().
    assert result.stdout == ""
    assert result.stderr.startswith("Error: unknown profile 'nope'")
    assert result.stderr.endswith("\nAborted!\n")
    assert len(result.stderr.splitlines()) == 2


def test_disabled_audit_is_mxcps_sentence(fixture_project: Path) -> None:
    result = run_subprocess(["log-cleanup", "--profile", "staging", *MXCP], cwd=fixture_project)
    assert (result.exit_code, result.stdout) == (0, MXCP_DISABLED + "\n")


def test_disabled_audit_in_json_is_mxcps_skipped_result(fixture_project: Path) -> None:
    result = run_subprocess(["log-cleanup", "--json", "--profile", "staging", *MXCP], cwd=fixture_project)
    assert (result.exit_code, result.stdout) == (0, MXCP_DISABLED_JSON)


def test_a_failed_file_makes_the_json_an_mxcp_error_document_and_the_text_says_so(tmp_path: Path) -> None:
    good = tmp_path / "good.jsonl"
    write_log(good, [record("mxcp.endpoints", 2, "2020-01-01T00:00:00Z")])
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(tmp_path / "sock.jsonl"))
        args = ["log-cleanup", "--path", "sock.jsonl", "--path", "good.jsonl", *MXCP]
        as_json = run_subprocess([*args, "--json"], cwd=tmp_path)  # deletes good.jsonl's record
        text = run_subprocess(args, cwd=tmp_path)  # then finds nothing more to delete
    finally:
        server.close()
    assert text.exit_code == as_json.exit_code == 1
    reason = "sock.jsonl: cannot open: No such device or address"
    assert json.loads(as_json.stdout) == {
        "status": "error",
        "error": f"Deleted 1 records; 1 of 2 files could not be compacted (nothing was deleted from it): {reason}",
    }
    assert as_json.stdout.startswith('{\n  "status": "error",\n  "error": ')
    assert text.stdout == (
        "Applying retention policies...\n"
        "No records were deleted: 1 of 2 files could not be compacted.\n"
        "\n"
        "Not compacted: sock.jsonl (cannot open: No such device or address); nothing was deleted from it.\n"
    )


def test_the_settings_file_can_choose_the_mxcp_style_and_the_option_wins(fixture_project: Path) -> None:
    (fixture_project / "mxcp-compact.toml").write_text('[cleanup]\noutput_style = "mxcp"\n', encoding="utf-8")
    from_settings = run_subprocess(["log-cleanup", "--json", "--now", FIXTURE_NOW, "--dry-run"], cwd=fixture_project)
    assert from_settings.stdout == MXCP_DRY_RUN_JSON
    guide = run_subprocess(
        ["log-cleanup", "--json", "--now", FIXTURE_NOW, "--dry-run", "--output-style", "guide"], cwd=fixture_project
    )
    assert json.loads(guide.stdout)["deleted_per_schema"] == {"mxcp.endpoints:1": 273, "mxcp.endpoints:2": 73}


def test_a_bad_output_style_is_a_usage_error(fixture_project: Path) -> None:
    result = run_subprocess(["log-cleanup", "--output-style", "MXCP"], cwd=fixture_project)
    assert result.exit_code == 2
    assert "--output-style" in result.stderr
    (fixture_project / "mxcp-compact.toml").write_text('[cleanup]\noutput_style = "json"\n', encoding="utf-8")
    from_settings = run_subprocess(["log-cleanup", "--now", FIXTURE_NOW], cwd=fixture_project)
    assert from_settings.exit_code == 2
    assert 'cleanup.output_style must be "guide" or "mxcp"' in from_settings.stderr


def test_help_documents_the_output_style(fixture_project: Path) -> None:
    result = run_subprocess(["log-cleanup", "--help"], cwd=fixture_project, env={"COLUMNS": "200"})
    assert "--output-style [guide|mxcp]" in result.stdout
    assert "MXCP 0.12.3" in result.stdout
