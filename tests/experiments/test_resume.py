"""``bipe train --resume RUN`` with options: safe changes honoured and recorded, others refused."""

import json

import pytest
import torch

from bipe.experiments.cli import main
from bipe.experiments.config import TrainConfig
from bipe.experiments.presets import build_config
from bipe.experiments.rundir import read_metrics
from bipe.experiments.train import lr_at, resume, train

BASE = [
    "--task",
    "binfa_lm",
    "--pe",
    "bipe_alibi",
    "--preset",
    "tiny",
    "--data.n_train",
    "64",
    "--data.n_eval",
    "4",
    "--data.eval_lengths",
    "2,4",
    "--train.log_every",
    "5",
    "--train.checkpoint_every",
    "10",
    "--no-progress",
]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished 20-step run (evaluated), trained once for the module."""
    run = tmp_path_factory.mktemp("resume") / "run"
    assert main(["train", *BASE, "--train.steps", "20", "--out", str(run)]) == 0
    return run


def _copy(run, tmp_path):
    import shutil

    dest = tmp_path / "copy"
    shutil.copytree(run, dest)
    return dest


def _snapshot(run) -> dict:
    """Every file under the run folder (TensorBoard logs included) and its bytes."""
    return {str(p.relative_to(run)): p.read_bytes() for p in run.rglob("*") if p.is_file()}


def test_more_steps_trains_past_the_old_count_and_is_recorded(finished, tmp_path):
    run = _copy(finished, tmp_path)
    before = torch.load(run / "model.pt", weights_only=True)
    assert main(["train", "--resume", str(run), "--train.steps", "30", "--no-progress"]) == 0
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    assert state["step"] == 30
    rows = read_metrics(run)
    assert [r["step"] for r in rows] == [5, 10, 15, 20, 25, 30]
    # From the resume point on, the rate is the schedule of the new total.
    new = TrainConfig(**{**json.loads((run / "config.json").read_text())["train"]})
    assert rows[-1]["lr"] == pytest.approx(lr_at(29, new))
    after = torch.load(run / "model.pt", weights_only=True)
    assert any(not torch.equal(before["state"][k], after["state"][k]) for k in before["state"])
    saved = json.loads((run / "config.json").read_text())
    assert saved["train"]["steps"] == 30
    assert saved["command"][:3] == ["bipe", "train", "--task"]  # the original, kept
    (entry,) = saved["resumes"]
    assert entry["command"] == ["bipe", "train", "--resume", str(run), "--train.steps", "30"]
    assert entry["step"] == 20 and entry["changes"] == {"train.steps": [20, 30]}
    # A resumed run's config.json still seeds a new run (its history is bookkeeping).
    again = tmp_path / "again"
    assert (
        main(
            [
                "train",
                "--config",
                str(run / "config.json"),
                "--out",
                str(again),
                "--train.steps",
                "2",
                "--train.evaluate_at_end",
                "false",
                "--no-progress",
            ]
        )
        == 0
    )
    assert "resumes" not in json.loads((again / "config.json").read_text())


def test_extended_run_resumes_to_the_same_result(finished, tmp_path):
    """Extending with an interruption equals extending in one go (the schedule is a function
    of the step and the new config)."""
    whole, cut = _copy(finished, tmp_path / "a"), _copy(finished, tmp_path / "b")
    resume(whole, progress=False, overrides={"train.steps": "30"})
    resume(cut, progress=False, overrides={"train.steps": "30"}, stop_after=4)
    assert torch.load(cut / "checkpoint.pt", weights_only=True)["step"] == 24
    resume(cut, progress=False)  # config.json already says 30
    a = torch.load(whole / "checkpoint.pt", weights_only=True)
    b = torch.load(cut / "checkpoint.pt", weights_only=True)
    assert a["step"] == b["step"] == 30
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])


def test_evaluation_settings_change_without_training(finished, tmp_path, capsys):
    run = _copy(finished, tmp_path)
    rows = read_metrics(run)
    assert (
        main(
            [
                "train",
                "--resume",
                str(run),
                "--data.eval_lengths",
                "2,4,6",
                "--data.n_eval",
                "3",
                "--no-progress",
            ]
        )
        == 0
    )
    result = json.loads((run / "eval.json").read_text())
    assert [(r["length"], r["n"]) for r in result["per_length"]] == [(2, 3), (4, 3), (6, 3)]
    assert read_metrics(run) == rows  # nothing trained
    saved = json.loads((run / "config.json").read_text())
    assert saved["resumes"][-1]["changes"] == {
        "data.eval_lengths": [[2, 4], [2, 4, 6]],
        "data.n_eval": [4, 3],
    }


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["--model.d_model", "64"], "model.d_model"),
        (["--init_seed", "3"], "init_seed"),
        (["--data_seed", "3"], "data_seed"),
        (["--train.lr", "0.01"], "train.lr"),
        (["--train.warmup", "3"], "train.warmup"),
        (["--data.n_train", "65"], "data.n_train"),
        (["--segment_train.method", "fixed:3"], "segment_train.method"),
        (["--train.steps", "10"], "below the 20 steps"),
        (["--pe", "rope"], "--pe cannot be combined"),
        (["--preset", "tiny"], "--preset cannot be combined"),
    ],
)
def test_unsafe_changes_are_refused_untouched(finished, tmp_path, capsys, argv, needle):
    run = _copy(finished, tmp_path)
    before = _snapshot(run)
    assert main(["train", "--resume", str(run), *argv, "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and needle in err, err
    assert _snapshot(run) == before


def test_plain_resume_of_a_finished_run_changes_nothing_but_the_record(finished, tmp_path):
    run = _copy(finished, tmp_path)
    rows = read_metrics(run)
    assert main(["train", "--resume", str(run), "--no-progress"]) == 0
    assert read_metrics(run) == rows
    entry = json.loads((run / "config.json").read_text())["resumes"][-1]
    assert entry["changes"] == {} and entry["step"] == 20
    train_again = tmp_path / "fresh"
    train(
        build_config(
            "tiny",
            overrides={"train.steps": "2", "data.n_train": "16", "train.evaluate_at_end": "false"},
            out=str(train_again),
        ),
        progress=False,
    )
    assert "resumes" not in json.loads((train_again / "config.json").read_text())


def test_evaluation_keys_are_the_safe_ones():
    from bipe.experiments.resume_changes import is_safe_on_resume

    for key in ("eval_positions", "segment_eval.drop", "data.eval_lengths", "train.steps"):
        assert is_safe_on_resume(key), key
    for key in ("model.pe", "data.n_train", "init_seed", "segment_train.drop"):
        assert not is_safe_on_resume(key), key
