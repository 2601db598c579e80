"""End-to-end behaviour of `mxcp-compact log-cleanup` on copies of the MXCP fixture and small logs."""

from __future__ import annotations

import gzip
import importlib.metadata
import json
import os
import re
import shutil
import socket
import stat
import struct
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

import mxcp_compact
from conftest import (
    FIXTURE_DIR,
    FIXTURE_NOW,
    FIXTURE_NOW_DT,
    PROFILE_FILES,
    CliResult,
    RunCli,
    content_snapshot,
    fixture_lines,
    fixture_table,
    iso,
    record,
    registry_line,
    run_in_process,
    run_subprocess,
    snapshot,
    write_log,
    write_site,
)
from test_safety import NEW, OLD, small_filesystem
from test_safety import NOW as SAFETY_NOW
from test_safety import line as safety_line

NOW_ARGS = ("--now", FIXTURE_NOW)

DRY_RUN_TEXT = {
    "default": (
        "DRY RUN: Analyzing what would be deleted...\n"
        "\n"
        "  mxcp.endpoints (retention: 90 days): 346 records\n"
        "\n"
        "Total records that would be deleted: 346\n"
        "\n"
        "Run without --dry-run to actually delete these records.\n"
    ),
    "production": (
        "DRY RUN: Analyzing what would be deleted...\n"
        "\n"
        "  mxcp.endpoints (retention: 90 days): 92 records\n"
        "\n"
        "Total records that would be deleted: 92\n"
        "\n"
        "Run without --dry-run to actually delete these records.\n"
    ),
}
REAL_RUN_TEXT = {
    "default": (
        "Applying retention policies...\n"
        "\n"
        "Deleted records by schema:\n"
        "  mxcp.endpoints:1: 273 records\n"
        "  mxcp.endpoints:2: 73 records\n"
        "\n"
        "Total records deleted: 346\n"
    ),
    "production": (
        "Applying retention policies...\n"
        "\n"
        "Deleted records by schema:\n"
        "  mxcp.endpoints:2: 92 records\n"
        "\n"
        "Total records deleted: 92\n"
    ),
}
DELETED_PER_SCHEMA = {
    "default": {"mxcp.endpoints:1": 273, "mxcp.endpoints:2": 73},
    "production": {"mxcp.endpoints:2": 92},
}
NOTHING_DELETED = "Applying retention policies...\n\nNo records were deleted.\n"
NOTHING_WOULD_BE_DELETED = "DRY RUN: Analyzing what would be deleted...\n\nNo records would be deleted.\n"
PROFILES = ("default", "production")


# --- an independent reference of the retention rule on the fixture -------------------------------------


def _timestamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def expired(line: bytes, now: datetime, days: int | None = 90) -> bool:
    """The fixture holds only mxcp.endpoints records (90 days in its registry and built in)."""
    document = json.loads(line)
    assert document["schema_name"] == "mxcp.endpoints"
    if days is None:
        return False
    return (now - _timestamp(document["timestamp"])).days > days


def expected_kept(relative: str, now: datetime = FIXTURE_NOW_DT, days: int | None = 90) -> bytes:
    return b"".join(line for line in fixture_lines(relative) if not expired(line, now, days))


def expected_deleted(profile: str, now: datetime = FIXTURE_NOW_DT, days: int | None = 90) -> int:
    return sum(expired(line, now, days) for relative in PROFILE_FILES[profile] for line in fixture_lines(relative))


def file_counts(result_json: dict) -> dict[str, tuple[int, int]]:
    """Per-file (lines, deleted) from a --json result, keyed by file name."""
    return {Path(f["path"]).name: (f["lines"], f["deleted"]) for f in result_json["files"]}


def lines_of(path: Path) -> int:
    return len(path.read_bytes().splitlines())


# --- the fixture, as of the README's instant -----------------------------------------------------------


def test_reference_rule_reproduces_the_fixture_readme_table() -> None:
    for relative, (lines, dropped, _, kept) in fixture_table().items():
        assert len(fixture_lines(relative)) == lines, relative
        assert sum(expired(line, FIXTURE_NOW_DT) for line in fixture_lines(relative)) == dropped, relative
        assert len(expected_kept(relative).splitlines()) == kept, relative


@pytest.mark.parametrize("profile", PROFILES)
def test_dry_run_prints_the_seed_guide_text_and_changes_nothing(
    cli_any: RunCli, fixture_project: Path, profile: str
) -> None:
    before = snapshot(fixture_project)
    result = cli_any(["log-cleanup", "--dry-run", "--profile", profile, *NOW_ARGS], cwd=fixture_project)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == DRY_RUN_TEXT[profile]
    assert result.stderr == ""
    assert snapshot(fixture_project) == before


@pytest.mark.parametrize("profile", PROFILES)
def test_real_run_prints_the_seed_guide_text(cli_any: RunCli, fixture_project: Path, profile: str) -> None:
    result = cli_any(["log-cleanup", "--profile", profile, *NOW_ARGS], cwd=fixture_project)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == REAL_RUN_TEXT[profile]
    assert result.stderr == ""


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("dry_run", [True, False], ids=["dry_run", "real_run"])
def test_json_output_has_status_message_and_deleted_per_schema_first(
    cli: RunCli, fixture_project: Path, profile: str, dry_run: bool
) -> None:
    args = ["log-cleanup", "--json", "--profile", profile, *NOW_ARGS, *(["--dry-run"] if dry_run else [])]
    result = cli(args, cwd=fixture_project)
    assert result.exit_code == 0, result.stderr
    document = result.json()
    total = sum(DELETED_PER_SCHEMA[profile].values())
    assert list(document)[:3] == ["status", "message", "deleted_per_schema"]
    assert document["status"] == ("dry_run" if dry_run else "success")
    assert document["message"] == (f"Would delete {total} records" if dry_run else f"Deleted {total} records")
    assert document["deleted_per_schema"] == DELETED_PER_SCHEMA[profile]


def test_json_output_through_the_real_command_is_one_json_document(cli_any: RunCli, fixture_project: Path) -> None:
    result = cli_any(["log-cleanup", "--json", *NOW_ARGS], cwd=fixture_project)
    assert result.exit_code == 0, result.stderr
    assert result.json()["deleted_per_schema"] == DELETED_PER_SCHEMA["default"]


@pytest.mark.parametrize("profile", PROFILES)
def test_real_run_leaves_the_line_counts_of_the_readme_table(cli: RunCli, fixture_project: Path, profile: str) -> None:
    table = fixture_table()
    result = cli(["log-cleanup", "--json", "--profile", profile, *NOW_ARGS], cwd=fixture_project)
    assert result.exit_code == 0, result.stderr
    reported = file_counts(result.json())
    for relative in PROFILE_FILES[profile]:
        lines, dropped, _, kept = table[relative]
        assert reported[Path(relative).name] == (lines, dropped), relative
        assert lines_of(fixture_project / relative) == kept, relative


@pytest.mark.parametrize("profile", PROFILES)
def test_dry_run_reports_exactly_what_the_real_run_then_deletes(
    cli: RunCli, fixture_project: Path, profile: str
) -> None:
    args = ["log-cleanup", "--json", "--profile", profile, *NOW_ARGS]
    dry = cli([*args, "--dry-run"], cwd=fixture_project).json()
    real = cli(args, cwd=fixture_project).json()
    assert dry["deleted_per_schema"] == real["deleted_per_schema"] == DELETED_PER_SCHEMA[profile]
    assert file_counts(dry) == file_counts(real)
    assert dry["bytes_after"] == real["bytes_after"]
    assert sum(DELETED_PER_SCHEMA[profile].values()) == expected_deleted(profile)


@pytest.mark.parametrize("profile", PROFILES)
def test_kept_lines_are_byte_identical_to_the_inputs_kept_lines(
    cli: RunCli, fixture_project: Path, profile: str
) -> None:
    result = cli(["log-cleanup", "--profile", profile, *NOW_ARGS], cwd=fixture_project)
    assert result.exit_code == 0, result.stderr
    for relative in PROFILE_FILES[profile]:
        assert (fixture_project / relative).read_bytes() == expected_kept(relative), relative


