"""Bootstrap intervals and paired differences on known inputs."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bipe.analysis.stats import bootstrap_ci, named_rng, paired_difference


def test_constant_sample_has_zero_width_interval():
    ci = bootstrap_ci(np.random.default_rng(0), [0.5] * 7)
    assert (ci.estimate, ci.lo, ci.hi, ci.n) == (0.5, 0.5, 0.5, 7)


def test_single_value_collapses_and_formats_without_brackets():
    ci = bootstrap_ci(np.random.default_rng(0), [0.25])
    assert ci.lo == ci.hi == 0.25 and ci.format(2) == "0.25"


def test_interval_covers_true_mean_at_about_nominal_rate():
    rng = np.random.default_rng(1)
    hits = 0
    for _ in range(200):
        x = rng.normal(1.0, 1.0, size=30)
        ci = bootstrap_ci(rng, x, n_boot=400)
        hits += ci.lo <= 1.0 <= ci.hi
    assert 0.88 <= hits / 200 <= 0.99


@given(st.lists(st.floats(-1e3, 1e3), min_size=2, max_size=20), st.integers(0, 2**32 - 1))
def test_interval_brackets_estimate_and_lies_in_data_range(values, seed):
    ci = bootstrap_ci(np.random.default_rng(seed), values, n_boot=200)
    eps = 1e-9 * (1 + max(abs(v) for v in values))
    assert min(values) - eps <= ci.lo <= ci.hi <= max(values) + eps
    assert ci.estimate == pytest.approx(np.mean(values))


def test_same_seed_same_interval():
    x = [0.1, 0.5, 0.9, 0.3]
    a = bootstrap_ci(np.random.default_rng(5), x)
    b = bootstrap_ci(np.random.default_rng(5), x)
    assert a == b


def test_paired_difference_pairs_by_seed_and_ignores_unpaired():
    a = {0: 0.9, 1: 0.7, 2: 0.8, 9: 100.0}
    b = {0: 0.4, 1: 0.2, 2: 0.3, 7: -100.0}
    d = paired_difference(np.random.default_rng(0), a, b)
    # Every paired difference is exactly 0.5, so pairing removes all spread.
    assert d.n == 3 and d.estimate == pytest.approx(0.5)
    assert d.lo == pytest.approx(0.5) and d.hi == pytest.approx(0.5)


def test_paired_difference_needs_a_shared_seed():
    with pytest.raises(ValueError, match="share no seed"):
        paired_difference(np.random.default_rng(0), {0: 1.0}, {1: 1.0})


def test_bad_inputs_raise():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="at least one"):
        bootstrap_ci(rng, [])
    with pytest.raises(ValueError, match="non-finite"):
        bootstrap_ci(rng, [1.0, float("nan")])
    with pytest.raises(ValueError, match="level"):
        bootstrap_ci(rng, [1.0, 2.0], level=1.5)


def test_named_streams_depend_on_seed_and_name_only():
    def draw(seed: int, name: str) -> list[float]:
        return named_rng(seed, name).random(4).tolist()

    assert draw(0, "Study 1") == draw(0, "Study 1")
    assert draw(0, "Study 1") != draw(0, "Study 2")
    assert draw(0, "Study 1") != draw(1, "Study 1")
