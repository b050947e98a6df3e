"""The chomsky tasks train and evaluate in both protocols; examples, batches and scoring."""

import json

import numpy as np
import pytest
import torch

from bipe.experiments.presets import build_config
from bipe.experiments.tasks import IGNORE, TASKS
from bipe.experiments.train import train
from bipe.synthetic.chomsky import TASKS as NAMES
from bipe.synthetic.chomsky_data import ChomskyData

torch.set_num_threads(1)

QUICK = {
    "data.n_train": "48",
    "data.n_eval": "4",
    "data.eval_lengths": "2,6",
    "train.steps": "3",
    "train.batch_size": "4",
    "train.checkpoint_every": "3",
    "train.log_every": "1",
}


@pytest.mark.parametrize("protocol", ["reference", "decoder"])
@pytest.mark.parametrize("name", sorted(NAMES))
def test_every_task_trains_and_evaluates_in_both_protocols(tmp_path, name, protocol):
    out = tmp_path / "r"
    config = build_config(
        "tiny",
        task=f"chomsky:{name}",
        overrides={**QUICK, "data.protocol": protocol},
        out=str(out),
    )
    assert config.model.causal is (protocol == "decoder")
    train(config, progress=False)
    rows = json.loads((out / "eval.json").read_text())["per_length"]
    assert [r["length"] for r in rows] == [2, 6]
    for row in rows:
        assert 0.0 <= row["sequence_accuracy"] <= row["accuracy"] <= 1.0


def test_reference_examples_put_the_output_on_an_empty_tape():
    task = TASKS["chomsky:reverse_string"]
    data = ChomskyData(protocol="reference")
    ex = task.generate(np.random.default_rng(0), data, None, 5, 4)
    for x, t, inp in zip(ex.extra["x"], ex.targets, ex.inputs, strict=True):
        assert inp.tolist() == [*x.tolist(), 2, 2, 2, 2]  # tape token = input size 2
        assert t.tolist() == [IGNORE] * 4 + x[::-1].tolist()


def test_decoder_examples_predict_the_output_after_the_separator():
    task = TASKS["chomsky:binary_addition"]
    data = ChomskyData(protocol="decoder")
    ex = task.generate(np.random.default_rng(1), data, None, 5, 6)
    assert task.separators(data) == (2, 3) and task.vocab_size(data) == 4
    for x, y, inp, t in zip(ex.extra["x"], ex.extra["y"], ex.inputs, ex.targets, strict=True):
        assert inp.tolist() == [*x.tolist(), 3, *y[:-1].tolist()]
        scored = t != IGNORE
        assert t[scored].tolist() == y.tolist() and np.flatnonzero(scored)[0] == len(x)


def test_batches_hold_one_length_drawn_uniformly():
    task = TASKS["chomsky:parity_check"]
    data = ChomskyData(lengths="uniform:1:8")
    ex = task.generate(np.random.default_rng(2), data, None, 400, None)
    seen = []
    for step in range(200):
        rows = task.batch_rows(ex, 7, step, 16)
        lengths = set(ex.setting[rows].tolist())
        assert len(lengths) == 1
        seen += lengths
        assert np.array_equal(rows, task.batch_rows(ex, 7, step, 16))  # pure in (seed, step)
    counts = np.bincount(seen, minlength=9)[1:]
    assert counts.min() > 10  # every length 1..8 is drawn, none dominates (200 / 8 = 25)


def test_accuracy_counts_only_slots_through_the_termination_token():
    task = TASKS["chomsky:binary_addition"]
    data = ChomskyData(protocol="reference")
    ex = task.generate(np.random.default_rng(3), data, None, 6, 5)
    y = np.stack(ex.extra["y"])  # (N, 6)

    def perfect_then_wrong_padding(rows):
        logits = torch.zeros(len(rows), 11, 4)
        for b, r in enumerate(rows):
            want = y[r].copy()
            end = int(np.argmax(want == 2))
            want[end + 1 :] = 1  # wrong only after the termination token
            logits[b, -6:, :].scatter_(1, torch.from_numpy(want)[:, None], 1.0)
        return logits

    got = task.metrics(ex, None, data, perfect_then_wrong_padding, None, 4)
    assert got == {"accuracy": 1.0, "sequence_accuracy": 1.0}


def test_protocol_and_causality_must_agree(tmp_path):
    with pytest.raises(ValueError, match="needs model.causal=false"):
        build_config("tiny", task="chomsky:parity_check", overrides={"model.causal": "true"})


def test_sweeps_train_chomsky_runs_alone_not_as_ensembles():
    from bipe.experiments.ensemble import group_key

    for protocol in ("reference", "decoder"):
        config = build_config(
            "tiny", task="chomsky:reverse_string", overrides={"data.protocol": protocol}
        )
        assert group_key(config) is None  # non-causal, or its own one-length batches
    assert group_key(build_config("tiny")) is not None


def test_a_resumed_reference_run_equals_an_uninterrupted_one(tmp_path):
    """One-length batches are a pure function of (data seed, step); the randomized encoding's
    positions come from the checkpointed sampler."""
    import dataclasses

    from bipe.experiments.rundir import read_metrics
    from bipe.experiments.train import resume

    overrides = {**QUICK, "train.steps": "8", "train.checkpoint_every": "3"}
    config = build_config(
        "tiny", task="chomsky:stack_manipulation", pe="randomized_alibi", overrides=overrides
    )
    train(dataclasses.replace(config, out=str(tmp_path / "full")), progress=False)
    train(dataclasses.replace(config, out=str(tmp_path / "part")), progress=False, stop_after=4)
    resume(tmp_path / "part", progress=False)
    runs = [tmp_path / "full", tmp_path / "part"]
    losses = [[row["loss"] for row in read_metrics(r)] for r in runs]
    assert losses[0] == losses[1] and len(losses[0]) == 8
    evals = [json.loads((r / "eval.json").read_text())["per_length"] for r in runs]
    assert evals[0] == evals[1]
