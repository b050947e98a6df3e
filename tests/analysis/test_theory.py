"""Theory accounting: family formulas, hypotheses, implied exponents, the CLI."""

import math
import subprocess
import sys

import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st

from bipe.analysis.theory import (
    HYPOTHESES,
    SYMBOLS,
    evaluate,
    family_counts,
    implied_exponent,
    parse_hypothesis,
)


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


def test_cli_theory_prints_counts_hypotheses_and_exponents():
    cmd = [sys.executable, "-m", "bipe", "theory", "--inner", "2,4,8", "--outer", "3",
           "--hypothesis", "lin=n"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "flat_states" in out and "K*m*n*r + m" in out and "lin" in out
    assert "Implied log-log exponent" in out
    bad = subprocess.run(cmd[:6] + ["--outer", "1,2"], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1
