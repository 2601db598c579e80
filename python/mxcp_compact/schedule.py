"""Scheduling: the crontab line, the systemd service + timer units, a docker compose service and
a Kubernetes CronJob for a daily cleanup.

The units are the seed guide's, with this tool's own path, the chosen profile, a wait for a
concurrent run, `RandomizedDelaySec` and `Persistent=true`. `install_systemd` writes them (root).
The compose service and the CronJob run the same arguments (`cleanup_args`) with the program
named `mxcp-compact`, since the host's path means nothing inside an image.
"""

from __future__ import annotations

import re
import shlex
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "Schedule",
    "account_warnings",
    "audit_directory",
    "audit_disabled_warning",
    "cleanup_args",
    "command_line",
    "compose_file",
    "container_command",
    "cron_line",
    "daily_time",
    "find_project",
    "install_systemd",
    "kubernetes_manifests",
    "kubernetes_warnings",
    "systemd_units",
]

SERVICE_NAME = "mxcp-log-cleanup"
TOOL = "mxcp-compact"


@dataclass(frozen=True)
class Schedule:
    profile: str | None
    working_dir: Path
    user: str
    group: str
    on_calendar: str = "daily"
    cron_time: str = "0 2 * * *"
    log_file: Path = Path("/var/log/mxcp/cleanup.log")
    #: Where the profile's logs are, seen from the containers (`audit_directory`).
    audit_dir: Path | None = None
    image: str = "mxcp-compact:latest"
    #: The compose volume / Kubernetes PersistentVolumeClaim holding the audit directory.
    claim: str = "mxcp-audit"
    namespace: str | None = None

    def __post_init__(self) -> None:
        """Refuses what would change the meaning of the printed schedule: a control character
        (a newline in the working directory added a line to the unit or the crontab), and a
        time that is not five crontab fields (shell text after them ran as the command)."""
        for name, value in vars(self).items():
            text = "" if value is None else str(value)
            if any(ord(character) < 0x20 or ord(character) == 0x7F for character in text):
                option = {"cron_time": "at", "audit_dir": "audit directory"}.get(name, name.replace("_", "-"))
                raise ValueError(f"--{option} {text!r}: a control character cannot go into a schedule")
        if self.working_dir is not None and str(self.working_dir) != str(self.working_dir).strip():
            # systemd strips it from WorkingDirectory=: the service would run somewhere else.
            raise ValueError(
                f"the project directory {str(self.working_dir)!r} (--working-dir) begins or ends with whitespace,"
                " which a schedule cannot hold"
            )
        if not _CRON_TIME.fullmatch(self.cron_time):
            raise ValueError(f"--at {self.cron_time!r}: expected five crontab fields, such as '0 2 * * *'")
        check_cron_time(self.cron_time)


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
    command = (
        f"cd {shlex.quote(str(schedule.working_dir))} && {command_line(schedule)}"
        f" >> {shlex.quote(str(schedule.log_file))} 2>&1"
    )
    # cron turns an unescaped % of the command into a newline.
    return f"{schedule.cron_time} {command.replace('%', chr(92) + '%')}"


def _unit_value(value: object) -> str:
    """`value` as a unit file setting holds it: systemd expands `%` specifiers in settings."""
    return str(value).replace("%", "%%")


