"""Length-distribution specs: round trip, exact bounds, law, bad specs."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bipe.synthetic.distributions import GRAMMAR, parse_length_spec

bounds = st.tuples(st.integers(0, 30), st.integers(0, 30)).map(sorted)
probs = st.floats(0.05, 1.0).map(lambda x: round(x, 3))
specs = st.one_of(
    st.integers(0, 50).map(lambda k: f"fixed:{k}"),
    bounds.map(lambda b: f"uniform:{b[0]}:{b[1]}"),
    bounds.map(lambda b: f"linear:{b[0] + 1}:{b[1] + 1}"),
    st.tuples(probs, bounds).map(lambda a: f"geometric:{a[0]}:{a[1][0]}:{a[1][1]}"),
    st.tuples(probs, st.integers(0, 5)).map(lambda a: f"geometric:{a[0]}:{a[1]}"),
    probs.map(lambda p: f"geometric:{p}"),
    st.tuples(st.floats(0.1, 20).map(lambda x: round(x, 2)), bounds).map(
        lambda a: f"poisson:{a[0]}:{a[1][0]}:{a[1][1]}"
    ),
    st.floats(0.1, 20).map(lambda x: f"poisson:{round(x, 2)}"),
    st.tuples(st.floats(0.2, 3).map(lambda x: round(x, 2)), st.integers(1, 40)).map(
        lambda a: f"zipf:{a[0]}:{a[1]}"
    ),
    st.lists(st.integers(0, 40), min_size=1, max_size=6).map(
        lambda v: "choice:" + ",".join(map(str, v))
    ),
)


@given(specs)
def test_str_round_trips(spec):
    d = parse_length_spec(spec)
    assert parse_length_spec(str(d)) == d
    assert str(parse_length_spec(str(d))) == str(d)


@given(specs, st.integers(0, 2**32 - 1))
def test_samples_respect_bounds_and_are_seeded(spec, seed):
    d = parse_length_spec(spec)
    x = d.sample(np.random.default_rng(seed), 200)
    assert x.shape == (200,) and x.dtype == np.int64
    assert x.min() >= d.lo
    if d.hi is not None:
        assert x.max() <= d.hi
    assert np.array_equal(x, d.sample(np.random.default_rng(seed), 200))


def _slow_pmf(spec: str) -> dict[int, float]:
    """The law written out directly from the grammar's definitions, one value at a time."""
    kind, *args = spec.split(":")
    if kind == "uniform":
        lo, hi = int(args[0]), int(args[1])
        w = {k: 1.0 for k in range(lo, hi + 1)}
    elif kind == "linear":
        lo, hi = int(args[0]), int(args[1])
        w = {k: float(k) for k in range(lo, hi + 1)}
    elif kind == "zipf":
        w = {k: k ** -float(args[0]) for k in range(1, int(args[1]) + 1)}
    elif kind == "poisson":
        lam, lo, hi = float(args[0]), int(args[1]), int(args[2])
        w = {k: lam**k / math.factorial(k) for k in range(lo, hi + 1)}
    elif kind == "choice":
        vals = [int(v) for v in args[0].split(",")]
        w = {k: float(vals.count(k)) for k in set(vals)}
    total = sum(w.values())
    return {k: v / total for k, v in w.items() if v > 0}


@pytest.mark.parametrize(
    "spec", ["uniform:2:7", "linear:1:6", "zipf:1.5:8", "poisson:3.0:1:9", "choice:2,2,5,9"]
)
def test_support_matches_definition(spec):
    values, p = parse_length_spec(spec).support()
    expected = _slow_pmf(spec)
    assert sorted(expected) == values.tolist()
    assert np.allclose(p, [expected[v] for v in values.tolist()])


@pytest.mark.slow
@pytest.mark.parametrize("spec", ["linear:1:6", "geometric:0.4:2", "zipf:1.5:8"])
def test_empirical_frequencies_match_law(spec):
    d = parse_length_spec(spec)
    n = 200_000
    x = d.sample(np.random.default_rng(7), n)
    if d.hi is None:  # unbounded geometric: compare with the closed form
        values = np.arange(d.lo, d.lo + 8)
        p = d.p * (1 - d.p) ** (values - d.lo)
    else:
        values, p = d.support()
    freq = np.array([(x == v).mean() for v in values])
    # 5 standard errors: a false alarm is practically impossible, a wrong law is caught.
    assert np.all(np.abs(freq - p) < 5 * np.sqrt(p * (1 - p) / n) + 1e-12)


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "fixed",
        "fixed:x",
        "fixed:-1",
        "uniform:5:2",
        "uniform:1",
        "geometric:0",
        "geometric:2",
        "poisson:0",
        "zipf:0:3",
        "zipf:1.0",
        "choice:",
        "choice:a,b",
        "lognormal:1:2",
        "uniform:1:2:3",
    ],
)
def test_malformed_specs_name_spec_and_grammar(spec):
    with pytest.raises(ValueError) as err:
        parse_length_spec(spec)
    message = str(err.value)
    assert repr(spec) in message and GRAMMAR in message and "\n" not in message
