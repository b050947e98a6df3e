"""Bi-NFA: membership against a set-based reference, flattening, labels, dicts, sampling."""

import json

import numpy as np
import pytest
from automata_reference import edge_map, ref_member, ref_state_sets
from hypothesis import given
from hypothesis import strategies as st

from bipe.automata import (
    NFA,
    BiNFA,
    LengthLaw,
    MemberSampler,
    automaton_from_dict,
    random_binfa,
    segment_labels,
)
from bipe.testing.strategies import binfas, nfas

# A = 2, separator 2: type 0 = 0+, type 1 = exactly "1"; the outer wants 0 then 1*.
ZEROS = NFA.from_transitions(2, 2, [0], [1], [(0, 0, 1), (1, 0, 1)])
ONE = NFA.from_transitions(2, 2, [0], [1], [(0, 1, 1)])
EXAMPLE = BiNFA(
    n_symbols=2,
    separator=2,
    inner=(ZEROS, ONE),
    outer=NFA.from_transitions(2, 2, [0], [1], [(0, 0, 1), (1, 1, 1)]),
)


uniform = LengthLaw.uniform


def sample_rows(binfa, laws, seed, n):
    """``n`` members as Python lists, and the ragged batch they came from."""
    ragged = MemberSampler.build(binfa, laws).sample(np.random.default_rng(seed), n)
    ends = np.cumsum(ragged.lengths)
    return [row.tolist() for row in np.split(ragged.tokens, ends[:-1])], ragged


@st.composite
def tokens_for(draw, automaton, max_n=5, max_t=10):
    """Random token rows over the automaton's vocabulary, with ragged lengths."""
    n = draw(st.integers(1, max_n))
    t = draw(st.integers(0, max_t))
    flat = draw(st.lists(st.integers(0, automaton.vocab_size - 1), min_size=n * t, max_size=n * t))
    lengths = draw(st.lists(st.integers(0, t), min_size=n, max_size=n))
    return np.array(flat, dtype=np.int64).reshape(n, t), np.array(lengths, dtype=np.int64)


def test_legal_next_mask_on_the_example():
    tokens = np.array([[0, 0, 2, 1, 2]])
    legal = EXAMPLE.legal_next_mask(tokens)
    # after "": only 0; after "0": 0 or sep; after "00": 0 or sep; after "00#": only 1;
    # after "00#1": only sep
    assert legal[0].tolist() == [
        [True, False, False],
        [True, False, True],
        [True, False, True],
        [False, True, False],
        [False, False, True],
    ]
    assert EXAMPLE.viable_prefix_mask(np.array([[1, 2]])).tolist() == [[True, False, False]]


def test_module_example():
    rows = [[0, 0, 2, 1, 2, 1, 2], [0, 2, 2, 0, 0, 0, 0], [1, 2, 0, 2, 0, 0, 0]]
    lengths = np.array([7, 3, 4])
    assert EXAMPLE.accepts(np.array(rows), lengths).tolist() == [True, False, False]
    labels = EXAMPLE.labels(np.array(rows[:1]))
    assert labels.seg.tolist() == [[0, 0, 0, 1, 1, 2, 2]]
    assert labels.intra.tolist() == [[0, 1, 2, 0, 1, 0, 1]]


def test_segment_labels_follow_bipe_worked_example():
    # tokens a b S c d e S f S S g (docs/method.md#positions), with S = 9
    tokens = np.array([[0, 1, 9, 2, 3, 4, 9, 5, 9, 9, 6]])
    seg, intra = segment_labels(tokens, 9, np.ones_like(tokens, dtype=bool))
    assert intra.tolist() == [[0, 1, 2, 0, 1, 2, 3, 0, 1, 0, 0]]
    assert seg.tolist() == [[0, 0, 0, 1, 1, 1, 1, 2, 2, 3, 4]]


@given(st.data(), st.sampled_from([2, 3]))
def test_membership_and_flattening_match_reference(data, levels):
    binfa = data.draw(binfas(levels=levels, max_symbols=2, sparse=True))
    tokens, lengths = data.draw(tokens_for(binfa))
    got = binfa.accepts(tokens, lengths)
    flat = binfa.flatten()
    assert flat.n_states == binfa.flat_state_count
    flat_got = flat.accepts(tokens, lengths)
    for n in range(len(tokens)):
        expected = ref_member(binfa, tokens[n, : lengths[n]])
        assert got[n] == expected
        assert flat_got[n] == expected


