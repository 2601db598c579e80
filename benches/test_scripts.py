"""Smoke runs of the comparison scripts on small logs, so that `make compare` and the segment
comparison keep working: each must finish with every one of its own checks (byte-identical
output against the Python reference, counts against the generator) passing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import mxcp_compact._core as core

BENCHES = Path(__file__).resolve().parent


def run_script(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(BENCHES / name), *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_compare_runs_every_scenario_and_its_checks_pass(tmp_path: Path) -> None:
    """Every scenario of issue 11's table at a tiny size (4x rows: 8 MiB), one run each; the
    cold row runs only as root (it drops the page cache), else it says why it did not."""
    out = tmp_path / "compare.json"
    done = run_script(
        "compare.py", "--size-mb", "2", "--runs", "1", "--no-jq", "--scenarios", "all", "--json-out", str(out)
    )
    assert done.returncode == 0, done.stderr
    assert "| mxcp-compact (real run) |" in done.stdout and "| cp FILE DST + fsync |" in done.stdout
    assert "| head -c KEPT + fsync + rm |" in done.stdout
    assert f"mxcp-compact {core.__version__}, {core.BUILD} build (git " in done.stdout
    result = json.loads(out.read_text())
    checks = result["checks"]
    assert checks["reference_and_mxcp_byte_identical"] is True
    assert all(value is not False for value in checks.values()), checks
    for tag in ("daily", "daily-mix"):
        assert checks[f"{tag}: same bytes as a --full real run of a twin"] is True
        assert checks[f"{tag}: full dry run after the measured run deletes nothing"] is True
        figures = result["figures"][tag]
        assert figures["files_not_read"][0] > 0, "the index let the next day's run skip files"
    scenarios = [row["scenario"] for row in result["scenarios"]]
    assert len(scenarios) == 11, scenarios
    for row in result["scenarios"]:
        if row["scenario"].startswith("Cold") and not result["params"]["cold"]:
            assert row["mxcp"].startswith("not measured"), row
        elif not row["scenario"].startswith("Peak"):
            assert row["ratio"] is not None and row["ratio"] > 0, row
    assert "| scenario | mxcp-compact: median (min-max) |" in done.stdout


def test_every_repetition_of_the_daily_job_measures_a_next_day_with_something_to_delete(tmp_path: Path) -> None:
    """`run_loop` reverses the methods' order every other repetition; the daily job must not, or
    its second run measures a directory that the first one cleaned already."""
    out = tmp_path / "compare.json"
    done = run_script(
        "compare.py", "--size-mb", "2", "--runs", "2", "--no-jq", "--scenarios", "daily", "--json-out", str(out)
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(out.read_text())
    deleted = result["figures"]["daily"]["next_day_deleted"]
    assert len(deleted) == 2 and deleted[0] == deleted[1] > 0, deleted
    assert result["checks"]["daily: every repetition deleted as much and read as many files"] is True


def test_segments_delete_what_one_file_deletes(tmp_path: Path) -> None:
    out = tmp_path / "segments.json"
    done = run_script(
        "segments.py", "--size-mb", "4", "--segments", "8", "--runs", "1", "--keep-data", str(tmp_path / "data"),
        "--json-out", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr + done.stdout
    result = json.loads(out.read_text())
    assert result["checks"] == {"all_runs_delete_what_the_generator_says": True, "kept_bytes_equal": True}
    assert len(list((tmp_path / "data").glob("work-*"))) == 0, "the scratch copies are removed"


def test_scale_compares_two_sizes_and_reports_memory(tmp_path: Path) -> None:
    out = tmp_path / "scale.json"
    done = run_script("scale.py", "--sizes-mb", "2", "8", "--runs", "1", "--json-out", str(out))
    assert done.returncode == 0, done.stderr + done.stdout
    result = json.loads(out.read_text())
    assert all(result["checks"].values()) and len(result["checks"]) == 4
    assert 3.5 < result["size_ratio"] < 4.5
    assert result["memory_kib"]["real"]["rss_anon_peak_kib"] > 0


def test_daily_job_with_the_index_deletes_what_a_full_run_deletes(tmp_path: Path) -> None:
    out = tmp_path / "daily.json"
    done = run_script(
        "daily.py", "--size-mb", "4", "--segments", "3", "--runs", "1", "--data", str(tmp_path / "data"),
        "--json-out", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr + done.stdout
    result = json.loads(out.read_text())
    assert result["checks"] == {"dry_runs_agree": True, "real_runs_agree": True, "same_bytes_as_full": True}
    assert not (tmp_path / "data").exists(), "the scratch data is removed"


def test_profile_guided_build_without_llvm_profdata_says_so_and_builds_nothing() -> None:
    """`make build-pgo` on a machine without the tool: one line naming it, exit 2, and the
    installed extension and make's stamps left exactly as they were."""
    venv = BENCHES.parent / ".venv"
    watched = [Path(core.__file__), *(venv / name for name in (".core-built", ".core-pgo", ".python-compiled"))]
    before = {path: path.stat().st_mtime_ns for path in watched if path.exists()}
    done = subprocess.run(
        ["bash", str(BENCHES / "pgo_build.sh")],
        env={**os.environ, "LLVM_PROFDATA": "/nonexistent/llvm-profdata"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "needs llvm-profdata from LLVM" in done.stderr, done.stderr
    assert "nothing was built" in done.stderr
    assert {path: path.stat().st_mtime_ns for path in watched if path.exists()} == before


def test_profile_guided_build_rejects_an_unknown_argument() -> None:
    done = subprocess.run(
        ["bash", str(BENCHES / "pgo_build.sh"), "--bogus"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 2
    assert done.stderr == "build-pgo: unknown argument --bogus (usage: pgo_build.sh [--wheel DIR | --check])\n"


def test_profile_guided_build_check_says_whether_the_tool_is_there_and_builds_nothing() -> None:
    """What CI asks before choosing the build: exit 0 with a tool, 2 and the same line without."""

    def check(tool: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "LLVM_PROFDATA": tool}
        script = str(BENCHES / "pgo_build.sh")
        return subprocess.run(
            ["bash", script, "--check"], env=env, capture_output=True, text=True, timeout=60, check=False
        )

    before = Path(core.__file__).stat().st_mtime_ns
    missing = check("/nonexistent/llvm-profdata")
    assert missing.returncode == 2 and "needs llvm-profdata from LLVM" in missing.stderr
    found = check("/bin/true")
    assert (found.returncode, found.stdout, found.stderr) == (0, "", "")
    assert Path(core.__file__).stat().st_mtime_ns == before
