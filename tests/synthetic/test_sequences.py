"""Bi-NFA, flat NFA and 3-level sequences: membership, specs, labels, determinism."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bipe.automata import NFA
from bipe.automata.binfa import BiNFA
from bipe.synthetic.distributions import parse_length_spec as spec
from bipe.synthetic.segment import multilevel_positions, separator_positions
from bipe.synthetic.sequences import (
    batch_records,
    sample_binfa_sequences,
    sample_nfa_sequences,
)
from bipe.testing import binfa_sequences, binfas

# The docs/method.md#bi-nfa worked example: type 0 = 0+, type 1 = exactly "1";
# outer = type 0 then 1*.
T0 = NFA.from_transitions(2, 2, [0], [1], [(0, 0, 1), (1, 0, 1)])
T1 = NFA.from_transitions(2, 2, [0], [1], [(0, 1, 1)])
OUTER = NFA.from_transitions(2, 2, [0], [1], [(0, 0, 1), (1, 1, 1)])
EXAMPLE = BiNFA(n_symbols=2, separator=2, outer=OUTER, inner=(T0, T1))


def rows(batch):
    """Each sequence as a 1-D array."""
    return [batch.tokens[a:b] for a, b in zip(batch.offsets[:-1], batch.offsets[1:], strict=True)]


def test_worked_example():
    batch = sample_binfa_sequences(
        np.random.default_rng(0), EXAMPLE, 50, [spec("fixed:3"), spec("choice:1,2")]
    )
    for row, types in zip(
        rows(batch), np.split(batch.types[0], batch.type_offsets[0][1:-1]), strict=True
    ):
        assert types.tolist() == [0, 1, 1]
        assert row[-4:].tolist() == [1, 2, 1, 2] and row[0] == 0
    tokens = np.array([0, 0, 2, 1, 2, 1, 2])
    seg, intra = separator_positions(tokens, 2)
    assert seg.tolist() == [0, 0, 0, 1, 1, 2, 2] and intra.tolist() == [0, 1, 2, 0, 1, 0, 1]


@given(binfa_sequences())
def test_every_sequence_is_accepted_by_the_reference_and_the_flattening(drawn):
    binfa, tokens, lengths, is_last = drawn
    assert binfa.accepts(tokens, lengths).all()
    assert binfa.flatten().accepts(tokens, lengths).all()
    valid = np.arange(tokens.shape[1])[None, :] < lengths[:, None]
    np.testing.assert_array_equal(is_last, (tokens == binfa.separator) & valid)


@given(
    binfas(),
    st.integers(0, 2**32 - 1),
    st.integers(1, 4),
    st.integers(1, 4),
    st.integers(0, 3),
    st.integers(0, 3),
)
def test_counts_and_lengths_respect_their_specs(binfa, seed, s_lo, l_lo, s_span, l_span):
    segments = spec(f"uniform:{s_lo}:{s_lo + s_span}")
    lengths = spec(f"uniform:{l_lo}:{l_lo + l_span}")
    try:
        batch = sample_binfa_sequences(np.random.default_rng(seed), binfa, 6, [segments, lengths])
    except ValueError as err:  # infeasible for this automaton: must say so, and be so
        assert "no sequence satisfies" in str(err)
    else:
        assert binfa.accepts(*batch.padded()[:2]).all()
        for row in rows(batch):
            ends = np.flatnonzero(row == binfa.separator)
            assert segments.lo <= len(ends) <= segments.hi and row[-1] == binfa.separator
            content = np.diff(np.r_[-1, ends]) - 1
            assert ((content >= lengths.lo) & (content <= lengths.hi)).all()


@given(binfas(), st.integers(0, 2**32 - 1))
def test_labels_match_streams_types_and_reference_state_sets(binfa, seed):
    batch = sample_binfa_sequences(
        np.random.default_rng(seed), binfa, 5, [spec("uniform:1:5"), spec("uniform:1:4")]
    )
    tokens, lengths, marks = batch.padded()
    segs, intra = batch.positions()
    seg_ref, intra_ref = separator_positions(tokens, binfa.separator, lengths)
    valid = np.arange(tokens.shape[1])[None, :] < lengths[:, None]
    np.testing.assert_array_equal(segs[0], seg_ref[valid])
    np.testing.assert_array_equal(intra, intra_ref[valid])
    types = np.split(batch.types[0], batch.type_offsets[0][1:-1])
    ref = binfa.labels(tokens, lengths)
    for n, row in enumerate(rows(batch)):
        ends = np.flatnonzero(row == binfa.separator)
        assert len(types[n]) == len(ends)
        assert binfa.outer.accepts(types[n][None, :]).all()
        for k, segment in zip(types[n], np.split(row, ends + 1)[:-1], strict=True):
            assert binfa.inner[k].accepts(segment[None, :-1]).all()
    outer = batch.outer_state
    outer_sets = ref.outer_states[valid]  # (M, Q) reference: all type choices that fit
    known = outer >= 0
    assert outer_sets[known, outer[known]].all()  # our state lies in the reference set
    single = outer_sets.sum(axis=1) == 1
    np.testing.assert_array_equal(outer[single], outer_sets[single].argmax(axis=1))
    inner = batch.inner_state
    content = ~marks[0][valid]
    seg_types = np.repeat(batch.types[0], np.diff(np.r_[-1, np.flatnonzero(batch.marks[0])]))
    for k in range(binfa.n_types):
        at = content & (seg_types == k) & (inner >= 0)
        assert ref.inner_states[k][valid][at, inner[at]].all()


def test_unbounded_and_conditional_lengths():
    even = NFA.from_transitions(3, 1, [0], [2], [(0, 0, 1), (1, 0, 2), (2, 0, 1)])  # 2, 4, ...
    outer = NFA.from_transitions(1, 1, [0], [0], [(0, 0, 0)])
    binfa = BiNFA(n_symbols=1, separator=1, outer=outer, inner=(even,))
    batch = sample_binfa_sequences(
        np.random.default_rng(1), binfa, 2000, [spec("geometric:0.5:1"), spec("uniform:1:4")]
    )
    content = np.diff(np.r_[-1, np.flatnonzero(batch.marks[0])]) - 1
    assert set(np.unique(content)) == {2, 4}
    assert abs((content == 2).mean() - 0.5) < 0.05  # conditional law of uniform:1:4 on {2, 4}
    counts = np.diff(batch.type_offsets[0])
    assert counts.min() >= 1 and counts.max() > 5  # unbounded geometric tail is sampled


def test_impossible_settings_are_a_clear_error():
    rng = np.random.default_rng(0)
    none_fit = r"no sequence satisfies.*segment types \[0, 1\] accept no word .*fixed:0"
    with pytest.raises(ValueError, match=none_fit):
        sample_binfa_sequences(rng, EXAMPLE, 3, [spec("uniform:1:3"), spec("fixed:0")])
    usable = r"outer automaton has no word over the usable types \[0\]"
    with pytest.raises(ValueError, match=usable):
        sample_binfa_sequences(rng, EXAMPLE, 3, [spec("uniform:2:3"), spec("fixed:2")])
    with pytest.raises(ValueError, match="2 length distributions"):
        sample_binfa_sequences(rng, EXAMPLE, 3, [spec("fixed:2")])
    # type 1 cannot have 2 tokens, so only the one-segment sequences (type 0) remain
    batch = sample_binfa_sequences(rng, EXAMPLE, 20, [spec("uniform:1:3"), spec("fixed:2")])
    assert (batch.types[0] == 0).all() and (np.diff(batch.type_offsets[0]) == 1).all()


@given(binfas(), st.integers(0, 2**32 - 1))
def test_same_seed_same_sequences(binfa, seed):
    dists = [spec("uniform:1:4"), spec("uniform:1:3")]
    a = sample_binfa_sequences(np.random.default_rng(seed), binfa, 4, dists)
    b = sample_binfa_sequences(np.random.default_rng(seed), binfa, 4, dists)
    for x, y in (
        (a.tokens, b.tokens),
        (a.offsets, b.offsets),
        (a.inner_state, b.inner_state),
        (a.outer_state, b.outer_state),
        (a.types[0], b.types[0]),
    ):
        np.testing.assert_array_equal(x, y)


@given(binfas(), st.integers(0, 2**32 - 1), st.integers(2, 12), st.integers(0, 6))
def test_flat_nfa_sequences(binfa, seed, lo, span):
    flat = binfa.flatten()
    length = spec(f"uniform:{lo}:{lo + span}")
    try:
        batch = sample_nfa_sequences(np.random.default_rng(seed), flat, 5, length, binfa.separators)
    except ValueError as err:
        assert "accepts no word" in str(err)
        assert not any(flat.count_words(lo + span)[lo:])
    else:
        tokens, lengths, marks = batch.padded()
        assert flat.accepts(tokens, lengths).all() and binfa.accepts(tokens, lengths).all()
        assert ((lengths >= lo) & (lengths <= lo + span)).all()
        valid = np.arange(tokens.shape[1])[None, :] < lengths[:, None]
        np.testing.assert_array_equal(marks[0], (tokens == binfa.separator) & valid)


@given(binfas(levels=3, max_symbols=2, max_types=2), st.integers(0, 2**32 - 1))
def test_three_level_sequences(binfa, seed):
    dists = [spec("uniform:1:3"), spec("uniform:1:3"), spec("uniform:1:3")]
    try:
        batch = sample_binfa_sequences(np.random.default_rng(seed), binfa, 4, dists)
    except ValueError as err:
        assert "no sequence satisfies" in str(err)
    else:
        tokens, lengths, marks = batch.padded()
        assert binfa.accepts(tokens, lengths).all()
        assert binfa.flatten().accepts(tokens, lengths).all()
        segs, intra = batch.positions()
        ref_segs, ref_intra = multilevel_positions(
            tokens, [[binfa.n_symbols], [binfa.separator]], lengths
        )
        valid = np.arange(tokens.shape[1])[None, :] < lengths[:, None]
        np.testing.assert_array_equal(segs, ref_segs[:, valid])
        np.testing.assert_array_equal(intra, ref_intra[valid])
        assert batch.inner_state is None and len(batch.types) == 2
        for row in rows(batch):
            paragraphs = np.flatnonzero(row == binfa.separator)
            assert 1 <= len(paragraphs) <= 3 and row[-1] == binfa.separator
            for para in np.split(row, paragraphs + 1)[:-1]:
                sentences = np.flatnonzero(para == binfa.n_symbols)
                assert 1 <= len(sentences) <= 3 and para[-2] == binfa.n_symbols
                assert (
                    (np.diff(np.r_[-1, sentences]) - 1 >= 1)
                    & (np.diff(np.r_[-1, sentences]) - 1 <= 3)
                ).all()
        # types per level: one per sentence and one per paragraph, in order
        assert len(batch.types[0]) == int((batch.tokens == binfa.n_symbols).sum())
        assert len(batch.types[1]) == int((batch.tokens == binfa.separator).sum())


def test_empty_sequences_and_records():
    """An outer automaton accepting the empty type sequence gives empty rows; positions, labels
    and records stay aligned around them."""
    outer = NFA.from_transitions(1, 2, [0], [0], [(0, 0, 0), (0, 1, 0)])
    binfa = BiNFA(n_symbols=2, separator=2, outer=outer, inner=(T0, T1))
    batch = sample_binfa_sequences(
        np.random.default_rng(5), binfa, 200, [spec("uniform:0:2"), spec("uniform:1:3")]
    )
    lengths = batch.lengths
    assert (lengths == 0).any() and (lengths > 0).any()
    records = batch_records(batch, "binfa")
    for record in records:
        tokens = np.asarray(record["tokens"])
        seg, intra = separator_positions(tokens, 2)
        assert record["seg"].tolist() == seg.tolist()
        assert record["intra"].tolist() == intra.tolist()
        assert len(record["types"]) == int((tokens == 2).sum())
        assert len(record["inner_state"]) == len(record["outer_state"]) == len(tokens)


def test_mixed_depths_and_zero_sequences():
    """A 3-level automaton whose paragraph types are a Bi-NFA and a plain NFA (a paragraph
    without sentence separators): members only, streams as multilevel_positions says."""
    para = BiNFA(n_symbols=2, separator=2, outer=OUTER, inner=(T0, T1))
    top_outer = NFA.from_transitions(1, 2, [0], [0], [(0, 0, 0), (0, 1, 0)])
    binfa = BiNFA(n_symbols=2, separator=3, outer=top_outer, inner=(para, T0))
    dists = [spec("uniform:1:4"), spec("uniform:1:3"), spec("uniform:1:3")]
    batch = sample_binfa_sequences(np.random.default_rng(2), binfa, 30, dists)
    tokens, lengths, _ = batch.padded()
    assert binfa.accepts(tokens, lengths).all() and (batch.types[1] == 1).any()
    segs, intra = batch.positions()
    ref_segs, ref_intra = multilevel_positions(tokens, [[2], [3]], lengths)
    valid = np.arange(tokens.shape[1])[None, :] < lengths[:, None]
    np.testing.assert_array_equal(segs, ref_segs[:, valid])
    np.testing.assert_array_equal(intra, ref_intra[valid])
    empty = sample_binfa_sequences(
        np.random.default_rng(2), EXAMPLE, 0, [spec("uniform:1:3"), spec("uniform:1:3")]
    )
    assert empty.n == 0 and len(empty.tokens) == 0 and batch_records(empty, "binfa") == []


@pytest.mark.slow
def test_type_sequences_are_uniform_among_usable_outer_words():
    """Types follow a uniform outer word of the drawn length, over the usable types only."""
    t2 = NFA.from_transitions(3, 2, [0], [2], [(0, 0, 1), (1, 0, 2)])  # only "00": length 2
    outer = NFA.from_transitions(
        2, 3, [0], [0, 1], [(0, 0, 1), (1, 1, 0), (1, 0, 1), (0, 2, 0), (1, 2, 1)]
    )
    binfa = BiNFA(n_symbols=2, separator=2, outer=outer, inner=(T0, T1, t2))
    n = 6000
    batch = sample_binfa_sequences(
        np.random.default_rng(11), binfa, n, [spec("fixed:3"), spec("fixed:1")]
    )  # type 2 is unusable
    words = batch.types[0].reshape(n, 3)
    assert (words != 2).all()
    restricted = NFA.from_transitions(2, 2, [0], [0, 1], [(0, 0, 1), (1, 1, 0), (1, 0, 1)])
    codes = words @ np.array([4, 2, 1])
    members = [
        c for c in range(8) if restricted.accepts(np.array([[c >> 2 & 1, c >> 1 & 1, c & 1]]))[0]
    ]
    assert set(np.unique(codes)) == set(members)
    freq = np.bincount(codes, minlength=8)[members] / n
    expected = 1 / len(members)
    assert np.all(np.abs(freq - expected) < 5 * np.sqrt(expected * (1 - expected) / n))
