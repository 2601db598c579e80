"""The incremental index: the daily job at the cost of what changed.

For each file a real run has fully decided, the index keeps the file's identity and stat facts
(device, inode, size, mtime and ctime in ns) and, per (schema_name, schema_version as written),
the oldest timestamp among the records it kept (the only ones a later run could delete), or
that some were kept without their timestamp being read (no policy then), and whether the file's
head is text (no binary format's magic, see `discovery.binary_kind`: then a `--path DIR` run
need not read it to list the file either). A later run does not
read a file whose stat facts are unchanged and whose oldest kept record of every schema is not
yet expired under the CURRENT rules and `--now`: rules, registry or clock changes need no
invalidation, because the expiry is computed at run time. Any doubt means: read the file.
A missing, unreadable, corrupt (its checksum) or other-version index, changed stat facts (also
while the run that recorded them read the file: its facts from before the pass must match), a
pending in-place shift or a temp copy a killed run left (beside the log's target, not beside a
symlink to it), a schema whose version does not fit the rules' lookup, records of unknown age under a
rule that now has days, a schema that gained or lost its days since (its kept records change
from retained to unmanaged), unevaluable lines under other rules or an earlier instant than the
ones that counted them (an expired record broken after its fields is unevaluable, a young one
is kept unread): all read the file, and nothing here can fail the run (a bad index is
ignored, one that cannot be written is a note). `--full` ignores it; a dry run reads it but
never writes it, so it reports what the real run would.

The index lives outside the audit directory (which holds nothing but the logs): in
`$MXCP_COMPACT_STATE_DIR`, else `/var/lib/mxcp-compact` for root, else
`$XDG_STATE_HOME/mxcp-compact` (`~/.local/state/mxcp-compact`), one file per audit directory,
named after a hash of its path, written atomically.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

from mxcp_compact.discovery import binary_kind
from mxcp_compact.paths import resolved_beside, resolved_or_same

# typing.TYPE_CHECKING without importing typing, which costs ~5 ms of every command's start-up.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

__all__ = ["FileIndex", "index_path", "state_dir", "text_heads_known"]

#: 2: the document carries a checksum of its entries (version 1 had none: read again once).
#: 3: entries say what rules and instant their counts were made under (see `_counts_hold`).
VERSION = 3
_NANOS_PER_DAY = 86_400 * 10**9


def state_dir(env: Mapping[str, str]) -> Path:
    if env.get("MXCP_COMPACT_STATE_DIR"):
        return Path(env["MXCP_COMPACT_STATE_DIR"])
    if os.geteuid() == 0:
        return Path("/var/lib/mxcp-compact")
    base = env.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "mxcp-compact"


def _sha256(data: bytes) -> Any:
    """A SHA-256 hash object (`update`, `hexdigest`), from the interpreter's builtin module
    rather than `hashlib`, whose import loads OpenSSL's libcrypto (~25 ms of a cold start-up)
    just to name the index file. The digest is the same, so existing index files keep their names."""
    try:
        from _sha2 import sha256 as builtin  # Python 3.12+
    except ImportError:
        try:
            from _sha256 import sha256 as builtin  # Python 3.10, 3.11
        except ImportError:  # an interpreter built without its builtin hashes
            from hashlib import sha256 as builtin
    return builtin(data)


def index_path(directory: Path, env: Mapping[str, str]) -> Path:
    digest = _sha256(os.fsencode(resolved_or_same(directory))).hexdigest()[:24]
    return state_dir(env) / f"index-{digest}.json"


def _read_regular_file(path: Path) -> bytes:
    """The bytes of `path`, which must be a regular file: a FIFO put in the index's place would
    block the open (and every run with it, `--full` too, holding the directory's lock), and
    /dev/zero would never end. A symlink is not the index this tool writes (by rename) either."""
    import stat

    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    with os.fdopen(descriptor, "rb") as handle:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise OSError(f"{path}: not a regular file")
        return handle.read()


def _facts(stat: os.stat_result) -> list[int]:
    return [stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns]


class FileIndex:
    """The index of one audit directory: what its files' last full reads found."""

    def __init__(self, directory: Path, env: Mapping[str, str]) -> None:
        self.directory = resolved_or_same(directory)
        self.path = index_path(self.directory, env)
        self.entries: dict[str, dict[str, Any]] = {}
        self.changed = False
        try:
            document = json.loads(_read_regular_file(self.path).decode("utf-8"))
        except (OSError, ValueError, RecursionError):  # RecursionError: nested beyond json's depth
            return
        if (
            isinstance(document, dict)
            and document.get("version") == VERSION
            and document.get("directory") == str(self.directory)
        ):
            entries = document.get("files")
            # A damaged entry that is still valid JSON (an edited digit of an oldest timestamp,
            # an emptied schema list) would skip a file with expired records: never trust one.
            if isinstance(entries, dict) and document.get("checksum") == _checksum(self.directory, entries):
                self.entries = entries

    def unchanged_result(self, log_path: Path, rules: Any, now_ns: int, dry_run: bool) -> Any:
        """The result of a file the index proves has nothing to delete now, or None: read it."""
        vouched = self._vouched(log_path, rules, now_ns)
        if vouched is None:
            return None
        entry, size = vouched
        if "text_head" not in entry:
            # Recorded before the index kept it: learnt now (the listing has just read that
            # page), so that the next listing need not read the head again.
            entry["text_head"] = binary_kind(log_path) is None
            self.changed = True
        try:
            return _result(log_path, self._target(log_path), size, entry, rules, dry_run)
        except (OSError, KeyError, TypeError, ValueError, OverflowError):
            return None

    def knows_text_head(self, log_path: Path) -> bool:
        """Whether the file is, to its stat facts, one this index recorded with a head that is
        not a binary format's (so listing its directory need not read the head again)."""
        try:
            same = self._entry_of_same_file(log_path)
            return same is not None and same[0].get("text_head") is True
        except (OSError, TypeError, ValueError):
            return False

    def vouches(self, log_path: Path, rules: Any, now_ns: int) -> bool:
        """Whether the index proves the file has nothing to delete now (it need not be read)."""
        return self._vouched(log_path, rules, now_ns) is not None

    def _vouched(self, log_path: Path, rules: Any, now_ns: int) -> tuple[dict[str, Any], int] | None:
        try:
            same = self._entry_of_same_file(log_path)
            if same is None:
                return None
            entry, stat = same
            if not _nothing_expires(entry["schemas"], rules, now_ns) or not _counts_hold(entry, rules, now_ns):
                return None
            return entry, stat.st_size
        except (OSError, KeyError, TypeError, ValueError, OverflowError):
            return None

    def _entry_of_same_file(self, log_path: Path) -> tuple[dict[str, Any], os.stat_result] | None:
        """The file's entry and stat when its stat facts are the recorded ones and no stopped run
        left work beside it: the file is, byte for byte, the one the entry describes."""
        entry = self.entries.get(log_path.name)
        if entry is None or _left_by_a_stopped_run(self._target(log_path)):
            return None
        stat = log_path.stat()
        return (entry, stat) if entry.get("facts") == _facts(stat) else None

    def _target(self, log_path: Path) -> Path:
        """The file `log_path`, a name in this index's directory, stands for."""
        return resolved_beside(self.directory, log_path)

    def forget(self, path: Path) -> None:
        """A file the run could not decide: the next run reads it."""
        if self.entries.pop(path.name, None) is not None:
            self.changed = True

    def record(self, result: Any, rules: Any, now_ns: int, before: os.stat_result | None) -> None:
        """Remembers a file the run decided in full (and that nothing has touched since), under
        `rules` at `now_ns`; `before`: its stat before the pass read it."""
        self.entries.pop(result.path.name, None)
        self.changed = True
        if result.action not in ("unchanged", "rewritten") or result.appended_bytes or result.stopped_early:
            return  # removed, lines a writer added that the pass did not decide, or not read to its end
        try:
            stat = result.path.stat()
        except OSError:
            return
        if stat.st_size != result.bytes_after or _left_by_a_stopped_run(self._target(result.path)):
            return
        if result.action == "unchanged" and (before is None or _facts(before) != _facts(stat)):
            return  # changed while it was read (an edit keeping its size): the counts may be of other bytes
        self.entries[result.path.name] = {
            "facts": _facts(stat),
            # Read after the stat: a head changed since changes the ctime, and so the facts.
            "text_head": binary_kind(result.path) is None,
            "lines": result.lines - result.deleted,
            "retained": result.retained,
            "unmanaged": result.unmanaged,
            "blank": result.blank,
            "unevaluable": dict(result.unevaluable),
            "schemas": [_schema_entry(schema) for schema in result.schemas if schema.kept],
        }
        if result.unevaluable:
            self.entries[result.path.name]["under"] = {"rules": _rules_digest(rules), "now_ns": now_ns}

    def save(self) -> str | None:
        """Writes the index atomically; returns a note when it cannot (the run goes on)."""
        if not self.changed:
            return None
        document = {
            "version": VERSION,
            "directory": str(self.directory),
            "files": self.entries,
            "checksum": _checksum(self.directory, self.entries),
        }
        temp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with temp.open("w", encoding="utf-8") as handle:
                # dumps, not dump: only the one-shot encoder is the C one.
                handle.write(json.dumps(document))
                handle.flush()
                os.fsync(handle.fileno())
            temp.replace(self.path)
        except OSError as error:
            with contextlib.suppress(OSError):
                temp.unlink(missing_ok=True)
            reason = error.strerror or error
            return (
                f"{self.path}: cannot write the incremental index ({reason}); the next run reads again the files this"
                " one read"
            )
        return None


def text_heads_known(env: Mapping[str, str]) -> Callable[[Path], bool]:
    """`FileIndex.knows_text_head` of each log's directory index, each loaded once."""
    loaded: dict[Path, FileIndex] = {}

    def known(log_path: Path) -> bool:
        index = loaded.get(log_path.parent)
        if index is None:
            index = loaded[log_path.parent] = FileIndex(log_path.parent, env)
        return index.knows_text_head(log_path)

    return known


def _checksum(directory: Path, entries: dict[str, Any]) -> str:
    """SHA-256 of the entries in one canonical form: detects damage, not deliberate forgery."""
    canonical = json.dumps([str(directory), entries], sort_keys=True, separators=(",", ":"))
    return _sha256(canonical.encode("utf-8", "surrogateescape")).hexdigest()


def _left_by_a_stopped_run(target: Path) -> bool:
    """A progress record (a pending in-place shift) or a temp copy beside the log's `target` (not
    beside a symlink to it): the run that reads the file finishes the one and removes the other."""
    return any(target.with_name(f".{target.name}.mxcp-compact.{kind}").exists() for kind in ("shift", "tmp"))


def _schema_entry(schema: Any) -> dict[str, Any]:
    return {
        "name": schema.schema_name,
        "version": schema.schema_version,
        "kept": schema.kept,
        "policy": schema.policy,
        "oldest_ns": schema.oldest_kept_ns,
        "unknown": schema.kept_age_unknown,
    }


def _nothing_expires(schemas: list[dict[str, Any]], rules: Any, now_ns: int) -> bool:
    """Whether no kept record of the entry can be deleted under `rules` at `now_ns` (exactly the
    core's rule: deleted once `now - timestamp >= (days + 1)` whole days)."""
    for schema in schemas:
        kind, days = rules.policy(schema["name"], int(schema["version"]))
        if kind != "days":
            continue
        if schema["unknown"]:
            return False
        oldest = schema["oldest_ns"]
        if oldest is not None and now_ns - oldest >= (days + 1) * _NANOS_PER_DAY:
            return False
    return True


def _counts_hold(entry: dict[str, Any], rules: Any, now_ns: int) -> bool:
    """Whether a full read would count the entry's lines as it remembers. Retained and unmanaged
    records trade places when a schema gains or loses its days. An unevaluable line may be one the
    rules made the scan read to its end (an expired record broken after its fields, which younger
    is kept unread and counted retained), so those counts hold only under the same rules at the
    same or a later instant, when every such record is as expired as it was."""
    for schema in entry["schemas"]:
        kind, _days = rules.policy(schema["name"], int(schema["version"]))
        if (kind == "days") != (schema["policy"] == "days"):
            return False
    if not entry["unevaluable"]:
        return True
    under = entry["under"]
    return bool(under["rules"] == _rules_digest(rules) and now_ns >= under["now_ns"])


def _rules_digest(rules: Any) -> str:
    return str(_sha256(rules.canonical().encode("utf-8", "surrogateescape")).hexdigest())


def _result(path: Path, target: Path, size: int, entry: dict[str, Any], rules: Any, dry_run: bool) -> Any:
    """The file's result as a full read would give it: nothing deleted, the counts remembered."""
    from mxcp_compact import _core

    policies = [rules.policy(schema["name"], int(schema["version"])) for schema in entry["schemas"]]
    schemas = tuple(
        _core.SchemaCount(
            schema_name=schema["name"],
            schema_version=schema["version"],
            policy=kind,
            retention_days=days,
            deleted=0,
            deleted_bytes=0,
            kept=schema["kept"],
            oldest_kept_ns=schema["oldest_ns"],
            kept_age_unknown=schema["unknown"],
        )
        for schema, (kind, days) in zip(entry["schemas"], policies, strict=True)
    )
    return _core.FileResult(
        path=path,
        target=target,
        action="dry_run" if dry_run else "unchanged",
        lines=entry["lines"],
        deleted=0,
        bytes_before=size,
        bytes_after=size,
        deleted_bytes=0,
        retained=entry["retained"],
        unmanaged=entry["unmanaged"],
        blank=entry["blank"],
        unevaluable=dict(entry["unevaluable"]),
        schemas=schemas,
        appended_bytes=0,
        stale_temp_removed=False,
    )
