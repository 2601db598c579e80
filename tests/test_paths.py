"""`paths.resolved_beside`, the one-`lstat` resolution of a name in a resolved directory, gives
what the full `resolved_or_same` walk gives, for every kind of entry a log directory can hold."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mxcp_compact.paths import resolved_beside, resolved_or_same


@pytest.fixture
def layout(tmp_path: Path) -> tuple[Path, Path]:
    """`real/logs` with every kind of entry, reached through the symlinked directory `link`."""
    logs = tmp_path / "real" / "logs"
    elsewhere = tmp_path / "elsewhere"
    logs.mkdir(parents=True)
    elsewhere.mkdir()
    (logs / "plain.jsonl").write_text("{}\n")
    (elsewhere / "target.jsonl").write_text("{}\n")
    (logs / "to-elsewhere.jsonl").symlink_to(elsewhere / "target.jsonl")
    (logs / "relative.jsonl").symlink_to("plain.jsonl")
    (logs / "dangling.jsonl").symlink_to(tmp_path / "missing.jsonl")
    (logs / "loop-a.jsonl").symlink_to("loop-b.jsonl")
    (logs / "loop-b.jsonl").symlink_to("loop-a.jsonl")
    link = tmp_path / "link"
    link.symlink_to(logs)
    return logs, link


NAMES = ["plain.jsonl", "to-elsewhere.jsonl", "relative.jsonl", "dangling.jsonl", "loop-a.jsonl", "absent.jsonl"]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("through_link", [False, True], ids=["direct", "through_a_symlinked_directory"])
def test_a_name_beside_a_resolved_directory_resolves_as_the_full_walk_does(
    layout: tuple[Path, Path], name: str, through_link: bool
) -> None:
    logs, link = layout
    parent = link if through_link else logs
    path = parent / name
    assert resolved_beside(resolved_or_same(parent), path) == resolved_or_same(path)


def test_an_lstat_refused_for_other_reasons_falls_back_to_the_full_walk(
    layout: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # As for a directory we may not search: the walk then decides (and keeps the path as given).
    from mxcp_compact import paths

    logs, link = layout
    walked: list[Path] = []

    def refuse(path: object) -> os.stat_result:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(paths.os, "lstat", refuse)
    monkeypatch.setattr(paths, "resolved_or_same", lambda path: walked.append(path) or path)
    assert resolved_beside(logs, link / "plain.jsonl") == link / "plain.jsonl"
    assert walked == [link / "plain.jsonl"]
