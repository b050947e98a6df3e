"""Ensembles: each member's losses and evaluation equal its separate ``bipe train`` run; an
interrupted ensemble resumes bit-identically; a member resumes on its own as an ordinary run;
configs are grouped only when they may share a process."""

import json
from dataclasses import replace

import pytest
import torch

from bipe.experiments.ensemble import ensemble_groups, resume_ensemble, train_ensemble
from bipe.experiments.presets import build_config
from bipe.experiments.rundir import read_metrics
from bipe.experiments.train import resume, train
from bipe.models import load

torch.set_num_threads(1)

# float32 pinned: "auto" is bfloat16 on CPUs with native bf16, where the batched trunk and a
# separate run's layers round differently (exactness is a float32 contract)
FAST = {
    "data.n_train": "128",
    "train.steps": "20",
    "train.log_every": "1",
    "train.checkpoint_every": "7",
    "train.lr": "0.01",
    "model.compute_dtype": "float32",
}
# (pe, init_seed, data_seed): a rotary, a biased and a sampling encoding; two data streams
MEMBERS = [("bipe_rope", 0, 0), ("bipe_alibi", 1, 1), ("randomized_rope", 2, 0)]
REL_TOL = 1e-5


def _configs(root, prefix, members=MEMBERS, extra=None):
    return [
        build_config(
            "tiny",
            pe=pe,
            overrides={**FAST, **(extra or {}), "init_seed": str(i), "data_seed": str(d)},
            out=str(root / f"{prefix}{k}"),
        )
        for k, (pe, i, d) in enumerate(members)
    ]


def _losses(run_dir):
    return [row["loss"] for row in read_metrics(run_dir)]


def test_members_equal_their_separate_runs(tmp_path):
    configs = _configs(tmp_path, "e")
    train_ensemble(configs, progress=False)
    for k, config in enumerate(configs):
        alone = train(replace(config, out=str(tmp_path / f"s{k}")), progress=False)
        ours, theirs = _losses(tmp_path / f"e{k}"), _losses(alone)
        assert len(ours) == len(theirs) == 20
        assert ours == pytest.approx(theirs, rel=REL_TOL)
        ev_ours = json.loads((tmp_path / f"e{k}" / "eval.json").read_text())
        ev_theirs = json.loads((alone / "eval.json").read_text())
        assert ev_ours["summary"] == ev_theirs["summary"]
        a, b = load(tmp_path / f"e{k}" / "model.pt"), load(alone / "model.pt")
        for name, value in b.state_dict().items():
            torch.testing.assert_close(a.state_dict()[name], value, atol=1e-4, rtol=0)
        saved = json.loads((tmp_path / f"e{k}" / "config.json").read_text())
        assert saved["init_seed"] == config.init_seed and saved["model"]["pe"] == config.model.pe


def test_interrupted_ensemble_resumes_bit_identically(tmp_path):
    train_ensemble(_configs(tmp_path, "full"), progress=False)
    part = _configs(tmp_path, "part")
    train_ensemble(part, progress=False, stop_after=10)  # mid window, after a checkpoint at 7
    dirs = [c.out for c in part]
    assert not any((tmp_path / f"part{k}" / "eval.json").exists() for k in range(3))
    resume_ensemble(dirs, progress=False, stop_after=4)
    resume_ensemble(dirs, progress=False)
    for k in range(3):
        assert _losses(tmp_path / f"part{k}") == _losses(tmp_path / f"full{k}")
        a, b = load(tmp_path / f"part{k}" / "model.pt"), load(tmp_path / f"full{k}" / "model.pt")
        for name, value in b.state_dict().items():
            assert torch.equal(a.state_dict()[name], value), name


def test_member_resumes_alone_as_an_ordinary_run(tmp_path):
    configs = _configs(tmp_path, "e", extra={"train.evaluate_at_end": "false"})
    train_ensemble(configs, progress=False, stop_after=14)
    resume(tmp_path / "e1", progress=False)
    alone = train(replace(configs[1], out=str(tmp_path / "s1")), progress=False)
    assert _losses(tmp_path / "e1") == pytest.approx(_losses(alone), rel=REL_TOL)
    with pytest.raises(ValueError, match="different steps"):
        resume_ensemble([c.out for c in configs], progress=False)


