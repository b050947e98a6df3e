"""Seeded random NFAs and DFAs: trimmed, with a given out-degree, accepting requested lengths.

Construction (one draw): a random cyclic order of the states gives a Hamiltonian cycle whose
edges carry random symbols, so the transition graph is strongly connected; every state then gets
``out_degree - 1`` further distinct random edges (for a DFA: on distinct other symbols). The start
state is random and ``n_accept`` distinct random states accept. Strong connectivity with at least
one accept state makes every state reachable and co-reachable, i.e. the automaton is trim.

``out_degree`` is the number of outgoing edges of every state in the transition graph (as in
:meth:`NFA.to_networkx`), counted over all symbols: an NFA state has ``out_degree`` distinct
``(symbol, target)`` pairs, a DFA state has transitions on ``out_degree`` distinct symbols
(``out_degree == n_symbols`` gives a complete DFA). ``random_nfa(..., per_symbol=True)`` reads
``out_degree`` per (state, symbol) pair instead: every pair has that many distinct targets.

With ``lengths``, draws are repeated (at most ``max_tries`` times) until the automaton accepts at
least one word of every requested length (checked by boolean reachability, no enumeration);
otherwise ``ValueError`` names the lengths that no draw could reach.

Worked example::

    >>> rng = np.random.default_rng(0)
    >>> nfa = random_nfa(rng, 20, 8, 2, lengths=range(1, 9))
    >>> all(c > 0 for c in nfa.count_words(8)[1:])
    True
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from bipe.automata.binfa import BiNFA
from bipe.automata.nfa import NFA


def _check_positive(name: str, value: int, low: int = 1) -> None:
    if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")


def _edges(
    rng: np.random.Generator, n_states: int, n_symbols: int, out_degree: int, mode: str
) -> list[tuple[int, int, int]]:
    """Cycle edges plus random extra edges; ``mode`` is "dfa", "nfa" or "per_symbol"."""
    order = rng.permutation(n_states)
    edges = []
    for i in range(n_states):
        q, nxt = int(order[i]), int(order[(i + 1) % n_states])
        a = int(rng.integers(n_symbols))
        edges.append((q, a, nxt))
        if mode == "dfa":
            others = np.delete(np.arange(n_symbols), a)
            symbols = rng.choice(others, size=out_degree - 1, replace=False)
            targets = rng.integers(n_states, size=out_degree - 1)
            edges += [(q, int(s), int(r)) for s, r in zip(symbols, targets, strict=True)]
        elif mode == "per_symbol":
            for b in range(n_symbols):
                size = out_degree - (b == a)
                targets = rng.choice(n_states - (b == a), size=size, replace=False)
                targets = targets + ((targets >= nxt) & (b == a))  # skip the cycle target
                edges += [(q, b, int(r)) for r in targets]
        else:
            taken = a * n_states + nxt
            picks = rng.choice(n_symbols * n_states - 1, size=out_degree - 1, replace=False)
            picks = picks + (picks >= taken)  # skip the cycle edge's (symbol, target) index
            edges += [(q, int(p) // n_states, int(p) % n_states) for p in picks]
    return edges


def missing_lengths(nfa: NFA, lengths: Iterable[int]) -> list[int]:
    """The requested lengths of which ``nfa`` accepts no word (boolean reachability)."""
    lengths = sorted(set(int(n) for n in lengths))
    adjacency = nfa.delta.any(axis=0).astype(np.float32)  # (Q, Q)
    accept = np.zeros(nfa.n_states, dtype=bool)
    accept[list(nfa.accept)] = True
    reach = np.zeros(nfa.n_states, dtype=bool)
    reach[list(nfa.start)] = True
    missing, wanted = [], set(lengths)
    for length in range(max(lengths, default=-1) + 1):
        if length in wanted and not (reach & accept).any():
            missing.append(length)
        reach = (reach.astype(np.float32) @ adjacency) > 0
    return missing


def _random(
    rng: np.random.Generator,
    n_states: int,
    n_symbols: int,
    out_degree: int,
    lengths: Iterable[int] | None,
    n_accept: int | None,
    max_tries: int,
    mode: str,
    accept_empty: bool,
) -> NFA:
    kind = "DFA" if mode == "dfa" else "NFA"
    _check_positive("n_states", n_states)
    _check_positive("n_symbols", n_symbols)
    _check_positive("max_tries", max_tries)
    most = {"dfa": n_symbols, "nfa": n_symbols * n_states, "per_symbol": n_states}[mode]
    _check_positive("out_degree", out_degree)
    if out_degree > most:
        raise ValueError(
            f"out_degree {out_degree} exceeds the {most} possible edges per "
            f"{'(state, symbol)' if mode == 'per_symbol' else 'state'} of a random "
            f"{kind} with {n_states} states and {n_symbols} symbols"
        )
    n_accept = (n_states + 1) // 2 if n_accept is None else n_accept
    _check_positive("n_accept", n_accept)
    allowed = n_states if accept_empty else n_states - 1  # the start state never accepts
    if n_accept > allowed:
        raise ValueError(
            f"n_accept {n_accept} exceeds the {allowed} states that may accept "
            f"(n_states={n_states}, accept_empty={accept_empty})"
        )
    wanted = [] if lengths is None else [int(n) for n in lengths]
    if any(n < 0 for n in wanted) or (not accept_empty and 0 in wanted):
        raise ValueError(
            f"lengths must be non-negative (positive when accept_empty is False), got {wanted}"
        )
    always_missing: set[int] | None = None
    best: list[int] = []
    for _ in range(max_tries):
        edges = _edges(rng, n_states, n_symbols, out_degree, mode)
        start = int(rng.integers(n_states))
        candidates = np.arange(n_states) if accept_empty else np.delete(np.arange(n_states), start)
        accept = rng.choice(candidates, size=n_accept, replace=False).tolist()
        nfa = NFA.from_transitions(n_states, n_symbols, [start], accept, edges)
        missing = missing_lengths(nfa, wanted)
        if not missing:
            return nfa
        always_missing = set(missing) if always_missing is None else always_missing & set(missing)
        best = missing if not best or len(missing) < len(best) else best
    named = sorted(always_missing) if always_missing else best
    raise ValueError(
        f"no random {kind} with n_states={n_states}, n_symbols={n_symbols}, "
        f"out_degree={out_degree}, n_accept={n_accept} accepted words of lengths "
        f"{named} in {max_tries} draws"
    )


def random_nfa(
    rng: np.random.Generator,
    n_states: int,
    n_symbols: int,
    out_degree: int,
    *,
    lengths: Iterable[int] | None = None,
    n_accept: int | None = None,
    accept_empty: bool = True,
    per_symbol: bool = False,
    max_tries: int = 200,
) -> NFA:
    """A random trim NFA; every state has ``out_degree`` distinct (symbol, target) edges.

    With ``per_symbol`` every (state, symbol) pair instead has ``out_degree`` distinct targets
    (a complete NFA with large state sets, whose language is usually almost everything).
    ``n_accept`` defaults to half the states (rounded up); ``accept_empty=False`` keeps the
    start state out of the accept set (no empty word). See the module docstring.
    """
    mode = "per_symbol" if per_symbol else "nfa"
    return _random(
        rng, n_states, n_symbols, out_degree, lengths, n_accept, max_tries, mode, accept_empty
    )


def random_dfa(
    rng: np.random.Generator,
    n_states: int,
    n_symbols: int,
    out_degree: int,
    *,
    lengths: Iterable[int] | None = None,
    n_accept: int | None = None,
    accept_empty: bool = True,
    max_tries: int = 200,
) -> NFA:
    """A random trim (partial) DFA; every state has moves on ``out_degree`` distinct symbols.

    ``n_accept`` defaults to half the states (rounded up); ``accept_empty=False`` keeps the
    start state out of the accept set (no empty word). See the module docstring.
    """
    return _random(
        rng, n_states, n_symbols, out_degree, lengths, n_accept, max_tries, "dfa", accept_empty
    )


def random_binfa(
    rng: np.random.Generator,
    n_symbols: int,
    n_types: int,
    inner_states: int | Sequence[int],
    outer_states: int,
    *,
    out_degree: int = 2,
    outer_out_degree: int | None = None,
    segment_lengths: Iterable[int] = range(1, 9),
    segment_counts: Iterable[int] = range(1, 9),
    deterministic: bool = False,
    levels: int = 2,
    accept_empty: bool = True,
    per_symbol: bool = False,
    max_tries: int = 200,
) -> BiNFA:
    """A random Bi-NFA (``levels=2``) or nested multi-level automaton (``levels >= 3``).

    Each of the ``n_types`` inner automata is a random trim automaton (:func:`random_nfa`, or
    :func:`random_dfa` with ``deterministic``) over ``n_symbols`` symbols with
    ``inner_states`` states (one int, or one per type) and ``out_degree``, accepting no empty
    word and some word of every length in ``segment_lengths``. The outer automaton over the type
    ids has ``outer_states`` states and ``outer_out_degree`` (default ``out_degree``, capped at
    the possible edges) and accepts some type sequence of every length in ``segment_counts``.
    So any segment count from ``segment_counts`` combined with any lengths from
    ``segment_lengths`` is realisable. With ``levels >= 3`` every type is itself such a random
    automaton of ``levels - 1`` levels built with the same parameters (its segment counts
    without 0), i.e. sentences of random types in paragraphs of random types. The top outer
    automaton may accept the empty type sequence unless ``accept_empty`` is False; nested ones
    never do (segments are non-empty). ``per_symbol`` reads both out-degrees per (state,
    symbol) as in :func:`random_nfa` (not with ``deterministic``).
    Raises ``ValueError`` naming impossible lengths, as :func:`random_nfa` does.
    """
    _check_positive("levels", levels, low=2)
    _check_positive("n_types", n_types)
    sizes = (
        [inner_states] * n_types
        if isinstance(inner_states, int | np.integer)
        else list(inner_states)
    )
    if len(sizes) != n_types:
        raise ValueError(f"inner_states has {len(sizes)} entries, expected n_types={n_types}")
    if deterministic and per_symbol:
        raise ValueError(
            "per_symbol out-degrees need nondeterministic automata (deterministic=False)"
        )

    def make(rng: np.random.Generator, *args: Any, **kwargs: Any) -> NFA:
        if deterministic:
            return random_dfa(rng, *args, **kwargs)
        return random_nfa(rng, *args, per_symbol=per_symbol, **kwargs)

    segment_lengths, segment_counts = list(segment_lengths), list(segment_counts)
    if levels == 2:
        inner = tuple(
            make(
                rng,
                size,
                n_symbols,
                out_degree,
                lengths=segment_lengths,
                accept_empty=False,
                max_tries=max_tries,
            )
            for size in sizes
        )
    else:
        inner = tuple(
            random_binfa(  # type: ignore[misc]
                rng,
                n_symbols,
                n_types,
                size,
                outer_states,
                out_degree=out_degree,
                outer_out_degree=outer_out_degree,
                segment_lengths=segment_lengths,
                segment_counts=[c for c in segment_counts if c > 0],
                deterministic=deterministic,
                levels=levels - 1,
                accept_empty=False,
                per_symbol=per_symbol,
                max_tries=max_tries,
            )
            for size in sizes
        )
    degree = out_degree if outer_out_degree is None else outer_out_degree
    degree = min(
        degree, n_types if deterministic else outer_states if per_symbol else n_types * outer_states
    )
    outer = make(
        rng,
        outer_states,
        n_types,
        degree,
        lengths=segment_counts,
        accept_empty=accept_empty,
        max_tries=max_tries,
    )
    return BiNFA(n_symbols=n_symbols, separator=n_symbols + levels - 2, outer=outer, inner=inner)
