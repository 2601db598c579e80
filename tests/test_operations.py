"""Operations around cleanup: the deletion trail (`--audit-trail`), scheduling (`schedule`), settings, `stats`,
archives and `export`."""

from __future__ import annotations

import itertools
import json
import os
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from conftest import FIXTURE_NOW, record, run_subprocess, write_log
from mxcp_compact.cli import app

RUNNER = CliRunner()


def invoke(*args: str, cwd: Path | None = None) -> tuple[int, str, str]:
    previous = Path.cwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        result = RUNNER.invoke(app, list(args), catch_exceptions=False)
    finally:
        os.chdir(previous)
    return result.exit_code, result.stdout, result.stderr


def test_audit_trail_appends_one_fsynced_json_line_per_run(fixture_project: Path, tmp_path: Path) -> None:
    trail = tmp_path / "trail" / "cleanup-audit.jsonl"
    trail.parent.mkdir()
    for extra in (["--dry-run"], [], []):
        code, _, _ = invoke(
            "log-cleanup", "--now", FIXTURE_NOW, "--audit-trail", str(trail), *extra, cwd=fixture_project
        )
        assert code == 0
    records = [json.loads(line) for line in trail.read_text().splitlines()]
    assert [r["dry_run"] for r in records] == [True, False, False]
    assert [r["status"] for r in records] == ["dry_run", "success", "success"]
    assert (
        records[0]["deleted_per_schema"]
        == records[1]["deleted_per_schema"]
        == {
            "mxcp.endpoints:1": 273,
            "mxcp.endpoints:2": 73,
        }
    )
    assert records[2]["deleted_per_schema"] == {}
    first = records[1]
    assert first["host"] == socket.gethostname()
    assert first["profile"] == "default"
    assert first["bytes_before"] - first["bytes_after"] == first["bytes_freed"] > 0
    assert {f["path"].split("/")[-1] for f in first["files"]} >= {"logs-default.jsonl"}
    assert first["time"].endswith("+00:00")


def test_audit_trail_that_cannot_be_written_fails_the_run_after_the_cleanup(
    fixture_project: Path, tmp_path: Path
) -> None:
    missing_dir = tmp_path / "no-such-dir" / "trail.jsonl"
    code, out, _ = invoke(
        "log-cleanup", "--now", FIXTURE_NOW, "--json", "--audit-trail", str(missing_dir), cwd=fixture_project
    )
    assert code == 1
    report = json.loads(out)
    assert report["status"] == "error"
    assert "cannot append the deletion trail" in report["message"]
    assert report["deleted_per_schema"] == {"mxcp.endpoints:1": 273, "mxcp.endpoints:2": 73}


def test_a_trail_line_cut_by_a_full_disk_is_taken_back_and_fails_the_run(tmp_path: Path) -> None:
    from test_safety import small_filesystem

    logs = tmp_path / "logs"
    logs.mkdir()
    write_log(logs / "a.jsonl", [record("mxcp.endpoints", 2, "2026-01-01T00:00:00Z")])
    with small_filesystem(tmp_path, "tmpfs", "64k") as mount:
        trail = mount / "trail.jsonl"
        earlier = '{"x": "' + "a" * 3980 + '"}\n'
        trail.write_text(earlier)
        # Fill the disk: about a hundred bytes stay free in the trail's last page.
        filler = os.open(mount / "fill", os.O_WRONLY | os.O_CREAT)
        try:
            with pytest.raises(OSError):
                while True:
                    os.write(filler, b"\0" * 4096)
        finally:
            os.close(filler)
        run = run_subprocess(
            ["log-cleanup", "--path", logs, "--now", FIXTURE_NOW, "--json", "--audit-trail", trail], cwd=tmp_path
        )
        assert run.exit_code == 1, run.stderr
        assert "cannot append the deletion trail: wrote" in run.json()["message"]
        assert trail.read_text() == earlier
        (mount / "fill").unlink()
        write_log(logs / "a.jsonl", [record("mxcp.endpoints", 2, "2026-01-02T00:00:00Z")])
        again = run_subprocess(
            ["log-cleanup", "--path", logs, "--now", FIXTURE_NOW, "--audit-trail", trail], cwd=tmp_path
        )
        assert again.exit_code == 0, again.stderr
        lines = trail.read_text().splitlines()
    assert lines[0] == earlier.rstrip("\n")
    assert [json.loads(line)["status"] for line in lines[1:]] == ["success"]


def test_a_trail_whose_last_line_a_crash_cut_gets_its_next_line_on_a_line_of_its_own(
    fixture_project: Path, tmp_path: Path
) -> None:
    trail = tmp_path / "trail.jsonl"
    trail.write_text('{"time": "2026-11-26T02:00:00+00:00", "host": "vm", "us')
    code, _, _ = invoke("log-cleanup", "--now", FIXTURE_NOW, "--audit-trail", str(trail), cwd=fixture_project)
    assert code == 0
    cut, line = trail.read_text().splitlines()
    assert cut.endswith('"us') and json.loads(line)["status"] == "success"


def test_an_archive_name_that_is_not_utf8_is_shown_escaped_in_the_report_and_the_trail(
    fixture_project: Path, tmp_path: Path
) -> None:
    archive = os.fsdecode(bytes(tmp_path) + b"/deleted-\xff.jsonl.gz")
    trail = tmp_path / "trail.jsonl"
    run = run_subprocess(
        ["log-cleanup", "--now", FIXTURE_NOW, "--json", "--archive", archive, "--audit-trail", trail],
        cwd=fixture_project,
    )
    assert run.exit_code == 0, run.stderr
    assert run.json()["archive"]["path"] == f"{tmp_path}/deleted-\\xff.jsonl.gz"
    assert json.loads(trail.read_text())["archive"] == f"{tmp_path}/deleted-\\xff.jsonl.gz"
    assert Path(archive).exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--cron", "--at", "61 25 * * *"], "the minute field '61' is not a crontab minute (0-59)"),
        (["--cron", "--at", "0 24 * * *"], "the hour field '24' is not a crontab hour (0-23)"),
        (["--kubernetes", "--user", "1000", "--at", "abc 2 * * *"], "the minute field 'abc'"),
        (["--compose", "--at", "0 2 32 * *"], "the day of month field '32'"),
        (["--cron", "--at", "0 2 * * mon-sun"], "the day of week field 'mon-sun'"),
        (["--cron", "--at", "*/0 2 * * *"], "the minute field '*/0'"),
        (["--systemd", "--at", "30 4 * * *"], "--at is for --cron, --compose and --kubernetes"),
        (["--cron", "--on-calendar", "weekly"], "--on-calendar is for --systemd; --cron takes --at"),
        # Kubernetes (robfig/cron) has no weekday 7.
        (["--kubernetes", "--user", "1000", "--at", "0 2 * * 5-7"], "the day of week field '5-7'"),
        # Cron takes these and never runs them.
        (["--cron", "--at", "0 2 30 2 *"], "day 30 of month 2 never occurs, so it would never run"),
        (["--compose", "--at", "0 2 31 apr,jun,sep,nov *"], "day 31 of month apr,jun,sep,nov never occurs"),
        (["--cron", "--at", "0 2 30-31 feb *"], "day 30-31 of month feb never occurs"),
    ],
)
def test_schedule_refuses_a_time_that_would_never_run_or_would_be_dropped(
    fixture_project: Path, args: list[str], message: str
) -> None:
    code, out, err = invoke("schedule", *args, cwd=fixture_project)
    assert code == 2, (out, err)
    assert out == "" and message in err


@pytest.mark.parametrize(
    ("at", "printed"),
    [
        ("30 3 * * 1-5", "30 3 * * 1-5"),
        ("*/15 1-5 * jan-mar mon-fri", "*/15 1-5 * jan-mar mon-fri"),
        ("0 0 31 12 7", "0 0 31 12 7"),
        # A leap day comes every four years; with a weekday too, cron runs on either.
        ("0 2 29 2 *", "0 2 29 2 *"),
        ("0 2 30 2 mon", "0 2 30 2 mon"),
        ("0 2 31 */2 *", "0 2 31 */2 *"),
        ("0 2 1/10 2 *", "0 2 1/10 2 *"),
        ("@daily", "@daily"),
        # Cron separates its fields by any run of blanks.
        ("30  3 * * *", "30 3 * * *"),
        ("0\t2 * * * ", "0 2 * * *"),
    ],
)
def test_schedule_takes_every_crontab_time_cron_takes(fixture_project: Path, at: str, printed: str) -> None:
    code, out, err = invoke("schedule", "--cron", "--at", at, cwd=fixture_project)
    assert code == 0 and out.startswith(f"{printed} cd "), err


