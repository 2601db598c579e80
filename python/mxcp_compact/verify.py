"""`mxcp-compact verify`: the guide's "Monthly: verify retention compliance" as an exit status.

Exit 0 when no record past its retention remains in the logs (and, with an `[archive]`
section, in the archives, under their own retention); 1 otherwise, or when a file could not be
read; 2 for bad options. Per file: how many records are past retention, the oldest of them
(timestamp and line number), records dated more than a day after now (clock skew: they would
outlive their retention) and lines that could not be evaluated. The same scan as a dry run
(`survey_file`), so "past retention" here is exactly what `log-cleanup` deletes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mxcp_compact.config import RunConfig

__all__ = ["FileCheck", "Verification", "check", "render_json", "render_text"]


@dataclass(frozen=True)
class FileCheck:
    path: Path
    expired: int = 0
    oldest_expired_ns: int | None = None
    oldest_expired_line: int | None = None
    future: int = 0
    first_future_line: int | None = None
    unevaluable: int = 0
    error: str | None = None
    #: The file's oldest record of any schema (for `--metrics`).
    oldest_ns: int | None = None


@dataclass
class Verification:
    profile: str | None
    files: list[FileCheck] = field(default_factory=list)

    @property
    def expired(self) -> int:
        return sum(f.expired for f in self.files)

    @property
    def compliant(self) -> bool:
        return self.expired == 0 and not any(f.error for f in self.files)


def check(runs: list[tuple[RunConfig, list[Path]]], profile: str | None) -> Verification:
    """Surveys each run's files (logs, then archives with their own rules)."""
    from mxcp_compact import _core

    result = Verification(profile)
    for run, paths in runs:
        rules_of = {log.path: log.rules_key for log in run.plan.files}
        for path in paths:
            try:
                survey = _core.survey_file(path, run.rules[rules_of.get(path)], run.now_ns)
            except (OSError, ValueError) as error:
                result.files.append(FileCheck(path, error=str(error)))
                continue
            result.files.append(
                FileCheck(
                    path,
                    expired=survey.deleted,
                    oldest_expired_ns=survey.oldest_expired_ns,
                    oldest_expired_line=survey.oldest_expired_line,
                    future=survey.future_records,
                    first_future_line=survey.first_future_line,
                    unevaluable=sum(survey.unevaluable.values()),
                    oldest_ns=survey.oldest_ns,
                )
            )
    return result


def _instant(ns: int | None) -> str | None:
    from mxcp_compact.report import utc_instant

    return None if ns is None else utc_instant(ns)


def render_text(result: Verification) -> str:
    from mxcp_compact.report import displayable

    lines = []
    for item in result.files:
        name = displayable(item.path)
        if item.error:
            # The core's messages name the file already.
            lines.append(f"{name}: not checked: {displayable(item.error).removeprefix(f'{name}: ')}")
            continue
        if item.expired:
            oldest = _instant(item.oldest_expired_ns)
            lines.append(
                f"{name}: {item.expired} records past retention (oldest {oldest}, line {item.oldest_expired_line})"
            )
        if item.future:
            lines.append(f"{name}: {item.future} records dated in the future (first at line {item.first_future_line})")
        if item.unevaluable:
            lines.append(f"{name}: {item.unevaluable} lines could not be evaluated (kept)")
    checked = sum(1 for f in result.files if not f.error)
    unchecked = len(result.files) - checked
    if not result.files:
        lines.append("Compliant: no audit log was found, so none holds a record past its retention.")
    elif result.compliant:
        lines.append(f"Compliant: no record past its retention in {checked} files.")
    elif result.expired or not unchecked:
        lines.append(f"Not compliant: {result.expired} records past their retention in {checked} files checked.")
    else:
        # Nothing expired was found, but not every file could be read: no proof either way.
        lines.append(f"Not proven compliant: {unchecked} of {len(result.files)} files could not be checked.")
    return "\n".join(lines) + "\n"


def render_json(result: Verification) -> bytes:
    import orjson

    from mxcp_compact.report import displayable

    files = [
        {
            "path": displayable(item.path),
            "records_past_retention": item.expired,
            "oldest_past_retention": _instant(item.oldest_expired_ns),
            "oldest_past_retention_line": item.oldest_expired_line,
            "future_records": item.future,
            "first_future_line": item.first_future_line,
            "unevaluable": item.unevaluable,
            "error": None if item.error is None else displayable(item.error),
        }
        for item in result.files
    ]
    document = {
        "status": "compliant" if result.compliant else "not_compliant",
        "profile": result.profile,
        "records_past_retention": result.expired,
        "future_records": sum(f.future for f in result.files),
        "unevaluable": sum(f.unevaluable for f in result.files),
        # Not compliant with no record past retention: these files could not be read.
        "files_not_checked": sum(1 for f in result.files if f.error),
        "files": files,
    }
    return orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n"
