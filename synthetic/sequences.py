"""Bi-NFA, flat NFA and 3-level token sequences with their true position streams.

**Bi-NFA sequences** (:func:`sample_binfa_sequences`). A sequence is ``w_1 # w_2 # ... w_S #``
(BIPE.md section 4). Per sequence: draw the segment count S from its distribution; draw the
segment types ``t_1..t_S`` uniformly among the outer automaton's words of length S; draw each
segment's length from the segment-length distribution (content tokens, not counting the
separator) and its content uniformly among type ``t_i``'s words of that length. Draws are
conditioned on feasibility, so every sequence is in the language: a segment length is drawn from
the length distribution restricted to the lengths its type accepts, a type is usable only if some
length in the distribution's support works for it, and S is drawn from the count distribution
restricted to the lengths of outer words over usable types (exact conditional laws, by inverse
transform on the support, never by retrying). When nothing is feasible the call raises
``ValueError`` saying what cannot be met; a non-member is never emitted. Unbounded distributions
(``geometric:P`` without HI, ``poisson:LAM``) are cut where the remaining tail mass is below
1e-15. Sampling is vectorised: one :class:`~bipe.automata.WordSampler` pass per segment type
draws every segment of that type at once (rows of different lengths together), and one pass draws
all type sequences.

**3-level sequences**: the same recursion one level deeper (a paragraph type is itself a
Bi-NFA): distributions ``[paragraphs per sequence, sentences per paragraph, tokens per
sentence]``; sentences end in ``#`` (= A) and each paragraph's last ``#`` is followed by ``$`` (=
A + 1). **Flat NFA sequences** (:func:`sample_nfa_sequences`): uniform words of a drawn total
length from an ordinary NFA (e.g. ``binfa.flatten()``), for baselines.

Labels. Position streams follow BIPE.md section 1 with one stream per level (innermost first, see
:func:`bipe.synthetic.segment.multilevel_positions`: a ``$`` closes a paragraph and, being right
after a ``#``, forms a one-token innermost unit of its own). For 2-level data also, per token:
``inner_state`` -- the state of the segment's own inner automaton (its type is known) after the
segment's content up to this token (at the separator: after the whole segment); ``outer_state`` --
the outer state after the types of the segments closed so far (it changes right at each
separator, as in :class:`bipe.automata.bisimulate.BiLabels`); each ``-1`` where the state set is
not a single state. ``types`` lists each segment's type.

Worked example (A = 2 symbols, separator 2; type 0 accepts ``0+``, type 1 accepts exactly ``1``;
the outer automaton wants type 0 then any number of type 1): with 3 segments of lengths drawn as
2, 1, 1 the only sequence is::

    tokens      : 0  0  2  1  2  1  2
    seg         : 0  0  0  1  1  2  2
    intra       : 0  1  2  0  1  0  1
    types       : [0, 1, 1]
"""

from __future__ import annotations

import functools
import json
import math
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from bipe.automata import NFA, BiNFA, missing_lengths, random_binfa
from bipe.synthetic.distributions import LengthDist, parse_length_spec
from bipe.synthetic.segment import multilevel_positions

__all__ = [
    "KINDS",
    "BinfaSequenceSampler",
    "NfaSequenceSampler",
    "SequenceBatch",
    "SequenceConfig",
    "batch_records",
    "build_automaton",
    "generate_dataset",
    "load_automaton",
    "sample_binfa_sequences",
    "sample_nfa_sequences",
    "verify_record",
]

_TAIL = 1e-15  # unbounded distributions are cut where the tail mass drops below this


# ---------------------------------------------------------------------------- distributions


def effective_support(dist: LengthDist) -> tuple[np.ndarray, np.ndarray]:
    """``(values, probs)`` of ``dist``; unbounded ones cut where the tail is below 1e-15."""
    if dist.hi is not None:
        return dist.support()
    p = getattr(dist, "p", None)
    if p is not None:  # geometric: tail beyond lo + m has mass (1 - p) ** (m + 1)
        span = 0 if p >= 1 else math.ceil(math.log(_TAIL) / math.log1p(-p))
        return type(dist)(p=p, lo=dist.lo, hi=dist.lo + span).support()
    return dist.support()  # poisson cuts its own tail


def _conditional(values: np.ndarray, probs: np.ndarray, ok: np.ndarray) -> tuple:
    """``(values, cdf)`` of the law restricted to ``ok`` (assumed non-empty)."""
    kept = probs * ok
    cdf = np.cumsum(kept) / kept.sum()
    cdf[-1] = 1.0
    return values, cdf


def _draw(rng: np.random.Generator, law: tuple[np.ndarray, np.ndarray], n: int) -> np.ndarray:
    values, cdf = law
    return values[np.searchsorted(cdf, rng.random(n), side="right").clip(0, len(values) - 1)]


