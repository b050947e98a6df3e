"""Random automata: trim, exact out-degree, requested lengths, seeded, clear errors."""

import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bipe.automata import random_binfa, random_dfa, random_nfa


@given(
    st.integers(0, 2**32 - 1),
    st.integers(1, 12),
    st.integers(1, 4),
    st.data(),
    st.sampled_from(["nfa", "dfa", "per_symbol"]),
)
def test_random_automata_are_trim_with_exact_out_degree(seed, n_states, n_symbols, data, mode):
    most = {"nfa": n_symbols * n_states, "dfa": n_symbols, "per_symbol": n_states}[mode]
    out_degree = data.draw(st.integers(1, min(most, 4)))

    def make(rng):
        if mode == "dfa":
            return random_dfa(rng, n_states, n_symbols, out_degree)
        return random_nfa(rng, n_states, n_symbols, out_degree, per_symbol=mode == "per_symbol")

    nfa = make(np.random.default_rng(seed))
    assert nfa.reachable_states().all() and nfa.coreachable_states().all()
    assert nfa.trim() == nfa
    if mode == "per_symbol":
        assert (nfa.delta.sum(axis=2) == out_degree).all()
    else:
        graph = nfa.to_networkx()
        assert all(graph.out_degree(q) == out_degree for q in range(n_states))
    if mode == "dfa":
        assert nfa.is_deterministic
    assert make(np.random.default_rng(seed)) == nfa


@given(st.integers(0, 2**32 - 1), st.sampled_from([random_nfa, random_dfa]))
def test_requested_lengths_are_all_accepted(seed, make):
    nfa = make(np.random.default_rng(seed), 6, 3, 2, lengths=range(1, 9))
    counts = nfa.count_words(8)
    assert all(c > 0 for c in counts[1:])


def test_impossible_lengths_raise_naming_them():
    # one symbol, one edge per state: a k-cycle with one accept state accepts one residue mod k
    for n_states, lengths in [(3, [1, 2]), (2, [4, 7])]:
        with pytest.raises(ValueError, match=r"lengths \[(\d)\] in 20 draws") as info:
            random_dfa(
                np.random.default_rng(0), n_states, 1, 1, n_accept=1, lengths=lengths, max_tries=20
            )
        named = re.search(r"lengths \[(\d)\]", str(info.value))
        assert int(named.group(1)) in lengths


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n_states": 0}, "n_states"),
        ({"n_symbols": 0}, "n_symbols"),
        ({"out_degree": 0}, "out_degree"),
        ({"out_degree": 9}, "out_degree 9 exceeds"),
        ({"n_accept": 5}, "n_accept 5 exceeds"),
        ({"lengths": [-1]}, "non-negative"),
    ],
)
def test_bad_parameters_raise(kwargs, message):
    args = {"n_states": 4, "n_symbols": 2, "out_degree": 2} | kwargs
    with pytest.raises(ValueError, match=message):
        random_dfa(np.random.default_rng(0), **{k: v for k, v in args.items()})


@given(st.integers(0, 2**32 - 1), st.booleans(), st.sampled_from([2, 3]))
def test_random_binfa_realises_every_count_and_length(seed, per_symbol, levels):
    binfa = random_binfa(
        np.random.default_rng(seed),
        2,
        2,
        3,
        3,
        per_symbol=per_symbol,
        segment_lengths=range(1, 4),
        segment_counts=range(1, 4),
        levels=levels,
    )
    assert binfa.levels == levels and binfa.separator == 2 + levels - 2
    assert all(c > 0 for c in binfa.outer.count_words(3)[1:])
    if levels == 2:
        for inner in binfa.inner:
            assert inner.count_words(3)[0] == 0 and all(c > 0 for c in inner.count_words(3)[1:])
            if per_symbol:
                assert (inner.delta.sum(axis=2) == 2).all()
    with pytest.raises(ValueError, match="per_symbol"):
        random_binfa(np.random.default_rng(seed), 2, 2, 3, 3, per_symbol=True, deterministic=True)
