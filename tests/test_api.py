"""The Python API: mxcp_compact.compact(path, *, retention, now, dry_run) -> Result."""

from __future__ import annotations

import ast
import inspect
import os
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import MappingProxyType

import pytest

import mxcp_compact
from conftest import FIXTURE_NOW, PROFILE_FILES, iso, record, registry_line, write_log
from mxcp_compact import FOREVER, ConfigError, RegistryEntry, Result, Retention, compact

PROD = PROFILE_FILES["production"][0]
MIDNIGHT = datetime(2026, 11, 27, tzinfo=timezone.utc)
MIDNIGHT_NS = (MIDNIGHT - datetime(1970, 1, 1, tzinfo=timezone.utc)).days * 86_400 * 10**9


@pytest.fixture
def prod_log(fixture_project: Path) -> Path:
    return fixture_project / PROD


@pytest.fixture
def boundary_log(tmp_path: Path) -> Path:
    """One record exactly 91 days before 2026-11-27T00:00Z (deleted) and one a nanosecond younger
    (90 days 23:59:59.999999999: kept)."""
    log = tmp_path / "boundary.jsonl"
    write_log(
        log,
        [
            record("mxcp.endpoints", 2, "2026-08-28T00:00:00Z"),
            record("mxcp.endpoints", 2, "2026-08-28T00:00:00.000000001Z"),
        ],
    )
    return log


def test_compact_returns_the_counts_and_rewrites_the_file(prod_log: Path) -> None:
    size = prod_log.stat().st_size
    result = compact(prod_log, retention={"mxcp.endpoints": 90}, now=FIXTURE_NOW)
    assert isinstance(result, Result)
    assert result.action == "rewritten"
    assert (result.lines, result.deleted, result.lines_kept) == (120, 92, 28)
    assert result.deleted_per_schema == {"mxcp.endpoints:2": 92}
    assert result.bytes_before == size
    assert result.bytes_after == prod_log.stat().st_size
    assert result.deleted_bytes == result.bytes_before - result.bytes_after > 0
    assert result.lines_unevaluated == 0
    assert len(prod_log.read_bytes().splitlines()) == 28


def test_dry_run_returns_the_same_counts_and_changes_nothing(prod_log: Path) -> None:
    before = (prod_log.read_bytes(), prod_log.stat().st_ino)
    dry = compact(prod_log, retention={"mxcp.endpoints": 90}, now=FIXTURE_NOW, dry_run=True)
    assert (prod_log.read_bytes(), prod_log.stat().st_ino) == before
    assert dry.action == "dry_run"
    real = compact(prod_log, retention={"mxcp.endpoints": 90}, now=FIXTURE_NOW)
    assert (dry.lines, dry.deleted, dry.bytes_after) == (
        real.lines,
        real.deleted,
        real.bytes_after,
    )
    assert dry.deleted_per_schema == real.deleted_per_schema


def test_nothing_to_delete_leaves_the_file_unchanged(prod_log: Path) -> None:
    before = prod_log.stat()
    result = compact(prod_log, retention={"mxcp.endpoints": FOREVER}, now=FIXTURE_NOW)
    assert (result.action, result.deleted) == ("unchanged", 0)
    after = prod_log.stat()
    assert (after.st_ino, after.st_mtime_ns, after.st_size) == (
        before.st_ino,
        before.st_mtime_ns,
        before.st_size,
    )


@pytest.mark.parametrize(
    "now",
    [
        "2026-11-27T00:00:00Z",
        "2026-11-27",
        MIDNIGHT,
        datetime(2026, 11, 27),  # naive: UTC
        datetime(2026, 11, 27, 2, tzinfo=timezone(timedelta(hours=2))),
        MIDNIGHT_NS,
    ],
    ids=["iso_string", "date_string", "aware_datetime", "naive_datetime", "offset_datetime", "nanoseconds"],
)
def test_now_may_be_a_datetime_a_string_or_nanoseconds(boundary_log: Path, now: object) -> None:
    result = compact(boundary_log, retention={}, now=now, dry_run=True)
    assert result.deleted == 1


