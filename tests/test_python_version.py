"""pyproject's ``requires-python`` agrees with the code: 3.11-only modules have a fallback."""

import ast
import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
# Standard-library modules new in 3.11 -> the package that backs them on 3.10.
NEW_IN_311 = {"tomllib": "tomli"}


def _sources():
    skip = {".venv", ".ci-venv", "build", ".git"}
    return [p for p in ROOT.rglob("*.py") if not skip & set(p.relative_to(ROOT).parts)]


def _guarded(tree: ast.Module, node: ast.AST, backport: str) -> bool:
    """``node`` sits in the body of ``if sys.version_info >= (3, 11):`` with an ``else``, or of a
    ``try:`` whose ``except`` imports ``backport``."""
    for parent in ast.walk(tree):
        if (
            isinstance(parent, ast.If)
            and node in parent.body
            and parent.orelse
            and ast.unparse(parent.test).replace(" ", "") == "sys.version_info>=(3,11)"
        ):
            return True
        if isinstance(parent, ast.Try) and node in parent.body:
            handled = [n for h in parent.handlers for n in ast.walk(h) if isinstance(n, ast.Import)]
            if any(a.name == backport for n in handled for a in n.names):
                return True
    return False


def test_requires_python_matches_ruff_target_and_declares_backports():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    floor = re.fullmatch(r">=3\.(\d+)", meta["project"]["requires-python"]).group(1)
    assert meta["tool"]["ruff"]["target-version"] == f"py3{floor}"
    deps = meta["project"]["dependencies"]
    for backport in NEW_IN_311.values():
        assert any(d.startswith(backport) and "python_version < '3.11'" in d for d in deps), deps


def test_modules_new_in_311_are_imported_behind_a_version_guard():
    bad = []
    for path in _sources():
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            new = [NEW_IN_311[n] for n in names if n in NEW_IN_311]
            if new and not _guarded(tree, node, new[0]):
                bad.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not bad, f"3.11-only imports without a 3.10 fallback: {bad}"
