"""Sweeps: grid expansion, grid files, one folder per run + index, skipping and resuming."""

import json

import pytest

from bipe.experiments.cli import main
from bipe.experiments.presets import build_config
from bipe.experiments.sweep import GridSpec, expand_grid, load_grid_file, run_sweep

STEPS = (
    ("train.steps", "8"),
    ("data.n_train", "64"),
    ("data.n_eval", "4"),
    ("data.eval_lengths", "1,3"),
    ("train.checkpoint_every", "4"),
)


def test_grid_expands_to_named_configs():
    spec = GridSpec(
        preset="tiny",
        fixed=STEPS,
        grid=(("model.pe", ("rope", "bipe_rope")), ("init_seed", ("0", "1"))),
    )
    points = expand_grid(spec)
    assert [name for name, _, _ in points] == [
        "pe-rope__init_seed-0",
        "pe-rope__init_seed-1",
        "pe-bipe_rope__init_seed-0",
        "pe-bipe_rope__init_seed-1",
    ]
    assert points[3][1].model.pe == "bipe_rope" and points[3][1].init_seed == 1
    assert all(c.train.steps == 8 for _, c, _ in points)


def test_grid_files(tmp_path):
    toml = tmp_path / "g.toml"
    toml.write_text(
        'preset = "tiny"\ntask = "binfa_lm"\n[set]\n"train.steps" = 5\n'
        '[grid]\n"model.d_model" = [32, 64]\n'
    )
    spec = load_grid_file(toml)
    assert spec.task == "binfa_lm" and spec.grid == (("model.d_model", ("32", "64")),)
    assert [c.model.d_model for _, c, _ in expand_grid(spec)] == [32, 64]
    js = tmp_path / "g.json"
    js.write_text(json.dumps({"grid": {"pe": ["rope"]}, "sweep": 1}))
    with pytest.raises(ValueError, match="unknown grid file keys"):
        load_grid_file(js)


def test_sweep_runs_skips_and_refuses_foreign_folders(tmp_path):
    spec = GridSpec(preset="tiny", fixed=STEPS, grid=(("model.pe", ("rope", "alibi")),))
    configs = [c for _, c, _ in expand_grid(spec)]
    rows = run_sweep(configs, tmp_path / "sw")
    assert [r["status"] for r in rows] == ["done", "done"]
    index = json.loads((tmp_path / "sw" / "index.json").read_text())
    assert [r["dir"] for r in index["runs"]] == ["pe-rope", "pe-alibi"]
    stamp = (tmp_path / "sw" / "pe-rope" / "eval.json").stat().st_mtime_ns
    assert [r["status"] for r in run_sweep(configs, tmp_path / "sw")] == ["done", "done"]
    assert (tmp_path / "sw" / "pe-rope" / "eval.json").stat().st_mtime_ns == stamp
    run_sweep(configs[1:], tmp_path / "sw")  # a later call on part of the folder (a study level)
    index = json.loads((tmp_path / "sw" / "index.json").read_text())
    assert sorted((r["dir"], r["status"]) for r in index["runs"]) == [
        ("pe-alibi", "done"),
        ("pe-rope", "done"),
    ]  # the other run's row is kept
    other = build_config(
        "tiny", pe="rope", overrides={**dict(STEPS), "train.steps": "9"}, out="pe-rope"
    )
    with pytest.raises(ValueError, match="different config"):
        run_sweep([other], tmp_path / "sw")


def test_sweep_resumes_a_partial_run(tmp_path):
    from bipe.experiments.train import train

    config = build_config("tiny", overrides=dict(STEPS), out="only")
    train(
        config.__class__(**{**config.__dict__, "out": str(tmp_path / "sw" / "only")}),
        progress=False,
        stop_after=3,
    )
    assert not (tmp_path / "sw" / "only" / "eval.json").exists()
    assert run_sweep([config], tmp_path / "sw")[0]["status"] == "done"
    assert (tmp_path / "sw" / "only" / "eval.json").exists()


def test_sweep_cli_in_parallel_processes(tmp_path, capsys):
    argv = [
        "sweep",
        "--preset",
        "tiny",
        "--task",
        "binfa_lm",
        "--grid",
        "model.pe=rope,bipe_rope",
        "--jobs",
        "2",
        "--out",
        str(tmp_path / "sw"),
    ]
    argv += [f"--set={k}={v}" for k, v in STEPS]
    assert main(argv) == 0
    assert "2 of 2 runs done" in capsys.readouterr().out
    for name in ("pe-rope", "pe-bipe_rope"):
        assert (tmp_path / "sw" / name / "eval.json").exists()
    assert main(["sweep", "--out", str(tmp_path / "x"), "--grid", "model.d_model"]) == 2


def test_parallel_processes_make_nested_run_folders(tmp_path):
    # bipe battery names its runs TASK/RUN; a task folder may not exist yet
    configs = [
        build_config("tiny", pe=pe, overrides=dict(STEPS), out=f"task/pe-{pe}")
        for pe in ("rope", "alibi")
    ]
    rows = run_sweep(configs, tmp_path / "battery", jobs=2)
    assert [r["status"] for r in rows] == ["done", "done"], rows
    assert (tmp_path / "battery" / "task" / "pe-alibi" / "eval.json").exists()


def test_progress_tells_apart_runs_of_one_name_in_two_folders(tmp_path, capsys):
    """A battery's tasks share run names (passkey/pe-rope, text/pe-rope): the progress lines
    count each run once, by its folder, so both end as their own runs."""
    configs = [
        build_config("tiny", pe="rope", overrides=dict(STEPS), out=f"{task}/pe-rope")
        for task in ("a", "b")
    ]
    run_sweep(configs, tmp_path / "battery", progress=True)
    err = capsys.readouterr().err
    assert "runs 1/2 done (a/pe-rope ended)" in err
    assert "runs 2/2 done (b/pe-rope ended)" in err


def test_sweeps_running_at_once_into_one_folder_keep_each_others_rows(tmp_path):
    from bipe.experiments.sweep import _Index

    spec = GridSpec(preset="tiny", fixed=STEPS, grid=(("model.pe", ("rope", "alibi")),))
    rope, alibi = (c for _, c, _ in expand_grid(spec))
    out = tmp_path / "sw"
    out.mkdir()
    # a second sweep (alibi) has started, and read the index, before the first one (rope) runs
    late = _Index(
        out, [alibi.__class__(**{**alibi.__dict__, "out": str(out / "pe-alibi")})], ["pending"]
    )
    run_sweep([rope], out)
    late.save()  # what the alibi sweep writes when its run ends
    index = json.loads((out / "index.json").read_text())
    assert sorted((r["dir"], r["status"]) for r in index["runs"]) == [
        ("pe-alibi", "pending"),
        ("pe-rope", "done"),
    ]
