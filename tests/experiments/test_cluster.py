"""Sweeps through submitit's local executor: jobs, index fields, a killed run finished later."""

import builtins
import functools
import json
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

STEPS = (
    ("train.steps", "8"),
    ("data.n_train", "64"),
    ("data.n_eval", "4"),
    ("data.eval_lengths", "1,2"),
    ("train.checkpoint_every", "4"),
    ("train.n_threads", "1"),
    ("train.log_every", "2"),
)
LOCAL = ClusterOptions(cluster="local", poll_s=0.2)


def _curve(run_dir):
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [(r["step"], r["loss"], r["lr"]) for r in rows]


def test_sweep_of_four_jobs_with_one_killed_run_finished_on_the_second_call(tmp_path, monkeypatch):
    spec = GridSpec(
        preset="tiny",
        task="binfa_lm",
        fixed=STEPS,
        grid=(("model.pe", ("rope", "alibi")), ("init_seed", ("0", "1"))),
    )
    configs = [c for _, c, _ in expand_grid(spec)]
    killed = "pe-alibi__init_seed-1"

    def stop_one(config):  # that run's first job ends after 3 of 8 steps, as if killed
        return TrainJob(config, stop_after=3 if config.out.endswith(killed) else None)

    monkeypatch.setattr(cluster, "run_jobs", functools.partial(cluster.run_jobs, make_job=stop_one))
    sweep = tmp_path / "sw"
    rows = run_sweep(configs, sweep, executor="submitit", cluster=LOCAL, jobs=None)
    status = {r["name"]: r["status"] for r in rows}
    assert status.pop(killed) == "failed" and set(status.values()) == {"done"}
    index = json.loads((sweep / "index.json").read_text())["runs"]
    assert all(
        r["executor"] == "submitit" and r["cluster"] == "local" and r["job_id"] for r in index
    )
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
    ref = train(
        build_config(
            "tiny",
            task="binfa_lm",
            pe="alibi",
            overrides={**dict(STEPS), "init_seed": "1"},
            out=str(tmp_path / "ref"),
        ),
        progress=False,
    )
    assert config.model.pe == "alibi" and _curve(sweep / killed) == _curve(ref)
    got = torch.load(sweep / killed / "model.pt", weights_only=True)["state"]
    want = torch.load(ref / "model.pt", weights_only=True)["state"]
    assert got.keys() == want.keys() and all(torch.equal(got[k], want[k]) for k in got)
    evals = [json.loads((d / "eval.json").read_text())["per_length"] for d in (sweep / killed, ref)]
    assert evals[0] == evals[1]