def test_schedule_refuses_an_on_calendar_systemd_cannot_parse(fixture_project: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed here: without it the spec is not checked")
    code, out, err = invoke("schedule", "--systemd", "--on-calendar", "garbage", cwd=fixture_project)
    assert code == 2 and out == "" and "--on-calendar 'garbage': systemd cannot parse it" in err
    code, out, _ = invoke("schedule", "--systemd", "--on-calendar", "*-*-* 03:30:00", cwd=fixture_project)
    assert code == 0 and "OnCalendar=*-*-* 03:30:00\n" in out


def test_schedule_cron_prints_one_crontab_line_for_the_project(fixture_project: Path) -> None:
    code, out, _ = invoke("schedule", "--cron", "--profile", "production", cwd=fixture_project / "audit")
    assert code == 0
    lines = out.strip().splitlines()
    assert len(lines) == 1
    line = lines[0]
    assert line.startswith("0 2 * * * cd ")
    assert str(fixture_project.resolve()) in line, "the project root is found from a subdirectory"
    assert "log-cleanup --wait 300 --profile production" in line
    assert line.endswith(">> /var/log/mxcp/cleanup.log 2>&1")


def test_the_systemd_service_gives_the_incremental_index_a_state_directory_of_its_user(fixture_project: Path) -> None:
    code, out, _ = invoke("schedule", "--systemd", "--user", "audit", cwd=fixture_project)
    assert code == 0
    assert "StateDirectory=mxcp-compact\n" in out
    assert "Environment=MXCP_COMPACT_STATE_DIR=/var/lib/mxcp-compact\n" in out


def test_schedule_systemd_prints_service_and_timer_units(fixture_project: Path) -> None:
    code, out, _ = invoke("schedule", "--systemd", "--profile", "production", "--user", "audit", cwd=fixture_project)
    assert code == 0
    assert "# /etc/systemd/system/mxcp-log-cleanup.service" in out
    assert "# /etc/systemd/system/mxcp-log-cleanup.timer" in out
    for expected in (
        "Type=oneshot",
        "User=audit",
        "Group=audit",
        f"WorkingDirectory={fixture_project.resolve()}",
        "OnCalendar=daily",
        "Persistent=true",
        "RandomizedDelaySec=3600",
        "WantedBy=timers.target",
    ):
        assert expected in out, expected
    exec_start = next(line for line in out.splitlines() if line.startswith("ExecStart="))
    assert exec_start.endswith("log-cleanup --wait 300 --profile production")
    assert exec_start.split("=", 1)[1].startswith("/"), "an absolute command path for systemd"


@pytest.mark.parametrize("kind", ["--cron", "--systemd", "--compose"])
def test_a_schedule_for_a_profile_whose_audit_is_off_warns_that_each_run_skips_it(
    fixture_project: Path, kind: str
) -> None:
    code, out, err = invoke("schedule", kind, "--profile", "staging", cwd=fixture_project)
    assert code == 0 and "staging" in out
    assert err.strip().endswith(
        "warning: Audit logging is disabled for profile 'staging'. Each scheduled run skips it (exit 0)"
        " unless its environment sets MXCP_AUDIT_ENABLED=true."
    )
    code, _, err = invoke("schedule", kind, "--profile", "default", cwd=fixture_project)
    assert code == 0 and "Audit logging is disabled" not in err


def test_a_project_directory_ending_in_whitespace_is_refused_as_systemd_would_strip_it(tmp_path: Path) -> None:
    spaced = tmp_path / "project "
    spaced.mkdir()
    (spaced / "mxcp-site.yml").write_text(MINIMAL_SITE)
    for kind in ("--systemd", "--cron"):
        code, out, err = invoke("schedule", kind, "--working-dir", str(spaced))
        assert (code, out) == (2, ""), kind
        assert f"the project directory {str(spaced)!r} (--working-dir) begins or ends with whitespace" in err, kind


def test_a_schedule_cannot_be_steered_by_a_path_or_a_time(fixture_project: Path, tmp_path: Path) -> None:
    """A newline in the working directory added an ExecStartPre= line to the unit (and a second
    crontab line), shell text after --at ran in cron, and `%` was expanded by systemd and cron."""
    injected = tmp_path / "nl\nExecStartPre=touch PWNED"
    injected.mkdir()
    (injected / "mxcp-site.yml").write_text(MINIMAL_SITE)
    for kind in ("--systemd", "--cron", "--compose", "--kubernetes"):
        code, out, err = invoke("schedule", kind, "--working-dir", str(injected))
        assert (code, out) == (2, ""), kind
        assert "a control character cannot go into a schedule" in err, kind
    for at in ("0 2 * * * touch /tmp/x;", "0 2 * *", "0 2 * * *\n* * * * * rm -rf /"):
        for kind in ("--cron", "--kubernetes"):
            code, out, err = invoke("schedule", kind, "--at", at, cwd=fixture_project)
            assert (code, out) == (2, ""), (kind, at)
    percent = tmp_path / "with%percent"
    percent.mkdir()
    (percent / "mxcp-site.yml").write_text(MINIMAL_SITE)
    code, out, _ = invoke("schedule", "--systemd", "--working-dir", str(percent))
    assert code == 0 and f"WorkingDirectory={tmp_path}/with%%percent" in out
    code, out, _ = invoke("schedule", "--cron", "--working-dir", str(percent))
    assert code == 0 and f"cd {tmp_path}/with\\%percent &&" in out
    code, out, _ = invoke("schedule", "--cron", "--at", "@daily", cwd=fixture_project)
    assert code == 0 and out.startswith("@daily cd ")


#: A project with one profile, `default`, its audit logs in audit/.
MINIMAL_SITE = "mxcp: 1\nproject: p\nprofiles:\n  default:\n    audit:\n      enabled: true\n"
SCHEDULE_KINDS = ["--cron", "--systemd", "--compose", "--kubernetes"]


@pytest.mark.parametrize("kind", SCHEDULE_KINDS)
def test_schedule_refuses_an_unknown_profile_as_log_cleanup_does(fixture_project: Path, kind: str) -> None:
    """A unit or crontab line for a profile the site does not have made every run fail."""
    expected = invoke("log-cleanup", "--profile", "NOPE", cwd=fixture_project)
    assert expected[:2] == (2, "")
    assert expected[2] == (
        f"Error: unknown profile 'NOPE' in {fixture_project.resolve()}/mxcp-site.yml"
        " (profiles: default, production, staging)\n"
    )
    assert invoke("schedule", kind, "--profile", "NOPE", cwd=fixture_project) == expected
    assert invoke("schedule", kind, "--profile", "NOPE", cwd=fixture_project / "audit") == expected
    other = fixture_project.parent / "elsewhere"
    other.mkdir()
    given = invoke("schedule", kind, "--profile", "NOPE", "--working-dir", str(fixture_project), cwd=other)
    assert given == expected


def test_schedule_refuses_an_unknown_profile_before_installing_anything(fixture_project: Path, tmp_path: Path) -> None:
    units = tmp_path / "units"
    units.mkdir()
    args = ["schedule", "--systemd", "--install", "--unit-dir", str(units), "--profile", "NOPE"]
    result = run_subprocess(args, cwd=fixture_project)
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr.startswith("Error: unknown profile 'NOPE' in ")
    assert list(units.iterdir()) == []


@pytest.mark.parametrize("kind", SCHEDULE_KINDS)
def test_schedule_without_profile_refuses_a_site_whose_default_profile_is_missing(
    tmp_path: Path, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --profile the scheduled run uses the site's profile (`profile:`, else `default`):
    the same check, as log-cleanup makes it; this shell's MXCP_PROFILE does not count, since the
    scheduled run's environment has none."""
    (tmp_path / "mxcp-site.yml").write_text(MINIMAL_SITE.replace("default:", "production:"))
    expected = invoke("log-cleanup", cwd=tmp_path)
    assert expected[0] == 2 and "unknown profile 'default'" in expected[2]
    assert invoke("schedule", kind, cwd=tmp_path) == expected
    monkeypatch.setenv("MXCP_PROFILE", "production")
    assert invoke("schedule", kind, cwd=tmp_path) == expected
    code, out, _ = invoke("schedule", kind, "--profile", "production", cwd=tmp_path)
    assert code == 0 and "--profile" in out


def test_schedule_outside_an_mxcp_project_is_refused_from_the_command_line(tmp_path: Path) -> None:
    """A crontab line that cd'd to wherever `schedule --cron` was typed, and units for it, ran
    a log-cleanup that failed every day with "no mxcp-site.yml": refused, like log-cleanup there."""
    from mxcp_compact.profiles import find_site

    assert find_site(tmp_path) is None, "the test needs a directory outside every MXCP project"
    cleanup = run_subprocess(["log-cleanup"], cwd=tmp_path)
    assert (cleanup.exit_code, cleanup.stdout) == (2, "")
    assert cleanup.stderr == (
        "Error: no mxcp-site.yml in this directory or its parents; run inside an MXCP project or pass --path\n"
    )
    no_project = "run inside an MXCP project or pass --working-dir"
    for kind in SCHEDULE_KINDS:
        result = run_subprocess(["schedule", kind], cwd=tmp_path)
        assert (result.exit_code, result.stdout) == (2, ""), kind
        assert result.stderr == f"Error: no mxcp-site.yml in this directory or its parents; {no_project}\n", kind


def test_schedule_with_a_working_dir_outside_an_mxcp_project_is_refused(tmp_path: Path, fixture_project: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    for kind in ("--cron", "--systemd"):
        code, out, err = invoke("schedule", kind, "--working-dir", str(empty), cwd=fixture_project)
        assert (code, out) == (2, ""), kind
        assert err == (
            f"Error: no mxcp-site.yml in {empty.resolve()} or its parents;"
            " pass the MXCP project's directory as --working-dir\n"
        ), kind
    # cron and systemd run log-cleanup in the directory, which finds the project above it as here...
    code, out, _ = invoke("schedule", "--cron", "--working-dir", str(fixture_project / "audit"), cwd=tmp_path)
    assert code == 0 and f"cd {fixture_project.resolve()}/audit && " in out
    # ...but the compose service sees that directory only.
    for directory in (empty, fixture_project / "audit"):
        code, out, err = invoke("schedule", "--compose", "--working-dir", str(directory), cwd=fixture_project)
        assert (code, out) == (2, "")
        assert err == (
            f"Error: no mxcp-site.yml in {directory.resolve()} (the container sees only that directory);"
            " pass the MXCP project's directory as --working-dir\n"
        )


def test_schedule_install_writes_the_units(tmp_path: Path, fixture_project: Path) -> None:
    unit_dir = tmp_path / "units"
    unit_dir.mkdir()
    code, out, _ = invoke("schedule", "--systemd", "--install", "--unit-dir", str(unit_dir), cwd=fixture_project)
    assert code == 0
    assert sorted(p.name for p in unit_dir.iterdir()) == ["mxcp-log-cleanup.service", "mxcp-log-cleanup.timer"]
    assert "systemctl daemon-reload" in out
    assert (unit_dir / "mxcp-log-cleanup.timer").stat().st_mode & 0o777 == 0o644


def test_schedule_needs_exactly_one_kind_and_install_is_systemd_only(fixture_project: Path) -> None:
    assert invoke("schedule", cwd=fixture_project)[0] == 2
    assert invoke("schedule", "--cron", "--systemd", cwd=fixture_project)[0] == 2
    code, _, err = invoke("schedule", "--cron", "--install", cwd=fixture_project)
    assert code == 2 and "crontab -e" in err


def test_schedule_install_into_an_unwritable_place_is_a_one_line_error(fixture_project: Path) -> None:
    code, _, err = invoke("schedule", "--systemd", "--install", "--unit-dir", "/nonexistent/units", cwd=fixture_project)
    assert code == 1
    assert err.startswith("Error: cannot write the units to /nonexistent/units")
    assert "Traceback" not in err


MISSING_USER = "mxcp-compact-test-no-such-user"


def test_schedule_with_a_missing_user_warns_how_to_create_it_and_still_prints_the_units(
    fixture_project: Path, tmp_path: Path
) -> None:
    result = run_subprocess(["schedule", "--systemd", "--user", MISSING_USER], cwd=fixture_project)
    assert result.exit_code == 0
    assert f"User={MISSING_USER}\nGroup={MISSING_USER}\n" in result.stdout
    assert "[Timer]" in result.stdout
    assert f"warning: user '{MISSING_USER}' does not exist on this machine" in result.stderr
    create = f"sudo useradd --system --user-group --no-create-home --shell /usr/sbin/nologin {MISSING_USER}"
    assert create in result.stderr
    assert "groupadd" not in result.stderr, "useradd --user-group already creates the group"
    units = tmp_path / "units"
    units.mkdir()
    args = ["schedule", "--systemd", "--install", "--unit-dir", str(units), "--user", MISSING_USER]
    installed = run_subprocess(args, cwd=fixture_project)
    assert installed.exit_code == 0
    assert sorted(p.name for p in units.iterdir()) == ["mxcp-log-cleanup.service", "mxcp-log-cleanup.timer"]
    assert create in installed.stderr


def test_schedule_with_a_missing_group_says_how_to_create_it(fixture_project: Path) -> None:
    result = run_subprocess(["schedule", "--systemd", "--user", "root", "--group", MISSING_USER], cwd=fixture_project)
    assert result.exit_code == 0
    assert f"Group={MISSING_USER}\n" in result.stdout
    assert result.stderr.splitlines() == [
        f"warning: group '{MISSING_USER}' does not exist on this machine, so the service cannot start;"
        f" create it with: sudo groupadd --system {MISSING_USER}"
    ]


def test_schedule_with_an_existing_user_warns_nothing(fixture_project: Path) -> None:
    result = run_subprocess(["schedule", "--systemd", "--user", "root"], cwd=fixture_project)
    assert (result.exit_code, result.stderr) == (0, "")
    assert "User=root\n" in result.stdout


def _timer_args(project: Path, *options: str) -> list[str]:
    """The words after the program in the ExecStart= line that `schedule --systemd` prints."""
    result = run_subprocess(["schedule", "--systemd", "--user", "root", *options], cwd=project)
    exec_start = next(line for line in result.stdout.splitlines() if line.startswith("ExecStart="))
    words = shlex.split(exec_start.removeprefix("ExecStart="))
    return words[words.index("log-cleanup") :]


def _compose_service(project: Path, *options: str, cwd: Path | None = None) -> dict:
    result = run_subprocess(["schedule", "--compose", *options], cwd=cwd or project)
    assert (result.exit_code, result.stderr) == (0, "")
    document = yaml.safe_load(result.stdout)
    assert list(document["services"]) == ["mxcp-log-cleanup"]
    return document


def test_schedule_compose_runs_the_timers_command_as_the_user_with_the_project_and_the_audit_volume(
    fixture_project: Path,
) -> None:
    options = ("--profile", "production", "--user", "1000", "--group", "1001")
    document = _compose_service(fixture_project, *options, cwd=fixture_project / "audit")
    service = document["services"]["mxcp-log-cleanup"]
    assert service["command"] == ["mxcp-compact", *_timer_args(fixture_project, "--profile", "production")]
    assert service["command"] == ["mxcp-compact", "log-cleanup", "--wait", "300", "--profile", "production"]
    assert service["user"] == "1000:1001"
    project = str(fixture_project.resolve())
    assert service["working_dir"] == project, "the project root is found from a subdirectory"
    assert {"type": "bind", "source": project, "target": project} in service["volumes"], "mxcp-site.yml inside"
    audit = {"type": "volume", "source": "mxcp-audit", "target": f"{project}/audit/prod"}
    assert audit in service["volumes"], "the volume at the directory of the profile's audit.path"
    assert document["volumes"] == {"mxcp-audit": {}}
    assert (service["image"], service["restart"]) == ("mxcp-compact:latest", "unless-stopped")
    assert service["entrypoint"][:2] == ["/bin/sh", "-c"]


def test_schedule_compose_takes_user_names_an_image_and_a_volume_name(fixture_project: Path) -> None:
    options = ("--user", "mxcp", "--image", "registry.example/mxcp:0.12", "--claim", "audit-logs")
    document = _compose_service(fixture_project, *options)
    service = document["services"]["mxcp-log-cleanup"]
    assert (service["user"], service["image"]) == ("mxcp:mxcp", "registry.example/mxcp:0.12")
    project = str(fixture_project.resolve())
    assert {"type": "volume", "source": "audit-logs", "target": f"{project}/audit"} in service["volumes"]
    assert document["volumes"] == {"audit-logs": {}}
    assert service["command"] == ["mxcp-compact", *_timer_args(fixture_project)], "no --profile: the site's"


def test_schedule_kubernetes_for_a_project_only_its_image_holds_mounts_the_default_audit_directory_and_warns(
    tmp_path: Path,
) -> None:
    """The image holds the project at --working-dir, which this machine need not have: the
    manifests are printed, and a warning says what could not be checked."""
    image_project = tmp_path / "opt" / "mxcp"
    args = ["schedule", "--kubernetes", "--working-dir", str(image_project), "--user", "1000", "--profile", "prod"]
    result = run_subprocess(args, cwd=tmp_path)
    assert result.exit_code == 0
    _, job = yaml.safe_load_all(result.stdout)
    (container,) = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["log-cleanup", "--wait", "300", "--profile", "prod"]
    assert container["volumeMounts"] == [{"name": "audit", "mountPath": f"{image_project}/audit"}]
    assert result.stderr == (
        f"warning: no mxcp-site.yml in {image_project} on this machine, so the profile and the audit directory"
        f" ({image_project}/audit) are not checked; the image must hold the MXCP project there\n"
    )


def _container_argv(service: dict) -> list[str]:
    # Compose turns `$$` into `$` before the container starts.
    return [word.replace("$$", "$") for word in service["entrypoint"] + service["command"]]


def _run_compose_loop(project: Path, tmp_path: Path, clock: str, tool: str) -> tuple[subprocess.CompletedProcess, list]:
    """Runs the service's entrypoint + command as the container would, with fake `date`, `sleep` and
    `mxcp-compact` commands; the fake sleep stops the loop as `docker stop` does."""
    document = _compose_service(project, "--at", "30 2 * * *", "--profile", "production")
    argv = _container_argv(document["services"]["mxcp-log-cleanup"])
    calls = tmp_path / "calls"
    epoch = int(datetime.fromisoformat(f"2026-11-27T{clock}+00:00").timestamp())
    fakes = {
        "mxcp-compact": f'echo "mxcp-compact $*" >> {calls}\n{tool}',
        "date": f"echo {epoch}",
        "sleep": f'echo "sleep $*" >> {calls}\nkill -TERM $PPID',
    }
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in fakes.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin"}
    completed = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)
    return completed, calls.read_text().splitlines()


@pytest.mark.parametrize(("clock", "delay"), [("01:00:00", 5400), ("02:30:00", 86400), ("02:30:01", 86399)])
def test_schedule_compose_loop_cleans_up_at_start_then_sleeps_until_the_daily_time(
    fixture_project: Path, tmp_path: Path, clock: str, delay: int
) -> None:
    completed, calls = _run_compose_loop(fixture_project, tmp_path, clock, "exit 0")
    assert completed.returncode == 0, "stopped by SIGTERM, the loop exits 0"
    assert calls == ["mxcp-compact log-cleanup --wait 300 --profile production", f"sleep {delay}"]
    assert completed.stdout == f"mxcp-log-cleanup: next cleanup in {delay} s, at 02:30 UTC\n"
    assert completed.stderr == ""


def test_schedule_compose_loop_goes_on_after_a_failed_cleanup(fixture_project: Path, tmp_path: Path) -> None:
    completed, calls = _run_compose_loop(fixture_project, tmp_path, "03:00:00", "exit 1")
    assert completed.returncode == 0
    assert calls == ["mxcp-compact log-cleanup --wait 300 --profile production", "sleep 84600"]
    assert completed.stderr == "mxcp-log-cleanup: the cleanup exited with status 1\n"


def test_schedule_compose_loop_stops_at_once_on_sigterm_leaving_no_sleep_behind(fixture_project: Path) -> None:
    service = _compose_service(fixture_project)["services"]["mxcp-log-cleanup"]
    service["command"] = ["true"]
    with subprocess.Popen(_container_argv(service), stdout=subprocess.PIPE, text=True) as loop:
        assert "next cleanup in" in loop.stdout.readline()
        children = Path(f"/proc/{loop.pid}/task/{loop.pid}/children")
        deadline = time.monotonic() + 10
        while not children.read_text().split() and time.monotonic() < deadline:
            time.sleep(0.01)  # until the sleep has started: a signal before it stops the loop anyway
        loop.send_signal(signal.SIGTERM)
        assert loop.wait(timeout=10) == 0
        out, _ = loop.communicate(timeout=10)  # times out if a sleep still holds the output open
    assert out == ""


def test_schedule_kubernetes_is_a_cronjob_running_the_timers_command_and_the_claim_it_mounts(
    fixture_project: Path,
) -> None:
    options = ["--profile", "production", "--user", "1000", "--group", "1001", "--at", "15 3 * * *"]
    options += ["--namespace", "mxcp", "--image", "registry.example/mxcp:0.12"]
    result = run_subprocess(["schedule", "--kubernetes", *options], cwd=fixture_project)
    assert (result.exit_code, result.stderr) == (0, "")
    claim, job = yaml.safe_load_all(result.stdout)
    assert (claim["apiVersion"], claim["kind"]) == ("v1", "PersistentVolumeClaim")
    assert claim["metadata"]["name"] == "mxcp-audit"
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"], "the MXCP server mounts the same claim"
    assert (job["apiVersion"], job["kind"], job["metadata"]["name"]) == ("batch/v1", "CronJob", "mxcp-log-cleanup")
    assert claim["metadata"]["namespace"] == job["metadata"]["namespace"] == "mxcp"
    spec = job["spec"]
    assert (spec["schedule"], spec["concurrencyPolicy"]) == ("15 3 * * *", "Forbid")
    assert spec["startingDeadlineSeconds"] > 0
    assert spec["successfulJobsHistoryLimit"] > 0 and spec["failedJobsHistoryLimit"] > 0
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "OnFailure"
    assert pod["securityContext"] == {"runAsUser": 1000, "runAsGroup": 1001, "fsGroup": 1001}
    (container,) = pod["containers"]
    assert container["command"] == ["mxcp-compact"]
    assert container["args"] == _timer_args(fixture_project, "--profile", "production")
    assert container["image"] == "registry.example/mxcp:0.12"
    assert container["workingDir"] == str(fixture_project.resolve())
    (mount,) = container["volumeMounts"]
    (volume,) = pod["volumes"]
    assert mount == {"name": volume["name"], "mountPath": f"{fixture_project.resolve()}/audit/prod"}
    assert volume["persistentVolumeClaim"] == {"claimName": "mxcp-audit"}


def test_schedule_kubernetes_with_user_names_leaves_the_ids_to_the_image_and_warns(fixture_project: Path) -> None:
    result = run_subprocess(["schedule", "--kubernetes", "--claim", "audit-logs"], cwd=fixture_project)
    assert result.exit_code == 0
    claim, job = yaml.safe_load_all(result.stdout)
    assert "namespace" not in claim["metadata"] and "namespace" not in job["metadata"]
    assert claim["metadata"]["name"] == "audit-logs"
    pod = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert "securityContext" not in pod
    assert pod["volumes"][0]["persistentVolumeClaim"] == {"claimName": "audit-logs"}
    assert result.stderr.splitlines() == [
        "warning: Kubernetes takes numeric ids only: the pod's securityContext leaves out --user mxcp and"
        " --group mxcp, so the pod runs as the image's user; pass the MXCP server's ids, e.g. --user 1000 --group 1000"
    ]


def _one_line_error(args: list[str], project: Path) -> str:
    result = run_subprocess(["schedule", *args], cwd=project)
    assert (result.exit_code, result.stdout) == (2, "")
    (line,) = result.stderr.splitlines()
    assert line.startswith("Error: ")
    return line


@pytest.mark.parametrize("kinds", list(itertools.combinations(["--cron", "--systemd", "--compose", "--kubernetes"], 2)))
def test_schedule_refuses_two_kinds_at_once(fixture_project: Path, kinds: tuple[str, str]) -> None:
    line = _one_line_error(list(kinds), fixture_project)
    assert line == "Error: choose one of --cron, --systemd, --compose or --kubernetes"


@pytest.mark.parametrize(
    ("kind", "instead"),
    [
        ("--compose", "`docker compose -f docker-compose.yml -f mxcp-log-cleanup.yml up -d`"),
        ("--kubernetes", "`kubectl apply -f mxcp-log-cleanup.yaml`"),
    ],
)
def test_schedule_install_is_for_systemd_only(fixture_project: Path, kind: str, instead: str) -> None:
    line = _one_line_error([kind, "--install"], fixture_project)
    assert line.startswith("Error: --install writes systemd units;") and line.endswith(instead)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--compose", "--at", "*/5 * * * *"], "--compose runs once a day: --at must be 'MINUTE HOUR * * *'"),
        (["--compose", "--at", "0 24 * * *"], "the hour field '24' is not a crontab hour (0-23)"),
        (["--compose", "--claim", "Audit_Logs"], "--claim 'Audit_Logs': expected lowercase letters"),
        (["--kubernetes", "--namespace", "mxcp.prod"], "--namespace 'mxcp.prod': expected lowercase letters"),
        (["--kubernetes", "--profile", "nope"], "unknown profile 'nope'"),
    ],
)
def test_schedule_container_option_mistakes_are_one_line_errors(
    fixture_project: Path, args: list[str], message: str
) -> None:
    assert message in _one_line_error(args, fixture_project)


