"""Runs record the resolved compute dtype; resume and sweeps keep the recorded choice."""

from __future__ import annotations

import json

import pytest


def test_training_records_the_resolved_dtype_and_resume_keeps_it(tmp_path, capsys):
    from bipe.experiments.cli import main

    run = tmp_path / "r"
    base = [
        "train",
        "--task",
        "binfa_lm",
        "--preset",
        "tiny",
        "--train.steps",
        "4",
        "--train.evaluate_at_end",
        "false",
        "--data.n_train",
        "32",
    ]
    assert main([*base, "--out", str(run)]) == 0
    saved = json.loads((run / "config.json").read_text())["model"]["compute_dtype"]
    assert saved == "float32"  # a tiny step is below CPU_BF16_MIN_WORK: auto never picks bf16
    # a run recorded on another machine keeps its dtype on resume (no silent change)
    other = "float32" if saved == "bfloat16" else "bfloat16"
    data = json.loads((run / "config.json").read_text())
    data["model"]["compute_dtype"] = other
    (run / "config.json").write_text(json.dumps(data))
    (run / "checkpoint.pt").unlink()
    (run / "model.pt").unlink()
    assert main(["train", "--resume", str(run), "--no-progress"]) == 0
    assert json.loads((run / "config.json").read_text())["model"]["compute_dtype"] == other
    capsys.readouterr()


def test_a_sweep_accepts_its_runs_recorded_dtype_and_older_config_files(tmp_path):
    from bipe.experiments.presets import build_config
    from bipe.experiments.sweep import run_status

    config = build_config("tiny", task="binfa_lm", out="r")
    assert config.model.compute_dtype == "auto"
    run = tmp_path / "r"
    run.mkdir()
    from bipe.experiments.config import config_to_dict

    data = config_to_dict(config)
    data["model"]["compute_dtype"] = "float32"  # resolved when the run started (any machine)
    del data["train"]["compile"]  # written before the field existed
    (run / "config.json").write_text(json.dumps(data))
    assert run_status(run, config) == "partial"
    data["model"]["d_model"] += 8
    (run / "config.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match="different config"):
        run_status(run, config)