def systemd_units(schedule: Schedule) -> dict[str, str]:
    """File name -> contents of the service and the timer."""
    # ExecStart also expands $VARIABLES and C escapes, even inside quotes.
    exec_start = _unit_value(command_line(schedule)).replace("\\", "\\\\").replace("$", "$$")
    service = f"""[Unit]
Description=MXCP Audit Log Cleanup (mxcp-compact)
After=network.target

[Service]
Type=oneshot
User={_unit_value(schedule.user)}
Group={_unit_value(schedule.group)}
WorkingDirectory={_unit_value(schedule.working_dir)}
ExecStart={exec_start}
# The incremental index lives here, owned by the service's user (see the README).
StateDirectory=mxcp-compact
Environment=MXCP_COMPACT_STATE_DIR=/var/lib/mxcp-compact
StandardOutput=journal
StandardError=journal
"""
    timer = f"""[Unit]
Description=Daily MXCP audit log cleanup (mxcp-compact)

[Timer]
OnCalendar={_unit_value(schedule.on_calendar)}
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


# --- containers: docker compose and Kubernetes ----------------------------------------------------

# A DNS-1123 label: valid for every Kubernetes object named here, and as a compose volume name.
_NAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
#: Five crontab fields (numbers, names, `*`, `/`, `,`, `-`), or one of cron's `@` nicknames.
_CRON_TIME = re.compile(
    r"[0-9A-Za-z*/,-]+(?: [0-9A-Za-z*/,-]+){4}|@(?:yearly|annually|monthly|weekly|daily|midnight|hourly)"
)
_DAILY = re.compile(r"\s*([0-9]{1,2})\s+([0-9]{1,2})\s+\*\s+\*\s+\*\s*")


#: Each crontab field's name, range, and the names it may use instead of numbers.
_CRON_FIELDS = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")),
    ("day of week", 0, 7, ("sun", "mon", "tue", "wed", "thu", "fri", "sat")),
)
_CRON_ITEM = re.compile(r"(\*|[0-9a-z]+(?:-[0-9a-z]+)?)(?:/([0-9]+))?")


def check_cron_time(cron_time: str, *, kubernetes: bool = False) -> None:
    """Raises ValueError naming the field when `cron_time` (five crontab fields, or an @word)
    holds what cron and Kubernetes reject: an hour 25, a minute 61, a word: that schedule would
    never run. Kubernetes (robfig/cron) takes weekdays 0-6 only, not cron's 7 for Sunday."""
    if cron_time.startswith("@"):
        return
    fields = _CRON_FIELDS if not kubernetes else (*_CRON_FIELDS[:4], ("day of week", 0, 6, _CRON_FIELDS[4][3]))
    for text, (field, low, high, names) in zip(cron_time.split(), fields, strict=True):
        if not all(_cron_item_fits(item, low, high, names) for item in text.lower().split(",")):
            raise ValueError(f"--at {cron_time!r}: the {field} field {text!r} is not a crontab {field} ({low}-{high})")
    _check_date_occurs(cron_time)


# The most days each month can have (February's 29th comes in leap years: it runs then).
_MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _check_date_occurs(cron_time: str) -> None:
    """Raises ValueError when the days of month exist in none of the months (`30 2`, `31
    4,6`): cron accepts such a line and never runs it. With a day of week given as well, cron
    runs on either, so the line runs."""
    _, _, days_text, months_text, weekdays_text = cron_time.lower().split()
    if days_text.startswith("*") or not weekdays_text.startswith("*"):
        return
    days = _cron_values(days_text, _CRON_FIELDS[2])
    months = _cron_values(months_text, _CRON_FIELDS[3])
    if not any(day <= _MONTH_DAYS[month - 1] for day in days for month in months):
        raise ValueError(
            f"--at {cron_time!r}: day {days_text} of month {months_text} never occurs, so it would never run"
        )


def _cron_values(text: str, field: tuple[str, int, int, tuple[str, ...]]) -> set[int]:
    """The values a checked crontab field (`_cron_item_fits`) selects."""
    _, low, high, names = field
    values: set[int] = set()
    for item in text.split(","):
        match = _CRON_ITEM.fullmatch(item)
        if match is None:
            raise ValueError(f"not a checked crontab item: {item!r}")
        if match[1] == "*":
            first, last = low, high
        else:
            bounds = [int(bound) if bound.isdigit() else names.index(bound) + low for bound in match[1].split("-")]
            # `N/STEP` runs from N to the field's end.
            first, last = bounds[0], bounds[-1] if len(bounds) == 2 or match[2] is None else high
        values.update(range(first, last + 1, int(match[2] or 1)))
    return values


def _cron_item_fits(item: str, low: int, high: int, names: tuple[str, ...]) -> bool:
    """`*`, `N`, `N-M` (names allowed where the field has them), each maybe `/STEP`, in range."""
    match = _CRON_ITEM.fullmatch(item)
    if match is None or (match[2] is not None and int(match[2]) == 0):
        return False
    if match[1] == "*":
        return True
    values = []
    for bound in match[1].split("-"):
        if bound.isdigit():
            values.append(int(bound))
        elif bound in names:
            values.append(names.index(bound) + low)  # jan is month 1, sun is weekday 0
        else:
            return False
    return all(low <= value <= high for value in values) and values == sorted(values)


def check_on_calendar(spec: str) -> None:
    """Raises ValueError when systemd, where it is installed, cannot parse `spec`: the timer
    would refuse to start."""
    import subprocess

    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        return
    checked = subprocess.run([analyze, "calendar", spec], capture_output=True, text=True, check=False)
    if checked.returncode != 0:
        raise ValueError(f"--on-calendar {spec!r}: systemd cannot parse it (systemd-analyze calendar)")


