"""Many chains as concatenated arrays (:class:`ArithBatch`), and their dict records as a view.

The sampler's value is the batch; a record (``text``, ``tokens``, ``seg``, ``intra``,
``answer``, ``n_operators``, ``prompt_len``; see :mod:`bipe.synthetic.arithmetic`) is one row
of it rendered as Python lists (:func:`batch_records`), which is what datasets store. Tasks
consume the arrays directly. Worked example (two chains, ``fmt="direct"``, p=11)::

    tokens     : 11 3 13 9 14 2 | 12 5 13 9 16 2      1 + 3 = 4 <eos> | 2 * 3 = 6 <eos>
    offsets    : 0 6 12
    prompt_len : 4 4            (tokens up to and including the first '=')
    n_operators: 1 1            (operators before the first '=')
    seg        : 0 0 0 0 1 1 | 0 0 0 0 1 1
    intra      : 0 1 2 3 0 1 | 0 1 2 3 0 1
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bipe.synthetic.arithmetic.vocabulary import (
    DIVIDE,
    EOS,
    EQUALS,
    NUM0,
    PLUS,
    SEPARATORS,
    _vocab_words,
    check_modulus,
)
from bipe.synthetic.segment import positions_from_boundaries, separator_ids

__all__ = ["ArithBatch", "batch_records", "ragged_positions"]


@dataclass(frozen=True, eq=False)
class ArithBatch:
    """N chains concatenated (M tokens): ``tokens`` (M,) int64 ids, each row ending in
    ``<eos>``; ``offsets`` (N+1,) row boundaries; ``prompt_len`` (N,) tokens up to and
    including the first ``=``; ``n_operators`` (N,) operators before it; ``modulus``.
    Build it with :meth:`of_tokens` (or :meth:`of_rows`, :meth:`of_records`), which checks
    the rows and derives ``prompt_len`` and ``n_operators``."""

    tokens: np.ndarray
    offsets: np.ndarray
    prompt_len: np.ndarray
    n_operators: np.ndarray
    modulus: int

    @classmethod
    def of_tokens(cls, tokens: np.ndarray, offsets: np.ndarray, modulus: int) -> ArithBatch:
        """The batch of concatenated ``tokens`` (M,) cut at ``offsets`` (N+1,); every row must
        hold an ``=`` and end in ``<eos>`` (else a ``ValueError``)."""
        tokens = np.asarray(tokens, dtype=np.int64)
        offsets = np.asarray(offsets, dtype=np.int64)
        starts, ends = offsets[:-1], offsets[1:]  # (N,) each
        if (
            len(offsets) < 1
            or offsets[0] != 0
            or offsets[-1] != len(tokens)
            or np.any(ends <= starts)
        ):
            raise ValueError("offsets must rise strictly from 0 to the number of tokens")
        if np.any(tokens[ends - 1] != EOS):
            raise ValueError("every arithmetic chain must end in <eos>")
        equals = np.flatnonzero(tokens == EQUALS)  # (E,) every '=' in the batch
        at = np.searchsorted(equals, starts)  # (N,) index of each row's first '=' (if any)
        first = np.append(equals, len(tokens))[at]  # (N,) its token index
        if np.any(first >= ends):
            raise ValueError("every arithmetic chain must hold an '='")
        is_op = (tokens >= PLUS) & (tokens <= DIVIDE)  # (M,)
        ops_before = np.concatenate([[0], np.cumsum(is_op)])  # (M+1,) operators before t
        return cls(
            tokens=tokens,
            offsets=offsets,
            prompt_len=first - starts + 1,
            n_operators=ops_before[first] - ops_before[starts],
            modulus=check_modulus(modulus),
        )

    @classmethod
    def of_rows(cls, rows: Sequence[Sequence[int]], modulus: int) -> ArithBatch:
        """The batch of id rows (each ending in ``<eos>``)."""
        offsets = np.concatenate([[0], np.cumsum([len(r) for r in rows], dtype=np.int64)])
        tokens = np.fromiter(
            itertools.chain.from_iterable(rows), dtype=np.int64, count=int(offsets[-1])
        )  # (M,)
        return cls.of_tokens(tokens, offsets, modulus)

    @classmethod
    def of_records(cls, records: Sequence[dict], modulus: int) -> ArithBatch:
        """The batch of saved records' ``tokens`` (the other fields follow from them)."""
        return cls.of_rows([r["tokens"] for r in records], modulus)

    @classmethod
    def concat(cls, batches: Sequence[ArithBatch]) -> ArithBatch:
        """One batch of the rows of ``batches`` (at least one, same modulus) in order."""
        if not batches:
            raise ValueError("no batches to concatenate")
        parts = [b.tokens for b in batches]
        sizes = np.concatenate([[0]] + [np.diff(b.offsets) for b in batches])
        tokens = np.concatenate(parts) if parts else np.zeros(0, np.int64)
        return cls.of_tokens(tokens, np.cumsum(sizes, dtype=np.int64), batches[0].modulus)

    @property
    def n(self) -> int:
        """The number of chains N."""
        return len(self.prompt_len)

    @property
    def lengths(self) -> np.ndarray:
        """(N,) tokens per chain (``<eos>`` included)."""
        return np.diff(self.offsets)

    @property
    def answer(self) -> np.ndarray:
        """(N,) each chain's answer (the number before ``<eos>``)."""
        return self.tokens[self.offsets[1:] - 2] - NUM0

    def row(self, i: int) -> np.ndarray:
        """The ids of chain ``i`` (a view)."""
        return self.tokens[self.offsets[i] : self.offsets[i + 1]]

    def select(self, rows: np.ndarray) -> ArithBatch:
        """The batch of chains ``rows`` (indices, in that order)."""
        rows = np.asarray(rows, dtype=np.int64)
        lengths = self.lengths[rows]  # (R,)
        offsets = np.concatenate([[0], np.cumsum(lengths)])  # (R+1,)
        shift = np.repeat(self.offsets[rows] - offsets[:-1], lengths)  # (M',) source - target
        return ArithBatch.of_tokens(
            self.tokens[np.arange(offsets[-1]) + shift], offsets, self.modulus
        )

    def positions(self, separators: Sequence[int] = SEPARATORS) -> tuple[np.ndarray, np.ndarray]:
        """``(seg, intra)`` (M,) each of every row over ``separators`` (default ``=`` and
        ``<eos>``; docs/method.md#positions)."""
        return ragged_positions(self.tokens, self.offsets, separators)

    def texts(self) -> list[str]:
        """Each chain's text: its words joined by single spaces, ``<eos>`` left out."""
        words = _vocab_words(self.modulus)
        ids = self.tokens.tolist()
        return [
            " ".join([words[t] for t in ids[a : b - 1]])
            for a, b in zip(self.offsets[:-1].tolist(), self.offsets[1:].tolist(), strict=True)
        ]


