"""RULER's effective length from run folders (docs/method.md#ruler-tasks).

A run's *effective length* is the longest evaluated length up to which its RULER score
(``accuracy``: recall-based exact match) stays at or above a threshold: the score at the
training context ``data.context`` minus ``DROP`` (0.1). RULER itself compares with a fixed
score (a reference model's); a score relative to the run's own training context keeps the
measure about extrapolation rather than about how well a small model learned the task. A run
scoring below ``LEARNED`` (0.5) at its training context has not learned the task: it has no
effective length (``None``), which the table says instead of a length.

Worked example: scores 0.92, 0.85, 0.40, 0.88 at 256, 512, 1024, 2048 with context 256 give the
threshold 0.82 and the effective length 512 (1024 falls below; 2048 does not count, the score
must *stay* above).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .report import Block
from .runs import Run, as_float

__all__ = ["DROP", "LEARNED", "effective_length", "effective_length_blocks"]

DROP = 0.1
LEARNED = 0.5


def effective_length(
    per_length: Sequence[Mapping[str, Any]], context: int, metric: str = "accuracy"
) -> tuple[float, int | None]:
    """``(score at the training context, effective length or None)`` of one run's
    ``eval.json`` ``per_length`` rows (see the module docstring); no row at ``context``:
    ``(nan, None)``."""
    scores = {int(r["length"]): as_float(r.get(metric)) for r in per_length}
    base = scores.get(int(context), math.nan)
    if not base >= LEARNED:  # also NaN
        return base, None
    effective = int(context)
    for length in sorted(k for k in scores if k > context):
        if not scores[length] >= base - DROP:
            break
        effective = length
    return base, effective


def effective_length_blocks(runs: Mapping[str, Mapping[Any, Run]]) -> list[Block]:
    """A table per variant (``runs``: variant -> seed key -> run) of the RULER runs among them:
    training-context score, each seed's effective length, their median; [] without RULER
    runs."""
    rows = []
    for variant, by_seed in runs.items():
        found = [
            effective_length(r.evaluation["per_length"], int(r.config["data"]["context"]))
            for _, r in sorted(by_seed.items())
            if str(r.config.get("task", "")).startswith("ruler:")
        ]
        if not found:
            continue
        lengths = [x for _, x in found]
        known = [x for x in lengths if x is not None]
        rows.append(
            (
                variant,
                str(len(found)),
                f"{np.nanmean([b for b, _ in found]):.3f}",
                ", ".join("not learned" if x is None else str(x) for x in lengths),
                f"{np.median(known):g}" if len(known) == len(lengths) else "-",
            )
        )
    if not rows:
        return []
    return [
        Block(kind="h3", text="Effective length"),
        Block(
            kind="p",
            text=f"RULER's effective length per seed: the longest length up to which the score "
            f"stays at or above the score at the training context minus {DROP} (a run below "
            f"{LEARNED} there has not learned the task and has none); median over seeds where "
            "every seed learned.",
        ),
        Block(
            kind="table",
            header=("variant", "seeds", "score at training context", "per seed", "median"),
            rows=tuple(rows),
        ),
    ]
