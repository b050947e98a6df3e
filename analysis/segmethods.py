"""Segmentation methods for corpus statistics: natural, fixed and entropy boundaries of the same
token streams, so ``bipe segstats`` can compare them (docs/method.md#entropy-segmentation).

A method spec is one of

- ``separator`` -- the corpus's own boundaries (separator strings for text, separator ids or the
  ``seg`` column for datasets; ``analysis/segstats.py``);
- ``fixed:K`` -- a boundary after every ``K`` tokens of each document;
- ``entropy`` or ``entropy:L`` -- an n-gram model fitted on the source's own documents (token
  ids; text tokens get ids in sorted order), its threshold calibrated so that the mean segment
  length over the source is ``L`` (default: the source's natural mean, so the comparison holds
  the mean fixed and changes only where the boundaries fall).

Worked example (``fixed:2`` on a document of 5 tokens)::

    >>> marks, info = method_marks(parse_method("fixed:2"), [np.arange(5)], [np.zeros(5, bool)])
    >>> marks[0].tolist()
    [False, True, False, True, False]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bipe.synthetic.entropy import RULES, entropy_boundaries, fit_entropy_segmenter
from bipe.synthetic.segment import fixed_length_boundaries

__all__ = ["EntropyKnobs", "Method", "method_marks", "parse_method"]

KINDS = ("separator", "fixed:K", "entropy", "entropy:L")


@dataclass(frozen=True, kw_only=True)
class EntropyKnobs:
    """The n-gram model and rule of entropy methods (as ``SegmentationConfig``'s knobs)."""

    order: int = 3
    rule: str = "threshold"
    smoothing: float = 0.1

    def __post_init__(self) -> None:
        if self.order < 2:
            raise ValueError(f"--entropy-order must be >= 2, got {self.order}")
        if self.rule not in RULES:
            raise ValueError(f"--entropy-rule {self.rule!r} unknown; known: {', '.join(RULES)}")
        if not self.smoothing > 0:
            raise ValueError(f"--entropy-smoothing must be > 0, got {self.smoothing}")


@dataclass(frozen=True, kw_only=True)
class Method:
    """A parsed method spec: ``kind`` separator/fixed/entropy and its number (K, L or None)."""

    spec: str
    kind: str
    value: float | None = None


def parse_method(spec: str) -> Method:
    """``separator``, ``fixed:K`` (K int >= 1), ``entropy`` or ``entropy:L`` (L >= 1)."""
    head, colon, tail = spec.partition(":")
    bad = ValueError(f"unknown segmentation method {spec!r}; known: {', '.join(KINDS)}")
    if head == "separator" and not colon:
        return Method(spec=spec, kind="separator")
    if head == "entropy" and not colon:
        return Method(spec=spec, kind="entropy")
    try:
        value = float(tail) if head == "entropy" else int(tail)
    except ValueError:
        raise bad from None
    if head == "fixed" and value >= 1:
        return Method(spec=spec, kind="fixed", value=value)
    if head == "entropy" and value >= 1:
        return Method(spec=spec, kind="entropy", value=value)
    raise bad


def method_marks(
    method: Method,
    docs: Sequence[np.ndarray],
    natural: Sequence[np.ndarray],
    knobs: EntropyKnobs | None = None,
) -> tuple[list[np.ndarray], dict]:
    """``(marks, info)``: boundary marks (T,) per document of ``docs`` (token ids) under
    ``method`` (``natural``: the documents' own marks), and what an entropy fit chose
    (target and achieved mean, threshold, order, rule; empty for the other methods)."""
    if method.kind == "separator":
        return [np.asarray(m, dtype=bool) for m in natural], {}
    if method.kind == "fixed":
        return [fixed_length_boundaries(np.shape(d), int(method.value)) for d in docs], {}
    n_tokens = sum(len(d) for d in docs)
    if not n_tokens:
        raise ValueError("cannot fit entropy segmentation on an empty corpus")
    target = method.value
    if target is None:  # the natural mean: tokens per natural segment
        target = n_tokens / sum(int(m[:-1].sum()) + 1 for m in natural if len(m))
    knobs = knobs or EntropyKnobs()
    segmenter = fit_entropy_segmenter(
        docs, target_length=target, order=knobs.order, rule=knobs.rule, smoothing=knobs.smoothing
    )
    info = {
        "target_length": segmenter.target_length,
        "achieved_length": segmenter.achieved_length,
        "threshold": segmenter.threshold,
        "order": knobs.order,
        "rule": knobs.rule,
        "smoothing": knobs.smoothing,
    }
    return [entropy_boundaries(d, segmenter) for d in docs], info