@pytest.mark.parametrize(("profile", "other"), [("default", "production"), ("production", "default")])
def test_a_profile_run_leaves_the_other_profiles_files_and_the_registries_alone(
    cli: RunCli, fixture_project: Path, profile: str, other: str
) -> None:
    untouched = [
        *PROFILE_FILES[other],
        "audit/logs-default_schemas.jsonl",
        "audit/prod/logs-production_schemas.jsonl",
    ]
    before = snapshot(fixture_project)
    assert cli(["log-cleanup", "--profile", profile, *NOW_ARGS], cwd=fixture_project).exit_code == 0
    after = snapshot(fixture_project)
    for relative in untouched:
        assert after[relative] == before[relative], relative


def test_real_run_leaves_no_temp_file_and_no_new_log_file(cli: RunCli, fixture_project: Path) -> None:
    audit = fixture_project / "audit"
    names_before = {p.name for p in audit.iterdir()}
    assert cli(["log-cleanup", *NOW_ARGS], cwd=fixture_project).exit_code == 0
    names_after = {p.name for p in audit.iterdir()}
    assert not [n for n in names_after if n.endswith(".tmp")]
    assert {n for n in names_after if not n.startswith(".")} == names_before


def test_files_with_nothing_to_delete_are_not_rewritten(cli: RunCli, fixture_project: Path) -> None:
    untouched = PROFILE_FILES["default"][2:]  # two full segments and the 0-byte one
    before = snapshot(fixture_project)
    assert cli(["log-cleanup", *NOW_ARGS], cwd=fixture_project).exit_code == 0
    after = snapshot(fixture_project)
    for relative in untouched:
        assert after[relative] == before[relative], relative


def test_a_second_real_run_deletes_nothing(cli: RunCli, fixture_project: Path) -> None:
    assert cli(["log-cleanup", *NOW_ARGS], cwd=fixture_project).exit_code == 0
    before = snapshot(fixture_project)
    second = cli(["log-cleanup", *NOW_ARGS], cwd=fixture_project)
    assert (second.exit_code, second.stdout) == (0, NOTHING_DELETED)
    dry = cli(["log-cleanup", "--dry-run", *NOW_ARGS], cwd=fixture_project)
    assert (dry.exit_code, dry.stdout) == (0, NOTHING_WOULD_BE_DELETED)
    assert snapshot(fixture_project) == before


def test_json_of_a_run_that_deletes_nothing(cli: RunCli, fixture_project: Path) -> None:
    result = cli(["log-cleanup", "--json", "--retention-days", "none", *NOW_ARGS], cwd=fixture_project)
    document = result.json()
    assert (document["status"], document["message"], document["deleted_per_schema"]) == (
        "success",
        "Deleted 0 records",
        {},
    )


def test_emptied_segment_is_removed_and_emptied_base_file_stays_empty(cli: RunCli, fixture_project: Path) -> None:
    later = ["--now", "2030-01-01T00:00:00Z"]
    dry = cli(["log-cleanup", "--json", "--dry-run", *later], cwd=fixture_project).json()
    result = cli(["log-cleanup", "--json", *later], cwd=fixture_project)
    assert result.exit_code == 0, result.stderr
    real = result.json()
    assert real["deleted_per_schema"] == dry["deleted_per_schema"] == {"mxcp.endpoints:1": 300, "mxcp.endpoints:2": 300}
    actions = {Path(f["path"]).name: f["action"] for f in real["files"]}
    assert actions == {
        "logs-default.jsonl": "rewritten",
        "logs-default-20260730T000000.jsonl": "removed",
        "logs-default-20260908T031238.jsonl": "removed",
        "logs-default-20261018T062517.jsonl": "removed",
        "logs-default-20261127T120000.jsonl": "unchanged",
    }
    audit = fixture_project / "audit"
    assert (audit / "logs-default.jsonl").read_bytes() == b""
    for name in ("20260730T000000", "20260908T031238", "20261018T062517"):
        assert not (audit / f"logs-default-{name}.jsonl").exists()
    assert (audit / "logs-default_schemas.jsonl").read_bytes() == (
        FIXTURE_DIR / "audit/logs-default_schemas.jsonl"
    ).read_bytes()


def test_zero_byte_segment_is_left_alone(cli: RunCli, fixture_project: Path) -> None:
    empty = "audit/logs-default-20261127T120000.jsonl"
    before = snapshot(fixture_project)[empty]
    assert cli(["log-cleanup", "--now", "2030-01-01"], cwd=fixture_project).exit_code == 0
    assert snapshot(fixture_project)[empty] == before


def test_stale_temp_files_are_removed_by_the_next_real_run_not_by_a_dry_run(cli: RunCli, fixture_project: Path) -> None:
    audit = fixture_project / "audit"
    stale = [
        audit / ".logs-default.jsonl.mxcp-compact.tmp",  # a file with records to delete
        audit / ".logs-default-20260908T031238.jsonl.mxcp-compact.tmp",  # a file with nothing to delete
    ]
    for temp in stale:
        temp.write_bytes(b'{"half": "written')
    dry = cli(["log-cleanup", "--dry-run", *NOW_ARGS], cwd=fixture_project)
    assert dry.exit_code == 0
    assert all(temp.exists() for temp in stale)
    real = cli(["log-cleanup", *NOW_ARGS], cwd=fixture_project)
    assert real.exit_code == 0, real.stderr
    assert real.stdout == REAL_RUN_TEXT["default"]
    assert not any(temp.exists() for temp in stale)
    assert "temp file left by an interrupted run" in real.stderr
    assert (audit / "logs-default.jsonl").read_bytes() == expected_kept("audit/logs-default.jsonl")


@pytest.mark.parametrize("how", ["profile", "path"])
def test_symlinked_log_is_compacted_at_its_target_and_the_link_stays(
    cli: RunCli, fixture_project: Path, tmp_path: Path, how: str
) -> None:
    link = fixture_project / "audit/logs-default.jsonl"
    target = tmp_path / "elsewhere" / "real-log.jsonl"
    target.parent.mkdir()
    link.rename(target)
    link.symlink_to(target)
    args = ["log-cleanup", *NOW_ARGS] + (["--path", str(link)] if how == "path" else [])
    result = cli(args, cwd=fixture_project)
    assert result.exit_code == 0, result.stderr
    assert link.is_symlink()
    assert link.readlink() == target
    assert target.read_bytes() == expected_kept("audit/logs-default.jsonl")
    assert not [p for p in target.parent.iterdir() if p.name.endswith(".tmp")]


def test_file_mode_is_preserved_by_a_rewrite(cli: RunCli, fixture_project: Path) -> None:
    base = fixture_project / "audit/logs-default.jsonl"
    segment = fixture_project / "audit/logs-default-20260730T000000.jsonl"
    base.chmod(0o640)
    segment.chmod(0o604)
    assert cli(["log-cleanup", *NOW_ARGS], cwd=fixture_project).exit_code == 0
    assert lines_of(base) == 27  # really rewritten
    assert stat.S_IMODE(base.stat().st_mode) == 0o640
    assert stat.S_IMODE(segment.stat().st_mode) == 0o604


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file another owner needs root")
def test_file_owner_is_preserved_by_a_rewrite(cli: RunCli, fixture_project: Path) -> None:
    base = fixture_project / "audit/logs-default.jsonl"
    os.chown(base, 4321, 4322)
    assert cli(["log-cleanup", *NOW_ARGS], cwd=fixture_project).exit_code == 0
    assert lines_of(base) == 27
    assert (base.stat().st_uid, base.stat().st_gid) == (4321, 4322)


def _posix_acl(entries: list[tuple[int, int, int]]) -> bytes:
    """A `system.posix_acl_access` value: version 2, then (tag, permissions, id) entries."""
    return struct.pack("<I", 2) + b"".join(struct.pack("<HHI", *entry) for entry in entries)


def test_acls_and_extended_attributes_are_preserved_by_a_rewrite(cli: RunCli, fixture_project: Path) -> None:
    base = fixture_project / "audit/logs-default.jsonl"
    base.chmod(0o600)
    # user::rw-, user 4321 (a log shipper, say) r--, group::---, mask::r--, other::---
    acl = _posix_acl(
        [(0x01, 6, 0xFFFFFFFF), (0x02, 4, 4321), (0x04, 0, 0xFFFFFFFF), (0x10, 4, 0xFFFFFFFF), (0x20, 0, 0xFFFFFFFF)]
    )
    try:
        os.setxattr(base, "system.posix_acl_access", acl)
        os.setxattr(base, "user.origin", b"mxcp-server-1")
    except OSError as error:
        pytest.skip(f"this filesystem takes no ACL or user attribute: {error}")
    mode, attributes = base.stat().st_mode, {name: os.getxattr(base, name) for name in os.listxattr(base)}
    assert cli(["log-cleanup", *NOW_ARGS], cwd=fixture_project).exit_code == 0
    assert lines_of(base) == 27  # really rewritten
    assert {name: os.getxattr(base, name) for name in os.listxattr(base)} == attributes
    assert base.stat().st_mode == mode, "the group bits stay the ACL's mask"


