"""save/load: exact round trip, atomic write, clear errors for bad files."""

from __future__ import annotations

import pytest
import torch
from model_helpers import tiny_model, tokens

from bipe.models import load, save
from bipe.models.checkpoint import FORMAT


@pytest.mark.parametrize("pe", ["rope", "bipe_rope", "hbipe", "t5"])
def test_round_trip_is_exact(tmp_path, pe):
    model = tiny_model(pe, dtype=torch.float32).train()
    model(tokens(0))  # a training forward records the trained intra rows
    path = save(model.eval(), tmp_path / "sub" / "model.pt")
    again = load(path)
    assert again.config == model.config and not again.training
    x = tokens(1)
    assert torch.equal(again(x), model(x))
    for (name, a), b in zip(model.state_dict().items(), again.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["model.pt"]


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(OSError, match="no such model file"):
        load(tmp_path / "absent.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a zip archive at all")
    with pytest.raises(ValueError, match="junk.pt: not a readable bipe model file"):
        load(junk)
    good = save(tiny_model("rope", dtype=torch.float32), tmp_path / "good.pt")
    cut = tmp_path / "cut.pt"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ValueError, match="cut.pt"):
        load(cut)


def test_foreign_version_and_mismatched_files(tmp_path):
    model = tiny_model("rope", dtype=torch.float32)
    payload = {
        "format": FORMAT,
        "version": 1,
        "config": model.config.to_dict(),
        "state": model.state_dict(),
    }
    cases = {
        "foreign": ({"weights": 1}, "format tag"),
        "version": ({**payload, "version": 99}, "version 99"),
        "config": ({**payload, "config": {**payload["config"], "pe": "spiral"}}, "unknown pe"),
        "missing": (
            {**payload, "state": {k: v for k, v in payload["state"].items() if k != "norm.weight"}},
            "missing",
        ),
        "shape": ({**payload, "config": {**payload["config"], "d_ff": 64}}, "shape"),
    }
    for name, (content, message) in cases.items():
        path = tmp_path / f"{name}.pt"
        torch.save(content, path)
        with pytest.raises(ValueError, match=message):
            load(path)
