"""No import circles: the modules of ``core``, ``mcp_tools`` and ``bots`` import each other
in one direction, so every module can be imported first, on its own.

Only imports that run when a module is loaded count: those at module level (including inside
``try``/``if`` blocks there), not those inside functions or under ``if TYPE_CHECKING:``.
"""

from __future__ import annotations

import ast
import shutil
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("core", "mcp_tools", "bots")


def modules(root: Path) -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (root / package).rglob("*.py"):
            parts = list(path.relative_to(root).with_suffix("").parts)
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def loaded_imports(name: str, path: Path) -> Iterator[str]:
    """What importing the module imports at once (absolute dotted names)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]

    def walk(body: list[ast.stmt]) -> Iterator[str]:
        for node in body:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                yield from walk(node.orelse)
            elif isinstance(node, ast.Import):
                yield from (alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = package.split(".")[:len(package.split(".")) - node.level + 1] \
                    if node.level else []
                target = ".".join([*base, *([node.module] if node.module else [])])
                yield target
                yield from (f"{target}.{alias.name}" for alias in node.names)
            elif isinstance(node, (ast.If, ast.Try, ast.With)):
                yield from walk(node.body)
                yield from walk(getattr(node, "orelse", []))
                yield from walk(getattr(node, "finalbody", []))
                for handler in getattr(node, "handlers", []):
                    yield from walk(handler.body)

    yield from walk(ast.parse(path.read_text()).body)


def circles(root: Path) -> list[list[str]]:
    """Every set of modules that import each other in a circle (Tarjan's components)."""
    found = modules(root)
    graph = {name: sorted({m for m in loaded_imports(name, path) if m in found and m != name})
             for name, path in found.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    result: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                result.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return result


def test_no_modules_import_each_other_in_a_circle() -> None:
    assert circles(ROOT) == []


def test_the_check_finds_a_circle_added_in_a_scratch_copy(tmp_path: Path) -> None:
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    store = tmp_path / "core" / "runs" / "store.py"
    store.write_text(store.read_text() + "\nfrom core.runs.service import RunManager\n")
    [circle] = [c for c in circles(tmp_path) if "core.runs.store" in c]
    assert {"core.runs.service", "core.runs.store"} <= set(circle)
