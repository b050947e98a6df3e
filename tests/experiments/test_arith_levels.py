"""The arithmetic separator rules (``data.separator_rule``): the levels hbipe gets.

Under ``operators`` each of ``+ - * /`` closes an inner unit inside the ``=`` segments. The
positions the model computes from ``model.separators`` are checked against a plain loop, the
question's units against what the rule promises (one number each, one more unit than
operators), and a short hbipe run trains and evaluates on it.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from bipe.experiments.presets import build_config
from bipe.experiments.train import train
from bipe.models.positions import default_positions
from bipe.synthetic.arithmetic import (
    EOS,
    EQUALS,
    FORMATS,
    NUM0,
    OPERATORS,
    sample_arithmetic,
)
from bipe.synthetic.segment import multilevel_positions

HBIPE = {"data.separator_rule": "operators"}


def _slow_levels(row: list[int]) -> tuple[list[int], list[int], list[int]]:
    """(intra, unit index, '=' segment index) of one row, by walking it."""
    intra, inner, outer = [], [], []
    i = u = s = 0
    for t in row:
        intra.append(i)
        inner.append(u)
        outer.append(s)
        closes_unit = t in OPERATORS or t in (EQUALS, EOS)
        i, u = (0, u + 1) if closes_unit else (i + 1, u)
        s += t in (EQUALS, EOS)
    return intra, inner, outer


def test_the_rules_give_the_model_its_levels():
    config = build_config("tiny", task="arith", pe="hbipe", overrides=HBIPE)
    assert config.model.level_separators() == (tuple(OPERATORS), (EQUALS, EOS))
    assert build_config("tiny", task="arith").model.separators == (EQUALS, EOS)  # unchanged
    union = build_config("tiny", task="arith", pe="bipe_rope", overrides=HBIPE)
    assert set(union.model.separators) == {*OPERATORS, EQUALS, EOS}
    default = build_config("tiny", task="arith", pe="hbipe").model  # '=' inside '<eos>'
    assert default.level_separators() == ((EQUALS,), (EOS,))
    with pytest.raises(ValueError, match="separator_rule 'commas' unknown; known: equals"):
        build_config("tiny", task="arith", overrides={"data.separator_rule": "commas"})


@given(seed=st.integers(0, 2**32 - 1), fmt=st.sampled_from(FORMATS), hi=st.integers(1, 8))
def test_hbipe_positions_equal_the_plain_loop(seed, fmt, hi):
    levels = build_config(
        "tiny", task="arith", pe="hbipe", overrides=HBIPE
    ).model.level_separators()
    batch = sample_arithmetic(np.random.default_rng(seed), 4, operators=f"uniform:1:{hi}", fmt=fmt)
    for i in range(batch.n):
        row = batch.row(i).tolist()
        pos = default_positions(torch.tensor([row]), levels)
        want = _slow_levels(row)
        got = (pos.intra[0].tolist(), pos.seg[0].tolist(), pos.outer[0][0].tolist())
        assert got == want
        segs, intra = multilevel_positions(np.array(row), levels)
        assert (intra.tolist(), segs[0].tolist(), segs[1].tolist()) == want
        question = row[: batch.prompt_len[i]]  # every unit of the question holds one number
        units = np.split(np.array(question), np.flatnonzero(np.isin(question, levels[0])) + 1)
        units = [u for u in units if len(u)]
        assert len(units) == batch.n_operators[i] + 1
        assert all(int((u >= NUM0).sum()) == 1 for u in units)


def test_hbipe_trains_and_evaluates_on_operator_levels(tmp_path):
    overrides = {
        **HBIPE,
        "data.fmt": "steps",
        "data.n_train": "64",
        "data.n_eval": "8",
        "data.eval_lengths": "2,4",
        "train.steps": "4",
        "train.log_every": "2",
        "train.checkpoint_every": "4",
    }
    config = build_config(
        "tiny", task="arith", pe="hbipe", overrides=overrides, out=str(tmp_path / "r")
    )
    train(config, progress=False)
    saved = json.loads((tmp_path / "r" / "config.json").read_text())
    assert saved["model"]["separators"] == [list(OPERATORS), [EQUALS, EOS]]
    assert saved["model"]["max_intra"] <= 4  # units of 1-2 operators; a 2-operator question
    # alone has 6+ tokens, so under the equals rule max_intra would be 6 or more
    result = json.loads((tmp_path / "r" / "eval.json").read_text())
    assert [row["length"] for row in result["per_length"]] == [2, 4]
