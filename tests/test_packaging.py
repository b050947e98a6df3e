"""pyproject's package list names every package of the source tree (an installed bipe has them)."""

import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
SKIP = {"tests", "benchmarks", "studies", "build", "docs", "examples"}


def test_every_package_directory_is_listed():
    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = {"bipe"} | {
        ".".join(["bipe", *init.parent.relative_to(ROOT).parts])
        for init in ROOT.rglob("*/__init__.py")
        if not (SKIP | {p for p in init.relative_to(ROOT).parts if p.startswith(".")})
        & set(init.relative_to(ROOT).parts)
    }
    assert found - listed == set(), "packages missing from pyproject.toml"
    assert "bipe.synthetic.arithmetic" in found and "bipe.testing" in found
