"""README and CI stay in step: CI runs exactly the README's install-and-test command."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _first_block(text: str) -> list[str]:
    block = text.split("```bash", 1)[1].split("```", 1)[0]
    return [line.strip() for line in block.splitlines() if line.strip() and line[0] != "#"]


def test_ci_runs_the_readme_test_command():
    install_demo, install_test = _first_block((ROOT / "README.md").read_text())
    assert install_demo.endswith("bipe demo") and "pytest" in install_test
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert install_test in ci_lines