def container_command(schedule: Schedule) -> list[str]:
    return [TOOL, *cleanup_args(schedule)]


def find_project(working_dir: Path | None, cwd: Path, kind: str, profile: str | None) -> tuple[Path, Path | None]:
    """The directory the scheduled run of `kind` (`--cron`...) works in, and its mxcp-site.yml,
    found as that run will find it; raises `ConfigError` (log-cleanup's own message) when every
    run would fail: no site, a site it cannot read, or a `profile` the site does not have.

    Without `working_dir`, the project is the one found from `cwd` (in it or a parent). With it,
    cron and systemd run log-cleanup there, which looks in its parents too; a container mounts
    (or its image holds) that directory only, so the site must be in it. A Kubernetes image may
    hold a project this machine does not have: then the site is None and nothing is checked
    (`kubernetes_warnings` says so)."""
    from mxcp_compact.errors import ConfigError
    from mxcp_compact.profiles import SITE_FILE, find_site

    container = kind in ("--compose", "--kubernetes")
    if working_dir is None:
        site = find_site(cwd)
        if site is None:
            raise ConfigError(
                f"no {SITE_FILE} in this directory or its parents; run inside an MXCP project or pass --working-dir"
            )
        working_dir = site.parent
    else:
        working_dir = working_dir.resolve()
        if container:
            site = working_dir / SITE_FILE if (working_dir / SITE_FILE).is_file() else None
        else:
            site = find_site(working_dir)
        if site is None and kind != "--kubernetes":
            where = (
                f"{working_dir} (the container sees only that directory)"
                if container
                else f"{working_dir} or its parents"
            )
            raise ConfigError(f"no {SITE_FILE} in {where}; pass the MXCP project's directory as --working-dir")
    if site is not None:
        _check_profile(site, profile)
    return working_dir, site


def _check_profile(site: Path, profile: str | None) -> None:
    """Resolves the profile as the scheduled run will: its environment (the unit's, the
    crontab's) has no MXCP_PROFILE, so this shell's must not choose it either."""
    from mxcp_compact.profiles import discover_profile_files

    discover_profile_files(site, profile, {})


def audit_disabled_warning(site: Path | None, profile: str | None) -> str | None:
    """A warning for a schedule of a profile whose audit is off as its run will see it (with no
    MXCP_AUDIT_ENABLED): each run would skip it with exit 0, so no failure would ever say so."""
    from mxcp_compact.profiles import discover_profile_files

    if site is None:
        return None
    skipped = discover_profile_files(site, profile, {}).skipped_reason
    if skipped is None:
        return None
    return (
        f"warning: {skipped} Each scheduled run skips it (exit 0) unless its environment sets MXCP_AUDIT_ENABLED=true."
    )


def audit_directory(working_dir: Path, site: Path | None, profile: str | None) -> Path:
    """The directory of the profile's audit logs, by log-cleanup's own rule (mxcp-site.yml's
    `audit.path`, else `audit/`); the containers mount the audit volume there."""
    from mxcp_compact.profiles import discover_profile_files

    if site is None:
        return working_dir / "audit"
    # Enabled for the lookup only: the path is wanted even if audit is switched on by the
    # container's environment; the host's MXCP_PROFILE must not choose the profile.
    plan = discover_profile_files(site, profile, {"MXCP_AUDIT_ENABLED": "true"})
    return plan.audit_path.parent if plan.audit_path is not None else working_dir / "audit"


def daily_time(cron_time: str) -> tuple[int, int]:
    """(hour, minute) of a crontab time that runs once a day, `MINUTE HOUR * * *`."""
    match = _DAILY.fullmatch(cron_time)
    if match is None or int(match[2]) > 23 or int(match[1]) > 59:
        raise ValueError(f"--compose runs once a day: --at must be 'MINUTE HOUR * * *', not {cron_time!r}")
    return int(match[2]), int(match[1])


def _audit_mount(schedule: Schedule) -> str:
    audit = schedule.audit_dir or schedule.working_dir / "audit"
    if schedule.working_dir.is_relative_to(audit):
        raise ValueError(
            f"the audit logs are in {audit}, which holds the project {schedule.working_dir}: mounting the"
            " audit volume there would hide mxcp-site.yml; give the profile an audit.path in a directory of its own"
        )
    return str(audit)


