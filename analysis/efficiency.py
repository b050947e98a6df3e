"""The parameter-efficiency study: smallest width reaching a target, and how it scales.

Input is a flat list of :class:`Result` rows (one trained run each: encoding, automaton size or
operator count, seed, ``d_model``, accuracy). For each encoding and size the *threshold width* is
the smallest width of the grid whose accuracy, averaged over seeds, reaches the target. Widths are
visited in increasing order and the search stops at the first that reaches it (the orchestration
in ``bipe study width`` trains no larger width once a cell has reached the target, so larger widths
may be absent from the results). A cell that never reaches the target is *censored*: reported,
left out of the fit.

The fit is ``log(width) = log(c) + b * log(size)`` per encoding by least squares (with several
size axes, e.g. inner and outer states varied on a grid, ``log(width) = log(c) + sum_i b_i *
log(size_i)``). Each exponent's 95% interval is the wider of two: a bootstrap that resamples
seeds within each (encoding, size) cell and redoes the threshold search and the fit (training
noise), and the regression's t interval from the fit's residuals (thresholds snapped to the
width grid, and any departure from a power law). With one seed the second stands alone.
Hypotheses from :mod:`bipe.analysis.theory` give the exponents they imply over the same sizes,
set beside the fit.

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

from .stats import _T975, N_BOOT, Interval
from .theory import HYPOTHESES, SYMBOLS


@dataclass(frozen=True, kw_only=True)
class Result:
    """One trained run of the study: ``accuracy`` of ``encoding`` at ``size`` and ``width``."""

    encoding: str
    size: float | tuple[float, ...]
    seed: int
    width: int
    accuracy: float

    def __post_init__(self) -> None:
        if self.width <= 0:
            raise ValueError(f"Result.width must be positive, got {self.width}")
        sizes = self.size if isinstance(self.size, tuple) else (self.size,)
        if not sizes or not all(x > 0 for x in sizes):
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
        size = tuple(float(x) for x in r.size) if isinstance(r.size, tuple) else float(r.size)
        cells[(r.encoding, size)].append(r)
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
    for key, rows in sorted(_cells(results).items(), key=lambda kv: repr(kv[0])):
        widths, acc = _cell_matrix(rows)
        out[key] = _threshold(widths, acc, target)
    return out


def fit_power_law(sizes, widths) -> tuple[float | tuple[float, ...], float]:
    """Least-squares ``(exponent, prefactor)`` of ``width = prefactor * size ** exponent``.

    ``sizes`` is (P,) for one size axis, or (P, k) for k axes (``width = c * prod_i
    size_i ** b_i``; the exponent is then a k-tuple). The points must determine the fit: at
    least two distinct sizes on one axis, and for k axes a full-rank design.
    """
    x = np.log(np.asarray(sizes, dtype=float))  # (P,) or (P, k)
    y = np.log(np.asarray(widths, dtype=float))  # (P,)
    multi = x.ndim == 2
    x = x if multi else x[:, None]  # (P, k)
    design = np.hstack([np.ones((x.shape[0], 1)), x])  # (P, k + 1)
    if x.shape[0] < x.shape[1] + 1 or np.linalg.matrix_rank(design) < x.shape[1] + 1:
        raise ValueError(
            "a power-law fit needs more distinct sizes than size axes "
            "(and, with several axes, sizes that vary independently)"
        )
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    exponents = tuple(float(b) for b in coef[1:])
    return (exponents if multi else exponents[0]), float(np.exp(coef[0]))


def _fits(sizes: list, widths: list) -> bool:
    """Whether :func:`fit_power_law` can fit these points."""
    try:
        fit_power_law(sizes, widths)
    except ValueError:
        return False
    return True


@dataclass(frozen=True, kw_only=True)
class ScalingFit:
    """Fit of threshold width against size for one encoding.

    ``exponents`` has one interval per size axis (empty when the points cannot determine a
    fit); each carries the wider of the seed-bootstrap and the regression interval (module
    doc; ``n`` = bootstrap replicates with a usable fit, or the points fitted when there is
    no bootstrap). ``points`` are the (size, threshold width) pairs
    used (size a number, or a tuple with several axes); ``censored`` the sizes where no width
    reached the target.
    """

    encoding: str
    exponents: tuple[Interval, ...]
    prefactor: float | None
    points: tuple[tuple[float | tuple[float, ...], int], ...]
    censored: tuple[float | tuple[float, ...], ...]

    @property
    def exponent(self) -> Interval | None:
        """The exponent of a one-axis fit (None without a fit or with several axes)."""
        return self.exponents[0] if len(self.exponents) == 1 else None


def fit_scaling(
    rng: np.random.Generator,
    results: Iterable[Result],
    target: float,
    *,
    n_boot: int = N_BOOT,
    level: float = 0.95,
) -> dict[str, ScalingFit]:
    """Per encoding: threshold widths, the log-log fit and bootstrap intervals on its exponents.

    A result's ``size`` may be a number or a tuple (one entry per size axis, e.g. inner and
    outer states); all results must use the same number of axes.
    """
    by_enc: dict[str, dict] = defaultdict(dict)
    for (enc, size), rows in sorted(_cells(results).items(), key=lambda kv: repr(kv[0])):
        by_enc[enc][size] = _cell_matrix(rows)
    dims = {len(_vector(s)) for cells in by_enc.values() for s in cells}
    if len(dims) > 1:
        raise ValueError(f"results mix sizes with different numbers of axes: {sorted(dims)}")
    fits = {}
    alpha = (1.0 - level) / 2.0
    for enc, cells in by_enc.items():
        thresholds = {s: _threshold(w, a, target) for s, (w, a) in cells.items()}
        order = sorted(thresholds, key=_vector)
        points = tuple((s, thresholds[s]) for s in order if thresholds[s] is not None)
        censored = tuple(s for s in order if thresholds[s] is None)
        exponents: tuple[Interval, ...] = ()
        prefactor = None
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        if _fits(xs, ys):
            b, prefactor = fit_power_law(xs, ys)
            b = _vector(b)
            half = regression_halfwidths(xs, ys)  # (k,)
            boots = _bootstrap_exponents(rng, cells, target, n_boot)  # (R, k)
            exponents = tuple(
                Interval(
                    estimate=b[i],
                    lo=min(
                        b[i] - half[i],
                        float(np.quantile(boots[:, i], alpha)) if len(boots) else np.inf,
                    ),
                    hi=max(
                        b[i] + half[i],
                        float(np.quantile(boots[:, i], 1 - alpha)) if len(boots) else -np.inf,
                    ),
                    n=len(boots) or len(points),
                    level=level,
                )
                for i in range(len(b))
            )
        fits[enc] = ScalingFit(
            encoding=enc, exponents=exponents, prefactor=prefactor, points=points, censored=censored
        )
    return fits


def regression_halfwidths(sizes, widths) -> np.ndarray:
    """Half-widths of the 95% t intervals on the exponents of :func:`fit_power_law` from its
    residuals (``inf`` when the points leave no residual degree of freedom).

    The seed bootstrap sees only training noise; threshold widths also sit on a grid and the
    power law is a model, and both show up here, as scatter of the points about the fit.
    """
    x = np.log(np.asarray(sizes, dtype=float))  # (P,) or (P, k)
    y = np.log(np.asarray(widths, dtype=float))  # (P,)
    x = x if x.ndim == 2 else x[:, None]  # (P, k)
    design = np.hstack([np.ones((x.shape[0], 1)), x])  # (P, k + 1)
    dof = design.shape[0] - design.shape[1]
    if dof <= 0:
        return np.full(x.shape[1], np.inf)
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    resid = y - design @ coef  # (P,)
    cov = float(resid @ resid) / dof * np.linalg.inv(design.T @ design)  # (k + 1, k + 1)
    t = _T975[dof - 1] if dof <= len(_T975) else 1.96
    return t * np.sqrt(np.diag(cov)[1:])


def _vector(size) -> tuple[float, ...]:
    return tuple(float(x) for x in size) if isinstance(size, (tuple, list)) else (float(size),)


def _bootstrap_exponents(
    rng: np.random.Generator, cells: dict, target: float, n_boot: int
) -> np.ndarray:
    """(R, k) exponents refitted on seed-resampled cells; unfittable replicates are dropped."""
    if all(acc.shape[0] == 1 for _, acc in cells.values()):
        return np.empty((0, 0))  # one seed per cell: nothing to resample
    out = []
    for _ in range(n_boot):
        xs, ys = [], []
        for size, (widths, acc) in cells.items():
            pick = rng.integers(0, acc.shape[0], size=acc.shape[0])  # (S,)
            t = _threshold(widths, acc[pick], target)
            if t is not None:
                xs.append(size)
                ys.append(t)
        if _fits(xs, ys):
            out.append(_vector(fit_power_law(xs, ys)[0]))
    return np.asarray(out).reshape(len(out), -1)


def _size_label(size) -> str:
    v = _vector(size)
    return f"{v[0]:g}" if len(v) == 1 else "(" + ", ".join(f"{x:g}" for x in v) + ")"


def scaling_table(
    fits: dict[str, ScalingFit], implied: dict | None = None, axes: Sequence[str] = ()
) -> str:
    """Markdown table: threshold widths per size, fitted exponents; then hypotheses' exponents.

    ``axes`` names the size axes (default ``size``, or ``axis 1..k``).
    """
    sizes = sorted(
        {s for f in fits.values() for s, _ in f.points}
        | {s for f in fits.values() for s in f.censored},
        key=_vector,
    )
    k = len(_vector(sizes[0])) if sizes else 1
    names = list(axes) or (["size"] if k == 1 else [f"axis {i + 1}" for i in range(k)])
    expo_head = [f"exponent of {n} [95% CI]" for n in names]
    head = ["encoding", *[f"size {_size_label(s)}" for s in sizes], *expo_head]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for enc, fit in fits.items():
        found = dict(fit.points)
        cells = [
            str(found[s]) if s in found else (">grid" if s in fit.censored else "-") for s in sizes
        ]
        expos = [e.format(2) for e in fit.exponents] or ["n/a (too few sizes)"] * len(names)
        lines.append("| " + " | ".join([enc, *cells, *expos]) + " |")
    if implied:
        lines += [
            "",
            "| hypothesis | " + " | ".join(f"implied exponent of {n}" for n in names) + " |",
            "|---|" + "---|" * len(names),
        ]
        for name, value in implied.items():
            vals = _vector(value)
            lines.append(f"| {name} | " + " | ".join(f"{v:.2f}" for v in vals) + " |")
    return "\n".join(lines) + "\n"


GUIDE_HYPOTHESES = ("additive", "product")


def scaling_series(
    fits: dict[str, ScalingFit], second_axis: Sequence[float] = (), second_name: str = ""
) -> tuple[dict[str, list], dict[str, tuple[float, float]]]:
    """Points and fitted lines of :func:`plot_scaling` against the first size axis.

    With a second axis (its values ``second_axis``, named ``second_name``) there is one series
    per second-axis value, its line the two-axis fit at that value.
    """
    series: dict[str, list] = {}
    fitted: dict[str, tuple[float, float]] = {}
    for enc, f in fits.items():
        if not second_axis:
            series[enc] = list(f.points)
            if f.exponent is not None and f.prefactor is not None:
                fitted[enc] = (f.exponent.estimate, f.prefactor)
            continue
        for s2 in second_axis:
            label = f"{enc} ({second_name}={s2:g})"
            series[label] = [(s[0], w) for s, w in f.points if s[1] == s2]
            if len(f.exponents) == 2 and f.prefactor is not None:
                b1, b2 = f.exponents[0].estimate, f.exponents[1].estimate
                fitted[label] = (b1, f.prefactor * s2**b2)
    return series, fitted


def hypothesis_guides(
    points: Sequence[dict[str, float]],
    sizes: Sequence[float],
    fits: dict[str, ScalingFit],
    names: Sequence[str] = GUIDE_HYPOTHESES,
) -> dict[str, list[tuple[float, float]]]:
    """Hypotheses as curves over one size axis, each scaled (one constant) to the geometric
    mean of all threshold widths found, for reading a plot; ``points`` are the family symbol
    values at ``sizes``."""
    found = [(s, w) for f in fits.values() for s, w in f.points]
    if not found:
        return {}
    out = {}
    by_size = dict(zip(sizes, points, strict=True))
    for name in names:
        expr = HYPOTHESES.get(name)
        if expr is None:
            continue
        h = {s: float(expr.subs({SYMBOLS[k]: v for k, v in p.items()})) for s, p in by_size.items()}
        scale = math.exp(np.mean([math.log(w) - math.log(h[s]) for s, w in found]))
        out[name] = [(s, scale * h[s]) for s in sorted(h)]
    return out


def hypothesis_verdict(
    fit: ScalingFit,
    implied: dict,
    axes: Sequence[str],
    names: Sequence[str] = GUIDE_HYPOTHESES,
    *,
    lean_low: bool = False,
) -> str:
    """One sentence: the fitted exponents of one encoding and which hypotheses' implied
    exponents fall inside all of their 95% intervals (consistent) or outside one (excluded).

    ``lean_low``: some thresholds sit at the grid's floor (upper bounds), so the exponents may
    be underestimated; a hypothesis is then excluded only by exponents it falls *below*, and
    one above an interval is left open. Two hypotheses are *told apart* only when one is
    consistent and the others excluded.
    """
    if not fit.exponents:
        return f"`{fit.encoding}`: too few sizes reached the target for a fit"
    if not all(math.isfinite(e.lo) for e in fit.exponents):
        return (
            f"`{fit.encoding}`: no finite interval on the exponents (one seed per cell "
            "and no more points than the fit has parameters), so no hypothesis can be "
            "excluded"
        )
    said = ", ".join(f"{a} {e.format(2)}" for a, e in zip(axes, fit.exponents, strict=True))
    inside, outside, open_ = [], [], []
    for name in names:
        if name not in implied:
            continue
        vals = _vector(implied[name])
        pairs = list(zip(fit.exponents, vals, strict=True))
        below = any(v < e.lo - 1e-9 for e, v in pairs)  # 1e-9: a point interval holds its point
        above = any(v > e.hi + 1e-9 for e, v in pairs)
        label = f"{name} ({', '.join(f'{v:.2f}' for v in vals)})"
        if not below and not above:
            inside.append(label)
        elif above and not below and lean_low:
            open_.append(label)
        else:
            outside.append(label)
    if not (inside or outside or open_):
        return f"`{fit.encoding}`: exponents {said}"
    parts = []
    if inside:
        parts.append("consistent with " + " and ".join(inside))
    if outside:
        parts.append("excludes " + " and ".join(outside))
    if open_:
        parts.append(
            "cannot exclude "
            + " and ".join(open_)
            + " (thresholds at the grid's floor may hide growth)"
        )
    if len(inside) == 1 and outside and not open_:
        tail = ""
    elif not inside and not open_:
        tail = "; none of them fits"
    else:
        tail = "; the hypotheses cannot be told apart at this scale"
    return f"`{fit.encoding}`: exponents {said}; " + "; ".join(parts) + tail
