"""Theory accounting: family formulas, hypotheses, implied exponents, the CLI."""

import json
import math
import sys

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from bipe.analysis.theory import (
    HYPOTHESES,
    SYMBOLS,
    binfa_counts,
    evaluate,
    family_counts,
    implied_exponent,
    load_binfa,
    parse_hypothesis,
)
from bipe.automata import NFA, BiNFA, random_binfa
from bipe.testing.strategies import scaled_examples


@given(st.integers(1, 5), st.integers(1, 9), st.integers(1, 9), st.integers(1, 3))
def test_family_flattening_is_product_and_bilevel_is_sum(k, n, m, r):
    c = family_counts()
    values = {"K": k, "n": n, "m": m, "r": r, "A": 3, "d": 1}
    assert evaluate(c["bilevel_states"], values) == k * n + m
    # Reference: one copy of an n-state inner NFA per outer transition (k*r per outer state).
    copies = m * k * r
    assert evaluate(c["flat_states"], values) == m + copies * n
    assert evaluate(c["flat_states"], values) >= evaluate(c["bilevel_states"], values) or m == 1


@given(st.floats(0.2, 3.0), st.lists(st.integers(2, 50), min_size=2, max_size=5, unique=True))
def test_implied_exponent_of_a_power_is_the_power(p, sizes):
    expr = SYMBOLS["n"] ** sp.Float(p)
    points = [{"n": s} for s in sizes]
    assert implied_exponent(expr, points, sizes) == pytest.approx(p, rel=1e-6)


def test_additive_vs_product_exponents_when_both_levels_grow():
    sizes = [2, 4, 8, 16]
    points = [{"n": s, "m": s, "K": 2} for s in sizes]
    assert implied_exponent(HYPOTHESES["additive"], points, sizes) == pytest.approx(1.0)
    assert implied_exponent(HYPOTHESES["product"], points, sizes) == pytest.approx(2.0)


def test_parse_hypothesis_and_errors():
    name, expr = parse_hypothesis("mine = n*log(m)")
    assert name == "mine" and evaluate(expr, {"n": 2, "m": math.e}) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="unknown symbols"):
        parse_hypothesis("bad=q+1")
    with pytest.raises(ValueError, match="NAME=EXPR"):
        parse_hypothesis("nothing")
    with pytest.raises(ValueError, match="no value"):
        evaluate(HYPOTHESES["product"], {"n": 2})


def test_cli_theory_prints_counts_hypotheses_and_exponents(bipe_cli):
    cmd = [
        sys.executable,
        "-m",
        "bipe",
        "theory",
        "--inner",
        "2,4,8",
        "--outer",
        "3",
        "--hypothesis",
        "lin=n",
    ]
    proc = bipe_cli(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "flat_states" in out and "K*m*n*r + m" in out and "lin" in out
    assert "Implied log-log exponent" in out
    bad = bipe_cli(cmd[:6] + ["--outer", "1,2"], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1


def regular_binfa(k, n, m, a):
    """K inner NFAs with n states, 1 start, 1 accepting, d=1 per (state, symbol); an outer NFA
    with m states and r=1 transition per (state, type)."""
    inner = tuple(
        NFA.from_transitions(
            n,
            a,
            start=[0],
            accept=[n - 1],
            transitions=[(q, s, (q + 1 + s + t) % n) for q in range(n) for s in range(a)],
        )
        for t in range(k)
    )
    outer = NFA.from_transitions(
        m,
        k,
        start=[0],
        accept=[0],
        transitions=[(p, t, (p + t + 1) % m) for p in range(m) for t in range(k)],
    )
    return BiNFA(n_symbols=a, separator=a, outer=outer, inner=inner)


@settings(deadline=None, max_examples=scaled_examples(20))
@given(st.integers(1, 3), st.integers(2, 5), st.integers(1, 4), st.integers(1, 3))
def test_family_formulas_equal_concrete_counts(k, n, m, a):
    counts = binfa_counts(regular_binfa(k, n, m, a))
    family = family_counts()
    values = {"K": k, "n": n, "m": m, "A": a, "d": 1, "r": 1, "f": 1}
    for key in (
        "bilevel_states",
        "bilevel_transitions",
        "flat_states",
        "flat_transitions",
        "outer_transitions",
        "inner_transitions",
    ):
        assert counts[key] == evaluate(family[key], values), key


@settings(deadline=None, max_examples=scaled_examples(15))
@given(st.integers(0, 2**31), st.integers(1, 3), st.integers(2, 4), st.integers(1, 4))
def test_concrete_counts_of_random_binfa_match_reference(seed, k, n, m):
    b = random_binfa(
        np.random.default_rng(seed),
        2,
        k,
        n,
        m,
        segment_lengths=range(1, 3),
        segment_counts=range(0, 3),
    )
    c = binfa_counts(b)
    # Reference from the definition: one copy of inner t per outer transition (p, t, p2).
    ref_states = b.outer.n_states + sum(b.inner[t].n_states for _, t, _ in b.outer.transitions())
    assert c["flat_states"] == ref_states == b.flat_state_count
    assert c["bilevel_states"] == b.outer.n_states + sum(x.n_states for x in b.inner)
    assert c["flat_transitions"] == int(np.count_nonzero(b.flatten().delta))


def test_load_binfa_from_json_and_cli(tmp_path, bipe_cli):
    b = regular_binfa(2, 3, 2, 2)
    (tmp_path / "meta.json").write_text(
        json.dumps(
            {"generator": "x", "config": {"kind": "binfa", "n": 3}, "automaton": b.to_dict()}
        )
    )
    assert load_binfa(tmp_path) == b
    proc = bipe_cli(
        [sys.executable, "-m", "bipe", "theory", "--binfa", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert f"{binfa_counts(b)['flat_states']}" in proc.stdout and "flattened" in proc.stdout
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ValueError, match="no Bi-NFA"):
        load_binfa(tmp_path / "bad.json")


def test_implied_exponents_on_a_two_axis_grid():
    grid = [(n, m) for n in (2, 4, 8) for m in (2, 4, 8)]
    points = [{"n": n, "m": m, "K": 2} for n, m in grid]
    assert implied_exponent(HYPOTHESES["product"], points, grid) == pytest.approx((1.0, 1.0))
    bn, bm = implied_exponent(HYPOTHESES["additive"], points, grid)
    assert 0.3 < bn < 0.7 and bn == pytest.approx(bm)  # symmetric, each below 1
    with pytest.raises(ValueError, match="independently"):
        implied_exponent(HYPOTHESES["product"], points[:3], [(2, 2), (4, 4), (8, 8)])


@settings(deadline=None, max_examples=scaled_examples(10))
@given(st.integers(0, 2**31), st.integers(1, 2), st.integers(2, 3))
def test_nested_binfa_counts_use_the_flattening(seed, k, n):
    b = random_binfa(
        np.random.default_rng(seed),
        2,
        k,
        n,
        2,
        levels=3,
        segment_lengths=range(1, 3),
        segment_counts=range(1, 3),
    )
    c = binfa_counts(b)
    flat = b.flatten()
    assert c["flat_states"] == flat.n_states == b.flat_state_count
    assert c["flat_transitions"] == int(np.count_nonzero(flat.delta))
