"""`mxcp-compact erase --where FIELD=VALUE`, run as the real command, on copies of the MXCP fixture
and small logs. What is erased is checked against an independent reading of the rule (below),
byte for byte in every file."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from conftest import (
    FIXTURE_DIR,
    FIXTURE_NOW_DT,
    PROFILE_FILES,
    CliResult,
    content_snapshot,
    fixture_lines,
    iso,
    record,
    run_subprocess,
    snapshot,
    write_log,
)

#: A condition as passed to --where, what the reference compares each record's field with, and how
#: the report states it.
Condition = tuple[str, str, Any]
ALICE: Condition = ("user_id=alice", "user_id", "alice")
ZOE: Condition = ("user_id=Zoë", "user_id", "Zoë")
NO_USER: Condition = ("user_id=null", "user_id", None)
SEARCH: Condition = ("operation_name=search_docs", "operation_name", "search_docs")
HTTP: Condition = ("caller_type=http", "caller_type", "http")
#: Every profile file of the fixture, and the files of the default profile, which erase works on.
ALL_FILES = sorted({relative for files in PROFILE_FILES.values() for relative in files})
DEFAULT_FILES = PROFILE_FILES["default"]


# --- an independent reference of the erasure rule --------------------------------------------------------


class _Members(list[tuple[str, Any]]):
    """A JSON object's (key, value) pairs in order, duplicates kept."""


def erased(line: bytes, conditions: list[Condition]) -> bool:
    """Whether erase deletes `line`: a complete, valid record (an object with `schema_name` and
    `timestamp` once each as strings, an integer `schema_version` if any) whose top-level field
    of every condition occurs once and equals the wanted value, of the same JSON type."""
    if not line.endswith(b"\n"):
        return False
    try:
        document = json.loads(line, object_pairs_hook=_Members)
    except ValueError:
        return False
    if not isinstance(document, _Members):
        return False
    counts = Counter(key for key, _ in document)
    values = dict(document)
    if counts["schema_name"] != 1 or counts["timestamp"] != 1 or counts["schema_version"] > 1:
        return False
    if not (isinstance(values["schema_name"], str) and isinstance(values["timestamp"], str)):
        return False
    if "schema_version" in values and type(values["schema_version"]) is not int:
        return False
    return all(
        counts[field] == 1 and type(values[field]) is type(wanted) and values[field] == wanted
        for _, field, wanted in conditions
    )


def schema_key(line: bytes) -> str:
    document = json.loads(line)
    return f"{document['schema_name']}:{document.get('schema_version', 1)}"


def expected_per_schema(conditions: list[Condition], files: tuple[str, ...] = DEFAULT_FILES) -> dict[str, int]:
    counts = Counter(
        schema_key(line) for relative in files for line in fixture_lines(relative) if erased(line, conditions)
    )
    return dict(sorted(counts.items()))


def assert_only_selected_lines_are_gone(project: Path, conditions: list[Condition]) -> None:
    """Every file of the default profile holds exactly its lines the reference does not erase, in
    order; every other file of the project is as in the fixture."""
    for relative in ALL_FILES:
        lines = fixture_lines(relative)
        kept = [line for line in lines if not erased(line, conditions)] if relative in DEFAULT_FILES else lines
        assert (project / relative).read_bytes() == b"".join(kept), relative
    for registry in ("audit/logs-default_schemas.jsonl", "audit/prod/logs-production_schemas.jsonl"):
        assert (project / registry).read_bytes() == (FIXTURE_DIR / registry).read_bytes(), registry


def erase(project: Path, *args: str | Path) -> CliResult:
    return run_subprocess(["erase", *args], cwd=project)


def where_args(conditions: list[Condition]) -> list[str]:
    return [part for given, _, _ in conditions for part in ("--where", given)]


def _timestamp(line: bytes) -> datetime:
    return datetime.fromisoformat(json.loads(line)["timestamp"].replace("Z", "+00:00"))


def real_run_text(shown: str, per_schema: dict[str, int]) -> str:
    lines = [f"Erasing records where {shown}...", "", "Erased records by schema:"]
    lines += [f"  {key}: {count} records" for key, count in per_schema.items()]
    return "\n".join([*lines, "", f"Total records erased: {sum(per_schema.values())}", ""])


