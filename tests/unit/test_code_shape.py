"""The shape of the code base: small functions, and team lists that come only from the team registry."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from common.teams import TEAMS

ROOT = Path(__file__).resolve().parents[2]
SOURCE_DIRS = ("common", "benchmarks", "deploy", *(s.package for s in TEAMS.services()))
MAX_FUNCTION_LINES = 60


def python_files() -> list[Path]:
    return sorted(p for d in SOURCE_DIRS for p in (ROOT / d).rglob("*.py") if "__pycache__" not in p.parts)


def test_no_function_is_longer_than_sixty_lines() -> None:
    long = []
    for path in python_files():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({lines} lines)")
    assert not long, "split these functions by job:\n" + "\n".join(long)


def _team_names_in(path: Path) -> set[str]:
    """Team names that appear as string constants in a module (docstrings excluded)."""
    tree = ast.parse(path.read_text(), str(path))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    names = set(TEAMS.names)
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and id(node) not in docstrings and node.value in names
    }


@pytest.mark.parametrize("path", python_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_outside_the_registry_and_its_team_lists_teams(path: Path) -> None:
    """Only the registry, a team's own package and the tests name more than one team."""
    if path == ROOT / "common" / "teams.py" or path.is_relative_to(ROOT / "benchmarks" / "tasks.py"):
        return  # the registry itself; the benchmark's task shapes are test data
    named = _team_names_in(path)
    assert len(named) <= 1, (
        f"{path.relative_to(ROOT)} names teams {sorted(named)}: derive them from common.teams"
    )
