"""Bi-NFA, flat NFA and 3-level token sequences with their true position streams and labels.

Dataset files, configs and verification built on this live in :mod:`bipe.synthetic.sequences`
(which re-exports the public names here).

**Bi-NFA sequences** (:func:`sample_binfa_sequences`). A sequence is ``w_1 # w_2 # ... w_S #``
(docs/method.md#bi-nfa). The draw itself is the automata layer's one member sampler,
:class:`bipe.automata.MemberSampler` (see :mod:`bipe.automata.bisample`): per sequence the
segment count S from its distribution, the segment types ``t_1..t_S`` uniformly among the outer
automaton's words of length S, each segment's length from the segment-length distribution
(content tokens, not counting the separator) and its content uniformly among type ``t_i``'s
words of that length, every draw conditioned on feasibility (so every sequence is in the
language, and a setting that nothing can meet raises ``ValueError`` saying what cannot be met).
This module turns length specs into that sampler's finite laws (:func:`length_law`: unbounded
distributions, ``geometric:P`` without HI or ``poisson:LAM``, are cut where the remaining tail
mass is below 1e-15) and adds what the datasets and tasks need: the per-token position streams
and state labels, in one :class:`SequenceBatch`.

**3-level sequences**: the same recursion one level deeper (a paragraph type is itself a
Bi-NFA): distributions ``[paragraphs per sequence, sentences per paragraph, tokens per
sentence]``; sentences end in ``#`` (= A) and each paragraph's last ``#`` is followed by ``$`` (=
A + 1). **Flat NFA sequences** (:func:`sample_nfa_sequences`): uniform words of a drawn total
length from an ordinary NFA (e.g. ``binfa.flatten()``), for baselines.

**Drawing a dataset** (:func:`draw_batches`, :func:`draw_sequences`): ``n`` sequences in
consecutive sampler calls of at most :data:`DRAW_CHUNK` (65,536) sequences, the one rule of
``bipe gen`` and of the tasks' training and evaluation sets. A call draws all its lengths before
the contents, so the chunk size is part of what a seed draws; :meth:`SequenceBatch.concat` joins
the chunks into one batch with the same records.

Labels. Position streams follow docs/method.md#positions with one stream per level (innermost
first, see :func:`bipe.synthetic.segment.multilevel_positions`: a ``$`` closes a paragraph and,
being right after a ``#``, forms a one-token innermost unit of its own). For 2-level data also, per
token:
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

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from bipe.automata import NFA, BiNFA, LengthLaw, MemberSampler
from bipe.synthetic.distributions import LengthDist

__all__ = [
    "DRAW_CHUNK",
    "BinfaSequenceSampler",
    "NfaSequenceSampler",
    "SequenceBatch",
    "draw_batches",
    "draw_sequences",
    "effective_support",
    "length_law",
    "sample_binfa_sequences",
    "sample_nfa_sequences",
]

_TAIL = 1e-15  # unbounded distributions are cut where the tail mass drops below this


def effective_support(dist: LengthDist) -> tuple[np.ndarray, np.ndarray]:
    """``(values, probs)`` of ``dist``; unbounded ones cut where the tail is below 1e-15."""
    if dist.hi is not None:
        return dist.support()
    p = getattr(dist, "p", None)
    if p is not None:  # geometric: tail beyond lo + m has mass (1 - p) ** (m + 1)
        span = 0 if p >= 1 else math.ceil(math.log(_TAIL) / math.log1p(-p))
        return type(dist)(p=p, lo=dist.lo, hi=dist.lo + span).support()  # type: ignore[call-arg]
    return dist.support()  # poisson cuts its own tail


def length_law(dist: LengthDist) -> LengthLaw:
    """The automata layer's finite :class:`~bipe.automata.LengthLaw` of a length spec's law
    (:func:`effective_support`), labelled by the spec."""
    values, probs = effective_support(dist)
    return LengthLaw(values=values, probs=probs, label=str(dist))


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
        restarting at each row (docs/method.md#positions)."""
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

    @classmethod
    def concat(cls, batches: Sequence[SequenceBatch]) -> SequenceBatch:
        """The sequences of ``batches``, in order, as one batch (a single batch is returned
        as it is); the batches must have the same levels and the same label fields."""
        if not batches:
            raise ValueError("no batches to concatenate")
        if len(batches) == 1:
            return batches[0]
        first = batches[0]
        states = (
            None
            if first.inner_state is None
            else (
                np.concatenate([b.inner_state for b in batches]),
                np.concatenate([b.outer_state for b in batches]),
            )
        )
        return cls(
            tokens=np.concatenate([b.tokens for b in batches]),
            offsets=_joined_offsets([b.offsets for b in batches]),
            marks=np.concatenate([b.marks for b in batches], axis=1),
            types=tuple(
                np.concatenate(level) for level in zip(*(b.types for b in batches), strict=True)
            ),
            type_offsets=tuple(
                _joined_offsets(level)
                for level in zip(*(b.type_offsets for b in batches), strict=True)
            ),
            inner_state=None if states is None else states[0],
            outer_state=None if states is None else states[1],
        )


