"""Resolving paths alike on every supported Python: a symlink loop is an OSError (ELOOP).

Python 3.11 and 3.12 raise RuntimeError("Symlink loop from ...") from `Path.resolve()`, even
when not strict, which no `except OSError` catches: one loop among the logs crashed the run
halfway through, after it had deleted records and before the report and the deletion trail.
From 3.13 on it is an OSError, as here.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

__all__ = ["resolved", "resolved_beside", "resolved_or_same"]


def resolved(path: Path, *, strict: bool = False) -> Path:
    """`path.resolve(strict=strict)`; OSError (ELOOP) on a symlink loop."""
    try:
        return path.resolve(strict=strict)
    except RuntimeError as error:
        raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), str(path)) from error


def resolved_or_same(path: Path) -> Path:
    """`path` resolved, or as it is where it cannot be (a symlink loop): a key that still names
    one file, which is then reported by whatever opens it."""
    try:
        return resolved(path)
    except OSError:
        return path


def resolved_beside(directory: Path, path: Path) -> Path:
    """`resolved_or_same(path)` for a path whose parent resolves to `directory`: one `lstat`
    instead of one per component and Python's walk (~27 us), since only a symlinked file needs
    that walk. What a run does once per file and per look at the index, for every file of a
    directory it then skips."""
    try:
        if not stat.S_ISLNK(os.lstat(path).st_mode):
            return directory / path.name
    except FileNotFoundError:
        return directory / path.name
    except OSError:
        pass
    return resolved_or_same(path)