def test_debug_adds_per_file_detail_on_stderr_only(cli: RunCli, fixture_project: Path) -> None:
    result = cli(["log-cleanup", "--debug", "--profile", "production", *NOW_ARGS], cwd=fixture_project)
    assert result.stdout == REAL_RUN_TEXT["production"]
    assert "debug: " in result.stderr
    assert "logs-production-20251023T000000.jsonl" in result.stderr


# --- profiles, environment, finding the site -----------------------------------------------------------


@pytest.mark.parametrize("json_output", [False, True], ids=["text", "json"])
def test_staging_profile_with_audit_disabled_is_skipped(cli: RunCli, fixture_project: Path, json_output: bool) -> None:
    before = content_snapshot(fixture_project)
    args = ["log-cleanup", "--profile", "staging", *NOW_ARGS, *(["--json"] if json_output else [])]
    result = cli(args, cwd=fixture_project)
    assert result.exit_code == 0, result.stderr
    message = "Audit logging is disabled for profile 'staging'."
    if json_output:
        document = result.json()
        assert (document["status"], document["message"], document["deleted_per_schema"]) == (
            "skipped",
            message,
            {},
        )
    else:
        assert result.stdout == message + "\n"
    assert content_snapshot(fixture_project) == before


def test_mxcp_profile_environment_variable_selects_the_profile(cli: RunCli, fixture_project: Path) -> None:
    result = cli(
        ["log-cleanup", "--json", "--dry-run", *NOW_ARGS],
        cwd=fixture_project,
        env={"MXCP_PROFILE": "production"},
    )
    assert result.json()["deleted_per_schema"] == DELETED_PER_SCHEMA["production"]


def test_profile_option_wins_over_mxcp_profile(cli: RunCli, fixture_project: Path) -> None:
    result = cli(
        ["log-cleanup", "--json", "--dry-run", "--profile", "default", *NOW_ARGS],
        cwd=fixture_project,
        env={"MXCP_PROFILE": "production"},
    )
    assert result.json()["deleted_per_schema"] == DELETED_PER_SCHEMA["default"]


@pytest.mark.parametrize("value", ["false", "0", "no"])
def test_mxcp_audit_enabled_false_skips_an_enabled_profile(cli: RunCli, fixture_project: Path, value: str) -> None:
    before = content_snapshot(fixture_project)
    result = cli(["log-cleanup", *NOW_ARGS], cwd=fixture_project, env={"MXCP_AUDIT_ENABLED": value})
    assert (result.exit_code, result.stdout) == (0, "Audit logging is disabled for profile 'default'.\n")
    assert content_snapshot(fixture_project) == before


@pytest.mark.parametrize("value", ["true", "1", "yes"])
def test_mxcp_audit_enabled_true_enables_a_disabled_profile_at_its_default_path(
    cli: RunCli, fixture_project: Path, value: str
) -> None:
    log = fixture_project / "audit/logs-staging.jsonl"
    old, young = iso(FIXTURE_NOW_DT - timedelta(days=200)), iso(FIXTURE_NOW_DT - timedelta(days=3))
    write_log(log, [record("mxcp.endpoints", 2, old), record("mxcp.endpoints", 2, young)])
    result = cli(
        ["log-cleanup", "--json", "--profile", "staging", *NOW_ARGS],
        cwd=fixture_project,
        env={"MXCP_AUDIT_ENABLED": value},
    )
    assert result.json()["deleted_per_schema"] == {"mxcp.endpoints:2": 1}
    assert lines_of(log) == 1


@pytest.mark.parametrize(("profile", "outcome"), [("default", "cleaned"), ("staging", "skipped")])
def test_an_mxcp_audit_enabled_value_mxcp_ignores_leaves_the_site_file_to_decide(
    cli: RunCli, fixture_project: Path, profile: str, outcome: str
) -> None:
    # MXCP's own writer ignores such a value (it reads true/false, 1/0, yes/no): the logs it
    # writes are the site file's to decide, and so is their cleanup (this used to be exit 2).
    args = ["log-cleanup", "--dry-run", "--profile", profile, *NOW_ARGS]
    result = cli(args, cwd=fixture_project, env={"MXCP_AUDIT_ENABLED": "perhaps"})
    assert result.exit_code == 0, result.stderr
    assert "MXCP_AUDIT_ENABLED='perhaps' is none of true/false, 1/0, yes/no: ignored, as MXCP ignores it" in (
        result.stderr
    )
    plain = cli(args, cwd=fixture_project)
    assert result.stdout == plain.stdout
    assert ("Audit logging is disabled" in result.stdout) == (outcome == "skipped")


def test_the_sites_own_profile_needs_no_profiles_entry_as_in_mxcp(cli: RunCli, tmp_path: Path) -> None:
    # MXCP gives it an entry of defaults: audit off, logs in <paths.audit>/logs-<profile>.jsonl.
    (tmp_path / "mxcp-site.yml").write_text("mxcp: 1\nproject: p\nprofile: main\npaths:\n  audit: var/audit\n")
    log = tmp_path / "var" / "audit" / "logs-main.jsonl"
    log.parent.mkdir(parents=True)
    log.write_text(
        '{"schema_name": "mxcp.endpoints", "timestamp": "2020-01-01T00:00:00Z"}\n'
        '{"schema_name": "mxcp.endpoints", "timestamp": "2026-11-26T00:00:00Z"}\n'
    )
    skipped = cli(["log-cleanup", "--json", *NOW_ARGS], cwd=tmp_path)
    assert (skipped.exit_code, skipped.json()["status"]) == (0, "skipped"), skipped.stderr
    enabled = cli(["log-cleanup", "--json", *NOW_ARGS], cwd=tmp_path, env={"MXCP_AUDIT_ENABLED": "yes"})
    assert enabled.exit_code == 0, enabled.stderr
    assert enabled.json()["deleted_per_schema"] == {"mxcp.endpoints:1": 1}
    assert lines_of(log) == 1
    typo = cli(["log-cleanup", "--profile", "mian", *NOW_ARGS], cwd=tmp_path)
    assert typo.exit_code == 2 and "unknown profile 'mian'" in typo.stderr


@pytest.mark.parametrize(
    ("audit", "message"),
    [('"x"', "profiles.default must be a mapping"), ("[1]", "profiles.default must be a mapping")],
)
def test_a_profile_that_is_no_mapping_is_a_one_line_configuration_error(
    cli_any: RunCli, tmp_path: Path, audit: str, message: str
) -> None:
    (tmp_path / "mxcp-site.yml").write_text(f"mxcp: 1\nproject: p\nprofile: default\nprofiles:\n  default: {audit}\n")
    result = cli_any(["log-cleanup", *NOW_ARGS], cwd=tmp_path)
    assert result.exit_code == 2 and result.stderr.strip() == f"Error: {tmp_path / 'mxcp-site.yml'}: {message}"


@pytest.mark.parametrize(("value", "skipped"), [('"on"', False), ("1.0", False), ('"off"', True), ('"n"', True)])
def test_audit_enabled_is_read_as_mxcps_model_reads_it(cli: RunCli, tmp_path: Path, value: str, skipped: bool) -> None:
    site = f"mxcp: 1\nproject: p\nprofile: default\nprofiles:\n  default:\n    audit:\n      enabled: {value}\n"
    (tmp_path / "mxcp-site.yml").write_text(site)
    result = cli(["log-cleanup", "--json", *NOW_ARGS], cwd=tmp_path)
    assert result.exit_code == 0, result.stderr
    assert (result.json()["status"] == "skipped") == skipped


def test_a_tilde_in_audit_path_is_not_expanded_as_mxcp_writes_there(cli: RunCli, tmp_path: Path) -> None:
    site = "mxcp: 1\nproject: p\nprofile: default\nprofiles:\n  default:\n    audit:\n      enabled: true\n"
    (tmp_path / "mxcp-site.yml").write_text(site + "      path: ~/aud/x.jsonl\n")
    log = tmp_path / "~" / "aud" / "x.jsonl"
    log.parent.mkdir(parents=True)
    log.write_text('{"schema_name": "mxcp.endpoints", "timestamp": "2020-01-01T00:00:00Z"}\n')
    result = cli(["log-cleanup", "--json", *NOW_ARGS], cwd=tmp_path, env={"HOME": str(tmp_path / "home")})
    assert result.exit_code == 0, result.stderr
    assert [f["path"] for f in result.json()["files"]] == [str(log)]


