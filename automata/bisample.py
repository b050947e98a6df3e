"""The one sampler of automaton members: words of an NFA, sequences of a (multi-level) Bi-NFA.

:class:`MemberSampler` draws under finite length laws (:class:`LengthLaw`, one per level,
outermost count first, innermost segment length last: ``(segment_count, segment_length)`` for 2
levels, ``(paragraph_count, sentence_count, sentence_length)`` for 3; a plain NFA takes one law,
its word length). Per sequence of a 2-level automaton:

1. the segment count S is drawn from the first law;
2. the type sequence is drawn **uniformly among the outer automaton's accepted type sequences of
   length S** (:class:`~bipe.automata.counting.WordSampler` on the outer automaton);
3. each segment's length is drawn from the innermost law and its content uniformly among the
   accepted words of that length of its type's inner automaton (every segment of one type in one
   vectorised call);
4. the segments are laid out, each closed by the separator.

A nested (Bi-NFA) type recurses: its segments are whole lower-level sequences drawn the same way
with the remaining laws. Draws are **conditioned on feasibility**, so every sequence is in the
language: a segment length is drawn from the law restricted to the lengths its type accepts, a
type is usable only if some length in the law's support works for it, and S is drawn from the
count law restricted to the lengths of outer words over usable types (exact conditional laws, by
inverse transform on the support, never by retrying). When nothing is feasible,
:meth:`MemberSampler.build` raises ``ValueError`` saying what cannot be met. The sequence law is
therefore "uniform type sequence given S, uniform segment given (type, length)", not uniform over
all accepted token sequences of a given length.

The result is ragged (:class:`Ragged`: all sequences concatenated, with boundary marks and the
type of every unit); :mod:`bipe.synthetic.sequence_sampling` wraps it with length-spec laws,
position streams and state labels (what ``bipe gen`` and the tasks use).

Worked example: with counts fixed at 2 and lengths at 1 over the module example of
:mod:`bipe.automata.binfa`, every row is ``0 2 1 2``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bipe.automata.binfa import BiNFA
from bipe.automata.generate import missing_lengths
from bipe.automata.nfa import NFA

__all__ = ["LengthLaw", "MemberSampler", "Ragged"]


@dataclass(frozen=True, kw_only=True, eq=False)
class LengthLaw:
    """A finite law on lengths: ``values`` (V,) int64 ascending with ``probs`` (V,) summing to
    1; ``label`` names it in error messages (e.g. its length spec)."""

    values: np.ndarray
    probs: np.ndarray
    label: str = ""

    def __post_init__(self) -> None:
        if np.shape(self.values) != np.shape(self.probs) or np.ndim(self.values) != 1:
            raise ValueError(
                f"length law {self.label!r}: values and probs must be 1-d arrays of one shape"
            )

    def __str__(self) -> str:
        return self.label or f"law on {np.asarray(self.values).tolist()}"

    @classmethod
    def uniform(cls, lo: int, hi: int) -> LengthLaw:
        """The uniform law on ``lo..hi`` inclusive, labelled ``uniform:lo:hi``."""
        values = np.arange(lo, hi + 1, dtype=np.int64)
        return cls(
            values=values,
            probs=np.full(len(values), 1 / max(len(values), 1)),
            label=f"uniform:{lo}:{hi}",
        )


def _conditional(law: LengthLaw, ok: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(values, cdf)`` of the law restricted to ``ok`` (assumed non-empty)."""
    kept = law.probs * ok
    cdf = np.cumsum(kept) / kept.sum()
    cdf[-1] = 1.0
    return law.values, cdf


def _draw(rng: np.random.Generator, law: tuple[np.ndarray, np.ndarray], n: int) -> np.ndarray:
    values, cdf = law
    return values[np.searchsorted(cdf, rng.random(n), side="right").clip(0, len(values) - 1)]


def _feasible(nfa: NFA, values: np.ndarray) -> np.ndarray:
    """(len(values),) bool: whether ``nfa`` accepts some word of each length."""
    missing = set(missing_lengths(nfa, values.tolist()))
    return np.array([int(v) not in missing for v in values], dtype=bool)


