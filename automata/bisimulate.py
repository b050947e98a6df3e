"""Batched level-by-level simulation of (multi-level) Bi-NFAs: membership and per-token labels.

Every automaton in the tree keeps its state sets for all N rows at once (bitsets, as in
:mod:`bipe.automata.simulate`); the Python loop runs over time steps only. At a content token the
inner automata of the open segment step; at a level's separator the types that accept the closed
segment are collected, the outer automaton steps on that set of types
(``S' = union over accepting types k of delta_outer(S, k)``), and the inner automata restart. A
token above a level's separator (or a lower-level separator inside a plain NFA segment) empties
that level's sets. A level accepts when no segment is open (the last token was its separator,
or nothing was read) and its outer set meets the outer accept states.

Worked example (see :mod:`bipe.automata.binfa`): for tokens ``0 0 2 1 2 1 2`` ``labels`` gives
``seg = 0 0 0 1 1 2 2`` and ``intra = 0 1 2 0 1 0 1``.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from bipe.automata.binfa import BiNFA
from bipe.automata.nfa import NFA
from bipe.automata.simulate import StepTable, check_words, pack_sets, unpack_sets


def _bits(states: frozenset[int], n_states: int, n_words: int) -> np.ndarray:
    mask = np.zeros(n_states, dtype=bool)
    mask[list(states)] = True
    return pack_sets(mask, n_words)  # (W,)


class _NFARunner:
    """State sets of one NFA for N rows (one segment at a time)."""

    def __init__(self, nfa: NFA, n: int) -> None:
        self.table = StepTable(nfa.delta)
        self.n_states, self.n_symbols = nfa.n_states, nfa.n_symbols
        self.start = _bits(nfa.start, nfa.n_states, self.table.n_words)
        self.accept = _bits(nfa.accept, nfa.n_states, self.table.n_words)
        self.sets = np.repeat(self.start[None], n, axis=0)  # (N, W)

    def feed(self, tokens: np.ndarray, rows: np.ndarray) -> None:
        known = tokens < self.n_symbols  # (N,)
        nxt = self.table.step(self.sets, np.where(known, tokens, 0))
        nxt[~known] = 0
        self.sets = np.where(rows[:, None], nxt, self.sets)

    def accepting(self) -> np.ndarray:
        return (self.sets & self.accept).any(axis=1)

    def reset(self, rows: np.ndarray) -> None:
        self.sets = np.where(rows[:, None], self.start, self.sets)

    def packed(self) -> np.ndarray:
        return self.sets


class _BiRunner:
    """Outer state sets, open-segment flags and inner runners of one Bi-NFA for N rows."""

    def __init__(self, bi: BiNFA, n: int) -> None:
        self.separator = bi.separator
        self.table = StepTable(bi.outer.delta)
        self.n_states = bi.outer.n_states
        self.start = _bits(bi.outer.start, self.n_states, self.table.n_words)
        self.accept = _bits(bi.outer.accept, self.n_states, self.table.n_words)
        self.sets = np.repeat(self.start[None], n, axis=0)  # (N, W)
        self.open = np.zeros(n, dtype=bool)  # (N,) a segment has content since the last sep
        self.inner = [runner(x, n) for x in bi.inner]

    def feed(self, tokens: np.ndarray, rows: np.ndarray) -> None:
        content = rows & (tokens < self.separator)
        closing = rows & (tokens == self.separator)
        foreign = rows & (tokens > self.separator)
        if content.any():
            for inner in self.inner:
                inner.feed(tokens, content)
            self.open |= content
        if closing.any():
            nxt = np.zeros_like(self.sets)
            for k, inner in enumerate(self.inner):
                typed = closing & inner.accepting()  # (N,) segment has type k
                if typed.any():
                    step = self.table.step(self.sets, np.full(len(tokens), k, dtype=np.intp))
                    nxt |= np.where(typed[:, None], step, 0)
            self.sets = np.where(closing[:, None], nxt, self.sets)
            for inner in self.inner:
                inner.reset(closing)
            self.open &= ~closing
        if foreign.any():
            self.sets = np.where(foreign[:, None], 0, self.sets)

    def accepting(self) -> np.ndarray:
        return ~self.open & (self.sets & self.accept).any(axis=1)

    def reset(self, rows: np.ndarray) -> None:
        self.sets = np.where(rows[:, None], self.start, self.sets)
        self.open &= ~rows
        for inner in self.inner:
            inner.reset(rows)

    def packed(self) -> np.ndarray:
        return self.sets


def runner(automaton: NFA | BiNFA, n: int) -> _NFARunner | _BiRunner:
    """A fresh simulation state for ``n`` rows."""
    return _BiRunner(automaton, n) if isinstance(automaton, BiNFA) else _NFARunner(automaton, n)


def accepts(bi: BiNFA, tokens: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray:
    """(N,) bool: membership of each row's first ``lengths[n]`` tokens (ids < vocab_size)."""
    tokens, lengths, _ = check_words(tokens, lengths, bi.vocab_size)
    state = _BiRunner(bi, len(tokens))
    for t in range(tokens.shape[1]):
        state.feed(tokens[:, t], t < lengths)
    return state.accepting()