def test_site_is_found_from_a_subdirectory(cli_any: RunCli, fixture_project: Path) -> None:
    result = cli_any(["log-cleanup", "--dry-run", *NOW_ARGS], cwd=fixture_project / "audit" / "prod")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == DRY_RUN_TEXT["default"]


def test_any_profile_defaults_to_audit_logs_profile_jsonl(cli: RunCli, tmp_path: Path) -> None:
    root = tmp_path / "site"
    write_site(root, "mxcp: 1\nprofile: default\nprofiles:\n  default: {}\n  eu:\n    audit:\n      enabled: true\n")
    log = root / "audit/logs-eu.jsonl"
    write_log(log, [record("mxcp.endpoints", 2, "2020-01-01T00:00:00Z")] * 2)
    result = cli(["log-cleanup", "--profile", "eu", *NOW_ARGS], cwd=root)
    assert result.exit_code == 0, result.stderr
    assert "Total records deleted: 2" in result.stdout
    assert log.read_bytes() == b""


def test_default_profile_does_not_touch_logs_of_a_profile_named_default_eu(cli: RunCli, fixture_project: Path) -> None:
    audit = fixture_project / "audit"
    expired_line = record("mxcp.endpoints", 2, "2020-01-01T00:00:00Z")
    traps = [audit / "logs-default-eu-20260101T000000.jsonl", audit / "logs-default-eu.jsonl"]
    for trap in traps:
        write_log(trap, [expired_line])
    result = cli(["log-cleanup", "--json", *NOW_ARGS], cwd=fixture_project)
    assert result.json()["deleted_per_schema"] == DELETED_PER_SCHEMA["default"]
    for trap in traps:
        assert trap.read_text(encoding="utf-8") == expired_line


# --- --path --------------------------------------------------------------------------------------------


