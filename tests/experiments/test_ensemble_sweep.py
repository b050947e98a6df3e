"""Ensembles in sweeps and studies: grouped runs give the separate runs' results, interrupted
ensembles resume as ensembles, the flags turn them off, bad sizes are one-line errors."""

import json

import pytest
import torch

import bipe.experiments.ensemble_sweep as ensemble_sweep
from bipe.experiments.cli import main
from bipe.experiments.ensemble import train_ensemble
from bipe.experiments.rundir import read_metrics
from bipe.experiments.sweep import GridSpec, expand_grid, run_sweep

torch.set_num_threads(1)

STEPS = (
    ("train.steps", "8"),
    ("data.n_train", "64"),
    ("data.n_eval", "4"),
    ("data.eval_lengths", "1,3"),
    ("train.checkpoint_every", "4"),
    ("train.log_every", "1"),
    ("model.compute_dtype", "float32"),
)  # exactness is a float32 contract
GRID = (("model.pe", ("rope", "bipe_alibi")), ("init_seed", ("0", "1")))


def _configs():
    return [c for _, c, _ in expand_grid(GridSpec(preset="tiny", fixed=STEPS, grid=GRID))]


def _losses(run_dir):
    return [row["loss"] for row in read_metrics(run_dir)]


def test_sweep_with_ensembles_equals_sweep_without(tmp_path, monkeypatch):
    calls = []
    original = ensemble_sweep.run_unit
    monkeypatch.setattr(
        "bipe.experiments.sweep.run_unit",
        lambda configs, *a, **k: calls.append(len(configs)) or original(configs, *a, **k),
    )
    configs = _configs()
    rows = run_sweep(configs, tmp_path / "ens", ensemble_size=3)
    assert calls == [3]  # one ensemble of three, the fourth run alone
    assert [r["status"] for r in rows] == ["done"] * 4
    run_sweep(configs, tmp_path / "sep", ensemble_size=1)
    for c in configs:
        assert _losses(tmp_path / "ens" / c.out) == pytest.approx(
            _losses(tmp_path / "sep" / c.out), rel=1e-5
        )
        ev = [
            json.loads((tmp_path / d / c.out / "eval.json").read_text())["summary"]
            for d in ("ens", "sep")
        ]
        assert ev[0] == ev[1]
    assert [r["status"] for r in run_sweep(configs, tmp_path / "ens", ensemble_size=3)] == [
        "done"
    ] * 4
    assert calls == [3]  # nothing left to train


def test_sweep_resumes_an_interrupted_ensemble_as_one(tmp_path, monkeypatch):
    configs = _configs()[:3]
    sweep = tmp_path / "sw"
    train_ensemble(configs, [sweep / c.out for c in configs], progress=False, stop_after=5)
    run_sweep(configs, tmp_path / "full", ensemble_size=3)
    units = []
    original = ensemble_sweep.sweep_units
    monkeypatch.setattr(
        "bipe.experiments.sweep.sweep_units", lambda *a: units.extend(original(*a)) or units
    )
    assert [r["status"] for r in run_sweep(configs, sweep, ensemble_size=3)] == ["done"] * 3
    assert units == [[0, 1, 2]]
    for c in configs:
        assert _losses(sweep / c.out) == _losses(tmp_path / "full" / c.out)


def test_units_split_by_state(tmp_path):
    configs = _configs()[:3]
    dirs = [tmp_path / c.out for c in configs]
    train_ensemble(configs[:1], dirs[:1], progress=False, stop_after=4)
    train_ensemble(configs[1:2], dirs[1:2], progress=False, stop_after=5)
    units = ensemble_sweep.sweep_units(configs, dirs, ["partial", "partial", "new"], [0, 1, 2], 8)
    assert units == [[0], [1], [2]]
    assert ensemble_sweep.sweep_units(configs, dirs, ["new"] * 3, [0, 1, 2], 8) == [[0, 1, 2]]
    assert ensemble_sweep.sweep_units(configs, dirs, ["new"] * 3, [0, 2], 1) == [[0], [2]]
    assert ensemble_sweep.sweep_units(configs, dirs, ["new"] * 3, [0, 1, 2], 8, jobs=2) == [
        [0, 1],
        [2],
    ]  # both processes get work


def test_cli_flags(tmp_path, capsys, monkeypatch):
    sizes = []
    original = ensemble_sweep.sweep_units
    monkeypatch.setattr(
        "bipe.experiments.sweep.sweep_units", lambda *a: sizes.append(a[4]) or original(*a)
    )
    base = ["sweep", "--preset", "tiny", "--grid", "init_seed=0,1", "--dry-run"]
    assert main([*base, "--out", str(tmp_path / "a"), "--ensemble-size", "0"]) == 2
    assert "--ensemble-size must be >= 1" in capsys.readouterr().err
    assert (
        main(
            [*base, "--out", str(tmp_path / "a"), "--executor", "submitit", "--ensemble-size", "2"]
        )
        == 2
    )
    assert "--ensemble-size needs the local executor" in capsys.readouterr().err
    argv = [
        "sweep",
        "--preset",
        "tiny",
        "--grid",
        "init_seed=0,1",
        "--no-ensemble",
        "--out",
        str(tmp_path / "b"),
    ] + [f"--set={k}={v}" for k, v in STEPS]
    assert main(argv) == 0
    assert sizes == [1]
    argv = [a for a in argv if a != "--no-ensemble"] + ["--ensemble-size", "2"]
    argv[argv.index(str(tmp_path / "b"))] = str(tmp_path / "c")
    assert main(argv) == 0
    assert sizes == [1, 2]


def test_study_cli_passes_the_ensemble_size(tmp_path, monkeypatch):
    seen = []

    def fake(study, out, **kw):
        seen.append(kw["runner"].keywords["ensemble_size"])
        raise ValueError("stop here")

    monkeypatch.setattr("bipe.experiments.width_search.run_width_study", fake)
    argv = [
        "study",
        "width",
        "--pes",
        "rope",
        "--sizes",
        "2",
        "--widths",
        "16",
        "--out",
        str(tmp_path / "st"),
        "--no-ensemble",
    ]
    assert main(argv) == 2
    assert seen == [1]
