"""Bootstrap confidence intervals and paired differences (numpy only).

Every function that resamples takes a ``numpy.random.Generator`` first, so a report built
twice from the same runs with the same seed prints the same intervals.

Worked example::

    >>> rng = np.random.default_rng(0)
    >>> ci = bootstrap_ci(rng, [0.8, 0.9, 1.0])
    >>> round(ci.estimate, 3), ci.lo <= ci.estimate <= ci.hi
    (0.9, True)
    >>> d = paired_difference(rng, {0: 0.9, 1: 0.8}, {0: 0.5, 1: 0.6})
    >>> round(d.estimate, 3), d.n
    (0.3, 2)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

N_BOOT = 2000


@dataclass(frozen=True, kw_only=True)
class Interval:
    """A point estimate with a two-sided percentile-bootstrap interval.

    ``n`` is the number of independent units (seeds) behind the estimate; with ``n == 1``
    the interval collapses to the point (one seed says nothing about spread).
    """

    estimate: float
    lo: float
    hi: float
    n: int
    level: float = 0.95

    def format(self, digits: int = 3) -> str:
        """``'0.912 [0.880, 0.940]'`` (or just the estimate when there is one unit)."""

        def fmt(x: float) -> str:
            return f"{round(x, digits) + 0.0:.{digits}f}"  # + 0.0: no "-0.00"

        if self.n <= 1 or not np.isfinite(self.lo):
            return fmt(self.estimate)
        return f"{fmt(self.estimate)} [{fmt(self.lo)}, {fmt(self.hi)}]"


def _check_level(level: float) -> None:
    if not 0.0 < level < 1.0:
        raise ValueError(f"confidence level must be in (0, 1), got {level}")


def named_rng(seed: int, name: str) -> np.random.Generator:
    """A random stream of its own for one named part of a document (a study, a task).

    Parts drawn from one shared stream in order would shift each other: a run added to one
    would move the bootstrap intervals of every part after it.
    """

    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=tuple(name.encode())))


def bootstrap_ci(
    rng: np.random.Generator,
    values: Sequence[float] | np.ndarray,
    *,
    statistic: Callable[[np.ndarray], np.ndarray] | None = None,
    n_boot: int = N_BOOT,
    level: float = 0.95,
) -> Interval:
    """Percentile bootstrap interval of ``statistic`` (default: the mean) over ``values``.

    ``statistic`` maps an (R, N) array of resamples to (R,) values (vectorised); it is also
    applied to the (1, N) original sample for the point estimate.
    """
    _check_level(level)
    x = np.asarray(values, dtype=float).ravel()  # (N,)
    if x.size == 0:
        raise ValueError("bootstrap_ci needs at least one value")
    if not np.all(np.isfinite(x)):
        raise ValueError("bootstrap_ci got a non-finite value")
    stat = statistic or (lambda a: a.mean(axis=1))
    estimate = float(stat(x[None, :])[0])
    if x.size == 1:
        return Interval(estimate=estimate, lo=estimate, hi=estimate, n=1, level=level)
    idx = rng.integers(0, x.size, size=(n_boot, x.size))  # (R, N)
    boots = np.asarray(stat(x[idx]), dtype=float)  # (R,)
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(boots, [alpha, 1.0 - alpha])
    return Interval(estimate=estimate, lo=float(lo), hi=float(hi), n=int(x.size), level=level)


def paired_difference(
    rng: np.random.Generator,
    a: Mapping[object, float],
    b: Mapping[object, float],
    *,
    n_boot: int = N_BOOT,
    level: float = 0.95,
) -> Interval:
    """Mean of ``a[k] - b[k]`` over the keys (seeds) both share, with a bootstrap interval.

    Pairing by seed removes the variance the two encodings share (same data order, same
    evaluation sample). Keys present in only one mapping are ignored; no shared key is a
    ``ValueError``.
    """
    keys = sorted(set(a) & set(b), key=repr)
    if not keys:
        raise ValueError("paired_difference: the two groups share no seed")
    diffs = np.array([float(a[k]) - float(b[k]) for k in keys])  # (N,)
    return bootstrap_ci(rng, diffs, n_boot=n_boot, level=level)


def mean_ci_by_group(
    rng: np.random.Generator,
    groups: Mapping[object, Sequence[float]],
    *,
    n_boot: int = N_BOOT,
    level: float = 0.95,
) -> dict[object, Interval]:
    """:func:`bootstrap_ci` of the mean for each group (e.g. each evaluation length)."""
    return {
        key: bootstrap_ci(rng, vals, n_boot=n_boot, level=level) for key, vals in groups.items()
    }


# two-sided 95% Student-t quantiles t_{0.975, df} for df = 1..30 (beyond: the normal 1.96)
_T975 = (
    12.706,
    4.303,
    3.182,
    2.776,
    2.571,
    2.447,
    2.365,
    2.306,
    2.262,
    2.228,
    2.201,
    2.179,
    2.160,
    2.145,
    2.131,
    2.120,
    2.110,
    2.101,
    2.093,
    2.086,
    2.080,
    2.074,
    2.069,
    2.064,
    2.060,
    2.056,
    2.052,
    2.048,
    2.045,
    2.042,
)


def t_interval(values: Sequence[float] | np.ndarray) -> Interval:
    """Mean with its two-sided 95% Student-t interval (mean +- t * sd / sqrt(n)).

    With few seeds the percentile bootstrap is too narrow (it never reaches beyond the
    observed values); the t interval is the conservative choice for deciding whether a paired
    difference excludes zero. One value gives an infinite interval.
    """
    x = np.asarray(values, dtype=float).ravel()  # (N,)
    if x.size == 0 or not np.all(np.isfinite(x)):
        raise ValueError("t_interval needs at least one finite value")
    mean = float(x.mean())
    if x.size == 1:
        return Interval(estimate=mean, lo=-np.inf, hi=np.inf, n=1)
    t = _T975[x.size - 2] if x.size - 1 <= len(_T975) else 1.96
    half = t * float(x.std(ddof=1)) / np.sqrt(x.size)
    return Interval(estimate=mean, lo=mean - half, hi=mean + half, n=int(x.size))


def verdict(a: str, b: str, iv: Interval) -> str:
    """The sentence an interval of ``a - b`` supports.

    Fewer than three seeds never support a claim, and are named as too few rather than as
    "no difference" (a single seed has no interval at all).
    """
    seeds = f"{iv.n} seed{'' if iv.n == 1 else 's'}"
    if iv.n and iv.estimate == 0 and iv.lo == iv.hi == 0:
        return f"{a} and {b} identical in every seed ({seeds})"
    if iv.n < 3:
        return f"too few seeds to compare {a} and {b} ({seeds}; an interval needs at least 3)"
    if not (iv.lo > 0 or iv.hi < 0):
        return f"no difference between {a} and {b} detectable at this budget ({seeds})"
    return f"{a} {'higher' if iv.lo > 0 else 'lower'} than {b} ({seeds})"


def t_pvalue(values: Sequence[float] | np.ndarray) -> float:
    """Two-sided p-value of the one-sample Student-t test that the mean of ``values`` is 0.

    numpy only: the t density is integrated numerically from 0 to ``|t|`` (Simpson's rule on
    a fine grid; accurate to about 1e-9 for the seed counts studies use). Equal values give
    0.0 when they are not 0 and 1.0 when they are; fewer than two values give 1.0 (no test).
    """
    x = np.asarray(values, dtype=float).ravel()  # (N,)
    if x.size < 2 or not np.all(np.isfinite(x)):
        return 1.0
    mean, sd = float(x.mean()), float(x.std(ddof=1))
    if sd == 0.0:
        return 1.0 if mean == 0.0 else 0.0
    t = abs(mean) / (sd / np.sqrt(x.size))
    df = x.size - 1
    log_c = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    grid = np.linspace(0.0, t, 20001)  # (G,) odd count for Simpson's rule
    dens = np.exp(log_c - (df + 1) / 2 * np.log1p(grid**2 / df))  # (G,)
    h = t / (grid.size - 1)
    area = h / 3 * (dens[0] + dens[-1] + 4 * dens[1:-1:2].sum() + 2 * dens[2:-1:2].sum())
    return float(min(1.0, max(0.0, 1.0 - 2.0 * area)))


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the input order.

    Rejecting every hypothesis whose adjusted p-value is below ``alpha`` keeps the chance of
    any false rejection in the family at most ``alpha``. Worked example::

        >>> [round(p, 3) for p in holm([0.01, 0.04, 0.03])]
        [0.03, 0.06, 0.06]
    """
    p = np.asarray(pvalues, dtype=float)  # (M,)
    order = np.argsort(p, kind="stable")
    m = p.size
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])  # (M,) in ascending order of p
    adjusted = np.maximum.accumulate(scaled)
    out = np.empty(m)
    out[order] = adjusted
    return [float(v) for v in out]
