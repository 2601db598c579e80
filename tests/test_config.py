"""Unit tests of resolving a run: options (`rules`), profiles (`profiles`), files of a profile (`discovery`), the
schema registry (`registry`)."""

from __future__ import annotations

import gzip
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from conftest import PROFILE_FILES, SITE_YML, record, registry_line, run_subprocess, write_log, write_site
from mxcp_compact.config import resolve_run
from mxcp_compact.discovery import LogFile, expand_paths, registry_path_for
from mxcp_compact.errors import ConfigError
from mxcp_compact.profiles import discover_profile_files, find_site
from mxcp_compact.registry import RegistryEntry, load_registry
from mxcp_compact.rules import FOREVER, Retention, parse_days, parse_now, parse_retain
from mxcp_compact.settings import load_tool_config


def ns(instant: datetime) -> int:
    delta = instant - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


MIDNIGHT = ns(datetime(2026, 11, 27, tzinfo=timezone.utc))


# --- parse_retain / parse_days -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mxcp.endpoints=365", ("mxcp.endpoints", 365)),
        ("mxcp.endpoints=0", ("mxcp.endpoints", 0)),
        ("mxcp.endpoints=none", ("mxcp.endpoints", FOREVER)),
        ("mxcp.endpoints=None", ("mxcp.endpoints", FOREVER)),
        ("mxcp.endpoints=null", ("mxcp.endpoints", FOREVER)),
        (" app.events = 7 ", ("app.events", 7)),
    ],
)
def test_parse_retain_accepts_name_equals_days_or_none(text: str, expected: tuple[str, object]) -> None:
    assert parse_retain(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "mxcp.endpoints",
        "=30",
        " =30",
        "mxcp.endpoints=",
        "mxcp.endpoints=ninety",
        "mxcp.endpoints=1.5",
        "x=-1",
        # These matched no record, in silence: a name holding '=', the schema:version form the
        # reports print, and digits int() reads but a person would not write.
        "mxcp.endpoints=5=6",
        "mxcp.endpoints:2=0",
        "mxcp.endpoints=\u0669\u0660",
        "mxcp.endpoints=9_0",
    ],
)
def test_parse_retain_rejects_anything_else_with_a_config_error(text: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_retain(text)
    assert text.strip() in str(raised.value) or repr(text) in str(raised.value)
    assert "\n" not in str(raised.value)


def test_a_schema_named_like_the_mxcp_styles_key_can_have_a_rule(tmp_path: Path) -> None:
    log = tmp_path / "a.jsonl"
    data = write_log(log, [record("orders:v2", 1, "2026-01-01T00:00:00Z")])
    args = ["log-cleanup", "--path", log, "--now", FIXED_NOW, "--dry-run", "--retain", "orders:v2=30"]
    result = run_subprocess(args, cwd=tmp_path)
    assert result.exit_code == 0, result.stderr
    assert "orders:v2 (retention: 30 days): 1 records" in result.stdout
    assert log.read_bytes() == data


def test_two_different_retain_rules_for_one_schema_are_refused_and_a_repeat_is_not(tmp_path: Path) -> None:
    log = tmp_path / "logs-default.jsonl"
    data = write_log(log, [record("mxcp.endpoints", 2, "2026-11-01T00:00:00Z")])
    base = ["log-cleanup", "--path", log, "--now", FIXED_NOW, "--dry-run"]
    for rules in (["mxcp.endpoints=10", "mxcp.endpoints=none"], ["mxcp.endpoints=none", "mxcp.endpoints=10"]):
        refused = run_subprocess([*base, "--retain", rules[0], "--retain", rules[1]], cwd=tmp_path)
        assert refused.exit_code == 2, refused.stderr
        assert f"--retain '{rules[1]}': mxcp.endpoints already has a rule" in refused.stderr
    repeated = run_subprocess([*base, "--retain", "mxcp.endpoints=10", "--retain", "mxcp.endpoints=10"], cwd=tmp_path)
    assert repeated.exit_code == 0 and "mxcp.endpoints (retention: 10 days): 1 records" in repeated.stdout
    assert log.read_bytes() == data


def test_parse_retain_negative_days_says_negative() -> None:
    with pytest.raises(ConfigError, match="negative"):
        parse_retain("mxcp.endpoints=-1")


@pytest.mark.parametrize(("text", "expected"), [("0", 0), ("90", 90), ("4294967295", 2**32 - 1), ("none", FOREVER)])
def test_parse_days_accepts_whole_days_and_none(text: str, expected: object) -> None:
    assert parse_days(text, "--retention-days") == expected


@pytest.mark.parametrize("text", ["-1", "abc", "", "4294967296", "1e3"])
def test_parse_days_rejects_negative_non_integer_and_too_large(text: str) -> None:
    with pytest.raises(ConfigError, match="--retention-days"):
        parse_days(text, "--retention-days")


def test_config_error_is_a_value_error() -> None:
    assert issubclass(ConfigError, ValueError)


# --- parse_now -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-27", MIDNIGHT),
        ("2026-11-27T00:00:00Z", MIDNIGHT),
        ("2026-11-27t00:00:00z", MIDNIGHT),
        ("2026-11-27 00:00:00", MIDNIGHT),
        ("2026-11-27T00:00:00", MIDNIGHT),
        ("2026-11-27T02:00:00+02:00", MIDNIGHT),
        ("2026-11-26T19:00:00-0500", MIDNIGHT),
        (" 2026-11-27T00:00:00Z ", MIDNIGHT),
        ("2026-11-27T00:00:00.5Z", MIDNIGHT + 500_000_000),
        ("2026-11-27T00:00:00.123456789Z", MIDNIGHT + 123_456_789),
        ("2024-02-29T12:00:00Z", ns(datetime(2024, 2, 29, 12, tzinfo=timezone.utc))),
    ],
)
def test_parse_now_gives_exact_nanoseconds_for_dates_and_timestamps(text: str, expected: int) -> None:
    assert parse_now(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "yesterday",
        "2026-02-30",
        "2025-02-29T00:00:00Z",
        "2026-11-27T24:00:00Z",
        "2026-13-01",
        "2026-11-27T00:00:00.1234567890Z",
        "2026-11-27T00:00:00.Z",
        "27/11/2026",
    ],
)
def test_parse_now_rejects_unparseable_and_impossible_instants(text: str) -> None:
    with pytest.raises(ConfigError, match="--now"):
        parse_now(text)