def test_path_file_needs_no_site_and_uses_the_registry_beside_it(cli_any: RunCli, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    now = FIXTURE_NOW_DT
    lines = [
        record("app.events", 1, iso(now - timedelta(days=11))),
        record("app.events", 1, iso(now - timedelta(days=9))),
        record("mxcp.endpoints", 2, iso(now - timedelta(days=11))),
    ]
    write_log(logs / "app.jsonl", lines)
    write_log(logs / "app_schemas.jsonl", [registry_line("app.events", 1, 10)])
    result = cli_any(["log-cleanup", "--path", "logs/app.jsonl", *NOW_ARGS], cwd=tmp_path)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == (
        "Applying retention policies...\n\nDeleted records by schema:\n  app.events:1: 1 records\n\n"
        "Total records deleted: 1\n"
    )
    assert (logs / "app.jsonl").read_text(encoding="utf-8") == lines[1] + lines[2]


def test_path_file_without_a_registry_keeps_schemas_without_policy(cli: RunCli, tmp_path: Path) -> None:
    log = tmp_path / "app.jsonl"
    data = write_log(log, [record("app.events", 1, "2020-01-01T00:00:00Z")])
    result = cli(["log-cleanup", "--path", str(log), *NOW_ARGS], cwd=tmp_path)
    assert (result.exit_code, result.stdout) == (0, NOTHING_DELETED)
    assert log.read_bytes() == data


def test_path_segment_uses_the_registry_of_its_stem(cli: RunCli, tmp_path: Path) -> None:
    segment = tmp_path / "app-20260101T000000-2.jsonl"
    write_log(segment, [record("app.events", 1, "2026-11-01T00:00:00Z")])
    write_log(tmp_path / "app_schemas.jsonl", [registry_line("app.events", 1, 10)])
    result = cli(["log-cleanup", "--json", "--path", str(segment), *NOW_ARGS], cwd=tmp_path)
    assert result.json()["deleted_per_schema"] == {"app.events:1": 1}
    assert not segment.exists()  # a segment left with no lines is removed


@pytest.mark.parametrize("how", ["profile", "path"])
def test_a_log_not_named_jsonl_uses_the_registry_of_its_stem_as_mxcp_names_it(
    cli: RunCli, tmp_path: Path, how: str
) -> None:
    # MXCP's registry for `audit/audit.log` is `audit_schemas.jsonl` (`Path.stem`). Looking for
    # `audit.log_schemas.jsonl` found none, and the records fell to the built-in 90 days while
    # the registry keeps them forever.
    audit = tmp_path / "audit"
    base = [record("mxcp.endpoints", 2, "2020-01-01T00:00:00Z")]
    segment = [record("mxcp.endpoints", 2, "2020-02-01T00:00:00Z")]
    data = write_log(audit / "audit.log", base)
    segment_data = write_log(audit / "audit-20200201T000000.jsonl", segment)
    write_log(audit / "audit_schemas.jsonl", [registry_line("mxcp.endpoints", 2, None)])
    write_site(
        tmp_path,
        "mxcp: 1\nproject: x\nprofile: p\nprofiles:\n  p:\n    audit:\n      enabled: true\n"
        "      path: audit/audit.log\n",
    )
    args = ["--path", "audit/audit.log"] if how == "path" else []
    result = cli(["log-cleanup", "--json", *args, *NOW_ARGS], cwd=tmp_path)
    assert result.exit_code == 0, result.stderr
    assert result.json()["deleted_per_schema"] == {}
    assert (audit / "audit.log").read_bytes() == data
    assert (audit / "audit-20200201T000000.jsonl").read_bytes() == segment_data
    if how == "profile":
        # The profile's segments are found by the same stem, and share that registry.
        files = [Path(f["path"]).name for f in result.json()["files"]]
        assert files == ["audit.log", "audit-20200201T000000.jsonl"]


def test_path_fixture_file_outside_the_project(cli: RunCli, fixture_project: Path, tmp_path: Path) -> None:
    relative = PROFILE_FILES["production"][0]
    result = cli(["log-cleanup", "--path", str(fixture_project / relative), *NOW_ARGS], cwd=tmp_path)
    assert (result.exit_code, result.stdout) == (0, REAL_RUN_TEXT["production"])
    assert (fixture_project / relative).read_bytes() == expected_kept(relative)


def test_path_dir_compacts_its_jsonl_files_only(cli: RunCli, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    old = record("mxcp.endpoints", 2, "2020-01-01T00:00:00Z")
    young = record("mxcp.endpoints", 2, "2026-11-20T00:00:00Z")
    write_log(logs / "a.jsonl", [old, young, old])
    write_log(logs / "b-20260101T000000.jsonl", [old])
    left_alone = {
        "c_schemas.jsonl": write_log(logs / "c_schemas.jsonl", [old]),
        ".hidden.jsonl": write_log(logs / ".hidden.jsonl", [old]),
        "notes.txt": write_log(logs / "notes.txt", [old]),
        "sub/d.jsonl": write_log(logs / "sub" / "d.jsonl", [old]),
    }
    result = cli(["log-cleanup", "--json", "--path", str(logs), *NOW_ARGS], cwd=tmp_path)
    assert result.exit_code == 0, result.stderr
    document = result.json()
    assert document["deleted_per_schema"] == {"mxcp.endpoints:2": 3}
    assert sorted(Path(f["path"]).name for f in document["files"]) == ["a.jsonl", "b-20260101T000000.jsonl"]
    assert (logs / "a.jsonl").read_text(encoding="utf-8") == young
    assert not (logs / "b-20260101T000000.jsonl").exists()
    for name, data in left_alone.items():
        assert (logs / name).read_bytes() == data, name


def test_path_dir_skips_a_gzip_file_with_a_note_and_exit_0(cli_any: RunCli, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    old = record("mxcp.endpoints", 2, "2020-01-01T00:00:00Z")
    write_log(logs / "a.jsonl", [old])
    packed = gzip.compress(old.encode() * 50)
    (logs / "archive.jsonl").write_bytes(packed)
    result = cli_any(["log-cleanup", "--path", str(logs), *NOW_ARGS], cwd=tmp_path)
    assert result.exit_code == 0, result.stderr
    assert "Total records deleted: 1" in result.stdout
    assert "archive.jsonl" not in result.stdout
    notes = [line for line in result.stderr.splitlines() if "archive.jsonl" in line]
    assert len(notes) == 1 and "gzip" in notes[0]
    assert (logs / "archive.jsonl").read_bytes() == packed


#: What a power loss can leave at a log's head on ext4/XFS: a block of NUL bytes (here ended by a
#: newline, so that the records after it are lines of their own).
NUL_HEAD = b"\0" * 300 + b"\n"


def test_path_dir_decides_a_log_with_a_nul_filled_head_line_by_line(fixture_project: Path) -> None:
    base = fixture_project / "audit" / "logs-default.jsonl"
    base.write_bytes(NUL_HEAD + base.read_bytes())
    verify = ["verify", "--path", "audit", *NOW_ARGS]
    before = run_subprocess(verify, cwd=fixture_project)
    assert before.exit_code == 1, before.stdout + before.stderr
    assert "logs-default.jsonl: 273 records past retention" in before.stdout
    result = run_subprocess(["log-cleanup", "--json", "--path", "audit", *NOW_ARGS], cwd=fixture_project)
    assert result.exit_code == 0, result.stderr
    assert result.json()["deleted_per_schema"] == {"mxcp.endpoints:1": 273, "mxcp.endpoints:2": 73}
    assert file_counts(result.json())["logs-default.jsonl"] == (301, 273)
    assert result.json()["unevaluable"] == {"invalid_json": 1}
    assert "NUL" not in result.stderr
    # The NUL line is kept byte for byte, then the records the rule keeps.
    assert base.read_bytes() == NUL_HEAD + expected_kept("audit/logs-default.jsonl")
    after = run_subprocess(verify, cwd=fixture_project)
    assert after.exit_code == 0, after.stdout + after.stderr
    assert "Compliant" in after.stdout


def test_path_dir_skips_a_duckdb_database_named_like_a_log_with_a_note(tmp_path: Path) -> None:
    duckdb = pytest.importorskip("duckdb")
    logs = tmp_path / "logs"
    write_log(logs / "a.jsonl", [record("mxcp.endpoints", 2, "2020-01-01T00:00:00Z")])
    duckdb.connect(str(logs / "table.jsonl")).close()
    database = (logs / "table.jsonl").read_bytes()
    result = run_subprocess(["log-cleanup", "--path", str(logs), *NOW_ARGS], cwd=tmp_path)
    assert result.exit_code == 0, result.stderr
    assert "Total records deleted: 1" in result.stdout
    notes = [line for line in result.stderr.splitlines() if "table.jsonl" in line]
    assert notes == [f"note: {logs / 'table.jsonl'}: skipped: a DuckDB database, not a JSONL log"]
    assert (logs / "table.jsonl").read_bytes() == database


def test_path_may_be_given_several_times(cli: RunCli, tmp_path: Path) -> None:
    old = record("mxcp.endpoints", 1, "2020-01-01T00:00:00Z")
    write_log(tmp_path / "one.jsonl", [old])
    write_log(tmp_path / "two.jsonl", [old, old])
    result = cli(["log-cleanup", "--json", "--path", "one.jsonl", "--path", "two.jsonl", *NOW_ARGS], cwd=tmp_path)
    assert result.json()["deleted_per_schema"] == {"mxcp.endpoints:1": 3}


# --- retention options ---------------------------------------------------------------------------------


def _dry_run_total(cli: RunCli, project: Path, *options: str) -> int:
    result = cli(["log-cleanup", "--json", "--dry-run", *NOW_ARGS, *options], cwd=project)
    assert result.exit_code == 0, result.stderr
    return sum(result.json()["deleted_per_schema"].values())


@pytest.mark.parametrize(
    ("options", "days"),
    [
        (("--retain", "mxcp.endpoints=30"), 30),
        (("--retain", "mxcp.endpoints=none"), None),
        (("--retention-days", "30"), 30),
        (("--retention-days", "none"), None),
        (("--retention-days", "30", "--retain", "mxcp.endpoints=200"), 200),
        (("--retain", "mxcp.endpoints=200", "--retention-days", "30"), 200),
        (("--retention-days", "none", "--retain", "mxcp.endpoints=90"), 90),
        (("--retention-days", "30", "--retain", "mxcp.endpoints=none"), None),
        (("--retain", "other.schema=0"), 90),
    ],
    ids=[
        "retain_days",
        "retain_none",
        "retention_days",
        "retention_days_none",
        "retain_wins_over_retention_days",
        "retain_wins_in_any_order",
        "retain_days_wins_over_retention_none",
        "retain_none_wins_over_retention_days",
        "retain_of_another_schema_changes_nothing",
    ],
)
def test_retention_options_override_the_registry_with_retain_winning(
    cli: RunCli, fixture_project: Path, options: tuple[str, ...], days: int | None
) -> None:
    assert _dry_run_total(cli, fixture_project, *options) == expected_deleted("default", days=days)


def test_retain_days_are_shown_in_the_dry_run_and_applied_by_the_real_run(cli: RunCli, fixture_project: Path) -> None:
    expected = expected_deleted("default", days=30)
    dry = cli(["log-cleanup", "--dry-run", "--retain", "mxcp.endpoints=30", *NOW_ARGS], cwd=fixture_project)
    assert f"  mxcp.endpoints (retention: 30 days): {expected} records\n" in dry.stdout
    real = cli(["log-cleanup", "--retain", "mxcp.endpoints=30", *NOW_ARGS], cwd=fixture_project)
    assert f"Total records deleted: {expected}\n" in real.stdout
    emptied_segments = 0
    for relative in PROFILE_FILES["default"]:
        expected_bytes = expected_kept(relative, days=30)
        path = fixture_project / relative
        is_segment = relative != "audit/logs-default.jsonl"
        if is_segment and fixture_lines(relative) and not expected_bytes:
            emptied_segments += 1
            assert not path.exists(), relative
        else:
            assert path.read_bytes() == expected_bytes, relative
    assert emptied_segments == 2


def test_retain_may_be_repeated_for_several_schemas(cli: RunCli, tmp_path: Path) -> None:
    log = tmp_path / "a.jsonl"
    ten_days_old = iso(FIXTURE_NOW_DT - timedelta(days=10))
    write_log(
        log,
        [
            record("app.a", 1, ten_days_old),
            record("app.b", 1, ten_days_old),
            record("app.c", 1, ten_days_old),
            record("mxcp.endpoints", 2, ten_days_old),
        ],
    )
    args = ["log-cleanup", "--json", "--path", str(log), *NOW_ARGS]
    result = cli([*args, "--retain", "app.a=5", "--retain", "app.b=9", "--retain", "app.c=10"], cwd=tmp_path)
    assert result.json()["deleted_per_schema"] == {"app.a:1": 1, "app.b:1": 1}


def test_retain_none_keeps_everything_and_says_so(cli: RunCli, fixture_project: Path) -> None:
    before = content_snapshot(fixture_project)
    result = cli(["log-cleanup", "--retain", "mxcp.endpoints=none", *NOW_ARGS], cwd=fixture_project)
    assert (result.exit_code, result.stdout) == (0, NOTHING_DELETED)
    assert content_snapshot(fixture_project) == before


# --- --now ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "deleted"),
    [
        ("2026-11-27", 1),
        ("2026-11-27T00:00:00Z", 1),
        ("2026-11-27 00:00:00+00:00", 1),
        ("2026-11-27T02:00:00+0200", 1),
        ("2026-11-27T12:00:00Z", 2),
        ("2026-11-26T23:59:59.999999999Z", 0),
    ],
)
def test_now_accepts_a_date_as_midnight_utc_and_timestamps(cli: RunCli, tmp_path: Path, now: str, deleted: int) -> None:
    log = tmp_path / "a.jsonl"
    write_log(
        log,
        [
            record("mxcp.endpoints", 2, "2026-08-28T00:00:00Z"),  # 91 days before 2026-11-27 midnight
            record("mxcp.endpoints", 2, "2026-08-28T06:00:00Z"),  # 90 days 18 hours before
        ],
    )
    result = cli(["log-cleanup", "--json", "--dry-run", "--path", str(log), "--now", now], cwd=tmp_path)
    assert result.exit_code == 0, result.stderr
    assert sum(result.json()["deleted_per_schema"].values()) == deleted


def test_without_now_retention_is_evaluated_at_the_current_time(cli: RunCli, tmp_path: Path) -> None:
    now = datetime.now(timezone.utc)
    log = tmp_path / "a.jsonl"
    write_log(
        log,
        [
            record("mxcp.endpoints", 2, iso(now - timedelta(days=120))),
            record("mxcp.endpoints", 2, iso(now - timedelta(days=30))),
        ],
    )
    result = cli(["log-cleanup", "--json", "--path", str(log)], cwd=tmp_path)
    assert result.json()["deleted_per_schema"] == {"mxcp.endpoints:2": 1}


# --- errors --------------------------------------------------------------------------------------------


def _site_with_tab_on_line_4(project: Path) -> None:
    (project / "mxcp-site.yml").write_text("mxcp: 1\nprofile: default\nprofiles:\n\tdefault: {}\n", encoding="utf-8")


ERROR_CASES = [
    # (id, where to run: "project" or "empty", setup, options, expected message fragment)
    ("no_site", "empty", None, [], "no mxcp-site.yml"),
    ("invalid_yaml", "project", _site_with_tab_on_line_4, [], "mxcp-site.yml:4:"),
    ("unknown_profile", "project", None, ["--profile", "nope"], "unknown profile 'nope'"),
    ("missing_path", "project", None, ["--path", "audit/missing.jsonl"], "audit/missing.jsonl"),
    (
        "dangling_symlink_path",
        "project",
        "dangling",
        ["--path", "audit/dangling.jsonl"],
        "audit/dangling.jsonl",
    ),
    ("retain_without_equals", "project", None, ["--retain", "mxcp.endpoints"], "SCHEMA=DAYS"),
    ("retain_without_name", "project", None, ["--retain", "=30"], "SCHEMA=DAYS"),
    ("retain_not_a_number", "project", None, ["--retain", "mxcp.endpoints=ninety"], "ninety"),
    ("retain_negative", "project", None, ["--retain", "mxcp.endpoints=-1"], "negative"),
    ("retention_days_negative", "project", None, ["--retention-days", "-5"], "negative"),
    ("retention_days_not_a_number", "project", None, ["--retention-days", "1.5"], "1.5"),
    ("now_unparseable", "project", None, ["--now", "yesterday"], "yesterday"),
    ("now_impossible_date", "project", None, ["--now", "2026-02-30"], "2026-02-30"),
    ("now_hour_24", "project", None, ["--now", "2026-11-27T24:00:00Z"], "2026-11-27T24:00:00Z"),
]


def _prepare_error_case(tmp_path: Path, project: Path, where: str, setup: object) -> Path:
    if setup == "dangling":
        (project / "audit/dangling.jsonl").symlink_to(project / "audit/gone.jsonl")
    elif callable(setup):
        setup(project)
    if where == "empty":
        empty = tmp_path / "not-a-project"
        empty.mkdir()
        return empty
    return project


def _check_bad_input(
    run: RunCli, project: Path, tmp_path: Path, where: str, setup: object, options: list[str], fragment: str
) -> None:
    cwd = _prepare_error_case(tmp_path, project, where, setup)
    args = ["log-cleanup", *options]
    if "--now" not in options:
        args += NOW_ARGS
    before = content_snapshot(project)
    result = run(args, cwd=cwd)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    assert fragment in lines[0]
    assert content_snapshot(project) == before


@pytest.mark.parametrize(
    ("where", "setup", "options", "fragment"), [c[1:] for c in ERROR_CASES], ids=[c[0] for c in ERROR_CASES]
)
def test_bad_input_is_one_line_error_with_exit_2_and_nothing_touched(
    cli: RunCli,
    fixture_project: Path,
    tmp_path: Path,
    where: str,
    setup: object,
    options: list[str],
    fragment: str,
) -> None:
    _check_bad_input(cli, fixture_project, tmp_path, where, setup, options, fragment)


# The real command for a few of the cases above: what an operator's terminal or cron mail shows.
REAL_COMMAND_ERROR_CASES = [
    c
    for c in ERROR_CASES
    if c[0] in {"no_site", "invalid_yaml", "unknown_profile", "retain_negative", "now_unparseable"}
] + [
    # Values Click itself refuses: its usage block is three lines, the command's error one.
    ("threads_negative", "project", None, ["--threads", "-1"], "'--threads': -1 is not in the range 0<=x<=4096"),
    ("unknown_option", "project", None, ["--bogus"], "No such option: --bogus (see 'mxcp-compact log-cleanup --help')"),
]


@pytest.mark.parametrize(
    ("where", "setup", "options", "fragment"),
    [c[1:] for c in REAL_COMMAND_ERROR_CASES],
    ids=[c[0] for c in REAL_COMMAND_ERROR_CASES],
)
def test_bad_input_through_the_real_command_is_one_line_without_traceback(
    cli_subprocess: RunCli,
    fixture_project: Path,
    tmp_path: Path,
    where: str,
    setup: object,
    options: list[str],
    fragment: str,
) -> None:
    _check_bad_input(cli_subprocess, fixture_project, tmp_path, where, setup, options, fragment)


@pytest.mark.parametrize(
    ("where", "setup", "options", "fragment"), [c[1:] for c in ERROR_CASES], ids=[c[0] for c in ERROR_CASES]
)
def test_bad_input_with_json_prints_an_error_document(
    cli: RunCli,
    fixture_project: Path,
    tmp_path: Path,
    where: str,
    setup: object,
    options: list[str],
    fragment: str,
) -> None:
    cwd = _prepare_error_case(tmp_path, fixture_project, where, setup)
    args = ["log-cleanup", "--json", *options]
    if "--now" not in options:
        args += NOW_ARGS
    result = cli(args, cwd=cwd)
    assert result.exit_code == 2
    document = result.json()
    assert set(document) == {"status", "message"}
    assert document["status"] == "error"
    assert fragment in document["message"]
    assert "\n" not in document["message"]


def assert_usage_error(result: CliResult, message: str, args: list[str]) -> None:
    """Exit 2 with `message`: the JSON error document with `--json`, else on stderr."""
    assert result.exit_code == 2, (result.stdout, result.stderr)
    if "--json" in args:
        assert result.json() == {"status": "error", "message": message}
    else:
        assert message in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["log-cleanup", "--archive", "{tmp}/first.jsonl", "--archive={tmp}/second.jsonl"],
        ["log-cleanup", "--json", "--archive", "{tmp}/first.jsonl", "--archive", "{tmp}/second.jsonl"],
        ["erase", "--where", "user_id=zoe", "--archive", "{tmp}/first.jsonl", "--archive", "{tmp}/second.jsonl"],
        ["log-cleanup", "--now", NOW_ARGS[1], "--dry-run", "--now", "2030-01-01T00:00:00Z"],
    ],
    ids=["archive", "archive-json", "erase-archive", "now"],
)
def test_an_option_that_takes_one_value_given_twice_is_a_usage_error_that_touches_nothing(
    tmp_path: Path, fixture_project: Path, args: list[str]
) -> None:
    before = content_snapshot(fixture_project)
    argv = [arg.format(tmp=tmp_path) for arg in args]
    result = run_subprocess([*argv, *NOW_ARGS] if "--now" not in argv else argv, cwd=fixture_project / "audit")
    option = "--now" if "--now" in argv else "--archive"
    assert_usage_error(result, f"{option} is given more than once; it takes one value, so give it once.", argv)
    assert content_snapshot(fixture_project) == before
    assert not (tmp_path / "first.jsonl").exists() and not (tmp_path / "second.jsonl").exists()


