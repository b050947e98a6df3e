"""Segmenters: token streams -> the two BiPE position streams ``(seg, intra)``.

Conventions (BIPE.md section 1, followed exactly):

- ``seg[t]`` is the number of segment boundaries strictly before ``t``; the first token has seg 0.
- ``intra[t]`` is ``t`` minus the index of the first token of ``t``'s segment (0-based, restarting
  at 0 on the token right after each boundary).
- A separator is the **last token of the segment it closes** (same seg, largest intra).
- Rows of a batch are independent.

Worked example (``S`` = separator)::

    tokens : a  b  S  c  d  e  S  f  S  S  g
    intra  : 0  1  2  0  1  2  3  0  1  0  0
    seg    : 0  0  0  1  1  1  1  2  2  3  4

Every segmentation is represented as **boundary marks**: a boolean array ``is_last`` that is true
on the last token of each segment. :func:`positions_from_boundaries` is the one function that turns
marks into ``(seg, intra)``; every segmenter here (and every perturbation in ``perturb.py``) goes
through it.

Padding: batched functions take ``(N, T)`` arrays and optional ``lengths`` ``(N,)``. Positions at
or beyond a row's length are padding; they get ``seg = intra = pad_value`` (default 0, a valid
embedding index, so a padded batch can be looked up directly and masked later). Marks at padded
positions are ignored.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

__all__ = [
    "positions_from_boundaries",
    "separator_positions",
]


def _as_batch(array: np.ndarray) -> tuple[np.ndarray, bool]:
    """View a 1-D or 2-D array as 2-D ``(N, T)``; also report whether it was 1-D."""
    array = np.asarray(array)
    if array.ndim == 1:
        return array[None, :], True
    if array.ndim != 2:
        raise ValueError(f"expected a 1-D (T,) or 2-D (N, T) array, got shape {array.shape}")
    return array, False


def _valid_mask(n: int, t: int, lengths: Iterable[int] | np.ndarray | None) -> np.ndarray:
    """``(N, T)`` bool, true where position ``t < lengths[n]``."""
    if lengths is None:
        return np.ones((n, t), dtype=bool)
    lengths = np.asarray(lengths, dtype=np.int64).reshape(-1)  # (N,)
    if lengths.shape != (n,):
        raise ValueError(f"lengths has shape {lengths.shape}, expected ({n},)")
    if np.any(lengths < 0) or np.any(lengths > t):
        raise ValueError(f"lengths must lie in 0..{t}, got {lengths.min()}..{lengths.max()}")
    return np.arange(t)[None, :] < lengths[:, None]  # (N, T)


def positions_from_boundaries(
    is_last: np.ndarray, lengths: Iterable[int] | np.ndarray | None = None, *, pad_value: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """``(seg, intra)`` from boundary marks (true on the last token of each segment).

    ``is_last`` is ``(T,)`` or ``(N, T)`` bool; the result has the same shape, int64. ``seg[t]``
    counts marks strictly before ``t``; ``intra[t]`` counts tokens since the last mark before
    ``t`` (or since the row start). Positions beyond ``lengths`` get ``pad_value``.

    >>> seg, intra = positions_from_boundaries(np.array([0, 0, 1, 0, 1], dtype=bool))
    >>> seg.tolist(), intra.tolist()
    ([0, 0, 0, 1, 1], [0, 1, 2, 0, 1])
    """
    marks, squeeze = _as_batch(is_last)
    n, t = marks.shape
    valid = _valid_mask(n, t, lengths)  # (N, T)
    marks = marks.astype(bool) & valid  # (N, T)
    ends = np.cumsum(marks, axis=1, dtype=np.int64)  # (N, T) marks up to and including t
    seg = ends - marks  # (N, T) marks strictly before t
    index = np.arange(t, dtype=np.int64)  # (T,)
    starts = np.zeros((n, t), dtype=bool)  # (N, T) true on each segment's first token
    if t:
        starts[:, 0] = True
        starts[:, 1:] = marks[:, :-1]
    first = np.maximum.accumulate(np.where(starts, index, 0), axis=1)  # (N, T)
    intra = index[None, :] - first  # (N, T)
    seg = np.where(valid, seg, pad_value)
    intra = np.where(valid, intra, pad_value)
    if squeeze:
        return seg[0], intra[0]
    return seg, intra


def separator_positions(
    tokens: np.ndarray,
    separators: Iterable[int] | int,
    lengths: Iterable[int] | np.ndarray | None = None,
    *,
    pad_value: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """``(seg, intra)`` of a token stream whose segments are closed by separator tokens.

    ``tokens`` is ``(T,)`` or ``(N, T)`` integer ids; ``separators`` one id or a collection of
    ids. A separator is the last token of the segment it closes (BIPE.md section 1). Positions
    beyond ``lengths`` (per row) get ``pad_value``.

    >>> S = 9
    >>> seg, intra = separator_positions(np.array([1, 2, S, 3, 4, 5, S, 6, S, S, 7]), S)
    >>> intra.tolist()
    [0, 1, 2, 0, 1, 2, 3, 0, 1, 0, 0]
    >>> seg.tolist()
    [0, 0, 0, 1, 1, 1, 1, 2, 2, 3, 4]
    """
    tokens = np.asarray(tokens)
    if tokens.size and not np.issubdtype(tokens.dtype, np.integer):
        raise ValueError(f"tokens must be integer ids, got dtype {tokens.dtype}")
    return positions_from_boundaries(
        np.isin(tokens, separator_ids(separators)), lengths, pad_value=pad_value
    )


def separator_ids(separators: Iterable[int] | int) -> np.ndarray:
    """One id or a collection of ids as a sorted 1-D int64 array; rejects non-integers."""
    raw = [separators] if np.isscalar(separators) else list(separators)
    seps = np.asarray(raw)
    if seps.size and not np.issubdtype(seps.dtype, np.integer):
        raise ValueError(f"separators must be integer ids, got {raw!r}")
    return np.unique(seps.astype(np.int64))