# --- find_site -----------------------------------------------------------------------------------------


def test_find_site_in_the_start_directory(tmp_path: Path) -> None:
    site = write_site(tmp_path / "project")
    assert find_site(tmp_path / "project") == site.resolve()


def test_find_site_in_a_parent_directory(tmp_path: Path) -> None:
    site = write_site(tmp_path / "project")
    deep = tmp_path / "project" / "audit" / "prod" / "x"
    deep.mkdir(parents=True)
    assert find_site(deep) == site.resolve()


def test_find_site_prefers_the_nearest(tmp_path: Path) -> None:
    write_site(tmp_path / "outer")
    inner = write_site(tmp_path / "outer" / "inner")
    assert find_site(tmp_path / "outer" / "inner") == inner.resolve()


def test_find_site_ignores_a_directory_named_like_the_site_file(tmp_path: Path) -> None:
    site = write_site(tmp_path / "project")
    (tmp_path / "project" / "sub" / "mxcp-site.yml").mkdir(parents=True)
    assert find_site(tmp_path / "project" / "sub") == site.resolve()


def test_find_site_without_any_site_file_is_none(tmp_path: Path) -> None:
    if any((parent / "mxcp-site.yml").exists() for parent in tmp_path.resolve().parents):
        pytest.skip("a parent of the temporary directory holds an mxcp-site.yml")
    assert find_site(tmp_path) is None


# --- discover_profile_files ----------------------------------------------------------------------------


def _relative_files(plan_files: tuple[LogFile, ...], root: Path) -> list[tuple[str, bool]]:
    return [(str(f.path.relative_to(root)), f.is_segment) for f in plan_files]


def test_default_profile_of_the_fixture_is_the_base_file_and_its_segments(fixture_project: Path) -> None:
    plan = discover_profile_files(fixture_project / "mxcp-site.yml", None, {})
    assert plan.profile == "default"
    assert plan.skipped_reason is None
    assert plan.audit_path == fixture_project / "audit/logs-default.jsonl"
    assert _relative_files(plan.files, fixture_project) == [
        (path, path != "audit/logs-default.jsonl") for path in PROFILE_FILES["default"][:1]
    ] + sorted((path, True) for path in PROFILE_FILES["default"][1:])
    assert {f.registry for f in plan.files} == {fixture_project / "audit/logs-default_schemas.jsonl"}