def test_now_with_an_offset_is_that_instant_not_utc_wall_time(boundary_log: Path) -> None:
    east = datetime(2026, 11, 27, tzinfo=timezone(timedelta(hours=2)))  # 2026-11-26T22:00Z
    assert compact(boundary_log, retention={}, now=east, dry_run=True).deleted == 0


def test_retention_rule_is_exact_to_the_nanosecond(boundary_log: Path) -> None:
    one_ns_later = MIDNIGHT_NS + 1
    assert compact(boundary_log, retention={}, now=one_ns_later, dry_run=True).deleted == 2
    one_ns_earlier = MIDNIGHT_NS - 1
    assert compact(boundary_log, retention={}, now=one_ns_earlier, dry_run=True).deleted == 0


def test_now_defaults_to_the_current_time(tmp_path: Path) -> None:
    log = tmp_path / "a.jsonl"
    now = datetime.now(timezone.utc)
    old, young = (
        record("mxcp.endpoints", 2, iso(now - timedelta(days=120))),
        record("mxcp.endpoints", 2, iso(now - timedelta(days=30))),
    )
    write_log(log, [old, young])
    result = compact(log)
    assert result.deleted == 1
    assert log.read_text(encoding="utf-8") == young


def test_now_of_the_wrong_type_is_a_type_error(boundary_log: Path) -> None:
    with pytest.raises(TypeError):
        compact(boundary_log, now=True, dry_run=True)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        compact(boundary_log, now=1.5, dry_run=True)  # type: ignore[arg-type]


def test_unparseable_now_string_is_a_config_error(boundary_log: Path) -> None:
    with pytest.raises(ConfigError):
        compact(boundary_log, now="next tuesday", dry_run=True)


# --- retention -------------------------------------------------------------------------------------------


@pytest.fixture
def app_log(tmp_path: Path) -> Path:
    """app.events records 11 and 9 days old, with a registry beside giving app.events:1 ten days."""
    log = tmp_path / "app.jsonl"
    write_log(
        log,
        [
            record("app.events", 1, iso(MIDNIGHT - timedelta(days=11))),
            record("app.events", 1, iso(MIDNIGHT - timedelta(days=9))),
        ],
    )
    write_log(tmp_path / "app_schemas.jsonl", [registry_line("app.events", 1, 10)])
    return log


def test_compact_uses_the_registry_beside_the_file(app_log: Path) -> None:
    result = compact(app_log, now=MIDNIGHT)
    assert result.deleted_per_schema == {"app.events:1": 1}
    (schema,) = result.schemas
    assert (schema.schema_name, schema.schema_version, schema.policy, schema.retention_days) == (
        "app.events",
        "1",
        "days",
        10,
    )
    assert (schema.deleted, schema.kept) == (1, 1)


def test_without_a_registry_a_schema_has_no_policy_and_is_kept(app_log: Path) -> None:
    (app_log.parent / "app_schemas.jsonl").unlink()
    result = compact(app_log, now=MIDNIGHT)
    assert result.deleted == 0
    assert [s.policy for s in result.schemas] == ["none"]


def test_registry_beside_a_segment_is_the_one_of_its_stem(app_log: Path) -> None:
    segment = app_log.with_name("app-20260101T000000.jsonl")
    app_log.rename(segment)
    assert compact(segment, now=MIDNIGHT).deleted_per_schema == {"app.events:1": 1}


@pytest.mark.parametrize(
    "retention",
    [{"app.events": 30}, MappingProxyType({"app.events": 30}), Retention(schemas={"app.events": 30})],
    ids=["dict", "mapping_proxy", "retention"],
)
def test_retention_mapping_wins_over_the_registry(app_log: Path, retention: object) -> None:
    assert compact(app_log, retention=retention, now=MIDNIGHT).deleted == 0  # type: ignore[arg-type]


