"""bipe's bilevel automaton (Bi-NFA, docs/method.md#bi-nfa) and its multi-level generalisation.

A Bi-NFA has an alphabet of A symbols ``0..A-1`` plus a separator token, K inner automata (the
segment types) and an outer NFA over the type ids ``0..K-1``. A token sequence is accepted iff it
has the form ``w_1 # w_2 # ... w_S #`` (every segment closed by the separator ``#``) and some
outer path ``p_0 -t_1-> p_1 ... -t_S-> p_S`` runs from a start to an accepting outer state with
each ``w_i`` accepted by inner automaton ``t_i``.

**Segments are never empty** (bipe's choice): an inner automaton may not accept the empty word,
so ``##`` never occurs inside an accepted sequence and every segment has at least one content
token before its separator (intra positions 0..len(w_i), the separator last, as in
docs/method.md#positions). The outer automaton may accept the empty type sequence at the top
level (then the empty token sequence is accepted), but not when the Bi-NFA is itself an inner
automaton.

**More levels**: an inner automaton may itself be a :class:`BiNFA` (sentences in paragraphs).
Separator ids grow with the level: a 2-level automaton uses ``separator = A``; a 3-level one uses
``A`` between sentences (inside its inner Bi-NFAs) and ``A + 1`` between paragraphs. In general
``separator = A + levels - 2``, ``separators = (A, ..., separator)`` (innermost first) and
``vocab_size = separator + 1``. Inner automata of different depths may be mixed (a plain NFA
segment simply never contains a lower-level separator).

Worked example (A = 2, separator 2; type 0 = "one or more 0s", type 1 = "exactly 1"; the outer
automaton wants type 0 then any number of type 1)::

    tokens 0 0 2 1 2 1 2    accepted (segments 00, 1, 1 of types 0, 1, 1)
    tokens 0 2 2            rejected (an empty segment)
    tokens 1 2 0 2          rejected (the outer automaton needs type 0 first)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

from bipe.automata.nfa import NFA, _is_int, dense_delta

_KEYS = ("kind", "n_symbols", "separator", "outer", "inner")


def accepts_empty(automaton: NFA | BiNFA) -> bool:
    """Whether the automaton accepts the empty word (empty token sequence)."""
    nfa = automaton.outer if isinstance(automaton, BiNFA) else automaton
    return bool(nfa.start & nfa.accept)


@dataclasses.dataclass(frozen=True, kw_only=True)
class BiNFA:
    """A bilevel (or, with nested inner Bi-NFAs, multi-level) automaton; see the module doc.

    Fields: ``n_symbols`` (A), ``separator`` (this level's separator id, ``A + levels - 2``),
    ``outer`` (an :class:`NFA` over the K type ids) and ``inner`` (a tuple of K automata, each an
    :class:`NFA` over the A symbols or a :class:`BiNFA` with the same A and a lower level).
    Validated on construction; equality and hashing are structural.
    """

    n_symbols: int
    separator: int
    outer: NFA
    inner: tuple[NFA | BiNFA, ...]

    def __post_init__(self) -> None:
        if not _is_int(self.n_symbols) or self.n_symbols < 1:
            raise ValueError(f"BiNFA n_symbols must be a positive int, got {self.n_symbols!r}")
        if not isinstance(self.outer, NFA):
            raise ValueError(f"BiNFA outer must be an NFA, got {type(self.outer).__name__}")
        if not isinstance(self.inner, tuple) or not self.inner:
            raise ValueError("BiNFA inner must be a non-empty tuple of NFA or BiNFA")
        for k, automaton in enumerate(self.inner):
            if not isinstance(automaton, NFA | BiNFA):
                raise ValueError(
                    f"BiNFA inner[{k}] must be an NFA or BiNFA, got {type(automaton).__name__}"
                )
            if automaton.n_symbols != self.n_symbols:
                raise ValueError(
                    f"BiNFA inner[{k}] has n_symbols {automaton.n_symbols}, "
                    f"expected {self.n_symbols}"
                )
            if accepts_empty(automaton):
                raise ValueError(
                    f"BiNFA inner[{k}] accepts the empty segment; segments must be non-empty"
                )
        if self.outer.n_symbols != len(self.inner):
            raise ValueError(
                f"BiNFA outer has {self.outer.n_symbols} symbols but there are "
                f"{len(self.inner)} inner automata (types)"
            )
        expected = self.n_symbols + self.levels - 2
        if not _is_int(self.separator) or self.separator != expected:
            raise ValueError(
                f"BiNFA separator must be n_symbols + levels - 2 = {expected} for "
                f"{self.levels} levels, got {self.separator!r}"
            )

    # ----------------------------------------------------------------- structure
    @property
    def levels(self) -> int:
        """2 for a Bi-NFA with NFA inners, one more per level of nesting."""
        return 1 + max(x.levels if isinstance(x, BiNFA) else 1 for x in self.inner)

    @property
    def n_types(self) -> int:
        """K, the number of inner automata (segment types)."""
        return len(self.inner)

    @property
    def separators(self) -> tuple[int, ...]:
        """Separator ids, innermost first: ``(A, ..., separator)``."""
        return tuple(range(self.n_symbols, self.separator + 1))

    @property
    def vocab_size(self) -> int:
        """Symbols plus separators: ``separator + 1``."""
        return self.separator + 1

    @property
    def flat_state_count(self) -> int:
        """States of :meth:`flatten` without building it: the outer states plus, for every outer
        transition ``(p, k, p2)``, the (flattened) state count of inner automaton k."""
        sizes = [x.flat_state_count if isinstance(x, BiNFA) else x.n_states for x in self.inner]
        return self.outer.n_states + sum(sizes[k] for _, k, _ in self.outer.transitions())

    # ----------------------------------------------------------------- dict form
    def to_dict(self) -> dict[str, Any]:
        """JSON-safe ``{"kind": "binfa", "n_symbols", "separator", "outer", "inner": [...]}``."""
        return {
            "kind": "binfa",
            "n_symbols": int(self.n_symbols),
            "separator": int(self.separator),
            "outer": self.outer.to_dict(),
            "inner": [x.to_dict() for x in self.inner],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BiNFA:
        """Inverse of :meth:`to_dict`. Inner entries with ``"kind": "binfa"`` are nested Bi-NFAs,
        others NFAs; a missing ``n_symbols`` in an NFA entry defaults to A (K for the outer)."""
        if not isinstance(data, Mapping):
            raise ValueError(f"BiNFA dict must be a mapping, got {type(data).__name__}")
        if data.get("kind") != "binfa":
            raise ValueError(f"BiNFA dict must have kind 'binfa', got {data.get('kind')!r}")
        unknown = sorted(set(data) - set(_KEYS))
        missing = [k for k in _KEYS if k not in data]
        if unknown or missing:
            raise ValueError(f"BiNFA dict has unknown keys {unknown} / missing keys {missing}")
        if not isinstance(data["inner"], list | tuple) or not isinstance(data["outer"], Mapping):
            raise ValueError("BiNFA dict needs an 'outer' mapping and an 'inner' list")
        n_symbols = data["n_symbols"]
        inner = tuple(automaton_from_dict(x, n_symbols) for x in data["inner"])
        outer = NFA.from_dict({"n_symbols": len(inner), **data["outer"]})
        return cls(n_symbols=n_symbols, separator=data["separator"], outer=outer, inner=inner)

    # ----------------------------------------------------------------- flattening
    def flatten(self, max_states: int = 4096) -> NFA:
        """An ordinary NFA over ``vocab_size`` tokens with the same language.

        States: the outer states (segment boundaries; start and accept come from the outer
        automaton), then one copy of (the flattened) inner automaton k per outer transition
        ``(p, k, p2)``: a boundary p enters the copy on its inner start moves, and an accepting
        inner state of the copy moves on the separator to boundary p2. So the state count is
        :attr:`flat_state_count` (order m * sum n_k); the result is not trimmed (call
        :meth:`NFA.trim`). Raises ``ValueError`` when the count exceeds ``max_states`` (the
        transition array is dense: vocab_size * Q * Q booleans).
        """
        count = self.flat_state_count
        if count > max_states:
            raise ValueError(
                f"flattened automaton would have {count} states, more than max_states={max_states}"
            )
        parts = [x.flatten(max_states) if isinstance(x, BiNFA) else x for x in self.inner]
        n_outer = self.outer.n_states
        delta = dense_delta(self.vocab_size, count)  # (V, Q, Q); refuses past MAX_DENSE_BYTES
        offset = n_outer
        for p, k, p2 in self.outer.transitions():
            part = parts[k]
            block = slice(offset, offset + part.n_states)
            v = part.n_symbols  # tokens below this level's separator
            delta[:v, block, block] = part.delta
            delta[:v, p, block] |= part.delta[:, sorted(part.start), :].any(axis=1)
            delta[self.separator, [offset + q for q in sorted(part.accept)], p2] = True
            offset += part.n_states
        return NFA(
            n_states=count,
            n_symbols=self.vocab_size,
            start=self.outer.start,
            accept=self.outer.accept,
            delta=delta,
        )

    # ----------------------------------------------------------------- simulation
    def accepts(self, tokens: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray:
        """(N,) bool membership of each row of an (N, T) token array (first ``lengths[n]``).

        Simulated level by level (inner automata restart at each separator, the outer one steps
        on the set of types that accept the closed segment), not through :meth:`flatten`.
        """
        from bipe.automata.bisimulate import accepts

        return accepts(self, tokens, lengths)

    def viable_prefix_mask(
        self, tokens: np.ndarray, lengths: np.ndarray | None = None, max_states: int = 4096
    ) -> np.ndarray:
        """(N, T+1) bool, as :meth:`NFA.viable_prefix_mask` on the trimmed flattening."""
        return self.flatten(max_states).trim().viable_prefix_mask(tokens, lengths)

    def legal_next_mask(
        self, tokens: np.ndarray, lengths: np.ndarray | None = None, max_states: int = 4096
    ) -> np.ndarray:
        """(N, T, vocab_size) bool, as :meth:`NFA.legal_next_mask` on the trimmed flattening
        (the oracle for scoring a language model's next-token choices)."""
        return self.flatten(max_states).trim().legal_next_mask(tokens, lengths)

    def labels(self, tokens: np.ndarray, lengths: np.ndarray | None = None) -> Any:
        """Per-token labels: segment index, intra position, inner and outer state sets.

        Returns a :class:`~bipe.automata.bisimulate.BiLabels`; see there for the conventions.
        """
        from bipe.automata.bisimulate import labels

        return labels(self, tokens, lengths)


def automaton_from_dict(data: Mapping[str, Any], n_symbols: int | None = None) -> NFA | BiNFA:
    """An :class:`NFA` or :class:`BiNFA` from its dict, by ``kind`` (absent means NFA).

    ``n_symbols`` fills an NFA dict's missing ``n_symbols``.
    """
    if not isinstance(data, Mapping):
        raise ValueError(f"automaton dict must be a mapping, got {type(data).__name__}")
    if data.get("kind") == "binfa":
        return BiNFA.from_dict(data)
    if n_symbols is not None and "n_symbols" not in data:
        data = {"n_symbols": n_symbols, **data}
    return NFA.from_dict(data)
