"""Shared fixtures and helpers: the MXCP fixture project, running the CLI, building small logs.

The MXCP fixture (`../shared/fixtures/mxcp-project`, read-only) is always copied to `tmp_path`
and made writable before anything runs on it. The CLI is run either in-process through typer's
`CliRunner` or as a real `mxcp-compact` subprocess; both give a `CliResult`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from itertools import count
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
#: The shared fixture (`../shared/fixtures/mxcp-project`), as laid beside the repo for CI.
SHARED_FIXTURE_DIR = REPO.parent / "shared" / "fixtures" / "mxcp-project"
#: A copy kept in the repo, so that `make test` works in a clone anywhere; test_fixture_copy.py
#: checks that it still equals the shared one wherever that is present.
VENDORED_FIXTURE_DIR = REPO / "tests" / "fixtures" / "mxcp-project"
FIXTURE_DIR = Path(
    os.environ.get("MXCP_COMPACT_FIXTURE", SHARED_FIXTURE_DIR if SHARED_FIXTURE_DIR.is_dir() else VENDORED_FIXTURE_DIR)
)
#: The instant the fixture README's table is computed for.
FIXTURE_NOW = "2026-11-27T00:00:00Z"
FIXTURE_NOW_DT = datetime(2026, 11, 27, tzinfo=timezone.utc)

#: Files of each profile of the fixture, relative to the project root.
PROFILE_FILES = {
    "default": (
        "audit/logs-default.jsonl",
        "audit/logs-default-20260730T000000.jsonl",
        "audit/logs-default-20260908T031238.jsonl",
        "audit/logs-default-20261018T062517.jsonl",
        "audit/logs-default-20261127T120000.jsonl",
    ),
    "production": ("audit/prod/logs-production-20251023T000000.jsonl",),
}

MXCP_ENV_VARS = ("MXCP_PROFILE", "MXCP_AUDIT_ENABLED")


# --- the fixture project -------------------------------------------------------------------------------


def make_writable(root: Path) -> None:
    """chmod u+w on `root` and everything under it (symlinks are left as they are)."""
    for directory, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            path = Path(directory) / name
            if not path.is_symlink():
                path.chmod(path.stat().st_mode | stat.S_IWUSR)
    root.chmod(root.stat().st_mode | stat.S_IWUSR)


@pytest.fixture
def fixture_project(tmp_path: Path) -> Path:
    """A writable copy of the MXCP fixture project; returns its root (holding mxcp-site.yml)."""
    if not (FIXTURE_DIR / "mxcp-site.yml").is_file():
        pytest.fail(f"the MXCP fixture project is missing: {FIXTURE_DIR}")
    project = tmp_path / "project"
    shutil.copytree(FIXTURE_DIR, project, symlinks=True)
    make_writable(project)
    return project


def fixture_table() -> dict[str, tuple[int, int, str | None, int]]:
    """The fixture README's table: relative path -> (lines, dropped, dropped schema key, kept)."""
    rows: dict[str, tuple[int, int, str | None, int]] = {}
    for line in (FIXTURE_DIR / "README.md").read_text(encoding="utf-8").splitlines():
        if not line.startswith("| audit/"):
            continue
        path, lines, dropped, kept = (cell.strip() for cell in line.strip().strip("|").split("|"))
        match = re.fullmatch(r"(\d+)(?: \(([^)]+)\))?", dropped)
        assert match is not None, line
        rows[path] = (int(lines), int(match[1]), match[2], int(kept))
    assert set(rows) == {p for files in PROFILE_FILES.values() for p in files}, rows
    return rows


def fixture_lines(relative: str) -> list[bytes]:
    """The lines (with their endings) of a file of the pristine fixture."""
    return (FIXTURE_DIR / relative).read_bytes().splitlines(keepends=True)


# --- snapshots of a tree -------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileState:
    digest: str
    mode: int
    inode: int
    mtime_ns: int
    link: str | None


def snapshot(root: Path) -> dict[str, FileState]:
    """Every file and symlink under `root` (relative path -> content digest, mode, inode, mtime).
    Runs lock the directory itself, so nothing of theirs may appear here."""
    states = {}
    for path in sorted(root.rglob("*")):
        if path.is_symlink():
            states[str(path.relative_to(root))] = FileState("", 0, 0, 0, str(path.readlink()))
        elif path.is_file():
            info = path.stat()
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            states[str(path.relative_to(root))] = FileState(digest, info.st_mode, info.st_ino, info.st_mtime_ns, None)
    return states


def content_snapshot(root: Path) -> dict[str, str]:
    """Relative path -> content digest (or symlink target)."""
    return {name: state.digest or f"-> {state.link}" for name, state in snapshot(root).items()}


# --- running the CLI -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


#: run(args, cwd=..., env=...) -> CliResult
RunCli = Callable[..., CliResult]


def console_script() -> list[str]:
    """The installed `mxcp-compact` next to this interpreter, else `python -m mxcp_compact`."""
    script = Path(sys.executable).with_name("mxcp-compact")
    return [str(script)] if script.exists() else [sys.executable, "-m", "mxcp_compact"]


