"""The project's standard of code shape: functions short enough to read at once (aim under 60
lines; none over 80), checked on every Python file of the package, the tests and the benchmarks."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHECKED_DIRS = ("python/mxcp_compact", "tests", "benches")
MAX_FUNCTION_LINES = 80


def long_functions(path: Path, root: Path) -> list[tuple[str, int, str, int]]:
    """(path relative to `root`, line, name, lines) of each function or method in `path`, nested
    ones included, longer than MAX_FUNCTION_LINES from its `def` line (decorators excluded) to
    its last line."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            assert node.end_lineno is not None
            span = node.end_lineno - node.lineno + 1
            if span > MAX_FUNCTION_LINES:
                found.append((path.relative_to(root).as_posix(), node.lineno, node.name, span))
    return found


def listing(found: list[tuple[str, int, str, int]]) -> str:
    return "\n".join(f"{path}:{line} {name} ({span} lines)" for path, line, name, span in sorted(found))


def test_no_python_function_is_longer_than_80_lines() -> None:
    files = sorted(path for folder in CHECKED_DIRS for path in (REPO / folder).rglob("*.py"))
    for folder in CHECKED_DIRS:
        assert any(path.is_relative_to(REPO / folder) for path in files), f"no Python file under {folder}"
    too_long = [entry for path in files for entry in long_functions(path, REPO)]
    assert not too_long, f"functions over {MAX_FUNCTION_LINES} lines:\n{listing(too_long)}"


def test_nested_and_async_functions_over_the_limit_are_listed_from_their_def_line(tmp_path: Path) -> None:
    def lines(count: int, indent: str) -> str:
        return "".join(f"{indent}x{i} = {i}\n" for i in range(count))

    source = (
        f"def exactly_at_the_limit():\n{lines(MAX_FUNCTION_LINES - 1, '    ')}"
        "class C:\n"
        "    @staticmethod\n"
        "    @staticmethod\n"
        "    def method():\n"
        f"        async def inner():\n{lines(MAX_FUNCTION_LINES, '            ')}"
        "        return inner\n"
    )
    (tmp_path / "module.py").write_text(source, encoding="utf-8")
    first = MAX_FUNCTION_LINES + 4  # the `def method` line, after its two decorators
    assert listing(long_functions(tmp_path / "module.py", tmp_path)) == (
        f"module.py:{first} method ({MAX_FUNCTION_LINES + 3} lines)\n"
        f"module.py:{first + 1} inner ({MAX_FUNCTION_LINES + 1} lines)"
    )