@pytest.mark.parametrize("kind", ["--compose", "--kubernetes"])
def test_schedule_containers_refuse_an_audit_volume_that_would_hide_the_project(tmp_path: Path, kind: str) -> None:
    site = "mxcp: 1\nproject: p\nprofile: default\nprofiles:\n  default:\n    audit:\n      path: logs.jsonl\n"
    (tmp_path / "mxcp-site.yml").write_text(site)
    assert "would hide mxcp-site.yml" in _one_line_error([kind], tmp_path)


def _log_with_months(path: Path, months: list[str]) -> None:
    write_log(path, [record("mxcp.endpoints", 2, f"{month}-15T12:00:00Z") for month in months])


def _month_section(text: str) -> list[str]:
    return text.split("Per month (UTC):\n", 1)[1].split("\n\n", 1)[0].splitlines()


def test_stats_shows_months_without_records_between_the_first_and_the_last(tmp_path: Path) -> None:
    log = tmp_path / "logs-default.jsonl"
    _log_with_months(log, ["2026-01", "2026-01", "2026-04", "2026-05"])
    result = run_subprocess(["stats", "--path", str(log), "--now", FIXTURE_NOW], cwd=tmp_path)
    assert result.exit_code == 0, result.stderr
    section = _month_section(result.stdout)
    assert [line.split()[0] for line in section] == ["2026-01", "2026-02", "2026-03", "2026-04", "2026-05"]
    assert section[1] == f"  {'2026-02':<14} {0:>10} {'0 B':>11}", "0 records and an empty bar"
    assert section[2] == f"  {'2026-03':<14} {0:>10} {'0 B':>11}"
    assert all(line.endswith("█") for line in (section[0], section[3], section[4]))


