"""Segmentation as an experimental variable: which ``(seg, intra)`` a BiPE model receives.

A :class:`~bipe.experiments.config.SegmentationConfig` picks the boundary marks (the
separator rule, fixed length K, or the generator's oracle labels) and perturbs them (drop,
insert, shift; ``bipe.synthetic.perturb``). Tokens never change. Marks become positions through
``bipe.synthetic.segment.positions_from_boundaries``, the one conversion every segmenter uses.

Worked example (``S`` the separator, ``fixed:2``)::

    tokens : a  b  S  c  d  S
    separator: seg 0 0 0 1 1 1, intra 0 1 2 0 1 2
    fixed:2  : seg 0 0 1 1 2 2, intra 0 1 0 1 0 1
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bipe.synthetic.perturb import drop_boundaries, insert_boundaries, shift_boundaries
from bipe.synthetic.segment import (
    boundaries_from_positions,
    fixed_length_boundaries,
    positions_from_boundaries,
)

__all__ = ["batch_positions", "example_positions", "pad_rows"]


def pad_rows(rows: Sequence[np.ndarray], pad: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Right-padded ``(N, T)`` array of 1-D rows and their ``(N,)`` lengths."""
    lengths = np.array([len(r) for r in rows], dtype=np.int64)  # (N,)
    out = np.full((len(rows), int(lengths.max(initial=0))), pad, dtype=np.int64)  # (N, T)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    return out, lengths


def batch_positions(
    rng: np.random.Generator | None,
    tokens: np.ndarray,
    lengths: np.ndarray,
    config,
    separators: Sequence[int],
    oracle_seg: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``(seg, intra)`` ``(N, T)`` of right-padded ``tokens`` ``(N, T)`` under ``config``.

    ``separators``: token ids, or one tuple of ids per level (hbipe; all of them close a
    segment). ``oracle_seg`` ``(N, T)`` is the generator's segment index (needed for ``oracle``; when
    absent, oracle falls back to the separator rule). ``rng`` draws the perturbations (it may
    be None when there are none). Padding gets position 0.
    """
    n, t = tokens.shape
    valid = np.arange(t)[None, :] < lengths[:, None]  # (N, T)
    separators = [s for level in separators  # hbipe: one tuple per level; any level closes
                  for s in (level if isinstance(level, (tuple, list)) else (level,))]
    if config.method == "oracle" and oracle_seg is not None:
        marks = boundaries_from_positions(oracle_seg, lengths)  # (N, T)
        # the oracle's last token closes a segment iff it is a separator (as in the data)
        last = np.isin(tokens[np.arange(n), np.maximum(lengths - 1, 0)], list(separators))
        marks[np.arange(n), np.maximum(lengths - 1, 0)] |= last & (lengths > 0)
    elif config.method.startswith("fixed:"):
        marks = fixed_length_boundaries((n, t), int(config.method.split(":")[1]))  # (N, T)
    else:
        marks = np.isin(tokens, list(separators))  # (N, T)
    marks = marks & valid
    if config.drop or config.insert or config.shift:
        if rng is None:
            raise ValueError("segmentation perturbations need a random generator")
        marks = drop_boundaries(rng, marks, config.drop, lengths)
        marks = insert_boundaries(rng, marks, config.insert, lengths)
        marks = shift_boundaries(rng, marks, int(config.shift), lengths)
    return positions_from_boundaries(marks, lengths)


def example_positions(
    rng: np.random.Generator | None, examples, config, separators: Sequence[int]
) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """Per-example ``(seg, intra)`` for ``examples.inputs`` under ``config`` (drawn once)."""
    if not len(examples):
        return ()
    tokens, lengths = pad_rows(examples.inputs)  # (N, T), (N,)
    oracle = None
    if examples.oracle is not None:
        oracle, _ = pad_rows([o[0] for o in examples.oracle])  # (N, T)
    seg, intra = batch_positions(rng, tokens, lengths, config, separators, oracle)
    return tuple((seg[i, :n], intra[i, :n]) for i, n in enumerate(lengths))


def max_intra(positions: Sequence[tuple[np.ndarray, np.ndarray]]) -> int:
    """The largest intra position in a list of per-example ``(seg, intra)``."""
    return max((int(intra.max()) for _, intra in positions if len(intra)), default=0)