def test_missing_submitit_is_a_one_line_error(tmp_path, monkeypatch, capsys):
    real_import = builtins.__import__

    def no_submitit(name, *args, **kw):
        if name == "submitit" or name.startswith("submitit."):
            raise ImportError(name)
        return real_import(name, *args, **kw)

    monkeypatch.setattr(builtins, "__import__", no_submitit)
    argv = [
        "sweep",
        "--preset",
        "tiny",
        "--grid",
        "model.pe=rope",
        "--executor",
        "submitit",
        "--out",
        str(tmp_path / "sw"),
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and 'pip install "bipe-workbench[cluster]"' in err
    assert not list((tmp_path / "sw").glob("*/config.json"))  # nothing started
    study = [
        "study",
        "width",
        "--task",
        "binfa_lm",
        "--pes",
        "rope",
        "--sizes",
        "2",
        "--widths",
        "16",
        "--executor",
        "submitit",
        "--out",
        str(tmp_path / "st"),
    ]
    assert main(study) == 2  # the study runs on the same executors
    assert 'pip install "bipe-workbench[cluster]"' in capsys.readouterr().err
    assert main([*study[:-4], "--slurm-gpus", "1", "--out", str(tmp_path / "st")]) == 2
    assert "need --executor submitit" in capsys.readouterr().err


def test_slurm_parameters_from_flags_over_the_sweep_file(tmp_path):
    from bipe.experiments.cli import OneLineParser
    from bipe.experiments.commands.sweep import add_executor_arguments, executor_from_args

    grid = tmp_path / "g.toml"
    grid.write_text(
        'executor = "submitit"\n[grid]\n"model.pe" = ["rope"]\n'
        '[slurm]\npartition = "gpu"\ntime = 90\ngpus = 1\n'
        '[slurm.extra]\nconstraint = "a100"\n'
    )
    spec = load_grid_file(grid)
    parser = OneLineParser()
    add_executor_arguments(parser)
    args = parser.parse_args(
        ["--slurm-time", "30", "--slurm-account", "lab", "--slurm-extra", "qos=high"]
    )
    executor, options, jobs = executor_from_args(args, spec.executor, spec.slurm)
    assert executor == "submitit" and jobs is None
    assert options.parameters("slurm") == {
        "timeout_min": 30,
        "gpus_per_node": 1,
        "slurm_partition": "gpu",
        "slurm_account": "lab",
        "slurm_additional_parameters": {"constraint": "a100", "qos": "high"},
    }
    assert options.parameters("local") == {"timeout_min": 30, "gpus_per_node": 1}
    with pytest.raises(ValueError, match="need --executor submitit"):
        executor_from_args(parser.parse_args(["--executor", "local", "--slurm-gpus", "1"]))
    with pytest.raises(ValueError, match=r"unknown \[slurm\] keys \['qos'\]"):
        ClusterOptions.from_table({"qos": "x"})
    with pytest.raises(ValueError, match="time = 'soon' is not a int"):
        ClusterOptions.from_table({"time": "soon"})
    with pytest.raises(ValueError, match="time must be positive"):
        ClusterOptions(time=0)


def test_checkpoint_requeues_the_same_run_and_a_done_run_is_never_trained_again(tmp_path):
    config = build_config("tiny", task="binfa_lm", overrides=dict(STEPS), out=str(tmp_path / "run"))
    job = TrainJob(config, stop_after=3)
    assert job() is None and not (tmp_path / "run" / "model.pt").exists()
    delayed = job.checkpoint()  # submitit's protocol: requeue a DelayedSubmission
    assert delayed.function == TrainJob(config) and delayed.args == ()
    assert delayed.function() is None  # the requeued job resumes the run to its end
    stamp = (tmp_path / "run" / "eval.json").stat().st_mtime_ns
    assert TrainJob(config)() is None  # done: nothing happens
    assert (tmp_path / "run" / "eval.json").stat().st_mtime_ns == stamp


def test_reattach_waits_for_a_live_local_job_and_skips_a_dead_one(tmp_path):
    import submitit

    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        row = {"executor": "submitit", "cluster": "local", "job_id": str(sleeper.pid)}
        handle = cluster._reattach(submitit, row, tmp_path, "local")
        assert handle is not None and not handle.done()
    finally:
        sleeper.kill()
        sleeper.wait()
    assert cluster._reattach(submitit, row, tmp_path, "local") is None
    assert cluster._reattach(submitit, {**row, "executor": "local"}, tmp_path, "local") is None


def test_status_prints_runs_and_states_without_starting_anything(tmp_path, capsys):
    sweep = tmp_path / "sw"
    config = build_config("tiny", task="binfa_lm", overrides=dict(STEPS), out=str(sweep / "a"))
    TrainJob(config, stop_after=4)()
    (sweep / "index.json").write_text(
        json.dumps(
            {
                "runs": [
                    {
                        "name": "a",
                        "dir": "a",
                        "status": "failed",
                        "executor": "submitit",
                        "job_id": "123",
                        "job_state": "TIMEOUT",
                    },
                    {"name": "b", "dir": "b", "status": "pending"},
                ]
            }
        )
    )
    before = sorted(p.name for p in sweep.rglob("*"))
    assert main(["sweep", "--status", str(sweep)]) == 0
    out = capsys.readouterr().out
    assert "| a | failed | 123 | TIMEOUT | 4/8 |" in out and "| b | pending | - | - | - |" in out
    assert "2 runs: 1 failed, 1 pending" in out
    assert sorted(p.name for p in sweep.rglob("*")) == before
    assert main(["sweep", "--status", str(tmp_path / "nothing")]) == 2
    assert main(["sweep", "--status", str(sweep), "--executor", "submitit"]) == 2
    assert "takes no other options: --executor" in capsys.readouterr().err


def test_a_job_told_to_exit_checkpoints_its_last_completed_step(tmp_path, monkeypatch):
    from bipe.experiments import train as train_module
    from bipe.experiments.rundir import load_checkpoint

    real = train_module.batch_indices

    def exit_at_3(data_seed, step, *args):  # what submitit's signal handler does: sys.exit
        if step == 3:
            raise SystemExit(-1)
        return real(data_seed, step, *args)

    monkeypatch.setattr(train_module, "batch_indices", exit_at_3)
    config = build_config("tiny", task="binfa_lm", overrides=dict(STEPS), out=str(tmp_path / "run"))
    with pytest.raises(SystemExit):
        TrainJob(config)()
    assert load_checkpoint(tmp_path / "run")["step"] == 3  # not the periodic one at step 0
