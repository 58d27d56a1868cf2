"""The package's architecture, read from the source with ``ast``: no import cycles between modules,
no import that goes up the stage order, every folder a documented package, no top-level name
that shadows the standard library.

Stages, lowest first (docs/architecture.md; each stage's ``__init__.py`` says what it may
import): errors; data and models; codecs; store; run; analysis; api; cli. A module may import its own
stage or lower ones only. Every ``import`` and ``from ... import`` counts, including those inside
functions (imported lazily, but still a dependency). The package root's ``rdbench/__init__.py``
resolves its public names lazily through ``importlib`` and is a foundation module here: it may
import nothing of rdbench directly. ``rdbench/shipped.py`` (where the shipped TOML files are) is
another foundation module, beside ``rdbench/errors.py``.

Why not import-linter (tried, 2.17): its ``layers`` contract (``data | models``) states the stage rule,
but no contract states "no import cycle between modules": ``acyclic_siblings`` misses a cycle between
a package's ``__init__`` and its own module (``rdbench.store`` <-> ``rdbench.store.sqlite``) and refuses
sibling-package cycles that are no module cycle (``codecs.base`` -> ``codecs.learned.checkpoints``).
"""

from __future__ import annotations

import ast
import sys
from collections import deque
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "rdbench"

#: stage -> rank; a module may import a module of its own stage or of a stage of lower rank
STAGES = {"errors": 0, "data": 1, "models": 1, "codecs": 2, "store": 3, "run": 4, "analysis": 5, "api": 6, "cli": 7}
#: modules outside the stage folders -> the stage they belong to
SPECIAL = {"rdbench": "errors", "rdbench.shipped": "errors", "rdbench.metric_spec": "errors", "rdbench.__main__": "cli"}


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    where: str  # path:line of the import statement

    def __str__(self) -> str:
        return f"{self.source} -> {self.target} ({self.where})"


def modules(package: Path = PACKAGE) -> dict[str, Path]:
    """Every module of the package: dotted name -> source file."""
    found = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _known(name: str, known: dict[str, Path]) -> str | None:
    """The module ``name`` names, or its longest known prefix (``rdbench.x.attr`` -> ``rdbench.x``)."""
    while name:
        if name in known:
            return name
        name = name.rpartition(".")[0]
    return None


def import_edges(known: dict[str, Path]) -> list[Edge]:
    """Every import of an rdbench module by an rdbench module, in any scope."""
    edges = []
    for source, path in known.items():
        is_package = path.name == "__init__.py"
        rel = path.relative_to(path.parents[source.count(".") + is_package])
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: resolve against the importing module's package
                    package = source.split(".") if is_package else source.split(".")[:-1]
                    package = package[: len(package) - (node.level - 1)]
                    base = ".".join([*package, *([base] if base else [])])
                # `from pkg import sub` imports the submodule; `from mod import name` the module
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
            for target in targets:
                if target == "rdbench" or target.startswith("rdbench."):
                    resolved = _known(target, known)
                    assert resolved, f"{rel}:{node.lineno} imports {target}, which is not a module of rdbench"
                    edges.append(Edge(source, resolved, f"{rel}:{node.lineno}"))
    return edges


def stage(module: str) -> str:
    if module in SPECIAL:
        return SPECIAL[module]
    return module.split(".")[1]


def upward_imports(edges: list[Edge]) -> list[str]:
    found = []
    for edge in edges:
        own, theirs = stage(edge.source), stage(edge.target)
        if own != theirs and STAGES[theirs] >= STAGES[own]:
            found.append(f"{edge}: stage {own} may not import stage {theirs}")
    return found