@pytest.mark.parametrize(
    "args",
    [
        ["log-cleanup", "--path", ""],
        ["log-cleanup", "--path="],
        ["log-cleanup", "--json", "--path", ""],
        ["log-cleanup", "--audit-trail", ""],
        ["erase", "--where", "user_id=zoe", "--path", ""],
        ["stats", "--path", ""],
        ["export", "--duckdb", ""],
    ],
    ids=["path", "path-equals", "path-json", "trail", "erase-path", "stats-path", "export-duckdb"],
)
def test_an_empty_path_is_a_usage_error_not_the_current_directory(fixture_project: Path, args: list[str]) -> None:
    # `--path "$AUDIT_DIR"` with the variable unset: Path("") is ".", so the run would clean
    # whatever directory it was started in (here the audit directory, with expired records).
    before = content_snapshot(fixture_project)
    result = run_subprocess([*args, *NOW_ARGS], cwd=fixture_project / "audit")
    option = next(arg for arg in reversed(args) if arg.startswith("--") and arg != "--json").rstrip("=")
    message = f"Invalid value for '{option}': an empty path (an unset variable?); name a file or directory."
    assert_usage_error(result, message, args)
    assert content_snapshot(fixture_project) == before


def test_a_value_that_looks_like_an_option_is_not_counted_as_it(tmp_path: Path, fixture_project: Path) -> None:
    # `--path --archive` names a directory called --archive: one --archive follows.
    odd = fixture_project / "audit" / "--archive"
    odd.mkdir()
    archive = tmp_path / "deleted.jsonl"
    args = ["log-cleanup", "--path", "--archive", "--archive", str(archive), *NOW_ARGS]
    result = run_subprocess(args, cwd=fixture_project / "audit")
    assert "more than once" not in result.stderr
    assert result.exit_code == 0, result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["log-cleanup", "--dry-run"],
        ["log-cleanup"],
        ["log-cleanup", "--dry-run", "--output-style", "mxcp"],
        ["log-cleanup", "--output-style", "mxcp"],
        ["stats"],
    ],
)
def test_a_schema_name_from_the_log_cannot_forge_or_hide_lines_of_the_text_report(
    tmp_path: Path, args: list[str]
) -> None:
    forged = "app.x\n\nNo records were deleted.\n\x1b[8m"
    log = tmp_path / "logs-default.jsonl"
    write_log(log, [record(forged, 1, "2026-01-01T00:00:00Z"), record("mxcp.endpoints", 2, "2026-01-01T00:00:00Z")])
    result = run_subprocess([*args, "--path", log, "--now", FIXTURE_NOW, "--retention-days", "30"], cwd=tmp_path)
    assert result.exit_code == 0, result.stderr
    assert "\x1b" not in result.stdout and "No records were deleted.\n" not in result.stdout
    assert "app.x\\x0a\\x0aNo records were deleted.\\x0a\\x1b[8m" in result.stdout