def _mutations(rng, row, separators):
    """Variants of a member with misplaced separators: deleted, inserted, moved, doubled."""
    row = list(row)
    positions = [i for i, x in enumerate(row) if x in separators]
    out = []
    if positions:
        i = int(rng.choice(positions))
        out.append(row[:i] + row[i + 1 :])  # deleted
        j = int(rng.integers(len(row)))
        moved = row[:i] + row[i + 1 :]
        out.append(moved[:j] + [row[i]] + moved[j:])  # moved
        out.append(row[:i] + [row[i]] + row[i:])  # doubled: an empty segment
    k = int(rng.integers(len(row) + 1))
    out.append(row[:k] + [int(rng.choice(separators))] + row[k:])  # inserted
    return out


@given(st.integers(0, 2**32 - 1), st.sampled_from([2, 3]))
def test_flattening_preserves_language_on_members_and_mutants(seed, levels):
    rng = np.random.default_rng(seed)
    binfa = random_binfa(
        rng, 3, 2, 3, 3, segment_lengths=range(1, 4), segment_counts=range(1, 4), levels=levels
    )
    rows, _ = sample_rows(binfa, [uniform(1, 3)] * levels, seed, 6)
    words = rows + [m for row in rows for m in _mutations(rng, row, binfa.separators)]
    width = max(len(w) for w in words)
    padded = np.array([w + [0] * (width - len(w)) for w in words])
    sizes = np.array([len(w) for w in words])
    expected = [ref_member(binfa, w) for w in words]
    assert all(expected[: len(rows)])
    assert binfa.accepts(padded, sizes).tolist() == expected
    assert binfa.flatten().accepts(padded, sizes).tolist() == expected


@given(st.data(), st.sampled_from([2, 3]))
def test_dict_round_trip(data, levels):
    binfa = data.draw(binfas(levels=levels, max_symbols=2, sparse=True))
    text = json.dumps(binfa.to_dict())
    back = automaton_from_dict(json.loads(text))
    assert back == binfa and hash(back) == hash(binfa)
    assert back.separators == tuple(range(binfa.n_symbols, binfa.n_symbols + levels - 1))
    assert back.vocab_size == binfa.n_symbols + levels - 1


@given(st.data())
def test_labels_match_a_per_row_reference(data):
    binfa = data.draw(binfas(levels=2, max_symbols=2, sparse=True))
    tokens, lengths = data.draw(tokens_for(binfa, max_n=3, max_t=8))
    labels = binfa.labels(tokens, lengths)
    sep = binfa.separator
    outer_edges = edge_map(binfa.outer)
    for n in range(len(tokens)):
        outer, segment, seg = set(binfa.outer.start), [], 0
        for t in range(tokens.shape[1]):
            if t >= lengths[n]:
                assert labels.seg[n, t] == -1 and not labels.outer_states[n, t].any()
                continue
            x = int(tokens[n, t])
            assert (labels.seg[n, t], labels.intra[n, t]) == (seg, len(segment))
            if x == sep:
                types = [k for k, a in enumerate(binfa.inner) if ref_member(a, segment)]
                outer = {r for q in outer for k in types for r in outer_edges.get((q, k), ())}
                segment, seg = [], seg + 1
            else:
                segment.append(x)
            assert set(np.flatnonzero(labels.outer_states[n, t])) == outer
            for k, automaton in enumerate(binfa.inner):
                expected = (
                    ref_state_sets(automaton, segment)[-1]
                    if all(y < binfa.n_symbols for y in segment)
                    else frozenset()
                )
                assert set(np.flatnonzero(labels.inner_states[k][n, t])) == expected


@given(st.integers(0, 2**32 - 1), st.sampled_from([2, 3]), st.booleans())
def test_sampler_members_are_accepted_and_deterministic(seed, levels, deterministic):
    binfa = random_binfa(
        np.random.default_rng(seed),
        3,
        3,
        4,
        3,
        levels=levels,
        deterministic=deterministic,
        segment_counts=range(1, 6),
        segment_lengths=range(1, 6),
    )
    laws = [uniform(1, 5)] * levels
    rows, ragged = sample_rows(binfa, laws, seed + 1, 12)
    again, _ = sample_rows(binfa, laws, seed + 1, 12)
    assert rows == again
    assert all(ref_member(binfa, row) for row in rows)
    for row in rows:
        top = row.count(binfa.separator)
        assert 1 <= top <= 5 and row[-1] == binfa.separator
    # marks: level l is true exactly on separators of level >= l; top units' types are the
    # outer word, and each top unit of a 2-level automaton is accepted by its type
    for level, marks in enumerate(ragged.marks):
        np.testing.assert_array_equal(marks, ragged.tokens >= binfa.n_symbols + level)
    types, starts = ragged.units[-1]
    assert len(types) == (ragged.tokens == binfa.separator).sum()
    if levels == 2:
        ends = np.flatnonzero(ragged.tokens == binfa.separator)
        for k, start, end in zip(types, starts, ends, strict=True):
            assert ref_member(binfa.inner[k], ragged.tokens[start:end].tolist())


