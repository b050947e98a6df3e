"""Counting accepted words by length, and sampling uniformly among them.

Method (words, not paths): the NFA is determinised first (subset construction,
:meth:`NFA.determinize`), so every accepted word has exactly one accepting path. Then, backwards
over the remaining length r, ``c_r[q]`` is the number of words of length r that lead from DFA
state q to an accept state: ``c_0[q] = [q accepts]`` and ``c_r[q] = sum_a c_{r-1}[next(q, a)]``
(exact Python ints, so counts never overflow). The number of accepted words of length L is
``c_L[start]``.

Sampling a word of length L walks forward from the start state: with r symbols still to draw in
state q, symbol a is drawn with probability ``c_{r-1}[next(q, a)] / c_r[q]``. The product of these
factors telescopes to ``1 / c_L[start]`` for every accepted word, so the draw is uniform among the
accepted words of length L. The conditional probabilities are stored as float64 cumulative sums
``C_a / c_r[q]`` (each a correctly rounded quotient of exact ints; the last is exactly 1.0), so the
only deviation from exact uniformity is float64 rounding (relative error about 1e-16 per step).
Sampling is vectorised across rows: one Python step per position, all rows at once, and rows may
have different lengths.

Worked example: words over {0, 1} ending in 1 have counts ``[0, 1, 2, 4, ...]`` and
``sampler.sample(rng, 5, 3)`` returns five rows drawn from ``001, 011, 101, 111``.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from bipe.automata.nfa import NFA


def _dfa(nfa: NFA) -> NFA:
    """A DFA for the same language whose start state is 0."""
    return nfa if nfa.is_deterministic and nfa.start == {0} else nfa.determinize()


def _next_table(dfa: NFA) -> np.ndarray:
    """(Q+1, A) intp successor table of a DFA; missing moves go to a dead state Q."""
    q, a = dfa.n_states, dfa.n_symbols
    table = np.full((q + 1, a), q, dtype=np.intp)
    sym, src, dst = np.nonzero(dfa.delta)
    table[src, sym] = dst
    return table


def _per_state_counts(dfa: NFA, next_state: np.ndarray, max_length: int) -> list[np.ndarray]:
    """``[c_0, ..., c_max]``, each a (Q+1,) object array of exact ints (dead state last)."""
    c = np.zeros(dfa.n_states + 1, dtype=object)
    c[:] = 0
    c[list(dfa.accept)] = 1
    out = [c]
    for _ in range(max_length):
        c = c[next_state].sum(axis=1)  # (Q+1,) exact int sums over symbols
        out.append(c)
    return out


def _check_length(max_length: int, name: str = "max_length") -> None:
    if (
        not isinstance(max_length, int | np.integer)
        or isinstance(max_length, bool)
        or max_length < 0
    ):
        raise ValueError(f"{name} must be a non-negative int, got {max_length!r}")


def count_words(nfa: NFA, max_length: int) -> list[int]:
    """Exact number of words of each length ``0..max_length`` that ``nfa`` accepts."""
    _check_length(max_length)
    dfa = _dfa(nfa)
    next_state = _next_table(dfa)
    return [int(c[0]) for c in _per_state_counts(dfa, next_state, max_length)]


@dataclasses.dataclass(frozen=True, kw_only=True, eq=False)
class WordSampler:
    """Tables for uniform sampling of accepted words of lengths ``0..max_length``.

    Build once with :meth:`build` (or ``nfa.sampler(max_length)``) and reuse: the object is
    immutable and holds no state between calls. Fields: ``dfa`` (the determinised automaton;
    start state 0), ``max_length``, ``counts`` (exact count per length), ``next_state``
    ((Q+1, A) successor table, dead state Q) and ``cumulative`` ((max_length+1, Q+1, A) float64:
    ``cumulative[r, q, a]`` = probability of drawing a symbol <= a in state q with r symbols left).
    """

    dfa: NFA
    max_length: int
    counts: tuple[int, ...]
    next_state: np.ndarray
    cumulative: np.ndarray

    @classmethod
    def build(cls, nfa: NFA, max_length: int) -> WordSampler:
        """Determinise ``nfa`` and tabulate counts and conditional probabilities."""
        _check_length(max_length)
        dfa = _dfa(nfa)
        next_state = _next_table(dfa)  # (Q+1, A)
        per_state = _per_state_counts(dfa, next_state, max_length)
        cumulative = np.ones((max_length + 1, dfa.n_states + 1, dfa.n_symbols))
        for r in range(1, max_length + 1):
            totals = per_state[r]  # (Q+1,) exact ints
            prefix = np.cumsum(per_state[r - 1][next_state], axis=1)  # (Q+1, A) exact ints
            live = (totals > 0).astype(bool)  # (Q+1,)
            safe = np.where(live, totals, 1)  # exact ints; int / int is correctly rounded
            cumulative[r, live] = (prefix / safe[:, None])[live].astype(np.float64)
        for array in (next_state, cumulative):
            array.flags.writeable = False
        return cls(
            dfa=dfa,
            max_length=int(max_length),
            counts=tuple(int(c[0]) for c in per_state),
            next_state=next_state,
            cumulative=cumulative,
        )

    def count(self, length: int) -> int:
        """Exact number of accepted words of this length (0 past ``max_length`` is an error)."""
        self._check(length)
        return self.counts[length]

    def _check(self, length: int) -> None:
        _check_length(length, "length")
        if length > self.max_length:
            raise ValueError(f"length {length} exceeds the sampler's max_length {self.max_length}")

    def sample(self, rng: np.random.Generator, n: int, length: int) -> np.ndarray:
        """(n, length) int64 words, each uniform among the accepted words of ``length``.

        Raises ``ValueError`` naming the length when no accepted word has it.
        """
        if not isinstance(n, int | np.integer) or n < 0:
            raise ValueError(f"n must be a non-negative int, got {n!r}")
        words, _ = self.sample_lengths(rng, np.full(int(n), length, dtype=np.int64))
        return words.reshape(int(n), int(length))

    def sample_lengths(
        self, rng: np.random.Generator, lengths: np.ndarray, pad: int = -1
    ) -> tuple[np.ndarray, np.ndarray]:
        """Words of per-row lengths in one pass: ``(words (N, max(lengths)) int64, lengths)``.

        Row n holds a uniform accepted word of length ``lengths[n]`` followed by ``pad``.
        Raises ``ValueError`` naming a length that has no accepted word.
        """
        lengths = np.asarray(lengths, dtype=np.int64)
        if lengths.ndim != 1:
            raise ValueError(f"lengths must be 1-D, got shape {lengths.shape}")
        n = len(lengths)
        for length in np.unique(lengths):
            if self.count(int(length)) == 0:
                raise ValueError(f"no accepted word of length {int(length)}")
        t_max = int(lengths.max(initial=0))
        uniform = rng.random((n, t_max))  # (N, T)
        words = np.full((n, t_max), pad, dtype=np.int64)
        state = np.zeros(n, dtype=np.intp)  # (N,) DFA start state 0
        for t in range(t_max):
            remaining = np.maximum(lengths - t, 0)  # (N,) 0 = finished (row of ones, symbol 0)
            row = self.cumulative[remaining, state]  # (N, A)
            symbol = (row <= uniform[:, t, None]).sum(axis=1)  # (N,)
            active = remaining > 0
            words[active, t] = symbol[active]
            state = np.where(
                active, self.next_state[state, np.minimum(symbol, row.shape[1] - 1)], state
            )
        return words, lengths

    def probability(self, word: np.ndarray) -> float:
        """The probability that :meth:`sample` draws this word at its length (0.0 if rejected)."""
        word = [int(x) for x in word]  # type: ignore[assignment]
        if self.count(len(word)) == 0:
            return 0.0
        p, state = 1.0, 0
        for t, a in enumerate(word):
            row = self.cumulative[len(word) - t, state]
            p *= row[a] - (row[a - 1] if a else 0.0)
            state = int(self.next_state[state, a])
        return p