@pytest.mark.parametrize("name", ["deleted.jsonl.bz2", "deleted.jsonl.xz", "deleted.jsonl.GZ", "deleted.jsonl.zstd"])
@pytest.mark.parametrize("command", [["log-cleanup", *NOW_ARGS], ["erase", "--where", "user_id=zoe"]])
def test_an_archive_name_promising_a_format_it_is_not_written_in_is_refused(
    tmp_path: Path, fixture_project: Path, name: str, command: list[str]
) -> None:
    before = content_snapshot(fixture_project)
    result = run_subprocess([*command, "--archive", tmp_path / name], cwd=fixture_project)
    assert result.exit_code == 2, result.stderr
    assert "an archive is written as .jsonl.gz, .jsonl.zst, .duckdb (lower case) or plain JSONL" in result.stderr
    assert f"a name ending in {Path(name).suffix} would hold plain text" in result.stderr
    assert content_snapshot(fixture_project) == before
    assert not (tmp_path / name).exists()


def test_a_brace_in_an_archive_name_other_than_date_is_refused_in_words(tmp_path: Path, fixture_project: Path) -> None:
    result = run_subprocess(["log-cleanup", *NOW_ARGS, "--archive", tmp_path / "x{}.jsonl"], cwd=fixture_project)
    assert result.exit_code == 2
    assert result.stderr.strip().endswith("only {date} may appear in braces (write {{ and }} for a brace)")


@pytest.mark.parametrize("command", ["export", "log-cleanup"])
def test_a_duckdb_file_name_that_is_not_utf8_is_refused_before_the_run(
    tmp_path: Path, fixture_project: Path, command: str
) -> None:
    pytest.importorskip("duckdb", reason="the duckdb package is an optional extra (installed by make)")
    name = os.fsdecode(bytes(tmp_path) + b"/x\xfa.duckdb")
    before = content_snapshot(fixture_project)
    option = "--duckdb" if command == "export" else "--archive"
    result = run_subprocess([command, option, name, *NOW_ARGS], cwd=fixture_project)
    assert result.exit_code == 2, result.stderr
    assert f"{tmp_path}/x\\xfa.duckdb: {option}: DuckDB opens only file names that are UTF-8" in result.stderr
    assert content_snapshot(fixture_project) == before
    assert not Path(name).exists()


def test_invalid_yaml_error_names_the_site_file_and_line(cli: RunCli, fixture_project: Path) -> None:
    _site_with_tab_on_line_4(fixture_project)
    result = cli(["log-cleanup"], cwd=fixture_project / "audit")
    assert result.exit_code == 2
    assert f"{fixture_project / 'mxcp-site.yml'}:4: " in result.stderr


def _good_log(directory: Path) -> tuple[Path, str]:
    young = record("mxcp.endpoints", 2, "2026-11-20T00:00:00Z")
    log = directory / "good.jsonl"
    write_log(log, [record("mxcp.endpoints", 2, "2020-01-01T00:00:00Z"), young])
    return log, young


def _assert_one_file_failed(
    result_text: CliResult, result_json: CliResult, bad_name: str, good: Path, young: str
) -> None:
    assert result_text.exit_code == 1, result_text.stderr
    assert "Traceback" not in result_text.stderr
    assert "Total records deleted: 1\n\nNot compacted: " in result_text.stdout
    named = [line for line in result_text.stdout.splitlines() if bad_name in line]
    assert len(named) == 1 and named[0].startswith("Not compacted: "), result_text.stdout
    assert named[0].endswith("); nothing was deleted from it."), result_text.stdout
    errors = [line for line in result_text.stderr.splitlines() if bad_name in line]
    assert len(errors) == 1 and errors[0].startswith("error: "), result_text.stderr
    assert good.read_text(encoding="utf-8") == young
    assert result_json.exit_code == 1
    document = result_json.json()
    assert document["status"] == "error"
    assert bad_name in document["message"]
    assert "1 of 2 files could not be compacted (nothing was deleted from it): " in document["message"]


def test_socket_among_several_paths_is_reported_and_the_others_processed(cli_any: RunCli, tmp_path: Path) -> None:
    good, young = _good_log(tmp_path)
    bad = tmp_path / "sock.jsonl"
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(bad))
        args = ["log-cleanup", "--path", "sock.jsonl", "--path", "good.jsonl", *NOW_ARGS]
        text = cli_any(args, cwd=tmp_path)
        as_json = run_in_process([*args, "--json"], cwd=tmp_path)
    finally:
        server.close()
    _assert_one_file_failed(text, as_json, "sock.jsonl", good, young)


