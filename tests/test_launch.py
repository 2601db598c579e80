"""The entry point's quick parser: same request as the Typer CLI, or a hand-over to it."""

from __future__ import annotations

import inspect
import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from conftest import FIXTURE_NOW, content_snapshot
from mxcp_compact import cleanup
from mxcp_compact.cleanup_plan import plan_cleanup
from mxcp_compact.cli import app
from mxcp_compact.launch import parse_quick
from mxcp_compact.options import FLAG, OPTIONS, CleanupRequest

FLAGS = [option.flag for option in OPTIONS if option.kind == FLAG]
VALUED = [option.flag for option in OPTIONS if option.kind != FLAG]
ODD_TOKENS = ["--help", "-h", "--version", "--", "--bogus", "stats", "log-cleanup", "-", "--dry-run=1"]
VALUES = [
    "production",
    "",
    "-1",
    "0",
    "7",
    "007",
    "1.5",
    "1.",
    ".5",
    "1e3",
    "nan",
    "inf",
    "+3",
    " 2",
    "1_0",
    "a=b",
    "/tmp/x y",
    "none",
    "mxcp.endpoints=30",
    "2026-11-27",
    "\u0663",
    "{date}.jsonl.gz",
    "mxcp",
    "guide",
    "MXCP",
]


def typer_request(args: list[str]) -> CleanupRequest | None:
    """The request the Typer command hands to `cleanup.execute`, or None when it rejects `args`."""
    seen: list[CleanupRequest] = []

    def capture(request: CleanupRequest, started: float | None = None) -> int:
        seen.append(request)
        return 0

    with mock.patch.object(cleanup, "execute", capture):
        result = CliRunner().invoke(app, args)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return seen[0] if seen else None


tokens = st.one_of(
    st.sampled_from(FLAGS + VALUED + ODD_TOKENS),
    st.sampled_from(VALUES),
    st.text(max_size=6),
    st.tuples(st.sampled_from(FLAGS + VALUED), st.sampled_from(VALUES)).map(lambda pair: "=".join(pair)),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(tokens, max_size=8))
def test_the_quick_parser_builds_the_typer_request_or_hands_over(rest: list[str]) -> None:
    args = ["log-cleanup", *rest]
    quick = parse_quick(args)
    if quick is not None:
        assert quick == typer_request(args)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.sampled_from(FLAGS).map(lambda flag: [flag]),
            st.tuples(st.sampled_from(VALUED), st.sampled_from(VALUES)).map(list),
        ),
        max_size=6,
    )
)
def test_well_formed_command_lines_parse_alike(groups: list[list[str]]) -> None:
    args = ["log-cleanup", *(token for group in groups for token in group)]
    quick = parse_quick(args)
    if quick is not None:
        assert quick == typer_request(args)


def test_scheduled_command_lines_take_the_quick_path(fixture_project: Path) -> None:
    for args in (
        ["log-cleanup"],
        ["log-cleanup", "--profile", "production"],
        ["log-cleanup", "--profile=production", "--json"],
        ["log-cleanup", "--dry-run", "--path", "/var/log/mxcp", "--path", "/srv/audit.jsonl"],
        ["log-cleanup", "--wait", "300", "--threads", "2", "--retain", "mxcp.endpoints=365", "--retain", "app=none"],
        ["log-cleanup", "--emergency", "--now", "2026-11-27T00:00:00Z", "--audit-trail", "/var/log/trail.jsonl"],
        ["log-cleanup", "--output-style", "mxcp", "--json"],
        ["log-cleanup", "--output-style=guide", "--dry-run"],
        ["log-cleanup", "--wait", "300", "--profile", "production", "--metrics", "/var/lib/node_exporter/mxcp.prom"],
    ):
        quick = parse_quick(args)
        assert quick is not None, args
        assert quick == typer_request(args)
    emergency = parse_quick(["log-cleanup", "--emergency"])
    assert emergency == CleanupRequest(
        profile=None,
        dry_run=False,
        paths=(),
        retention_days=None,
        retain=(),
        now=None,
        wait=None,
        threads=0,
        in_place=False,
        emergency=True,
        config_file=None,
        audit_trail=None,
        archive=None,
    )
    # The request says what was given; the plan decides that --emergency compacts in place.
    assert plan_cleanup(emergency, fixture_project, {}).in_place


