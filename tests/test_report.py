"""render_text / render_json on hand-built run summaries: the seed guide's formats, exactly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mxcp_compact.api import Result, SchemaCount
from mxcp_compact.report import FileOutcome, RunSummary, error_json, render_json, render_text, short_reason

# (schema_name, schema_version, retention_days or None for forever, deleted, kept)
Schema = tuple[str, str, "int | None", int, int]


def make_result(
    name: str = "logs-default.jsonl",
    schemas: tuple[Schema, ...] = (),
    *,
    action: str | None = None,
    dry_run: bool = False,
    unevaluable: dict[str, int] | None = None,
    line_bytes: int = 100,
) -> Result:
    counts = tuple(
        SchemaCount(
            schema_name=schema_name,
            schema_version=version,
            policy="days" if days is not None else "forever",
            retention_days=days,
            deleted=deleted,
            deleted_bytes=deleted * line_bytes,
            kept=kept,
        )
        for schema_name, version, days, deleted, kept in schemas
    )
    unevaluable = dict(unevaluable or {})
    deleted = sum(c.deleted for c in counts)
    kept = sum(c.kept for c in counts) + sum(unevaluable.values())
    lines = deleted + kept
    if action is None:
        action = "dry_run" if dry_run else ("rewritten" if deleted else "unchanged")
    return Result(
        path=Path("/logs") / name,
        target=Path("/logs") / name,
        action=action,
        lines=lines,
        deleted=deleted,
        bytes_before=lines * line_bytes,
        bytes_after=kept * line_bytes,
        deleted_bytes=deleted * line_bytes,
        retained=sum(c.kept for c in counts),
        unmanaged=0,
        blank=0,
        unevaluable=unevaluable,
        schemas=counts,
        appended_bytes=0,
        stale_temp_removed=False,
    )


def summary(
    *results: Result,
    dry_run: bool = False,
    errors: tuple[tuple[str, str], ...] = (),
    notes: tuple[str, ...] = (),
    skipped_reason: str | None = None,
) -> RunSummary:
    outcomes = [FileOutcome(r.path, result=r) for r in results]
    outcomes += [FileOutcome(Path(path), error=message) for path, message in errors]
    return RunSummary(dry_run, "default", outcomes, 0.25, notes, skipped_reason)


SEED_REAL = (
    "Applying retention policies...\n"
    "\n"
    "Deleted records by schema:\n"
    "  mxcp.endpoints:1: 15234 records\n"
    "\n"
    "Total records deleted: 15234\n"
)
SEED_DRY = (
    "DRY RUN: Analyzing what would be deleted...\n"
    "\n"
    "  mxcp.endpoints (retention: 90 days): 15234 records\n"
    "\n"
    "Total records that would be deleted: 15234\n"
    "\n"
    "Run without --dry-run to actually delete these records.\n"
)


# --- text ----------------------------------------------------------------------------------------------


def test_real_run_text_is_the_seed_guides() -> None:
    result = make_result(schemas=(("mxcp.endpoints", "1", 90, 15234, 10),))
    assert render_text(summary(result)) == (SEED_REAL, [])


def test_dry_run_text_is_the_seed_guides() -> None:
    result = make_result(schemas=(("mxcp.endpoints", "1", 90, 15234, 10),), dry_run=True)
    assert render_text(summary(result, dry_run=True)) == (SEED_DRY, [])


def test_real_run_text_lists_every_schema_key_sorted_and_sums_across_files() -> None:
    first = make_result("a.jsonl", (("mxcp.endpoints", "2", 90, 5, 1), ("app.events", "1", 7, 2, 0)))
    second = make_result("b.jsonl", (("mxcp.endpoints", "2", 90, 3, 0), ("mxcp.endpoints", "1", 90, 4, 0)))
    text, notes = render_text(summary(first, second))
    assert text == (
        "Applying retention policies...\n"
        "\n"
        "Deleted records by schema:\n"
        "  app.events:1: 2 records\n"
        "  mxcp.endpoints:1: 4 records\n"
        "  mxcp.endpoints:2: 8 records\n"
        "\n"
        "Total records deleted: 14\n"
    )
    assert notes == []


def test_schemas_with_nothing_deleted_are_not_listed() -> None:
    result = make_result(schemas=(("mxcp.endpoints", "1", 90, 3, 0), ("mxcp.endpoints", "2", 90, 0, 9)))
    text, _ = render_text(summary(result))
    assert "mxcp.endpoints:2" not in text
    assert "Total records deleted: 3\n" in text


@pytest.mark.parametrize(
    ("dry_run", "expected"),
    [
        (False, "Applying retention policies...\n\nNo records were deleted.\n"),
        (True, "DRY RUN: Analyzing what would be deleted...\n\nNo records would be deleted.\n"),
    ],
    ids=["real_run", "dry_run"],
)
def test_nothing_deleted_text(dry_run: bool, expected: str) -> None:
    kept_only = make_result(schemas=(("mxcp.endpoints", "2", 90, 0, 12),), dry_run=dry_run)
    assert render_text(summary(kept_only, dry_run=dry_run)) == (expected, [])
    assert render_text(summary(dry_run=dry_run)) == (expected, [])


def test_a_failed_file_is_named_after_the_counts_and_its_full_error_goes_to_the_notes() -> None:
    result = make_result(schemas=(("mxcp.endpoints", "1", 90, 15234, 10),))
    failed = summary(result, errors=(("/logs/bad.jsonl", "/logs/bad.jsonl: cannot open: No such device"),))
    text, notes = render_text(failed)
    failure = "Not compacted: /logs/bad.jsonl (cannot open: No such device); nothing was deleted from it."
    assert text == f"{SEED_REAL}\n{failure}\n"
    assert notes == ["error: /logs/bad.jsonl: cannot open: No such device"]


DISK_FULL = (
    "/logs/big.jsonl: no space left on the device while writing the compacted copy; the original is intact "
    "(free some space, or run `mxcp-compact log-cleanup --emergency`)"
)


def test_nothing_deleted_because_a_file_failed_says_so_instead_of_nothing_to_do() -> None:
    kept_only = make_result("a.jsonl", (("mxcp.endpoints", "2", 90, 0, 5),))
    other = make_result("b.jsonl", (("mxcp.endpoints", "2", 90, 0, 2),))
    text, notes = render_text(summary(kept_only, other, errors=(("/logs/big.jsonl", DISK_FULL),)))
    assert text == (
        "Applying retention policies...\n"
        "\n"
        "No records were deleted: 1 of 3 files could not be compacted.\n"
        "\n"
        "Not compacted: /logs/big.jsonl (no space left on the device while writing the compacted copy);"
        " nothing was deleted from it.\n"
    )
    assert "No records were deleted.\n" not in text
    assert notes == [f"error: {DISK_FULL}"]


def test_dry_run_with_a_failed_file_says_it_was_not_checked() -> None:
    text, _ = render_text(
        summary(dry_run=True, errors=(("/logs/x.jsonl", "/logs/x.jsonl: not a regular file"),)),
    )
    assert text == (
        "DRY RUN: Analyzing what would be deleted...\n"
        "\n"
        "No records would be deleted: 1 of 1 file could not be checked.\n"
        "\n"
        "Not checked: /logs/x.jsonl (not a regular file); nothing is counted for it.\n"
    )


def test_the_reason_of_a_file_named_by_a_relative_path_does_not_name_it_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "logs").mkdir()
    full = tmp_path / "logs" / "a.jsonl"
    failed = FileOutcome(Path("logs/a.jsonl"), error=f"{full}: no space left on the device; the original is intact")
    assert short_reason(failed) == "no space left on the device"


def test_a_failed_in_place_compaction_is_not_claimed_untouched() -> None:
    failed = FileOutcome(
        Path("/logs/big.jsonl"), error="/logs/big.jsonl: cannot fsync: Input/output error", untouched=False
    )
    run = RunSummary(False, "default", [failed], 0.1)
    text, _ = render_text(run)
    assert "nothing was deleted" not in text
    assert text.endswith(
        "\nNot fully compacted: /logs/big.jsonl (cannot fsync: Input/output error); the in-place run may have"
        " deleted some of its expired records before it stopped (not counted above).\n"
    )
    assert "nothing was deleted" not in run.message


def test_a_stopped_in_place_compaction_says_how_much_it_has_freed_so_far() -> None:
    stopped = FileOutcome(
        Path("/logs/big.jsonl"), error="/logs/big.jsonl: interrupted", untouched=False, freed_so_far=4096
    )
    run = RunSummary(False, "default", [stopped], 0.1)
    text, _ = render_text(run)
    assert text.endswith("(not counted above; 4096 bytes freed so far, counted by the next run).\n")
    entry = json.loads(render_json(run))["files"][0]
    assert (entry["action"], entry["bytes_freed_so_far"]) == ("error", 4096)


def test_failures_that_are_not_about_one_file_are_on_standard_output_too() -> None:
    result = make_result(schemas=(("mxcp.endpoints", "1", 90, 15234, 10),))
    run = RunSummary(False, "default", [FileOutcome(result.path, result=result)], 0.1, run_errors=("/t.jsonl: boom",))
    text, notes = render_text(run)
    assert text == SEED_REAL + "\nFailed: /t.jsonl: boom\n"
    assert notes == ["error: /t.jsonl: boom"]


def test_the_short_reason_drops_the_path_and_the_advice_but_keeps_foreign_prefixes() -> None:
    assert short_reason(FileOutcome(Path("/logs/big.jsonl"), error=DISK_FULL)) == (
        "no space left on the device while writing the compacted copy"
    )
    earlier = FileOutcome(Path("/l/b.jsonl"), error="/l/b.jsonl: not compacted, because an earlier file failed")
    assert short_reason(earlier) == "because an earlier file failed"
    busy = FileOutcome(Path("/l/b.jsonl"), error="/l: another mxcp-compact is running (pid 7)")
    assert short_reason(busy) == "/l: another mxcp-compact is running (pid 7)"


def test_notes_and_lines_kept_unevaluated_go_to_the_notes() -> None:
    result = make_result(
        schemas=(("mxcp.endpoints", "1", 90, 1, 0),), unevaluable={"invalid_json": 2, "missing_key": 1}
    )
    text, notes = render_text(summary(result, notes=("/logs/x.jsonl: removed a temp file",)))
    assert "invalid_json" not in text
    assert notes == [
        "note: /logs/x.jsonl: removed a temp file",
        "note: 3 lines could not be evaluated and were kept (invalid_json: 2, missing_key: 1)",
    ]


def test_skipped_run_text_is_the_reason() -> None:
    reason = "Audit logging is disabled for profile 'staging'."
    assert render_text(summary(skipped_reason=reason)) == (reason + "\n", [])


# --- dry-run grouping ----------------------------------------------------------------------------------


def _dry_run_lines(*results: Result) -> list[str]:
    text, _ = render_text(summary(*results, dry_run=True))
    return [line for line in text.splitlines() if line.startswith("  ")]


def test_dry_run_groups_versions_of_one_name_when_their_retention_is_the_same() -> None:
    result = make_result(schemas=(("mxcp.endpoints", "1", 90, 5, 0), ("mxcp.endpoints", "2", 90, 7, 0)), dry_run=True)
    assert _dry_run_lines(result) == ["  mxcp.endpoints (retention: 90 days): 12 records"]


def test_dry_run_shows_name_and_version_when_versions_differ_in_retention() -> None:
    result = make_result(schemas=(("mxcp.endpoints", "2", 90, 7, 0), ("mxcp.endpoints", "1", 30, 5, 0)), dry_run=True)
    assert _dry_run_lines(result) == [
        "  mxcp.endpoints:1 (retention: 30 days): 5 records",
        "  mxcp.endpoints:2 (retention: 90 days): 7 records",
    ]


def test_dry_run_groups_across_files_and_lists_names_sorted() -> None:
    first = make_result("a.jsonl", (("mxcp.endpoints", "2", 90, 7, 0), ("zz.app", "1", 5, 1, 0)), dry_run=True)
    second = make_result("b.jsonl", (("mxcp.endpoints", "1", 90, 5, 0), ("aa.app", "3", 1, 2, 0)), dry_run=True)
    assert _dry_run_lines(first, second) == [
        "  aa.app (retention: 1 days): 2 records",
        "  mxcp.endpoints (retention: 90 days): 12 records",
        "  zz.app (retention: 5 days): 1 records",
    ]
    text, _ = render_text(summary(first, second, dry_run=True))
    assert "\nTotal records that would be deleted: 15\n" in text


def test_dry_run_grouping_ignores_versions_with_nothing_deleted() -> None:
    result = make_result(schemas=(("mxcp.endpoints", "1", 30, 0, 4), ("mxcp.endpoints", "2", 90, 7, 0)), dry_run=True)
    assert _dry_run_lines(result) == ["  mxcp.endpoints (retention: 90 days): 7 records"]


# --- JSON ----------------------------------------------------------------------------------------------


def _json(run: RunSummary) -> dict:
    raw = render_json(run)
    assert raw.endswith(b"\n")
    return json.loads(raw)


def test_json_real_run_starts_with_the_seed_guides_three_keys() -> None:
    result = make_result(schemas=(("mxcp.endpoints", "1", 90, 15234, 10),))
    document = _json(summary(result))
    assert list(document.items())[:3] == [
        ("status", "success"),
        ("message", "Deleted 15234 records"),
        ("deleted_per_schema", {"mxcp.endpoints:1": 15234}),
    ]


def test_json_dry_run_status_and_message() -> None:
    result = make_result(schemas=(("mxcp.endpoints", "1", 90, 15234, 10),), dry_run=True)
    document = _json(summary(result, dry_run=True))
    assert list(document.items())[:3] == [
        ("status", "dry_run"),
        ("message", "Would delete 15234 records"),
        ("deleted_per_schema", {"mxcp.endpoints:1": 15234}),
    ]


@pytest.mark.parametrize(
    ("dry_run", "status", "message"),
    [(False, "success", "Deleted 0 records"), (True, "dry_run", "Would delete 0 records")],
)
def test_json_nothing_deleted(dry_run: bool, status: str, message: str) -> None:
    document = _json(summary(make_result(schemas=(("x", "1", 9, 0, 3),), dry_run=dry_run), dry_run=dry_run))
    assert (document["status"], document["message"], document["deleted_per_schema"]) == (status, message, {})


def test_json_adds_totals_and_per_file_detail_after_the_three_keys() -> None:
    first = make_result("a.jsonl", (("mxcp.endpoints", "1", 90, 2, 3),), unevaluable={"invalid_json": 1})
    second = make_result("b.jsonl", (("mxcp.endpoints", "2", 90, 0, 4),))
    document = _json(summary(first, second))
    assert document["bytes_before"] == 600 + 400
    assert document["bytes_after"] == 400 + 400
    assert document["lines_kept_unevaluated"] == 1
    assert [(f["path"], f["action"], f["lines"], f["deleted"]) for f in document["files"]] == [
        ("/logs/a.jsonl", "rewritten", 6, 2),
        ("/logs/b.jsonl", "unchanged", 4, 0),
    ]
    assert document["files"][0]["deleted_per_schema"] == {"mxcp.endpoints:1": 2}


def test_json_with_a_failed_file_has_status_error_and_names_it() -> None:
    result = make_result(schemas=(("mxcp.endpoints", "1", 90, 4, 0),))
    failed = summary(result, errors=(("/logs/bad.jsonl", "/logs/bad.jsonl: not a regular file"),))
    document = _json(failed)
    assert document["status"] == "error"
    assert "/logs/bad.jsonl: not a regular file" in document["message"]
    assert document["deleted_per_schema"] == {"mxcp.endpoints:1": 4}
    assert document["errors"] == ["/logs/bad.jsonl: not a regular file"]
    assert {"path": "/logs/bad.jsonl", "action": "error", "error": "/logs/bad.jsonl: not a regular file"} in (
        document["files"]
    )


def test_json_message_of_a_run_that_deleted_nothing_because_a_file_failed() -> None:
    kept_only = make_result("a.jsonl", (("mxcp.endpoints", "2", 90, 0, 5),))
    document = _json(summary(kept_only, errors=(("/logs/big.jsonl", DISK_FULL),)))
    assert document["status"] == "error"
    assert document["message"] == (
        f"Deleted 0 records; 1 of 2 files could not be compacted (nothing was deleted from it): {DISK_FULL}"
    )
    assert document["errors"] == [DISK_FULL]


def test_json_message_counts_every_failed_file_and_names_the_first() -> None:
    errors = (("/logs/a.jsonl", "/logs/a.jsonl: not a regular file"), ("/logs/b.jsonl", "/logs/b.jsonl: gone"))
    document = _json(summary(make_result(schemas=(("x", "1", 9, 2, 0),)), errors=errors))
    assert document["message"] == (
        "Deleted 2 records; 2 of 3 files could not be compacted (nothing was deleted from them):"
        " /logs/a.jsonl: not a regular file (and 1 more, see errors)"
    )


def test_json_skipped_run() -> None:
    reason = "Audit logging is disabled for profile 'staging'."
    document = _json(summary(skipped_reason=reason))
    assert list(document.items())[:3] == [
        ("status", "skipped"),
        ("message", reason),
        ("deleted_per_schema", {}),
    ]


def test_error_json_is_exactly_status_and_message() -> None:
    raw = error_json("unknown profile 'nope'")
    assert json.loads(raw) == {"status": "error", "message": "unknown profile 'nope'"}
    assert raw.endswith(b"\n")


def test_json_keeps_non_ascii_text_intact() -> None:
    result = make_result(schemas=(("app.événements", "1", 9, 1, 0),))
    assert _json(summary(result))["deleted_per_schema"] == {"app.événements:1": 1}
