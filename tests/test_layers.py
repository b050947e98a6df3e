"""The import direction of DEVELOPERS.md: automata -> synthetic -> experiments <- models.

analysis reads what runs wrote: it may use automata, synthetic and models (to rebuild a
model or regenerate ground truth) but never experiments, which is the one composition root.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("automata", "synthetic", "models", "experiments", "analysis")
ALLOWED = {
    "automata": set(),
    "synthetic": {"automata"},
    "models": set(),
    "analysis": {"automata", "synthetic", "models"},
    "experiments": {"automata", "synthetic", "models", "analysis"},
}
NO_TORCH = ("automata", "synthetic")


def _imports(path: Path, root: Path = ROOT) -> set[str]:
    """Every module name a file imports, absolute ('bipe.x.y') or resolved from relative."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = ["bipe", *path.relative_to(root).parent.parts]
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                names.add(".".join(base + ([node.module] if node.module else [])))
            else:
                names.add(node.module or "")
    return names


def _violations(layer: str, root: Path = ROOT) -> list[str]:
    bad = []
    for path in sorted((root / layer).rglob("*.py")):
        where = path.relative_to(root)
        for name in _imports(path, root):
            parts = name.split(".")
            if parts[0] == "bipe" and len(parts) > 1 and parts[1] in LAYERS:
                target = parts[1]
                if target != layer and target not in ALLOWED[layer]:
                    bad.append(f"{where} imports {name}")
            if layer in NO_TORCH and parts[0] in ("torch", "matplotlib"):
                bad.append(f"{where} imports {name}")
            if layer != "analysis" and parts[0] == "matplotlib":
                bad.append(f"{where} imports {name} (matplotlib is analysis-only)")
    return bad


@pytest.mark.parametrize("layer", LAYERS)
def test_layer_imports_point_one_way(layer):
    bad = _violations(layer)
    assert not bad, "layer violations:\n" + "\n".join(bad)


def test_checker_catches_planted_edges(tmp_path):
    """The checker must catch a planted bad edge (a test that cannot fail is no test)."""
    (tmp_path / "automata").mkdir()
    (tmp_path / "automata" / "planted.py").write_text(
        "from ..models import x\nimport torch\nfrom bipe.synthetic import y\n"
    )
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "fine.py").write_text("import torch\nfrom . import z\n")
    assert sorted(_violations("automata", tmp_path)) == [
        "automata/planted.py imports bipe.models",
        "automata/planted.py imports bipe.synthetic",
        "automata/planted.py imports torch",
    ]
    assert _violations("models", tmp_path) == []


def test_data_layers_do_not_load_torch():
    code = (
        "import sys, bipe.automata, bipe.synthetic\n"
        "import pkgutil, importlib\n"
        "for pkg in (bipe.automata, bipe.synthetic):\n"
        "    for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "        importlib.import_module(m.name)\n"
        "bad = [m for m in ('torch', 'matplotlib') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_experiments_module_map_names_every_module():
    import bipe.experiments as experiments

    root = Path(experiments.__file__).parent
    doc = experiments.__doc__
    modules = [p.stem for p in root.glob("*.py") if p.stem != "__init__"]
    modules += [p.name + "/" for p in root.iterdir() if (p / "__init__.py").is_file()]
    missing = [m for m in modules if f"``{m}``" not in doc]
    assert not missing, f"experiments/__init__.py's module map lacks {missing}"