def test_retention_mapping_accepts_forever(app_log: Path) -> None:
    result = compact(app_log, retention={"app.events": FOREVER}, now=MIDNIGHT)
    assert result.deleted == 0
    assert [s.policy for s in result.schemas] == ["forever"]


def test_retention_all_schemas_overrides_the_registry(app_log: Path) -> None:
    assert compact(app_log, retention=Retention(all_schemas=5), now=MIDNIGHT).deleted == 2


def test_retention_with_registry_entries_replaces_the_registry_beside_the_file(app_log: Path) -> None:
    retention = Retention(registry=(RegistryEntry("app.events", 1, 100),))
    assert compact(app_log, retention=retention, now=MIDNIGHT).deleted == 0


@pytest.mark.parametrize(
    "retention",
    [
        {"app.events": -1},
        {"app.events": "7"},
        {"app.events": 1.5},
        {"app.events": 2**32},
        Retention(all_schemas=-1),
    ],
)
def test_invalid_retention_raises_config_error_a_value_error_and_touches_nothing(
    app_log: Path, retention: object
) -> None:
    before = app_log.read_bytes()
    with pytest.raises(ConfigError) as raised:
        compact(app_log, retention=retention, now=MIDNIGHT)  # type: ignore[arg-type]
    assert isinstance(raised.value, ValueError)
    assert app_log.read_bytes() == before


def test_zero_days_deletes_records_a_whole_day_old_and_keeps_younger_and_future_ones(tmp_path: Path) -> None:
    log = tmp_path / "a.jsonl"
    lines = [
        record("app", 1, iso(MIDNIGHT - timedelta(days=1))),  # deleted: (now - ts).days == 1 > 0
        record("app", 1, iso(MIDNIGHT - timedelta(hours=23, minutes=59))),
        record("app", 1, iso(MIDNIGHT)),
        record("app", 1, iso(MIDNIGHT + timedelta(days=400))),
    ]
    write_log(log, lines)
    result = compact(log, retention={"app": 0}, now=MIDNIGHT)
    assert result.deleted == 1
    assert log.read_text(encoding="utf-8") == "".join(lines[1:])


def test_schema_version_is_reported_as_written_and_1_when_absent(tmp_path: Path) -> None:
    log = tmp_path / "a.jsonl"
    write_log(
        log,
        [
            record("mxcp.endpoints", None, "2020-01-01T00:00:00Z"),
            record("mxcp.endpoints", 2, "2020-01-01T00:00:00Z"),
        ],
    )
    result = compact(log, now=MIDNIGHT, dry_run=True)
    assert result.deleted_per_schema == {"mxcp.endpoints:1": 1, "mxcp.endpoints:2": 1}


# --- what is kept ------------------------------------------------------------------------------------------


def test_lines_that_cannot_be_evaluated_are_kept_byte_for_byte_and_counted(tmp_path: Path) -> None:
    log = tmp_path / "a.jsonl"
    old = "2020-01-01T00:00:00Z"
    kept = [
        # broken JSON
        '{"schema_name": "mxcp.endpoints", "timestamp": "2020-01-01T00:00:00Z"\n',
        # a timestamp only inside input_data
        '{"schema_name": "mxcp.endpoints", "input_data": {"timestamp": "2020-01-01T00:00:00Z"}}\n',
        # a duplicated top-level key
        '{"schema_name": "mxcp.endpoints", "timestamp": "2020-01-01", "timestamp": "2020-01-01"}\n',
        # an impossible date
        '{"schema_name": "mxcp.endpoints", "timestamp": "2020-02-30T00:00:00Z"}\n',
        # a blank line
        "\n",
    ]
    partial = record("mxcp.endpoints", 2, old).rstrip("\n")  # maybe still being written
    lines = [record("mxcp.endpoints", 2, old), *kept, record("mxcp.endpoints", 2, old), partial]
    write_log(log, lines)
    result = compact(log, now=MIDNIGHT)
    assert result.deleted == 2
    assert result.lines_unevaluated == 5  # broken, nested-only, duplicate, bad date, partial last line
    assert sum(result.unevaluable.values()) == 5
    assert log.read_text(encoding="utf-8") == "".join(kept) + partial