def test_production_profile_uses_its_explicit_path_relative_to_the_site_root(
    fixture_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    plan = discover_profile_files(fixture_project / "mxcp-site.yml", "production", {})
    assert plan.audit_path == fixture_project / "audit/prod/logs-production.jsonl"
    assert _relative_files(plan.files, fixture_project) == [(PROFILE_FILES["production"][0], True)]
    assert plan.files[0].registry == fixture_project / "audit/prod/logs-production_schemas.jsonl"


def test_absolute_audit_path_is_used_as_is(tmp_path: Path) -> None:
    logs = tmp_path / "var" / "log"
    write_log(logs / "audit.jsonl", [record("mxcp.endpoints", 2, "2026-01-01T00:00:00Z")])
    site = write_site(
        tmp_path / "site",
        f"profile: p\nprofiles:\n  p:\n    audit:\n      enabled: true\n      path: {logs / 'audit.jsonl'}\n",
    )
    plan = discover_profile_files(site, None, {})
    assert [f.path for f in plan.files] == [logs / "audit.jsonl"]
    assert plan.files[0].registry is None


@pytest.mark.parametrize("profile", ["default", "staging2", "eu-west"])
def test_default_audit_path_is_audit_logs_profile_jsonl_for_any_profile(tmp_path: Path, profile: str) -> None:
    site = write_site(
        tmp_path,
        f"profile: default\nprofiles:\n  default: {{}}\n  {profile}:\n    audit:\n      enabled: true\n",
    )
    write_log(tmp_path / "audit" / f"logs-{profile}.jsonl", [])
    plan = discover_profile_files(site, profile, {})
    assert plan.audit_path == tmp_path / "audit" / f"logs-{profile}.jsonl"
    assert [f.path for f in plan.files] == [tmp_path / "audit" / f"logs-{profile}.jsonl"]
    assert plan.files[0].is_segment is False


def test_default_profile_does_not_pick_up_files_of_profile_default_eu(fixture_project: Path) -> None:
    audit = fixture_project / "audit"
    for name in (
        "logs-default-eu-20260101T000000.jsonl",
        "logs-default-eu-20260101T000000-1.jsonl",
        "logs-default-eu_schemas.jsonl",
        "logs-default-eu.jsonl",
    ):
        write_log(audit / name, [record("mxcp.endpoints", 2, "2020-01-01T00:00:00Z")])
    plan = discover_profile_files(fixture_project / "mxcp-site.yml", "default", {})
    assert sorted(str(f.path.relative_to(fixture_project)) for f in plan.files) == sorted(PROFILE_FILES["default"])
    assert {f.registry for f in plan.files} == {audit / "logs-default_schemas.jsonl"}


SEGMENT_NAMES = [
    "logs-default-20260101T000000.jsonl",
    "logs-default-20261231T235959-1.jsonl",
    "logs-default-20260101T000000-12.jsonl",
]
NOT_SEGMENT_NAMES = [
    "logs-default-20260101T00000.jsonl",
    "logs-default-2026010T000000.jsonl",
    "logs-default-20260101-000000.jsonl",
    "logs-default-20260101t000000.jsonl",
    "logs-default-20260101T000000-.jsonl",
    "logs-default-20260101T000000-x.jsonl",
    "logs-default-20260101T000000-1-2.jsonl",
    "logs-default-20260101T000000.jsonl.gz",
    "logs-default-20260101T000000.json",
    "logs-default-20260101T000000.jsonl.tmp",
    "logs-default-x-20260101T000000.jsonl",
    "logs-default_20260101T000000.jsonl",
    "xlogs-default-20260101T000000.jsonl",
    ".logs-default-20260101T000000.jsonl.mxcp-compact.tmp",
    ".logs-default.jsonl.mxcp-compact.tmp",
    "logs-default.tmp",
    "logs-default.jsonl.1",
]


def test_segment_names_match_stem_dash_timestamp_with_an_optional_counter_exactly(tmp_path: Path) -> None:
    site = write_site(tmp_path)
    audit = tmp_path / "audit"
    for name in SEGMENT_NAMES + NOT_SEGMENT_NAMES:
        write_log(audit / name, [record("mxcp.endpoints", 2, "2020-01-01T00:00:00Z")])
    plan = discover_profile_files(site, None, {})
    assert [f.path.name for f in plan.files] == sorted(SEGMENT_NAMES)
    assert all(f.is_segment for f in plan.files)


def test_segments_without_a_base_file_are_found(tmp_path: Path) -> None:
    site = write_site(tmp_path)
    write_log(tmp_path / "audit" / "logs-default-20260101T000000.jsonl", [])
    plan = discover_profile_files(site, None, {})
    assert [f.path.name for f in plan.files] == ["logs-default-20260101T000000.jsonl"]
    assert plan.files[0].registry is None


def test_missing_audit_directory_gives_no_files_and_no_error(tmp_path: Path) -> None:
    plan = discover_profile_files(write_site(tmp_path), None, {})
    assert plan.files == ()
    assert plan.audit_path == tmp_path / "audit" / "logs-default.jsonl"


@pytest.mark.parametrize(
    ("option", "env", "expected"),
    [
        (None, {}, "default"),
        (None, {"MXCP_PROFILE": "production"}, "production"),
        ("staging", {"MXCP_PROFILE": "production"}, "staging"),
        ("default", {"MXCP_PROFILE": "production"}, "default"),
    ],
)
def test_profile_is_option_then_mxcp_profile_then_the_sites(
    fixture_project: Path, option: str | None, env: dict[str, str], expected: str
) -> None:
    assert discover_profile_files(fixture_project / "mxcp-site.yml", option, env).profile == expected


def test_site_profile_key_is_the_last_resort(tmp_path: Path) -> None:
    site = write_site(tmp_path, "profile: other\nprofiles:\n  other:\n    audit:\n      enabled: true\n")
    assert discover_profile_files(site, None, {}).profile == "other"


def test_audit_disabled_gives_a_skipped_plan(fixture_project: Path) -> None:
    plan = discover_profile_files(fixture_project / "mxcp-site.yml", "staging", {})
    assert plan.files == ()
    assert plan.skipped_reason == "Audit logging is disabled for profile 'staging'."


def test_audit_is_disabled_when_the_site_does_not_say(tmp_path: Path) -> None:
    site = write_site(tmp_path, "profile: default\nprofiles:\n  default: {}\n")
    assert discover_profile_files(site, None, {}).skipped_reason is not None


@pytest.mark.parametrize(
    ("written", "enabled"),
    [
        ("false", False),
        ('"false"', False),
        ("'no'", False),
        ('"0"', False),
        ('"True"', True),
        ("true", True),
        ("1", True),
    ],
)
def test_audit_enabled_written_as_a_string_means_what_it_says(tmp_path: Path, written: str, enabled: bool) -> None:
    site = write_site(tmp_path, f"profile: default\nprofiles:\n  default:\n    audit:\n      enabled: {written}\n")
    assert (discover_profile_files(site, None, {}).skipped_reason is None) == enabled


def test_an_audit_path_that_is_a_directory_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "audit").mkdir()
    site = write_site(
        tmp_path, "profile: default\nprofiles:\n  default:\n    audit:\n      enabled: true\n      path: audit\n"
    )
    with pytest.raises(ConfigError, match="is a directory; name the log file"):
        discover_profile_files(site, None, {})


