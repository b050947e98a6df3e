"""NFA values: validation, round trips, equality, structure (trim, determinize)."""

import json

import numpy as np
import pytest
from automata_reference import all_words, ref_accepts, ref_live
from hypothesis import given, settings
from hypothesis import strategies as st

from bipe.automata import NFA
from bipe.testing.strategies import nfas, scaled_examples

ENDS_IN_ONE = NFA.from_transitions(2, 2, [0], [1], [(0, 0, 0), (0, 1, 0), (0, 1, 1)])


@given(nfas(max_states=6, sparse=True))
def test_dict_round_trip_through_json(nfa):
    data = json.loads(json.dumps(nfa.to_dict()))
    back = NFA.from_dict(data)
    assert back == nfa
    assert hash(back) == hash(nfa)


@given(nfas(max_states=6, sparse=True), nfas(max_states=6, sparse=True))
def test_equality_is_structural(a, b):
    same = (
        a.n_states == b.n_states
        and a.n_symbols == b.n_symbols
        and a.start == b.start
        and a.accept == b.accept
        and a.to_dict()["transitions"] == b.to_dict()["transitions"]
    )
    assert (a == b) == same


def test_from_dict_without_n_symbols_infers_it():
    data = {"n_states": 2, "start": [0], "accept": [1], "transitions": [[0, 2, 1]]}
    assert NFA.from_dict(data).n_symbols == 3


