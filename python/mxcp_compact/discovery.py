"""Which files a run compacts: the logs named by `--path`, a profile's base log and its
segments, the registry beside each log, and the files that are plainly not JSONL text
(compressed, archives, DuckDB databases: known magic numbers at their head).
"""

from __future__ import annotations

import errno
import os
import re
import stat
from collections import namedtuple
from collections.abc import Callable, Iterable
from pathlib import Path

from mxcp_compact.errors import ConfigError
from mxcp_compact.paths import resolved_beside, resolved_or_same
from mxcp_compact.registry import REGISTRY_SUFFIX

__all__ = [
    "ARCHIVE_RULES",
    "LogFile",
    "Plan",
    "archive_files",
    "binary_kind",
    "expand_paths",
    "is_segment_name",
    "profile_files",
    "registry_path_for",
]

# MXCP names a rotated segment `<stem>-YYYYMMDDTHHMMSS.jsonl` (`-N` added on a clash).
_SEGMENT_SUFFIX = re.compile(r"-\d{8}T\d{6}(?:-\d+)?\Z")

# Rotated and compressed logs, as logrotate and `--archive` name them: `x.jsonl.1`,
# `x.jsonl.2.gz`, `x.jsonl-20261130.gz`, `deleted-20261130.jsonl.zst`. Compressed ones are
# decompressed, cleaned and recompressed by the core.
# (DOTALL: a file name may hold a newline, and such a log must not be passed over in silence.)
_ROTATED = re.compile(r".+\.jsonl(?:[.-][0-9][0-9T-]*)?(?:\.gz|\.zst)?", re.DOTALL)
_COMPRESSED = (".gz", ".zst")
#: The rules key of files cleaned with the archive retention (`[archive]`), not a registry's.
ARCHIVE_RULES = Path("[archive]")

# Magic numbers of formats that are never JSONL text: (offset, magic) -> what the file is.
# Nothing else makes a file by a log's name "not a log": NUL bytes, for one, are what a power
# loss can leave at a log's head on ext4 or XFS, and the core decides such a file line by line
# (a line holding a NUL is not valid JSON, so it is kept and counted as unevaluable).
_BINARY_MAGIC = {
    (0, b"\x1f\x8b"): "gzip-compressed",
    (0, b"\x28\xb5\x2f\xfd"): "zstd-compressed",
    (0, b"BZh"): "bzip2-compressed",
    (0, b"\xfd7zXZ\x00"): "xz-compressed",
    (0, b"PK\x03\x04"): "a zip archive",
    (8, b"DUCK"): "a DuckDB database",  # after the header's 8-byte checksum
}
_MAGIC_END = max(offset + len(magic) for offset, magic in _BINARY_MAGIC)


# Named tuples rather than frozen dataclasses (see registry.RegistryEntry).
class LogFile(
    namedtuple(
        "LogFile",
        [
            "path",  # Path
            "registry",  # Path | None
            "is_segment",  # bool: segments are deleted once empty; a base file is kept, possibly empty
            "archived",  # bool: cleaned with the archive retention of the settings file (`[archive]`)
        ],
        defaults=(False,),
    )
):
    """One audit log file to compact."""

    __slots__ = ()

    @property
    def rules_key(self) -> Path | None:
        """Which of a run's rules decide this file: its registry's, or the archive retention."""
        return ARCHIVE_RULES if self.archived else self.registry


class Plan(
    namedtuple(
        "Plan",
        [
            "files",  # tuple[LogFile, ...]
            "profile",  # str | None
            "skipped_reason",  # str | None: why the run does nothing at all (audit disabled)
            "passed_over",  # tuple[tuple[Path, str], ...]: files passed over, with the reason, reported as notes
            "audit_path",  # Path | None
        ],
        defaults=(None, (), None),
    )
):
    """The files a run compacts, and what was decided on the way (a skipped profile, files
    passed over)."""

    __slots__ = ()


def profile_files(base: Path) -> list[LogFile]:
    """A profile's base log and its segments, all sharing the registry beside the base."""
    # MXCP names the registry and the segments after the log's `Path.stem`: `audit/audit.log`
    # has `audit_schemas.jsonl` (not `audit.log_schemas.jsonl`, which would leave the records
    # to the built-in 90 days whatever the registry says).
    stem = base.stem
    registry = base.with_name(stem + REGISTRY_SUFFIX)
    registry_or_none = registry if registry.is_file() else None
    suffixes = sorted({".jsonl", base.suffix} - {""})
    segment = re.compile(re.escape(stem) + r"-\d{8}T\d{6}(?:-\d+)?(?:" + "|".join(map(re.escape, suffixes)) + ")")
    files = []
    # Anything by a log's name that is not a directory is listed, so that one we cannot read
    # (a dangling symlink, a socket) is reported rather than silently passed over.
    if base.exists() or base.is_symlink():
        files.append(LogFile(base, registry_or_none, is_segment=False))
    if base.parent.is_dir():
        for entry in sorted(base.parent.iterdir()):
            if segment.fullmatch(entry.name) and not entry.is_dir():
                files.append(LogFile(entry, registry_or_none, is_segment=True))
    return files


