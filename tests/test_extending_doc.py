"""docs/extending.md's snippets run as written: the plug-in recipe (its Python file, then its
``bipe`` commands, shortened by a few training overrides) and the task recipe."""

import re
import shlex
from pathlib import Path

import pytest
import torch

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from bipe.experiments.cli import main
from bipe.experiments.tasks import TASKS

torch.set_num_threads(1)

DOC = Path(__file__).resolve().parents[1] / "docs" / "extending.md"
SHORT = ["--train.steps", "20", "--data.n_train", "64", "--data.n_eval", "8"]
SHORT += ["--data.eval_lengths", "1,4", "--no-progress"]


def section(title: str) -> str:
    text = DOC.read_text()
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else None]


def blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", text, flags=re.S)


def commands(block: str) -> list[list[str]]:
    """The ``bipe ...`` commands of a bash block (continuations joined, comments dropped)."""
    joined = block.replace("\\\n", " ")
    return [shlex.split(line, comments=True)[1:] for line in joined.splitlines() if line.strip()]


def test_plugin_recipe_runs_as_written(tmp_path, monkeypatch, capsys):
    text = section("Add an encoding as a plug-in")
    (source,) = blocks(text, "python")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my_encoding.py").write_text(source)
    listing, training, evaluation, sweep = commands(blocks(text, "bash")[0])
    assert main(listing) == 0
    assert "--model.opt.decay (float, default 0.5)" in capsys.readouterr().out
    assert main(training + SHORT) == 0
    assert (tmp_path / "runs" / "decay" / "model.pt").exists()
    assert main(evaluation) == 0
    assert sweep[:2] == ["sweep", "--grid"] and "my_encoding.py:SEGMENT_DECAY" in sweep[2]
    (toml,) = blocks(text, "toml")
    points = tomllib.loads(toml)["project"]["entry-points"]["bipe.encodings"]
    assert points == {"segment_decay": "my_package.encodings:SEGMENT_DECAY"}


def test_task_recipe_runs_as_written(tmp_path, monkeypatch):
    (source,) = blocks(section("Add a task"), "python")
    monkeypatch.chdir(tmp_path)
    try:
        exec(compile(source, str(DOC), "exec"), {})  # the snippet under test
        assert (tmp_path / "runs" / "mine" / "model.pt").exists()
    finally:
        TASKS.pop("binfa_lm_mine", None)


@pytest.mark.parametrize("title", ["Add an encoding to the registry", "Add a study"])
def test_other_recipes_name_files_that_exist(title):
    root = DOC.parents[1]
    for path in re.findall(
        r"`((?:models|experiments|synthetic|tests)/[\w/]+\.py)`", section(title)
    ):
        assert (root / path).exists(), path