@dataclass(frozen=True, kw_only=True, eq=False)
class _Plan:
    """What sampling an automaton needs, built once: the conditional length (or count) law, a
    word sampler (inner NFA, or the outer automaton restricted to usable types) and, for a
    Bi-NFA, one sub-plan per type (``None`` for a type no allowed length can realise)."""

    law: tuple[np.ndarray, np.ndarray]
    sampler: Any
    separator: int | None = None
    levels: int = 1
    subs: tuple[_Plan | None, ...] = ()


def _plan(automaton: NFA | BiNFA, laws: Sequence[LengthLaw], why: list[str]) -> _Plan | None:
    """A plan, or ``None`` (appending the reason to ``why``) when no word can be drawn."""
    if isinstance(automaton, NFA):
        ok = _feasible(automaton, laws[-1].values)
        if not ok.any():
            return None
        return _Plan(
            law=_conditional(laws[-1], ok),
            sampler=automaton.sampler(int(laws[-1].values[ok].max())),
        )
    subs = tuple(
        _plan(inner, laws[-inner.levels :] if isinstance(inner, BiNFA) else laws[-1:], why)
        for inner in automaton.inner
    )  # a type takes the innermost laws
    usable = np.array([s is not None for s in subs])
    plain = [k for k, s in enumerate(subs) if s is None and isinstance(automaton.inner[k], NFA)]
    if plain:
        why.append(f"segment types {plain} accept no word with a length in {laws[-1]}")
    outer = automaton.outer
    restricted = NFA(
        n_states=outer.n_states,
        n_symbols=outer.n_symbols,
        start=outer.start,
        accept=outer.accept,
        delta=outer.delta & usable[:, None, None],
    )
    ok = _feasible(restricted, laws[0].values)
    if not ok.any():
        kinds = np.flatnonzero(usable).tolist()
        why.append(
            f"the outer automaton has no word over the usable types {kinds} with a "
            f"length in {laws[0]}"
        )
        return None
    return _Plan(
        law=_conditional(laws[0], ok),
        sampler=restricted.sampler(int(laws[0].values[ok].max())),
        separator=automaton.separator,
        levels=automaton.levels,
        subs=subs,
    )


@dataclass(frozen=True, kw_only=True, eq=False)
class Ragged:
    """``n`` words concatenated: ``tokens`` (M,), ``lengths`` (n,), ``marks`` (levels-1, M)
    boundary marks innermost first (true on a unit's last token), ``units`` per level
    ``(types, starts)`` innermost first (each unit's type and global first token)."""

    tokens: np.ndarray
    lengths: np.ndarray
    marks: np.ndarray
    units: tuple[tuple[np.ndarray, np.ndarray], ...]