def test_stats_json_lists_months_without_records_as_zero(tmp_path: Path) -> None:
    log = tmp_path / "logs-default.jsonl"
    _log_with_months(log, ["2025-11", "2026-02"])
    result = run_subprocess(["stats", "--json", "--path", str(log), "--now", FIXTURE_NOW], cwd=tmp_path)
    months = json.loads(result.stdout)["months"]
    assert list(months) == ["2025-11", "2025-12", "2026-01", "2026-02"]
    assert months["2025-12"] == months["2026-01"] == {"records": 0, "bytes": 0}
    assert months["2025-11"]["records"] == months["2026-02"]["records"] == 1


def test_stats_text_shows_a_gap_of_more_than_a_year_as_one_line(tmp_path: Path) -> None:
    log = tmp_path / "logs-default.jsonl"
    _log_with_months(log, ["2023-12", "2025-02", "2025-04"])
    result = run_subprocess(["stats", "--path", str(log), "--now", FIXTURE_NOW], cwd=tmp_path)
    section = _month_section(result.stdout)
    assert section[1] == "  2024-01 to 2025-01: no records (13 months)"
    assert [line.split()[0] for line in section] == ["2023-12", "2024-01", "2025-02", "2025-03", "2025-04"]


def _stats(log: Path, *options: str) -> str:
    result = run_subprocess(["stats", *options, "--path", str(log), "--now", FIXTURE_NOW], cwd=log.parent)
    assert (result.exit_code, result.stderr) == (0, "")
    return result.stdout


def test_stats_reports_a_record_at_the_last_instant_of_year_9999_exactly(tmp_path: Path) -> None:
    log = tmp_path / "a.jsonl"
    log.write_text(
        '{"schema_name": "mxcp.endpoints", "schema_version": 2, "timestamp": "9999-12-31T23:59:59.9999999Z"}\n'
    )
    text = _stats(log)
    assert "Oldest record: 9999-12-31T23:59:59+00:00   newest: 9999-12-31T23:59:59+00:00\n" in text
    assert [line.split()[:2] for line in _month_section(text)] == [["9999-12", "1"]]
    report = json.loads(_stats(log, "--json"))
    assert (report["oldest"], report["newest"]) == ("9999-12-31T23:59:59+00:00", "9999-12-31T23:59:59+00:00")
    assert report["months"] == {"9999-12": {"records": 1, "bytes": log.stat().st_size}}


