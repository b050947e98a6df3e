"""bipe.testing: bipe's own segmenters pass check_segmenter, and planted bugs are caught."""

from functools import partial

import numpy as np
import pytest
from hypothesis import given, settings

from bipe.synthetic.segment import (
    StreamState,
    fixed_length_positions,
    fixed_length_step,
    multilevel_positions,
    oracle_positions,
    positions_from_boundaries,
    separator_positions,
    separator_step,
)
from bipe.testing import (
    binfa_sequences,
    check_segmenter,
    check_segmenter_on,
    nfas,
    token_streams,
)
from bipe.testing.strategies import scaled_examples

SEPS = [5, 6]
FAST = {"max_examples": 40}


def loop_segmenter(tokens, lengths=None):
    """The README's user-written segmenter: a plain loop, separators 5 and 6."""
    seg, intra = np.zeros_like(tokens), np.zeros_like(tokens)
    for n, row in enumerate(tokens):
        s = i = 0
        for t, tok in enumerate(row):
            seg[n, t], intra[n, t] = s, i
            s, i = (s + 1, 0) if tok in SEPS else (s, i + 1)
    return seg, intra


def test_bipe_separator_segmenter_passes():
    check_segmenter(
        partial(separator_positions, separators=SEPS),
        separators=SEPS,
        step=partial(separator_step, separators=SEPS),
        **FAST,
    )


def test_user_loop_segmenter_passes():
    check_segmenter(loop_segmenter, separators=SEPS, **FAST)


def test_segmenter_without_lengths_is_checked_unpadded():
    check_segmenter(lambda tokens: separator_positions(tokens, SEPS), separators=SEPS, **FAST)


def test_fixed_length_and_multilevel_and_oracle_pass():
    check_segmenter(
        partial(fixed_length_positions, k=3),
        separators=None,
        step=partial(fixed_length_step, k=3),
        **FAST,
    )

    def innermost(tokens, lengths=None):
        segs, intra = multilevel_positions(tokens, [[5], [6]], lengths)
        return segs[0], intra

    check_segmenter(innermost, separators=SEPS, **FAST)

    def oracle(tokens, lengths=None):  # labels from the separators, recomputed by the oracle
        seg, _ = separator_positions(tokens, SEPS, lengths)
        return oracle_positions(seg * 7, lengths)

    check_segmenter(oracle, separators=SEPS, **FAST)


# ---------------------------------------------------------------------------- planted bugs


def off_by_one(tokens, lengths=None):
    """The separator opens the next segment instead of closing its own."""
    is_sep = np.isin(tokens, SEPS)
    seg = np.cumsum(is_sep, axis=1)
    first = np.maximum.accumulate(np.where(is_sep, np.arange(tokens.shape[1]), 0), axis=1)
    return seg, np.arange(tokens.shape[1]) - first


def leaky_rows(tokens, lengths=None):
    """Flattens the batch, so counts run on from one row into the next."""
    n, t = tokens.shape
    seg, intra = separator_positions(tokens.reshape(-1), SEPS)
    return seg.reshape(n, t), intra.reshape(n, t)


def drifting_step(state, token):
    """A streaming form that forgets to reset intra after the third segment."""
    new, seg, intra = separator_step(state, token, SEPS)
    if new.seg >= 3 and new.intra == 0 and intra > 0:
        new = StreamState(segs=new.segs, intra=intra + 1)
    return new, seg, intra


def collapsed_runs(tokens, lengths=None):
    """Treats a run of separators as one boundary (like splitting on the regex 'S+')."""
    is_sep = np.isin(tokens, SEPS)
    repeat = is_sep & np.c_[np.zeros((len(tokens), 1), bool), is_sep[:, :-1]]
    tokens = np.where(repeat, 0, tokens)  # a repeated separator no longer counts
    return separator_positions(tokens, SEPS, lengths)


@pytest.mark.parametrize(
    ("fn", "step", "property_name"),
    [
        (off_by_one, None, "docs/method.md#positions worked example"),
        (leaky_rows, None, "rows are independent"),
        (partial(separator_positions, separators=SEPS), drifting_step, "streaming == batch"),
        (
            partial(separator_positions, separators=SEPS[:1]),
            None,
            "docs/method.md#positions worked example",
        ),
        (collapsed_runs, None, "docs/method.md#positions worked example"),
    ],
    ids=["off-by-one", "leaky-rows", "drifting-stream", "missing-separator", "collapsed-runs"],
)
def test_planted_bugs_are_caught(fn, step, property_name):
    with pytest.raises(AssertionError, match=property_name):
        check_segmenter(fn, separators=SEPS, step=step, **FAST)


def test_leaky_rows_caught_without_the_worked_example():
    """Hypothesis itself (not just the fixed example) finds the leak."""
    tokens = np.array([[1, 5, 2], [3, 4, 0]])
    with pytest.raises(AssertionError, match="rows are independent"):
        check_segmenter_on(leaky_rows, tokens, separators=SEPS)


def test_shape_and_signature_bugs():
    with pytest.raises(AssertionError, match="shape"):
        check_segmenter(
            lambda tokens, lengths=None: (tokens[:, 1:], tokens[:, 1:]), separators=SEPS, **FAST
        )
    with pytest.raises(AssertionError, match="signature"):
        check_segmenter(lambda tokens, lengths=None: tokens, separators=SEPS, **FAST)


def test_seg_jump_and_round_trip_are_caught():
    def jumps(tokens, lengths=None):
        seg, intra = separator_positions(tokens, SEPS, lengths)
        return 2 * seg, intra

    def alternates(tokens, lengths=None):
        seg, intra = separator_positions(tokens, SEPS, lengths)
        return seg % 2, intra

    # separators=None: ids 0..7 are drawn, so 5 and 6 occur but the separator rule is off
    with pytest.raises(AssertionError, match="seg steps by 0 or 1"):
        check_segmenter(jumps, separators=None, n_symbols=8, **FAST)
    with pytest.raises(AssertionError, match="round trip|strictly increase"):
        check_segmenter(alternates, separators=None, n_symbols=8, **FAST)


@settings(max_examples=scaled_examples(30))
@given(token_streams(SEPS, max_rows=3, max_length=10))
def test_token_streams_shapes(batch):
    tokens, lengths = batch
    assert tokens.ndim == 2 and lengths.shape == (tokens.shape[0],)
    assert (lengths <= tokens.shape[1]).all() and set(np.unique(tokens)) <= {0, 1, 2, 3, 5, 6}
    check_segmenter_on(loop_segmenter, tokens, lengths, separators=SEPS)


@settings(max_examples=scaled_examples(30))
@given(nfas(max_states=3, n_symbols=2, nonempty=True, min_word_length=1))
def test_nonempty_nfas_have_a_word(nfa):
    counts = nfa.count_words(nfa.n_states)
    assert nfa.n_symbols == 2 and any(counts[1:])


@settings(max_examples=scaled_examples(25))
@given(binfa_sequences())
def test_separator_segmenter_recovers_true_boundaries(drawn):
    binfa, tokens, lengths, is_last = drawn
    segmenter = partial(separator_positions, separators=binfa.separators)
    check_segmenter_on(
        segmenter,
        tokens,
        lengths,
        separators=binfa.separators,
        step=partial(separator_step, separators=binfa.separators),
    )
    seg, intra = segmenter(tokens, lengths=lengths)
    true_seg, true_intra = positions_from_boundaries(is_last, lengths)
    np.testing.assert_array_equal(seg, true_seg)
    np.testing.assert_array_equal(intra, true_intra)