def run_traced(command: Sequence[str], trace: Path, syscalls: str) -> subprocess.CompletedProcess[str]:
    """`command` run under strace, the `syscalls` (strace's `trace=` list) of every thread written
    to `trace`; skips the test where strace is missing or may not trace (a container's seccomp
    profile, Yama's ptrace_scope)."""
    if shutil.which("strace") is None:
        pytest.skip("strace is not installed (.ci/run installs it)")
    traced = subprocess.run(
        ["strace", "-f", "-qq", "-o", str(trace), "-e", f"trace={syscalls}", *command],
        capture_output=True,
        text=True,
        check=False,
    )
    if traced.returncode != 0 and "ptrace" in traced.stderr:
        pytest.skip(f"strace cannot trace here: {traced.stderr.strip()}")
    return traced


def run_in_process(
    args: Sequence[str | os.PathLike[str]], *, cwd: Path, env: Mapping[str, str | None] | None = None
) -> CliResult:
    """Runs the typer app through `CliRunner` with `cwd` as the working directory."""
    from typer.testing import CliRunner

    from mxcp_compact.cli import app

    previous = Path.cwd()
    os.chdir(cwd)
    try:
        result = CliRunner().invoke(app, [os.fspath(a) for a in args], env=dict(env or {}))
    finally:
        os.chdir(previous)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        # The CLI must turn every failure into a message and an exit status.
        raise AssertionError(f"uncaught exception from the CLI: {result.exception!r}") from result.exception
    return CliResult(result.exit_code, result.stdout, result.stderr)


def run_subprocess(
    args: Sequence[str | os.PathLike[str]], *, cwd: Path, env: Mapping[str, str | None] | None = None
) -> CliResult:
    """Runs the real `mxcp-compact` command in `cwd`."""
    full_env = dict(os.environ)
    for key, value in (env or {}).items():
        if value is None:
            full_env.pop(key, None)
        else:
            full_env[key] = value
    completed = subprocess.run(
        [*console_script(), *(os.fspath(a) for a in args)],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
        check=False,
    )
    return CliResult(completed.returncode, completed.stdout, completed.stderr)


@pytest.fixture(autouse=True)
def _clean_mxcp_environment(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """MXCP_* variables of the developer's shell must not steer the tests, and each test has an
    incremental index of its own (never the machine's)."""
    for name in MXCP_ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MXCP_COMPACT_STATE_DIR", str(tmp_path_factory.mktemp("state")))


@pytest.fixture
def cli() -> RunCli:
    """Runs the CLI in-process (fast)."""
    return run_in_process


@pytest.fixture
def cli_subprocess() -> RunCli:
    """Runs the real `mxcp-compact` command."""
    return run_subprocess


@pytest.fixture(params=["in_process", "subprocess"])
def cli_any(request: pytest.FixtureRequest) -> RunCli:
    """Runs the CLI in-process and, as a second case, as a real subprocess."""
    return run_in_process if request.param == "in_process" else run_subprocess


# --- building logs -------------------------------------------------------------------------------------

_record_ids = count(1)


def record(schema: str, version: int | str | None, timestamp: str, **extra: Any) -> str:
    """One audit record as MXCP writes it, ending with "\\n".

    Keys in MXCP's order (schema_name, schema_version, record_id, timestamp, ...), Python's default
    `", "` / `": "` separators, non-ASCII written raw. `version=None` leaves schema_version out;
    `extra` adds or replaces keys after `timestamp`.
    """
    document: dict[str, Any] = {"schema_name": schema}
    if version is not None:
        document["schema_version"] = version
    document["record_id"] = extra.pop("record_id", f"rec-{next(_record_ids):06d}")
    document["timestamp"] = timestamp
    document.update(
        {
            "operation_type": "tool",
            "operation_name": "get_user",
            "operation_status": "success",
            "input_data": {"email": "zoe@example.com", "timestamp": "1999-12-31T23:59:59Z"},
            "output_data": {"name": "Zoë Müller"},
        }
    )
    document.update(extra)
    return json.dumps(document, ensure_ascii=False) + "\n"


def registry_line(schema: str, version: int, retention_days: Any, *, active: bool = True) -> str:
    """One line of a `<stem>_schemas.jsonl` schema registry, ending with "\\n"."""
    document = {
        "schema_name": schema,
        "version": version,
        "description": "test schema",
        "retention_days": retention_days,
        "created_at": "2026-01-01T00:00:00+00:00",
        "created_by": "system",
        "active": active,
    }
    return json.dumps(document) + "\n"


def write_log(path: Path, lines: Iterable[str | bytes]) -> bytes:
    """Writes the lines as they are (no separator added); returns the bytes written."""
    data = b"".join(line.encode("utf-8") if isinstance(line, str) else line for line in lines)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return data


def iso(instant: datetime) -> str:
    """An aware datetime as MXCP 0.12 writes it (`...Z`, microseconds only when non-zero)."""
    text = instant.astimezone(timezone.utc).replace(tzinfo=None).isoformat()
    return text + "Z"


SITE_YML = """\
mxcp: 1
project: test
profile: default
profiles:
  default:
    audit:
      enabled: true
"""


def write_site(root: Path, text: str = SITE_YML) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    site = root / "mxcp-site.yml"
    site.write_text(text, encoding="utf-8")
    return site