def test_audit_enabled_that_is_no_boolean_is_a_config_error(tmp_path: Path) -> None:
    site = write_site(tmp_path, 'profile: default\nprofiles:\n  default:\n    audit:\n      enabled: "maybe"\n')
    with pytest.raises(ConfigError, match=r"audit\.enabled 'maybe'"):
        discover_profile_files(site, None, {})


@pytest.mark.parametrize(
    ("profile", "value", "skipped"),
    [
        ("default", "false", True),
        ("default", "0", True),
        ("default", "NO", True),
        ("staging", "true", False),
        ("staging", "1", False),
        ("staging", "Yes", False),
        ("staging", "", True),
        ("default", "", False),
    ],
)
def test_mxcp_audit_enabled_overrides_the_site(fixture_project: Path, profile: str, value: str, skipped: bool) -> None:
    plan = discover_profile_files(fixture_project / "mxcp-site.yml", profile, {"MXCP_AUDIT_ENABLED": value})
    assert (plan.skipped_reason is not None) == skipped


def test_an_mxcp_audit_enabled_value_mxcp_ignores_is_a_note_and_the_site_decides(fixture_project: Path) -> None:
    site = fixture_project / "mxcp-site.yml"
    plan = discover_profile_files(site, None, {"MXCP_AUDIT_ENABLED": "maybe"})
    assert plan.files == discover_profile_files(site, None, {}).files
    assert plan.passed_over == (
        (site, "MXCP_AUDIT_ENABLED='maybe' is none of true/false, 1/0, yes/no: ignored, as MXCP ignores it"),
    )