def test_stats_reports_the_first_instant_of_year_1_and_offsets_into_year_0_and_year_10000(tmp_path: Path) -> None:
    log = tmp_path / "a.jsonl"
    stamps = [
        "0001-01-01T00:00:00Z",
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",
        "2026-11-27T05:30:00+05:30",
    ]
    write_log(log, [record("mxcp.endpoints", 2, stamp) for stamp in stamps])
    text = _stats(log)
    assert "Oldest record: 0000-12-31T23:00:00+00:00   newest: 10000-01-01T00:59:59+00:00\n" in text
    assert [line.split()[0] for line in _month_section(text)] == [
        "0000-12",
        "0001-01",
        "0001-02",
        "2026-11",
        "2026-12",
        "10000-01",
    ]
    assert _month_section(text)[2] == "  0001-02 to 2026-10: no records (24309 months)"
    assert _month_section(text)[4] == "  2026-12 to 9999-12: no records (95677 months)"
    report = json.loads(_stats(log, "--json"))
    assert (report["oldest"], report["newest"]) == ("0000-12-31T23:00:00+00:00", "10000-01-01T00:59:59+00:00")
    months = list(report["months"])
    assert months[:3] == ["0000-12", "0001-01", "0001-02"] and months[-2:] == ["9999-12", "10000-01"]
    assert len(months) == 10_000 * 12 - 11 + 1
    assert [report["months"][m]["records"] for m in ("0000-12", "0001-01", "2026-11", "10000-01")] == [1, 1, 1, 1]


def test_settings_file_beside_the_site_sets_retention_and_the_trail(fixture_project: Path) -> None:
    (fixture_project / "mxcp-compact.toml").write_text(
        '[retention]\nschemas = { "mxcp.endpoints" = "none" }\n\n[cleanup]\naudit_trail = "cleanup-audit.jsonl"\n'
    )
    code, out, _ = invoke("log-cleanup", "--now", FIXTURE_NOW, "--json", "--dry-run", cwd=fixture_project)
    assert code == 0
    assert json.loads(out)["deleted_per_schema"] == {}, "the file keeps mxcp.endpoints forever"
    assert len((fixture_project / "cleanup-audit.jsonl").read_text().splitlines()) == 1


def test_command_line_beats_the_settings_file_which_beats_the_registry(fixture_project: Path) -> None:
    (fixture_project / "mxcp-compact.toml").write_text("[retention]\ndefault_days = 100000\n")
    _, out, _ = invoke("log-cleanup", "--now", FIXTURE_NOW, "--json", "--dry-run", cwd=fixture_project)
    assert json.loads(out)["deleted_per_schema"] == {}, "the file's default beats the registry's 90 days"
    _, out, _ = invoke(
        "log-cleanup", "--now", FIXTURE_NOW, "--json", "--dry-run", "--retention-days", "90", cwd=fixture_project
    )
    assert json.loads(out)["deleted_per_schema"] == {"mxcp.endpoints:1": 273, "mxcp.endpoints:2": 73}
    _, out, _ = invoke(
        "log-cleanup", "--now", FIXTURE_NOW, "--json", "--dry-run", "--retain", "mxcp.endpoints=90", cwd=fixture_project
    )
    assert json.loads(out)["deleted_per_schema"] == {"mxcp.endpoints:1": 273, "mxcp.endpoints:2": 73}


def test_explicit_config_file_with_path_mode(fixture_project: Path, tmp_path: Path) -> None:
    settings = tmp_path / "settings.toml"
    settings.write_text('[retention.schemas]\n"mxcp.endpoints" = 200\n')
    log = fixture_project / "audit" / "logs-default.jsonl"
    now = datetime(2026, 11, 27, tzinfo=timezone.utc)
    expected = sum(
        1
        for line in log.read_text().splitlines()
        if (now - datetime.fromisoformat(json.loads(line)["timestamp"])).days > 200
    )
    assert 0 < expected < 273
    code, out, _ = invoke(
        "log-cleanup",
        "--now",
        FIXTURE_NOW,
        "--json",
        "--dry-run",
        "--config",
        str(settings),
        "--path",
        str(log),
    )
    assert code == 0
    assert json.loads(out)["deleted_per_schema"] == {"mxcp.endpoints:1": expected}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[retention]\nschema = {}\n", "unknown key retention.schema"),
        ("[cleaning]\nwait = 1\n", "unknown section [cleaning]"),
        ("[retention]\ndefault_days = -1\n", "must not be negative"),
        ("[retention]\ndefault_days = 1.5\n", "whole number of days"),
        ("[cleanup]\nwait = -3\n", "cleanup.wait"),
        ("[cleanup]\nwait = inf\n", "cleanup.wait"),
        ("[cleanup]\nwait = nan\n", "cleanup.wait"),
        ("[retention\n", "invalid TOML"),
    ],
)
def test_bad_settings_file_is_a_one_line_error_naming_the_file(fixture_project: Path, text: str, message: str) -> None:
    (fixture_project / "mxcp-compact.toml").write_text(text)
    code, _, err = invoke("log-cleanup", "--now", FIXTURE_NOW, "--dry-run", cwd=fixture_project)
    assert code == 2
    assert message in err and "mxcp-compact.toml" in err
    assert len(err.strip().splitlines()) == 1


def test_stats_counts_schemas_months_and_what_a_cleanup_would_delete(fixture_project: Path) -> None:
    code, out, _ = invoke("stats", "--now", FIXTURE_NOW, "--json", cwd=fixture_project)
    assert code == 0
    report = json.loads(out)
    assert report["would_delete"]["records"] == 346
    assert report["schemas"]["mxcp.endpoints:1"]["would_delete"] == 273
    assert report["schemas"]["mxcp.endpoints:2"]["would_delete"] == 73
    assert report["schemas"]["mxcp.endpoints:1"]["retention"] == "90 days"
    assert sum(m["records"] for m in report["months"].values()) == report["lines"] == 600
    assert sum(m["bytes"] for m in report["months"].values()) == report["total_bytes"]
    sizes = {f["path"].split("/")[-1]: f["bytes"] for f in report["files"]}
    assert sizes["logs-default.jsonl"] == (fixture_project / "audit" / "logs-default.jsonl").stat().st_size
    assert report["oldest"] < report["newest"]
    assert report["growth_bytes_per_day"] > 0
    _, dry, _ = invoke("log-cleanup", "--now", FIXTURE_NOW, "--json", "--dry-run", cwd=fixture_project)
    assert json.loads(dry)["deleted_per_schema"] == {"mxcp.endpoints:1": 273, "mxcp.endpoints:2": 73}


def test_stats_text_has_a_table_and_a_bar_per_month(fixture_project: Path) -> None:
    code, out, _ = invoke("stats", "--now", FIXTURE_NOW, cwd=fixture_project)
    assert code == 0
    assert "Per schema:" in out and "Per month (UTC):" in out
    month_lines = [line for line in out.splitlines() if line.startswith("  2026-")]
    assert month_lines and all("█" in line for line in month_lines)
    assert "A cleanup now would delete 346 records" in out


@pytest.mark.parametrize(("limit", "code"), [("1G", 0), ("400K", 1), ("0.1M", 1)])
def test_stats_warn_size_exits_1_above_the_limit(fixture_project: Path, limit: str, code: int) -> None:
    assert invoke("stats", "--now", FIXTURE_NOW, "--warn-size", limit, cwd=fixture_project)[0] == code


@pytest.mark.parametrize(
    ("text", "size"), [("2048", 2048), ("1.5K", 1536), ("9223372036854775807", 2**63 - 1), ("1.5GiB", 3 << 29)]
)
def test_a_warn_size_is_read_exactly(text: str, size: int) -> None:
    from mxcp_compact.stats import parse_size

    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["18446744073709551615", "16777216T", "8388608T"])
def test_a_warn_size_beyond_8_eib_is_a_usage_error_also_with_json(fixture_project: Path, text: str) -> None:
    result = run_subprocess(["stats", "--json", "--now", FIXTURE_NOW, "--warn-size", text], cwd=fixture_project)
    assert result.exit_code == 2, result.stderr
    assert json.loads(result.stdout)["message"].endswith(
        "more than the largest size, 9223372036854775807 bytes (8 EiB)"
    )
    assert "Traceback" not in result.stderr


def test_a_retention_beyond_32_bits_says_it_is_too_large_and_the_api_names_forever(tmp_path: Path) -> None:
    from mxcp_compact import ConfigError, compact

    log = tmp_path / "a.jsonl"
    write_log(log, [record("mxcp.endpoints", 2, "2020-01-01T00:00:00Z")])
    result = run_subprocess(["verify", "--path", log, "--retain", f"mxcp.endpoints={10**20}"], cwd=tmp_path)
    assert result.exit_code == 2
    assert f"{10**20} days is more than the largest retention, 4294967295 days" in result.stderr
    with pytest.raises(ConfigError, match=r"more than the largest retention"):
        compact(log, retention={"mxcp.endpoints": 2**63}, dry_run=True)
    with pytest.raises(ConfigError, match=r"or FOREVER \('forever'\), not 'none'"):
        compact(log, retention={"mxcp.endpoints": "none"}, dry_run=True)