def _feasible(nfa: NFA, values: np.ndarray) -> np.ndarray:
    """(len(values),) bool: whether ``nfa`` accepts some word of each length."""
    missing = set(missing_lengths(nfa, values.tolist()))
    return np.array([int(v) not in missing for v in values], dtype=bool)


# ---------------------------------------------------------------------------- plans


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


def _plan(automaton: NFA | BiNFA, dists: Sequence[LengthDist], why: list[str]) -> _Plan | None:
    """A plan, or ``None`` (appending the reason to ``why``) when no word can be drawn."""
    if isinstance(automaton, NFA):
        values, probs = effective_support(dists[-1])
        ok = _feasible(automaton, values)
        if not ok.any():
            return None
        return _Plan(law=_conditional(values, probs, ok),
                     sampler=automaton.sampler(int(values[ok].max())))
    if len(dists) < 2:
        raise ValueError(f"a {automaton.levels}-level automaton needs "
                         f"{automaton.levels} length distributions")
    subs = tuple(_plan(inner, dists[-inner.levels:] if isinstance(inner, BiNFA) else dists[-1:],
                       why) for inner in automaton.inner)  # a type takes the innermost laws
    usable = np.array([s is not None for s in subs])
    plain = [k for k, s in enumerate(subs) if s is None and isinstance(automaton.inner[k], NFA)]
    if plain:
        why.append(f"segment types {plain} accept no word with a length in {dists[-1]}")
    outer = automaton.outer
    restricted = NFA(n_states=outer.n_states, n_symbols=outer.n_symbols, start=outer.start,
                     accept=outer.accept, delta=outer.delta & usable[:, None, None])
    values, probs = effective_support(dists[0])
    ok = _feasible(restricted, values)
    if not ok.any():
        kinds = np.flatnonzero(usable).tolist()
        why.append(f"the outer automaton has no word over the usable types {kinds} with a "
                   f"length in {dists[0]}")
        return None
    sampler = restricted.sampler(int(values[ok].max()))
    return _Plan(law=_conditional(values, probs, ok), sampler=sampler,
                 separator=automaton.separator, levels=automaton.levels, subs=subs)


# ---------------------------------------------------------------------------- ragged sampling


@dataclass(frozen=True, kw_only=True, eq=False)
class _Ragged:
    """``n`` words concatenated: ``tokens`` (M,), ``lengths`` (n,), ``marks`` (levels-1, M)
    boundary marks innermost first, ``units`` per level ``(types, starts)`` innermost first."""

    tokens: np.ndarray
    lengths: np.ndarray
    marks: np.ndarray
    units: tuple[tuple[np.ndarray, np.ndarray], ...]


def _padded_to_flat(words: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    return words[np.arange(words.shape[1])[None, :] < lengths[:, None]]  # (M,) row-major


def _sample(rng: np.random.Generator, plan: _Plan, n: int) -> _Ragged:
    """``n`` words of the plan's automaton (no trailing separator of a parent)."""
    sizes = _draw(rng, plan.law, n)  # (n,) lengths, or unit counts for a Bi-NFA
    words, _ = plan.sampler.sample_lengths(rng, sizes)  # (n, max) words (types for a Bi-NFA)
    flat = _padded_to_flat(words, sizes)  # (U,)
    if plan.separator is None:
        return _Ragged(tokens=flat, lengths=sizes, marks=np.zeros((0, len(flat)), dtype=bool),
                       units=())
    return _assemble(rng, plan, flat, sizes)


def _assemble(rng: np.random.Generator, plan: _Plan, types: np.ndarray,
              counts: np.ndarray) -> _Ragged:
    """Draw every unit's content (grouped by type) and lay the units out, each + separator."""
    n_units = len(types)
    content = np.zeros(n_units, dtype=np.int64)  # (U,) content tokens per unit
    drawn = []
    for k, sub_plan in enumerate(plan.subs):
        idx = np.flatnonzero(types == k)  # (U_k,) units of type k, in order
        if idx.size:
            sub = _sample(rng, sub_plan, idx.size)
            content[idx] = sub.lengths
            drawn.append((idx, sub))
    starts = np.cumsum(content + 1) - (content + 1)  # (U,) first token of each unit
    ends = starts + content  # (U,) position of each unit's separator
    total = int((content + 1).sum())
    tokens = np.empty(total, dtype=np.int64)
    tokens[ends] = plan.separator
    marks = np.zeros((plan.levels - 1, total), dtype=bool)
    marks[:, ends] = True  # this level's separator closes a unit at every level
    lower: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in range(plan.levels - 2)]
    for idx, sub in drawn:
        within = np.arange(len(sub.tokens)) - np.repeat(np.cumsum(sub.lengths) - sub.lengths,
                                                        sub.lengths)  # (M_k,)
        dest = np.repeat(starts[idx], sub.lengths) + within  # (M_k,) global positions
        tokens[dest] = sub.tokens
        marks[: len(sub.marks), dest] |= sub.marks
        for level, (sub_types, sub_starts) in enumerate(sub.units):
            lower[level].append((sub_types, dest[sub_starts]))
    units = []
    for pieces in lower:
        level_types = np.concatenate([p[0] for p in pieces]) if pieces else np.zeros(0, np.int64)
        level_starts = np.concatenate([p[1] for p in pieces]) if pieces else np.zeros(0, np.int64)
        order = np.argsort(level_starts, kind="stable")
        units.append((level_types[order], level_starts[order]))
    units.append((types, starts))
    rows = np.repeat(np.arange(len(counts)), counts)  # (U,) row of each unit
    lengths = np.bincount(rows, weights=content + 1, minlength=len(counts)).astype(np.int64)
    return _Ragged(tokens=tokens, lengths=lengths, marks=marks, units=tuple(units))