def test_unknown_profile_is_a_config_error_listing_the_known_ones(fixture_project: Path) -> None:
    with pytest.raises(ConfigError, match="unknown profile 'nope'") as raised:
        discover_profile_files(fixture_project / "mxcp-site.yml", "nope", {})
    assert "default, production, staging" in str(raised.value)


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("mxcp: 1\nprofile: default\nprofiles:\n\tdefault: {}\n", 4),
        ("mxcp: 1\nprofiles:\n  default:\n    audit: {enabled: true\n  other: 1\n", 5),
        ('mxcp: 1\nproject: "unterminated\n', 3),
    ],
)
def test_invalid_yaml_is_a_config_error_with_file_and_line(tmp_path: Path, text: str, line: int) -> None:
    site = write_site(tmp_path, text)
    with pytest.raises(ConfigError) as raised:
        discover_profile_files(site, None, {})
    assert str(raised.value).startswith(f"{site}:{line}: invalid YAML")
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize("text", ["- a\n- b\n", "just text\n", "profiles: [a, b]\n"])
def test_site_of_the_wrong_shape_is_a_config_error(tmp_path: Path, text: str) -> None:
    with pytest.raises(ConfigError):
        discover_profile_files(write_site(tmp_path, text), "a", {})


def test_site_yml_fixture_text_is_a_valid_site(tmp_path: Path) -> None:
    plan = discover_profile_files(write_site(tmp_path, SITE_YML), None, {})
    assert (plan.profile, plan.skipped_reason) == ("default", None)


# --- expand_paths (--path) -----------------------------------------------------------------------------


def test_expand_paths_dir_takes_jsonl_files_except_registries_dotfiles_and_binaries(tmp_path: Path) -> None:
    old = record("mxcp.endpoints", 2, "2020-01-01T00:00:00Z")
    for name in ("a.jsonl", "b-20260101T000000.jsonl", "a_schemas.jsonl", ".hidden.jsonl", "c.txt"):
        write_log(tmp_path / name, [old])
    (tmp_path / "packed.jsonl").write_bytes(gzip.compress(old.encode()))
    (tmp_path / "sub.jsonl").mkdir()
    plan = expand_paths([tmp_path])
    assert [(f.path.name, f.is_segment) for f in plan.files] == [
        ("a.jsonl", False),
        ("b-20260101T000000.jsonl", True),
    ]
    assert [(p.name, "gzip" in reason) for p, reason in plan.passed_over] == [("packed.jsonl", True)]
    assert plan.profile is None


def test_expand_paths_file_gets_the_registry_beside_it_and_duplicates_are_dropped(tmp_path: Path) -> None:
    write_log(tmp_path / "logs-x-20260101T000000-3.jsonl", [])
    write_log(tmp_path / "logs-x_schemas.jsonl", [registry_line("app", 1, 5)])
    log = tmp_path / "logs-x-20260101T000000-3.jsonl"
    plan = expand_paths([log, tmp_path, log])
    assert plan.files == (LogFile(log, tmp_path / "logs-x_schemas.jsonl", is_segment=True),)


def test_expand_paths_missing_path_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"missing\.jsonl"):
        expand_paths([tmp_path / "missing.jsonl"])


def test_expand_paths_refuses_to_compact_a_registry(tmp_path: Path) -> None:
    write_log(tmp_path / "logs-default_schemas.jsonl", [registry_line("mxcp.endpoints", 1, 90)])
    with pytest.raises(ConfigError, match="registry"):
        expand_paths([tmp_path / "logs-default_schemas.jsonl"])


# --- load_registry and the retention it gives ----------------------------------------------------------


def _policy(entries: tuple[RegistryEntry, ...], name: str, version: int) -> tuple[str, int | None]:
    return Retention(registry=entries).to_core().policy(name, version)


def test_load_registry_of_the_fixture(fixture_project: Path) -> None:
    entries, warnings = load_registry(fixture_project / "audit/logs-default_schemas.jsonl")
    assert warnings == []
    assert entries == (
        RegistryEntry("mxcp.endpoints", 1, 90, True),
        RegistryEntry("mxcp.endpoints", 2, 90, True),
    )


def test_later_registry_lines_replace_earlier_ones(tmp_path: Path) -> None:
    registry = tmp_path / "logs-default_schemas.jsonl"
    write_log(
        registry,
        [registry_line("app", 1, 10), registry_line("app", 2, 20), registry_line("app", 1, 40)],
    )
    entries, warnings = load_registry(registry)
    assert warnings == []
    assert [(e.schema_name, e.version, e.retention_days) for e in entries] == [
        ("app", 1, 10),
        ("app", 2, 20),
        ("app", 1, 40),
    ]
    assert _policy(entries, "app", 1) == ("days", 40)
    assert _policy(entries, "app", 2) == ("days", 20)


