"""``eval_positions=sampled``: an entry that samples positions in training is evaluated on
drawn positions, reproducibly, through ``bipe eval --set`` or the run's own config; every
other use is refused with one line."""

from __future__ import annotations

import json

import pytest
import torch

from bipe.experiments.cli import main
from bipe.experiments.evaluate import position_sampler
from bipe.experiments.presets import build_config
from bipe.experiments.train import train
from bipe.models import ModelConfig, Transformer

BASE = {"train.steps": "10", "data.n_eval": "6", "data.n_train": "64"}


def _train(tmp_path, name, pe, **extra):
    out = tmp_path / name
    config = build_config("tiny", task="binfa_lm", pe=pe, out=str(out), overrides={**BASE, **extra})
    train(config, progress=False)
    return out


@pytest.mark.parametrize("pe", ["rfs_rope", "bipe_rfs_alibi"])
def test_sampled_evaluation_is_reproducible_and_equals_training_with_it(tmp_path, pe):
    """Two sampled evaluations agree to the byte; they differ from the integer evaluation; a
    run trained with ``eval_positions=sampled`` scores what ``bipe eval --set`` gives."""
    plain = _train(tmp_path, "plain", pe)
    sampled = _train(tmp_path, "sampled", pe, eval_positions="sampled")
    for out in ("a", "b"):
        args = ["eval", str(plain), "--set", "eval_positions=sampled", "--no-progress"]
        assert main([*args, "--out", str(tmp_path / out)]) == 0
    a, b = ((tmp_path / x / "eval.json").read_bytes() for x in ("a", "b"))
    assert a == b
    got = json.loads(a)
    assert got == json.loads((sampled / "eval.json").read_text())
    integer = json.loads((plain / "eval.json").read_text())
    assert got["per_length"] != integer["per_length"]
    saved = json.loads((tmp_path / "a" / "config.json").read_text())
    assert saved["eval_positions"] == "sampled"


def test_sampled_evaluation_refusals(tmp_path, capsys):
    rope = _train(tmp_path, "rope", "rope")
    rfs = _train(tmp_path, "rfs", "rfs_rope")
    cases = [
        (rope, ["eval_positions=sampled"], "samples none"),
        (rfs, ["eval_positions=often"], "eval_positions must be one of integer, sampled"),
        (rfs, ["eval_positions=sampled", "segment_eval.drop=0.2"], "perturbed evaluation"),
    ]
    for run, sets, words in cases:
        args = ["eval", str(run), "--out", str(tmp_path / "x"), "--no-progress"]
        for item in sets:
            args += ["--set", item]
        assert main(args) == 2
        err = capsys.readouterr().err.strip()
        assert words in err and "\n" not in err
        assert not (tmp_path / "x").exists()
    with pytest.raises(ValueError, match="samples none"):
        build_config("tiny", task="binfa_lm", pe="alibi", overrides={"eval_positions": "sampled"})


def test_a_model_that_already_samples_at_evaluation_is_refused():
    config = build_config(
        "tiny", task="binfa_lm", pe="randomized_rope", overrides={"eval_positions": "sampled"}
    )
    model_config = ModelConfig(12, 32, 1, 4, pe="randomized_rope", causal=False, separators=(10,))
    torch.manual_seed(0)
    with pytest.raises(ValueError, match="already samples positions at evaluation"):
        position_sampler(Transformer(model_config), config, 3)
    assert position_sampler(Transformer(config.model), config, 3) is not None


@pytest.mark.parametrize(
    "pe, lengths, need",
    [("randomized_rope", "1,2,12", "12"), ("randomized_bipe_alibi", "1,30", "30")],
)
def test_an_ordered_subset_too_small_for_the_evaluation_is_refused_before_training(
    tmp_path, capsys, pe, lengths, need
):
    out = tmp_path / "r"
    argv = ["train", "--task", "binfa_lm", "--preset", "tiny", "--pe", pe, "--out", str(out)]
    argv += ["--model.randomized_max_pos", "24", "--eval_positions", "sampled"]
    assert main([*argv, "--data.eval_lengths", lengths, "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert f"at evaluation length {need}:" in err and "randomized_max_pos 24" in err
    assert "\n" not in err and not out.exists()