@dataclasses.dataclass(frozen=True, kw_only=True, eq=False)
class BiLabels:
    """Per-token labels of a batch, all describing the situation **after** reading token t.

    - ``seg`` (N, T) int64: top-level segment index (separators strictly before t;
      docs/method.md#positions: a separator is the last token of the segment it closes), -1 at
    padding. - ``intra`` (N, T) int64: t minus the first position of t's segment (0-based), -1 at
    padding. - ``outer_states`` (N, T, Q_outer) bool: the outer state set after token t (it moves
      only at separators).
    - ``inner_states`` tuple of K arrays (N, T, Q_k) bool: for an NFA type, its state set on the
      open segment after token t (at a separator: its start set, as a new segment begins); for a
      nested Bi-NFA type, that automaton's own outer state set. False at padding.
    """

    seg: np.ndarray
    intra: np.ndarray
    outer_states: np.ndarray
    inner_states: tuple[np.ndarray, ...]


def segment_labels(
    tokens: np.ndarray, separator: int, valid: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(seg, intra), both (N, T) int64, for one separator id; -1 where ``valid`` is False."""
    n, t_len = tokens.shape
    is_sep = (tokens == separator) & valid  # (N, T)
    seg = np.cumsum(is_sep, axis=1) - is_sep  # (N, T) separators strictly before t
    after = np.where(is_sep, np.arange(1, t_len + 1), 0)  # (N, T) first index after a separator
    first = np.maximum.accumulate(
        np.concatenate([np.zeros((n, 1), np.int64), after[:, :-1]], axis=1), axis=1
    )  # (N, T) segment start
    intra = np.arange(t_len) - first
    return np.where(valid, seg, -1).astype(np.int64), np.where(valid, intra, -1).astype(np.int64)


def labels(bi: BiNFA, tokens: np.ndarray, lengths: np.ndarray | None = None) -> BiLabels:
    """Segment index, intra position and state sets per token; see :class:`BiLabels`."""
    tokens, lengths, valid = check_words(tokens, lengths, bi.vocab_size)
    n, t_len = tokens.shape
    state = _BiRunner(bi, n)
    outer: list[np.ndarray] = []
    inner: list[list[np.ndarray]] = [[] for _ in bi.inner]
    for t in range(t_len):
        state.feed(tokens[:, t], t < lengths)
        outer.append(state.packed())
        for k, sub in enumerate(state.inner):
            inner[k].append(sub.packed())

    def stack(history: list[np.ndarray], n_states: int) -> np.ndarray:
        if not history:
            return np.zeros((n, 0, n_states), dtype=bool)
        return unpack_sets(np.stack(history, axis=1), n_states) & valid[:, :, None]

    seg, intra = segment_labels(tokens, bi.separator, valid)
    return BiLabels(
        seg=seg,
        intra=intra,
        outer_states=stack(outer, state.n_states),
        inner_states=tuple(
            stack(h, sub.n_states) for h, sub in zip(inner, state.inner, strict=True)
        ),
    )