# --- what is erased ------------------------------------------------------------------------------------


def test_the_reference_selects_records_of_every_age_and_leaves_others_in_every_file() -> None:
    # Otherwise the tests below could pass with a retention run, or with an erasure of everything.
    for condition in (ALICE, ZOE, NO_USER, SEARCH, HTTP):
        lines = [line for relative in DEFAULT_FILES for line in fixture_lines(relative)]
        chosen = [line for line in lines if erased(line, [condition])]
        assert 0 < len(chosen) < len(lines), condition
        ages = {FIXTURE_NOW_DT - _timestamp(line) > timedelta(days=91) for line in chosen}
        assert ages == {True, False}, condition


@pytest.mark.parametrize(
    ("condition", "shown"),
    [
        (ALICE, 'user_id = "alice"'),
        (ZOE, 'user_id = "Zoë"'),
        (NO_USER, "user_id = null"),
        (SEARCH, 'operation_name = "search_docs"'),
    ],
    ids=["text", "non_ascii_text", "null", "operation_name"],
)
def test_erase_removes_exactly_the_selected_records_and_keeps_every_other_byte(
    fixture_project: Path, condition: Condition, shown: str
) -> None:
    result = erase(fixture_project, *where_args([condition]))
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout == real_run_text(shown, expected_per_schema([condition]))
    assert_only_selected_lines_are_gone(fixture_project, [condition])


def test_a_second_erasure_with_the_same_condition_finds_nothing_and_rewrites_nothing(fixture_project: Path) -> None:
    assert erase(fixture_project, "--where", "user_id=alice").exit_code == 0
    before = snapshot(fixture_project)
    result = erase(fixture_project, "--where", "user_id=alice")
    nothing = 'Erasing records where user_id = "alice"...\n\nNo records were erased.\n'
    assert (result.exit_code, result.stdout) == (0, nothing)
    assert snapshot(fixture_project) == before


def test_every_condition_must_hold(fixture_project: Path) -> None:
    both = [ALICE, HTTP]
    per_schema = expected_per_schema(both)
    assert 0 < sum(per_schema.values()) < min(sum(expected_per_schema([c]).values()) for c in both)
    result = erase(fixture_project, *where_args(both))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == real_run_text('user_id = "alice" and caller_type = "http"', per_schema)
    assert_only_selected_lines_are_gone(fixture_project, both)


def test_profile_selects_the_files_and_leaves_the_other_profiles_alone(fixture_project: Path) -> None:
    result = erase(fixture_project, "--profile", "production", "--where", "user_id=alice", "--json")
    assert result.exit_code == 0, result.stderr
    production = PROFILE_FILES["production"]
    assert result.json()["erased_per_schema"] == expected_per_schema([ALICE], production)
    for relative in ALL_FILES:
        lines = fixture_lines(relative)
        kept = [line for line in lines if not erased(line, [ALICE])] if relative in production else lines
        assert (fixture_project / relative).read_bytes() == b"".join(kept), relative


