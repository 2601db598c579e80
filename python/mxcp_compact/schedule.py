"""Scheduling: the crontab line and the systemd service + timer units for a daily cleanup.

The units are the seed guide's, with this tool's own path, the chosen profile, a wait for a
concurrent run, `RandomizedDelaySec` and `Persistent=true`. `install_systemd` writes them (root).
"""

from __future__ import annotations

import shlex
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Schedule", "account_warnings", "command_line", "cron_line", "install_systemd", "systemd_units"]

SERVICE_NAME = "mxcp-log-cleanup"


@dataclass(frozen=True)
class Schedule:
    profile: str | None
    working_dir: Path
    user: str
    group: str
    on_calendar: str = "daily"
    cron_time: str = "0 2 * * *"
    log_file: Path = Path("/var/log/mxcp/cleanup.log")


def executable() -> str:
    """The absolute path of the `mxcp-compact` command that is running (or on PATH)."""
    script = Path(sys.argv[0])
    if script.name == "mxcp-compact" and script.exists():
        return str(script.resolve())
    found = shutil.which("mxcp-compact")
    return found if found else f"{sys.executable} -m mxcp_compact"


def cleanup_args(schedule: Schedule) -> list[str]:
    """The scheduled command's arguments after the program: one list for every kind of schedule,
    so that the timer, the crontab line and the containers cannot drift apart."""
    words = ["log-cleanup", "--wait", "300"]
    if schedule.profile:
        words += ["--profile", schedule.profile]
    return words


def command_line(schedule: Schedule) -> str:
    # The executable may be "python -m mxcp_compact": keep its own spaces, quote the rest.
    return " ".join([executable(), *(shlex.quote(word) for word in cleanup_args(schedule))])


def cron_line(schedule: Schedule) -> str:
    return (
        f"{schedule.cron_time} cd {shlex.quote(str(schedule.working_dir))} && {command_line(schedule)}"
        f" >> {shlex.quote(str(schedule.log_file))} 2>&1"
    )


def systemd_units(schedule: Schedule) -> dict[str, str]:
    """File name -> contents of the service and the timer."""
    service = f"""[Unit]
Description=MXCP Audit Log Cleanup (mxcp-compact)
After=network.target

[Service]
Type=oneshot
User={schedule.user}
Group={schedule.group}
WorkingDirectory={schedule.working_dir}
ExecStart={command_line(schedule)}
StandardOutput=journal
StandardError=journal
"""
    timer = f"""[Unit]
Description=Daily MXCP audit log cleanup (mxcp-compact)

[Timer]
OnCalendar={schedule.on_calendar}
Persistent=true
RandomizedDelaySec=3600

[Install]
WantedBy=timers.target
"""
    return {f"{SERVICE_NAME}.service": service, f"{SERVICE_NAME}.timer": timer}


def install_systemd(schedule: Schedule, unit_dir: Path) -> list[Path]:
    """Writes the units into `unit_dir` (normally /etc/systemd/system, which needs root)."""
    written = []
    for name, text in systemd_units(schedule).items():
        path = unit_dir / name
        temp = path.with_name(f".{name}.tmp")
        temp.write_text(text, encoding="utf-8")
        temp.chmod(0o644)
        temp.replace(path)
        written.append(path)
    return written


def account_warnings(user: str, group: str) -> list[str]:
    """Warnings for a service user or group missing on this machine (systemd would refuse to
    start the service), each with the command that creates it."""
    import grp
    import pwd

    def exists(lookup: Callable[[str], object], name: str) -> bool:
        try:
            lookup(name)
        except KeyError:
            return False
        return True

    warnings = []
    user_missing, group_missing = not exists(pwd.getpwnam, user), not exists(grp.getgrnam, group)
    # useradd --user-group makes the same-named group the default Group= needs.
    if group_missing and not (user_missing and group == user):
        warnings.append(
            f"warning: group {group!r} does not exist on this machine, so the service cannot start;"
            f" create it with: sudo groupadd --system {shlex.quote(group)}"
        )
    if user_missing:
        primary = "--user-group" if group == user else f"--gid {shlex.quote(group)}"
        warnings.append(
            f"warning: user {user!r} does not exist on this machine, so the service cannot start; create it with:"
            f" sudo useradd --system {primary} --no-create-home --shell /usr/sbin/nologin {shlex.quote(user)}"
            " (and let it write the audit log directory)"
        )
    return warnings
