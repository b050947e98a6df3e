"""Bi-NFA: membership against a set-based reference, flattening, labels, dicts, sampling."""

import json

import numpy as np
import pytest
from automata_strategies import (
    binfas,
    edge_map,
    nfas,
    ref_member,
    ref_state_sets,
)
from hypothesis import given
from hypothesis import strategies as st

from bipe.automata import NFA, BiNFA, automaton_from_dict, random_binfa, segment_labels

# A = 2, separator 2: type 0 = 0+, type 1 = exactly "1"; the outer wants 0 then 1*.
ZEROS = NFA.from_transitions(2, 2, [0], [1], [(0, 0, 1), (1, 0, 1)])
ONE = NFA.from_transitions(2, 2, [0], [1], [(0, 1, 1)])
EXAMPLE = BiNFA(n_symbols=2, separator=2, inner=(ZEROS, ONE),
                outer=NFA.from_transitions(2, 2, [0], [1], [(0, 0, 1), (1, 1, 1)]))


class Uniform:
    """A tiny length distribution: integers lo..hi."""

    def __init__(self, lo: int, hi: int) -> None:
        self.lo, self.hi = lo, hi

    def sample(self, rng, n):
        return rng.integers(self.lo, self.hi + 1, n)


@st.composite
def tokens_for(draw, automaton, max_n=5, max_t=10):
    """Random token rows over the automaton's vocabulary, with ragged lengths."""
    n = draw(st.integers(1, max_n))
    t = draw(st.integers(0, max_t))
    flat = draw(st.lists(st.integers(0, automaton.vocab_size - 1), min_size=n * t,
                         max_size=n * t))
    lengths = draw(st.lists(st.integers(0, t), min_size=n, max_size=n))
    return np.array(flat, dtype=np.int64).reshape(n, t), np.array(lengths, dtype=np.int64)


def test_legal_next_mask_on_the_example():
    tokens = np.array([[0, 0, 2, 1, 2]])
    legal = EXAMPLE.legal_next_mask(tokens)
    # after "": only 0; after "0": 0 or sep; after "00": 0 or sep; after "00#": only 1;
    # after "00#1": only sep
    assert legal[0].tolist() == [[True, False, False], [True, False, True], [True, False, True],
                                 [False, True, False], [False, False, True]]
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
    binfa = data.draw(binfas(levels))
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
        out.append(row[:i] + row[i + 1:])  # deleted
        j = int(rng.integers(len(row)))
        moved = row[:i] + row[i + 1:]
        out.append(moved[:j] + [row[i]] + moved[j:])  # moved
        out.append(row[:i] + [row[i]] + row[i:])  # doubled: an empty segment
    k = int(rng.integers(len(row) + 1))
    out.append(row[:k] + [int(rng.choice(separators))] + row[k:])  # inserted
    return out


@given(st.integers(0, 2**32 - 1), st.sampled_from([2, 3]))
def test_flattening_preserves_language_on_members_and_mutants(seed, levels):
    rng = np.random.default_rng(seed)
    binfa = random_binfa(rng, 3, 2, 3, 3, segment_lengths=range(1, 4),
                         segment_counts=range(1, 4), levels=levels)
    dists = [Uniform(1, 3)] * levels
    tokens, lengths = binfa.sampler([3] * levels).sample(rng, 6, dists)
    rows = [list(tokens[n, : lengths[n]]) for n in range(len(tokens))]
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
    binfa = data.draw(binfas(levels))
    text = json.dumps(binfa.to_dict())
    back = automaton_from_dict(json.loads(text))
    assert back == binfa and hash(back) == hash(binfa)
    assert back.separators == tuple(range(binfa.n_symbols, binfa.n_symbols + levels - 1))
    assert back.vocab_size == binfa.n_symbols + levels - 1


@given(st.data())
def test_labels_match_a_per_row_reference(data):
    binfa = data.draw(binfas(2))
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
                expected = ref_state_sets(automaton, segment)[-1] if all(
                    y < binfa.n_symbols for y in segment) else frozenset()
                assert set(np.flatnonzero(labels.inner_states[k][n, t])) == expected