def test_path_dir_erases_in_a_log_with_a_nul_filled_head_and_keeps_the_nul_line(fixture_project: Path) -> None:
    nul_head = b"\0" * 300 + b"\n"  # what a power loss can leave at a log's head on ext4/XFS
    base = fixture_project / "audit" / "logs-default.jsonl"
    base.write_bytes(nul_head + base.read_bytes())
    result = erase(fixture_project, "--path", "audit", "--where", "user_id=alice", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["erased_per_schema"] == expected_per_schema([ALICE])
    for relative in DEFAULT_FILES:
        kept = b"".join(line for line in fixture_lines(relative) if not erased(line, [ALICE]))
        head = nul_head if relative == "audit/logs-default.jsonl" else b""
        assert (fixture_project / relative).read_bytes() == head + kept, relative


@pytest.mark.parametrize("options", [["--in-place"], ["--scrub"], ["--in-place", "--scrub"]], ids=" ".join)
def test_in_place_and_scrubbed_erasures_leave_the_same_lines(fixture_project: Path, options: list[str]) -> None:
    inodes = {relative: (fixture_project / relative).stat().st_ino for relative in DEFAULT_FILES}
    result = erase(fixture_project, "--where", "user_id=alice", *options)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == real_run_text('user_id = "alice"', expected_per_schema([ALICE]))
    assert_only_selected_lines_are_gone(fixture_project, [ALICE])
    if "--in-place" in options:
        assert {relative: (fixture_project / relative).stat().st_ino for relative in DEFAULT_FILES} == inodes


# --- dry run and outputs -------------------------------------------------------------------------------


def test_dry_run_reports_the_counts_of_the_real_run_and_changes_nothing(fixture_project: Path) -> None:
    before = snapshot(fixture_project)
    per_schema = expected_per_schema([ZOE])
    dry = erase(fixture_project, "--where", "user_id=Zoë", "--dry-run")
    assert (dry.exit_code, dry.stderr) == (0, "")
    lines = ['DRY RUN: Analyzing what would be erased where user_id = "Zoë"...', ""]
    lines += [f"  {key}: {count} records" for key, count in per_schema.items()]
    lines += ["", f"Total records that would be erased: {sum(per_schema.values())}", ""]
    assert dry.stdout == "\n".join([*lines, "Run without --dry-run to actually erase these records.", ""])
    dry_json = erase(fixture_project, "--where", "user_id=Zoë", "--dry-run", "--json").json()
    assert snapshot(fixture_project) == before
    real_json = erase(fixture_project, "--where", "user_id=Zoë", "--json").json()
    assert dry_json["erased_per_schema"] == real_json["erased_per_schema"] == per_schema
    counts = [{f["path"]: (f["lines"], f["erased"]) for f in document["files"]} for document in (dry_json, real_json)]
    assert counts[0] == counts[1]
    assert dry_json["bytes_after"] == real_json["bytes_after"]


@pytest.mark.parametrize("dry_run", [False, True], ids=["real_run", "dry_run"])
def test_json_says_erased_with_the_conditions_and_log_cleanups_other_keys(fixture_project: Path, dry_run: bool) -> None:
    args = ["--where", "user_id=null", "--where", "caller_type=http", "--json", *(["--dry-run"] if dry_run else [])]
    result = erase(fixture_project, *args)
    assert (result.exit_code, result.stderr) == (0, "")
    document = result.json()
    per_schema = expected_per_schema([NO_USER, HTTP])
    total = sum(per_schema.values())
    assert list(document)[:4] == ["status", "message", "erased_per_schema", "where"]
    assert document["status"] == ("dry_run" if dry_run else "success")
    assert document["message"] == (f"Would erase {total} records" if dry_run else f"Erased {total} records")
    assert document["erased_per_schema"] == per_schema
    assert document["where"] == ["user_id=null", "caller_type=http"]
    for key in ("profile", "dry_run", "files", "bytes_before", "bytes_after", "bytes_freed", "unevaluable"):
        assert key in document, key
    assert (document["notes"], document["errors"], document["lines_kept_unevaluated"]) == ([], [], 0)
    assert "deleted_per_schema" not in document
    assert sum(f["erased"] for f in document["files"]) == total
    assert all("deleted" not in f and "deleted_per_schema" not in f for f in document["files"])


# --- values: JSON literals, quoted strings, text ----------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "field", "wanted", "shown"),
    [
        ("duration_ms=42", "duration_ms", 42, "duration_ms = 42"),
        ('duration_ms="42"', "duration_ms", "42", 'duration_ms = "42"'),
        ("flag=null", "flag", None, "flag = null"),
        ('flag="null"', "flag", "null", 'flag = "null"'),
        ("flag=true", "flag", True, "flag = true"),
        ('note="a \\"quoted\\" word"', "note", 'a "quoted" word', 'note = "a \\"quoted\\" word"'),
        ("note=x=y", "note", "x=y", 'note = "x=y"'),
    ],
    ids=["integer", "quoted_digits", "null", "quoted_null", "true", "escaped_quotes", "equals_in_value"],
)
def test_a_value_is_a_json_literal_a_quoted_string_or_text(
    tmp_path: Path, given: str, field: str, wanted: Any, shown: str
) -> None:
    now = iso(FIXTURE_NOW_DT)
    values: list[Any] = [42, "42", None, "null", True, "true", 'a "quoted" word', "x=y", 42.0, [42], {"v": 42}]
    lines = [record("app.events", 1, now, record_id=f"r{i}", **{field: value}) for i, value in enumerate(values)]
    lines.append(record("app.events", 1, now, record_id="nested", input_data={field: wanted}))
    log = tmp_path / "app.jsonl"
    write_log(log, lines)
    result = erase(tmp_path, "--path", log, "--where", given)
    assert result.exit_code == 0, result.stderr
    condition = [(given, field, wanted)]
    kept = [line.encode() for line in lines if not erased(line.encode(), condition)]
    assert len(kept) == len(lines) - 1
    assert log.read_bytes() == b"".join(kept)
    assert result.stdout == real_run_text(shown, {"app.events:1": 1})