@given(st.integers(0, 2**32 - 1))
def test_sampler_conditions_on_feasible_lengths(seed):
    # type 1 accepts only length 1: with lengths 1..3 its segments all have length 1, and
    # type 0 segments take every length
    rows, ragged = sample_rows(EXAMPLE, [uniform(1, 4), uniform(1, 3)], seed, 30)
    assert all(ref_member(EXAMPLE, row) for row in rows)
    types, starts = ragged.units[0]
    ends = np.flatnonzero(ragged.tokens == EXAMPLE.separator)
    content = ends - starts
    first = np.isin(starts, np.cumsum(ragged.lengths) - ragged.lengths)  # (U,) a row's first
    assert (content[types == 1] == 1).all() and (types[first] == 0).all() and first.sum() == 30


def test_sampler_refuses_settings_nothing_meets():
    with pytest.raises(
        ValueError, match="no word over the usable types \\[0, 1\\] with a length in uniform:0:0"
    ):
        MemberSampler.build(EXAMPLE, [uniform(0, 0), uniform(1, 1)])
    with pytest.raises(
        ValueError, match="segment types \\[1\\] accept no word with a length in uniform:2:2"
    ):
        MemberSampler.build(EXAMPLE, [uniform(2, 2), uniform(2, 2)])
    with pytest.raises(ValueError, match="2 length distributions"):
        MemberSampler.build(EXAMPLE, [uniform(2, 2)])
    with pytest.raises(ValueError, match="accepts no word with a length in uniform:3:3"):
        MemberSampler.build(ONE, [uniform(3, 3)])


def test_flatten_refuses_huge_automata():
    with pytest.raises(ValueError, match="more than max_states=5"):
        EXAMPLE.flatten(max_states=5)


@pytest.mark.parametrize(
    "make, message",
    [
        (
            lambda: BiNFA(n_symbols=2, separator=3, outer=EXAMPLE.outer, inner=(ZEROS, ONE)),
            "separator must be n_symbols \\+ levels - 2 = 2",
        ),
        (
            lambda: BiNFA(n_symbols=2, separator=2, outer=EXAMPLE.outer, inner=(ZEROS,)),
            "2 symbols but there are 1 inner",
        ),
        (
            lambda: BiNFA(
                n_symbols=2,
                separator=2,
                outer=EXAMPLE.outer,
                inner=(ZEROS, NFA.from_transitions(1, 2, [0], [0], [])),
            ),
            "inner\\[1\\] accepts the empty segment",
        ),
        (
            lambda: BiNFA(n_symbols=3, separator=3, outer=EXAMPLE.outer, inner=(ZEROS, ONE)),
            "inner\\[0\\] has n_symbols 2, expected 3",
        ),
        (
            lambda: BiNFA(n_symbols=2, separator=2, outer=EXAMPLE.outer, inner=[ZEROS, ONE]),
            "non-empty tuple",
        ),
        (lambda: BiNFA.from_dict({**EXAMPLE.to_dict(), "kind": "nfa"}), "kind 'binfa'"),
        (lambda: BiNFA.from_dict({"kind": "binfa"}), "missing keys"),
        (lambda: EXAMPLE.accepts(np.array([[3]])), "symbol 3 at position 0"),
    ],
)
def test_invalid_binfas_raise(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@given(nfas(max_states=3, n_symbols=2, accepts_empty=False, sparse=True))
def test_three_levels_use_two_separators(sentence):
    paragraph = BiNFA(
        n_symbols=2,
        separator=2,
        inner=(sentence,),
        outer=NFA.from_transitions(1, 1, [0], [], [(0, 0, 0)]),
    )
    story = BiNFA(
        n_symbols=2,
        separator=3,
        inner=(paragraph,),
        outer=NFA.from_transitions(1, 1, [0], [0], [(0, 0, 0)]),
    )
    assert story.levels == 3 and story.separators == (2, 3) and story.vocab_size == 4