def test_stats_counts_a_file_it_cannot_read_at_its_size(tmp_path: Path) -> None:
    import gzip

    logs = tmp_path / "logs"
    logs.mkdir()
    cut = logs / "t.jsonl.gz"
    cut.write_bytes(gzip.compress(b'{"a": 1}\n' * 100_000)[:1000])
    metrics = tmp_path / "stats.prom"
    result = run_subprocess(["stats", "--path", logs, "--warn-size", "1", "--metrics", metrics], cwd=tmp_path)
    assert result.exit_code == 1
    assert "Audit logs: 1 files, 1000 B, 0 lines" in result.stdout
    assert "Size limit 1 B: EXCEEDED (1000 B)" in result.stdout
    assert 'mxcp_compact_log_bytes{command="stats",profile=""} 1000' in metrics.read_text()


def test_stats_bad_warn_size_is_a_usage_error(fixture_project: Path) -> None:
    code, _, err = invoke("stats", "--warn-size", "lots", cwd=fixture_project)
    assert code == 2 and "--warn-size" in err


def _decompress(path: Path) -> bytes:
    import gzip
    import shutil
    import subprocess

    if path.name.endswith(".gz"):
        return gzip.decompress(path.read_bytes())
    if path.name.endswith(".zst"):
        if shutil.which("zstd") is None:
            pytest.skip("the zstd command is not installed to read the archive back")
        return subprocess.run(["zstd", "-dc", str(path)], capture_output=True, check=True).stdout
    return path.read_bytes()


@pytest.mark.parametrize("name", ["deleted-{date}.jsonl.gz", "deleted-{date}.jsonl.zst", "deleted-{date}.jsonl"])
def test_archive_plus_kept_lines_equal_the_input(fixture_project: Path, tmp_path: Path, name: str) -> None:
    logs = sorted((fixture_project / "audit").glob("logs-default*.jsonl"))
    logs = [p for p in logs if not p.name.endswith("_schemas.jsonl")]
    before = {p.name: p.read_bytes() for p in logs}
    code, out, _ = invoke(
        "log-cleanup", "--now", FIXTURE_NOW, "--json", "--archive", str(tmp_path / name), cwd=fixture_project
    )
    assert code == 0
    report = json.loads(out)
    archive = tmp_path / name.replace("{date}", "20261127")
    assert report["archive"]["path"] == str(archive)
    assert report["archive"]["lines"] == 346
    archived = _decompress(archive).splitlines(keepends=True)
    kept_after = {p.name: p.read_bytes() for p in logs if p.exists()}
    # Every input line is either kept in place or archived, once, in input order per file.
    for file_name, content in before.items():
        lines = content.splitlines(keepends=True)
        kept = kept_after.get(file_name, b"").splitlines(keepends=True)
        gone = [line for line in lines if line not in set(kept)]
        assert [line for line in lines if line in set(kept)] == kept
        for line in gone:
            assert line in archived
    assert len(archived) == sum(len(c.splitlines()) for c in before.values()) - sum(
        len(c.splitlines()) for c in kept_after.values()
    )
    import hashlib

    assert report["archive"]["sha256"] == hashlib.sha256(archive.read_bytes()).hexdigest()


@pytest.mark.parametrize("name", ["deleted-{date}.jsonl.gz", "deleted.jsonl.zst", "deleted-{date}.jsonl"])
def test_an_archive_among_the_logs_is_never_compacted_on_later_days(fixture_project: Path, name: str) -> None:
    audit = fixture_project / "audit"
    # `--path DIR` takes every `*.jsonl`, `.gz` and `.zst` file there (MXCP's own discovery, from
    # the profile, only its segments).
    archive_arg, where = str(audit / name), ("--path", str(audit))
    code, out, _ = invoke("log-cleanup", *where, "--now", FIXTURE_NOW, "--json", "--archive", archive_arg)
    assert code == 0 and json.loads(out)["archive"]["lines"] == 346
    first = audit / name.replace("{date}", "20261127")
    first_bytes, first_lines = first.read_bytes(), _decompress(first)
    # The next day (a new segment holding an old record), and the day after, in the same directory.
    (audit / "logs-default-20200101T000000.jsonl").write_text(
        json.dumps({"schema_name": "mxcp.endpoints", "schema_version": 2, "timestamp": "2020-01-01T00:00:00Z"}) + "\n"
    )
    archived = {"2026-11-27": 346}
    for day in ("2026-11-28", "2026-11-29"):
        code, out, err = invoke("log-cleanup", *where, "--now", f"{day}T00:00:00Z", "--json", "--archive", archive_arg)
        assert code == 0, err
        report = json.loads(out)
        assert any("the archives that --archive" in note for note in report["notes"])
        assert str(first) not in [file["path"] for file in report["files"]]
        archived[day] = report["archive"]["lines"] if report["archive"] else 0
    assert archived["2026-11-28"] >= 1, "the new segment's old record"
    if "{date}" in name:
        assert first.read_bytes() == first_bytes, "yesterday's archive is left as it was"
        next_day = _decompress(audit / name.replace("{date}", "20261128"))
        assert len(next_day.splitlines()) == archived["2026-11-28"]
    else:
        # One archive for every day: the next runs appended to it, and nothing was taken out.
        assert _decompress(first).startswith(first_lines)
        assert len(_decompress(first).splitlines()) == sum(archived.values())


def test_an_output_file_that_is_a_log_a_registry_or_no_regular_file_is_refused_before_anything(
    fixture_project: Path, tmp_path: Path
) -> None:
    audit = fixture_project / "audit"
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    link = tmp_path / "link.prom"
    link.symlink_to(tmp_path / "target.prom")
    before = {p.name: p.read_bytes() for p in audit.glob("*.jsonl")}
    for option, value, why in (
        ("--metrics", audit / "logs-default.jsonl", "must not be one of the audit logs"),
        ("--metrics", "/dev/null", "must be a regular file (this is a device)"),
        ("--metrics", fifo, "must be a regular file (this is a FIFO)"),
        ("--metrics", link, "would replace this symbolic link"),
        ("--metrics", "", "needs a file name"),
        ("--audit-trail", audit / "logs-default_schemas.jsonl", "must not be an MXCP schema registry"),
        ("--audit-trail", fifo, "must be a regular file (this is a FIFO)"),
        ("--archive", fifo, "must be a regular file (this is a FIFO)"),
        ("--archive", audit / "logs-default-20261018T062517.jsonl", "must not be one of the audit logs"),
    ):
        code, _, err = invoke("log-cleanup", "--now", FIXTURE_NOW, option, str(value), cwd=fixture_project)
        assert code == 2, (option, value, err)
        assert why in err and len(err.strip().splitlines()) == 1, (option, value, err)
    for command in ("stats", "verify"):
        code, _, err = invoke(command, "--metrics", str(audit / "logs-default.jsonl"), cwd=fixture_project)
        assert code == 2 and "must not be one of the audit logs" in err, (command, err)
    assert {p.name: p.read_bytes() for p in audit.glob("*.jsonl")} == before
    assert Path("/dev/null").is_char_device() and fifo.is_fifo() and link.is_symlink()


def test_a_disabled_profile_is_a_json_document_for_every_command(fixture_project: Path, tmp_path: Path) -> None:
    for command in (["verify"], ["stats"], ["export", "--duckdb", str(tmp_path / "x.duckdb")], ["log-cleanup"]):
        code, out, _ = invoke(*command, "--profile", "staging", "--json", cwd=fixture_project)
        assert code == 0, command
        assert json.loads(out)["status"] == "skipped", command


def test_archive_is_refused_with_in_place(fixture_project: Path, tmp_path: Path) -> None:
    for extra in (["--in-place"], ["--emergency"]):
        code, _, err = invoke("log-cleanup", "--archive", str(tmp_path / "a.jsonl"), *extra, cwd=fixture_project)
        assert code == 2 and "--archive cannot be combined" in err


def test_dry_run_writes_no_archive(fixture_project: Path, tmp_path: Path) -> None:
    code, _, err = invoke(
        "log-cleanup", "--now", FIXTURE_NOW, "--dry-run", "--archive", str(tmp_path / "a.jsonl.gz"), cwd=fixture_project
    )
    assert code == 0
    assert not (tmp_path / "a.jsonl.gz").exists()
    assert "a dry run writes no archive" in err


def _fixture_timestamps(project: Path) -> list[datetime]:
    stamps = []
    for log in sorted((project / "audit").glob("logs-default*.jsonl")):
        if log.name.endswith("_schemas.jsonl"):
            continue
        stamps += [datetime.fromisoformat(json.loads(line)["timestamp"]) for line in log.read_text().splitlines()]
    return stamps


def test_duckdb_export_runs_the_seed_guides_sql_correctly(fixture_project: Path, tmp_path: Path) -> None:
    duckdb = pytest.importorskip("duckdb", reason="the duckdb package is an optional extra (installed by make)")
    database = tmp_path / "audit.duckdb"
    code, out, _ = invoke("export", "--duckdb", str(database), "--json", cwd=fixture_project)
    assert code == 0
    stamps = _fixture_timestamps(fixture_project)
    assert json.loads(out)["rows"] == len(stamps) == 600
    connection = duckdb.connect(str(database))
    months = connection.execute(
        "SELECT DATE_TRUNC('month', timestamp::TIMESTAMP) as month, COUNT(*) as records "
        "FROM audit_logs GROUP BY month ORDER BY month"
    ).fetchall()
    expected: dict[tuple[int, int], int] = {}
    for stamp in stamps:
        utc = stamp.astimezone(timezone.utc)
        expected[(utc.year, utc.month)] = expected.get((utc.year, utc.month), 0) + 1
    assert [((m.year, m.month), n) for m, n in months] == sorted(expected.items())
    today = connection.execute("SELECT CURRENT_DATE").fetchone()[0]
    cutoff = datetime(today.year, today.month, today.day, tzinfo=timezone.utc) - timedelta(days=90)
    connection.execute("DELETE FROM audit_logs WHERE timestamp::TIMESTAMP < CURRENT_DATE - INTERVAL '90 days'")
    left = connection.execute("SELECT count(*) FROM audit_logs").fetchone()[0]
    assert left == sum(1 for stamp in stamps if stamp >= cutoff)
    columns = [row[0] for row in connection.execute("DESCRIBE audit_logs").fetchall()]
    assert columns[:4] == ["schema_name", "schema_version", "record_id", "timestamp"]
    connection.close()