FIXED_NOW = "2026-11-27T00:00:00Z"


@pytest.mark.parametrize("version", [2**63, -(2**63) - 1])
def test_a_registry_version_beyond_64_bits_is_refused_naming_its_line(tmp_path: Path, version: int) -> None:
    registry = tmp_path / "logs-default_schemas.jsonl"
    write_log(registry, [registry_line("app", 1, 10), registry_line("app", version, 90)])
    with pytest.raises(ConfigError, match=rf"{re.escape(str(registry))}:2: version {version} of app is beyond"):
        load_registry(registry)
    # The edges themselves are read.
    write_log(registry, [registry_line("app", 2**63 - 1, 10), registry_line("app", -(2**63), 20)])
    assert [e.version for e in load_registry(registry)[0]] == [2**63 - 1, -(2**63)]


@pytest.mark.parametrize(
    "command",
    [
        ["verify", "--now", FIXED_NOW],
        ["stats", "--now", FIXED_NOW],
        ["log-cleanup", "--now", FIXED_NOW],
        ["erase", "--where", "a=b"],
    ],
)
def test_every_command_refuses_such_a_registry_in_one_line_touching_nothing(tmp_path: Path, command: list[str]) -> None:
    audit = tmp_path / "audit"
    audit.mkdir()
    log = audit / "logs-default.jsonl"
    data = write_log(log, [record("mxcp.endpoints", 2, "2020-01-01T00:00:00Z")])
    write_log(audit / "logs-default_schemas.jsonl", [registry_line("mxcp.endpoints", 2**63, 90)])
    result = run_subprocess([*command, "--path", audit], cwd=tmp_path)
    assert result.exit_code == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "beyond the 64-bit range" in result.stderr
    assert log.read_bytes() == data


def test_a_later_registry_line_can_make_a_schema_keep_forever(tmp_path: Path) -> None:
    registry = tmp_path / "r_schemas.jsonl"
    write_log(registry, [registry_line("app", 1, 10), registry_line("app", 1, None)])
    entries, _ = load_registry(registry)
    assert _policy(entries, "app", 1) == ("forever", None)


def test_unknown_version_uses_the_latest_active_version_of_the_name(tmp_path: Path) -> None:
    registry = tmp_path / "r_schemas.jsonl"
    write_log(
        registry,
        [
            registry_line("app", 1, 10),
            registry_line("app", 2, 20),
            registry_line("app", 3, 30, active=False),
        ],
    )
    entries, _ = load_registry(registry)
    assert _policy(entries, "app", 7) == ("days", 20)
    assert _policy(entries, "app", 3) == ("days", 30)
    assert _policy(entries, "other", 1) == ("none", None)
    assert _policy(entries, "mxcp.endpoints", 2) == ("days", 90)


def test_bad_registry_lines_are_skipped_with_file_and_line_warnings(tmp_path: Path) -> None:
    registry = tmp_path / "logs-default_schemas.jsonl"
    write_log(
        registry,
        [
            registry_line("good", 1, 10),  # 1
            "\n",  # 2: blank, ignored silently
            "{not json\n",  # 3
            "[1, 2]\n",  # 4
            '{"schema_name": "x", "retention_days": 5}\n',  # 5: no version
            '{"schema_name": "x", "version": "1", "retention_days": 5}\n',  # 6
            '{"schema_name": "x", "version": true, "retention_days": 5}\n',  # 7
            '{"version": 1, "retention_days": 5}\n',  # 8
            registry_line("good", 2, 20),  # 9
        ],
    )
    # With every schema's days given on the command line, no registry line decides anything.
    entries, warnings = load_registry(registry, every_schema_decided=True)
    assert [(e.schema_name, e.version) for e in entries] == [("good", 1), ("good", 2)]
    assert [w.split(": ", 1)[0] for w in warnings] == [f"{registry}:{n}" for n in (3, 4, 5, 6, 7, 8)]
    # Without: line 3 could have set any schema's retention (see the next test).
    with pytest.raises(ConfigError, match=rf"{re.escape(str(registry))}:3: .* of any schema"):
        load_registry(registry)