def registry_path_for(log: Path) -> Path | None:
    """The registry beside a log: `<stem>_schemas.jsonl`, the stem without a segment suffix (or
    a rotation suffix: `x.jsonl.2.gz` is x's)."""
    # A name without `.jsonl` is a base log, whose registry MXCP names after `Path.stem`.
    stem = _SEGMENT_SUFFIX.sub("", log.name.split(".jsonl", 1)[0]) if ".jsonl" in log.name else log.stem
    candidate = log.with_name(stem + REGISTRY_SUFFIX)
    return candidate if candidate.is_file() else None


def is_segment_name(name: str) -> bool:
    """Whether `name` is one of MXCP's rotated segments (`<stem>-YYYYMMDDTHHMMSS.jsonl`)."""
    return name.endswith(".jsonl") and _SEGMENT_SUFFIX.search(name.removesuffix(".jsonl")) is not None


def binary_kind(path: Path) -> str | None:
    """Why a file is plainly not JSONL text (a compressed file, an archive, a DuckDB database:
    its head is one of `_BINARY_MAGIC`), or None. A file with NUL bytes is still a log."""
    try:
        # Without O_NONBLOCK, a FIFO among the logs would hang the run until something wrote to it.
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None  # the core reports unreadable files with the right error
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            return None  # and files that are not regular ones
        head = os.read(descriptor, _MAGIC_END)
    except OSError:
        return None
    finally:
        os.close(descriptor)
    for (offset, magic), kind in _BINARY_MAGIC.items():
        if head[offset : offset + len(magic)] == magic:
            return kind
    return None


def expand_paths(paths: Iterable[Path], head_known: Callable[[Path], bool] | None = None) -> Plan:
    """Files named by `--path`: a file as given, a directory as its `*.jsonl` (and rotated or
    compressed logs) minus registries, passing over those `binary_kind` names. `head_known`
    vouches for the files whose head need not be read (see `index.text_heads_known`): reading
    each head costs a disk read per file on a cold cache (~0.1 ms here), even when the file is
    then not read at all."""
    files: list[LogFile] = []
    passed_over: list[tuple[Path, str]] = []
    seen: set[Path] = set()
    for given in paths:
        try:
            given.stat()
        except OSError as error:
            # A symlink loop, a permission problem on the way: say which, not "no such file".
            missing = error.errno == errno.ENOENT or not error.strerror
            raise ConfigError(f"{given}: {'no such file or directory' if missing else error.strerror}") from None
        if given.is_dir():
            directory = resolved_or_same(given)
            for candidate in _directory_logs(given):
                sniff = not candidate.name.endswith(_COMPRESSED) and not (head_known and head_known(candidate))
                kind = binary_kind(candidate) if sniff else None
                if kind is not None:
                    passed_over.append((candidate, f"skipped: {kind}, not a JSONL log"))
                    continue
                _add(files, seen, candidate, resolved_beside(directory, candidate))
        else:
            if given.name.endswith(REGISTRY_SUFFIX):
                raise ConfigError(f"{given}: is an MXCP schema registry; it is read, never compacted")
            _add(files, seen, given, resolved_or_same(given))
    return Plan(files=tuple(files), profile=None, passed_over=tuple(passed_over))


def _directory_logs(directory: Path) -> list[Path]:
    """A directory's logs: `*.jsonl` and rotated or compressed ones, minus registries, dot files
    (our temps) and DuckDB archive staging files."""
    return sorted(
        p
        for p in directory.iterdir()
        if _ROTATED.fullmatch(p.name)
        and not p.name.endswith((REGISTRY_SUFFIX, ".pending.jsonl"))
        and not p.name.startswith(".")
        and not p.is_dir()
    )


def archive_files(directory: Path) -> list[LogFile]:
    """The files of an `[archive]` directory, cleaned with the archive retention and removed
    when no line is left."""
    if not directory.is_dir():
        raise ConfigError(f"{directory}: the [archive] directory does not exist")
    return [LogFile(path, None, is_segment=True, archived=True) for path in _directory_logs(directory)]


def _add(files: list[LogFile], seen: set[Path], path: Path, key: Path) -> None:
    """Adds `path` unless a file resolving to the same `key` is in already."""
    if key in seen:
        return
    seen.add(key)
    # Rotated and compressed copies are deleted once empty, like MXCP's segments.
    rotated = not path.name.endswith(".jsonl")
    files.append(LogFile(path, registry_path_for(path), is_segment=rotated or is_segment_name(path.name)))