def test_duckdb_export_normalises_offsets_to_utc_and_reports_broken_lines(tmp_path: Path) -> None:
    duckdb = pytest.importorskip("duckdb", reason="the duckdb package is an optional extra (installed by make)")
    log = tmp_path / "logs-x.jsonl"
    log.write_text(
        json.dumps({"schema_name": "mxcp.endpoints", "timestamp": "2026-03-01T02:00:00+05:30", "input_data": {"a": 1}})
        + "\n{broken\n\n"
        + json.dumps({"schema_name": "mxcp.endpoints", "timestamp": "2026-11-20T00:00:00Z"})
        + "\n"
    )
    database = tmp_path / "x.duckdb"
    code, out, err = invoke(
        "export", "--duckdb", str(database), "--path", str(log), "--since", "30d", "--now", FIXTURE_NOW, "--json"
    )
    assert code == 0
    report = json.loads(out)
    assert (report["rows"], report["lines_not_loaded"], report["records_filtered"]) == (1, 1, 1)
    assert "1 lines are not JSON records" in err
    invoke("export", "--duckdb", str(database), "--path", str(log))
    connection = duckdb.connect(str(database))
    stamps = sorted(row[0] for row in connection.execute("SELECT timestamp FROM audit_logs").fetchall())
    assert stamps[0] == "2026-02-28T20:30:00.000000+00:00", "the +05:30 record is February in UTC"
    month = connection.execute(
        "SELECT DATE_TRUNC('month', timestamp::TIMESTAMP) FROM audit_logs ORDER BY timestamp LIMIT 1"
    ).fetchone()[0]
    assert (month.year, month.month) == (2026, 2)
    connection.close()


def test_export_reports_a_fifo_among_the_logs_and_still_loads_the_others(fixture_project: Path, tmp_path: Path) -> None:
    pytest.importorskip("duckdb", reason="the duckdb package is an optional extra (installed by make)")
    audit = fixture_project / "audit"
    fifo = audit / "logs-default-20261130T000000.jsonl"
    os.mkfifo(fifo)
    # A subprocess with a timeout: opening the FIFO to read it would wait for a writer for ever.
    whole = run_subprocess(["export", "--duckdb", tmp_path / "all.duckdb", "--path", audit], cwd=fixture_project)
    assert whole.exit_code == 1, whole.stderr
    assert "Exported 600 records" in whole.stdout
    assert whole.stdout.rstrip().endswith("(table audit_logs); 1 file was not exported (below)."), whole.stdout
    assert f"error: {fifo}: not a regular file; not exported" in whole.stderr.splitlines()
    alone = run_subprocess(
        ["export", "--duckdb", tmp_path / "fifo.duckdb", "--path", fifo, "--json"], cwd=fixture_project
    )
    assert alone.exit_code == 1, alone.stderr
    report = json.loads(alone.stdout)
    assert (report["status"], report["rows"], report["errors"]) == ("error", 0, [f"{fifo}: not a regular file"])
    assert fifo.is_fifo()


