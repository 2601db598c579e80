"""log-cleanup's plan: each setting decided once, from the request, the settings file and the profile."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import FIXTURE_NOW
from mxcp_compact.cleanup_plan import CleanupError, CleanupPlan, plan_cleanup
from mxcp_compact.options import CleanupRequest


def plan(project: Path, **given: object) -> CleanupPlan:
    return plan_cleanup(CleanupRequest(now=FIXTURE_NOW, **given), project, {})


def test_emergency_is_in_place_compaction(fixture_project: Path) -> None:
    emergency = plan(fixture_project, emergency=True)
    assert (emergency.in_place, emergency.emergency) == (True, True)
    assert plan(fixture_project, in_place=True).emergency is False
    assert plan(fixture_project).in_place is False


def test_without_settings_the_defaults_apply(fixture_project: Path) -> None:
    default = plan(fixture_project)
    assert (default.wait, default.audit_trail, default.archive, default.output_style) == (0.0, None, None, "guide")
    assert default.show_progress and default.profile == "default" and default.files


def test_the_settings_file_fills_in_what_the_command_line_leaves_out(fixture_project: Path) -> None:
    (fixture_project / "mxcp-compact.toml").write_text(
        '[cleanup]\narchive = "deleted-{date}.jsonl.gz"\naudit_trail = "trail.jsonl"\nwait = 5\noutput_style = "mxcp"\n'
    )
    from_file = plan(fixture_project)
    assert from_file.archive == fixture_project / "deleted-20261127.jsonl.gz"
    assert from_file.audit_trail == fixture_project / "trail.jsonl"
    assert (from_file.wait, from_file.output_style) == (5.0, "mxcp")
    assert from_file.metrics is None
    given = plan(
        fixture_project, archive="", audit_trail=Path("/tmp/t.jsonl"), wait=1.5, output_style="guide", json_output=True
    )
    assert (given.archive, given.audit_trail, given.wait, given.output_style) == (
        None,
        Path("/tmp/t.jsonl"),
        1.5,
        "guide",
    )
    assert not given.show_progress


def test_the_archive_date_is_the_utc_day_of_now_even_at_the_last_instant_of_year_9999(fixture_project: Path) -> None:
    (fixture_project / "mxcp-compact.toml").write_text('[cleanup]\narchive = "deleted-{date}.jsonl.gz"\n')
    last = plan_cleanup(CleanupRequest(now="9999-12-31T23:59:59.9999999Z"), fixture_project, {})
    assert last.archive == fixture_project / "deleted-99991231.jsonl.gz"
    shifted = plan_cleanup(CleanupRequest(now="2026-11-27T00:30:00+01:00"), fixture_project, {})
    assert shifted.archive == fixture_project / "deleted-20261126.jsonl.gz"


def test_the_metrics_file_comes_from_the_command_line_else_the_settings_file_and_never_for_a_dry_run(
    fixture_project: Path,
) -> None:
    (fixture_project / "mxcp-compact.toml").write_text('[cleanup]\nmetrics = "cleanup.prom"\n')
    assert plan(fixture_project).metrics == fixture_project / "cleanup.prom"
    assert plan(fixture_project, metrics=Path("/tmp/m.prom")).metrics == Path("/tmp/m.prom")
    dry = plan(fixture_project, dry_run=True)
    assert dry.metrics is None
    assert f"a dry run writes no metrics ({fixture_project / 'cleanup.prom'})" in dry.notes


def test_a_duckdb_archive_is_staged_as_jsonl_beside_it(fixture_project: Path, tmp_path: Path) -> None:
    staged = plan(fixture_project, archive=str(tmp_path / "deleted.duckdb"))
    assert staged.archive_staging == tmp_path / "deleted.duckdb.pending.jsonl"
    assert plan(fixture_project, archive=str(tmp_path / "deleted.jsonl")).archive_staging is None


def test_only_a_real_run_with_files_writes_the_archive(fixture_project: Path, tmp_path: Path) -> None:
    archive = str(tmp_path / "a.jsonl")
    assert plan(fixture_project, archive=archive).writes_archive
    assert not plan(fixture_project, archive=archive, dry_run=True).writes_archive
    empty = tmp_path / "empty"
    empty.mkdir()
    assert not plan(fixture_project, archive=archive, paths=(empty,)).writes_archive


@pytest.mark.parametrize("given", [{"in_place": True}, {"emergency": True}])
def test_an_archive_is_refused_with_in_place_compaction_in_the_settings_style(
    fixture_project: Path, tmp_path: Path, given: dict[str, bool]
) -> None:
    (fixture_project / "mxcp-compact.toml").write_text('[cleanup]\noutput_style = "mxcp"\n')
    with pytest.raises(CleanupError, match="--archive cannot be combined with --in-place/--emergency") as refused:
        plan(fixture_project, archive=str(tmp_path / "a.jsonl"), **given)
    assert refused.value.output_style == "mxcp"


def test_an_unreadable_site_is_reported_before_the_style_is_known(tmp_path: Path) -> None:
    with pytest.raises(CleanupError, match=re.escape("no mxcp-site.yml")) as failed:
        plan(tmp_path)
    assert failed.value.output_style is None


@pytest.mark.parametrize("dry_run", [True, False], ids=["dry_run", "real_run"])
def test_an_archive_in_a_missing_directory_is_refused_by_the_dry_run_as_by_the_real_run(
    tmp_path: Path, dry_run: bool
) -> None:
    # The dry run reported 346 deletions; the real run was refused (exit 2) and deleted none.
    settings = tmp_path / "mxcp-compact.toml"
    settings.write_text('[cleanup]\narchive = "nodir/a-{date}.jsonl.gz"\n')
    (tmp_path / "logs.jsonl").write_text("")
    request = CleanupRequest(paths=(tmp_path / "logs.jsonl",), config_file=settings, dry_run=dry_run)
    with pytest.raises(
        CleanupError,
        match=r"mxcp-compact.toml: cleanup.archive '.*nodir/a-\{date\}.jsonl.gz': its directory .*nodir does not exist",
    ):
        plan_cleanup(request, tmp_path, {})


def test_a_bad_archive_template_in_the_settings_file_names_the_file_not_the_option(tmp_path: Path) -> None:
    settings = tmp_path / "mxcp-compact.toml"
    settings.write_text('[cleanup]\narchive = "a-{x}.jsonl.gz"\n')
    (tmp_path / "logs.jsonl").write_text("")
    request = CleanupRequest(paths=(tmp_path / "logs.jsonl",), config_file=settings)
    with pytest.raises(
        CleanupError, match=r"^.*mxcp-compact.toml: cleanup.archive '.*a-\{x\}.jsonl.gz': only \{date\}"
    ):
        plan_cleanup(request, tmp_path, {})
