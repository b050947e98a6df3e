"""TensorBoard event files: the scalars of metrics.jsonl and eval.json, read back."""

import json

import pytest

from bipe.experiments import tblog
from bipe.experiments.presets import build_config
from bipe.experiments.train import resume, train

OVERRIDES = {
    "train.steps": "6",
    "train.log_every": "2",
    "train.checkpoint_every": "2",
    "data.n_train": "64",
    "data.n_eval": "4",
    "data.eval_lengths": "1,2",
}


def _scalars(run_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = {}
    for folder in (run_dir / tblog.SUBDIR, run_dir / tblog.SUBDIR / tblog.EVAL_SUBDIR):
        acc = EventAccumulator(str(folder))
        acc.Reload()
        out.update(
            {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}
        )
    return out


def test_event_files_hold_training_and_evaluation_scalars(tmp_path):
    config = build_config("tiny", task="binfa_lm", overrides=OVERRIDES, out=str(tmp_path / "r"))
    run = train(config, progress=False, stop_after=3)  # checkpoint at step 3
    saved = (run / "checkpoint.pt").read_bytes()
    resume(run, progress=False, stop_after=2)  # logs step 4, checkpoint at 5 ...
    (run / "checkpoint.pt").write_bytes(saved)  # ... lost, as if killed before it was written
    resume(run, progress=False)  # from step 3 again: step 4 is logged once
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    got = _scalars(run)
    for key, tag in tblog.TRAIN_TAGS.items():
        assert [s for s, _ in got[tag]] == [r["step"] for r in rows] == [2, 4, 6]
        assert [v for _, v in got[tag]] == pytest.approx([r[key] for r in rows], rel=1e-6)
    result = json.loads((run / "eval.json").read_text())
    for metric in (k for k in result["per_length"][0] if k not in ("length", "n")):
        rows = [r for r in result["per_length"] if r[metric] is not None]  # null: no scalar
        assert [s for s, _ in got[f"eval/{metric}"]] == [r["length"] for r in rows]
        assert [v for _, v in got[f"eval/{metric}"]] == pytest.approx(
            [r[metric] for r in rows], rel=1e-6
        )
    assert result["per_length"][0]["legal_mass_after_first"] is None  # one segment: no position
    assert "eval/legal_mass_after_first" in got
    summary = result["summary"]["in_distribution"]
    metric = next(iter(summary))
    assert [
        (s, pytest.approx(v, rel=1e-6)) for s, v in got[f"eval_summary/in_distribution/{metric}"]
    ] == [(6, summary[metric])]


def test_logging_off_without_tensorboard_says_so_once(tmp_path, monkeypatch, capsys):
    import builtins

    real_import = builtins.__import__

    def no_tensorboard(name, *args, **kw):
        if name.startswith("torch.utils.tensorboard"):
            raise ImportError(name)
        return real_import(name, *args, **kw)

    monkeypatch.setattr(builtins, "__import__", no_tensorboard)
    monkeypatch.setattr(tblog, "_warned", False)
    for _ in range(2):
        log = tblog.open_log(tmp_path)
        log.log({"step": 1, "loss": 1.0})
        log.close()
    assert capsys.readouterr().err.count("TensorBoard logging is off") == 1
    assert not (tmp_path / tblog.SUBDIR).exists()
    monkeypatch.undo()  # the real import back; the switch alone turns logging off
    monkeypatch.setenv("BIPE_TENSORBOARD", "0")
    tblog.log_eval(tmp_path, {"per_length": [{"length": 1, "n": 1, "accuracy": 1.0}]}, 1)
    assert not (tmp_path / tblog.SUBDIR).exists()