@pytest.mark.parametrize("suffix", [".gz", ".zst"])
def test_export_counts_a_compressed_logs_lines_and_reports_a_cut_one_loading_the_others(
    tmp_path: Path, suffix: str
) -> None:
    pytest.importorskip("duckdb", reason="the duckdb package is an optional extra (installed by make)")
    import gzip

    import zstandard

    logs = tmp_path / "logs"
    logs.mkdir()
    lines = [record("mxcp.endpoints", 2, f"2026-11-2{n}T00:00:00Z") for n in (1, 2, 3)]
    write_log(logs / "logs-default.jsonl", lines)
    data = "".join(lines).encode()
    packed = gzip.compress(data) if suffix == ".gz" else zstandard.ZstdCompressor().compress(data)
    (logs / f"logs-default.jsonl.1{suffix}").write_bytes(packed)
    whole = run_subprocess(["export", "--duckdb", tmp_path / "a.duckdb", "--path", logs, "--json"], cwd=tmp_path)
    assert whole.exit_code == 0, whole.stderr
    report = json.loads(whole.stdout)
    assert (report["rows"], report["lines_not_loaded"]) == (6, 0), report
    cut = logs / f"logs-default.jsonl.2{suffix}"
    cut.write_bytes(packed[: len(packed) // 2])
    partial = run_subprocess(["export", "--duckdb", tmp_path / "b.duckdb", "--path", logs, "--json"], cwd=tmp_path)
    assert partial.exit_code == 1, partial.stderr
    report = json.loads(partial.stdout)
    assert (report["status"], report["rows"], report["lines_not_loaded"]) == ("error", 6, 0), report
    [problem] = report["errors"]
    assert problem.startswith(f"{cut}: ") and str(cut) not in problem[len(str(cut)) :], problem


def test_export_refuses_a_target_that_is_no_duckdb_database_and_says_what_it_left_out(
    fixture_project: Path, tmp_path: Path
) -> None:
    pytest.importorskip("duckdb", reason="the duckdb package is an optional extra (installed by make)")
    log = fixture_project / "audit" / "logs-default.jsonl"
    other = tmp_path / "report.csv"
    other.write_text("a,b\n1,2\n")
    for target, why in ((other, "is not a DuckDB database"), (log, "must not be one of the audit logs")):
        before = target.read_bytes()
        code, _, err = invoke("export", "--duckdb", str(target), "--path", str(log))
        assert code == 2 and why in err, err
        assert target.read_bytes() == before
    odd = tmp_path / "logs-odd.jsonl"
    odd.write_text(json.dumps({"schema_name": "mxcp.endpoints", "timestamp": "2026-01-01t00:00:00z"}) + "\n")
    code, _, err = invoke("export", "--duckdb", str(tmp_path / "x.duckdb"), "--path", str(odd))
    assert code == 0
    assert "1 records with a timestamp DuckDB cannot read were not exported" in err


def test_export_needs_duckdb_file_and_a_valid_age(fixture_project: Path, tmp_path: Path) -> None:
    assert invoke("export", cwd=fixture_project)[0] == 2
    code, _, err = invoke("export", "--duckdb", str(tmp_path / "x.duckdb"), "--since", "soon", cwd=fixture_project)
    assert code == 2 and "--since" in err


#: `--since` counted back from FIXTURE_NOW: the largest age DuckDB can compare with, in days.
LARGEST_SINCE_DAYS = 106_772_775


def _since_ns(age: str) -> int:
    from mxcp_compact.cli import _age_ns
    from mxcp_compact.rules import parse_now

    return parse_now(FIXTURE_NOW) - _age_ns(age)


def test_export_refuses_a_since_beyond_duckdbs_range_before_touching_duckdb(
    fixture_project: Path, tmp_path: Path
) -> None:
    pytest.importorskip("duckdb", reason="the duckdb package is an optional extra (installed by make)")
    from mxcp_compact.errors import ConfigError
    from mxcp_compact.export import export_duckdb

    database = tmp_path / "x.duckdb"
    with pytest.raises(ConfigError, match=r"^--since reaches back before 290309-12-22 BC.*out of range$"):
        export_duckdb([fixture_project / "audit" / "logs-default.jsonl"], database, _since_ns("999999999d"))
    assert not database.exists(), "DuckDB was not touched"


def test_check_since_names_the_option_and_the_largest_accepted_age_which_exports(
    fixture_project: Path, tmp_path: Path
) -> None:
    pytest.importorskip("duckdb", reason="the duckdb package is an optional extra (installed by make)")
    from mxcp_compact.errors import ConfigError
    from mxcp_compact.export import check_since, export_duckdb
    from mxcp_compact.rules import parse_now

    now = parse_now(FIXTURE_NOW)
    earliest = f"the largest accepted is {LARGEST_SINCE_DAYS}d (290309-12-22 BC, DuckDB's earliest timestamp)"
    for age in ("999999999d", f"{LARGEST_SINCE_DAYS + 1}d"):
        with pytest.raises(ConfigError) as refused:
            check_since(age, _since_ns(age), now)
        assert str(refused.value) == f"--since '{age}': out of range; {earliest}"
    with pytest.raises(ConfigError, match=r"the largest accepted is 15253253w \("):
        check_since("999999999w", _since_ns("999999999w"), now)
    for age in (f"{LARGEST_SINCE_DAYS}d", "30d", "0d"):
        check_since(age, _since_ns(age), now)
    check_since(None, None, now)
    log = fixture_project / "audit" / "logs-default.jsonl"
    result = export_duckdb([log], tmp_path / "x.duckdb", _since_ns(f"{LARGEST_SINCE_DAYS}d"))
    assert result.rows == 300, "the largest accepted age exports every record"


@pytest.mark.parametrize("json_output", [False, True], ids=["text", "json"])
def test_export_since_out_of_range_is_a_usage_error_naming_the_largest_accepted_value(
    fixture_project: Path, tmp_path: Path, json_output: bool
) -> None:
    pytest.importorskip("duckdb", reason="the duckdb package is an optional extra (installed by make)")
    database = tmp_path / "x.duckdb"
    args = ["export", "--duckdb", database, "--since", "999999999d", "--path", "audit", "--now", FIXTURE_NOW]
    result = run_subprocess([*args, *(["--json"] if json_output else [])], cwd=fixture_project)
    message = (
        f"--since '999999999d': out of range; the largest accepted is {LARGEST_SINCE_DAYS}d"
        " (290309-12-22 BC, DuckDB's earliest timestamp)"
    )
    assert result.exit_code == 2
    if json_output:
        assert result.json() == {"status": "error", "message": message}
    else:
        assert (result.stdout, result.stderr) == ("", f"Error: {message}\n")
    assert not database.exists(), "DuckDB was not touched"


def test_progress_line_shows_bar_bytes_rates_and_eta() -> None:
    from mxcp_compact.progress import render

    line = render(done=512 * 2**20, total=2**30, lines=400_000, elapsed=2.0)
    assert line.startswith("[" + "#" * 15 + "." * 15 + "]  50%")
    assert "512.0 MiB / 1.0 GiB" in line
    assert "256.0 MiB/s" in line and "200k lines/s" in line
    assert line.endswith("ETA 0:02")
    assert render(done=0, total=0, lines=0, elapsed=0.0).startswith("[" + "#" * 30 + "] 100%")


class _FakeProgress:
    def __init__(self) -> None:
        self.done = 0
        self.cancelled = False

    def counts(self) -> tuple[int, int]:
        self.done += 10 * 2**20
        return self.done, self.done // 1000

    def cancel(self) -> None:
        self.cancelled = True


def test_watch_draws_on_a_terminal_after_the_delay_and_clears_the_line() -> None:
    import io
    import time

    from mxcp_compact.progress import Watch

    terminal = io.StringIO()
    with Watch(_FakeProgress(), 2**30, terminal, show=True, delay=0.0):
        time.sleep(0.35)
    drawn = terminal.getvalue()
    assert drawn.count("\r[") >= 2
    assert drawn.endswith("\r\033[K")
    quiet = io.StringIO()
    with Watch(_FakeProgress(), 2**30, quiet, show=True, delay=60.0):
        time.sleep(0.2)
    assert quiet.getvalue() == "", "runs shorter than the delay draw nothing"


def test_no_progress_output_with_json_or_without_a_terminal(fixture_project: Path) -> None:
    code, out, err = invoke("log-cleanup", "--now", FIXTURE_NOW, "--dry-run", "--json", cwd=fixture_project)
    assert code == 0 and "lines/s" not in out + err


def test_duckdb_archive_gets_exactly_the_deleted_records(fixture_project: Path, tmp_path: Path) -> None:
    duckdb = pytest.importorskip("duckdb", reason="the duckdb package is an optional extra (installed by make)")
    database = tmp_path / "archive-{date}.duckdb"
    code, out, err = invoke(
        "log-cleanup", "--now", FIXTURE_NOW, "--json", "--archive", str(database), cwd=fixture_project
    )
    assert code == 0, err
    report = json.loads(out)
    real = tmp_path / "archive-20261127.duckdb"
    assert report["archive"]["path"] == str(real)
    assert report["archive"]["lines"] == 346
    assert not Path(f"{real}.pending.jsonl").exists()
    connection = duckdb.connect(str(real))
    rows = connection.execute("SELECT schema_version, count(*) FROM audit_logs GROUP BY 1 ORDER BY 1").fetchall()
    assert rows == [(1, 273), (2, 73)]
    connection.close()


def test_a_deleted_record_duckdb_cannot_store_stays_in_the_staging_file(tmp_path: Path) -> None:
    """A timestamp valid for retention (`t`/`z` in lower case) that DuckDB cannot cast: the
    load is all or nothing, so the staged lines stay on disk and the run fails, instead of the
    record vanishing from the log and from the archive alike."""
    duckdb = pytest.importorskip("duckdb", reason="the duckdb package is an optional extra (installed by make)")
    log = tmp_path / "logs-x.jsonl"
    odd = json.dumps({"schema_name": "mxcp.endpoints", "schema_version": 2, "timestamp": "2026-01-01t00:00:00z"})
    plain = json.dumps({"schema_name": "mxcp.endpoints", "schema_version": 2, "timestamp": "2020-01-01T00:00:00Z"})
    log.write_text(f"{odd}\n{plain}\n")
    database = tmp_path / "a.duckdb"
    code, _, err = invoke("log-cleanup", "--path", str(log), "--now", FIXTURE_NOW, "--archive", str(database))
    assert code == 1
    assert "1 of 2 lines are not records DuckDB can store" in err and "kept in" in err
    assert Path(f"{database}.pending.jsonl").read_text() == f"{odd}\n{plain}\n"
    connection = duckdb.connect(str(database))
    assert connection.execute("SELECT count(*) FROM audit_logs").fetchone() == (0,)
    connection.close()


def _mode(path: Path) -> int | None:
    return stat.S_IMODE(path.stat().st_mode) if path.exists() else None


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The common umask, under which files are created world-readable (0644)."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def _archived_rows(database: Path) -> list[tuple[int, int]]:
    import duckdb

    connection = duckdb.connect(str(database))
    try:
        return connection.execute("SELECT schema_version, count(*) FROM audit_logs GROUP BY 1 ORDER BY 1").fetchall()
    finally:
        connection.close()


@pytest.mark.usefixtures("umask_022")
def test_a_new_duckdb_archive_is_owner_only_under_umask_022(fixture_project: Path, tmp_path: Path) -> None:
    pytest.importorskip("duckdb", reason="the duckdb package is an optional extra (installed by make)")
    database = tmp_path / "deleted.duckdb"
    args = ["log-cleanup", "--now", FIXTURE_NOW, "--archive", str(database)]
    result = run_subprocess(args, cwd=fixture_project)
    assert result.exit_code == 0, result.stderr
    assert _mode(database) == 0o600
    assert _archived_rows(database) == [(1, 273), (2, 73)]
    assert not Path(f"{database}.pending.jsonl").exists()


@pytest.mark.usefixtures("umask_022")
def test_an_existing_duckdb_archive_keeps_its_mode(fixture_project: Path, tmp_path: Path) -> None:
    duckdb = pytest.importorskip("duckdb", reason="the duckdb package is an optional extra (installed by make)")
    database = tmp_path / "deleted.duckdb"
    duckdb.connect(str(database)).close()
    database.chmod(0o640)
    args = ["log-cleanup", "--now", FIXTURE_NOW, "--archive", str(database)]
    result = run_subprocess(args, cwd=fixture_project)
    assert result.exit_code == 0, result.stderr
    assert _mode(database) == 0o640
    assert _archived_rows(database) == [(1, 273), (2, 73)]


@pytest.mark.usefixtures("umask_022")
def test_a_new_duckdb_archive_and_its_write_ahead_log_are_owner_only_before_any_record_is_loaded(
    fixture_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Watched statement by statement: the database is 0600 before the first statement, and
    DuckDB's write-ahead log (which holds the loaded records until the connection closes) is
    0600 whenever it exists; the run leaves the process's umask as it found it."""
    duckdb = pytest.importorskip("duckdb", reason="the duckdb package is an optional extra (installed by make)")
    database = tmp_path / "deleted.duckdb"
    wal = Path(f"{database}.wal")
    seen: list[tuple[str, int | None, int | None]] = []
    connect = duckdb.connect

    class Watched:
        def __init__(self, connection: Any) -> None:
            self.connection = connection

        def execute(self, sql: str, *parameters: Any) -> Any:
            seen.append((sql.split()[0], _mode(database), _mode(wal)))
            outcome = self.connection.execute(sql, *parameters)
            seen.append((f"after {sql.split()[0]}", _mode(database), _mode(wal)))
            return outcome

        def close(self) -> None:
            self.connection.close()

    monkeypatch.setattr(duckdb, "connect", lambda *args, **kwargs: Watched(connect(*args, **kwargs)))
    code, _, err = invoke("log-cleanup", "--now", FIXTURE_NOW, "--archive", str(database), cwd=fixture_project)
    assert code == 0, err
    assert "INSERT" in [statement for statement, _, _ in seen]
    assert seen[0][1] == 0o600, "the new archive is owner-only before the first statement"
    assert {mode for _, mode, _ in seen} == {0o600}
    assert {mode for _, _, mode in seen} == {None, 0o600}, "the write-ahead log existed, and only as 0600"
    assert os.umask(0o022) == 0o022, "the umask is restored"
    monkeypatch.undo()
    assert _archived_rows(database) == [(1, 273), (2, 73)]


def test_settings_file_can_name_the_archive(fixture_project: Path) -> None:
    (fixture_project / "mxcp-compact.toml").write_text('[cleanup]\narchive = "archive/deleted-{date}.jsonl"\n')
    (fixture_project / "archive").mkdir()
    code, out, _ = invoke("log-cleanup", "--now", FIXTURE_NOW, "--json", cwd=fixture_project)
    assert code == 0
    archive = fixture_project / "archive" / "deleted-20261127.jsonl"
    assert json.loads(out)["archive"]["path"] == str(archive)
    assert len(archive.read_text().splitlines()) == 346


def test_emergency_with_an_archive_in_the_settings_says_how_to_proceed(fixture_project: Path) -> None:
    (fixture_project / "mxcp-compact.toml").write_text('[cleanup]\narchive = "deleted.jsonl"\n')
    code, _, err = invoke("log-cleanup", "--now", FIXTURE_NOW, "--emergency", cwd=fixture_project)
    assert code == 2 and "--archive ''" in err
    code, _, _ = invoke("log-cleanup", "--now", FIXTURE_NOW, "--emergency", "--archive", "", cwd=fixture_project)
    assert code == 0
    assert not (fixture_project / "deleted.jsonl").exists()
