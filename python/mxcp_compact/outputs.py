"""The files a run writes besides the logs (`--metrics`, `--audit-trail`, `--archive`), checked
once, before anything is changed: a run must never replace or append to the wrong file (a log,
a registry, a device, `/dev/stdout`'s symlink) nor hang on a FIFO after its work is done."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path

from mxcp_compact.paths import resolved_or_same
from mxcp_compact.registry import REGISTRY_SUFFIX

__all__ = ["duckdb_name_problem", "output_problem"]


def output_problem(path: Path, option: str, logs: Iterable[Path], *, replaced: bool) -> str | None:
    """Why `path` cannot take what `option` writes, or None. It must be a regular file or not
    exist yet (or be a directory, which the writing then refuses on its own, harmlessly), and
    none of the logs (nor a registry) this run reads. `replaced`: the file is
    swapped for a new one by rename (the metrics file), so a symlink would be replaced rather
    than followed, and is refused too."""
    if not path.name or path.name in (".", ".."):
        return f"{option} {str(path)!r}: needs a file name"
    try:
        info = path.lstat() if replaced else path.stat()
    except FileNotFoundError:
        return None
    except OSError as error:
        return f"{path}: {option}: {error.strerror or error}"
    if stat.S_ISLNK(info.st_mode):
        return f"{path}: {option} would replace this symbolic link; name the file it points to"
    if stat.S_ISDIR(info.st_mode):
        return None  # writing fails, safely and with its own one-line error, after the run
    if not stat.S_ISREG(info.st_mode):
        return f"{path}: {option} must be a regular file (this is a {_kind(info.st_mode)})"
    if path.name.endswith(REGISTRY_SUFFIX):
        return f"{path}: {option} must not be an MXCP schema registry"
    target = resolved_or_same(path)
    if any(target == resolved_or_same(log) for log in logs):
        return f"{path}: {option} must not be one of the audit logs this run reads"
    return None


def duckdb_name_problem(path: Path, option: str) -> str | None:
    """Why DuckDB cannot open `path`, or None: it takes only UTF-8 file names (another one failed
    inside DuckDB with "std::bad_cast", after the run)."""
    try:
        os.fsencode(path).decode("utf-8")
    except UnicodeDecodeError:
        from mxcp_compact.report import displayable

        return f"{displayable(path)}: {option}: DuckDB opens only file names that are UTF-8"
    return None


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "FIFO"), (stat.S_ISSOCK, "socket")):
        if test(mode):
            return name
    return "device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "special file"
