"""Position streams: docs/method.md#positions, the numpy segmenters, streaming and padded forms."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from bipe.models import (
    Positions,
    bilevel_positions,
    default_positions,
    left_padded_positions,
    multilevel_positions,
    next_positions,
)
from bipe.synthetic import segment
from bipe.testing import check_segmenter, reference_positions
from bipe.testing.strategies import scaled_examples

S = 9
rows = st.lists(st.sampled_from([0, 1, 2, S, S, 10]), min_size=1, max_size=24)
batches = st.integers(1, 4).flatmap(
    lambda n: st.integers(1, 24).flatmap(
        lambda t: st.lists(
            st.lists(st.sampled_from([0, 1, 2, S, 10]), min_size=t, max_size=t),
            min_size=n,
            max_size=n,
        )
    )
)


def test_bipe_md_worked_example():
    tokens = torch.tensor([0, 1, S, 2, 3, 4, S, 5, S, S, 6])
    seg, intra = bilevel_positions(tokens, [S])
    assert intra.tolist() == [0, 1, 2, 0, 1, 2, 3, 0, 1, 0, 0]
    assert seg.tolist() == [0, 0, 0, 1, 1, 1, 1, 2, 2, 3, 4]
    assert seg.dtype == intra.dtype == torch.long


def _numpy_segmenter(tokens, lengths=None):
    seg, intra = bilevel_positions(torch.as_tensor(tokens), [9, 10])
    return seg.numpy(), intra.numpy()


def _streaming_step(state, token):
    """bipe.testing's step protocol on top of next_positions."""
    if state == "start":
        z = torch.zeros(1, 1, dtype=torch.long)
        pos = Positions(z, z, z)
    else:
        prev, prev_token = state
        pos = next_positions(prev, torch.tensor([prev_token]), ((9, 10),))
    return (pos, token), int(pos.seg), int(pos.intra)


def test_check_segmenter_properties_and_streaming():
    check_segmenter(
        _numpy_segmenter,
        separators=[9, 10],
        step=_streaming_step,
        init="start",
        max_examples=scaled_examples(40),
    )


@given(batches)
def test_equals_numpy_segmenter_and_loop_reference(batch):
    tokens = torch.tensor(batch)
    seg, intra = bilevel_positions(tokens, [S, 10])
    np_seg, np_intra = segment.separator_positions(np.array(batch), [S, 10])
    assert seg.tolist() == np_seg.tolist() and intra.tolist() == np_intra.tolist()
    for b, row in enumerate(batch):
        assert (seg[b].tolist(), intra[b].tolist()) == reference_positions(row, (S, 10))


@given(batches)
def test_multilevel_equals_numpy_and_reduces_to_bilevel(batch):
    tokens = torch.tensor(batch)
    intra, levels = multilevel_positions(tokens, [(S,), (10,)])
    np_segs, np_intra = segment.multilevel_positions(np.array(batch), [[S], [10]])
    assert intra.tolist() == np_intra.tolist()
    assert [lv.tolist() for lv in levels] == np_segs.tolist()
    seg, intra2 = bilevel_positions(tokens, [S, 10])
    assert torch.equal(levels[0], seg) and torch.equal(intra, intra2)
    assert torch.equal(levels[1], bilevel_positions(tokens, [10])[0])


def test_multilevel_docstring_example():
    a, b, c, d, w, s = 0, 1, 2, 3, 9, 10
    intra, levels = multilevel_positions(torch.tensor([[a, b, w, c, s, d, w]]), [(w,), (s,)])
    assert intra[0].tolist() == [0, 1, 2, 0, 1, 0, 1]
    assert levels[0][0].tolist() == [0, 0, 0, 1, 1, 2, 2]
    assert levels[1][0].tolist() == [0, 0, 0, 0, 0, 1, 1]


@given(batches)
def test_streaming_equals_batch_for_every_level(batch):
    tokens = torch.tensor(batch)
    levels = ((S,), (10,))
    full = default_positions(tokens, levels)
    last = full.select(0, 1)
    for t in range(1, tokens.shape[1]):
        last = next_positions(last, tokens[:, t - 1], levels)
        want = full.select(t, t + 1)
        for got, ref in zip(
            (last.index, last.seg, last.intra, *last.outer),
            (want.index, want.seg, want.intra, *want.outer),
            strict=True,
        ):
            assert torch.equal(got, ref)


@given(batches, st.data())
def test_left_padded_rows_get_their_unpadded_positions(batch, data):
    tokens = torch.tensor(batch)
    B, T = tokens.shape
    lengths = torch.tensor(data.draw(st.lists(st.integers(1, T), min_size=B, max_size=B)))
    levels = ((S,), (10,))
    pos = left_padded_positions(tokens, lengths, levels)
    for b in range(B):
        n = int(lengths[b])
        alone = default_positions(tokens[b : b + 1, T - n :], levels)
        for got, ref in zip(
            (pos.index, pos.seg, pos.intra, *pos.outer),
            (alone.index, alone.seg, alone.intra, *alone.outer),
            strict=True,
        ):
            assert got[b, T - n :].tolist() == ref[0].tolist()
            assert got[b, : T - n].tolist() == [0] * (T - n)


def test_no_separators_gives_one_segment():
    seg, intra = bilevel_positions(torch.tensor([[3, 1, 4, 1, 5]]), ())
    assert seg.tolist() == [[0] * 5] and intra.tolist() == [[0, 1, 2, 3, 4]]


def test_shifted_streams():
    pos = default_positions(torch.tensor([[0, S, 1]]), ((S,), (10,)))
    assert pos.shifted("seg", 3).seg.tolist() == [[3, 3, 4]]
    assert pos.shifted("outer", 2).outer[0].tolist() == [[2, 2, 2]]
    with pytest.raises(ValueError, match="unknown position stream"):
        pos.shifted("time", 1)
