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


def _imports(path: Path) -> set[str]:
    """Every module name a file imports, absolute ('bipe.x.y') or resolved from relative."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = ["bipe", *path.relative_to(ROOT).parent.parts]
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


def _layer_files(layer: str) -> list[Path]:
    return sorted((ROOT / layer).rglob("*.py"))


@pytest.mark.parametrize("layer", LAYERS)
def test_layer_imports_point_one_way(layer):
    bad = []
    for path in _layer_files(layer):
        for name in _imports(path):
            parts = name.split(".")
            if parts[0] == "bipe" and len(parts) > 1 and parts[1] in LAYERS:
                target = parts[1]
                if target != layer and target not in ALLOWED[layer]:
                    bad.append(f"{path.relative_to(ROOT)} imports {name}")
            if layer in NO_TORCH and parts[0] in ("torch", "matplotlib"):
                bad.append(f"{path.relative_to(ROOT)} imports {name}")
            if layer != "analysis" and parts[0] == "matplotlib":
                bad.append(f"{path.relative_to(ROOT)} imports {name} (matplotlib is analysis-only)")
    assert not bad, "layer violations:\n" + "\n".join(bad)


def test_import_parser_sees_relative_and_absolute(tmp_path):
    """The checker itself must catch a planted bad edge (a test that cannot fail is no test)."""
    planted = ROOT / "automata" / "_planted_for_test.py"
    planted.write_text("from ..models import x\nimport torch\n")
    try:
        assert {"bipe.models", "torch"} <= _imports(planted)
        with pytest.raises(AssertionError, match="_planted_for_test"):
            test_layer_imports_point_one_way("automata")
    finally:
        planted.unlink()


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
