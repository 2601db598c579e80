"""The run as a whole (`cleanup`): what one file's failure leaves of the others' work."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conftest import run_in_process

NOW = "2026-11-27T00:00:00Z"


def old_and_young(n: int) -> str:
    old = f'{{"schema_name": "mxcp.endpoints", "schema_version": 2, "timestamp": "2026-01-01T00:00:00Z", "n": {n}}}\n'
    young = f'{{"schema_name": "mxcp.endpoints", "schema_version": 2, "timestamp": "2026-11-20T00:00:00Z", "n": {n}}}\n'
    return old * 3 + young


@pytest.mark.parametrize("json_output", [True, False], ids=["json", "text"])
def test_a_bug_on_one_file_still_reports_and_trails_what_the_other_files_deleted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, json_output: bool
) -> None:
    import mxcp_compact.api

    logs = tmp_path / "logs"
    logs.mkdir()
    for name in ("a", "b", "c"):
        (logs / f"logs-{name}.jsonl").write_text(old_and_young(1))
    compact = mxcp_compact.api.compact_with_rules

    def failing_on_b(path: Path, *args: Any, **kwargs: Any) -> Any:
        if Path(path).name == "logs-b.jsonl":
            raise RuntimeError("a bug")
        return compact(path, *args, **kwargs)

    monkeypatch.setattr(mxcp_compact.api, "compact_with_rules", failing_on_b)
    trail = tmp_path / "trail.jsonl"
    args = ["log-cleanup", "--path", logs, "--now", NOW, "--audit-trail", trail, *(["--json"] if json_output else [])]
    result = run_in_process(args, cwd=tmp_path)

    assert result.exit_code == 1
    expected_error = f"{logs / 'logs-b.jsonl'}: not compacted: unexpected RuntimeError: a bug (--debug shows where)"
    assert expected_error in (result.stdout if json_output else result.stderr)
    if json_output:
        report = json.loads(result.stdout)
        assert [f["deleted"] for f in report["files"] if "deleted" in f] == [3, 3]
    (line,) = trail.read_text().splitlines()
    record = json.loads(line)
    assert record["deleted_per_schema"] == {"mxcp.endpoints:2": 6}
    assert record["errors"] == [expected_error]
    assert (logs / "logs-b.jsonl").read_text() == old_and_young(1)
    assert (logs / "logs-a.jsonl").read_text() == old_and_young(1).splitlines(keepends=True)[-1]


def test_with_debug_a_files_unexpected_error_prints_where_it_came_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mxcp_compact.api

    (tmp_path / "logs-a.jsonl").write_text(old_and_young(1))

    def failing(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(mxcp_compact.api, "compact_with_rules", failing)
    result = run_in_process(["log-cleanup", "--path", tmp_path, "--now", NOW, "--debug"], cwd=tmp_path)
    assert result.exit_code == 1
    assert "Traceback" in result.stderr and 'raise RuntimeError("a bug")' in result.stderr


@pytest.mark.parametrize("enabled_before", [True, False], ids=["enabled", "disabled"])
def test_a_run_pauses_the_cyclic_collector_and_gives_the_caller_its_setting_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, enabled_before: bool
) -> None:
    import gc

    import mxcp_compact.api

    (tmp_path / "logs-a.jsonl").write_text(old_and_young(1))
    seen_during_run: list[bool] = []
    compact = mxcp_compact.api.compact_with_rules

    def noting_the_collector(*args: Any, **kwargs: Any) -> Any:
        seen_during_run.append(gc.isenabled())
        return compact(*args, **kwargs)

    monkeypatch.setattr(mxcp_compact.api, "compact_with_rules", noting_the_collector)
    (gc.enable if enabled_before else gc.disable)()
    try:
        result = run_in_process(["log-cleanup", "--path", tmp_path / "logs-a.jsonl", "--now", NOW], cwd=tmp_path)
        after = gc.isenabled()
    finally:
        gc.enable()

    assert result.exit_code == 0
    assert seen_during_run == [False]
    assert after is enabled_before
    assert (tmp_path / "logs-a.jsonl").read_text() == old_and_young(1).splitlines(keepends=True)[-1]
