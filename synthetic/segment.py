"""Segmenters: token streams -> the two BiPE position streams ``(seg, intra)``.

Conventions (docs/method.md#positions, followed exactly):

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

Segmenters (all ``tokens -> (seg, intra)``, batched ``(N, T)`` or 1-D, optional ``lengths``):

- :func:`separator_positions` -- boundaries after every separator token (the BiPE default).
- :func:`fixed_length_positions` -- a boundary after every ``k`` tokens, ignoring the tokens
  (the paper's fixed-length ablation).
- :func:`oracle_positions` -- boundaries taken from a generator's segment labels.
- :func:`multilevel_positions` -- one ``seg`` stream per level plus ``intra`` within the
  innermost unit (separators of level ``l`` close units at level ``l`` and every level below).

Each has a streaming form for decoding, one token at a time: an immutable :class:`StreamState`
(the ``seg``/``intra`` the *next* token will get) and ``step(state, token) -> (state, seg,
intra)`` (:func:`separator_step`, :func:`fixed_length_step`, :func:`multilevel_step`);
:func:`stream_positions` runs any step function over a batch and must agree with the batched
form. ``token`` may be one int or a ``(N,)`` column, so a batch decodes in lock-step.

Padding: batched functions take ``(N, T)`` arrays and optional ``lengths`` ``(N,)``. Positions at
or beyond a row's length are padding; they get ``seg = intra = pad_value`` (default 0, a valid
embedding index, so a padded batch can be looked up directly and masked later). Marks at padded
positions are ignored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "StreamState",
    "boundaries_from_positions",
    "fixed_length_boundaries",
    "fixed_length_positions",
    "fixed_length_step",
    "initial_state",
    "multilevel_positions",
    "multilevel_step",
    "oracle_positions",
    "positions_from_boundaries",
    "separator_ids",
    "separator_positions",
    "separator_step",
    "stream_positions",
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
    ids. A separator is the last token of the segment it closes (docs/method.md#positions).
    Positions beyond ``lengths`` (per row) get ``pad_value``.

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
    raw = [separators] if np.isscalar(separators) else list(separators)  # type: ignore[arg-type]
    seps = np.asarray(raw)
    if seps.size and not np.issubdtype(seps.dtype, np.integer):
        raise ValueError(f"separators must be integer ids, got {raw!r}")
    return np.unique(seps.astype(np.int64))


def fixed_length_boundaries(shape: tuple[int, ...], k: int, *, offset: int = 0) -> np.ndarray:
    """Boundary marks of fixed-length segmentation: every ``k``-th token closes a segment.

    ``offset`` shifts the grid: with ``offset = o`` the first segment has ``k - o`` tokens
    (``0 <= o < k``). Returns a bool array of ``shape`` (``(T,)`` or ``(N, T)``).
    """
    if not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"fixed segment length k must be a positive int, got {k!r}")
    if not 0 <= offset < k:
        raise ValueError(f"offset must lie in 0..{k - 1}, got {offset}")
    t = shape[-1]
    marks = (np.arange(t) + offset + 1) % k == 0  # (T,)
    return np.broadcast_to(marks, shape).copy()


def fixed_length_positions(
    tokens: np.ndarray,
    k: int,
    lengths: Iterable[int] | np.ndarray | None = None,
    *,
    pad_value: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """``(seg, intra)`` with a segment boundary after every ``k`` tokens, whatever they are.

    >>> seg, intra = fixed_length_positions(np.zeros(7, dtype=int), 3)
    >>> seg.tolist(), intra.tolist()
    ([0, 0, 0, 1, 1, 1, 2], [0, 1, 2, 0, 1, 2, 0])
    """
    tokens = np.asarray(tokens)
    return positions_from_boundaries(
        fixed_length_boundaries(tokens.shape, k), lengths, pad_value=pad_value
    )


def boundaries_from_positions(
    seg: np.ndarray, lengths: Iterable[int] | np.ndarray | None = None
) -> np.ndarray:
    """Boundary marks from a ``seg`` stream: ``t`` is marked iff ``seg[t + 1] != seg[t]``.

    ``(seg, intra)`` cannot tell whether the last token of a row closes a segment, so the
    last valid token is never marked; :func:`positions_from_boundaries` of the result gives
    back the same streams for every valid position.
    """
    seg2, squeeze = _as_batch(seg)
    n, t = seg2.shape
    valid = _valid_mask(n, t, lengths)  # (N, T)
    marks = np.zeros((n, t), dtype=bool)
    if t > 1:
        marks[:, :-1] = (seg2[:, 1:] != seg2[:, :-1]) & valid[:, 1:]
    return marks[0] if squeeze else marks


def oracle_positions(
    seg_labels: np.ndarray,
    lengths: Iterable[int] | np.ndarray | None = None,
    *,
    pad_value: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """The oracle segmenter: ``(seg, intra)`` from a generator's true segment labels.

    ``seg_labels`` is any per-token segment labelling (e.g. a record's ``seg`` column, or
    segment ids that do not start at 0 or step by more than one); tokens with equal
    consecutive labels share a segment. The result is renumbered to the
    docs/method.md#positions convention. On Bi-NFA data, where every segment ends in a separator,
    it equals :func:`separator_positions`.
    """
    marks = boundaries_from_positions(np.asarray(seg_labels), lengths)
    return positions_from_boundaries(marks, lengths, pad_value=pad_value)


def multilevel_positions(
    tokens: np.ndarray,
    level_separators: Iterable[Iterable[int] | int],
    lengths: Iterable[int] | np.ndarray | None = None,
    *,
    pad_value: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """``(segs, intra)`` for nested segments: ``segs`` is ``(L, *tokens.shape)``.

    ``level_separators[0]`` are the innermost separators (e.g. a sentence's), the last entry
    the outermost (e.g. a paragraph's). A separator of level ``l`` closes the current unit at
    level ``l`` *and every level below it*, so ``segs[l]`` is :func:`separator_positions`'s
    ``seg`` for the union of the separators of levels ``l..L-1``; each stream counts units
    from the row start (not within the parent unit). ``intra`` is the position inside the
    innermost unit. With one level this is :func:`separator_positions`.

    Worked example (``#`` inner separator, ``$`` outer; ``$`` right after ``#`` forms an
    innermost unit of its own, as two adjacent separators do in docs/method.md#positions)::

        tokens : a  #  b  c  #  $  d  #  $
        segs[0]: 0  0  1  1  1  2  3  3  4
        segs[1]: 0  0  0  0  0  0  1  1  1
        intra  : 0  1  0  1  2  0  0  1  0
    """
    levels = [separator_ids(s) for s in level_separators]
    if not levels:
        raise ValueError("multilevel_positions needs at least one level of separators")
    tokens = np.asarray(tokens)
    segs = []
    intra = None
    for level in range(len(levels)):
        closing = np.concatenate(levels[level:])
        seg, level_intra = separator_positions(tokens, closing, lengths, pad_value=pad_value)
        segs.append(seg)
        intra = level_intra if intra is None else intra
    return np.stack(segs), intra  # type: ignore[return-value]


# ---------------------------------------------------------------------------- streaming forms


@dataclass(frozen=True, kw_only=True)
class StreamState:
    """Positions the *next* token will get: ``seg`` (one value per level, innermost first)
    and ``intra``. Values are ints, or ``(N,)`` arrays when a batch decodes in lock-step.
    """

    segs: tuple = (0,)
    intra: Any = 0

    @property
    def seg(self) -> Any:
        """The innermost level's segment index."""
        return self.segs[0]


def initial_state(n_levels: int = 1, n: int | None = None) -> StreamState:
    """The state before the first token: all zeros (ints, or ``(n,)`` arrays if ``n``)."""
    zero = 0 if n is None else np.zeros(n, dtype=np.int64)
    return StreamState(segs=(zero,) * n_levels, intra=zero)


def _advance(state: StreamState, closes: list) -> tuple[StreamState, Any, Any]:
    """Emit ``state``'s positions for this token; ``closes[l]`` says it ends a level-l unit."""
    if len(state.segs) != len(closes):
        raise ValueError(
            f"state has {len(state.segs)} seg level(s) but the segmenter has {len(closes)}: "
            f"start from initial_state({len(closes)})"
        )
    segs = tuple(s + np.asarray(c, dtype=np.int64) for s, c in zip(state.segs, closes, strict=True))
    intra = np.where(closes[0], 0, np.asarray(state.intra) + 1)
    if np.ndim(intra) == 0:
        segs, intra = tuple(int(s) for s in segs), int(intra)  # type: ignore[assignment]
    return StreamState(segs=segs, intra=intra), state.seg, state.intra


def separator_step(
    state: StreamState, token: Any, separators: Iterable[int] | int
) -> tuple[StreamState, Any, Any]:
    """Streaming :func:`separator_positions`: ``(next_state, seg, intra)`` of ``token``."""
    return _advance(state, [np.isin(token, separator_ids(separators))])


def fixed_length_step(state: StreamState, token: Any, k: int) -> tuple[StreamState, Any, Any]:
    """Streaming :func:`fixed_length_positions` (``token`` only fixes the batch shape)."""
    if not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"fixed segment length k must be a positive int, got {k!r}")
    closes = (np.asarray(state.intra) + 1 == k) | np.zeros(np.shape(token), dtype=bool)
    return _advance(state, [closes])


def multilevel_step(
    state: StreamState, token: Any, level_separators: Iterable[Iterable[int] | int]
) -> tuple[StreamState, Any, Any]:
    """Streaming :func:`multilevel_positions`; the emitted ``seg`` is a tuple, one per level."""
    levels = [separator_ids(s) for s in level_separators]
    closes = [np.isin(token, np.concatenate(levels[lv:])) for lv in range(len(levels))]
    new, _, intra = _advance(state, closes)
    return new, state.segs, intra


def stream_positions(
    step: Callable[[StreamState, Any], tuple[StreamState, Any, Any]],
    tokens: np.ndarray,
    state: StreamState | None = None,
    *,
    n_levels: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Run a streaming segmenter over ``(N, T)`` (or ``(T,)``) tokens, one column per step.

    ``step`` is e.g. ``functools.partial(separator_step, separators=[9])``. Returns ``(seg,
    intra)`` stacked like the batched form (``seg`` gets a leading level axis when ``step``
    emits one seg per level; pass ``n_levels`` then). Meant for tests and for replaying a
    prefix before decoding.
    """
    tokens2, squeeze = _as_batch(tokens)
    n, t = tokens2.shape
    state = initial_state(n_levels, n=n) if state is None else state
    segs, intras = [], []
    for i in range(t):
        state, seg, intra = step(state, tokens2[:, i])
        segs.append(np.asarray(seg, dtype=np.int64))
        intras.append(np.asarray(intra, dtype=np.int64))
    empty = (n_levels, n, 0) if n_levels > 1 else (n, 0)
    seg = np.stack(segs, axis=-1) if segs else np.zeros(empty, dtype=np.int64)  # (..., N, T)
    intra = np.stack(intras, axis=-1) if intras else np.zeros((n, 0), dtype=np.int64)  # (N, T)
    if squeeze:
        return seg[..., 0, :], intra[0]
    return seg, intra