# ---------------------------------------------------------------------------- batches


@dataclass(frozen=True, kw_only=True, eq=False)
class SequenceBatch:
    """Generated sequences, concatenated.

    Fields: ``tokens`` (M,) int64; ``offsets`` (N+1,) row boundaries; ``marks`` (L, M) bool
    boundary marks per level, innermost first (true on a unit's last token); ``types`` per
    level (innermost first) the type of each generated unit in order, with ``type_offsets``
    (N+1,) per level; ``inner_state``/``outer_state`` (M,) int64 for 2-level data, else None.
    """

    tokens: np.ndarray
    offsets: np.ndarray
    marks: np.ndarray
    types: tuple[np.ndarray, ...] = ()
    type_offsets: tuple[np.ndarray, ...] = ()
    inner_state: np.ndarray | None = None
    outer_state: np.ndarray | None = None

    @property
    def n(self) -> int:
        """Number of sequences."""
        return len(self.offsets) - 1

    @property
    def lengths(self) -> np.ndarray:
        """(N,) tokens per sequence."""
        return np.diff(self.offsets)

    def padded(self, pad: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(tokens (N, T), lengths (N,), marks (L, N, T))`` padded with ``pad`` / False."""
        lengths = self.lengths
        width = int(lengths.max(initial=0))
        valid = np.arange(width)[None, :] < lengths[:, None]  # (N, T)
        tokens = np.full((self.n, width), pad, dtype=np.int64)
        tokens[valid] = self.tokens
        marks = np.zeros((len(self.marks), self.n, width), dtype=bool)
        marks[:, valid] = self.marks
        return tokens, lengths, marks

    def positions(self) -> tuple[np.ndarray, np.ndarray]:
        """``(segs (L, M), intra (M,))``: per-level segment index and innermost intra position,
        restarting at each row (BIPE.md section 1)."""
        m = len(self.tokens)
        lengths = self.lengths
        row_starts = self.offsets[:-1][lengths > 0]  # (N',) first token of each non-empty row
        segs = np.zeros((len(self.marks), m), dtype=np.int64)
        for level, marks in enumerate(self.marks):
            before = np.cumsum(marks, dtype=np.int64) - marks  # (M,) marks before t, all rows
            segs[level] = before - np.repeat(before[row_starts], lengths[lengths > 0])
        new_unit = np.zeros(m, dtype=bool)  # (M,) first token of an innermost unit
        new_unit[row_starts] = True
        if len(self.marks) and m:
            new_unit[1:] |= self.marks[0, :-1]
        starts = np.flatnonzero(new_unit)  # (U',)
        intra = np.arange(m, dtype=np.int64) - np.repeat(starts, np.diff(np.r_[starts, m]))
        return segs, intra


@dataclass(frozen=True, kw_only=True, eq=False)
class BinfaSequenceSampler:
    """Everything needed to draw sequences of one (multi-level) Bi-NFA under given length
    distributions, built and validated once (immutable; :meth:`sample` may be called many
    times, e.g. chunk by chunk)."""

    binfa: BiNFA
    dists: tuple[LengthDist, ...]
    plan: _Plan

    @classmethod
    def build(cls, binfa: BiNFA, dists: Sequence[LengthDist]) -> BinfaSequenceSampler:
        """Validate and tabulate; ``ValueError`` says why no sequence can be drawn."""
        if not isinstance(binfa, BiNFA):
            raise ValueError(f"expected a BiNFA, got {type(binfa).__name__}")
        if len(dists) != binfa.levels:
            raise ValueError(f"a {binfa.levels}-level automaton needs {binfa.levels} length "
                             f"distributions (outermost first), got {len(dists)}")
        why: list[str] = []
        plan = _plan(binfa, dists, why)
        if plan is None:
            raise ValueError("no sequence satisfies the length settings: " + "; ".join(why))
        return cls(binfa=binfa, dists=tuple(dists), plan=plan)

    def sample(self, rng: np.random.Generator, n: int, *,
               state_labels: bool = True) -> SequenceBatch:
        """``n`` sequences (see :func:`sample_binfa_sequences`)."""
        if not isinstance(n, int | np.integer) or n < 0:
            raise ValueError(f"number of sequences must be a non-negative int, got {n!r}")
        plan = self.plan
        counts = _draw(rng, plan.law, int(n))  # (N,) top-level units per sequence
        types, _ = plan.sampler.sample_lengths(rng, counts)  # (N, S_max) type ids
        ragged = _assemble(rng, plan, _padded_to_flat(types, counts), counts)
        offsets = np.concatenate([[0], np.cumsum(ragged.lengths)]).astype(np.int64)
        fields = {
            "tokens": ragged.tokens, "offsets": offsets, "marks": ragged.marks,
            "types": tuple(t for t, _ in ragged.units),
            "type_offsets": tuple(_unit_offsets(starts, offsets) for _, starts in ragged.units),
        }
        if state_labels and self.binfa.levels == 2:
            inner, outer = _state_labels(self.binfa, SequenceBatch(**fields))
            fields.update(inner_state=inner, outer_state=outer)
        return SequenceBatch(**fields)


def sample_binfa_sequences(
    rng: np.random.Generator,
    binfa: BiNFA,
    n: int,
    dists: Sequence[LengthDist],
    *,
    state_labels: bool = True,
) -> SequenceBatch:
    """``n`` sequences of ``binfa`` (see the module docstring).

    ``dists`` has one distribution per level, outermost first: ``[segments per sequence,
    tokens per segment]`` for a Bi-NFA, ``[paragraphs, sentences per paragraph, tokens per
    sentence]`` for a 3-level one. A plain-NFA type at any depth takes its length from the last
    one. ``state_labels`` adds ``inner_state``/``outer_state`` (2-level automata only).
    Build a :class:`BinfaSequenceSampler` once to draw many batches.
    """
    return BinfaSequenceSampler.build(binfa, dists).sample(rng, n, state_labels=state_labels)


def _unit_offsets(starts: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """(N+1,) index of each row's first unit, from the units' global start positions."""
    return np.searchsorted(starts, offsets, side="left").astype(np.int64)


def _singleton(sets: np.ndarray) -> np.ndarray:
    """(..., Q) bool state sets -> (...) int64 state id, or -1 unless exactly one state."""
    return np.where(sets.sum(axis=-1) == 1, sets.argmax(axis=-1), -1).astype(np.int64)


_SUBSET_TABLE_STATES = 16  # up to this many states, step whole state sets by table lookup


def _single_states(nfa: NFA, words: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """(N, T+1) int64: the state after ``words[n, :t]`` when that state set is a single state,
    else -1 (also past ``lengths``).

    For Q <= 16 a state set is an int bitmask and one step is one lookup in a table of the
    successor set of every subset (built by doubling: 2^Q entries per symbol); larger automata
    go through :meth:`NFA.state_sets`.
    """
    q = nfa.n_states
    if q > _SUBSET_TABLE_STATES:
        return _singleton(nfa.state_sets(words, lengths))
    succ = (nfa.delta * (1 << np.arange(q))[None, None, :]).sum(axis=2)  # (A, Q) bitmasks
    table = np.zeros((nfa.n_symbols, 1), dtype=np.int64)  # (A, 2^Q) after the loop
    for state in range(q):
        table = np.concatenate([table, table | succ[:, state:state + 1]], axis=1)
    n, t_len = words.shape
    sets = np.full(n, sum(1 << s for s in nfa.start), dtype=np.int64)  # (N,)
    history = [sets]
    for t in range(t_len):
        live = t < lengths  # (N,)
        sets = np.where(live, table[np.where(live, words[:, t], 0), sets], 0)  # (N,)
        history.append(sets)
    masks = np.stack(history, axis=1)  # (N, T+1)
    single = (masks > 0) & ((masks & (masks - 1)) == 0)
    return np.where(single, np.log2(np.maximum(masks, 1)).astype(np.int64), -1)


def _state_labels(binfa: BiNFA, batch: SequenceBatch) -> tuple[np.ndarray, np.ndarray]:
    """Per-token ``inner_state`` and ``outer_state`` (see the module docstring)."""
    _, intra = batch.positions()  # (M,)
    m, n = len(batch.tokens), batch.n
    types, type_offsets = batch.types[0], batch.type_offsets[0]
    ends = np.flatnonzero(batch.marks[0])  # (U,) each segment's separator, in unit order
    content = intra[ends]  # (U,) content tokens per segment
    starts = ends - content  # (U,)
    inner = np.full(m, -1, dtype=np.int64)
    for k, automaton in enumerate(binfa.inner):
        idx = np.flatnonzero(types == k)  # (U_k,)
        if not idx.size:
            continue
        width = int(content[idx].max())
        valid = np.arange(width)[None, :] < content[idx, None]  # (U_k, W)
        pos = np.where(valid, starts[idx, None] + np.arange(width)[None, :], 0)  # (U_k, W)
        words = np.where(valid, batch.tokens[pos], 0)  # (U_k, W)
        state = _single_states(automaton, words, content[idx])  # (U_k, W + 1)
        inner[pos[valid]] = state[:, 1:][valid]
        inner[ends[idx]] = state[np.arange(idx.size), content[idx]]
    counts = np.diff(type_offsets)  # (N,) segments per row
    width = int(counts.max(initial=0))
    valid = np.arange(width)[None, :] < counts[:, None]  # (N, S)
    padded = np.zeros((n, width), dtype=np.int64)
    padded[valid] = types
    outer_sets = _single_states(binfa.outer, padded, counts)  # (N, S + 1)
    before = outer_sets[:, :-1][valid]  # (U,) state before each segment's type, unit order
    outer = np.repeat(before, content + 1)  # (M,) the segment's tokens see the state before it
    outer[ends] = outer_sets[:, 1:][valid]  # its separator sees the state after it
    return inner, outer


@dataclass(frozen=True, kw_only=True, eq=False)
class NfaSequenceSampler:
    """Tables for drawing words of one NFA under a total-length distribution (immutable)."""

    nfa: NFA
    length: LengthDist
    separators: tuple[int, ...]
    plan: _Plan

    @classmethod
    def build(cls, nfa: NFA, length: LengthDist,
              separators: Sequence[int] = ()) -> NfaSequenceSampler:
        """Validate and tabulate; ``ValueError`` when no length in the support is accepted."""
        if not isinstance(nfa, NFA):
            raise ValueError(f"expected an NFA, got {type(nfa).__name__}")
        plan = _plan(nfa, [length], [])
        if plan is None:
            raise ValueError(f"the automaton accepts no word with a length in {length}")
        return cls(nfa=nfa, length=length, separators=tuple(int(x) for x in separators),
                   plan=plan)

    def sample(self, rng: np.random.Generator, n: int) -> SequenceBatch:
        """``n`` words (see :func:`sample_nfa_sequences`)."""
        if not isinstance(n, int | np.integer) or n < 0:
            raise ValueError(f"number of sequences must be a non-negative int, got {n!r}")
        ragged = _sample(rng, self.plan, int(n))
        seps = list(self.separators)
        marks = np.stack([np.isin(ragged.tokens, seps[level:]) for level in range(len(seps))]) \
            if seps else np.zeros((0, len(ragged.tokens)), dtype=bool)  # (L, M)
        offsets = np.concatenate([[0], np.cumsum(ragged.lengths)]).astype(np.int64)
        return SequenceBatch(tokens=ragged.tokens, offsets=offsets, marks=marks)


def sample_nfa_sequences(
    rng: np.random.Generator,
    nfa: NFA,
    n: int,
    length: LengthDist,
    separators: Sequence[int] = (),
) -> SequenceBatch:
    """``n`` words of ``nfa``, each uniform among the accepted words of a length drawn from
    ``length`` (restricted to lengths the automaton accepts). ``separators`` (innermost first)
    define the boundary marks (a level-l separator closes units at levels 0..l)."""
    return NfaSequenceSampler.build(nfa, length, separators).sample(rng, n)


# ---------------------------------------------------------------------------- datasets

KINDS = ("binfa", "nfa", "binfa3")
_CHUNK = 4096  # sequences drawn per call when generating a dataset (fixed: same seed, same data)


@dataclass(frozen=True, kw_only=True)
class SequenceConfig:
    """A Bi-NFA / flat NFA / 3-level dataset: the random automaton and the length laws.

    ``kind`` is ``binfa`` (2 levels), ``nfa`` (words of the flattened 2-level automaton, total
    length from ``length``) or ``binfa3`` (3 levels: ``segments`` paragraphs per sequence,
    ``sub_segments`` sentences per paragraph, ``segment_length`` tokens per sentence). Automaton
    fields are ``random_binfa``'s (``inner_states`` states per type, ``outer_states`` outer
    states, ``out_degree`` edges per state; every length in the supports is made realisable).
    ``automaton_file`` records that the automaton was loaded instead (the automaton fields are
    then not used). Specs follow :mod:`bipe.synthetic.distributions`.
    """

    kind: str = "binfa"
    n: int = 1000
    n_symbols: int = 4
    n_types: int = 3
    inner_states: int = 4
    outer_states: int = 3
    out_degree: int = 2
    deterministic: bool = False
    segments: str = "uniform:4:8"
    segment_length: str = "uniform:1:6"
    sub_segments: str = "uniform:2:4"
    length: str = "uniform:16:64"
    automaton_file: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown sequence kind {self.kind!r}; known: {', '.join(KINDS)}")
        for name in ("n_symbols", "n_types", "inner_states", "outer_states", "out_degree"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if not isinstance(self.n, int) or isinstance(self.n, bool) or self.n < 0:
            raise ValueError(f"n must be a non-negative int, got {self.n!r}")
        for name in self.spec_fields():
            parse_length_spec(getattr(self, name))  # raises naming the spec and the grammar

    def spec_fields(self) -> tuple[str, ...]:
        """The length-spec fields this kind uses (``length`` for nfa, ...)."""
        return {"binfa": ("segments", "segment_length"),
                "nfa": ("segments", "segment_length", "length"),
                "binfa3": ("segments", "sub_segments", "segment_length")}[self.kind]

    def dists(self) -> list[LengthDist]:
        """The per-level laws, outermost first (for ``nfa``: those of the automaton)."""
        names = ("segments", "sub_segments", "segment_length") if self.kind == "binfa3" \
            else ("segments", "segment_length")
        return [parse_length_spec(getattr(self, name)) for name in names]

    def to_dict(self) -> dict[str, Any]:
        """The resolved config (specs in canonical form; only the fields this kind uses)."""
        structure = ("n_symbols", "n_types", "inner_states", "outer_states", "out_degree",
                     "deterministic") if self.automaton_file is None else ("automaton_file",)
        keep = ("kind", "n", *structure, *self.spec_fields())
        out = {name: getattr(self, name) for name in keep}
        for name in self.spec_fields():
            out[name] = str(parse_length_spec(out[name]))
        return out


def _support_values(dist: LengthDist) -> list[int]:
    return [int(v) for v in effective_support(dist)[0]]


def build_automaton(rng: np.random.Generator, config: SequenceConfig) -> BiNFA:
    """A random Bi-NFA (3 levels for ``binfa3``) realising every length the specs allow."""
    dists = config.dists()
    counts = sorted(set(_support_values(dists[0])) | (
        set(_support_values(dists[1])) if config.kind == "binfa3" else set()))
    return random_binfa(
        rng, config.n_symbols, config.n_types, config.inner_states, config.outer_states,
        out_degree=config.out_degree, deterministic=config.deterministic,
        segment_lengths=[v for v in _support_values(dists[-1]) if v > 0],
        segment_counts=counts, levels=3 if config.kind == "binfa3" else 2,
    )


def load_automaton(path: str | os.PathLike) -> BiNFA:
    """A Bi-NFA from a JSON file: a dataset's ``meta.json`` (its ``automaton``), a dataset
    folder, or a bare automaton dict (:meth:`BiNFA.to_dict`)."""
    path = Path(path)
    if path.is_dir():
        path = path / "meta.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err.msg})") from None
    if isinstance(data, dict) and "automaton" in data:
        data = data["automaton"]
    if not isinstance(data, dict) or data.get("kind") != "binfa":
        raise ValueError(f"{path}: holds no Bi-NFA (expected a meta.json with an 'automaton' "
                         f"or a dict with kind 'binfa')")
    try:
        return BiNFA.from_dict(data)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None


def vocab(binfa: BiNFA) -> list[str]:
    """Token strings, index = id: letters (or ``s<i>``) for symbols, then ``#``, ``$``, ..."""
    a = binfa.n_symbols
    symbols = [chr(ord("a") + i) for i in range(a)] if a <= 26 else [f"s{i}" for i in range(a)]
    marks = ["#", "$", "%", "&"]
    seps = [marks[i] if i < len(marks) else f"<sep{i}>" for i in range(len(binfa.separators))]
    return symbols + seps