def import_cycles(edges: list[Edge]) -> list[str]:
    """One shortest cycle through each strongly connected group of modules (Tarjan), with its edges."""
    graph: dict[str, dict[str, Edge]] = {}
    for edge in edges:
        graph.setdefault(edge.source, {}).setdefault(edge.target, edge)
        graph.setdefault(edge.target, {})
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph[node]):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            if len(group) > 1 or node in graph[node]:
                groups.append(group)

    for node in sorted(graph):
        if node not in index:
            visit(node)

    found = []
    for group in groups:
        start = min(group)
        # breadth-first from start back to start, inside the group: a shortest cycle
        parent: dict[str, str] = {}
        queue = deque([start])
        while queue:
            node = queue.popleft()
            if start in graph[node]:
                last = node
                break
            for succ in sorted(graph[node]):
                if succ in group and succ not in parent and succ != start:
                    parent[succ] = node
                    queue.append(succ)
        path = [start, last]
        while path[-1] != start:
            path.append(parent[path[-1]])
        path = path[::-1][:-1] + [start]  # start -> ... -> last -> start
        cycle = " -> ".join(path)
        steps = "; ".join(str(graph[a][b]) for a, b in zip(path, path[1:]))
        found.append(f"{cycle} (modules in the cycle group: {', '.join(sorted(group))}; imports: {steps})")
    return found


def test_every_module_belongs_to_a_stage() -> None:
    unassigned = [name for name in modules() if name not in SPECIAL and name.split(".")[1] not in STAGES]
    assert not unassigned, f"modules outside the stages {sorted(STAGES)}: {unassigned}"


def test_no_import_cycles() -> None:
    cycles = import_cycles(import_edges(modules()))
    assert not cycles, "import cycles between rdbench modules:\n" + "\n".join(cycles)


def test_no_import_goes_up_the_stage_order() -> None:
    upward = upward_imports(import_edges(modules()))
    assert not upward, "imports up the stage order (errors < data, models < codecs < store < run < analysis " \
                       "< api < cli):\n" + "\n".join(upward)


def test_the_checks_see_lazy_relative_and_cyclic_imports(tmp_path: Path) -> None:
    """The checks on a small made-up package: imports inside functions and relative ones count."""
    sources = {
        "store/sqlite.py": "def f():\n    from rdbench.run import metrics\n",
        "run/metrics.py": "from ..store import sqlite\nfrom . import not_a_module\nimport rdbench.errors\n",
        "run/__init__.py": '"""doc"""\n',
        "errors.py": "",
    }
    for name, text in sources.items():
        (tmp_path / "rdbench" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "rdbench" / name).write_text(text)
    found = import_edges(modules(tmp_path / "rdbench"))
    assert str(found[0]) == "rdbench.run.metrics -> rdbench.store.sqlite (rdbench/run/metrics.py:1)"
    edges = {(e.source, e.target) for e in found}
    assert edges == {("rdbench.store.sqlite", "rdbench.run.metrics"), ("rdbench.run.metrics", "rdbench.store.sqlite"),
                     ("rdbench.run.metrics", "rdbench.run"), ("rdbench.run.metrics", "rdbench.errors")}
    typed = [Edge(a, b, "x:1") for a, b in sorted(edges)]
    assert upward_imports(typed) == ["rdbench.store.sqlite -> rdbench.run.metrics (x:1): stage store may not "
                                     "import stage run"]
    (cycle,) = import_cycles(typed)
    assert cycle.startswith("rdbench.run.metrics -> rdbench.store.sqlite -> rdbench.run.metrics ")


def test_every_folder_with_modules_is_a_documented_package() -> None:
    problems = []
    for folder in sorted({path.parent for path in PACKAGE.rglob("*.py")}):
        init = folder / "__init__.py"
        if not init.exists():
            problems.append(f"{folder.relative_to(REPO)}/ holds modules but no __init__.py")
        elif not ast.get_docstring(ast.parse(init.read_text())):
            problems.append(f"{init.relative_to(REPO)} has no docstring saying what the package is for")
    assert not problems, "\n".join(problems)


def test_nothing_in_the_repository_root_shadows_a_standard_library_module() -> None:
    """With the root on sys.path (``python -m pytest``, notebooks, scripts run from it), a module or
    a regular package (a folder with ``__init__.py``) named like a standard-library module would
    shadow it. A plain folder does not: the shipped configurations' ``codecs/`` is only a
    namespace-package portion, which loses to a module of that name anywhere on sys.path
    (tests/test_repository.py imports ``codecs`` afresh from the root to show it)."""
    names = {path.stem if path.suffix == ".py" else path.name for path in REPO.iterdir()
             if (path.is_dir() and (path / "__init__.py").exists()) or path.suffix == ".py"}
    assert not names & set(sys.stdlib_module_names), sorted(names & set(sys.stdlib_module_names))