def _joined_offsets(parts: Sequence[np.ndarray]) -> np.ndarray:
    """(N_1 + ... + N_k + 1,) row boundaries of consecutive parts' ``(N_i + 1,)`` offsets."""
    shifts = np.cumsum([0, *(int(p[-1]) for p in parts[:-1])])  # (k,) items before each part
    return np.concatenate([[0], *(p[1:] + s for p, s in zip(parts, shifts, strict=True))]).astype(
        np.int64
    )


@dataclass(frozen=True, kw_only=True, eq=False)
class BinfaSequenceSampler:
    """Everything needed to draw sequences of one (multi-level) Bi-NFA under given length
    distributions, built and validated once (immutable; :meth:`sample` may be called many
    times, e.g. chunk by chunk)."""

    binfa: BiNFA
    dists: tuple[LengthDist, ...]
    members: MemberSampler

    @classmethod
    def build(cls, binfa: BiNFA, dists: Sequence[LengthDist]) -> BinfaSequenceSampler:
        """Validate and tabulate; ``ValueError`` says why no sequence can be drawn."""
        if not isinstance(binfa, BiNFA):
            raise ValueError(f"expected a BiNFA, got {type(binfa).__name__}")
        members = MemberSampler.build(binfa, [length_law(d) for d in dists])
        return cls(binfa=binfa, dists=tuple(dists), members=members)

    def sample(
        self, rng: np.random.Generator, n: int, *, state_labels: bool = True
    ) -> SequenceBatch:
        """``n`` sequences (see :func:`sample_binfa_sequences`)."""
        ragged = self.members.sample(rng, n)
        offsets = np.concatenate([[0], np.cumsum(ragged.lengths)]).astype(np.int64)
        fields = {
            "tokens": ragged.tokens,
            "offsets": offsets,
            "marks": ragged.marks,
            "types": tuple(t for t, _ in ragged.units),
            "type_offsets": tuple(_unit_offsets(starts, offsets) for _, starts in ragged.units),
        }
        if state_labels and self.binfa.levels == 2:
            inner, outer = _state_labels(self.binfa, SequenceBatch(**fields))  # type: ignore[arg-type]
            fields.update(inner_state=inner, outer_state=outer)
        return SequenceBatch(**fields)  # type: ignore[arg-type]


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
        table = np.concatenate([table, table | succ[:, state : state + 1]], axis=1)
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
        state = _single_states(automaton, words, content[idx])  # type: ignore[arg-type]  # (U_k, W + 1)
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
    members: MemberSampler

    @classmethod
    def build(
        cls, nfa: NFA, length: LengthDist, separators: Sequence[int] = ()
    ) -> NfaSequenceSampler:
        """Validate and tabulate; ``ValueError`` when no length in the support is accepted."""
        if not isinstance(nfa, NFA):
            raise ValueError(f"expected an NFA, got {type(nfa).__name__}")
        return cls(
            nfa=nfa,
            length=length,
            separators=tuple(int(x) for x in separators),
            members=MemberSampler.build(nfa, [length_law(length)]),
        )

    def sample(self, rng: np.random.Generator, n: int) -> SequenceBatch:
        """``n`` words (see :func:`sample_nfa_sequences`)."""
        ragged = self.members.sample(rng, n)
        seps = list(self.separators)
        marks = (
            np.stack([np.isin(ragged.tokens, seps[level:]) for level in range(len(seps))])
            if seps
            else np.zeros((0, len(ragged.tokens)), dtype=bool)
        )  # (L, M)
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


DRAW_CHUNK = 1 << 16  # sequences per sampler call (fixed: it is part of what a seed draws)


def draw_batches(
    sampler: BinfaSequenceSampler | NfaSequenceSampler,
    rng: np.random.Generator,
    n: int,
    **options: bool,
) -> Iterator[SequenceBatch]:
    """``n`` sequences of ``sampler`` as consecutive batches of at most :data:`DRAW_CHUNK`.

    The one drawing rule of every automaton dataset, for ``bipe gen`` and the training and
    evaluation sets of the tasks alike: a sampler call draws all its sequences' lengths before
    their contents, so the chunk size is part of what a seed draws (n sequences in one call
    differ from two calls of n/2). ``options`` go to ``sampler.sample`` (``state_labels``:
    they use no randomness). ``n = 0`` is one empty batch.
    """
    if not isinstance(n, int | np.integer) or isinstance(n, bool) or n < 0:
        raise ValueError(f"number of sequences must be a non-negative int, got {n!r}")
    for start in range(0, max(int(n), 1), DRAW_CHUNK):
        yield sampler.sample(rng, min(DRAW_CHUNK, int(n) - start), **options)


def draw_sequences(
    sampler: BinfaSequenceSampler | NfaSequenceSampler,
    rng: np.random.Generator,
    n: int,
    **options: bool,
) -> SequenceBatch:
    """:func:`draw_batches` concatenated into one batch (:meth:`SequenceBatch.concat`)."""
    return SequenceBatch.concat(list(draw_batches(sampler, rng, n, **options)))