def test_only_complete_valid_records_are_erased_and_the_others_are_counted(tmp_path: Path) -> None:
    now = iso(FIXTURE_NOW_DT)
    gone = record("mxcp.endpoints", 2, now, user_id="zoe")
    lines = [
        gone,
        record("mxcp.endpoints", 2, now, user_id="zoe", record_id="twice")[:-2] + ', "user_id": "zoe"}\n',
        '{"user_id": "zoe", "timestamp": "' + now + '"}\n',  # no schema_name: not a record
        '{"schema_name": "mxcp.endpoints", "timestamp": "' + now + '", "user_id": "zoe", }\n',  # broken JSON
        record("mxcp.endpoints", "2", now, user_id="zoe"),  # a string version
        record("mxcp.endpoints", 2, now, user_id="zoë"),
        record("mxcp.endpoints", 2, now, user_id="zoe")[:-1],  # a partial last line
    ]
    log = tmp_path / "logs.jsonl"
    write_log(log, lines)
    result = erase(tmp_path, "--path", log, "--where", "user_id=zoe", "--json")
    assert result.exit_code == 0, result.stderr
    document = result.json()
    assert document["erased_per_schema"] == {"mxcp.endpoints:2": 1}
    assert log.read_bytes() == "".join(line for line in lines if line != gone).encode()
    assert [erased(line.encode(), [("", "user_id", "zoe")]) for line in lines] == [True] + [False] * 6
    assert document["unevaluable"] == {
        "bad_schema_version": 1,
        "duplicate_key": 1,
        "incomplete_last_line": 1,
        "invalid_json": 1,
        "missing_key": 1,
    }
    assert "could not be evaluated" in erase(tmp_path, "--path", log, "--where", "user_id=zoe").stderr


# --- bad conditions ------------------------------------------------------------------------------------

BAD_CONDITIONS = [
    ("no_equals", ["--where", "user_id"], "--where user_id: expected FIELD=VALUE"),
    ("empty_field", ["--where", "=alice"], "the field name is empty"),
    ("no_where", [], "at least one --where FIELD=VALUE is needed"),
    ("unterminated_string", ["--where", 'user_id="alice'], "the value is not a valid JSON string"),
    ("raw_quote_in_string", ["--where", 'user_id="al"ice"'], "the value is not a valid JSON string"),
    ("bad_escape", ["--where", 'user_id="al\\qice"'], "the value is not a valid JSON string"),
    ("second_condition_bad", ["--where", "user_id=alice", "--where", "caller_type"], "--where caller_type:"),
    # Two values for one member can never both hold: it used to erase nothing, exit 0.
    ("field_twice", ["--where", "user_id=zoe", "--where", 'user_id="zoe"'], "the field user_id is given twice"),
    # No valid JSON strings, once read leniently as the text a\"b and a text holding a tab.
    ("escaped_backslash_then_raw_quote", ["--where", 'user_id="a\\\\"b"'], "the value is not a valid JSON string"),
    ("raw_tab_in_string", ["--where", 'user_id="a\tb"'], "the value is not a valid JSON string"),
    # Valid JSON (Python's json reads it), but no text: refused saying why, not as invalid.
    ("lone_high_surrogate", ["--where", 'user_id="\\ud800"'], '"\\ud800": \\ud800 is a lone surrogate'),
    ("lone_low_surrogate", ["--where", 'user_id="a\\uDC00b"'], "\\udc00 is a lone surrogate, valid JSON but not"),
]


