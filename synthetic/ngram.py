"""A small n-gram language model reduced to what entropy segmentation needs: the entropy of the
next-token distribution after every context seen in training (numpy only).

Model (docs/method.md#entropy-segmentation). Symbols are token ids ``0..V-1``; two extra
context-only symbols pad and stand in: ``OOV = V`` (an id outside ``0..V-1`` met after fitting)
and ``BOS = V + 1`` (the ``n - 1`` left pads before every row, so each token has a full
context). The order-``j`` distribution (context ``h`` of ``j - 1`` tokens, ``h'`` ``h`` without
its oldest token) interpolates add-k counts with the order below::

    P_0(w)     = 1 / V
    P_j(w | h) = (c(h, w) + a * P_{j-1}(w | h')) / (c(h) + a),     a = k * V

so ``P_1`` is plain add-k and a context never seen in training (``c(h) = 0``) backs off exactly
to ``P_{j-1}(. | h')``. The entropy (nats) of ``P_j(. | h)`` for every seen ``h`` is computed
sparsely, from the seen continuations ``S`` of ``h`` alone (``b = a / (c(h) + a)``,
``P' = P_{j-1}(. | h')``, ``H' = H_{j-1}(h')``)::

    H_j(h) = -sum_{w in S} P_j log P_j - b log b (1 - sum_S P') + b (H' + sum_S P' log P')

and rounded to 12 decimals (so contexts with mathematically equal entropies compare equal).
The entropy after any context is then that of its longest suffix seen in training.

Context keys: a context ``x_{t-j+2} .. x_t`` (most recent last) is the integer
``sum_i x_{t-i} * R**i`` with radix ``R = V + 2``; its suffix of one token fewer is the key
modulo ``R**(j - 2)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["NgramEntropy", "context_entropies", "context_windows", "fit_ngram_entropy", "symbols"]

_MAX_KEY = 2**62


@dataclass(frozen=True, eq=False)
class NgramEntropy:
    """Next-token entropies of a fitted n-gram model (see the module docstring).

    ``keys[j - 1]`` holds the sorted int64 keys of the order-``j`` contexts seen in training
    (``j - 1`` tokens; order 1 has the single empty context, key 0) and ``entropy[j - 1]`` the
    entropy (nats) of the next-token distribution after each.
    """

    order: int
    vocab_size: int
    smoothing: float
    keys: tuple[np.ndarray, ...]
    entropy: tuple[np.ndarray, ...]

    @property
    def bos(self) -> int:
        """The context-only symbol that left-pads every row."""
        return self.vocab_size + 1


def _check_order(order: int, vocab_size: int) -> None:
    """Reject an order below 2 or one whose keys would overflow int64."""
    if not isinstance(order, int | np.integer) or order < 2:
        raise ValueError(
            f"n-gram order must be an int >= 2 (order 1 has one constant entropy), got {order!r}"
        )
    if (vocab_size + 2) ** order >= _MAX_KEY:
        raise ValueError(
            f"n-gram order {order} is too large for a vocabulary of {vocab_size} "
            f"(keys overflow int64); lower the order"
        )


def symbols(tokens: np.ndarray, vocab_size: int) -> np.ndarray:
    """Token ids as model symbols: ids outside ``0..V-1`` become ``OOV = V``."""
    tokens = np.asarray(tokens, dtype=np.int64)
    return np.where((tokens >= 0) & (tokens < vocab_size), tokens, vocab_size)


def _lookup(keys: np.ndarray, values: np.ndarray, query: np.ndarray, default):
    """``values`` at ``query`` keys (``default`` where absent), and the found mask."""
    idx = np.minimum(np.searchsorted(keys, query), max(len(keys) - 1, 0))
    found = (keys[idx] == query) if len(keys) else np.zeros(np.shape(query), dtype=bool)
    return np.where(found, values[idx] if len(keys) else default, default), found


def _training_keys(
    sequences: Sequence[np.ndarray], order: int, vocab_size: int
) -> tuple[list[np.ndarray], np.ndarray]:
    """Context keys per order (each (M,)) and targets (M,) of every training token."""
    pad = order - 1
    radix = vocab_size + 2
    rows = [
        np.concatenate([np.full(pad, vocab_size + 1, dtype=np.int64), np.asarray(s)])
        for s in sequences
    ]
    flat = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)  # (P,)
    starts = np.cumsum([0] + [len(r) for r in rows[:-1]])
    targets_at = (
        np.concatenate([s + np.arange(pad, len(r)) for s, r in zip(starts, rows, strict=True)])
        if rows
        else np.zeros(0, dtype=np.int64)
    )  # (M,)
    keys = [np.zeros(len(targets_at), dtype=np.int64)]  # order 1: the empty context
    for j in range(2, order + 1):
        keys.append(keys[-1] + flat[targets_at - (j - 1)] * radix ** (j - 2))
    return keys, flat[targets_at]


def fit_ngram_entropy(
    sequences: Sequence[np.ndarray],
    *,
    order: int,
    vocab_size: int | None = None,
    smoothing: float = 0.1,
) -> NgramEntropy:
    """Fit the interpolated add-k n-gram model on ``sequences`` (1-D int arrays) and tabulate
    the next-token entropy of every seen context.

    ``vocab_size`` defaults to the largest id + 1; ids must lie in ``0..vocab_size-1``.
    ``smoothing`` is ``k`` (> 0). Deterministic: the same sequences give the same tables.
    """
    seqs = [np.asarray(s, dtype=np.int64).reshape(-1) for s in sequences]
    n_tokens = sum(len(s) for s in seqs)
    if not n_tokens:
        raise ValueError("cannot fit an n-gram model on an empty corpus")
    top = max(int(s.max()) for s in seqs if len(s))
    low = min(int(s.min()) for s in seqs if len(s))
    vocab = top + 1 if vocab_size is None else int(vocab_size)
    if low < 0 or top >= vocab:
        raise ValueError(f"token ids must lie in 0..{vocab - 1}, got {low}..{top}")
    if not smoothing > 0:
        raise ValueError(f"n-gram smoothing k must be > 0, got {smoothing}")
    _check_order(order, vocab)
    ctx_keys, targets = _training_keys(seqs, order, vocab)
    radix, alpha = vocab + 2, smoothing * vocab
    tables: list[tuple] = []  # per order: (ngram keys, ngram counts, ctx keys, ctx counts)
    entropies: list[np.ndarray] = []
    for j in range(1, order + 1):
        grams, gram_counts = np.unique(ctx_keys[j - 1] * radix + targets, return_counts=True)
        ctxs, ctx_counts = np.unique(ctx_keys[j - 1], return_counts=True)
        tables.append((grams, gram_counts, ctxs, ctx_counts))
        entropies.append(_order_entropy(tables, entropies, j, vocab, alpha))
    return NgramEntropy(
        order=int(order),
        vocab_size=vocab,
        smoothing=float(smoothing),
        keys=tuple(t[2] for t in tables),
        entropy=tuple(entropies),
    )


def _prob(
    tables: list[tuple], j: int, ctx: np.ndarray, w: np.ndarray, vocab: int, alpha: float
) -> np.ndarray:
    """``P_j(w | ctx)`` at sparse points (ctx keys of order j, symbols w)."""
    if j == 0:
        return np.full(np.shape(w), 1.0 / vocab)
    grams, gram_counts, ctxs, ctx_counts = tables[j - 1]
    radix = vocab + 2
    lower = _prob(tables, j - 1, ctx % radix ** max(j - 2, 0), w, vocab, alpha)
    c_hw, _ = _lookup(grams, gram_counts, ctx * radix + w, 0)
    c_h, _ = _lookup(ctxs, ctx_counts, ctx, 0)
    return (c_hw + alpha * lower) / (c_h + alpha)


def _order_entropy(
    tables: list[tuple], entropies: list[np.ndarray], j: int, vocab: int, alpha: float
) -> np.ndarray:
    """Entropy of ``P_j(. | h)`` for every seen order-j context ``h`` (sparse formula)."""
    grams, gram_counts, ctxs, ctx_counts = tables[j - 1]
    radix = vocab + 2
    ctx, w = grams // radix, grams % radix  # (G,), (G,) grouped by context, in ctxs order
    group = np.searchsorted(ctxs, ctx)  # (G,) index of each n-gram's context
    suffix = ctxs % radix ** max(j - 2, 0)  # (C,)
    if j == 1:
        lower_h = np.full(len(ctxs), np.log(vocab))  # H_0: uniform
    else:
        lower_h, _ = _lookup(tables[j - 2][2], entropies[j - 2], suffix, 0.0)
    p_low = _prob(tables, j - 1, suffix[group], w, vocab, alpha)  # (G,) P'(w | h')
    p = (gram_counts + alpha * p_low) / (ctx_counts[group] + alpha)  # (G,) P_j(w | h)
    beta = alpha / (ctx_counts + alpha)  # (C,)
    n_ctx = len(ctxs)
    seen_h = np.bincount(group, weights=-p * np.log(p), minlength=n_ctx)  # (C,)
    mass_low = np.bincount(group, weights=p_low, minlength=n_ctx)  # (C,)
    plogp_low = np.bincount(group, weights=p_low * np.log(p_low), minlength=n_ctx)  # (C,)
    rest = np.clip(1.0 - mass_low, 0.0, None)
    h = seen_h - beta * np.log(beta) * rest + beta * (lower_h + plogp_low)
    return np.round(h, 12)


def context_windows(tokens: np.ndarray, model: NgramEntropy) -> np.ndarray:
    """``(N, T + 1, n - 1)`` symbol contexts of ``(N, T)`` tokens: window ``i`` holds the
    ``n - 1`` symbols before token ``i`` (BOS-padded), so window ``t + 1`` is the context of
    the token after ``t`` and window 0 the context of the first token."""
    sym = symbols(tokens, model.vocab_size)  # (N, T)
    n, pad = sym.shape[0], model.order - 1
    padded = np.concatenate([np.full((n, pad), model.bos, dtype=np.int64), sym], axis=1)
    return np.lib.stride_tricks.sliding_window_view(padded, pad, axis=1)  # (N, T + 1, n - 1)


def context_entropies(model: NgramEntropy, contexts: np.ndarray) -> np.ndarray:
    """Next-token entropy (nats) after each context ``(..., n - 1)`` (most recent symbol
    last): that of the longest suffix seen in training."""
    contexts = np.asarray(contexts, dtype=np.int64)
    radix = model.vocab_size + 2
    powers = radix ** np.arange(model.order - 1, dtype=np.int64)  # (n - 1,)
    keys = np.cumsum(contexts[..., ::-1] * powers, axis=-1)  # (..., n - 1) orders 2..n
    out = np.full(contexts.shape[:-1], model.entropy[0][0])  # (...) order 1
    for j in range(2, model.order + 1):
        value, found = _lookup(model.keys[j - 1], model.entropy[j - 1], keys[..., j - 2], 0.0)
        out = np.where(found, value, out)
    return out
