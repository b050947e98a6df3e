"""Sampled evaluation positions (``bipe.models.sampled_positions``): the drawn tables follow the
training laws, mapping a stream equals a per-row loop, and decoding under drawn positions gives
the same tokens with the KV cache as by recomputing every prefix."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from model_helpers import tiny_model, tokens

from bipe.models.encoding import Encoding
from bipe.models.positions import default_positions, left_padded_positions
from bipe.models.random_float import random_float_table
from bipe.models.rope import ordered_subset_table
from bipe.models.sampled_positions import SampledPositions, sample_positions, sampling_parts
from bipe.models.transformer import KVCache

SAMPLING = ["rfs_rope", "bipe_rfs_rope", "rfs_alibi", "randomized_rope", "randomized_bipe_alibi"]

counts_and_width = st.lists(st.integers(0, 30), min_size=1, max_size=5).flatmap(
    lambda c: st.tuples(st.just(c), st.integers(max(c), max(c) + 5))
)


@given(st.integers(0, 2**16), counts_and_width, st.floats(1.0, 500.0))
def test_float_table_rows_are_sorted_draws_then_filler(seed, cw, max_pos):
    counts, width = torch.tensor(cw[0]), cw[1]
    table = random_float_table(torch.Generator().manual_seed(seed), counts, width, max_pos)
    assert table.shape == (len(counts), width)
    for row, n in zip(table, counts.tolist(), strict=True):
        assert (row[:n] >= 0).all() and (row[:n] < max_pos).all()
        assert (row[:n].diff() >= 0).all()
        assert (row[n:] == max_pos).all()


@given(st.integers(0, 2**16), counts_and_width, st.integers(30, 60))
def test_integer_table_rows_are_ordered_subsets_then_filler(seed, cw, max_pos):
    counts, width = torch.tensor(cw[0]), cw[1]
    table = ordered_subset_table(torch.Generator().manual_seed(seed), counts, width, max_pos)
    assert table.shape == (len(counts), width) and table.dtype == torch.long
    for row, n in zip(table, counts.tolist(), strict=True):
        assert (row[:n] >= 0).all() and (row[:n] < max_pos).all()
        assert (row[:n].diff() > 0).all()  # distinct and increasing
        assert (row[n:] == max_pos).all()


def test_integer_table_refuses_more_positions_than_its_range():
    with pytest.raises(ValueError, match="more than randomized_max_pos 8"):
        ordered_subset_table(torch.Generator().manual_seed(0), torch.tensor([3, 9]), 9, 8)


def test_table_rows_follow_the_order_statistics_of_their_own_count():
    """Row b's k-th value has the mean of the k-th of counts[b] sorted draws: M (k+1)/(n+1)
    for floats, about the same for an ordered subset of range(M) (a masked-out draw must not
    shift the kept ones)."""
    M, B = 100, 4000
    counts = torch.tensor([3, 9] * (B // 2))
    for draw in (random_float_table, ordered_subset_table):
        table = draw(torch.Generator().manual_seed(0), counts, 12, M).double()
        for n in (3, 9):
            mean = table[counts == n, :n].mean(0)
            want = M * torch.arange(1, n + 1, dtype=torch.float64) / (n + 1)
            sd = M * math.sqrt(0.25 / (n + 2)) / math.sqrt(B / 2)
            assert (mean - want).abs().max() < 6 * sd + 1.0  # +1: integer subsets


@pytest.mark.parametrize("pe", SAMPLING)
def test_sample_positions_equals_a_per_row_loop(pe):
    model = tiny_model(pe)
    (part,) = sampling_parts(model.encoding)
    x = tokens(3, batch=4, length=15)
    lengths = torch.tensor([15, 9, 1, 12])
    valid = torch.arange(15)[None, :] < lengths[:, None]
    pos = default_positions(x, model.config.level_separators())
    got = sample_positions([part], pos, valid, torch.Generator().manual_seed(5))
    values = getattr(pos, part.sampled_stream)
    counts = torch.tensor([int(values[b, : lengths[b]].max()) + 1 for b in range(4)])
    width = int(values.max()) + 1
    table = part.draw_table(torch.Generator().manual_seed(5), counts, width)
    for b in range(4):
        for t in range(15):
            want = table[b, values[b, t]]
            assert getattr(got, part.sampled_stream)[b, t] == want
    for name in {"index", "seg", "intra"} - {part.sampled_stream}:
        assert torch.equal(getattr(got, name), getattr(pos, name))
    assert sampling_parts(tiny_model("rope").encoding) == []


@pytest.mark.parametrize("pe", SAMPLING)
def test_decoding_under_drawn_positions_with_the_cache_equals_recomputing(pe):
    model = tiny_model(pe, seed=1)
    parts, seps = sampling_parts(model.encoding), model.config.level_separators()
    prompt = tokens(4, batch=3, length=9)
    lengths = torch.tensor([9, 4, 6])

    def positions():
        return SampledPositions(parts, seps, 7, torch.Generator().manual_seed(2))

    kwargs = dict(prompt_lengths=lengths)
    cached = model.generate(prompt, 7, positions=positions(), **kwargs)
    full = model.generate(prompt, 7, positions=positions(), use_cache=False, **kwargs)
    assert torch.equal(cached, full)
    plain = model.generate(prompt, 7, **kwargs)
    assert cached.shape == plain.shape


@pytest.mark.parametrize("pe", ["rfs_rope", "bipe_rfs_rope"])
def test_decoding_positions_are_drawn_once_for_the_longest_sequence(pe):
    """A token's drawn position never changes as the sequence grows; the tables hold one draw
    per value the grown row can reach (prompt + new tokens; prompt segments + new tokens)."""
    model = tiny_model(pe)
    parts, seps = sampling_parts(model.encoding), model.config.level_separators()
    (part,) = parts
    fn = SampledPositions(parts, seps, 5, torch.Generator().manual_seed(3))
    x = tokens(6, batch=2, length=12)
    n = torch.tensor([7, 5])  # row 1's prompt: its last 5 of 7 columns
    first = getattr(fn(x[:, :7], n), part.sampled_stream)  # (2, 7)
    grown = getattr(fn(x, n + 5), part.sampled_stream)  # (2, 12): five tokens later
    prompt = torch.arange(7)[None, :] >= 7 - n[:, None]  # (2, 7) content columns
    assert torch.equal(grown[:, :7][prompt], first[prompt])
    integer = getattr(left_padded_positions(x, n + 5, seps), part.sampled_stream)
    content = torch.arange(12)[None, :] >= 7 - n[:, None]  # (2, 12)
    steps = (integer.diff(dim=1) > 0) & content[:, 1:] & content[:, :-1]
    assert (grown.diff(dim=1)[steps] > 0).all()  # a new value is a larger draw
    at_prompt = getattr(left_padded_positions(x[:, :7], n, seps), part.sampled_stream)
    reach = at_prompt.masked_fill(~prompt, -1).amax(dim=1) + 1 + 5  # (2,)
    (table,) = fn.tables
    assert torch.equal((table < part.max_pos).sum(dim=1), reach)


def test_the_cache_keeps_float_positions_and_refuses_to_truncate_them():
    model = tiny_model("rfs_alibi")
    x = tokens(1, batch=2, length=6)
    pos = default_positions(x, model.config.level_separators())
    drawn = sample_positions(
        sampling_parts(model.encoding),
        pos,
        torch.ones(2, 6, dtype=torch.bool),
        torch.Generator().manual_seed(0),
    )
    assert drawn.index.is_floating_point()
    cache = KVCache.empty(model.config, 2, 6, 0, x.device, torch.float64, like=drawn)
    cache.write_positions(drawn, 0)
    assert torch.equal(cache.positions.index, drawn.index)
    integer = KVCache.empty(model.config, 2, 6, 0, x.device, torch.float64)
    with pytest.raises(ValueError, match="float positions into a cache"):
        integer.write_positions(drawn, 0)


class _EvenPositions(Encoding):
    """A plug-in-style part: in training the index stream becomes 0, 2, 4, ... (a toy law)."""

    sampled_stream = "index"

    def draw_table(self, generator, counts, width):
        return 2 * torch.arange(width).expand(len(counts), width)


def test_any_part_with_a_sampled_stream_joins_sampled_evaluation():
    part = _EvenPositions()
    assert sampling_parts(part) == [part]
    x = tokens(2, batch=2, length=5)
    pos = default_positions(x, ((10,),))
    got = sample_positions([part], pos, torch.ones(2, 5, dtype=torch.bool), torch.Generator())
    assert got.index.tolist() == [[0, 2, 4, 6, 8]] * 2
