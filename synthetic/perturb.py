"""Perturbations of segmentations, for robustness studies: wrong boundaries, same tokens.

Every function here acts on **boundary marks** (``is_last``: bool ``(T,)`` or ``(N, T)``, true on
the last token of each segment; see :mod:`bipe.synthetic.segment`) and never sees the tokens, so
tokens cannot change. Turn marks into ``(seg, intra)`` with
:func:`bipe.synthetic.segment.positions_from_boundaries`. Random ones take ``rng`` first and are
vectorised over the whole batch; positions beyond ``lengths`` are left unmarked.

- :func:`drop_boundaries` -- each true boundary disappears with probability ``p``.
- :func:`insert_boundaries` -- each non-boundary position becomes one with probability ``q``.
- :func:`shift_boundaries` -- each boundary moves by a uniform offset in ``-k..k`` (clipped to
  the row; boundaries that land on the same token merge).
- :func:`fixed_length` -- replace by fixed-length segmentation (every ``k`` tokens).

:class:`Perturbation` bundles them (applied in that order: drop, insert, shift, or fixed) and
:func:`perturb_record` applies one to a dataset record's ``seg``/``intra``.

Worked example (``S`` separator; dropping the boundary at index 2)::

    tokens  : a  b  S  c  d  S
    is_last : 0  0  1  0  0  1   ->  0  0  0  0  0  1
    seg     : 0  0  0  1  1  1   ->  0  0  0  0  0  0
    intra   : 0  1  2  0  1  2   ->  0  1  2  3  4  5
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from bipe.synthetic.segment import (
    _as_batch,
    _valid_mask,
    boundaries_from_positions,
    fixed_length_boundaries,
    positions_from_boundaries,
)

__all__ = [
    "Perturbation",
    "drop_boundaries",
    "fixed_length",
    "insert_boundaries",
    "perturb_boundaries",
    "perturb_record",
    "shift_boundaries",
]

Lengths = Iterable[int] | np.ndarray | None


def _check_prob(name: str, p: float) -> None:
    if not 0.0 <= float(p) <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1], got {p!r}")


def _marks(is_last: np.ndarray, lengths: Lengths) -> tuple[np.ndarray, np.ndarray, bool]:
    """``(marks, valid, squeeze)``: marks as a fresh (N, T) bool array, cleared in padding."""
    marks, squeeze = _as_batch(np.asarray(is_last))
    valid = _valid_mask(*marks.shape, lengths)  # type: ignore[call-arg]  # (N, T)
    return marks.astype(bool) & valid, valid, squeeze


def drop_boundaries(
    rng: np.random.Generator, is_last: np.ndarray, p: float, lengths: Lengths = None
) -> np.ndarray:
    """Remove each boundary independently with probability ``p``."""
    _check_prob("drop probability p", p)
    marks, _, squeeze = _marks(is_last, lengths)
    keep = rng.random(marks.shape) >= p  # (N, T)
    out = marks & keep
    return out[0] if squeeze else out


def insert_boundaries(
    rng: np.random.Generator, is_last: np.ndarray, q: float, lengths: Lengths = None
) -> np.ndarray:
    """Mark each unmarked valid position independently with probability ``q``."""
    _check_prob("insert probability q", q)
    marks, valid, squeeze = _marks(is_last, lengths)
    spurious = (rng.random(marks.shape) < q) & valid  # (N, T)
    out = marks | spurious
    return out[0] if squeeze else out


def shift_boundaries(
    rng: np.random.Generator, is_last: np.ndarray, k: int, lengths: Lengths = None
) -> np.ndarray:
    """Move each boundary by an offset drawn uniformly from ``-k..k``.

    A moved boundary is clipped into its row (``0..length-1``); boundaries that land on the
    same token merge into one, so a shift can lower the count but never breaks the marks'
    meaning (boundaries still strictly increase).
    """
    if not isinstance(k, int | np.integer) or k < 0:
        raise ValueError(f"shift k must be a non-negative int, got {k!r}")
    marks, valid, squeeze = _marks(is_last, lengths)
    n, t = marks.shape
    rows, cols = np.nonzero(marks)  # (M,), (M,)
    offsets = rng.integers(-k, k + 1, size=rows.shape)  # (M,)
    last = valid.sum(axis=1) - 1  # (N,) last valid index per row
    moved = np.clip(cols + offsets, 0, np.maximum(last[rows], 0))  # (M,)
    out = np.zeros((n, t), dtype=bool)
    out[rows, moved] = True
    return out[0] if squeeze else out


def fixed_length(is_last: np.ndarray, k: int, lengths: Lengths = None, *, offset: int = 0):
    """Replace the segmentation by fixed-length segments of ``k`` tokens (the tokens and the
    old boundaries are ignored; only the shape and ``lengths`` matter)."""
    marks, valid, squeeze = _marks(is_last, lengths)
    out = fixed_length_boundaries(marks.shape, k, offset=offset) & valid  # (N, T)
    return out[0] if squeeze else out


@dataclass(frozen=True, kw_only=True)
class Perturbation:
    """A bundle of perturbations: ``drop`` (p), ``insert`` (q), ``shift`` (k) and
    ``fixed_length`` (k; ``0`` = off; when set, the other fields must be off)."""

    drop: float = 0.0
    insert: float = 0.0
    shift: int = 0
    fixed_length: int = 0

    def __post_init__(self) -> None:
        _check_prob("drop", self.drop)
        _check_prob("insert", self.insert)
        if not isinstance(self.shift, int) or self.shift < 0:
            raise ValueError(f"shift must be a non-negative int, got {self.shift!r}")
        if not isinstance(self.fixed_length, int) or self.fixed_length < 0:
            raise ValueError(f"fixed_length must be a non-negative int, got {self.fixed_length!r}")
        if self.fixed_length and (self.drop or self.insert or self.shift):
            raise ValueError("fixed_length replaces the boundaries; set drop/insert/shift to 0")

    @property
    def is_identity(self) -> bool:
        """True when applying it changes nothing."""
        return not (self.drop or self.insert or self.shift or self.fixed_length)


def perturb_boundaries(
    rng: np.random.Generator,
    is_last: np.ndarray,
    perturbation: Perturbation,
    lengths: Lengths = None,
) -> np.ndarray:
    """Apply ``perturbation`` to boundary marks: drop, then insert, then shift (or fixed)."""
    if perturbation.fixed_length:
        return fixed_length(is_last, perturbation.fixed_length, lengths)
    marks = drop_boundaries(rng, is_last, perturbation.drop, lengths)
    marks = insert_boundaries(rng, marks, perturbation.insert, lengths)
    return shift_boundaries(rng, marks, perturbation.shift, lengths)


def perturb_record(
    rng: np.random.Generator,
    record: Mapping[str, Any],
    perturbation: Perturbation,
    *,
    separators: Iterable[int] | None = None,
) -> dict[str, Any]:
    """A copy of ``record`` whose ``seg``/``intra`` come from perturbed boundaries.

    The true boundaries are read from ``record["seg"]`` (or, when ``separators`` is given,
    from the separator tokens, which also marks a row-final separator). ``tokens`` and every
    other field are passed through unchanged.
    """
    tokens = np.asarray(record["tokens"], dtype=np.int64)
    if separators is not None:
        marks = np.isin(tokens, list(separators))
    else:
        marks = boundaries_from_positions(np.asarray(record["seg"], dtype=np.int64))
    seg, intra = positions_from_boundaries(perturb_boundaries(rng, marks, perturbation))
    return {**record, "seg": seg.tolist(), "intra": intra.tolist()}
