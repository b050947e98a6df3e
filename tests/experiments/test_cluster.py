"""Sweeps through submitit's local executor: jobs, index fields, a killed run finished later."""

import builtins
import functools
import json
import os
import subprocess
import sys

import pytest
import torch

from bipe.experiments import cluster
from bipe.experiments.cli import main
from bipe.experiments.cluster import ClusterOptions, TrainJob
from bipe.experiments.presets import build_config
from bipe.experiments.sweep import GridSpec, expand_grid, load_grid_file, run_sweep
from bipe.experiments.train import train

pytest.importorskip("submitit")  # the [cluster] extra; installed in the test environment

STEPS = (("train.steps", "8"), ("data.n_train", "64"), ("data.n_eval", "4"),
         ("data.eval_lengths", "1,2"), ("train.checkpoint_every", "4"), ("train.n_threads", "1"))
LOCAL = ClusterOptions(cluster="local", poll_s=0.2)


def _curve(run_dir):
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [(r["step"], r["loss"], r["lr"]) for r in rows]


def test_sweep_of_four_jobs_with_one_killed_run_finished_on_the_second_call(tmp_path,
                                                                            monkeypatch):
    spec = GridSpec(preset="tiny", task="binfa_lm", fixed=STEPS,
                    grid=(("model.pe", ("rope", "alibi")), ("init_seed", ("0", "1"))))
    configs = [c for _, c, _ in expand_grid(spec)]
    killed = "pe-alibi__init_seed-1"

    def stop_one(config):  # that run's first job ends after 3 of 8 steps, as if killed
        return TrainJob(config, stop_after=3 if config.out.endswith(killed) else None)

    monkeypatch.setattr(cluster, "run_jobs",
                        functools.partial(cluster.run_jobs, make_job=stop_one))
    sweep = tmp_path / "sw"
    rows = run_sweep(configs, sweep, executor="submitit", cluster=LOCAL, jobs=None)
    status = {r["name"]: r["status"] for r in rows}
    assert status.pop(killed) == "failed" and set(status.values()) == {"done"}
    index = json.loads((sweep / "index.json").read_text())["runs"]
    assert all(r["executor"] == "submitit" and r["cluster"] == "local" and r["job_id"]
               for r in index)
    assert "run the sweep again" in next(r for r in index if r["name"] == killed)["error"]
    first_ids = {r["name"]: r["job_id"] for r in index}
    stamps = {n: (sweep / n / "eval.json").stat().st_mtime_ns for n in status}

    monkeypatch.undo()
    rows = run_sweep(configs, sweep, executor="submitit", cluster=LOCAL, jobs=None)
    assert [r["status"] for r in rows] == ["done"] * 4
    again = {r["name"]: r["job_id"] for r in json.loads((sweep / "index.json").read_text())["runs"]}
    assert again[killed] != first_ids[killed]  # resubmitted ...
    assert {n: again[n] for n in status} == {n: first_ids[n] for n in status}  # ... only it
    assert {n: (sweep / n / "eval.json").stat().st_mtime_ns for n in status} == stamps

    # The resumed run equals an uninterrupted one: curve, weights, evaluation.
    config = next(c for c in configs if c.out == killed)
    ref = train(build_config("tiny", task="binfa_lm", pe="alibi",
                             overrides={**dict(STEPS), "init_seed": "1"},
                             out=str(tmp_path / "ref")), progress=False)
    assert config.model.pe == "alibi" and _curve(sweep / killed) == _curve(ref)
    got = torch.load(sweep / killed / "model.pt", weights_only=True)["state"]
    want = torch.load(ref / "model.pt", weights_only=True)["state"]
    assert got.keys() == want.keys() and all(torch.equal(got[k], want[k]) for k in got)
    evals = [json.loads((d / "eval.json").read_text())["per_length"] for d in (sweep / killed, ref)]
    assert evals[0] == evals[1]