def test_emptied_file_is_kept_empty_unless_remove_if_empty(tmp_path: Path) -> None:
    base, segment = tmp_path / "logs-x.jsonl", tmp_path / "logs-x-20260101T000000.jsonl"
    for log in (base, segment):
        write_log(log, [record("mxcp.endpoints", 2, "2020-01-01T00:00:00Z")])
    assert compact(base, now=MIDNIGHT).action == "rewritten"
    assert base.read_bytes() == b""
    assert compact(segment, now=MIDNIGHT, remove_if_empty=True).action == "removed"
    assert not segment.exists()


def test_compact_accepts_a_string_path(boundary_log: Path) -> None:
    result = compact(str(boundary_log), now=FIXTURE_NOW, dry_run=True)
    assert result.path == boundary_log


def test_file_mode_is_preserved(prod_log: Path) -> None:
    prod_log.chmod(0o620)
    compact(prod_log, now=FIXTURE_NOW)
    assert prod_log.stat().st_mode & 0o7777 == 0o620


# --- errors -----------------------------------------------------------------------------------------------


def test_missing_file_raises_file_not_found_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "missing.jsonl"
    with pytest.raises(FileNotFoundError) as raised:
        compact(missing, now=MIDNIGHT)
    assert "missing.jsonl" in str(raised.value)
    assert not missing.exists()


@pytest.mark.parametrize("dry_run", [False, True], ids=["real_run", "dry_run"])
def test_directory_raises_value_error(tmp_path: Path, dry_run: bool) -> None:
    directory = tmp_path / "dir.jsonl"
    directory.mkdir()
    with pytest.raises(ValueError, match=r"dir\.jsonl"):
        compact(directory, now=MIDNIGHT, dry_run=dry_run)


def test_an_in_place_pass_that_cannot_start_says_the_log_is_unchanged(tmp_path: Path) -> None:
    log = tmp_path / "a.jsonl"
    with pytest.raises(FileNotFoundError, match=r"a\.jsonl") as raised:
        compact(log, now=MIDNIGHT, in_place=True)
    assert raised.value.log_unchanged is True  # type: ignore[attr-defined]
    # A copy-and-rename pass never changes its log before the swap: its errors need no such word.
    with pytest.raises(FileNotFoundError) as copied:
        compact(log, now=MIDNIGHT)
    assert not hasattr(copied.value, "log_unchanged")


def test_hard_linked_file_raises_value_error_and_is_left_untouched(tmp_path: Path) -> None:
    log = tmp_path / "a.jsonl"
    data = write_log(log, [record("mxcp.endpoints", 2, "2020-01-01T00:00:00Z")])
    os.link(log, tmp_path / "other-name")
    with pytest.raises(ValueError, match="hard link"):
        compact(log, now=MIDNIGHT)
    assert log.read_bytes() == data
    assert log.stat().st_nlink == 2
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")) == [
        "a.jsonl",
        "other-name",
    ]


def test_package_is_typed() -> None:
    package = Path(mxcp_compact.__file__).parent
    assert (package / "py.typed").is_file()
    assert (package / "_core.pyi").is_file()


# --- the README's Python API section ---------------------------------------------------------------------

README = Path(__file__).resolve().parents[1] / "README.md"


def _readme_python_api() -> tuple[str, str]:
    """The README's Python API section: its example (the first python code block) and the text
    after the block."""
    section = README.read_text(encoding="utf-8").split("\n## Python API\n", 1)[1].split("\n## ", 1)[0]
    example, prose = section.split("```python\n", 1)[1].split("\n```\n", 1)
    return example, prose