def test_the_options_are_declared_once() -> None:
    assert [option.field for option in OPTIONS] == list(CleanupRequest._fields)
    command = next(c for c in app.registered_commands if c.name == "log-cleanup")
    assert list(inspect.signature(command.callback).parameters) == list(CleanupRequest._fields)


def test_help_errors_and_other_commands_go_to_typer() -> None:
    for args in (
        [],
        ["--version"],
        ["log-cleanup", "--help"],
        ["log-cleanup", "--wait", "-1"],
        ["log-cleanup", "--profile"],
        ["log-cleanup", "--profile", "a", "--profile", "b"],
        ["log-cleanup", "--output-style", "MXCP"],
        ["log-cleanup", "--output-style", "json"],
        ["log-cleanup", "extra"],
        ["stats", "--json"],
    ):
        assert parse_quick(args) is None, args


def _console(args: list[str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "mxcp_compact", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _imported(importtime_stderr: str) -> set[str]:
    lines = importtime_stderr.splitlines()
    return {line.rsplit("|", 1)[1].strip() for line in lines if line.startswith("import time:")}


def test_the_scheduled_command_runs_without_importing_typer_or_click(fixture_project: Path) -> None:
    done = _console(["log-cleanup", "--dry-run", "--now", FIXTURE_NOW], fixture_project)
    assert done.returncode == 0, done.stderr
    assert "Total records that would be deleted: 346" in done.stdout
    imported = _imported(done.stderr)
    assert "mxcp_compact.cleanup" in imported
    assert not {"typer", "click", "mxcp_compact.metrics"} & imported


def test_the_scheduled_command_with_metrics_still_runs_without_typer_or_click(
    fixture_project: Path, tmp_path: Path
) -> None:
    prom = tmp_path / "cleanup.prom"
    done = _console(["log-cleanup", "--now", FIXTURE_NOW, "--metrics", str(prom)], fixture_project)
    assert done.returncode == 0, done.stderr
    imported = _imported(done.stderr)
    assert "mxcp_compact.metrics" in imported
    assert not {"typer", "click"} & imported
    assert "mxcp_compact_last_run_success" in prom.read_text()


#: Loaded for nothing a scheduled run needs, and costly with a cold page cache: dataclasses (with
#: inspect, ast, dis, tokenize), hashlib (OpenSSL's libcrypto, for the index file's name), typing.
_HEAVY = {"dataclasses", "inspect", "ast", "dis", "tokenize", "hashlib", "_hashlib", "typing"}


def test_the_scheduled_command_imports_no_dataclasses_hashlib_or_typing(fixture_project: Path, tmp_path: Path) -> None:
    dry = _console(["log-cleanup", "--dry-run", "--now", FIXTURE_NOW], fixture_project)
    assert dry.returncode == 0, dry.stderr
    assert not _HEAVY & _imported(dry.stderr)
    prom = tmp_path / "cleanup.prom"
    real = _console(["log-cleanup", "--wait", "300", "--now", FIXTURE_NOW, "--metrics", str(prom)], fixture_project)
    assert real.returncode == 0, real.stderr
    imported = _imported(real.stderr)
    assert {"mxcp_compact.index", "mxcp_compact.metrics"} <= imported
    assert not _HEAVY & imported


def test_help_and_usage_errors_still_come_from_typer(fixture_project: Path) -> None:
    shown = _console(["log-cleanup", "--help"], fixture_project)
    assert shown.returncode == 0
    assert "--retention-days" in shown.stdout
    assert "typer" in _imported(shown.stderr)
    rejected = _console(["log-cleanup", "--wait", "-1"], fixture_project)
    assert rejected.returncode == 2
    assert "Invalid value for '--wait'" in rejected.stderr
    assert "env var" not in rejected.stderr
    for endless in ("inf", "nan", "-inf"):
        refused = _console(["log-cleanup", "--dry-run", f"--wait={endless}"], fixture_project)
        assert refused.returncode == 2, endless
        assert "Invalid value for '--wait'" in refused.stderr and "Traceback" not in refused.stderr


def test_a_usage_error_of_a_json_run_is_the_json_error_document(fixture_project: Path) -> None:
    for args, message in (
        (["log-cleanup", "--json", "--bogus"], "No such option: --bogus"),
        (["log-cleanup", "--json", "--threads", "-1"], "Invalid value for '--threads'"),
        (["export", "--json", "--since"], "requires an argument"),
    ):
        done = _console(args, fixture_project)
        assert done.returncode == 2, args
        document = json.loads(done.stdout)
        assert document["status"] == "error" and message in document["message"], args
    # Without --json, one line where Click prints its three-line usage block.
    plain = _console(["log-cleanup", "--bogus"], fixture_project)
    assert plain.returncode == 2 and plain.stdout == ""
    errors = [line for line in plain.stderr.splitlines() if not line.startswith("import time:")]
    assert errors == ["Error: No such option: --bogus (see 'mxcp-compact log-cleanup --help')"]


@pytest.mark.parametrize(
    ("args", "refusal"),
    [
        (
            ["log-cleanup", "--dry-run", "--threads", "18446744073709551616"],
            "'--threads': 18446744073709551616 is not in the range 0<=x<=4096",
        ),
        (["log-cleanup", "--json", "--threads=4097"], "'--threads': 4097 is not in the range 0<=x<=4096"),
        (
            ["erase", "--json", "--where", "user_id=zoe", "--threads", "18446744073709551616"],
            "'--threads': 18446744073709551616 is not",
        ),
        (["erase", "--where", "user_id=zoe", "--threads", "-1"], "'--threads': -1 is not in the range 0<=x<=4096"),
        (["log-cleanup", "--json", "--wait", "1e20"], "'--wait': 1e+20 is not in the range 0<=x<=31536000"),
        (["log-cleanup", "--wait=31536001"], "'--wait': 31536001.0 is not in the range 0<=x<=31536000"),
        (["erase", "--where", "user_id=zoe", "--wait", "1e300"], "'--wait': 1e+300 is not in the range 0<=x<=31536000"),
    ],
)
def test_a_count_or_wait_out_of_range_is_a_usage_error_naming_the_range(
    fixture_project: Path, args: list[str], refusal: str
) -> None:
    """No "OverflowError" from the core's conversion, no panic adding a wait to the clock."""
    before = content_snapshot(fixture_project)
    done = _console(args, fixture_project)
    assert done.returncode == 2, done.stderr
    message = json.loads(done.stdout)["message"] if "--json" in args else done.stderr
    assert f"Invalid value for {refusal}" in message
    assert "env var" not in message and "OverflowError" not in message and "panicked" not in done.stderr
    assert content_snapshot(fixture_project) == before
    assert parse_quick(args) is None, "the quick parser leaves it to Click"


def test_a_settings_wait_beyond_a_year_is_refused(fixture_project: Path) -> None:
    (fixture_project / "mxcp-compact.toml").write_text("[cleanup]\nwait = 1e300\n")
    done = _console(["log-cleanup", "--json"], fixture_project)
    assert done.returncode == 2, done.stderr
    assert "cleanup.wait must be a number of seconds from 0 to 31536000" in json.loads(done.stdout)["message"]


def test_a_json_run_loads_orjson_while_the_logs_are_scanned(
    fixture_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loaded: list[str] = []
    real = cleanup._import_in_background
    monkeypatch.setattr(cleanup, "_import_in_background", lambda module: (loaded.append(module), real(module)))
    for args, expected in ((["--json"], ["orjson"]), ([], [])):
        loaded.clear()
        request = CleanupRequest(dry_run=True, now=FIXTURE_NOW, json_output=bool(args))
        previous = Path.cwd()
        os.chdir(fixture_project)
        try:
            assert cleanup.execute(request) == 0
        finally:
            os.chdir(previous)
        assert loaded == expected


def test_a_run_naming_one_log_file_starts_reading_it_before_the_plan(
    fixture_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mxcp_compact import _core, launch

    asked: list[Path] = []
    monkeypatch.setattr(_core, "prefetch", asked.append)
    monkeypatch.chdir(fixture_project)
    audit = fixture_project / "audit"
    one, other = audit / "logs-default.jsonl", audit / "logs-default-20261127T120000.jsonl"
    for paths, expected in (([one], [one]), ([audit], [audit]), ([one, other], []), ([], [])):
        asked.clear()
        named = [word for path in paths for word in ("--path", str(path))]
        monkeypatch.setattr(sys, "argv", ["mxcp-compact", "log-cleanup", "--dry-run", "--now", FIXTURE_NOW, *named])
        with pytest.raises(SystemExit) as done:
            launch.main()
        assert done.value.code == 0
        assert asked == expected


def test_a_fifo_named_as_the_log_is_refused_at_once_and_left_alone(tmp_path: Path) -> None:
    fifo = tmp_path / "logs-default.jsonl"
    os.mkfifo(fifo)
    for mode in (["--dry-run"], [], ["--in-place"]):
        # No writer ever opens the FIFO: a blocking open would wait for ever (the timeout fails it).
        done = _console(["log-cleanup", "--path", str(fifo), "--now", FIXTURE_NOW, *mode], tmp_path, timeout=60)
        assert done.returncode == 1, done.stderr
        assert f"{fifo}: not a regular file" in done.stderr
        assert stat.S_ISFIFO(fifo.stat().st_mode)


def test_a_fifo_among_the_logs_is_reported_and_the_other_logs_are_still_cleaned(fixture_project: Path) -> None:
    audit = fixture_project / "audit"
    args = ["log-cleanup", "--path", str(audit), "--now", FIXTURE_NOW]
    without = _console([*args, "--dry-run"], fixture_project)
    assert without.returncode == 0, without.stderr
    counted = [line for line in without.stdout.splitlines() if line.startswith("Total records")]
    assert counted and counted[0] != "Total records that would be deleted: 0"
    fifo = audit / "logs-default-20261130T000000.jsonl"
    os.mkfifo(fifo)
    dry = _console([*args, "--dry-run"], fixture_project, timeout=60)
    assert dry.returncode == 1, dry.stderr
    assert f"{fifo}: not a regular file" in dry.stderr
    assert counted[0] in dry.stdout
    real = _console(args, fixture_project, timeout=60)
    assert real.returncode == 1, real.stderr
    assert counted[0].replace(" that would be deleted", " deleted") in real.stdout
    assert stat.S_ISFIFO(fifo.stat().st_mode)


def test_ctrl_c_before_the_run_watches_for_it_exits_130_without_a_traceback(
    fixture_project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The quick path's KeyboardInterrupt (before the run installs its own handlers) gets the
    status of every stop request, as Typer's commands do (it maps it to 130)."""
    from mxcp_compact import launch

    def interrupted(*_args: object, **_kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cleanup, "execute", interrupted)
    monkeypatch.setattr(sys, "argv", ["mxcp-compact", "log-cleanup", "--dry-run"])
    monkeypatch.chdir(fixture_project)
    with pytest.raises(SystemExit) as stopped:
        launch.main()
    assert stopped.value.code == 130
    assert capsys.readouterr().err.strip() == "Aborted!"


def test_ctrl_c_while_click_builds_the_command_exits_130_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from mxcp_compact import cli

    def interrupted(_group: object, _args: list[str]) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_given_twice", interrupted)
    monkeypatch.setattr(sys, "argv", ["mxcp-compact", "verify"])
    with pytest.raises(SystemExit) as stopped:
        cli.main()
    assert stopped.value.code == 130
    assert capsys.readouterr().err.strip() == "Aborted!"
