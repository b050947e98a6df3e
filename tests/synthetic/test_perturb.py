"""Perturbations: rates match their parameters, tokens never change, marks stay valid."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bipe.synthetic.perturb import (
    Perturbation,
    drop_boundaries,
    fixed_length,
    insert_boundaries,
    perturb_boundaries,
    perturb_record,
    shift_boundaries,
)
from bipe.synthetic.segment import positions_from_boundaries, separator_positions

S = 5


def marks_batches():
    """(marks (N, T) bool, lengths (N,)) built constructively."""
    return (
        st.integers(1, 5)
        .flatmap(
            lambda n: st.integers(0, 12).flatmap(
                lambda t: st.tuples(
                    st.lists(
                        st.lists(st.booleans(), min_size=t, max_size=t), min_size=n, max_size=n
                    ),
                    st.lists(st.integers(0, t), min_size=n, max_size=n),
                )
            )
        )
        .map(lambda x: (np.array(x[0], dtype=bool).reshape(len(x[0]), -1), np.array(x[1])))
    )


perturbations = st.builds(
    Perturbation,
    drop=st.sampled_from([0.0, 0.3, 1.0]),
    insert=st.sampled_from([0.0, 0.2, 1.0]),
    shift=st.integers(0, 3),
)


@given(marks_batches(), perturbations, st.integers(0, 2**32 - 1))
def test_perturbed_marks_are_valid_and_deterministic(batch, perturbation, seed):
    marks, lengths = batch
    out = perturb_boundaries(np.random.default_rng(seed), marks, perturbation, lengths)
    again = perturb_boundaries(np.random.default_rng(seed), marks, perturbation, lengths)
    assert out.dtype == bool and out.shape == marks.shape
    np.testing.assert_array_equal(out, again)
    padding = np.arange(marks.shape[1])[None, :] >= lengths[:, None]
    assert not out[padding].any()
    seg, intra = positions_from_boundaries(out, lengths)
    for n, length in enumerate(lengths):  # seg steps by 0/1 and intra resets exactly after marks
        assert np.all(np.diff(seg[n, :length]) == out[n, : max(length - 1, 0)])


@given(marks_batches(), st.integers(0, 2**32 - 1))
def test_extremes(batch, seed):
    marks, lengths = batch
    rng = np.random.default_rng(seed)
    valid = np.arange(marks.shape[1])[None, :] < lengths[:, None]
    assert not drop_boundaries(rng, marks, 1.0, lengths).any()
    np.testing.assert_array_equal(drop_boundaries(rng, marks, 0.0, lengths), marks & valid)
    np.testing.assert_array_equal(insert_boundaries(rng, marks, 1.0, lengths), valid)
    np.testing.assert_array_equal(shift_boundaries(rng, marks, 0, lengths), marks & valid)
    out = shift_boundaries(rng, marks, 2, lengths)
    assert out.sum() <= (marks & valid).sum()  # merged, never created


@given(st.lists(st.integers(0, S), max_size=30), perturbations, st.integers(0, 2**32 - 1))
def test_records_keep_their_tokens(tokens, perturbation, seed):
    seg, intra = separator_positions(np.array(tokens, dtype=np.int64), S)
    record = {"tokens": list(tokens), "seg": seg.tolist(), "intra": intra.tolist(), "id": 7}
    out = perturb_record(np.random.default_rng(seed), record, perturbation, separators=[S])
    assert out["tokens"] == tokens and out["id"] == 7
    assert record["seg"] == seg.tolist()  # the input record is not modified
    assert len(out["seg"]) == len(out["intra"]) == len(tokens)
    identity = perturb_record(np.random.default_rng(seed), record, Perturbation())
    assert identity["seg"] == record["seg"] and identity["intra"] == record["intra"]


def test_fixed_length_replaces_boundaries():
    marks = np.array([[1, 0, 0, 0, 1, 0, 0]], dtype=bool)
    out = fixed_length(marks, 3, lengths=[5])
    assert out.tolist() == [[False, False, True, False, False, False, False]]
    rng = np.random.default_rng(0)
    again = perturb_boundaries(rng, marks, Perturbation(fixed_length=3), lengths=[5])
    np.testing.assert_array_equal(out, again)


def test_bad_parameters():
    with pytest.raises(ValueError, match="drop"):
        Perturbation(drop=1.5)
    with pytest.raises(ValueError, match="fixed_length"):
        Perturbation(fixed_length=3, drop=0.1)
    with pytest.raises(ValueError, match="shift"):
        shift_boundaries(np.random.default_rng(0), np.zeros(3, dtype=bool), -1)


def _within(observed, expected, n, sigmas=5.0):
    """``observed`` frequency lies within ``sigmas`` binomial standard errors of ``expected``."""
    se = np.sqrt(expected * (1 - expected) / n)
    return abs(observed - expected) <= sigmas * se + 1e-12


@pytest.mark.slow
@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_drop_and_insert_rates(p):
    rng = np.random.default_rng(1234)
    marks = rng.random((400, 500)) < 0.2  # (N, T)
    lengths = rng.integers(0, 501, size=400)
    valid = np.arange(500)[None, :] < lengths[:, None]
    true, other = marks & valid, ~marks & valid
    dropped = drop_boundaries(rng, marks, p, lengths)
    assert not (dropped & ~true).any()
    assert _within(1 - dropped[true].mean(), p, true.sum())
    inserted = insert_boundaries(rng, marks, p, lengths)
    assert inserted[true].all()
    assert _within(inserted[other].mean(), p, other.sum())


@pytest.mark.slow
@pytest.mark.parametrize("k", [1, 3])
def test_shift_offsets_are_uniform(k):
    rng = np.random.default_rng(99)
    n, t, gap = 20000, 40, 20  # one boundary per row, far from the edges: no clipping or merging
    marks = np.zeros((n, t), dtype=bool)
    marks[:, gap] = True
    out = shift_boundaries(rng, marks, k)
    assert (out.sum(axis=1) == 1).all()
    offsets = out.argmax(axis=1) - gap
    freq = np.bincount(offsets + k, minlength=2 * k + 1) / n
    assert len(freq) == 2 * k + 1
    for f in freq:
        assert _within(f, 1 / (2 * k + 1), n)