def test_readme_python_api_example_uses_only_attributes_a_real_result_has(prod_log: Path) -> None:
    example, prose = _readme_python_api()
    tree = ast.parse(example)
    results = {  # the names the example binds to a compact(...) call: `result = compact(...)`
        target.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)
        if isinstance(node.value.func, ast.Name) and node.value.func.id == "compact"
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    assert results == {"result"}, "the example no longer binds compact(...)'s result"
    used = {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in results
    }
    # And the attributes the text names: "The `Result` ... has ... (`action`, `lines`, ...) and ...".
    sentence = prose.split("The `Result`", 1)[1].split(". ", 1)[0]
    named = set(re.findall(r"`([a-z_]+)`", sentence))
    assert {"deleted", "bytes_before", "bytes_after"} <= used and {"lines", "deleted_per_schema"} <= named
    result = compact(prod_log, retention={"mxcp.endpoints": 90}, now=FIXTURE_NOW, dry_run=True)
    missing = sorted(name for name in used | named if not hasattr(result, name))
    assert missing == [], f"the README's Python API names attributes a Result does not have: {missing}"


def test_readme_python_api_signature_names_the_parameters_of_compact() -> None:
    _, prose = _readme_python_api()
    signature = prose.split("`compact(", 1)[1].split(") -> Result`", 1)[0]
    documented = [part.split("=")[0].strip() for part in signature.split(",") if part.strip() != "*"]
    assert documented == list(inspect.signature(compact).parameters)


def test_now_as_an_int_is_nanoseconds_since_the_epoch(boundary_log: Path) -> None:
    # The README: `now` as an int is nanoseconds since the Unix epoch. At midnight the first record
    # is 91 days old (deleted) and the second a nanosecond younger (kept).
    result = compact(boundary_log, retention={"mxcp.endpoints": 90}, now=MIDNIGHT_NS, dry_run=True)
    assert (result.lines, result.deleted) == (2, 1)
    assert compact(boundary_log, retention={"mxcp.endpoints": 90}, now=MIDNIGHT_NS - 1, dry_run=True).deleted == 0


@pytest.mark.parametrize("threads", [-1, -(2**70)])
def test_negative_threads_is_a_value_error_naming_the_parameter_and_touches_nothing(
    prod_log: Path, threads: int
) -> None:
    before = prod_log.read_bytes()
    with pytest.raises(ValueError, match=r"^threads must be 0 \(one per core\) or a positive number") as raised:
        compact(prod_log, retention={"mxcp.endpoints": 90}, now=FIXTURE_NOW, threads=threads)
    assert not isinstance(raised.value, OverflowError)
    assert str(threads) in str(raised.value)
    assert prod_log.read_bytes() == before


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"threads": "2"}, TypeError, r"^threads must be an int, not str$"),
        ({"threads": True}, TypeError, r"^threads must be an int, not bool$"),
        ({"lock_wait": True}, TypeError, r"^lock_wait must be a number of seconds, not bool$"),
        ({"lock_wait": 1e300}, ValueError, r"^lock_wait must be from 0 to 31536000 seconds \(a year\)"),
        ({"lock_wait": float("nan")}, ValueError, r"^lock_wait must be from 0"),
        ({"retention": 90}, TypeError, r"^retention must be a Retention or a mapping of schema name to days, not int$"),
        ({"retention": "90"}, TypeError, r"^retention must be a Retention or a mapping .*, not str$"),
    ],
)
def test_a_misused_argument_is_an_error_naming_the_parameter_and_touches_nothing(
    prod_log: Path, arguments: dict[str, object], error: type[Exception], message: str
) -> None:
    before = prod_log.read_bytes()
    with pytest.raises(error, match=message):
        compact(prod_log, now=FIXTURE_NOW, **arguments)  # type: ignore[arg-type]
    assert prod_log.read_bytes() == before


def test_an_empty_path_names_no_file() -> None:
    with pytest.raises(ValueError, match=r"^path '' names no file$"):
        compact("", now=FIXTURE_NOW)