def _check_name(value: str, option: str) -> str:
    if not _NAME.fullmatch(value):
        raise ValueError(
            f"{option} {value!r}: expected lowercase letters, digits and '-' (at most 63; a Kubernetes name)"
        )
    return value


class _Block(str):
    """A string YAML shows as a literal block (the loop script)."""


class _Quoted(str):
    """A string YAML shows quoted, as people write `user: "1000:1000"` and cron schedules."""


class _Dumper(yaml.SafeDumper):
    # Lists indented under their key, as compose and Kubernetes files are usually written.
    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


_Dumper.add_representer(_Block, lambda dumper, text: dumper.represent_scalar("tag:yaml.org,2002:str", text, "|"))
_Dumper.add_representer(_Quoted, lambda dumper, text: dumper.represent_scalar("tag:yaml.org,2002:str", text, '"'))


def _dump(documents: list[dict[str, Any]], *, explicit_start: bool) -> str:
    return yaml.dump_all(
        documents, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=4096, explicit_start=explicit_start
    )


# POSIX sh (dash, busybox, bash), run as `sh -c LOOP mxcp-log-cleanup COMMAND...`. Unlike a bare
# `sleep 86400` loop it runs at start, keeps to the same time of day however long a run takes
# (or after a restart), keeps going after a failed run, and stops at once on `docker stop`:
# PID 1 ignores SIGTERM without a trap, a trap waits for a foreground sleep to finish, and a
# background sleep left running would keep the container's output open (under `init: true`).
_LOOP = """\
trap 'kill $! 2>/dev/null; exit 0' TERM INT
at={seconds}  # {hour:02d}:{minute:02d} UTC, in seconds after midnight
while :; do
  "$@" || echo "$0: the cleanup exited with status $?" >&2
  delay=$(( (at - $(date -u +%s) % 86400 + 86400) % 86400 ))
  [ "$delay" -gt 0 ] || delay=86400
  echo "$0: next cleanup in $delay s, at {hour:02d}:{minute:02d} UTC"
  sleep "$delay" & wait $!
done
"""

_COMPOSE_HEADER = """\
# mxcp-compact schedule --compose: the audit log cleanup beside the MXCP server, daily at {time} UTC
# (and once when it starts). Use it with the server's compose file, so that both share the volume:
#   docker compose -f docker-compose.yml -f mxcp-log-cleanup.yml up -d
# The MXCP server must mount the volume {claim} at {audit}, where it writes the logs.
# The image must contain mxcp-compact (pip install mxcp-compact); the project {project}
# is mounted from this machine at the same path. `$$` is compose's escape for the shell's `$`.
"""


