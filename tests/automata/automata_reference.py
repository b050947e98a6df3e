"""Slow reference code for the automata tests (test-only): deliberately naive per-word set
loops, and automata-lib as an outside oracle. The strategies are bipe.testing.strategies'."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import bipe
from bipe.automata import NFA


def ref_member(automaton, word) -> bool:
    """Set-based recursive membership: split on the separator, type each segment, run the
    outer NFA on sets of types."""
    word = [int(x) for x in word]
    if isinstance(automaton, NFA):
        return all(x < automaton.n_symbols for x in word) and ref_accepts(automaton, word)
    sep, outer = automaton.separator, automaton.outer
    if any(x > sep for x in word) or (word and word[-1] != sep):
        return False
    segments, current = [], []
    for x in word:
        if x == sep:
            segments.append(current)
            current = []
        else:
            current.append(x)
    edges = edge_map(outer)
    states = set(outer.start)
    for segment in segments:
        types = [k for k, x in enumerate(automaton.inner) if ref_member(x, segment)]
        states = {r for q in states for k in types for r in edges.get((q, k), ())}
    return bool(states & outer.accept)


# ------------------------------------------------------------------ slow references
def edge_map(nfa: NFA) -> dict[tuple[int, int], set[int]]:
    """{(q, a): successors} read from the transition list, not the array."""
    out: dict[tuple[int, int], set[int]] = {}
    for q, a, r in nfa.to_dict()["transitions"]:
        out.setdefault((q, a), set()).add(r)
    return out


def ref_state_sets(nfa: NFA, word) -> list[frozenset[int]]:
    """State set after each prefix of one word (len(word) + 1 sets)."""
    edges = edge_map(nfa)
    sets = [frozenset(nfa.start)]
    for x in word:
        sets.append(frozenset(r for q in sets[-1] for r in edges.get((q, int(x)), ())))
    return sets


def ref_accepts(nfa: NFA, word) -> bool:
    return bool(ref_state_sets(nfa, word)[-1] & nfa.accept)


def ref_live(nfa: NFA) -> set[int]:
    """States from which an accept state is reachable (forward search from each state)."""
    edges = edge_map(nfa)
    live = set()
    for q in range(nfa.n_states):
        seen, todo = {q}, [q]
        while todo:
            s = todo.pop()
            for a in range(nfa.n_symbols):
                for r in edges.get((s, a), ()):
                    if r not in seen:
                        seen.add(r)
                        todo.append(r)
        if seen & nfa.accept:
            live.add(q)
    return live


def ref_viable(nfa: NFA, prefix) -> bool:
    return bool(ref_state_sets(nfa, prefix)[-1] & ref_live(nfa))


def all_words(n_symbols: int, length: int):
    """Every word of that length, in lexicographic order."""
    return itertools.product(range(n_symbols), repeat=length)


def to_automata_lib(nfa: NFA):
    """The same automaton as an automata-lib NFA over the characters 'a', 'b', ...

    automata-lib has one initial state, so a fresh state 'init' has lambda ('') moves to every
    start state.
    """
    LibNFA = automata_lib_nfa_class()
    symbols = [chr(ord("a") + i) for i in range(nfa.n_symbols)]
    transitions: dict = {q: {} for q in range(nfa.n_states)}
    for (q, a), targets in edge_map(nfa).items():
        transitions[q][symbols[a]] = set(targets)
    transitions["init"] = {"": set(nfa.start)}
    return LibNFA(
        states=set(range(nfa.n_states)) | {"init"},
        input_symbols=set(symbols),
        transitions=transitions,
        initial_state="init",
        final_states=set(nfa.accept),
    )


def as_text(word) -> str:
    return "".join(chr(ord("a") + int(x)) for x in word)


def automata_lib_nfa_class():
    """automata-lib's ``automata.fa.nfa.NFA``.

    Run from the repository root (``python -m pytest``), the folder ``automata/`` (which is
    ``bipe.automata``) would shadow automata-lib's top-level package ``automata``, so the import
    runs with the repository root taken off ``sys.path``.
    """
    root = Path(bipe.__file__).resolve().parent
    shadow = sys.modules.get("automata")
    if shadow is not None and Path(shadow.__file__).resolve().parent.parent == root:
        del sys.modules["automata"]
    saved = sys.path[:]
    sys.path[:] = [p for p in saved if Path(p or ".").resolve() != root]
    try:
        from automata.fa.nfa import NFA as LibNFA
    finally:
        sys.path[:] = saved
    return LibNFA
