"""Batched simulation equals per-word set loops and automata-lib's NFA."""

import numpy as np
import pytest
from automata_reference import as_text, ref_accepts, ref_state_sets, ref_viable, to_automata_lib
from hypothesis import given
from hypothesis import strategies as st

from bipe.automata import NFA, simulate
from bipe.testing.strategies import nfa_and_words


@given(nfa_and_words())
def test_accepts_matches_set_loop_and_automata_lib(case):
    nfa, words, lengths = case
    got = nfa.accepts(words, lengths)
    lib = to_automata_lib(nfa)
    for n in range(len(words)):
        word = words[n, : lengths[n]]
        assert got[n] == ref_accepts(nfa, word)
        assert got[n] == lib.accepts_input(as_text(word))


@given(nfa_and_words())
def test_state_sets_match_set_loop(case):
    nfa, words, lengths = case
    sets = nfa.state_sets(words, lengths)
    assert sets.shape == (*words.shape[:1], words.shape[1] + 1, nfa.n_states)
    for n in range(len(words)):
        ref = ref_state_sets(nfa, words[n, : lengths[n]])
        for t in range(words.shape[1] + 1):
            expected = ref[t] if t <= lengths[n] else frozenset()
            assert set(np.flatnonzero(sets[n, t])) == expected


@given(nfa_and_words(max_n=4, max_t=6))
def test_viable_and_legal_masks_match_reference(case):
    nfa, words, lengths = case
    viable = nfa.viable_prefix_mask(words, lengths)
    legal = nfa.legal_next_mask(words, lengths)
    assert legal.shape == (*words.shape, nfa.n_symbols)
    for n in range(len(words)):
        for t in range(words.shape[1] + 1):
            prefix = list(words[n, :t])
            assert viable[n, t] == (t <= lengths[n] and ref_viable(nfa, prefix))
            if t < words.shape[1]:
                for a in range(nfa.n_symbols):
                    expected = t < lengths[n] and ref_viable(nfa, [*prefix, a])
                    assert legal[n, t, a] == expected


@given(
    nfa_and_words(max_states=140, min_states=60, max_n=4, max_t=12),
    st.sampled_from(["bitset", "dense"]),
)
def test_engines_agree_on_multi_word_bitsets(case, engine):
    nfa, words, lengths = case
    words, lengths, _ = simulate.check_words(words, lengths, nfa.n_symbols)
    got = simulate.run(nfa, words, lengths, record=True, engine=engine)
    for n in range(len(words)):
        ref = ref_state_sets(nfa, words[n, : lengths[n]])
        for t in range(lengths[n] + 1):
            assert set(np.flatnonzero(got[n, t])) == ref[t]


def test_accepts_ignores_padding_values_and_rejects_bad_symbols():
    nfa = NFA.from_transitions(2, 2, [0], [1], [(0, 0, 0), (0, 1, 0), (0, 1, 1)])
    words = np.array([[1, -7, 99], [0, 1, 5]])
    assert nfa.accepts(words, np.array([1, 2])).tolist() == [True, True]
    with pytest.raises(ValueError, match="word 1 has symbol 5 at position 2"):
        nfa.accepts(words, np.array([1, 3]))
    with pytest.raises(ValueError, match="2-D"):
        nfa.accepts(np.array([0, 1]))
    with pytest.raises(ValueError, match="lengths"):
        nfa.accepts(words, np.array([1, 4]))


def test_empty_batch_and_empty_words():
    nfa = NFA.from_transitions(1, 1, [0], [0], [])
    assert nfa.accepts(np.zeros((3, 0), dtype=int)).tolist() == [True] * 3
    assert nfa.accepts(np.zeros((0, 4), dtype=int)).shape == (0,)
