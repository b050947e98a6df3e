"""Entropy segmentation: segments for data without separators (docs/method.md#entropy-segmentation).

An n-gram model fitted on a training corpus (:mod:`bipe.synthetic.ngram`) gives, after every token
``t``, the entropy ``H_t`` of the distribution of the token *after* ``t``. Token ``t`` closes its
segment (is its last token, as a separator is; docs/method.md#positions) when its score
exceeds a threshold ``tau``:

- rule ``threshold``: score ``H_t`` (the model is unsure what comes next);
- rule ``rise``: score ``H_t - H_{t-1}`` (its uncertainty jumps; ``H_{-1}`` is the entropy of
  the first token's distribution, after the BOS pads).

A mark at ``t`` depends on tokens ``0..t`` only, so the segmenter is causal: a prefix gets the
prefix's positions and decoding can segment online (:func:`entropy_step`). ``tau`` is calibrated
on the training corpus (:func:`fit_entropy_segmenter`) so that the mean segment length there is
as close as possible to ``target_length``: entropies take one value per seen context, so the
achievable means are discrete and the one reached is kept as ``achieved_length``.

Worked example (``S`` a separator in the training data, order 2): after ``S`` any letter may
follow (high entropy), after a letter only that letter or ``S`` (low), so with ``tau`` between
the two every ``S`` closes a segment, exactly as :func:`~bipe.synthetic.segment.separator_positions`
would (see ``tests/synthetic/test_entropy.py``)::

    tokens : a  a  S  c  S  b  b  S
    H_t    : lo lo hi lo hi lo lo hi
    seg    : 0  0  0  1  1  2  2  2
    intra  : 0  1  2  0  1  0  1  2
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bipe.fileio import write_atomic
from bipe.synthetic.ngram import (
    NgramEntropy,
    context_entropies,
    context_windows,
    fit_ngram_entropy,
    symbols,
)
from bipe.synthetic.segment import (
    StreamState,
    _advance,
    _as_batch,
    _valid_mask,
    initial_state,
    positions_from_boundaries,
)

__all__ = [
    "RULES",
    "EntropySegmenter",
    "EntropyStreamState",
    "calibrate_threshold",
    "entropy_boundaries",
    "entropy_initial_state",
    "entropy_positions",
    "entropy_scores",
    "entropy_step",
    "fit_entropy_segmenter",
    "load_entropy_segmenter",
    "save_entropy_segmenter",
]

RULES = ("threshold", "rise")
FORMAT = 1


@dataclass(frozen=True, eq=False)
class EntropySegmenter:
    """A fitted entropy segmenter: the n-gram entropy tables, the rule and its threshold."""

    model: NgramEntropy
    rule: str
    threshold: float
    target_length: float
    achieved_length: float


def _check_rule(rule: str) -> None:
    if rule not in RULES:
        raise ValueError(f"unknown entropy rule {rule!r}; known: {', '.join(RULES)}")


def _scores_from_entropies(entropies: np.ndarray, rule: str) -> np.ndarray:
    """Scores (..., T) of tokens from entropies (..., T + 1) of the contexts before each token
    and after the last (index ``t + 1`` is after token ``t``)."""
    if rule == "threshold":
        return entropies[..., 1:]
    return entropies[..., 1:] - entropies[..., :-1]


def entropy_scores(model: NgramEntropy, tokens: np.ndarray, rule: str) -> np.ndarray:
    """``(N, T)`` (or ``(T,)``) scores of every token under ``rule`` (see the module docstring)."""
    _check_rule(rule)
    tokens2, squeeze = _as_batch(np.asarray(tokens, dtype=np.int64))
    scores = _scores_from_entropies(
        context_entropies(model, context_windows(tokens2, model)), rule
    )  # (N, T)
    return scores[0] if squeeze else scores


def calibrate_threshold(scores: Sequence[np.ndarray], target_length: float) -> tuple[float, float]:
    """``(tau, mean)``: the threshold whose mean segment length over the rows is closest to
    ``target_length``, and that mean.

    ``scores`` holds one 1-D array per row (a row of ``L`` tokens has ``L`` scores; the last
    token's never opens a segment, so it is left out). A row has ``1 + #{t < L - 1: s_t > tau}``
    segments. ``tau`` is a midpoint between consecutive distinct scores (or 1 beyond the
    extremes); ties in the distance go to fewer boundaries.
    """
    if not target_length >= 1:
        raise ValueError(f"target mean segment length must be >= 1, got {target_length}")
    rows = [np.asarray(s, dtype=float) for s in scores if len(s)]
    if not rows:
        raise ValueError("cannot calibrate entropy segmentation on an empty corpus")
    n_tokens = sum(len(r) for r in rows)
    inner = np.concatenate([r[:-1] for r in rows])  # scores that can open a segment
    values = np.unique(inner)  # ascending distinct scores
    above = len(inner) - np.searchsorted(np.sort(inner), values)  # marks when tau < values[i]
    marks = np.concatenate([[0], above[::-1]])  # fewest boundaries first
    means = n_tokens / (len(rows) + marks)
    best = int(np.argmin(np.abs(means - target_length)))  # first: fewest boundaries
    if best == 0:
        tau = float(values[-1] + 1.0) if len(values) else 0.0
    else:
        i = len(values) - best  # tau just below values[i]
        tau = float(values[i] - 1.0) if i == 0 else float((values[i - 1] + values[i]) / 2)
    return tau, float(means[best])


def fit_entropy_segmenter(
    sequences: Sequence[np.ndarray],
    *,
    target_length: float,
    order: int = 3,
    rule: str = "threshold",
    smoothing: float = 0.1,
    vocab_size: int | None = None,
) -> EntropySegmenter:
    """Fit the n-gram model on ``sequences`` and calibrate ``tau`` on them (deterministic)."""
    _check_rule(rule)
    model = fit_ngram_entropy(sequences, order=order, vocab_size=vocab_size, smoothing=smoothing)
    tau, mean = calibrate_threshold(_row_scores(model, sequences, rule), target_length)
    return EntropySegmenter(
        model=model,
        rule=rule,
        threshold=tau,
        target_length=float(target_length),
        achieved_length=mean,
    )


def _row_scores(
    model: NgramEntropy, sequences: Sequence[np.ndarray], rule: str, budget: int = 1 << 20
) -> list[np.ndarray]:
    """Scores of every row (in order of length), scored in padded batches of about ``budget``
    tokens; padding never changes a row's scores (the segmenter is causal)."""
    rows = sorted((np.asarray(s, dtype=np.int64).reshape(-1) for s in sequences), key=len)
    out: list[np.ndarray] = []
    start = 0
    while start < len(rows):
        stop = start + 1  # rows ascend in length: grow the chunk while it fits the budget
        while stop < len(rows) and (stop + 1 - start) * len(rows[stop]) <= budget:
            stop += 1
        width = len(rows[stop - 1])  # the longest of the chunk
        tokens = np.zeros((stop - start, width), dtype=np.int64)  # (N, T) right-padded
        for i, row in enumerate(rows[start:stop]):
            tokens[i, : len(row)] = row
        scores = entropy_scores(model, tokens, rule)  # (N, T)
        out += [scores[i, : len(row)] for i, row in enumerate(rows[start:stop])]
        start = stop
    return out


def entropy_boundaries(
    tokens: np.ndarray,
    segmenter: EntropySegmenter,
    lengths: Iterable[int] | np.ndarray | None = None,
) -> np.ndarray:
    """Boundary marks ``(N, T)`` (or ``(T,)``): token ``t`` closes its segment iff its score
    exceeds the threshold; nothing is marked past ``lengths``."""
    tokens2, squeeze = _as_batch(np.asarray(tokens, dtype=np.int64))
    marks = entropy_scores(segmenter.model, tokens2, segmenter.rule) > segmenter.threshold
    marks &= _valid_mask(*tokens2.shape, lengths)  # type: ignore[call-arg]  # (N, T)
    return marks[0] if squeeze else marks


def entropy_positions(
    tokens: np.ndarray,
    segmenter: EntropySegmenter,
    lengths: Iterable[int] | np.ndarray | None = None,
    *,
    pad_value: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """``(seg, intra)`` of ``tokens`` ``(T,)`` or ``(N, T)`` under entropy segmentation."""
    return positions_from_boundaries(
        entropy_boundaries(tokens, segmenter, lengths), lengths, pad_value=pad_value
    )


# ---------------------------------------------------------------------------- streaming form


@dataclass(frozen=True, kw_only=True)
class EntropyStreamState:
    """What :func:`entropy_step` needs before the next token: the positions it will get, the
    last ``n - 1`` symbols (``(..., n - 1)``, most recent last) and the entropy after them."""

    positions: StreamState
    context: np.ndarray
    entropy: Any


def entropy_initial_state(segmenter: EntropySegmenter, n: int | None = None) -> EntropyStreamState:
    """The state before the first token (one stream, or ``n`` in lock-step)."""
    model = segmenter.model
    shape = () if n is None else (n,)
    context = np.full((*shape, model.order - 1), model.bos, dtype=np.int64)
    return EntropyStreamState(
        positions=initial_state(1, n), context=context, entropy=context_entropies(model, context)
    )


def entropy_step(
    state: EntropyStreamState, token: Any, segmenter: EntropySegmenter
) -> tuple[EntropyStreamState, Any, Any]:
    """Streaming :func:`entropy_positions`: ``(next_state, seg, intra)`` of ``token`` (an int or
    an ``(N,)`` column)."""
    model = segmenter.model
    sym = symbols(np.asarray(token), model.vocab_size)  # () or (N,)
    context = np.concatenate([state.context[..., 1:], sym[..., None]], axis=-1)  # (..., n - 1)
    entropy = context_entropies(model, context)  # () or (N,)
    pair = np.stack([np.asarray(state.entropy, dtype=float), entropy], axis=-1)  # (..., 2)
    closes = _scores_from_entropies(pair, segmenter.rule)[..., 0] > segmenter.threshold
    positions, seg, intra = _advance(state.positions, [closes])
    return EntropyStreamState(positions=positions, context=context, entropy=entropy), seg, intra


# ---------------------------------------------------------------------------- files


def save_entropy_segmenter(path: str | Path, segmenter: EntropySegmenter) -> Path:
    """Write ``segmenter`` to an ``.npz`` file atomically (tables, rule, threshold, knobs)."""
    model = segmenter.model
    arrays = {
        "format": np.int64(FORMAT),
        "order": np.int64(model.order),
        "vocab_size": np.int64(model.vocab_size),
        "smoothing": np.float64(model.smoothing),
        "rule": np.str_(segmenter.rule),
        "threshold": np.float64(segmenter.threshold),
        "target_length": np.float64(segmenter.target_length),
        "achieved_length": np.float64(segmenter.achieved_length),
    }
    for j in range(model.order):
        arrays[f"keys_{j + 1}"] = model.keys[j]  # type: ignore[assignment]
        arrays[f"entropy_{j + 1}"] = model.entropy[j]  # type: ignore[assignment]

    def write(tmp: Path) -> None:
        with tmp.open("wb") as handle:
            np.savez(handle, **arrays)  # type: ignore[arg-type]

    return write_atomic(path, write)


def load_entropy_segmenter(path: str | Path) -> EntropySegmenter:
    """Read a file written by :func:`save_entropy_segmenter`; a bad file is a ``ValueError``."""
    try:
        with np.load(path, allow_pickle=False) as data:
            if int(data["format"]) != FORMAT:
                raise ValueError(f"format {int(data['format'])}, expected {FORMAT}")
            order = int(data["order"])
            model = NgramEntropy(
                order=order,
                vocab_size=int(data["vocab_size"]),
                smoothing=float(data["smoothing"]),
                keys=tuple(data[f"keys_{j}"].astype(np.int64) for j in range(1, order + 1)),
                entropy=tuple(data[f"entropy_{j}"].astype(float) for j in range(1, order + 1)),
            )
            rule = str(data["rule"])
            _check_rule(rule)
            return EntropySegmenter(
                model=model,
                rule=rule,
                threshold=float(data["threshold"]),
                target_length=float(data["target_length"]),
                achieved_length=float(data["achieved_length"]),
            )
    except FileNotFoundError:
        raise ValueError(f"{path}: missing") from None
    except (OSError, KeyError, ValueError) as err:
        raise ValueError(f"{path}: not an entropy segmenter file ({err})") from None