def batch_records(batch: SequenceBatch, kind: str) -> list[dict[str, Any]]:
    """One dict per sequence: ``tokens``, ``seg`` (``seg2`` for the second level), ``intra``;
    ``types`` (``types2``), and ``inner_state``/``outer_state`` when the batch has them.
    Values are int64 array views (``write_dataset`` serialises arrays fastest)."""
    segs, intra = batch.positions()
    columns: dict[str, tuple[np.ndarray, np.ndarray]] = {"tokens": (batch.tokens, batch.offsets)}
    for level in range(len(segs)):
        columns["seg" if level == 0 else f"seg{level + 1}"] = (segs[level], batch.offsets)
    columns["intra"] = (intra, batch.offsets)
    if kind != "nfa":
        for level, (types, offsets) in enumerate(zip(batch.types, batch.type_offsets,
                                                     strict=True)):
            columns["types" if level == 0 else f"types{level + 1}"] = (types, offsets)
    if batch.inner_state is not None:
        columns["inner_state"] = (batch.inner_state, batch.offsets)
        columns["outer_state"] = (batch.outer_state, batch.offsets)
    return [{name: values[offsets[i]:offsets[i + 1]] for name, (values, offsets)
             in columns.items()} for i in range(batch.n)]


def _sampler(config: SequenceConfig, binfa: BiNFA) -> Any:
    if config.kind == "binfa3" and binfa.levels != 3:
        raise ValueError(f"bipe gen binfa3 needs a 3-level automaton, got {binfa.levels} levels")
    if config.kind == "binfa" and binfa.levels != 2:
        raise ValueError(f"bipe gen binfa needs a 2-level automaton, got {binfa.levels} levels "
                         f"(use binfa3 for 3 levels)")
    if config.kind == "nfa":
        return NfaSequenceSampler.build(binfa.flatten(), parse_length_spec(config.length),
                                        binfa.separators)
    return BinfaSequenceSampler.build(binfa, config.dists())


