"""Segmenters: the BIPE.md worked example, padding, batch == per row."""

import numpy as np
import pytest
from bipe.synthetic.segment import positions_from_boundaries, separator_positions
from hypothesis import given
from hypothesis import strategies as st

S = 9
WORKED = np.array([0, 1, S, 2, 3, 4, S, 5, S, S, 6])
WORKED_INTRA = [0, 1, 2, 0, 1, 2, 3, 0, 1, 0, 0]
WORKED_SEG = [0, 0, 0, 1, 1, 1, 1, 2, 2, 3, 4]


def reference_positions(tokens, separators):
    """Slow, obviously correct loop over one row (BIPE.md section 1)."""
    seg, intra, s, i = [], [], 0, 0
    for tok in tokens:
        seg.append(s)
        intra.append(i)
        if tok in separators:
            s, i = s + 1, 0
        else:
            i += 1
    return seg, intra


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
        assert not seg[n, len(row):].any() and not intra[n, len(row):].any()


def test_positions_from_boundaries_ignores_marks_in_padding():
    marks = np.array([[0, 1, 1, 1]], dtype=bool)
    seg, intra = positions_from_boundaries(marks, lengths=[2])
    assert seg.tolist() == [[0, 0, 0, 0]] and intra.tolist() == [[0, 1, 0, 0]]
