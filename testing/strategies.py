"""Hypothesis strategies for segmenter and automaton tests (see :mod:`bipe.testing`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from hypothesis import settings
from hypothesis import strategies as st

BASE_EXAMPLES = 50  # examples per test of the default (dev) profile


def scaled_examples(n: int) -> int:
    """``n`` examples under the default profile, scaled by the loaded Hypothesis profile's
    ``max_examples`` (``thorough`` runs 20x as many, ``ci`` 0.6x; at least 1): a test that
    needs fewer examples than the default states how many, and still follows the profile."""
    return max(1, round(n * settings.default.max_examples / BASE_EXAMPLES))


def _symbols(separators: Sequence[int], n_symbols: int) -> list[int]:
    """The ``n_symbols`` smallest ids that are not separators."""
    seps = set(separators)
    out, i = [], 0
    while len(out) < n_symbols:
        if i not in seps:
            out.append(i)
        i += 1
    return out


@st.composite
def token_streams(
    draw: st.DrawFn,
    separators: Sequence[int],
    *,
    n_symbols: int = 4,
    max_rows: int = 5,
    max_length: int = 24,
    padded: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """``(tokens (N, T) int64, lengths (N,) int64)``: rows mixing ``separators`` and other ids.

    Non-separator ids are the ``n_symbols`` smallest ids that are not separators. Rows have
    different lengths (padding past ``lengths`` holds arbitrary ids, separators included) unless
    ``padded=False``, which gives ``N`` rows of one common length with ``lengths == T``.
    """
    seps = [int(s) for s in separators]
    alphabet = _symbols(seps, n_symbols) + seps
    token = st.sampled_from(alphabet)
    n = draw(st.integers(1, max_rows))
    if padded:
        rows = draw(st.lists(st.lists(token, max_size=max_length), min_size=n, max_size=n))
        width = max(len(r) for r in rows)
        fill = draw(st.lists(token, min_size=n * width, max_size=n * width))
        tokens = np.array(fill, dtype=np.int64).reshape(n, width)
        for i, row in enumerate(rows):
            tokens[i, : len(row)] = row
        return tokens, np.array([len(r) for r in rows], dtype=np.int64)
    width = draw(st.integers(0, max_length))
    flat = draw(st.lists(token, min_size=n * width, max_size=n * width))
    return np.array(flat, dtype=np.int64).reshape(n, width), np.full(n, width, dtype=np.int64)


@st.composite
def nfas(
    draw: st.DrawFn,
    *,
    max_states: int = 4,
    n_symbols: int | None = None,
    max_symbols: int = 3,
    nonempty: bool = False,
    min_word_length: int = 0,
    accepts_empty: bool | None = None,
    min_states: int = 1,
    sparse: bool = False,
    max_edges: int | None = None,
) -> Any:
    """Random :class:`bipe.automata.NFA` values, built directly from drawn transition tables.

    ``sparse=True`` draws a list of at most ``max_edges`` (default ``3 * Q * A``) transitions
    instead of a dense table, with ``min_states..max_states`` states; languages may then be
    empty (the automata tests want those cases), so it does not combine with ``nonempty``.

    With ``nonempty=True`` a drawn witness path (a start state, symbols, an accept state at its
    end; ``min_word_length..max_states`` symbols long) is added to the transitions, so the
    language contains a word of that length. ``accepts_empty=False`` keeps start and accept
    states disjoint (the empty word is rejected, as Bi-NFA segment types require; then at least
    2 states, and the witness path has at least one symbol).
    """
    from bipe.automata import NFA

    if sparse:
        if nonempty:
            raise ValueError("sparse NFAs have no witness path: drop nonempty")
        return draw(
            _sparse_nfas(max_states, min_states, n_symbols, max_symbols, max_edges, accepts_empty)
        )
    no_empty = accepts_empty is False
    q = draw(st.integers(2 if no_empty else 1, max(max_states, 2 if no_empty else 1)))
    a = n_symbols if n_symbols is not None else draw(st.integers(1, max_symbols))
    bits = draw(st.lists(st.booleans(), min_size=a * q * q, max_size=a * q * q))
    delta = np.array(bits, dtype=bool).reshape(a, q, q)  # (A, Q, Q)
    last = q - 2 if no_empty else q - 1  # with no_empty, state q-1 is never a start state
    start = set(draw(st.sets(st.integers(0, last), min_size=1)))
    accept = set(draw(st.sets(st.integers(0, q - 1))))
    if nonempty:
        shortest = max(min_word_length, 1 if no_empty else 0)
        path = draw(
            st.lists(st.integers(0, q - 1), min_size=shortest + 1, max_size=max(q, shortest) + 1)
        )
        path[0] = draw(st.sampled_from(sorted(start)))
        if no_empty:
            path[-1] = q - 1
        symbols = draw(
            st.lists(st.integers(0, a - 1), min_size=len(path) - 1, max_size=len(path) - 1)
        )
        accept.add(path[-1])
        for q0, sym, q1 in zip(path[:-1], symbols, path[1:], strict=True):
            delta[sym, q0, q1] = True
    if no_empty:
        accept -= start
    elif accepts_empty:
        accept |= start
    return NFA(
        n_states=q, n_symbols=a, start=frozenset(start), accept=frozenset(accept), delta=delta
    )


@st.composite
def _sparse_nfas(
    draw: st.DrawFn,
    max_states: int,
    min_states: int,
    n_symbols: int | None,
    max_symbols: int,
    max_edges: int | None,
    accepts_empty: bool | None,
) -> Any:
    """:func:`nfas` with ``sparse=True``: drawn transitions, a non-empty start set."""
    from bipe.automata import NFA

    q = draw(st.integers(min_states, max_states))
    a = n_symbols if n_symbols is not None else draw(st.integers(1, max_symbols))
    state = st.integers(0, q - 1)
    edges = draw(
        st.lists(
            st.tuples(state, st.integers(0, a - 1), state),
            max_size=max_edges if max_edges is not None else 3 * q * a,
        )
    )
    start = {draw(state)} | set(draw(st.lists(state, max_size=2)))
    accept = set(draw(st.lists(state, max_size=q)))
    if accepts_empty is False:
        accept -= start
    elif accepts_empty:
        accept |= start
    return NFA.from_transitions(q, a, start, accept, edges)


@st.composite
def nfa_and_words(
    draw: st.DrawFn,
    max_states: int = 6,
    max_symbols: int = 3,
    max_n: int = 6,
    max_t: int = 8,
    min_states: int = 1,
) -> Any:
    """``(nfa, words (N, T) int64, lengths (N,) int64)``: a sparse :func:`nfas` and words over
    its alphabet with lengths in ``0..T``."""
    nfa = draw(
        nfas(max_states=max_states, max_symbols=max_symbols, min_states=min_states, sparse=True)
    )
    n = draw(st.integers(1, max_n))
    t = draw(st.integers(0, max_t))
    flat = draw(st.lists(st.integers(0, nfa.n_symbols - 1), min_size=n * t, max_size=n * t))
    words = np.array(flat, dtype=np.int64).reshape(n, t)
    lengths = np.array(draw(st.lists(st.integers(0, t), min_size=n, max_size=n)), dtype=np.int64)
    return nfa, words, lengths


@st.composite
def binfas(
    draw: st.DrawFn,
    *,
    levels: int = 2,
    max_symbols: int = 3,
    max_types: int = 3,
    max_inner_states: int = 3,
    max_outer_states: int = 3,
    n_symbols: int | None = None,
    nested: bool = False,
    sparse: bool = False,
) -> Any:
    """Random :class:`bipe.automata.BiNFA` values built from :func:`nfas` with witness paths:
    every inner language has a word of length ``1..max(2, max_inner_states)`` (never the empty
    word: segments are non-empty) and every outer language one of length
    ``1..max(2, max_outer_states)``. ``levels=3`` nests such Bi-NFAs as the paragraph types;
    ``nested=True`` (used for those) makes the outer reject the empty word, as an inner
    automaton must. ``sparse=True`` builds from sparse :func:`nfas` without witness paths
    (some types, or the outer language, may then accept nothing: the infeasible cases)."""
    from bipe.automata import BiNFA

    if levels < 2:
        raise ValueError(f"levels must be at least 2, got {levels}")
    a = n_symbols if n_symbols is not None else draw(st.integers(1, max_symbols))
    k = draw(st.integers(1, max_types))
    if sparse:
        return draw(_sparse_binfas(levels, a, k, nested))
    if levels == 2:
        inner = tuple(
            draw(nfas(max_states=max_inner_states, n_symbols=a, nonempty=True, accepts_empty=False))
            for _ in range(k)
        )
    else:
        inner = tuple(
            draw(
                binfas(
                    levels=levels - 1,
                    max_types=max_types,
                    n_symbols=a,
                    max_inner_states=max_inner_states,
                    max_outer_states=max_outer_states,
                    nested=True,
                )
            )
            for _ in range(k)
        )
    outer = draw(
        nfas(
            max_states=max_outer_states,
            n_symbols=k,
            nonempty=True,
            min_word_length=1,
            accepts_empty=False if nested else None,
        )
    )
    return BiNFA(n_symbols=a, separator=a + levels - 2, outer=outer, inner=inner)


@st.composite
def _sparse_binfas(draw: st.DrawFn, levels: int, a: int, k: int, nested: bool) -> Any:
    """:func:`binfas` with ``sparse=True``: k types of sparse 4-state NFAs (nested levels: up
    to 2 types each) under a sparse 4-state outer NFA."""
    from bipe.automata import BiNFA

    if levels == 2:
        kinds = (
            nfas(max_states=4, n_symbols=a, sparse=True, accepts_empty=False) for _ in range(k)
        )
    else:
        kinds = (
            binfas(levels=levels - 1, max_types=2, n_symbols=a, nested=True, sparse=True)
            for _ in range(k)
        )
    inner = tuple(draw(kind) for kind in kinds)
    outer = draw(
        nfas(max_states=4, n_symbols=k, sparse=True, accepts_empty=False if nested else None)
    )
    return BiNFA(n_symbols=a, separator=a + levels - 2, outer=outer, inner=inner)


@st.composite
def binfa_sequences(
    draw: st.DrawFn,
    *,
    automata: st.SearchStrategy | None = None,
    max_rows: int = 4,
    segments: str = "uniform:1:5",
    segment_length: str = "uniform:1:4",
) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray]:
    """``(binfa, tokens (N, T), lengths (N,), is_last (N, T))``: sequences of a random Bi-NFA
    with their true boundaries (``is_last`` marks each segment's closing separator).

    Drawn with :func:`bipe.synthetic.sequences.sample_binfa_sequences`. The default specs
    cover the witness lengths :func:`binfas` guarantees, so every draw succeeds; with other
    automata or specs a draw the automaton cannot meet raises ``ValueError``.
    """
    from bipe.synthetic.distributions import parse_length_spec
    from bipe.synthetic.sequences import sample_binfa_sequences

    binfa = draw(automata if automata is not None else binfas())
    n = draw(st.integers(1, max_rows))
    seed = draw(st.integers(0, 2**32 - 1))
    batch = sample_binfa_sequences(
        np.random.default_rng(seed),
        binfa,
        n,
        [parse_length_spec(segments), parse_length_spec(segment_length)],
    )
    tokens, lengths, marks = batch.padded()
    return binfa, tokens, lengths, marks[0]