def test_refuses_occupied_folders_and_bad_lists(tmp_path):
    configs = _configs(tmp_path, "e", members=MEMBERS[:2])
    with pytest.raises(ValueError, match="2 configs but 1 run folders"):
        train_ensemble(configs, [tmp_path / "x"], progress=False)
    with pytest.raises(ValueError, match="share a run folder"):
        train_ensemble(configs, [tmp_path / "x"] * 2, progress=False)
    (tmp_path / "e1").mkdir()
    (tmp_path / "e1" / "config.json").write_text("{}")
    with pytest.raises(ValueError, match="already holds a run"):
        train_ensemble(configs, progress=False)
    assert not (tmp_path / "e0").exists()


def test_groups_share_everything_but_seeds_and_encoding():
    base = {"train.steps": "5"}

    def cfg(pe="rope", seed=0, **extra):
        return build_config("tiny", pe=pe, overrides={**base, **extra, "init_seed": str(seed)})

    configs = [
        cfg(seed=0),
        cfg(seed=1),
        cfg("t5", seed=0, data_seed="3"),
        cfg(**{"model.d_model": "64"}),
        cfg(**{"train.lr": "0.1"}),
        cfg(seed=2),
        cfg(**{"model.dropout": "0.1"}),
        cfg(**{"model.dropout": "0.1"}, seed=1),
    ]
    assert ensemble_groups(configs, 8) == [[0, 1, 2, 5], [3], [4], [6], [7]]
    content = [cfg("cope", seed=0), cfg("cope", seed=1)]
    assert ensemble_groups(content, 8) == [[0], [1]]
    assert ensemble_groups(configs, 2) == [[0, 1], [2, 5], [3], [4], [6], [7]]
    assert ensemble_groups(configs, 1) == [[i] for i in range(8)]
    with pytest.raises(ValueError, match="ensemble size must be >= 1"):
        ensemble_groups(configs, 0)


def test_entropy_segmented_members_equal_their_separate_runs(tmp_path):
    extra = {
        "segment_train.method": "entropy",
        "segment_eval.method": "entropy",
        "train.steps": "6",
    }
    configs = _configs(tmp_path, "e", members=MEMBERS[:2], extra=extra)
    train_ensemble(configs, progress=False)
    for k, config in enumerate(configs):
        alone = train(replace(config, out=str(tmp_path / f"s{k}")), progress=False)
        assert sorted(p.name for p in (tmp_path / f"e{k}").iterdir()) == sorted(
            p.name for p in alone.iterdir()
        )
        assert _losses(tmp_path / f"e{k}") == pytest.approx(_losses(alone), rel=REL_TOL)
        ev = [
            json.loads((d / "eval.json").read_text())["summary"]
            for d in (tmp_path / f"e{k}", alone)
        ]
        assert ev[0] == ev[1]


def test_ctrl_c_then_resume_equals_uninterrupted(tmp_path, monkeypatch):
    from bipe.experiments.tasks import TASKS

    train_ensemble(_configs(tmp_path, "full"), progress=False)
    task = TASKS["arith"]
    calls = {"n": 0}
    original = type(task).loss

    def interrupted(self, logits, targets, data):
        calls["n"] += 1
        if calls["n"] == 3 * 11 + 2:  # inside step 12's forward (3 members' losses a step)
            raise KeyboardInterrupt
        return original(self, logits, targets, data)

    monkeypatch.setattr(type(task), "loss", interrupted)
    part = _configs(tmp_path, "part")
    with pytest.raises(KeyboardInterrupt):
        train_ensemble(part, progress=False)
    monkeypatch.setattr(type(task), "loss", original)
    assert all(len(_losses(tmp_path / f"part{k}")) == 11 for k in range(3))
    resume_ensemble([c.out for c in part], progress=False)
    for k in range(3):
        assert _losses(tmp_path / f"part{k}") == _losses(tmp_path / f"full{k}")
