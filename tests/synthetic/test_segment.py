"""Segmenters: the worked example of docs/method.md#positions, padding, batch == per row."""

from functools import partial

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bipe.synthetic.segment import (
    boundaries_from_positions,
    fixed_length_positions,
    fixed_length_step,
    initial_state,
    multilevel_positions,
    multilevel_step,
    oracle_positions,
    positions_from_boundaries,
    separator_positions,
    separator_step,
    stream_positions,
)
from bipe.testing import reference_positions

S = 9
WORKED = np.array([0, 1, S, 2, 3, 4, S, 5, S, S, 6])
WORKED_INTRA = [0, 1, 2, 0, 1, 2, 3, 0, 1, 0, 0]
WORKED_SEG = [0, 0, 0, 1, 1, 1, 1, 2, 2, 3, 4]


def test_worked_example():
    seg, intra = separator_positions(WORKED, S)
    assert seg.tolist() == WORKED_SEG
    assert intra.tolist() == WORKED_INTRA


def test_worked_example_batched_with_padding():
    tokens = np.stack([WORKED, np.r_[WORKED[:4], np.full(7, S)]])  # (2, 11)
    seg, intra = separator_positions(tokens, [S], lengths=[11, 4], pad_value=-1)
    assert seg[0].tolist() == WORKED_SEG and intra[0].tolist() == WORKED_INTRA
    assert seg[1].tolist() == [0, 0, 0, 1] + [-1] * 7
    assert intra[1].tolist() == [0, 1, 2, 0] + [-1] * 7


def test_empty_and_bad_input():
    seg, intra = separator_positions(np.zeros((2, 0), dtype=np.int64), S)
    assert seg.shape == intra.shape == (2, 0)
    with pytest.raises(ValueError, match="lengths"):
        separator_positions(np.zeros((2, 3), dtype=np.int64), S, lengths=[1, 4])
    with pytest.raises(ValueError, match="shape"):
        separator_positions(np.zeros((1, 2, 3), dtype=np.int64), S)


rows = st.lists(st.lists(st.integers(0, 4), max_size=20), min_size=1, max_size=6)


@given(rows, st.sets(st.integers(0, 4), max_size=3))
def test_batch_matches_reference_per_row(data, seps):
    width = max(len(r) for r in data)
    tokens = np.full((len(data), width), S, dtype=np.int64)
    for n, row in enumerate(data):
        tokens[n, : len(row)] = row
    seg, intra = separator_positions(tokens, sorted(seps), lengths=[len(r) for r in data])
    for n, row in enumerate(data):
        ref_seg, ref_intra = reference_positions(row, seps)
        assert seg[n, : len(row)].tolist() == ref_seg
        assert intra[n, : len(row)].tolist() == ref_intra
        assert not seg[n, len(row) :].any() and not intra[n, len(row) :].any()


def test_positions_from_boundaries_ignores_marks_in_padding():
    marks = np.array([[0, 1, 1, 1]], dtype=bool)
    seg, intra = positions_from_boundaries(marks, lengths=[2])
    assert seg.tolist() == [[0, 0, 0, 0]] and intra.tolist() == [[0, 1, 0, 0]]


def _padded(data, fill=S):
    width = max([len(r) for r in data] + [0])
    tokens = np.full((len(data), width), fill, dtype=np.int64)
    for n, row in enumerate(data):
        tokens[n, : len(row)] = row
    return tokens, np.array([len(r) for r in data])


@given(rows, st.sets(st.integers(0, 4), max_size=3))
def test_streaming_separator_matches_batch(data, seps):
    tokens, lengths = _padded(data)
    step = partial(separator_step, separators=sorted(seps))
    want = separator_positions(tokens, sorted(seps))
    got = stream_positions(step, tokens)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
    for n, row in enumerate(data):  # scalar tokens, one row at a time
        state = initial_state()
        for t, tok in enumerate(row):
            state, seg, intra = separator_step(state, int(tok), sorted(seps))
            assert (seg, intra) == (want[0][n, t], want[1][n, t])
            assert isinstance(seg, int) and isinstance(intra, int)


@given(rows, st.integers(1, 5))
def test_fixed_length_matches_reference_and_streaming(data, k):
    tokens, lengths = _padded(data)
    seg, intra = fixed_length_positions(tokens, k, lengths, pad_value=-1)
    for n, length in enumerate(lengths):
        t = np.arange(length)
        assert seg[n, :length].tolist() == (t // k).tolist()
        assert intra[n, :length].tolist() == (t % k).tolist()
        assert (seg[n, length:] == -1).all()
    got = stream_positions(partial(fixed_length_step, k=k), tokens)
    want = fixed_length_positions(tokens, k)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


@given(rows, st.sets(st.integers(0, 4), max_size=3))
def test_oracle_recovers_separator_segmentation(data, seps):
    tokens, lengths = _padded(data)
    seg, intra = separator_positions(tokens, sorted(seps), lengths)
    relabelled = np.where(seg >= 0, 3 * seg + 10, 0)  # any labels; equal means same segment
    oracle = oracle_positions(relabelled, lengths)
    np.testing.assert_array_equal(oracle[0], seg)
    np.testing.assert_array_equal(oracle[1], intra)
    marks = boundaries_from_positions(seg, lengths)
    np.testing.assert_array_equal(positions_from_boundaries(marks, lengths)[0], seg)


MULTI = np.array([0, 8, 1, 2, 8, 9, 3, 8, 9])


def test_multilevel_worked_example():
    segs, intra = multilevel_positions(MULTI, [[8], [9]])
    assert segs.tolist() == [[0, 0, 1, 1, 1, 2, 3, 3, 4], [0, 0, 0, 0, 0, 0, 1, 1, 1]]
    assert intra.tolist() == [0, 1, 0, 1, 2, 0, 0, 1, 0]
    one, one_intra = multilevel_positions(WORKED, [[S]])
    assert one.tolist() == [WORKED_SEG] and one_intra.tolist() == WORKED_INTRA


@given(st.lists(st.lists(st.integers(0, 3), max_size=15), min_size=1, max_size=4))
def test_multilevel_streaming_and_levels(data):
    tokens, lengths = _padded(data, fill=0)
    levels = [[2], [3]]
    segs, intra = multilevel_positions(tokens, levels, lengths)
    np.testing.assert_array_equal(segs[0], separator_positions(tokens, [2, 3], lengths)[0])
    np.testing.assert_array_equal(segs[1], separator_positions(tokens, [3], lengths)[0])
    assert (segs[1] <= segs[0]).all()
    got = stream_positions(partial(multilevel_step, level_separators=levels), tokens, n_levels=2)
    full = multilevel_positions(tokens, levels)
    np.testing.assert_array_equal(got[0], full[0])
    np.testing.assert_array_equal(got[1], full[1])


def test_streaming_state_level_mismatch_is_an_error():
    with pytest.raises(ValueError, match="initial_state"):
        multilevel_step(initial_state(), 3, [[2], [3]])
    with pytest.raises(ValueError, match="positive"):
        fixed_length_positions(np.zeros(3, dtype=int), 0)
