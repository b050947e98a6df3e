"""Randomized encodings (Ruoss et al. 2023): the sampling law and when positions are drawn."""

import itertools
import math
from collections import Counter

import pytest
import torch

from bipe.models.positions import Positions
from bipe.models.randomized import ordered_subset

from .model_helpers import tiny_model, tokens

NEW = [
    "randomized_rope",
    "randomized_sinusoidal",
    "randomized_learned",
    "randomized_alibi",
    "randomized_bipe_rope",
    "randomized_bipe_alibi",
]


def test_ordered_subsets_are_uniform_over_all_subsets():
    """n=2 of range(5): each of the 10 subsets has probability 1/10 (4-sigma band)."""
    gen = torch.Generator().manual_seed(0)
    draws = 4000
    counts = Counter(tuple(ordered_subset(gen, 2, 5).tolist()) for _ in range(draws))
    assert set(counts) == set(itertools.combinations(range(5), 2))  # sorted, distinct
    sigma = math.sqrt(draws * 0.1 * 0.9)
    assert all(abs(c - draws / 10) < 4 * sigma for c in counts.values())


def test_each_position_is_included_with_probability_n_over_m():
    gen = torch.Generator().manual_seed(1)
    hits = torch.zeros(64)
    for _ in range(2000):
        hits[ordered_subset(gen, 16, 64)] += 1
    p = hits / 2000  # (M,) should be 16 / 64 each
    assert (p - 0.25).abs().max() < 4 * math.sqrt(0.25 * 0.75 / 2000)
    with pytest.raises(ValueError, match="exceed randomized_max_pos"):
        ordered_subset(gen, 65, 64)


@pytest.mark.parametrize("pe", NEW)
def test_training_positions_are_an_ordered_subset_shared_by_the_batch(pe):
    model = tiny_model(pe).train()
    x = tokens(4, batch=3, length=12)
    pos = model.positions(x)
    gen = torch.Generator().manual_seed(2)
    drawn = model.encoding.prepare(pos, gen)
    stream = "seg" if "bipe" in pe else "index"
    old, new = getattr(pos, stream), getattr(drawn, stream)
    if pe == "randomized_rope":  # draws one subset per row (the others one per batch)
        assert (new.diff(dim=1) > 0).all() and int(new.max()) < model.config.randomized_max_pos
        return
    assert int(new.max()) < model.config.randomized_max_pos
    for b in range(3):
        for i in range(11):
            same = bool(old[b, i] == old[b, i + 1])
            assert bool(new[b, i] == new[b, i + 1]) == same
            assert same or bool(new[b, i] < new[b, i + 1])
    # one subset per batch: equal values map to equal positions in every row
    assert torch.equal(new[old == 0].unique(), new[0, :1])
    kept = [s for s in ("index", "seg", "intra") if s != stream]
    assert all(torch.equal(getattr(pos, s), getattr(drawn, s)) for s in kept)


@pytest.mark.parametrize("pe", NEW)
def test_eval_positions_plain_when_causal_drawn_reproducibly_when_not(pe):
    x = tokens(5, batch=2, length=10)
    causal = tiny_model(pe)
    pos = causal.positions(x)
    assert causal.encoding.prepare(pos) is pos or torch.equal(
        causal.encoding.prepare(pos).index, pos.index
    )
    encoder = tiny_model(pe, causal=False)
    first, second = encoder.encoding.prepare(pos), encoder.encoding.prepare(pos)
    stream = "seg" if "bipe" in pe else "index"
    assert torch.equal(getattr(first, stream), getattr(second, stream))
    assert not torch.equal(getattr(first, stream), getattr(pos, stream))
    with torch.no_grad():
        assert torch.equal(encoder(x), encoder(x))


def test_learned_table_covers_the_sampling_range():
    model = tiny_model("randomized_learned")
    table = model.encoding.inner.table.weight
    assert table.shape == (model.config.randomized_max_pos, 32)
    far = Positions(*(torch.full((1, 1), 127) for _ in range(3)))
    assert torch.equal(model.encoding.embed(far)[0, 0], table[127])