def generate_dataset(
    config: SequenceConfig,
    seed: int,
    *,
    automaton: BiNFA | None = None,
    progress: bool = False,
) -> tuple[Iterator[dict[str, Any]], dict[str, Any]]:
    """``(records, meta)`` for :func:`bipe.synthetic.dataset.write_dataset`.

    Independent streams come from ``SeedSequence(seed).spawn(2)``: one draws the random
    automaton (unused when ``automaton`` is given, so a reused automaton and the same seed give
    the same data), the other the sequences, chunk by chunk. Every setting is validated here,
    before any record is drawn; ``records`` is a lazy iterator (memory stays bounded) and
    ``progress`` shows a tqdm bar on a terminal for large ``n``.
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    automaton_seq, data_seq = np.random.SeedSequence(seed).spawn(2)
    binfa = automaton if automaton is not None \
        else build_automaton(np.random.default_rng(automaton_seq), config)
    sampler = _sampler(config, binfa)
    meta = {
        "generator": config.kind, "config": config.to_dict(), "seed": seed,
        "vocab": vocab(binfa), "separators": list(binfa.separators),
        "levels": binfa.levels, "automaton": binfa.to_dict(),
    }

    def records() -> Iterator[dict[str, Any]]:
        rng = np.random.default_rng(data_seq)
        show = progress and config.n >= 8 * _CHUNK and sys.stderr.isatty()
        with tqdm(total=config.n, disable=not show, unit="seq", desc=f"gen {config.kind}",
                  file=sys.stderr) as bar:
            for start in range(0, config.n, _CHUNK):
                batch = sampler.sample(rng, min(_CHUNK, config.n - start))
                yield from batch_records(batch, config.kind)
                bar.update(batch.n)

    return records(), meta


# ---------------------------------------------------------------------------- verification


@dataclass(frozen=True, kw_only=True, eq=False)
class _BitNFA:
    """An NFA as Python-int bitsets, for checking one short word at a time quickly."""

    start: int
    accept: int
    succ: tuple[tuple[int, ...], ...]  # succ[a][q] = successor set of (q, a)

    @classmethod
    def of(cls, nfa: NFA) -> _BitNFA:
        weights = [1 << r for r in range(nfa.n_states)]
        succ = tuple(tuple(sum(w for w, on in zip(weights, row, strict=True) if on)
                           for row in nfa.delta[a]) for a in range(nfa.n_symbols))
        return cls(start=sum(1 << q for q in nfa.start), accept=sum(1 << q for q in nfa.accept),
                   succ=succ)

    def accepts(self, word: Sequence[int]) -> bool:
        states = self.start
        for a in word:
            if not 0 <= a < len(self.succ):
                return False
            row, nxt = self.succ[a], 0
            while states:
                low = states & -states
                nxt |= row[low.bit_length() - 1]
                states ^= low
            states = nxt
            if not states:
                return False
        return bool(states & self.accept)


@dataclass(frozen=True, kw_only=True, eq=False)
class _Checker:
    binfa: BiNFA
    flat: _BitNFA
    outer: _BitNFA
    inner: tuple[_BitNFA | None, ...]


@functools.lru_cache(maxsize=8)
def _parsed(automaton_json: str) -> _Checker:
    """A meta's Bi-NFA with bitset forms of its flattening, outer and (NFA) inner automata,
    parsed once per distinct automaton."""
    binfa = BiNFA.from_dict(json.loads(automaton_json))
    return _Checker(binfa=binfa, flat=_BitNFA.of(binfa.flatten()),
                    outer=_BitNFA.of(binfa.outer),
                    inner=tuple(_BitNFA.of(x) if isinstance(x, NFA) else None
                                for x in binfa.inner))


def _int_list(record: Mapping[str, Any], key: str) -> list[int] | str:
    value = record.get(key)
    if not isinstance(value, list) or not all(
            isinstance(x, int) and not isinstance(x, bool) for x in value):
        return f"field {key!r} must be a list of ints"
    return value


def _within(dist_spec: str, values: np.ndarray, what: str) -> str | None:
    dist = parse_length_spec(dist_spec)
    bad = values[(values < dist.lo) | ((values > dist.hi) if dist.hi is not None else False)]
    return f"{what} {int(bad[0])} outside {dist}" if bad.size else None


def verify_record(record: Mapping[str, Any], meta: Mapping[str, Any]) -> str | None:
    """Why a ``binfa``/``nfa``/``binfa3`` record is invalid, or ``None`` if it is valid.

    Checks: fields are int lists of equal length; tokens lie in the vocabulary; the Bi-NFA's
    reference simulator (and for ``nfa`` the flattened automaton) accepts the tokens; the
    position streams equal :func:`~bipe.synthetic.segment.multilevel_positions`; counts and
    lengths respect the config's specs; ``types`` give an outer word whose types accept the
    segments; ``inner_state``/``outer_state`` are states of the right automata.
    """
    kind = meta.get("generator")
    if kind not in KINDS:
        return f"generator {kind!r} is not one of {', '.join(KINDS)}"
    try:
        checker = _parsed(json.dumps(meta["automaton"], sort_keys=True))
    except (KeyError, ValueError, TypeError) as err:
        return f"meta has no valid automaton ({err})"
    binfa = checker.binfa
    tokens = _int_list(record, "tokens")
    if isinstance(tokens, str):
        return tokens
    stream_names = ["seg"] + [f"seg{level + 1}" for level in range(1, binfa.levels - 1)]
    for key in [*stream_names, "intra"]:
        values = _int_list(record, key)
        if isinstance(values, str):
            return values
        if len(values) != len(tokens):
            return f"{key} has {len(values)} entries, tokens have {len(tokens)}"
    row = np.asarray(tokens, dtype=np.int64)
    if row.size and (row.min() < 0 or row.max() >= binfa.vocab_size):
        return f"token ids must lie in 0..{binfa.vocab_size - 1}"
    if not checker.flat.accepts(tokens):  # the flattening has the Bi-NFA's language
        return "tokens are not in the automaton's language"
    levels = [[s] for s in binfa.separators]
    segs, intra = multilevel_positions(row, levels)
    for level, key in enumerate(stream_names):
        if record[key] != segs[level].tolist():
            return f"{key} differs from the separator positions (BIPE.md section 1)"
    if record["intra"] != intra.tolist():
        return "intra differs from the separator positions (BIPE.md section 1)"
    return _check_specs(record, meta, checker, row)


def _check_specs(record: Mapping[str, Any], meta: Mapping[str, Any], checker: _Checker,
                 row: np.ndarray) -> str | None:
    """Counts/lengths against the config; types and states against the automata."""
    config = meta.get("config", {})
    kind, binfa = meta["generator"], checker.binfa
    if kind == "nfa":
        return _within(config.get("length", "uniform:0:1000000000"), np.array([len(row)]),
                       "length")
    top = np.flatnonzero(row == binfa.separator)
    ends = np.flatnonzero(row >= binfa.n_symbols)  # every separator closes an innermost unit
    content = (np.diff(np.r_[-1, ends]) - 1)[row[ends] == binfa.n_symbols]  # sentences only
    if kind == "binfa3":
        sentences = np.flatnonzero(row == binfa.n_symbols)
        per_paragraph = np.diff(np.r_[0, np.searchsorted(sentences, top)])
        problem = _within(config["sub_segments"], per_paragraph, "sentences per paragraph")
        if problem:
            return problem
    problem = _within(config["segments"], np.array([len(top)]), "segment count") or \
        _within(config["segment_length"], content, "segment length")
    if problem or kind != "binfa":
        return problem
    return _check_types_and_states(record, checker, row, top)


def _check_types_and_states(record: Mapping[str, Any], checker: _Checker, row: np.ndarray,
                            ends: np.ndarray) -> str | None:
    binfa = checker.binfa
    if "types" in record:
        types = _int_list(record, "types")
        if isinstance(types, str) or len(types) != len(ends):
            return "types must list one type per segment"
        if not checker.outer.accepts(types):
            return "types are not a word of the outer automaton"
        for k, segment in zip(types, np.split(row, ends + 1)[:-1], strict=True):
            if not checker.inner[k].accepts(segment[:-1].tolist()):
                return f"a segment is not accepted by its type {k}"
    for key, sizes in (("inner_state", [x.n_states for x in binfa.inner]),
                       ("outer_state", [binfa.outer.n_states])):
        if key in record:
            values = _int_list(record, key)
            if isinstance(values, str) or len(values) != len(row):
                return f"{key} must have one int per token"
            if any(v < -1 or v >= max(sizes) for v in values):
                return f"{key} holds an impossible state id"
    return None
