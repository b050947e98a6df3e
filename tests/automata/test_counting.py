"""Counting equals brute-force enumeration; sampling is uniform among accepted words."""

import itertools

import numpy as np
import pytest
from automata_reference import all_words, ref_accepts
from hypothesis import assume, given
from hypothesis import strategies as st

from bipe.automata import NFA
from bipe.testing.strategies import nfas


@given(nfas(max_states=5, max_symbols=3, sparse=True))
def test_counts_equal_brute_force(nfa):
    max_length = 4 if nfa.n_symbols == 3 else 6
    expected = [
        sum(ref_accepts(nfa, w) for w in all_words(nfa.n_symbols, length))
        for length in range(max_length + 1)
    ]
    assert nfa.count_words(max_length) == expected


@given(nfas(max_states=5, max_symbols=2, sparse=True), st.integers(0, 5))
def test_sampling_probability_is_one_over_count(nfa, length):
    sampler = nfa.sampler(length)
    count = sampler.count(length)
    probs = {w: sampler.probability(np.array(w)) for w in all_words(nfa.n_symbols, length)}
    for word, p in probs.items():
        if ref_accepts(nfa, word):
            assert p == pytest.approx(1 / count, rel=1e-12)
        else:
            assert p == 0.0
    if count:
        assert sum(probs.values()) == pytest.approx(1.0, rel=1e-12)


@given(
    nfas(max_states=6, max_symbols=3, sparse=True),
    st.integers(0, 2**32 - 1),
    st.lists(st.integers(0, 7), min_size=1, max_size=12),
)
def test_samples_are_accepted_deterministic_and_padded(nfa, seed, lengths):
    sampler = nfa.sampler(7)
    lengths = np.array([n for n in lengths if sampler.count(n) > 0], dtype=np.int64)
    assume(len(lengths) > 0)
    words, got_lengths = sampler.sample_lengths(np.random.default_rng(seed), lengths)
    again, _ = sampler.sample_lengths(np.random.default_rng(seed), lengths)
    np.testing.assert_array_equal(words, again)
    np.testing.assert_array_equal(got_lengths, lengths)
    assert nfa.accepts(np.where(words < 0, 0, words), lengths).all()
    assert ((words == -1) == (np.arange(words.shape[1]) >= lengths[:, None])).all()


def test_missing_length_raises_naming_it():
    even = NFA.from_transitions(2, 1, [0], [0], [(0, 0, 1), (1, 0, 0)])
    assert even.count_words(4) == [1, 0, 1, 0, 1]
    with pytest.raises(ValueError, match="length 3"):
        even.sample_words(np.random.default_rng(0), 2, 3)
    with pytest.raises(ValueError, match="exceeds"):
        even.sampler(2).sample(np.random.default_rng(0), 1, 4)


def test_huge_counts_are_exact():
    everything = NFA.from_transitions(1, 3, [0], [0], [(0, a, 0) for a in range(3)])
    assert everything.count_words(120)[-1] == 3**120
    words = everything.sample_words(np.random.default_rng(1), 4, 300)
    assert words.shape == (4, 300) and words.dtype == np.int64


@pytest.mark.slow
def test_sampling_frequencies_pass_chi_square():
    # words over {0, 1, 2} of length 4 with an even number of 2s: an NFA whose paths are not
    # words-uniform (two ways to read symbol 0), so path sampling would fail this test.
    nfa = NFA.from_transitions(
        3,
        3,
        [0],
        [0, 2],
        [
            (0, 0, 0),
            (0, 0, 2),
            (2, 0, 0),
            (2, 0, 2),
            (0, 1, 0),
            (2, 1, 2),
            (0, 2, 1),
            (2, 2, 1),
            (1, 0, 1),
            (1, 1, 1),
            (1, 2, 0),
        ],
    )
    accepted = [w for w in itertools.product(range(3), repeat=4) if ref_accepts(nfa, w)]
    assert len(accepted) == nfa.count_words(4)[4]
    n = 40_000
    words = nfa.sample_words(np.random.default_rng(2024), n, 4)
    index = {w: i for i, w in enumerate(accepted)}
    observed = np.bincount([index[tuple(w)] for w in words.tolist()], minlength=len(accepted))
    expected = n / len(accepted)
    chi2 = ((observed - expected) ** 2 / expected).sum()
    df = len(accepted) - 1
    assert chi2 < df + 6 * np.sqrt(2 * df)  # about p = 1e-6 under uniformity