def _escape_dollars(value: Any) -> Any:
    # Compose substitutes ${VAR} and $VAR in every string; `$$` is a literal `$`.
    if isinstance(value, str):
        return type(value)(value.replace("$", "$$"))
    if isinstance(value, dict):
        return {key: _escape_dollars(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_escape_dollars(item) for item in value]
    return value


def compose_file(schedule: Schedule) -> str:
    """A compose file: a `services:` fragment with the `mxcp-log-cleanup` service, and its volume."""
    hour, minute = daily_time(schedule.cron_time)
    claim = _check_name(schedule.claim, "--claim")
    audit, project = _audit_mount(schedule), str(schedule.working_dir)
    service = {
        "image": schedule.image,
        "user": _Quoted(f"{schedule.user}:{schedule.group}"),
        "working_dir": project,
        "volumes": [
            # mxcp-site.yml and mxcp-compact.toml at the path the host has; writable, since the
            # audit volume's mount point may have to be created in it.
            {"type": "bind", "source": project, "target": project},
            {"type": "volume", "source": claim, "target": audit},
        ],
        "entrypoint": [
            "/bin/sh",
            "-c",
            _Block(_LOOP.format(hour=hour, minute=minute, seconds=hour * 3600 + minute * 60)),
            SERVICE_NAME,
        ],
        "command": container_command(schedule),
        "restart": "unless-stopped",
    }
    document = {"services": {SERVICE_NAME: service}, "volumes": {claim: {}}}
    header = _COMPOSE_HEADER.format(time=f"{hour:02d}:{minute:02d}", claim=claim, audit=audit, project=project)
    return header + _dump([_escape_dollars(document)], explicit_start=False)


_KUBERNETES_HEADER = """\
# mxcp-compact schedule --kubernetes: a CronJob cleaning the audit logs ({schedule}, UTC)
# and the PersistentVolumeClaim it mounts. Apply with: kubectl apply -f mxcp-log-cleanup.yaml
# The MXCP server must mount the same claim ({claim}) at {audit}, where it writes the logs,
# so the claim needs ReadWriteMany (NFS, CephFS, EFS, Azure Files...) unless both pods share a node;
# set its storageClassName and size. If the server has a claim already, delete the claim below
# and pass --claim NAME. The image must contain mxcp-compact and the MXCP project at {project}.
"""
_LABELS = {"app.kubernetes.io/name": SERVICE_NAME, "app.kubernetes.io/part-of": "mxcp"}


def _metadata(schedule: Schedule, name: str) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if schedule.namespace is not None:
        metadata["namespace"] = _check_name(schedule.namespace, "--namespace")
    metadata["labels"] = dict(_LABELS)
    return metadata


def _security_context(schedule: Schedule) -> dict[str, int]:
    # Kubernetes takes numeric ids only; names are left to the image (kubernetes_warnings says so).
    context: dict[str, int] = {}
    if schedule.user.isdigit():
        context["runAsUser"] = int(schedule.user)
    if schedule.group.isdigit():
        # fsGroup: the claim's files are made accessible to the group the server writes them with.
        context["runAsGroup"] = context["fsGroup"] = int(schedule.group)
    return context


def _pod_spec(schedule: Schedule, claim: str) -> dict[str, Any]:
    command = container_command(schedule)
    container = {
        "name": SERVICE_NAME,
        "image": schedule.image,
        "command": command[:1],
        "args": command[1:],
        "workingDir": str(schedule.working_dir),
        "volumeMounts": [{"name": "audit", "mountPath": _audit_mount(schedule)}],
    }
    spec: dict[str, Any] = {"restartPolicy": "OnFailure"}
    if context := _security_context(schedule):
        spec["securityContext"] = context
    spec["containers"] = [container]
    spec["volumes"] = [{"name": "audit", "persistentVolumeClaim": {"claimName": claim}}]
    return spec


def kubernetes_manifests(schedule: Schedule) -> str:
    """Two YAML documents: the PersistentVolumeClaim of the audit directory and the CronJob."""
    claim = _check_name(schedule.claim, "--claim")
    volume_claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": _metadata(schedule, claim),
        "spec": {"accessModes": ["ReadWriteMany"], "resources": {"requests": {"storage": "10Gi"}}},
    }
    cron_job = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": _metadata(schedule, SERVICE_NAME),
        "spec": {
            "schedule": _Quoted(schedule.cron_time),
            "timeZone": "Etc/UTC",
            # A run is never started beside another (log-cleanup's --wait covers manual runs).
            "concurrencyPolicy": "Forbid",
            # A run missed while the controller was down still starts within the hour; after
            # that it waits for the next day, as a run at an unexpected hour would surprise.
            "startingDeadlineSeconds": 3600,
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {
                "spec": {
                    "backoffLimit": 3,
                    "template": {"metadata": {"labels": dict(_LABELS)}, "spec": _pod_spec(schedule, claim)},
                }
            },
        },
    }
    header = _KUBERNETES_HEADER.format(
        schedule=schedule.cron_time, claim=claim, audit=_audit_mount(schedule), project=schedule.working_dir
    )
    return header + _dump([volume_claim, cron_job], explicit_start=True)


def kubernetes_warnings(schedule: Schedule, site_checked: bool = True) -> list[str]:
    """What the manifests leave to the cluster: user names, and (`site_checked` false) a project
    that only the image holds, whose profile and audit directory could not be checked here."""
    warnings = []
    if not site_checked:
        warnings.append(
            f"warning: no mxcp-site.yml in {schedule.working_dir} on this machine, so the profile and the audit"
            f" directory ({_audit_mount(schedule)}) are not checked; the image must hold the MXCP project there"
        )
    ids = (("--user", schedule.user), ("--group", schedule.group))
    names = [f"{option} {value}" for option, value in ids if not value.isdigit()]
    if names:
        warnings.append(
            f"warning: Kubernetes takes numeric ids only: the pod's securityContext leaves out {' and '.join(names)},"
            " so the pod runs as the image's user; pass the MXCP server's ids, e.g. --user 1000 --group 1000"
        )
    return warnings
