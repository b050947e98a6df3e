"""Token streams and windows: training windows and the two evaluation protocols.

A split's documents are tokenised and joined into one stream, each followed by ``<eod>``
(:func:`token_stream`). Training draws windows of ``T + 1`` tokens at uniform random offsets
(:func:`sample_windows`): input the first ``T``, target the next token at every position.
Evaluation cuts windows of ``L`` tokens by one of two protocols (docs/method.md#text):

- ``chunks`` (:func:`chunk_windows`): non-overlapping windows; every token of a window is
  scored, the first ones with little context (what the official BiPE evaluation does);
- ``sliding`` (:func:`sliding_windows`): windows start every ``stride`` tokens and each scores
  only the tokens the previous window did not (the first window scores all), so every token
  after the first window is predicted from at least ``L - stride`` tokens of context (the usual
  perplexity protocol).

Both return ``inputs (N, L)``, ``targets (N, L)`` (-100 where nothing is scored) and the
stream offset of each window. Worked example (stream 0..9, ``L = 4``, ``stride = 2``)::

    >>> x, y, start = sliding_windows(np.arange(10), 4, 2)
    >>> x.tolist(), y.tolist()
    ([[0, 1, 2, 3], [2, 3, 4, 5], [4, 5, 6, 7]], [[1, 2, 3, 4], [-100, -100, 5, 6], [-100, -100, 7, 8]])
"""  # noqa: E501

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "IGNORE",
    "PROTOCOLS",
    "chunk_windows",
    "sample_windows",
    "sliding_windows",
    "token_stream",
]

IGNORE = -100
PROTOCOLS = ("chunks", "sliding")


def token_stream(texts: Sequence[str], tokenizer, limit: int | None = None) -> np.ndarray:
    """(N,) int64: the texts tokenised, each followed by ``<eod>``; at most ``limit`` tokens
    (documents past the limit are not tokenised)."""
    parts: list[np.ndarray] = []
    total = 0
    eod = np.array([tokenizer.eod], dtype=np.int64)
    step = 64  # documents tokenised per batch (a BPE encodes a batch in parallel)
    for first in range(0, len(texts), step):
        for ids in tokenizer.encode_batch(texts[first : first + step]):
            parts.extend((ids, eod))
            total += len(ids) + 1
        if limit is not None and total >= limit:
            break
    stream = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    return stream[:limit] if limit is not None else stream


def sample_windows(
    rng: np.random.Generator, stream: np.ndarray, n: int, length: int
) -> tuple[np.ndarray, np.ndarray]:
    """``(inputs, targets)`` (n, length): windows at uniform random offsets of ``stream``."""
    if len(stream) < length + 1:
        raise ValueError(
            f"the training stream has {len(stream)} tokens, fewer than one window "
            f"of data.context + 1 = {length + 1}"
        )
    starts = rng.integers(0, len(stream) - length, size=n)  # (n,)
    idx = starts[:, None] + np.arange(length + 1)[None, :]  # (n, length + 1)
    windows = stream[idx]
    return windows[:, :-1], windows[:, 1:]


def chunk_windows(stream: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Non-overlapping windows of ``length`` (the ``chunks`` protocol; see module docstring)."""
    n = (len(stream) - 1) // length
    if n < 1:
        raise ValueError(
            f"the evaluation stream has {len(stream)} tokens, fewer than one "
            f"window of {length} + 1; raise data.eval_tokens"
        )
    starts = np.arange(n, dtype=np.int64) * length  # (n,)
    idx = starts[:, None] + np.arange(length + 1)[None, :]  # (n, length + 1)
    windows = stream[idx]
    return windows[:, :-1], windows[:, 1:], starts


def sliding_windows(
    stream: np.ndarray, length: int, stride: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Windows every ``stride`` tokens scoring only new tokens (the ``sliding`` protocol)."""
    if not 0 < stride <= length:
        raise ValueError(f"the sliding stride must lie in 1..{length}, got {stride}")
    if len(stream) - 1 < length:
        raise ValueError(
            f"the evaluation stream has {len(stream)} tokens, fewer than one "
            f"window of {length} + 1; raise data.eval_tokens"
        )
    starts = np.arange(0, len(stream) - length, stride, dtype=np.int64)  # (n,)
    idx = starts[:, None] + np.arange(length + 1)[None, :]  # (n, length + 1)
    windows = stream[idx]
    targets = windows[:, 1:].copy()  # (n, length)
    targets[1:, : length - stride] = IGNORE  # scored already by the previous window
    return windows[:, :-1], targets, starts