@pytest.mark.parametrize(("args", "fragment"), [c[1:] for c in BAD_CONDITIONS], ids=[c[0] for c in BAD_CONDITIONS])
def test_a_bad_condition_is_a_one_line_error_with_exit_2_and_nothing_touched(
    fixture_project: Path, args: list[str], fragment: str
) -> None:
    before = snapshot(fixture_project)
    archive = fixture_project.parent / "erased.jsonl"
    result = erase(fixture_project, *args, "--archive", archive)
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1, result.stderr
    assert fragment in result.stderr
    assert snapshot(fixture_project) == before
    assert not archive.exists()


@pytest.mark.parametrize(("args", "fragment"), [c[1:] for c in BAD_CONDITIONS], ids=[c[0] for c in BAD_CONDITIONS])
def test_a_bad_condition_with_json_is_the_error_document(fixture_project: Path, args: list[str], fragment: str) -> None:
    before = content_snapshot(fixture_project)
    result = erase(fixture_project, *args, "--json")
    assert (result.exit_code, result.stderr) == (2, "")
    document = result.json()
    assert set(document) == {"status", "message"} and document["status"] == "error"
    assert fragment in document["message"]
    assert content_snapshot(fixture_project) == before


def test_a_lone_surrogate_value_is_refused_saying_why_and_its_records_erase_by_another_field(
    tmp_path: Path,
) -> None:
    """`"\\ud800"` in a record is valid JSON, and Python's json reads it, but the core compares
    strings as text after unescaping, and a lone surrogate is no text: no value of --where could
    ever match that member. The value is refused saying so (it used to be "not a valid JSON
    string"); the record is still a valid record, erased by its other fields."""
    now = iso(FIXTURE_NOW_DT)
    lone = (
        '{"schema_name": "mxcp.endpoints", "schema_version": 2, "record_id": "lone", "timestamp": "'
        + now
        + '", "user_id": "\\ud800", "session_id": "s-lone"}\n'
    )
    assert json.loads(lone)["user_id"] == "\ud800"
    pair = lone.replace("\\ud800", "\\ud834\\udd1e").replace('"lone"', '"pair"').replace("s-lone", "s-pair")
    raw = record("mxcp.endpoints", 2, now, record_id="raw", user_id="\U0001d11e", session_id="s-raw")
    other = record("mxcp.endpoints", 2, now, record_id="other", user_id="zoe", session_id="s-lone-not")
    log = tmp_path / "logs.jsonl"
    before = write_log(log, [lone, pair, raw, other])
    refused = erase(tmp_path, "--path", log, "--where", 'user_id="\\ud800"')
    assert (refused.exit_code, refused.stdout) == (2, "")
    assert refused.stderr == (
        'Error: --where user_id="\\ud800": \\ud800 is a lone surrogate, valid JSON but not text; erase compares'
        " values as text, so no record could match it (select such records by another field)\n"
    )
    assert log.read_bytes() == before
    # A surrogate pair is text (U+1D11E), escaped or raw.
    by_pair = erase(tmp_path, "--path", log, "--where", 'user_id="\\ud834\\udd1e"', "--json")
    assert by_pair.exit_code == 0, by_pair.stderr
    assert by_pair.json()["erased_per_schema"] == {"mxcp.endpoints:2": 2}
    assert log.read_text(encoding="utf-8") == lone + other
    by_session = erase(tmp_path, "--path", log, "--where", "session_id=s-lone")
    assert by_session.exit_code == 0, by_session.stderr
    assert log.read_text(encoding="utf-8") == other


# --- archive, audit trail, settings file ---------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz"])
def test_the_archive_receives_exactly_the_erased_lines_in_order(fixture_project: Path, suffix: str) -> None:
    archive = fixture_project.parent / f"erased{suffix}"
    result = erase(fixture_project, "--where", "user_id=Zoë", "--archive", archive, "--json")
    assert result.exit_code == 0, result.stderr
    order = [Path(f["path"]).relative_to(fixture_project).as_posix() for f in result.json()["files"]]
    assert sorted(order) == sorted(DEFAULT_FILES)
    expected = b"".join(line for relative in order for line in fixture_lines(relative) if erased(line, [ZOE]))
    data = archive.read_bytes()
    if suffix == ".jsonl.gz":
        import gzip

        data = gzip.decompress(data)
    assert data == expected
    assert_only_selected_lines_are_gone(fixture_project, [ZOE])


