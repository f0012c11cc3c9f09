"""The packages of `app/` import downward only: no package imports one that imports it back.

The intended order, lowest first (a package may import any package before it):

    core, state, models, security, http, resilience, simulator, integrations, calllog, queries,
    observability, api, cli

`main.py` (create_app) and `__main__.py` sit on top and may import anything.
"""

import ast
from pathlib import Path

APP = Path(__file__).resolve().parents[1] / "app"
ORDER = [
    "core",
    "state",
    "models",
    "security",
    "http",
    "resilience",
    "simulator",
    "integrations",
    "calllog",
    "queries",
    "observability",
    "api",
    "cli",
]


def package_imports() -> dict[str, set[str]]:
    """For each package of `app/`, the other packages of `app/` its modules import."""
    graph: dict[str, set[str]] = {}
    for path in APP.rglob("*.py"):
        parts = path.relative_to(APP).parts
        if len(parts) < 2:
            continue  # main.py, __main__.py: the top
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            else:
                continue
            for name in names:
                bits = name.split(".")
                inside = len(bits) > 1 and bits[0] == "app" and bits[1] != parts[0]
                if inside and (APP / bits[1]).is_dir():
                    graph.setdefault(parts[0], set()).add(bits[1])
    return graph


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        for nxt in graph.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def test_no_package_imports_one_that_imports_it_back() -> None:
    graph = package_imports()
    cycles = sorted(
        f"{a} <-> {b}"
        for a in graph
        for b in reachable(graph, a)
        if a < b and a in reachable(graph, b)
    )
    assert cycles == []


def test_every_package_imports_only_those_below_it() -> None:
    packages = {p.name for p in APP.iterdir() if (p / "__init__.py").exists()}
    assert packages == set(ORDER), "a new package: place it in ORDER (and the docstring)"
    upward = sorted(
        f"{a} imports {b}"
        for a, targets in package_imports().items()
        for b in targets
        if ORDER.index(b) > ORDER.index(a)
    )
    assert upward == []


def test_the_check_sees_a_cycle() -> None:
    # The check itself can fail: a made-up back edge is reported.
    graph = {"core": {"http"}, "http": {"core"}}
    assert "core" in reachable(graph, "core")
