"""Nondeterministic finite automata as immutable values (a DFA is the deterministic case).

States are ``0..Q-1`` and symbols ``0..A-1``. Transitions are an immutable boolean array
``delta`` of shape (A, Q, Q): ``delta[a, q, r]`` is True iff reading ``a`` in ``q`` may lead to
``r``. There are no epsilon moves. Acceptance of a word ``w`` follows the usual subset semantics:
start from the set ``start``, replace the set ``S`` by ``{r : q in S, delta[w_t, q, r]}`` per symbol
and accept iff the final set meets ``accept``.

Worked example (words over {0, 1} that end in 1)::

    >>> nfa = NFA.from_transitions(2, 2, start=[0], accept=[1],
    ...                            transitions=[(0, 0, 0), (0, 1, 0), (0, 1, 1)])
    >>> nfa.accepts(np.array([[0, 1], [1, 0]])).tolist()
    [True, False]
    >>> nfa.count_words(3)
    [0, 1, 2, 4]

Equality and hashing are structural (same numbering, same arrays), not language equality.

Size limit (docs/method.md#automaton-size-limit): the dense ``delta`` takes A * Q * Q bytes, so
building an automaton whose array would exceed ``MAX_DENSE_BYTES`` (2 GiB; pass ``max_bytes``
to the constructors and :meth:`NFA.determinize`, or set the module attribute, to change it) is a
``ValueError`` with the estimate, raised before anything is allocated; :meth:`NFA.determinize`
stops as soon as its subset count crosses the limit.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from bipe.automata import simulate

_DICT_KEYS = ("n_states", "n_symbols", "start", "accept", "transitions")
MAX_DENSE_BYTES = 2 << 30  # the largest dense transition array built (A * Q * Q bytes)


def _limit(max_bytes: int | None) -> int:
    return MAX_DENSE_BYTES if max_bytes is None else int(max_bytes)


def _size(n_bytes: float) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n_bytes >= scale:
            return f"{n_bytes / scale:.1f} {unit}"
    return f"{int(n_bytes)} B"


def dense_delta(n_symbols: int, n_states: int, max_bytes: int | None = None) -> np.ndarray:
    """A zeroed (A, Q, Q) bool transition array, or a ``ValueError`` with its size when it
    would exceed ``max_bytes`` (default :data:`MAX_DENSE_BYTES`); checked before allocating."""
    need, limit = n_symbols * n_states * n_states, _limit(max_bytes)
    if need > limit:
        raise ValueError(
            f"a {n_states}-state automaton over {n_symbols} symbols needs a dense "
            f"transition array of {_size(need)}, over the limit of {_size(limit)} "
            "(max_bytes / bipe.automata.nfa.MAX_DENSE_BYTES)"
        )
    return np.zeros((n_symbols, n_states, n_states), dtype=bool)


def _is_int(x: object) -> bool:
    return isinstance(x, numbers.Integral) and not isinstance(x, bool | np.bool_)


@dataclasses.dataclass(frozen=True, kw_only=True, eq=False)
class NFA:
    """An NFA over symbols ``0..n_symbols-1`` with states ``0..n_states-1``.

    Fields: ``n_states`` (Q >= 1), ``n_symbols`` (A >= 1), ``start`` (non-empty frozenset of
    states), ``accept`` (frozenset of states, may be empty) and ``delta`` ((A, Q, Q) bool array,
    stored read-only; a writeable array passed in is copied first so later writes to it cannot
    change the value). Construction validates everything and raises ``ValueError`` naming the
    problem. Prefer the named constructors :meth:`from_transitions` and :meth:`from_dict`.
    """

    n_states: int
    n_symbols: int
    start: frozenset[int]
    accept: frozenset[int]
    delta: np.ndarray

    def __post_init__(self) -> None:
        for name in ("n_states", "n_symbols"):
            value = getattr(self, name)
            if not _is_int(value) or value < 1:
                raise ValueError(f"NFA {name} must be a positive int, got {value!r}")
        q = self.n_states
        for name in ("start", "accept"):
            states = getattr(self, name)
            if not isinstance(states, frozenset):
                raise ValueError(f"NFA {name} must be a frozenset, got {type(states).__name__}")
            bad = [s for s in states if not _is_int(s) or not 0 <= s < q]
            if bad:
                raise ValueError(f"NFA {name} state {bad[0]!r} out of range 0..{q - 1}")
        if not self.start:
            raise ValueError("NFA start set is empty")
        delta = self.delta
        shape = (self.n_symbols, q, q)
        if not isinstance(delta, np.ndarray) or delta.dtype != np.bool_:
            raise ValueError("NFA delta must be a numpy bool array of shape (A, Q, Q)")
        if delta.shape != shape:
            raise ValueError(f"NFA delta has shape {delta.shape}, expected (A, Q, Q) = {shape}")
        if delta.flags.writeable:
            delta = delta.copy()
            delta.flags.writeable = False
            object.__setattr__(self, "delta", delta)

    # ----------------------------------------------------------------- constructors
    @classmethod
    def from_transitions(
        cls,
        n_states: int,
        n_symbols: int,
        start: Iterable[int],
        accept: Iterable[int],
        transitions: Iterable[tuple[int, int, int] | list[int]],
        *,
        max_bytes: int | None = None,
    ) -> NFA:
        """Build from ``(q, symbol, q2)`` triples; duplicates are harmless.

        Raises ``ValueError`` naming the first triple whose state or symbol is out of range, or
        giving the size when the dense array would exceed ``max_bytes`` (see :func:`dense_delta`).
        """
        if not _is_int(n_states) or n_states < 1:
            raise ValueError(f"NFA n_states must be a positive int, got {n_states!r}")
        if not _is_int(n_symbols) or n_symbols < 1:
            raise ValueError(f"NFA n_symbols must be a positive int, got {n_symbols!r}")
        delta = dense_delta(n_symbols, n_states, max_bytes)
        for triple in transitions:
            if len(triple) != 3 or not all(_is_int(x) for x in triple):
                raise ValueError(f"NFA transition {triple!r} is not a [q, symbol, q2] int triple")
            q, a, r = (int(x) for x in triple)
            if not (0 <= q < n_states and 0 <= r < n_states):
                raise ValueError(
                    f"NFA transition {[q, a, r]} has a state out of range 0..{n_states - 1}"
                )
            if not 0 <= a < n_symbols:
                raise ValueError(
                    f"NFA transition {[q, a, r]} has symbol {a} out of range 0..{n_symbols - 1}"
                )
            delta[a, q, r] = True
        return cls(
            n_states=n_states,
            n_symbols=n_symbols,
            start=_states(start, "start"),
            accept=_states(accept, "accept"),
            delta=delta,
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NFA:
        """Inverse of :meth:`to_dict`.

        Keys: ``n_states``, ``start``, ``accept``, ``transitions`` (``[[q, symbol, q2], ...]``)
        and optionally ``n_symbols`` (when absent: one more than the largest symbol used, at
        least 1) and ``kind`` (must be ``"nfa"``). Unknown keys are an error.
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"NFA dict must be a mapping, got {type(data).__name__}")
        unknown = sorted(set(data) - set(_DICT_KEYS) - {"kind"})
        if unknown:
            raise ValueError(f"NFA dict has unknown keys {unknown}")
        if data.get("kind", "nfa") != "nfa":
            raise ValueError(f"NFA dict has kind {data['kind']!r}, expected 'nfa'")
        missing = [k for k in _DICT_KEYS if k not in data and k != "n_symbols"]
        if missing:
            raise ValueError(f"NFA dict is missing keys {missing}")
        transitions = data["transitions"]
        if not isinstance(transitions, list | tuple):
            raise ValueError("NFA dict 'transitions' must be a list of [q, symbol, q2]")
        n_symbols = data.get("n_symbols")
        if n_symbols is None:
            n_symbols = 1 + max((t[1] for t in transitions if len(t) == 3), default=0)
        return cls.from_transitions(
            data["n_states"], n_symbols, data["start"], data["accept"], transitions
        )

    # ----------------------------------------------------------------- value protocol
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, NFA):
            return NotImplemented
        return (
            self.n_states == other.n_states
            and self.n_symbols == other.n_symbols
            and self.start == other.start
            and self.accept == other.accept
            and np.array_equal(self.delta, other.delta)
        )

    def __hash__(self) -> int:
        return hash(
            (
                self.n_states,
                self.n_symbols,
                self.start,
                self.accept,
                np.packbits(self.delta).tobytes(),
            )
        )

    def __repr__(self) -> str:
        return (
            f"NFA(n_states={self.n_states}, n_symbols={self.n_symbols}, "
            f"start={sorted(self.start)}, accept={sorted(self.accept)}, "
            f"n_transitions={int(self.delta.sum())})"
        )

    def transitions(self) -> list[list[int]]:
        """All transitions as ``[q, symbol, q2]`` lists, sorted by (q, symbol, q2)."""
        a, q, r = np.nonzero(self.delta)
        order = np.lexsort((r, a, q))
        return [[int(q[i]), int(a[i]), int(r[i])] for i in order]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict ``{"n_states", "n_symbols", "start", "accept", "transitions"}``."""
        return {
            "n_states": int(self.n_states),
            "n_symbols": int(self.n_symbols),
            "start": sorted(int(s) for s in self.start),
            "accept": sorted(int(s) for s in self.accept),
            "transitions": self.transitions(),
        }

    def to_networkx(self) -> Any:
        """A ``networkx.MultiDiGraph``: one node per state (attributes ``start``, ``accept``),
        one edge per transition (attribute ``symbol``)."""
        import networkx as nx

        graph = nx.MultiDiGraph()
        for s in range(self.n_states):
            graph.add_node(s, start=s in self.start, accept=s in self.accept)
        for q, a, r in self.transitions():
            graph.add_edge(q, r, symbol=a)
        return graph

    # ----------------------------------------------------------------- structure
    @property
    def is_deterministic(self) -> bool:
        """True iff one start state and at most one successor per (state, symbol).

        Missing transitions are allowed (a partial DFA: the word is rejected).
        """
        return len(self.start) == 1 and bool((self.delta.sum(axis=2) <= 1).all())

    def reachable_states(self) -> np.ndarray:
        """(Q,) bool: states reachable from ``start``."""
        return _closure(self.delta.any(axis=0), _mask(self.start, self.n_states))  # type: ignore[arg-type]

    def coreachable_states(self) -> np.ndarray:
        """(Q,) bool: states from which some accept state is reachable (the live states)."""
        return _closure(self.delta.any(axis=0).T, _mask(self.accept, self.n_states))  # type: ignore[arg-type]

    def trim(self) -> NFA:
        """Keep only states that are reachable and co-reachable, renumbered in order.

        An empty language has no such state; its trimmed form is the canonical one-state
        automaton with start ``{0}``, no accept state and no transitions.
        """
        keep = self.reachable_states() & self.coreachable_states()
        if not keep.any():
            return NFA.from_transitions(1, self.n_symbols, [0], [], [])
        idx = np.flatnonzero(keep)
        new = np.full(self.n_states, -1)
        new[idx] = np.arange(len(idx))
        delta = self.delta[:, idx][:, :, idx]
        return NFA(
            n_states=len(idx),
            n_symbols=self.n_symbols,
            start=frozenset(int(new[s]) for s in self.start if keep[s]),
            accept=frozenset(int(new[s]) for s in self.accept if keep[s]),
            delta=delta,
        )

    def determinize(self, max_states: int = 200_000, *, max_bytes: int | None = None) -> NFA:
        """Subset construction: an equivalent (partial) DFA over the reachable non-empty
        subsets, numbered in breadth-first order from the start subset (state 0).

        Raises ``ValueError`` when more than ``max_states`` subsets are reachable (the subset
        construction can blow up exponentially), or as soon as the DFA's dense transition array
        would exceed ``max_bytes`` (default :data:`MAX_DENSE_BYTES`), with its size.
        """
        by_memory = math.isqrt(_limit(max_bytes) // self.n_symbols)  # A * N * N <= limit
        succ = _successor_bits(self.delta)  # succ[a][q] = int bitmask of successors
        start = sum(1 << s for s in self.start)
        accept_bits = sum(1 << s for s in self.accept)
        index = {start: 0}
        order = [start]
        edges = []
        for i, subset in enumerate(order):  # order grows while we walk it
            states = [q for q in range(self.n_states) if subset >> q & 1]
            for a in range(self.n_symbols):
                nxt = 0
                for q in states:
                    nxt |= succ[a][q]
                if nxt == 0:
                    continue
                if nxt not in index:
                    if len(order) >= max_states:
                        raise ValueError(
                            f"determinizing a {self.n_states}-state NFA exceeded "
                            f"max_states={max_states} subsets"
                        )
                    if len(order) >= by_memory:
                        dense_delta(self.n_symbols, len(order) + 1, max_bytes)  # raises
                    index[nxt] = len(order)
                    order.append(nxt)
                edges.append((i, a, index[nxt]))
        accept = [i for i, subset in enumerate(order) if subset & accept_bits]
        return NFA.from_transitions(
            len(order), self.n_symbols, [0], accept, edges, max_bytes=max_bytes
        )

    # ----------------------------------------------------------------- batched simulation
    def state_sets(self, words: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray:
        """(N, T+1, Q) bool: ``[n, t]`` is the state set after reading ``words[n, :t]``.

        Positions past a row's length are all False. See :mod:`bipe.automata.simulate`.
        """
        return simulate.state_sets(self, words, lengths)

    def accepts(self, words: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray:
        """(N,) bool: whether each row (its first ``lengths[n]`` symbols) is accepted."""
        return simulate.accepts(self, words, lengths)

    def viable_prefix_mask(
        self, words: np.ndarray, lengths: np.ndarray | None = None
    ) -> np.ndarray:
        """(N, T+1) bool: ``[n, t]`` iff ``words[n, :t]`` extends to an accepted word."""
        return simulate.viable_prefix_mask(self, words, lengths)

    def legal_next_mask(self, words: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray:
        """(N, T, A) bool: ``[n, t, a]`` iff ``words[n, :t] + [a]`` is a viable prefix."""
        return simulate.legal_next_mask(self, words, lengths)

    # ----------------------------------------------------------------- counting and sampling
    def count_words(self, max_length: int) -> list[int]:
        """Exact number of accepted words of each length ``0..max_length`` (Python ints).

        Counts words, not paths: the automaton is determinised first.
        """
        from bipe.automata.counting import count_words

        return count_words(self, max_length)

    def sampler(self, max_length: int) -> Any:
        """A :class:`~bipe.automata.counting.WordSampler` for lengths ``0..max_length``: build
        it once and call ``.sample(rng, n, length)`` many times."""
        from bipe.automata.counting import WordSampler

        return WordSampler.build(self, max_length)

    def sample_words(self, rng: np.random.Generator, n: int, length: int) -> np.ndarray:
        """(n, length) int64 words drawn uniformly among the accepted words of that length.

        Raises ``ValueError`` naming the length when no accepted word has it.
        """
        return self.sampler(length).sample(rng, n, length)


def _states(values: Iterable[int], name: str) -> frozenset[int]:
    values = list(values)
    bad = [v for v in values if not _is_int(v)]
    if bad:
        raise ValueError(f"NFA {name} state {bad[0]!r} is not an int")
    return frozenset(int(v) for v in values)


def _mask(states: Iterable[int], n: int) -> np.ndarray:
    mask = np.zeros(n, dtype=bool)
    mask[list(states)] = True
    return mask


def _closure(adjacency: np.ndarray, seed: np.ndarray) -> np.ndarray:
    """States reachable from ``seed`` along ``adjacency[q, r]`` edges (including seed)."""
    seen = seed.copy()
    frontier = seed.copy()
    while frontier.any():
        nxt = adjacency[frontier].any(axis=0) & ~seen
        seen |= nxt
        frontier = nxt
    return seen


def _successor_bits(delta: np.ndarray) -> list[list[int]]:
    """``bits[a][q]``: the successor set of (q, a) as a Python int bitmask."""
    packed = np.packbits(delta, axis=2, bitorder="little")  # (A, Q, ceil(Q/8)) uint8
    return [
        [int.from_bytes(row.tobytes(), "little") for row in packed[a]]
        for a in range(delta.shape[0])
    ]
