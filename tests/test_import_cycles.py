"""No import cycles among bipe modules (module-level imports; lazy in-function imports are the
sanctioned way to break a dependency that only a call needs)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _module(path: Path, root: Path) -> str:
    parts = ["bipe", *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, root: Path, modules: set[str], everywhere: bool = False) -> set[str]:
    """The bipe modules ``path`` imports at module level (not inside functions or classes'
    methods; with ``everywhere``, function bodies too); ``from pkg import name`` counts
    ``pkg.name`` when that is a module, else ``pkg``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = _module(path, root).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    out = set()
    for node in ast.walk(tree) if everywhere else _module_level(tree.body):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = (
                ".".join(package[: len(package) - node.level + 1] + [node.module or ""])
                if node.level
                else node.module or ""
            )
            base = base.rstrip(".")
            for alias in node.names:
                full = f"{base}.{alias.name}"
                out.add(full if full in modules else base)
    return {m for m in out if m in modules}


def _module_level(body):
    """Statements executed at import: the body, into if/try/with blocks, not into defs or
    ``if TYPE_CHECKING:`` blocks."""
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            yield from _module_level(node.orelse)
            continue
        if isinstance(node, ast.ClassDef):
            yield from _module_level(node.body)
            continue
        yield node
        for field in ("body", "orelse", "finalbody", "handlers"):
            yield from _module_level(getattr(node, field, []) or [])


def import_graph(root: Path = ROOT, everywhere: bool = False) -> dict[str, set[str]]:
    """Module -> the bipe modules it imports (module level, or ``everywhere``)."""
    paths = [
        p
        for p in root.rglob("*.py")
        if "tests" not in p.relative_to(root).parts[:1] and ".venv" not in p.parts
    ]
    modules = {_module(p, root) for p in paths}
    return {_module(p, root): _imports(p, root, modules, everywhere) for p in paths}


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    """Every module reachable from ``start`` through imports (not ``start`` itself)."""
    seen, todo = set(), [start]
    while todo:
        for name in graph.get(todo.pop(), ()):
            if name not in seen:
                seen.add(name)
                todo.append(name)
    return seen - {start}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles():
    found = cycles(import_graph())
    assert not found, "import cycles: " + "; ".join(" <-> ".join(c) for c in found)


def test_cycle_checker_catches_a_planted_cycle(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "a.py").write_text("from bipe.pkg import b\n")
    (tmp_path / "pkg" / "b.py").write_text("from . import c\n")
    (tmp_path / "pkg" / "c.py").write_text("import bipe.pkg.a\n")
    (tmp_path / "pkg" / "lazy.py").write_text("def f():\n    from bipe.pkg import a\n")
    (tmp_path / "pkg" / "d.py").write_text("from bipe.pkg.lazy import f\n")
    (tmp_path / "pkg" / "typed.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from bipe.pkg import d\n"
    )
    (tmp_path / "pkg" / "lazy.py").write_text(
        "from bipe.pkg import typed\ndef f():\n    from bipe.pkg import a\n"
    )
    assert cycles(import_graph(tmp_path)) == [["bipe.pkg.a", "bipe.pkg.b", "bipe.pkg.c"]]


def test_cluster_and_sweep_are_not_an_import_cycle_even_lazily():
    """The sweep, its cluster executor and the shared one-run module import in one direction,
    counting imports inside functions too."""
    graph = import_graph(everywhere=True)
    sweep, cluster, run = (f"bipe.experiments.{m}" for m in ("sweep", "cluster", "sweep_run"))
    assert cluster in reachable(graph, sweep)
    assert sweep not in reachable(graph, cluster)
    assert sweep not in reachable(graph, run) and cluster not in reachable(graph, run)


def test_the_checker_sees_function_level_imports_when_asked(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    for name in ("sweep", "cluster", "demo"):
        (tmp_path / "pkg" / f"{name}.py").write_text("")
    (tmp_path / "pkg" / "x.py").write_text(
        "def f():\n    from bipe.pkg.sweep import run_one\n"
        "from bipe.pkg import cluster\nimport bipe.pkg.demo\n"
    )
    both = {"bipe.pkg.sweep", "bipe.pkg.cluster", "bipe.pkg.demo"}
    assert import_graph(tmp_path, everywhere=True)["bipe.pkg.x"] == both
    assert import_graph(tmp_path)["bipe.pkg.x"] == both - {"bipe.pkg.sweep"}
