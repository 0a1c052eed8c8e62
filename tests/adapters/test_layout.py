"""The adapters package stays small and acyclic: no module over 400 lines, no import cycle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import adapters

PACKAGE = Path(adapters.__file__).resolve().parent
MODULES = sorted(PACKAGE.rglob("*.py"))
MAX_LINES = 400


def module_name(path: Path) -> str:
    """`adapters.mosaic.client` for `adapters/mosaic/client.py` (a package by its folder)."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


NAMES = {module_name(path): path for path in MODULES}


def imported(path: Path) -> set[str]:
    """The modules of the package that `path` imports, as written at any level of the file."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            # `from adapters.mosaic import client` imports the module adapters.mosaic.client;
            # `from adapters.base import Payload` imports adapters.base.
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                found.add(submodule if submodule in NAMES else node.module)
    return {name for name in found if name in NAMES} - {module_name(path)}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every import cycle of the graph, each as the path that closes it."""
    found: list[list[str]] = []
    state: dict[str, str] = {}

    def visit(name: str, trail: list[str]) -> None:
        state[name] = "open"
        for target in sorted(graph[name]):
            if state.get(target) == "open":
                found.append([*trail[trail.index(target) :], target])
            elif target not in state:
                visit(target, [*trail, target])
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    return found


@pytest.mark.parametrize("path", MODULES, ids=[module_name(p) for p in MODULES])
def test_no_module_is_over_400_lines(path: Path) -> None:
    """Each module of `adapters/` holds at most 400 lines."""
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(PACKAGE.parent)} has {lines} lines"


def test_no_import_cycle() -> None:
    """No module of `adapters/` imports, through others, a module that imports it."""
    graph = {name: imported(path) for name, path in NAMES.items()}
    assert not cycles(graph)


def test_the_cycle_finder_finds_a_cycle() -> None:
    """The check above can fail: a two-module cycle and a three-module cycle are reported."""
    graph = {"a": {"b"}, "b": {"a", "c"}, "c": {"d"}, "d": {"e"}, "e": {"c"}}
    assert cycles(graph) == [["a", "b", "a"], ["c", "d", "e", "c"]]
