"""`bipe eval` runs with the run's own `train.n_threads`, as its training did: an evaluation
that starts torch's default thread count beside other runs oversubscribes the cores."""

from __future__ import annotations

import torch

from bipe.experiments.evaluate import evaluate_run
from bipe.experiments.presets import build_config
from bipe.experiments.train import train


def test_evaluation_uses_the_runs_thread_count(tmp_path):
    config = build_config(
        "tiny",
        pe="rope",
        overrides={
            "train.steps": "2",
            "train.n_threads": "1",
            "train.evaluate_at_end": "false",
            "data.n_eval": "4",
            "data.eval_lengths": "2",
            "out": str(tmp_path / "run"),
        },
    )
    before = torch.get_num_threads()
    try:
        run = train(config, progress=False)
        torch.set_num_threads(2)
        evaluate_run(run, progress=False)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