def test_delta_is_read_only_and_copied():
    delta = np.zeros((1, 2, 2), dtype=bool)
    nfa = NFA(n_states=2, n_symbols=1, start=frozenset({0}), accept=frozenset(), delta=delta)
    delta[0, 0, 1] = True
    assert not nfa.delta.any()
    with pytest.raises(ValueError):
        nfa.delta[0, 0, 0] = True


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: NFA.from_transitions(2, 1, [], [1], []), "start set is empty"),
        (lambda: NFA.from_transitions(2, 1, [2], [1], []), "start state 2 out of range"),
        (lambda: NFA.from_transitions(2, 1, [0], [-1], []), "accept state -1 out of range"),
        (lambda: NFA.from_transitions(2, 1, [0], [1], [(0, 0, 5)]), "state out of range"),
        (lambda: NFA.from_transitions(2, 1, [0], [1], [(0, 1, 1)]), "symbol 1 out of range"),
        (lambda: NFA.from_transitions(2, 1, [0], [1], [(0, 1)]), "int triple"),
        (lambda: NFA.from_transitions(0, 1, [0], [], []), "n_states must be a positive int"),
        (lambda: NFA.from_transitions(1, 0, [0], [], []), "n_symbols must be a positive int"),
        (
            lambda: NFA(
                n_states=2,
                n_symbols=1,
                start=frozenset({0}),
                accept=frozenset(),
                delta=np.zeros((1, 2, 3), bool),
            ),
            "shape",
        ),
        (
            lambda: NFA(
                n_states=2,
                n_symbols=1,
                start=frozenset({0}),
                accept=frozenset(),
                delta=np.zeros((1, 2, 2), int),
            ),
            "bool array",
        ),
        (
            lambda: NFA(
                n_states=2,
                n_symbols=1,
                start={0},
                accept=frozenset(),
                delta=np.zeros((1, 2, 2), bool),
            ),
            "frozenset",
        ),
        (lambda: NFA.from_dict({"n_states": 1, "start": [0], "accept": []}), "missing keys"),
        (
            lambda: NFA.from_dict(
                {"n_states": 1, "start": [0], "accept": [], "transitions": [], "colour": 1}
            ),
            "unknown keys",
        ),
        (
            lambda: NFA.from_dict(
                {"kind": "binfa", "n_states": 1, "start": [0], "accept": [], "transitions": []}
            ),
            "kind",
        ),
    ],
)
def test_invalid_automata_raise_naming_the_problem(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_networkx_graph_has_states_and_labelled_edges():
    graph = ENDS_IN_ONE.to_networkx()
    assert sorted(graph.nodes) == [0, 1]
    assert graph.nodes[0]["start"] and graph.nodes[1]["accept"]
    assert sorted((q, r, d["symbol"]) for q, r, d in graph.edges(data=True)) == [
        (0, 0, 0),
        (0, 0, 1),
        (0, 1, 1),
    ]


@given(nfas(max_states=5, max_symbols=2, sparse=True))
def test_determinize_gives_an_equivalent_dfa(nfa):
    dfa = nfa.determinize()
    assert dfa.is_deterministic
    for length in range(5):
        for word in all_words(nfa.n_symbols, length):
            assert ref_accepts(dfa, word) == ref_accepts(nfa, word)


@given(nfas(max_states=5, max_symbols=2, sparse=True))
def test_trim_keeps_the_language_and_only_useful_states(nfa):
    trimmed = nfa.trim()
    for length in range(5):
        for word in all_words(nfa.n_symbols, length):
            assert ref_accepts(trimmed, word) == ref_accepts(nfa, word)
    if trimmed.accept:
        assert trimmed.reachable_states().all()
        assert ref_live(trimmed) == set(range(trimmed.n_states))
    else:
        assert trimmed.n_states == 1 and not trimmed.delta.any()


@given(nfas(max_states=6, sparse=True))
def test_coreachable_states_match_reference(nfa):
    assert set(np.flatnonzero(nfa.coreachable_states())) == ref_live(nfa)


@given(st.integers(2, 5))
def test_is_deterministic_detects_two_successors_or_two_starts(n):
    cycle = [(q, 0, (q + 1) % n) for q in range(n)]
    assert NFA.from_transitions(n, 1, [0], [0], cycle).is_deterministic
    assert not NFA.from_transitions(n, 1, [0], [0], [*cycle, (0, 0, 0)]).is_deterministic
    assert not NFA.from_transitions(n, 1, [0, 1], [0], cycle).is_deterministic


def test_determinize_refuses_to_blow_up():
    # the classic "n-th symbol from the end is 1" NFA needs 2^n subsets
    n = 6
    edges = [(0, 0, 0), (0, 1, 0), (0, 1, 1)] + [
        (q, a, q + 1) for q in range(1, n) for a in range(2)
    ]
    nfa = NFA.from_transitions(n + 1, 2, [0], [n], edges)
    assert nfa.determinize().n_states == 2**n
    with pytest.raises(ValueError, match="exceeded max_states=10"):
        nfa.determinize(max_states=10)


@st.composite
def large_nfas(draw, min_states: int = 60, max_states: int = 200) -> NFA:
    """A random NFA of many states: edges drawn by numpy from a drawn seed (fast to build)."""
    q, a = draw(st.integers(min_states, max_states)), draw(st.integers(1, 4))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    density = draw(st.sampled_from([1.0, 2.0, 4.0])) / q  # about 1, 2 or 4 successors
    delta = rng.random((a, q, q)) < density  # (A, Q, Q)
    accept = np.flatnonzero(rng.random(q) < 0.2)
    return NFA(
        n_states=q,
        n_symbols=a,
        start=frozenset({0}),
        accept=frozenset(accept.tolist()),
        delta=delta,
    )


@settings(max_examples=scaled_examples(20), deadline=None)
@given(large_nfas(), st.integers(10, 22), st.integers(0, 2**32 - 1))
def test_determinize_large_refuses_past_the_limit_or_agrees(nfa, log_bytes, seed):
    """Large automata: the subset construction either stays under the memory limit (and keeps
    the language) or refuses with the estimate; it never tries the allocation."""
    limit = 1 << log_bytes
    try:
        dfa = nfa.determinize(max_bytes=limit)
    except ValueError as err:
        assert "over the limit of" in str(err) and "dense transition array" in str(err)
        states = int(str(err).split("-state")[0].split()[-1])
        assert nfa.n_symbols * states * states > limit  # refused only when really over
        assert nfa.n_symbols * (states - 1) ** 2 <= limit  # and at the first subset over
    else:
        assert dfa.is_deterministic and dfa.delta.nbytes <= limit
        words = np.random.default_rng(seed).integers(0, nfa.n_symbols, (64, 12))
        assert np.array_equal(dfa.accepts(words), nfa.accepts(words))
        for w in words[:4]:
            assert bool(dfa.accepts(w[None])[0]) == ref_accepts(nfa, w.tolist())


def test_dense_limit_refuses_before_allocating(monkeypatch):
    from bipe.automata import nfa as nfa_module

    with pytest.raises(ValueError, match=r"24\.3 GiB, over the limit of 2\.0 GiB"):
        NFA.from_transitions(46_663, 12, [0], [], [])  # the blow-up, sized up front
    monkeypatch.setattr(nfa_module, "MAX_DENSE_BYTES", 100)
    with pytest.raises(ValueError, match="over the limit of 100 B"):
        NFA.from_transitions(6, 3, [0], [], [])
    assert NFA.from_transitions(6, 3, [0], [], [], max_bytes=108).n_states == 6  # overridable
