"""The one member sampler (automata.MemberSampler) on plain NFAs: draws are members, lengths
follow the law conditioned on the lengths the automaton accepts, the same seed repeats."""

import numpy as np
import pytest
from automata_reference import all_words, ref_accepts
from hypothesis import given
from hypothesis import strategies as st

from bipe.automata import NFA, LengthLaw, MemberSampler
from bipe.testing.strategies import nfas


def _feasible(nfa, values):
    """The lengths of ``values`` with an accepted word, by brute-force enumeration."""
    return {
        int(v) for v in values if any(ref_accepts(nfa, w) for w in all_words(nfa.n_symbols, int(v)))
    }


@given(
    nfas(max_states=4, max_symbols=2, sparse=True),
    st.integers(0, 3),
    st.integers(0, 3),
    st.integers(0, 2**32 - 1),
)
def test_nfa_draws_are_members_of_feasible_lengths(nfa, lo, span, seed):
    law = LengthLaw.uniform(lo, lo + span)
    feasible = _feasible(nfa, law.values)
    if not feasible:
        with pytest.raises(ValueError, match="accepts no word with a length in"):
            MemberSampler.build(nfa, [law])
    else:
        sampler = MemberSampler.build(nfa, [law])
        ragged = sampler.sample(np.random.default_rng(seed), 20)
        again = sampler.sample(np.random.default_rng(seed), 20)
        np.testing.assert_array_equal(ragged.tokens, again.tokens)
        assert set(ragged.lengths.tolist()) <= feasible
        words = np.split(ragged.tokens, np.cumsum(ragged.lengths)[:-1])
        assert all(ref_accepts(nfa, w.tolist()) for w in words)
        assert ragged.marks.shape == (0, len(ragged.tokens)) and ragged.units == ()


def test_lengths_follow_the_conditional_law():
    # words of even length only: a law on 1..4 with weights 1, 2, 3, 4 becomes 2 : 4 on {2, 4}
    even = NFA.from_transitions(2, 1, [0], [0], [(0, 0, 1), (1, 0, 0)])
    law = LengthLaw(values=np.arange(1, 5), probs=np.arange(1, 5) / 10, label="linear:1:4")
    lengths = MemberSampler.build(even, [law]).sample(np.random.default_rng(0), 6000).lengths
    assert set(lengths.tolist()) == {2, 4}
    assert abs((lengths == 2).mean() - 1 / 3) < 0.03


def test_law_shape_is_checked():
    with pytest.raises(ValueError, match="one shape"):
        LengthLaw(values=np.arange(3), probs=np.ones(2) / 2, label="bad")
    with pytest.raises(ValueError, match="an NFA needs one length distribution, got 0"):
        MemberSampler.build(NFA.from_transitions(1, 1, [0], [0], []), [])