def test_the_audit_trail_records_the_erasure_and_its_conditions(fixture_project: Path) -> None:
    trail = fixture_project.parent / "erasures.jsonl"
    result = erase(fixture_project, "--where", "user_id=alice", "--audit-trail", trail)
    assert result.exit_code == 0, result.stderr
    (line,) = trail.read_text(encoding="utf-8").splitlines()
    entry = json.loads(line)
    assert entry["where"] == ["user_id=alice"]
    assert entry["erased_per_schema"] == expected_per_schema([ALICE])
    assert (entry["status"], entry["message"], entry["dry_run"]) == (
        "success",
        f"Erased {sum(expected_per_schema([ALICE]).values())} records",
        False,
    )


def test_the_settings_files_archive_does_not_receive_erased_records(fixture_project: Path) -> None:
    # It is meant for records past retention; copying the erased ones there would keep them.
    settings_archive = fixture_project.parent / "retention-archive.jsonl"
    (fixture_project / "mxcp-compact.toml").write_text(
        f'[cleanup]\narchive = "{settings_archive}"\noutput_style = "mxcp"\n', encoding="utf-8"
    )
    result = erase(fixture_project, "--where", "user_id=alice")
    assert result.exit_code == 0, result.stderr
    assert not settings_archive.exists()
    # The settings file's output style is MXCP's log-cleanup's, which has no erasure to copy.
    assert result.stdout == real_run_text('user_id = "alice"', expected_per_schema([ALICE]))
    assert_only_selected_lines_are_gone(fixture_project, [ALICE])


def test_archive_with_in_place_is_refused_with_nothing_touched(fixture_project: Path) -> None:
    before = snapshot(fixture_project)
    archive = fixture_project.parent / "erased.jsonl"
    result = erase(fixture_project, "--where", "user_id=alice", "--in-place", "--archive", archive)
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr.startswith("Error: --archive cannot be combined with --in-place")
    assert snapshot(fixture_project) == before
    assert not archive.exists()


# --- help ------------------------------------------------------------------------------------------------


def test_erase_help_explains_the_conditions_and_lists_every_option(tmp_path: Path) -> None:
    result = run_subprocess(["erase", "--help"], cwd=tmp_path, env={"COLUMNS": "100"})
    assert result.exit_code == 0
    for option in (
        "--where FIELD=VALUE",
        "--profile",
        "--path",
        "--dry-run",
        "--json",
        "--archive",
        "--audit-trail",
        "--in-place",
        "--wait",
        "--threads",
        "--now",
        "--config",
        "--scrub",
    ):
        assert option in result.stdout, option
    assert "--where 'duration_ms=\"42\"'" in result.stdout
    assert "mxcp-compact erase --where user_id=zoe --dry-run" in result.stdout
    top = run_subprocess(["--help"], cwd=tmp_path, env={"COLUMNS": "100"})
    assert "erase" in top.stdout


# --- the Python API --------------------------------------------------------------------------------------


def test_the_api_erases_with_the_same_conditions_and_refuses_bad_ones(tmp_path: Path) -> None:
    from mxcp_compact import compact

    now = iso(FIXTURE_NOW_DT)
    lines = [record("mxcp.endpoints", 2, now, user_id=user) for user in ("zoe", "alice", "zoe")]
    log = tmp_path / "logs.jsonl"
    write_log(log, lines)
    with pytest.raises(ValueError, match="the value is not a valid JSON string"):
        compact(log, erase=[("user_id", '"zoe')])
    assert compact(log, erase=[("user_id", "zoe")], dry_run=True).deleted_per_schema == {"mxcp.endpoints:2": 2}
    result = compact(log, erase=[("user_id", "zoe")])
    assert (result.deleted, log.read_text(encoding="utf-8")) == (2, lines[1])
