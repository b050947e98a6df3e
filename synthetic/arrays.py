"""Ragged rows -> one padded array: the one numpy padding helper of the package.

Worked example::

    pad_rows([np.array([5, 6, 7]), np.array([8])])
    -> (array([[5, 6, 7], [8, 0, 0]]), array([3, 1]))
    pad_rows([np.array([5, 6, 7]), np.array([8])], left=True)
    -> (array([[5, 6, 7], [0, 0, 8]]), array([3, 1]))
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["pad_rows"]


def pad_rows(
    rows: Sequence[np.ndarray], pad: int = 0, *, left: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """``(padded (N, T, ...), lengths (N,))``: rows of shape (T_i, ...) stacked, right-padded
    (left-padded with ``left``) with ``pad`` to the longest, as int64. Trailing dimensions must
    agree; no rows give an ``(0, 0)`` array."""
    lengths = np.array([len(r) for r in rows], dtype=np.int64)  # (N,)
    tail = np.asarray(rows[0]).shape[1:] if len(rows) else ()
    width = int(lengths.max(initial=0))
    out = np.full((len(rows), width, *tail), pad, dtype=np.int64)  # (N, T, ...)
    for i, r in enumerate(rows):
        if left:
            out[i, width - len(r) :] = r
        else:
            out[i, : len(r)] = r
    return out, lengths
