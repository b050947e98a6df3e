"""The sweep, its cluster executor and the shared one-run module import in one direction."""

import ast
from pathlib import Path

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"


def _experiments_imports(path: Path) -> set[str]:
    """Names of ``bipe.experiments`` modules a file imports anywhere (function bodies too)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module == "bipe.experiments":
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "bipe.experiments."):
            names.add(node.module.split(".")[2])
        elif isinstance(node, ast.Import):
            names.update(a.name.split(".")[2] for a in node.names
                         if a.name.startswith("bipe.experiments."))
    return names


def _reachable(start: str) -> set[str]:
    """Every experiments module reachable from ``start`` through imports (not ``start``)."""
    seen, todo = set(), [start]
    while todo:
        path = EXPERIMENTS / f"{todo.pop()}.py"
        for name in _experiments_imports(path) if path.is_file() else ():
            if name not in seen:
                seen.add(name)
                todo.append(name)
    return seen - {start}


def test_cluster_and_sweep_are_not_an_import_cycle():
    assert "cluster" in _reachable("sweep")
    assert "sweep" not in _reachable("cluster")
    assert "sweep" not in _reachable("sweep_run") and "cluster" not in _reachable("sweep_run")


def test_the_checker_sees_function_level_imports(tmp_path):
    planted = tmp_path / "x.py"
    planted.write_text("def f():\n    from bipe.experiments.sweep import run_one\n"
                       "from bipe.experiments import cluster\nimport bipe.experiments.demo\n")
    assert _experiments_imports(planted) == {"sweep", "cluster", "demo"}
