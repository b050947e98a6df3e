"""The parameter-efficiency study: smallest width reaching a target, and how it scales.

Input is a flat list of :class:`Result` rows (one trained run each: encoding, automaton size or
operator count, seed, ``d_model``, accuracy). For each encoding and size the *threshold width* is
the smallest width of the grid whose accuracy, averaged over seeds, reaches the target. Widths are
visited in increasing order and the search stops at the first that reaches it (the orchestration
in ``bipe study width`` trains no larger width once a cell has reached the target, so larger widths
may be absent from the results). A cell that never reaches the target is *censored*: reported,
left out of the fit.

The fit is ``log(width) = log(c) + b * log(size)`` per encoding by least squares; the exponent
``b`` gets a bootstrap interval by resampling seeds within each (encoding, size) cell and redoing
the threshold search and the fit. Hypotheses from :mod:`bipe.analysis.theory` give the exponent
they imply over the same sizes, set beside the fit.

Worked example (threshold search on a planted accuracy function)::

    >>> width_search(lambda w: 1.0 if w >= 48 else 0.2, [16, 32, 64, 128], 0.9)
    WidthSearch(width=64, evaluated=((16, 0.2), (32, 0.2), (64, 1.0)))
"""

from __future__ import annotations

import math
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from .stats import N_BOOT, Interval


@dataclass(frozen=True, kw_only=True)
class Result:
    """One trained run of the study: ``accuracy`` of ``encoding`` at ``size`` and ``width``."""

    encoding: str
    size: float
    seed: int
    width: int
    accuracy: float

    def __post_init__(self) -> None:
        if self.width <= 0:
            raise ValueError(f"Result.width must be positive, got {self.width}")
        if not self.size > 0:
            raise ValueError(f"Result.size must be positive, got {self.size}")
        if not math.isfinite(self.accuracy):
            raise ValueError(f"Result.accuracy must be finite, got {self.accuracy}")


@dataclass(frozen=True)
class WidthSearch:
    """Outcome of :func:`width_search`: the width found (None if none) and what was evaluated."""

    width: int | None
    evaluated: tuple[tuple[int, float], ...]


def width_search(
    evaluate: Callable[[int], float], widths: Sequence[int], target: float
) -> WidthSearch:
    """Evaluate ``widths`` in increasing order; stop at the first whose accuracy >= ``target``."""
    grid = sorted(set(int(w) for w in widths))
    if not grid:
        raise ValueError("width_search needs at least one width")
    evaluated = []
    for w in grid:
        acc = float(evaluate(w))
        evaluated.append((w, acc))
        if acc >= target:
            return WidthSearch(w, tuple(evaluated))
    return WidthSearch(None, tuple(evaluated))


def _cells(results: Iterable[Result]) -> dict[tuple[str, float], list[Result]]:
    cells: dict[tuple[str, float], list[Result]] = defaultdict(list)
    for r in results:
        cells[(r.encoding, float(r.size))].append(r)
    return dict(cells)


def _cell_matrix(rows: list[Result]) -> tuple[np.ndarray, np.ndarray]:
    """Seeds x widths accuracy matrix (NaN where a seed has no run at that width)."""
    widths = np.array(sorted({r.width for r in rows}))  # (W,)
    seeds = sorted({r.seed for r in rows})
    acc = np.full((len(seeds), len(widths)), np.nan)  # (S, W)
    s_index = {s: i for i, s in enumerate(seeds)}
    w_index = {int(w): j for j, w in enumerate(widths)}
    for r in rows:
        acc[s_index[r.seed], w_index[r.width]] = r.accuracy
    return widths, acc