@pytest.mark.parametrize(
    "line",
    [
        '{"schema_name": "mxcp.endpoints", "version": 2, "retention_days": nu',  # cut by a full disk
        '{"schema_name": "mxcp.endpoints", "retention_days": null}',  # no version
        '{"schema_name": "mxcp.endpoints", "version": "2", "retention_days": null}',
    ],
)
def test_a_registry_line_that_cannot_be_read_is_refused_unless_the_command_line_decides_its_schema(
    tmp_path: Path, line: str
) -> None:
    # Skipped, the line's retention (here: keep forever) was replaced by the earlier 90 days.
    registry = tmp_path / "logs-default_schemas.jsonl"
    write_log(registry, [registry_line("mxcp.endpoints", 2, 90), line + "\n"])
    message = (
        f"{registry}:2: registry line cannot be read (.*); it may set the retention of the schema 'mxcp.endpoints',"
        " so nothing was touched: repair the line, or decide without it with --retain mxcp.endpoints=DAYS"
    )
    with pytest.raises(ConfigError, match=re.escape(message).replace(re.escape("(.*)"), r"\(.*\)")):
        load_registry(registry, decided=("app.debug",))
    entries, warnings = load_registry(registry, decided=("mxcp.endpoints",))
    assert entries == (RegistryEntry("mxcp.endpoints", 2, 90, True),)
    assert [w.split(": ", 1)[0] for w in warnings] == [f"{registry}:2"]


def test_log_cleanup_refuses_a_cut_registry_line_and_goes_on_once_told_the_days(tmp_path: Path) -> None:
    audit = tmp_path / "audit"
    log = audit / "logs-default.jsonl"
    data = write_log(log, [record("mxcp.endpoints", 2, "2020-01-01T00:00:00Z")])
    cut = '{"schema_name": "mxcp.endpoints", "version": 2, "retention_days": nu'
    write_log(audit / "logs-default_schemas.jsonl", [registry_line("mxcp.endpoints", 2, 90), cut])
    refused = run_subprocess(["log-cleanup", "--path", audit, "--now", FIXED_NOW], cwd=tmp_path)
    assert refused.exit_code == 2, refused.stderr
    assert refused.stderr.count("\n") == 1 and "--retain mxcp.endpoints=DAYS" in refused.stderr
    assert log.read_bytes() == data
    told = run_subprocess(
        ["log-cleanup", "--path", audit, "--now", FIXED_NOW, "--retain", "mxcp.endpoints=90", "--json"], cwd=tmp_path
    )
    assert told.exit_code == 0, told.stderr
    assert told.json()["deleted_per_schema"] == {"mxcp.endpoints:2": 1}


@pytest.mark.parametrize("days", ["90", 1.5, -1, True, 2**32, [90], {"days": 90}])
def test_non_integer_retention_days_keeps_records_forever_with_a_warning(tmp_path: Path, days: object) -> None:
    registry = tmp_path / "logs-default_schemas.jsonl"
    write_log(registry, [registry_line("mxcp.endpoints", 2, 10), registry_line("mxcp.endpoints", 2, days)])
    entries, warnings = load_registry(registry)
    assert entries[-1] == RegistryEntry("mxcp.endpoints", 2, None, True)
    assert len(warnings) == 1
    assert warnings[0].startswith(f"{registry}:2: ")
    assert "kept" in warnings[0]
    assert _policy(entries, "mxcp.endpoints", 2) == ("forever", None)


def test_registry_lines_are_read_as_python_json_reads_them(tmp_path: Path) -> None:
    """MXCP reads its registry with Python's json: NaN is a value there (not a whole number of
    days: kept), and a line that is not UTF-8 is skipped with a warning, not a crash."""
    registry = tmp_path / "logs-default_schemas.jsonl"
    registry.write_bytes(
        registry_line("mxcp.endpoints", 2, 10).encode()
        + b'{"schema_name": "mxcp.endpoints", "version": 2, "retention_days": NaN}\n'
        + b'{"schema_name": "caf\xe9", "version": 1, "retention_days": 1}\n'
    )
    entries, warnings = load_registry(registry)
    assert entries == (RegistryEntry("mxcp.endpoints", 2, 10, True), RegistryEntry("mxcp.endpoints", 2, None, True))
    assert [w.split(": ", 1)[0] for w in warnings] == [f"{registry}:2", f"{registry}:3"]
    assert _policy(entries, "mxcp.endpoints", 2) == ("forever", None)