def ragged_positions(
    tokens: np.ndarray, offsets: np.ndarray, separators: Sequence[int]
) -> tuple[np.ndarray, np.ndarray]:
    """``(seg, intra)`` (M,) each of concatenated rows ``tokens`` (M,) cut at ``offsets``
    (N+1,): every row segmented on its own by :func:`~bipe.synthetic.segment.
    separator_positions`'s rule (a row's last token closing its last segment changes none of
    its positions, so the rows can share one pass)."""
    tokens = np.asarray(tokens, dtype=np.int64)
    marks = np.isin(tokens, separator_ids(separators))  # (M,) separators close a segment
    ends = np.asarray(offsets[1:], dtype=np.int64)  # (N,)
    marks[ends[ends > 0] - 1] = True  # each row's last token closes its row
    seg, intra = positions_from_boundaries(marks)  # (M,) each, counted over the whole batch
    row = np.repeat(np.arange(len(ends)), np.diff(offsets))  # (M,) each token's row
    first_seg = seg[np.asarray(offsets[:-1], dtype=np.int64)[row]]  # (M,) seg of its row start
    return seg - first_seg, intra


def batch_records(batch: ArithBatch) -> list[dict]:
    """One record per chain (the dataset format): ``text``, ``tokens``, ``seg``, ``intra`` as
    Python lists, ``answer``, ``n_operators`` and ``prompt_len`` as ints."""
    seg, intra = batch.positions()
    cols = [batch.tokens.tolist(), seg.tolist(), intra.tolist()]
    bounds = zip(batch.offsets[:-1].tolist(), batch.offsets[1:].tolist(), strict=True)
    scalars = zip(
        batch.texts(),
        batch.answer.tolist(),
        batch.n_operators.tolist(),
        batch.prompt_len.tolist(),
        strict=True,
    )
    return [
        {
            "text": text,
            "tokens": cols[0][a:b],
            "seg": cols[1][a:b],
            "intra": cols[2][a:b],
            "answer": answer,
            "n_operators": n_ops,
            "prompt_len": prompt,
        }
        for (a, b), (text, answer, n_ops, prompt) in zip(bounds, scalars, strict=True)
    ]
