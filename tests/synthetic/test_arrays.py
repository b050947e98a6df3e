"""The one numpy padding helper: against a per-row reference, both sides, trailing dims."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from bipe.synthetic.arrays import pad_rows

ROWS = st.lists(st.lists(st.integers(-5, 50), max_size=7), min_size=1, max_size=6)


@given(ROWS, st.integers(-100, 0), st.booleans())
def test_pad_rows_matches_a_per_row_reference(rows, pad, left):
    out, lengths = pad_rows([np.array(r, dtype=np.int64) for r in rows], pad, left=left)
    width = max(len(r) for r in rows)
    assert out.shape == (len(rows), width) and out.dtype == np.int64
    assert lengths.tolist() == [len(r) for r in rows]
    for row, r in zip(out, rows, strict=True):
        fill = [pad] * (width - len(r))
        assert row.tolist() == (fill + r if left else r + fill)


def test_pad_rows_keeps_trailing_dimensions_and_handles_no_rows():
    out, lengths = pad_rows([np.ones((2, 3)), np.zeros((1, 3))], pad=-1)
    assert out.shape == (2, 2, 3) and lengths.tolist() == [2, 1]
    assert out[1, 1].tolist() == [-1, -1, -1] and out[0].tolist() == [[1, 1, 1]] * 2
    empty, none = pad_rows([])
    assert empty.shape == (0, 0) and none.shape == (0,)
