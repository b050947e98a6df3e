"""Fast generation of Bi-NFA (and multi-level) members, vectorised across rows and segments.

Method, for a 2-level automaton and N rows:

1. segment counts ``S_n`` are drawn from the first length distribution;
2. type sequences are drawn **uniformly among the outer automaton's accepted type sequences of
   length S_n** (:class:`~bipe.automata.counting.WordSampler` on the outer automaton);
3. every segment's length is drawn from the innermost length distribution, and its content
   uniformly among the accepted words of that length of its type's inner automaton (all segments
   of one type in one vectorised call);
4. segments are written into a padded (N, T) array, each closed by the separator.

A nested (Bi-NFA) type recurses: its segments are whole lower-level sequences generated the same
way with the remaining distributions. Length distributions are any objects with
``.sample(rng, n) -> (n,) int64`` (for example ``bipe.synthetic.distributions.LengthDist``),
ordered outermost count first, innermost segment length last: ``(segment_count, segment_length)``
for 2 levels, ``(paragraph_count, sentence_count, sentence_length)`` for 3. A drawn count or
length that the automaton cannot realise raises ``ValueError`` naming it (use
:func:`~bipe.automata.generate.random_binfa` ranges that cover the distributions' supports).

The sequence distribution is therefore "uniform type sequence given S, uniform segment given
(type, length)", not uniform over all accepted token sequences of a given length.

Worked example: with counts fixed at 2 and lengths at 1 over the module example of
:mod:`bipe.automata.binfa`, every row is ``0 2 1 2``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from bipe.automata.binfa import BiNFA
from bipe.automata.counting import WordSampler


def _lengths(dist: Any, rng: np.random.Generator, n: int) -> np.ndarray:
    values = np.asarray(dist.sample(rng, n), dtype=np.int64)
    if values.shape != (n,):
        raise ValueError(f"length distribution {dist!r} returned shape {values.shape}, "
                         f"expected ({n},)")
    return values


def _check_counts(sampler: WordSampler, values: np.ndarray, what: str) -> None:
    for value in np.unique(values):
        if sampler.count(int(value)) == 0:
            raise ValueError(f"{what} accepts no word of length {int(value)}")


@dataclasses.dataclass(frozen=True, kw_only=True, eq=False)
class BiSampler:
    """Sampling tables for one Bi-NFA; build once, sample many times (immutable, no caches).

    Fields: ``binfa``, ``outer`` (a :class:`WordSampler` for type sequences up to the maximum
    segment count) and ``inner`` (one :class:`WordSampler` or nested :class:`BiSampler` per type).
    """

    binfa: BiNFA
    outer: WordSampler
    inner: tuple[WordSampler | BiSampler, ...]

    @classmethod
    def build(cls, binfa: BiNFA, max_lengths: Sequence[int]) -> BiSampler:
        """``max_lengths`` has one entry per level, outermost count first, innermost segment
        length last (e.g. ``(max_segments, max_segment_length)``)."""
        max_lengths = [int(x) for x in max_lengths]
        if len(max_lengths) != binfa.levels:
            raise ValueError(f"max_lengths needs {binfa.levels} entries (one per level), got "
                             f"{len(max_lengths)}")
        inner = tuple(
            cls.build(x, max_lengths[-x.levels:]) if isinstance(x, BiNFA)
            else WordSampler.build(x, max_lengths[-1]) for x in binfa.inner)
        return cls(binfa=binfa, outer=WordSampler.build(binfa.outer, max_lengths[0]),
                   inner=inner)

    def sample(self, rng: np.random.Generator, n: int, dists: Sequence[Any],
               pad: int = -1) -> tuple[np.ndarray, np.ndarray]:
        """``(tokens (n, T) int64 padded with pad, lengths (n,) int64)``; see the module doc."""
        levels = self.binfa.levels
        if len(dists) != levels:
            raise ValueError(f"need {levels} length distributions (one per level), got "
                             f"{len(dists)}")
        counts = _lengths(dists[0], rng, n)  # (N,)
        _check_counts(self.outer, counts, "the outer automaton (segment count)")
        types, _ = self.outer.sample_lengths(rng, counts)  # (N, S) type ids, -1 padding
        row, _ = np.nonzero(types >= 0)  # (M,) row of each segment, row-major order
        seg_types = types[types >= 0]  # (M,)
        pieces: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        seg_lengths = np.zeros(len(seg_types), dtype=np.int64)  # (M,) content tokens
        for k, sub in enumerate(self.inner):
            which = np.flatnonzero(seg_types == k)  # (M_k,)
            if isinstance(sub, BiSampler):
                words, lengths = sub.sample(rng, len(which), dists[-sub.binfa.levels:])
            else:
                lengths = _lengths(dists[-1], rng, len(which))
                _check_counts(sub, lengths, f"inner automaton {k}")
                words, lengths = sub.sample_lengths(rng, lengths)
            seg_lengths[which] = lengths
            pieces.append((which, words, lengths))
        return self._assemble(n, row, seg_lengths, pieces, pad)

    def _assemble(self, n: int, row: np.ndarray, seg_lengths: np.ndarray,
                  pieces: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
                  pad: int) -> tuple[np.ndarray, np.ndarray]:
        width = seg_lengths + 1  # (M,) content plus separator
        ends = np.cumsum(width)  # (M,) global end of each segment
        row_start = np.zeros(n + 1, dtype=np.int64)
        np.add.at(row_start, row + 1, width)
        totals = row_start[1:].copy()  # (N,) tokens per row
        row_start = np.cumsum(row_start)[:-1]  # (N,) global offset of each row
        offset = ends - width - row_start[row]  # (M,) segment start within its row
        t_max = int(totals.max(initial=0))
        tokens = np.full((n, t_max), pad, dtype=np.int64)
        tokens[row, offset + seg_lengths] = self.binfa.separator
        for which, words, lengths in pieces:
            if words.size == 0:
                continue
            cols = np.arange(words.shape[1])  # (L,)
            inside = cols[None, :] < lengths[:, None]  # (M_k, L)
            r = np.broadcast_to(row[which][:, None], words.shape)[inside]
            c = (offset[which][:, None] + cols[None, :])[inside]
            tokens[r, c] = words[inside]
        return tokens, totals