def test_registry_active_false_is_read(tmp_path: Path) -> None:
    registry = tmp_path / "r_schemas.jsonl"
    write_log(registry, [registry_line("app", 1, 10, active=False)])
    assert load_registry(registry)[0] == (RegistryEntry("app", 1, 10, False),)


def test_unreadable_registry_is_a_config_error(tmp_path: Path) -> None:
    registry = tmp_path / "r_schemas.jsonl"
    registry.mkdir()
    with pytest.raises(ConfigError, match="registry"):
        load_registry(registry)


# --- registry_path_for ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "logs-default.jsonl",
        "logs-default-20260101T000000.jsonl",
        "logs-default-20260101T000000-4.jsonl",
    ],
)
def test_registry_path_for_base_and_segment_names(tmp_path: Path, name: str) -> None:
    registry = tmp_path / "logs-default_schemas.jsonl"
    write_log(registry, [registry_line("mxcp.endpoints", 1, 90)])
    assert registry_path_for(tmp_path / name) == registry


def test_registry_path_for_a_default_eu_segment_is_the_default_eu_registry(tmp_path: Path) -> None:
    write_log(tmp_path / "logs-default_schemas.jsonl", [registry_line("mxcp.endpoints", 1, 90)])
    assert registry_path_for(tmp_path / "logs-default-eu-20260101T000000.jsonl") is None
    write_log(tmp_path / "logs-default-eu_schemas.jsonl", [registry_line("mxcp.endpoints", 1, 90)])
    assert registry_path_for(tmp_path / "logs-default-eu-20260101T000000.jsonl") == (
        tmp_path / "logs-default-eu_schemas.jsonl"
    )


def test_registry_path_for_is_none_without_a_registry(tmp_path: Path) -> None:
    assert registry_path_for(tmp_path / "logs-default.jsonl") is None


# --- Retention validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "retention",
    [
        Retention(schemas={"x": -1}),
        Retention(schemas={"x": "7"}),  # type: ignore[dict-item]
        Retention(schemas={"x": 2**32}),
        Retention(schemas={"x": True}),
        Retention(all_schemas=-3),
        Retention(all_schemas=1.5),  # type: ignore[arg-type]
    ],
)
def test_invalid_retention_days_are_a_config_error(retention: Retention) -> None:
    with pytest.raises(ConfigError):
        retention.to_core()


def test_retention_precedence_retain_then_all_schemas_then_registry_then_builtin() -> None:
    registry = (RegistryEntry("mxcp.endpoints", 2, 30), RegistryEntry("app", 1, 5))
    assert Retention(registry=registry).to_core().policy("mxcp.endpoints", 2) == ("days", 30)
    assert Retention().to_core().policy("mxcp.endpoints", 2) == ("days", 90)
    assert Retention(all_schemas=7, registry=registry).to_core().policy("app", 1) == ("days", 7)
    assert Retention(all_schemas=FOREVER, registry=registry).to_core().policy("app", 1) == ("forever", None)
    rules = Retention(schemas={"app": FOREVER}, all_schemas=7, registry=registry).to_core()
    assert rules.policy("app", 1) == ("forever", None)
    assert rules.policy("mxcp.endpoints", 2) == ("days", 7)


def test_now_helpers_agree_with_datetime_arithmetic() -> None:
    later = datetime(2026, 11, 27, tzinfo=timezone.utc) + timedelta(days=1, microseconds=7)
    assert parse_now("2026-11-28T00:00:00.000007Z") == ns(later)


def test_an_empty_schema_name_in_the_settings_file_is_refused(tmp_path: Path) -> None:
    settings = tmp_path / "mxcp-compact.toml"
    settings.write_text('[retention]\nschemas = { "" = 5 }\n')
    with pytest.raises(ConfigError, match=r"retention.schemas: an empty schema name matches no record"):
        load_tool_config(settings)


def test_a_missing_archive_directory_names_the_settings_file(tmp_path: Path) -> None:
    settings = tmp_path / "mxcp-compact.toml"
    settings.write_text('[archive]\ndirectory = "gone"\nretention_days = 30\n')
    (tmp_path / "logs.jsonl").write_text("")
    with pytest.raises(
        ConfigError, match=rf"^{re.escape(str(settings))}: .*gone: the \[archive\] directory does not exist"
    ):
        resolve_run(
            profile=None,
            paths=[tmp_path / "logs.jsonl"],
            retention_days=None,
            retain=[],
            now=None,
            config_file=settings,
            cwd=tmp_path,
            env={},
        )
