"""Data-parallel training with 2 gloo processes under torchrun (experiments/distributed.py).

Tolerance: float32 losses of the 2-rank run equal the single-process run's to 1e-4 relative
(each rank sums half the batch, so float rounding differs; nothing else may).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from bipe.experiments.cli import main
from bipe.experiments.train import train

RUN = [
    "train",
    "--task",
    "binfa_lm",
    "--preset",
    "tiny",
    "--train.steps",
    "12",
    "--train.log_every",
    "2",
    "--train.checkpoint_every",
    "6",
    "--train.batch_size",
    "8",
    "--train.evaluate_at_end",
    "false",
    "--model.compute_dtype",
    "float32",
    "--data.n_train",
    "64",
    "--train.device",
    "cpu",
    "--no-progress",
]


def torchrun(*args: str, n: int = 2) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "BIPE_DIST_TIMEOUT_S": "60"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={n}",
        "-m",
        "bipe",
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)


def losses(run) -> list[float]:
    return [json.loads(x)["loss"] for x in (run / "metrics.jsonl").read_text().splitlines()]


def test_two_ranks_follow_the_single_process_curve_and_resume_under_another_n(tmp_path):
    single, ddp = tmp_path / "single", tmp_path / "ddp"
    assert main([*RUN, "--out", str(single)]) == 0
    done = torchrun(*RUN, "--out", str(ddp))
    assert done.returncode == 0, done.stderr[-2000:]
    assert len(losses(ddp)) == len(losses(single)) == 6
    assert losses(ddp) == pytest.approx(losses(single), rel=1e-4)
    assert sorted(p.name for p in ddp.iterdir()) == sorted(p.name for p in single.iterdir())
    # a single-process run stopped at step 6 finishes under 2 ranks
    from bipe.experiments.rundir import read_run_config

    config, _ = read_run_config(single)
    half = tmp_path / "half"
    train(config.__class__(**{**config.__dict__, "out": str(half)}), progress=False, stop_after=6)
    done = torchrun("train", "--resume", str(half), "--no-progress")
    assert done.returncode == 0, done.stderr[-2000:]
    assert losses(half) == pytest.approx(losses(single), rel=1e-4)


def test_a_batch_that_does_not_split_is_a_one_line_error(tmp_path):
    done = torchrun(*RUN, "--train.batch_size", "7", "--out", str(tmp_path / "r"))
    assert done.returncode != 0
    lines = [x for x in done.stderr.splitlines() if "bipe train: error" in x]
    assert lines and "not divisible by the 2" in lines[0]
    assert "bipe/experiments" not in done.stderr  # torchrun's own report may carry a traceback
