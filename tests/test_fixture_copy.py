"""The repo's copy of the MXCP fixture project must not drift from the shared original."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import SHARED_FIXTURE_DIR, VENDORED_FIXTURE_DIR


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_vendored_fixture_equals_the_shared_fixture() -> None:
    if not SHARED_FIXTURE_DIR.is_dir():
        pytest.skip(f"no shared fixture beside this clone ({SHARED_FIXTURE_DIR}); the vendored copy is used")
    assert _files(VENDORED_FIXTURE_DIR) == _files(SHARED_FIXTURE_DIR)
