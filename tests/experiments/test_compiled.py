"""The training step: compiled and eager training agree (experiments/compiled.py).

Tolerances: a compiled run's loss curve follows the eager one to 1e-3 relative over 8 steps
(inductor fuses and reorders float32 arithmetic). One graph serving every batch length is
checked with a recording backend (fast: no inductor); every registered encoding but
randomized_rope (which trains eagerly) passed the same check in a one-off run, with and
without shipped positions.
"""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from bipe.experiments.compiled import (
    compile_forward,
    train_step,
)
from bipe.experiments.presets import build_config
from bipe.experiments.train import batch_indices, build_model, make_batch, prepare, train

PES = ["rope", "bipe_rope", "bipe_alibi", "t5", "learned", "fire", "xpos"]


def tiny(pe: str, **train):
    overrides = {
        "train.steps": "8",
        "train.log_every": "1",
        "train.batch_size": "8",
        "train.evaluate_at_end": "false",
        "model.compute_dtype": "float32",
        "data.n_train": "64",
        "train.device": "cpu",
        **{f"train.{k}": v for k, v in train.items()},
    }
    return build_config("tiny", task="binfa_lm", pe=pe, overrides=overrides)


def test_train_step_returns_a_detached_loss_and_updates():
    prepared = prepare(tiny("rope"))
    model = build_model(prepared.config, torch.device("cpu"))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    batch = make_batch(
        prepared.train, prepared.positions, batch_indices(0, 0, 8, 64), torch.device("cpu")
    )
    before = model.head.weight.detach().clone()

    def loss_fn(logits, targets):
        return prepared.task.loss(logits, targets, prepared.config.data)

    loss = train_step(model, opt, model, loss_fn, batch, 1.0)
    assert not loss.requires_grad and loss.dim() == 0
    assert not torch.equal(before, model.head.weight)


def _losses(run) -> list[float]:
    return [json.loads(x)["loss"] for x in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow  # compile warm-up: 207 s on the loaded 2-core machine (a third of the budget)
def test_compiled_training_follows_the_eager_curve(tmp_path):
    eager = tiny("bipe_rope")
    compiled = dataclasses.replace(eager, train=dataclasses.replace(eager.train, compile=True))
    a = train(dataclasses.replace(eager, out=str(tmp_path / "eager")), progress=False)
    b = train(dataclasses.replace(compiled, out=str(tmp_path / "compiled")), progress=False)
    assert _losses(b) == pytest.approx(_losses(a), rel=1e-3)
    assert _losses(a)[-1] < _losses(a)[0]


def test_batches_ship_positions_only_when_the_segmentation_needs_them():
    """Default segmentation: no positions padded or shipped (the model recomputes them); the
    tokens and targets are the same either way."""
    from bipe.experiments.train import _shipped_positions

    prepared = prepare(build_config("tiny", task="binfa_lm", overrides={"data.n_train": "32"}))
    assert _shipped_positions(prepared) is None
    rows = batch_indices(0, 0, 8, 32)
    bare = make_batch(prepared.train, None, rows, torch.device("cpu"))
    full = make_batch(prepared.train, prepared.positions, rows, torch.device("cpu"))
    assert bare[1] is None and full[1] is not None
    assert torch.equal(bare[0], full[0]) and torch.equal(bare[2], full[2])
    fixed = prepare(
        build_config(
            "tiny",
            task="binfa_lm",
            overrides={"data.n_train": "32", "segment_train.method": "fixed:2"},
        )
    )
    assert _shipped_positions(fixed) is fixed.positions


@pytest.mark.parametrize(("pe", "shipped"), [("bipe_rope", False), ("t5", True), ("cope", False)])
def test_one_graph_serves_every_batch_length(pe, shipped):
    """compile_forward traces one graph (no break, no recompile) for batches of three lengths,
    with positions computed inside the graph or shipped; its logits are the eager ones."""
    prepared = prepare(tiny(pe))
    model = build_model(prepared.config, torch.device("cpu"))
    graphs = []

    def backend(gm, example_inputs):
        graphs.append(gm)
        return gm.forward

    torch._dynamo.reset()
    forward = compile_forward(model, backend=backend)
    for length in (20, 23, 30):
        tokens = torch.randint(
            0,
            prepared.config.model.vocab_size,
            (4, length),
            generator=torch.Generator().manual_seed(length),
        )
        pos = model.positions(tokens) if shipped else None
        torch.manual_seed(0)
        expected = model(tokens, pos)
        torch.manual_seed(0)
        assert torch.equal(forward(tokens, pos), expected)
    assert len(graphs) == 1
