"""Width search on planted thresholds; the power-law fit recovers a planted exponent."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bipe.analysis.efficiency import (
    Result,
    fit_power_law,
    fit_scaling,
    scaling_table,
    smallest_widths,
    width_search,
)

GRID = [8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256]


@given(st.sampled_from(GRID), st.floats(0.5, 0.99))
def test_width_search_finds_planted_threshold_and_stops(threshold, target):
    calls = []

    def accuracy(w):
        calls.append(w)
        return 1.0 if w >= threshold else target - 0.3

    found = width_search(accuracy, list(reversed(GRID)), target)
    assert found.width == threshold
    assert calls == [w for w in GRID if w <= threshold]  # ascending, early stop


def test_width_search_reports_none_when_never_reached():
    found = width_search(lambda w: 0.1, [16, 32], 0.9)
    assert found.width is None and [w for w, _ in found.evaluated] == [16, 32]


def _synthetic_results(rng, exponent, prefactor, sizes, seeds, noise=0.0):
    """Accuracy is a sigmoid in log(width) centred on prefactor * size**exponent."""
    rows = []
    for size in sizes:
        centre = prefactor * size**exponent * math.exp(noise * rng.normal())
        for seed in seeds:
            jitter = math.exp(noise * rng.normal())
            for w in GRID:
                acc = 1 / (1 + math.exp(-8 * (math.log(w) - math.log(centre * jitter))))
                rows.append(Result(encoding="enc", size=size, seed=seed, width=w, accuracy=acc))
    return rows


def test_smallest_widths_use_seed_means():
    rows = [
        Result(encoding="a", size=2, seed=s, width=w, accuracy=acc)
        for s, w, acc in [(0, 16, 0.95), (1, 16, 0.5), (0, 32, 0.95), (1, 32, 0.9)]
    ]
    assert smallest_widths(rows, 0.9) == {("a", 2.0): 32}
    assert smallest_widths(rows, 0.99) == {("a", 2.0): None}


@given(st.floats(0.3, 2.0))
def test_fit_power_law_recovers_exact_exponent(b):
    sizes = [2.0, 3.0, 5.0, 8.0]
    got_b, got_c = fit_power_law(sizes, [7.0 * s**b for s in sizes])
    assert got_b == pytest.approx(b) and got_c == pytest.approx(7.0)


def test_fit_scaling_recovers_planted_exponent_with_interval():
    rng = np.random.default_rng(0)
    sizes = [4, 8, 16, 32, 64]
    rows = _synthetic_results(rng, 1.0, 2.0, sizes, seeds=range(4), noise=0.1)
    fits = fit_scaling(np.random.default_rng(1), rows, 0.5, n_boot=200)
    fit = fits["enc"]
    # Widths snap to a grid of ratio ~1.5, so allow the quantisation error.
    assert fit.exponent.estimate == pytest.approx(1.0, abs=0.2)
    assert fit.exponent.lo <= fit.exponent.estimate <= fit.exponent.hi
    # the grid's steps (points 12, 24, 32, 64, 192) widen it beyond the seed bootstrap
    assert fit.exponent.hi - fit.exponent.lo < 0.8 and fit.exponent.lo < 1.0 < fit.exponent.hi
    assert not fit.censored
    table = scaling_table(fits, {"additive": 1.0})
    assert "| enc |" in table and "additive" in table


def test_fit_scaling_marks_censored_sizes():
    rows = _synthetic_results(np.random.default_rng(0), 2.0, 4.0, [2, 4, 16], seeds=[0])
    fit = fit_scaling(np.random.default_rng(0), rows, 0.5, n_boot=50)["enc"]
    assert fit.censored == (16.0,)  # 4 * 16^2 = 1024 > largest width
    assert fit.exponent.estimate == pytest.approx(2.0, abs=0.35)
    # one seed (no bootstrap) and two points (no residual): no finite interval
    assert fit.exponent.n == 2 and np.isinf(fit.exponent.hi)
    assert ">grid" in scaling_table({"enc": fit})


def test_result_validates():
    with pytest.raises(ValueError, match="width"):
        Result(encoding="a", size=1, seed=0, width=0, accuracy=0.5)


@given(st.floats(0.2, 2.5), st.floats(0.2, 2.5))
def test_two_axis_fit_recovers_both_exponents(b1, b2):
    sizes = [(n, m) for n in (2.0, 4.0, 8.0) for m in (1.0, 3.0)]
    widths = [5.0 * n**b1 * m**b2 for n, m in sizes]
    (got1, got2), c = fit_power_law(sizes, widths)
    assert (got1, got2, c) == (pytest.approx(b1), pytest.approx(b2), pytest.approx(5.0))


def test_two_axis_fit_needs_independent_axes():
    with pytest.raises(ValueError, match="independently"):
        fit_power_law([(2, 2), (4, 4), (8, 8)], [1, 2, 3])  # collinear: n = m


def test_fit_scaling_on_a_grid_of_inner_and_outer_sizes():
    grid = [(n, m) for n in (2, 4, 8) for m in (2, 4, 8)]
    rows = []
    for seed in range(3):
        for n, m in grid:
            need = 2 * n * m  # product scaling: exponent 1 on each axis
            for w in GRID:
                rows.append(
                    Result(
                        encoding="flat",
                        size=(n, m),
                        seed=seed,
                        width=w,
                        accuracy=0.95 if w >= need else 0.1,
                    )
                )
    fit = fit_scaling(np.random.default_rng(0), rows, 0.9, n_boot=50)["flat"]
    assert len(fit.exponents) == 2 and fit.exponent is None
    for e in fit.exponents:
        assert e.estimate == pytest.approx(1.0, abs=0.15)
    table = scaling_table({"flat": fit}, {"product": (1.0, 1.0)}, axes=("n", "m"))
    assert "size (2, 8)" in table and "exponent of m" in table
    assert "| product | 1.00 | 1.00 |" in table
    with pytest.raises(ValueError, match="axes"):
        fit_scaling(
            np.random.default_rng(0),
            rows + [Result(encoding="x", size=3, seed=0, width=8, accuracy=1.0)],
            0.9,
        )


def test_regression_interval_covers_what_the_seed_bootstrap_cannot_see():
    """Every seed agrees (the bootstrap collapses to a point), but the thresholds are not a
    power law: the residuals widen the interval; an exact power law keeps it a point."""
    from bipe.analysis.efficiency import regression_halfwidths

    def rows(widths):
        return [
            Result(encoding="enc", size=s, seed=seed, width=w, accuracy=acc)
            for s, top in zip((2, 4, 8, 16), widths, strict=True)
            for seed in range(3)
            for w, acc in ((top, 0.95),)
        ]

    bent = fit_scaling(np.random.default_rng(0), rows([8, 8, 16, 64]), 0.9, n_boot=50)["enc"]
    b = bent.exponent
    half = regression_halfwidths([2, 4, 8, 16], [8, 8, 16, 64])[0]
    assert half > 0.3 and (b.lo, b.hi) == pytest.approx((b.estimate - half, b.estimate + half))
    exact = fit_scaling(np.random.default_rng(0), rows([8, 16, 32, 64]), 0.9, n_boot=50)["enc"]
    assert (exact.exponent.lo, exact.exponent.hi) == pytest.approx((1.0, 1.0))
    # two points leave no residual degree of freedom: no finite regression interval
    assert np.isinf(regression_halfwidths([2, 4], [8, 16])).all()


def test_verdict_leaves_open_what_a_floor_may_hide():
    """Thresholds at the grid's floor bias the exponent low: a hypothesis above the interval is
    then left open, one below it is still excluded."""
    from bipe.analysis.efficiency import ScalingFit, hypothesis_verdict
    from bipe.analysis.stats import Interval

    fit = ScalingFit(
        encoding="enc",
        exponents=(Interval(estimate=0.3, lo=0.1, hi=0.5, n=100),),
        prefactor=4.0,
        points=((2.0, 4), (8.0, 8)),
        censored=(),
    )
    implied = {"additive": 0.05, "product": 1.0}
    plain = hypothesis_verdict(fit, implied, ["n"])
    assert "excludes additive (0.05) and product (1.00); none of them fits" in plain
    floored = hypothesis_verdict(fit, implied, ["n"], lean_low=True)
    assert "excludes additive (0.05)" in floored and "cannot exclude product (1.00)" in floored
    assert floored.endswith("cannot be told apart at this scale")
    inside = hypothesis_verdict(fit, {"additive": 0.4, "product": 1.0}, ["n"])
    assert inside.endswith("consistent with additive (0.40); excludes product (1.00)")