def _threshold(widths: np.ndarray, acc: np.ndarray, target: float) -> int | None:
    """First width (ascending) whose seed-mean accuracy reaches target; ``acc`` is (S, W)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN column: mean of empty slice
        mean = np.nanmean(acc, axis=0)  # (W,)
    hits = np.flatnonzero(np.nan_to_num(mean, nan=-np.inf) >= target)
    return int(widths[hits[0]]) if hits.size else None


def smallest_widths(
    results: Iterable[Result], target: float
) -> dict[tuple[str, float], int | None]:
    """Threshold width per (encoding, size); None when no width of the grid reaches ``target``."""
    out = {}
    for key, rows in sorted(_cells(results).items()):
        widths, acc = _cell_matrix(rows)
        out[key] = _threshold(widths, acc, target)
    return out


def fit_power_law(sizes: Sequence[float], widths: Sequence[float]) -> tuple[float, float]:
    """Least-squares ``(exponent, prefactor)`` of ``width = prefactor * size ** exponent``."""
    x = np.log(np.asarray(sizes, dtype=float))  # (P,)
    y = np.log(np.asarray(widths, dtype=float))  # (P,)
    if x.size < 2 or np.ptp(x) == 0:
        raise ValueError("a power-law fit needs at least two distinct sizes")
    slope, intercept = np.polyfit(x, y, 1)
    return float(slope), float(np.exp(intercept))


@dataclass(frozen=True, kw_only=True)
class ScalingFit:
    """Fit of threshold width against size for one encoding.

    ``exponent`` carries the bootstrap interval (seeds resampled within cells; ``n`` = number
    of bootstrap replicates with a usable fit). ``points`` are the (size, threshold width)
    pairs used; ``censored`` the sizes where no width reached the target.
    """

    encoding: str
    exponent: Interval | None
    prefactor: float | None
    points: tuple[tuple[float, int], ...]
    censored: tuple[float, ...]


def fit_scaling(
    rng: np.random.Generator,
    results: Iterable[Result],
    target: float,
    *,
    n_boot: int = N_BOOT,
    level: float = 0.95,
) -> dict[str, ScalingFit]:
    """Per encoding: threshold widths, the log-log fit and a bootstrap interval on its exponent."""
    by_enc: dict[str, dict[float, tuple[np.ndarray, np.ndarray]]] = defaultdict(dict)
    for (enc, size), rows in sorted(_cells(results).items()):
        by_enc[enc][size] = _cell_matrix(rows)
    fits = {}
    for enc, cells in by_enc.items():
        thresholds = {s: _threshold(w, a, target) for s, (w, a) in cells.items()}
        points = tuple((s, t) for s, t in sorted(thresholds.items()) if t is not None)
        censored = tuple(s for s, t in sorted(thresholds.items()) if t is None)
        exponent, prefactor = None, None
        if len({p[0] for p in points}) >= 2:
            b, c = fit_power_law([p[0] for p in points], [p[1] for p in points])
            boots = _bootstrap_exponents(rng, cells, target, n_boot)
            alpha = (1.0 - level) / 2.0
            lo, hi = np.quantile(boots, [alpha, 1 - alpha]) if boots.size else (np.nan, np.nan)
            exponent = Interval(estimate=b, lo=float(lo), hi=float(hi), n=int(boots.size),
                                level=level)
            prefactor = c
        fits[enc] = ScalingFit(encoding=enc, exponent=exponent, prefactor=prefactor,
                               points=points, censored=censored)
    return fits


def _bootstrap_exponents(
    rng: np.random.Generator,
    cells: dict[float, tuple[np.ndarray, np.ndarray]],
    target: float,
    n_boot: int,
) -> np.ndarray:
    """Exponents refitted on seed-resampled cells; replicates with < 2 sizes are dropped."""
    if all(acc.shape[0] == 1 for _, acc in cells.values()):
        return np.empty(0)  # one seed per cell: nothing to resample
    out = []
    for _ in range(n_boot):
        xs, ys = [], []
        for size, (widths, acc) in cells.items():
            pick = rng.integers(0, acc.shape[0], size=acc.shape[0])  # (S,)
            t = _threshold(widths, acc[pick], target)
            if t is not None:
                xs.append(size)
                ys.append(t)
        if len(set(xs)) >= 2:
            out.append(fit_power_law(xs, ys)[0])
    return np.asarray(out)


def scaling_table(
    fits: dict[str, ScalingFit], implied: dict[str, float] | None = None
) -> str:
    """Markdown table: threshold widths per size, fitted exponent; then hypotheses' exponents."""
    sizes = sorted({s for f in fits.values() for s, _ in f.points} |
                   {s for f in fits.values() for s in f.censored})
    head = ["encoding", *[f"size {s:g}" for s in sizes], "exponent [95% CI]"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for enc, fit in fits.items():
        found = dict(fit.points)
        cells = [str(found[s]) if s in found else (">grid" if s in fit.censored else "-")
                 for s in sizes]
        expo = fit.exponent.format(2) if fit.exponent is not None else "n/a (< 2 sizes)"
        lines.append("| " + " | ".join([enc, *cells, expo]) + " |")
    if implied:
        lines += ["", "| hypothesis | implied exponent |", "|---|---|"]
        lines += [f"| {name} | {value:.2f} |" for name, value in implied.items()]
    return "\n".join(lines) + "\n"