@given(st.integers(0, 2**32 - 1), st.sampled_from([2, 3]), st.booleans())
def test_sampler_members_are_accepted_and_deterministic(seed, levels, deterministic):
    binfa = random_binfa(np.random.default_rng(seed), 3, 3, 4, 3, levels=levels,
                         deterministic=deterministic, segment_counts=range(1, 6),
                         segment_lengths=range(1, 6))
    sampler = binfa.sampler([5] * levels)
    dists = [Uniform(1, 5)] * levels
    tokens, lengths = sampler.sample(np.random.default_rng(seed + 1), 20, dists)
    again, _ = sampler.sample(np.random.default_rng(seed + 1), 20, dists)
    np.testing.assert_array_equal(tokens, again)
    assert ((tokens == -1) == (np.arange(tokens.shape[1]) >= lengths[:, None])).all()
    assert binfa.accepts(np.where(tokens < 0, 0, tokens), lengths).all()
    top = (tokens == binfa.separator).sum(axis=1)
    assert ((top >= 1) & (top <= 5)).all()


def test_sampler_rejects_unrealisable_lengths():
    sampler = EXAMPLE.sampler([4, 4])
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="segment count.*length 0"):
        sampler.sample(rng, 3, [Uniform(0, 0), Uniform(1, 1)])
    with pytest.raises(ValueError, match="inner automaton 1 accepts no word of length 2"):
        sampler.sample(rng, 3, [Uniform(2, 2), Uniform(2, 2)])
    with pytest.raises(ValueError, match="2 length distributions"):
        sampler.sample(rng, 3, [Uniform(2, 2)])


def test_flatten_refuses_huge_automata():
    with pytest.raises(ValueError, match="more than max_states=5"):
        EXAMPLE.flatten(max_states=5)


@pytest.mark.parametrize("make, message", [
    (lambda: BiNFA(n_symbols=2, separator=3, outer=EXAMPLE.outer, inner=(ZEROS, ONE)),
     "separator must be n_symbols \\+ levels - 2 = 2"),
    (lambda: BiNFA(n_symbols=2, separator=2, outer=EXAMPLE.outer, inner=(ZEROS,)),
     "2 symbols but there are 1 inner"),
    (lambda: BiNFA(n_symbols=2, separator=2, outer=EXAMPLE.outer,
                   inner=(ZEROS, NFA.from_transitions(1, 2, [0], [0], []))),
     "inner\\[1\\] accepts the empty segment"),
    (lambda: BiNFA(n_symbols=3, separator=3, outer=EXAMPLE.outer, inner=(ZEROS, ONE)),
     "inner\\[0\\] has n_symbols 2, expected 3"),
    (lambda: BiNFA(n_symbols=2, separator=2, outer=EXAMPLE.outer, inner=[ZEROS, ONE]),
     "non-empty tuple"),
    (lambda: BiNFA.from_dict({**EXAMPLE.to_dict(), "kind": "nfa"}), "kind 'binfa'"),
    (lambda: BiNFA.from_dict({"kind": "binfa"}), "missing keys"),
    (lambda: EXAMPLE.accepts(np.array([[3]])), "symbol 3 at position 0"),
])
def test_invalid_binfas_raise(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@given(nfas(max_states=3, n_symbols=2, no_empty=True))
def test_three_levels_use_two_separators(sentence):
    paragraph = BiNFA(n_symbols=2, separator=2, inner=(sentence,),
                      outer=NFA.from_transitions(1, 1, [0], [], [(0, 0, 0)]))
    story = BiNFA(n_symbols=2, separator=3, inner=(paragraph,),
                  outer=NFA.from_transitions(1, 1, [0], [0], [(0, 0, 0)]))
    assert story.levels == 3 and story.separators == (2, 3) and story.vocab_size == 4