def _padded_to_flat(words: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    return words[np.arange(words.shape[1])[None, :] < lengths[:, None]]  # (M,) row-major


def _sample(rng: np.random.Generator, plan: _Plan, n: int) -> Ragged:
    """``n`` words of the plan's automaton (no trailing separator of a parent)."""
    sizes = _draw(rng, plan.law, n)  # (n,) lengths, or unit counts for a Bi-NFA
    words, _ = plan.sampler.sample_lengths(rng, sizes)  # (n, max) words (types for a Bi-NFA)
    flat = _padded_to_flat(words, sizes)  # (U,)
    if plan.separator is None:
        return Ragged(
            tokens=flat, lengths=sizes, marks=np.zeros((0, len(flat)), dtype=bool), units=()
        )
    return _assemble(rng, plan, flat, sizes)


def _lower_units(lower: list[list[tuple[np.ndarray, np.ndarray]]]) -> list:
    """Per lower level, the drawn units' ``(types, starts)`` merged in start order."""
    units = []
    for pieces in lower:
        level_types = np.concatenate([p[0] for p in pieces]) if pieces else np.zeros(0, np.int64)
        level_starts = np.concatenate([p[1] for p in pieces]) if pieces else np.zeros(0, np.int64)
        order = np.argsort(level_starts, kind="stable")
        units.append((level_types[order], level_starts[order]))
    return units


def _assemble(
    rng: np.random.Generator, plan: _Plan, types: np.ndarray, counts: np.ndarray
) -> Ragged:
    """Draw every unit's content (grouped by type) and lay the units out, each + separator."""
    content = np.zeros(len(types), dtype=np.int64)  # (U,) content tokens per unit
    drawn = []
    for k, sub_plan in enumerate(plan.subs):
        idx = np.flatnonzero(types == k)  # (U_k,) units of type k, in order
        if idx.size:
            sub = _sample(rng, sub_plan, idx.size)  # type: ignore[arg-type]
            content[idx] = sub.lengths
            drawn.append((idx, sub))
    starts = np.cumsum(content + 1) - (content + 1)  # (U,) first token of each unit
    ends = starts + content  # (U,) position of each unit's separator
    total = int((content + 1).sum())
    tokens = np.empty(total, dtype=np.int64)
    tokens[ends] = plan.separator  # type: ignore[assignment]
    marks = np.zeros((plan.levels - 1, total), dtype=bool)
    marks[:, ends] = True  # this level's separator closes a unit at every level
    lower: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in range(plan.levels - 2)]
    for idx, sub in drawn:
        within = np.arange(len(sub.tokens)) - np.repeat(
            np.cumsum(sub.lengths) - sub.lengths, sub.lengths
        )  # (M_k,)
        dest = np.repeat(starts[idx], sub.lengths) + within  # (M_k,) global positions
        tokens[dest] = sub.tokens
        marks[: len(sub.marks), dest] |= sub.marks
        for level, (sub_types, sub_starts) in enumerate(sub.units):
            lower[level].append((sub_types, dest[sub_starts]))
    units = [*_lower_units(lower), (types, starts)]
    rows = np.repeat(np.arange(len(counts)), counts)  # (U,) row of each unit
    lengths = np.bincount(rows, weights=content + 1, minlength=len(counts)).astype(np.int64)
    return Ragged(tokens=tokens, lengths=lengths, marks=marks, units=tuple(units))


@dataclass(frozen=True, kw_only=True, eq=False)
class MemberSampler:
    """Tables for drawing members of one NFA or (multi-level) Bi-NFA under given length laws,
    built and validated once (immutable; :meth:`sample` may be called many times)."""

    automaton: NFA | BiNFA
    laws: tuple[LengthLaw, ...]
    plan: _Plan

    @classmethod
    def build(cls, automaton: NFA | BiNFA, laws: Sequence[LengthLaw]) -> MemberSampler:
        """Validate and tabulate; ``ValueError`` says why no member can be drawn."""
        if not isinstance(automaton, NFA | BiNFA):
            raise ValueError(f"expected an NFA or a BiNFA, got {type(automaton).__name__}")
        levels = automaton.levels if isinstance(automaton, BiNFA) else 1
        if len(laws) != levels:
            what = (
                f"a {levels}-level automaton needs {levels} length distributions (outermost first)"
                if levels > 1
                else "an NFA needs one length distribution"
            )
            raise ValueError(f"{what}, got {len(laws)}")
        why: list[str] = []
        plan = _plan(automaton, laws, why)
        if plan is None and levels == 1:
            raise ValueError(f"the automaton accepts no word with a length in {laws[0]}")
        if plan is None:
            raise ValueError("no sequence satisfies the length settings: " + "; ".join(why))
        return cls(automaton=automaton, laws=tuple(laws), plan=plan)

    def sample(self, rng: np.random.Generator, n: int) -> Ragged:
        """``n`` members, concatenated (see the module docstring)."""
        if not isinstance(n, int | np.integer) or n < 0:
            raise ValueError(f"number of sequences must be a non-negative int, got {n!r}")
        return _sample(rng, self.plan, int(n))
