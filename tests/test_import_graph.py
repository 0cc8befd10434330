"""No import cycles between the package's modules, lazy and type-only imports included.

The graph is read from the source with ``ast`` (every ``import`` and ``from ... import``
of an ``ngrok_inspect`` module, wherever it stands), so a cycle hidden behind
``TYPE_CHECKING`` or an import inside a function is found too. Package ``__init__``
modules that re-export lazily (a module ``__getattr__``) are the one allowed exception:
their ``__getattr__`` and the ``TYPE_CHECKING`` block naming the same re-exports for type
checkers never run when a submodule is imported.
"""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "ngrok_inspect"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _resolve(name: str) -> str | None:
    """The module an imported dotted name lives in (``pkg.mod.func`` -> ``pkg.mod``)."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _lazy_reexports(tree: ast.Module) -> set[int]:
    """Lines of a lazily re-exporting module's ``__getattr__`` and ``TYPE_CHECKING`` block."""
    lazy = any(isinstance(n, ast.FunctionDef) and n.name == "__getattr__" for n in tree.body)
    lines: set[int] = set()
    for node in tree.body if lazy else ():
        type_only = isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"
        if type_only or (isinstance(node, ast.FunctionDef) and node.name == "__getattr__"):
            lines.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    return lines


def imports_of(name: str, source: str) -> set[str]:
    """The package modules ``name`` imports."""
    tree = ast.parse(source)
    lazy = _lazy_reexports(tree)
    is_pkg = MODULES[name].name == "__init__.py" if name in MODULES else False
    base = name if is_pkg else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if getattr(node, "lineno", 0) in lazy:
            continue
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                pkg = base.split(".")
                pkg = pkg[: len(pkg) - node.level + 1]
                mod = ".".join([*pkg, node.module] if node.module else pkg)
            else:
                mod = node.module or ""
            # ``from pkg import submodule`` imports the submodule
            targets = [f"{mod}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            found = _resolve(target)
            if found is not None and found != name:
                out.add(found)
    return out


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (``[a, b, ..., a]``), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def package_graph() -> dict[str, set[str]]:
    return {name: imports_of(name, path.read_text()) for name, path in MODULES.items()}


def test_the_core_has_no_import_cycle() -> None:
    """Everything outside ``cli/`` (the library; the local agent above all)."""
    core = {
        name: {d for d in deps if not d.startswith("ngrok_inspect.cli")}
        for name, deps in package_graph().items()
        if not name.startswith("ngrok_inspect.cli")
    }
    assert "ngrok_inspect.local_agent.proxy" in core
    assert find_cycle(core) is None


def test_the_local_agent_layers() -> None:
    """Each local-agent module imports only the layers below it."""
    graph = package_graph()
    la = "ngrok_inspect.local_agent"
    assert f"{la}.api" in graph[f"{la}.server"]
    assert f"{la}.core" in graph[f"{la}.api"]
    # only the API module knows the API; the core and what it uses never import it
    for name, deps in graph.items():
        if name.startswith(la + ".") and name not in (f"{la}.server", f"{la}.api"):
            assert f"{la}.api" not in deps, name
            assert f"{la}.server" not in deps, name
    # WebSocket and replay record through capture, never through the forwarding proxy
    for name in ("websocket", "replay", "capture", "wire"):
        assert f"{la}.proxy" not in graph[f"{la}.{name}"], name
    assert f"{la}.capture" in graph[f"{la}.websocket"]


def test_the_cycle_check_can_fail() -> None:
    graph = {
        "a": imports_of("ngrok_inspect.local_agent.wire", "from ngrok_inspect import errors"),
        "ngrok_inspect.errors": {"a"},
    }
    assert graph["a"] == {"ngrok_inspect.errors"}
    assert find_cycle(graph) == ["a", "ngrok_inspect.errors", "a"]
    type_only = imports_of(
        "ngrok_inspect.local_agent.core",
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from ngrok_inspect.local_agent.server import LocalAgent\n"
        "def f():\n    from ngrok_inspect.local_agent import api\n",
    )
    assert type_only == {"ngrok_inspect.local_agent.server", "ngrok_inspect.local_agent.api"}


@pytest.mark.parametrize(
    "module", sorted(m for m in MODULES if m.startswith("ngrok_inspect.local_agent"))
)
def test_each_local_agent_module_imports_alone(module: str) -> None:
    """Imported first in a fresh interpreter, every module loads (no cycle at runtime)."""
    subprocess.run([sys.executable, "-c", f"import {module}"], check=True, timeout=60)
    assert importlib.import_module(module) is not None


# The one cycle left in cli/: the output seam reads the global options lazily from
# cli.app (which builds the seam). Remove it from here when it goes.
KNOWN_CLI_EDGES = {("ngrok_inspect.cli.output", "ngrok_inspect.cli.app")}


def test_the_cli_has_no_other_import_cycle() -> None:
    graph = package_graph()
    for src, dst in KNOWN_CLI_EDGES:
        assert dst in graph[src], "the known edge is gone: drop it from KNOWN_CLI_EDGES"
        graph[src].discard(dst)
    assert find_cycle(graph) is None