def test_hard_linked_file_in_a_path_dir_is_reported_untouched_and_the_others_processed(
    cli: RunCli, tmp_path: Path
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    good, young = _good_log(logs)
    linked = logs / "linked.jsonl"
    data = write_log(linked, [record("mxcp.endpoints", 2, "2020-01-01T00:00:00Z")])
    os.link(linked, tmp_path / "second-name")
    text = cli(["log-cleanup", "--path", str(logs), *NOW_ARGS], cwd=tmp_path)
    as_json = cli(["log-cleanup", "--json", "--path", str(logs), *NOW_ARGS], cwd=tmp_path)
    _assert_one_file_failed(text, as_json, "linked.jsonl", good, young)
    assert linked.read_bytes() == data


def test_dangling_symlink_in_a_path_dir_is_reported_and_the_others_processed(cli: RunCli, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    good, young = _good_log(logs)
    (logs / "vanished.jsonl").symlink_to(tmp_path / "nowhere" / "vanished.jsonl")
    text = cli(["log-cleanup", "--path", str(logs), *NOW_ARGS], cwd=tmp_path)
    as_json = cli(["log-cleanup", "--json", "--path", str(logs), *NOW_ARGS], cwd=tmp_path)
    _assert_one_file_failed(text, as_json, "vanished.jsonl", good, young)


def test_dangling_symlink_segment_of_a_profile_is_reported_and_the_others_processed(
    cli: RunCli, fixture_project: Path, tmp_path: Path
) -> None:
    segment = fixture_project / "audit/logs-default-20261120T000000.jsonl"
    segment.symlink_to(tmp_path / "nowhere.jsonl")
    result = cli(["log-cleanup", *NOW_ARGS], cwd=fixture_project)
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert result.stdout == REAL_RUN_TEXT["default"] + (
        f"\nNot compacted: {segment} (cannot open: No such file or directory); nothing was deleted from it.\n"
    )
    assert any(line.startswith("error: ") and segment.name in line for line in result.stderr.splitlines())
    assert segment.is_symlink()


def test_hard_linked_base_file_of_a_profile_is_reported_and_the_segments_processed(
    cli: RunCli, fixture_project: Path, tmp_path: Path
) -> None:
    base = fixture_project / "audit/logs-default.jsonl"
    before = base.read_bytes()
    os.link(base, tmp_path / "backup-of-base.jsonl")
    result = cli(["log-cleanup", *NOW_ARGS], cwd=fixture_project)
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert result.stdout == (
        "Applying retention policies...\n\nDeleted records by schema:\n  mxcp.endpoints:2: 73 records\n\n"
        "Total records deleted: 73\n"
        f"\nNot compacted: {base} (has 2 hard links); nothing was deleted from it.\n"
    )
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "logs-default.jsonl" in errors[0]
    assert base.read_bytes() == before
    segment = "audit/logs-default-20260730T000000.jsonl"
    assert (fixture_project / segment).read_bytes() == expected_kept(segment)


def disk_full_logs(mount: Path) -> tuple[Path, Path]:
    """On a small filesystem: a log whose kept lines do not fit in the free space (so its copy
    fails), and one with nothing to delete. Returns (full, fine)."""
    full = mount / "logs-default.jsonl"
    lines = [safety_line(OLD, orig=i, pad="x" * 1000) for i in range(1200)]
    lines += [safety_line(NEW if i % 4 else OLD, orig=i, pad="y" * 1000) for i in range(1200, 2600)]
    write_log(full, lines)
    assert shutil.disk_usage(mount).free < sum(len(item) for item in lines if NEW in item)
    fine = mount / "logs-a.jsonl"
    write_log(fine, [safety_line(NEW, orig="a")])
    return full, fine


DISK_FULL_REASON = "no space left on the device while writing the compacted copy"


def test_a_disk_full_run_says_on_standard_output_that_nothing_was_deleted_because_a_file_failed(
    tmp_path: Path,
) -> None:
    with small_filesystem(tmp_path, "tmpfs", "3M") as mount:
        full, fine = disk_full_logs(mount)
        before = content_snapshot(mount)
        text = run_subprocess(["log-cleanup", "--path", str(mount), "--now", SAFETY_NOW], cwd=tmp_path)
        as_json = run_subprocess(["log-cleanup", "--json", "--path", str(mount), "--now", SAFETY_NOW], cwd=tmp_path)
        after = content_snapshot(mount)
    assert text.exit_code == 1, text.stderr
    assert text.stdout == (
        "Applying retention policies...\n"
        "\n"
        "No records were deleted: 1 of 2 files could not be compacted.\n"
        "\n"
        f"Not compacted: {full} ({DISK_FULL_REASON}); nothing was deleted from it.\n"
    )
    assert f"error: {full}: {DISK_FULL_REASON}; the original is intact" in text.stderr
    assert as_json.exit_code == 1, as_json.stderr
    document = as_json.json()
    assert document["status"] == "error"
    assert document["message"].startswith(
        f"Deleted 0 records; 1 of 2 files could not be compacted (nothing was deleted from it): {full}: "
        f"{DISK_FULL_REASON}; "
    )
    assert document["deleted_per_schema"] == {}
    actions = {Path(f["path"]).name: f["action"] for f in document["files"]}
    assert actions == {fine.name: "unchanged", full.name: "error"}
    assert len(document["errors"]) == 1 and DISK_FULL_REASON in document["errors"][0]
    assert after == before


def test_missing_audit_directory_is_nothing_to_do_with_a_note(cli: RunCli, tmp_path: Path) -> None:
    root = tmp_path / "site"
    write_site(root)
    result = cli(["log-cleanup", *NOW_ARGS], cwd=root)
    assert (result.exit_code, result.stdout) == (0, NOTHING_DELETED)
    assert "logs-default.jsonl" in result.stderr


# --- --version and --help ------------------------------------------------------------------------------


def test_version_prints_the_package_version(cli_any: RunCli, tmp_path: Path) -> None:
    result = cli_any(["--version"], cwd=tmp_path)
    assert result.exit_code == 0
    assert result.stdout == f"mxcp-compact {mxcp_compact.__version__}\n"
    assert mxcp_compact.__version__ == importlib.metadata.version("mxcp-compact")


#: A crontab line: five schedule fields, then a command running mxcp-compact log-cleanup.
CRON_LINE = re.compile(r"(?:[0-9*/,-]+\s+){5}\S.*\bmxcp-compact log-cleanup\b.*")


def _example_lines(text: str) -> list[str]:
    """Help lines (unindented, without trailing `# comments`) that start an mxcp-compact command."""
    lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return [line for line in lines if line.startswith("mxcp-compact log-cleanup")]


@pytest.mark.parametrize(
    ("run", "args"),
    [
        (run_in_process, ["--help"]),
        (run_in_process, ["log-cleanup", "--help"]),
        (run_in_process, ["-h"]),
        (run_subprocess, ["--help"]),
    ],
    ids=["top", "log-cleanup", "short", "real_command"],
)
def test_help_shows_examples_one_per_line_including_a_cron_line(run: RunCli, tmp_path: Path, args: list[str]) -> None:
    result = run(args, cwd=tmp_path, env={"COLUMNS": "100"})
    assert result.exit_code == 0
    assert "Examples:" in result.stdout
    examples = _example_lines(result.stdout)
    assert len(examples) >= 3, f"fewer than 3 example commands on lines of their own in:\n{result.stdout}"
    for example in examples:
        assert example.count("mxcp-compact") == 1, f"examples run together on one line: {example!r}"
    cron_lines = [line.strip() for line in result.stdout.splitlines() if CRON_LINE.fullmatch(line.strip())]
    assert len(cron_lines) == 1, f"no intact cron line in:\n{result.stdout}"
    assert cron_lines[0].endswith("2>&1") or ">>" not in cron_lines[0], f"cron line cut short: {cron_lines[0]!r}"
    assert not [c for c in result.stdout if ord(c) < 32 and c != "\n"], "control characters in the help text"


def test_log_cleanup_help_lists_every_option(cli: RunCli, tmp_path: Path) -> None:
    result = cli(["log-cleanup", "--help"], cwd=tmp_path)
    for option in (
        "--profile",
        "--dry-run",
        "--json",
        "--debug",
        "--path",
        "--retention-days",
        "--retain",
        "--now",
    ):
        assert option in result.stdout, option


def test_log_cleanup_help_names_every_archive_format_including_duckdb(tmp_path: Path) -> None:
    result = run_subprocess(["log-cleanup", "--help"], cwd=tmp_path)
    assert result.exit_code == 0
    archive_help = " ".join(result.stdout.split("--archive PATH", 1)[1].split("--audit-trail", 1)[0].split())
    for suffix in (".jsonl.gz", ".jsonl.zst", ".jsonl,", ".duckdb"):
        assert suffix in archive_help, (suffix, archive_help)


def test_schedule_help_lists_every_option_with_its_default(tmp_path: Path) -> None:
    result = run_subprocess(["schedule", "--help"], cwd=tmp_path)
    assert result.exit_code == 0
    for option in ("--systemd", "--cron", "--compose", "--kubernetes", "--profile NAME", "--install", "--group GROUP"):
        assert f"  {option} " in result.stdout, option
    for option, default in (
        ("--user USER", "mxcp"),
        ("--on-calendar SPEC", "daily"),
        ("--at CRON_TIME", "0 2 * * *"),
        ("--image IMAGE", "mxcp-compact:latest"),
        ("--claim NAME", "mxcp-audit"),
    ):
        entry = " ".join(result.stdout.split(f"  {option} ", 1)[1].split("\n  --", 1)[0].split())
        assert entry.endswith(f"[default: {default}]"), entry
    assert "--working-dir DIR " in result.stdout and "--namespace NAMESPACE " in result.stdout
    assert "--unit-dir" not in result.stdout, "a hidden option, for the tests"


def test_a_path_run_inside_a_project_says_it_does_not_read_the_projects_settings_file(
    cli: RunCli, fixture_project: Path
) -> None:
    settings = fixture_project / "mxcp-compact.toml"
    settings.write_text("[retention]\ndefault_days = 365\n")
    args = ["log-cleanup", "--dry-run", "--path", "audit", *NOW_ARGS]
    unread = cli(args, cwd=fixture_project)
    assert unread.exit_code == 0, unread.stderr
    note = f"note: {settings}: not read by a --path run (its retention and archive settings do not apply)"
    assert note in unread.stderr
    read = cli([*args, "--config", settings], cwd=fixture_project)
    assert read.exit_code == 0 and "not read by a --path run" not in read.stderr
    assert read.stdout != unread.stdout, "365 days keep what 90 delete"
