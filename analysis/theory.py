"""Theory accounting: sizes of a Bi-NFA and of its flattening; width-scaling hypotheses.

A Bi-NFA (docs/method.md#bi-nfa) has K inner NFAs (segment types) with ``n_k`` states and ``e_k``
transitions each, and an outer NFA over the K types with ``m`` states and ``E`` transitions. The
bilevel description costs the levels' sizes **added**: ``m + sum_k n_k`` states. Its flattening
(an ordinary NFA over symbols plus separator) copies the inner automaton of type t once per outer
transition ``p -t-> p'``, so it costs about the **product**: ``m + sum_{(p,t,p')} n_t`` states.

For a *family* (K types, every inner NFA with n states and inner out-degree ``d`` per symbol
over A symbols, an outer NFA with m states and outer out-degree ``r`` per type) the counts are
sympy expressions (:func:`family_counts`); a concrete automaton is counted exactly
(:func:`binfa_counts`, its flattening measured by ``flatten()``).

Hypotheses for the width a Transformer needs are a registry :data:`HYPOTHESES` (name -> sympy
expression in the family symbols); add your own with ``HYPOTHESES["mine"] = expr``. For a series
of study points :func:`implied_exponent` gives the log-log slope a hypothesis predicts, to set
beside the fitted one (:mod:`bipe.analysis.efficiency`).

Worked example::

    >>> c = family_counts()
    >>> str(c["bilevel_states"]), str(c["flat_states"])
    ('K*n + m', 'K*m*n*r + m')
    >>> values = {"K": 2, "n": 3, "m": 4, "r": 1}
    >>> evaluate(c["bilevel_states"], values), evaluate(c["flat_states"], values)
    (10, 28)
    >>> round(implied_exponent(HYPOTHESES["product"], [{"n": s, "m": s} for s in (2, 4, 8)],
    ...                        [2, 4, 8]), 2)
    2.0
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import sympy as sp

K, n, m, A, d, r, f = sp.symbols("K n m A d r f", positive=True)
SYMBOLS: dict[str, sp.Symbol] = {"K": K, "n": n, "m": m, "A": A, "d": d, "r": r, "f": f}
SYMBOL_MEANING = {
    "K": "segment types (inner NFAs)",
    "n": "states per inner NFA",
    "m": "outer states",
    "A": "symbols",
    "d": "inner transitions per (state, symbol)",
    "r": "outer transitions per (state, type)",
    "f": "accepting states per inner NFA",
}

# run-config data keys whose value is a family symbol (how a width study's sizes map to symbols)
THEORY_KEYS: dict[str, str] = {
    "data.n_types": "K",
    "data.inner_states": "n",
    "data.outer_states": "m",
    "data.n_symbols": "A",
}

# name -> width a Transformer needs, up to a constant factor. Extend freely.
HYPOTHESES: dict[str, sp.Expr] = {
    "additive": n + m,  # BiPE: each level's size separately
    "product": n * m,  # flat: the levels multiply
    "bilevel_states": K * n + m,  # states of the bilevel description
    "flat_states": K * r * m * n + m,  # states of the flattening (outer r per type)
    "log_additive": sp.log(n) + sp.log(m),  # state identities in ~log bits per level
    "sqrt_product": sp.sqrt(n * m),
}


def family_counts() -> dict[str, sp.Expr]:
    """State and transition counts of the family's Bi-NFA and its flattening (sympy).

    The family's inner NFAs have one start state, ``f`` accepting states and exactly ``d``
    transitions per (state, symbol); the outer NFA exactly ``r`` per (state, type). Flattened
    transitions (``BiNFA.flatten``): each copy of an inner NFA keeps its ``A*d*n`` transitions,
    is entered from its outer source state on the segment's first symbol (the start state's
    ``A*d`` moves) and left from each of its ``f`` accepting states on the separator.
    :func:`binfa_counts` measures any concrete automaton exactly.
    """
    inner_transitions = A * d * n
    outer_transitions = K * r * m
    return {
        "inner_states": K * n,
        "outer_states": m,
        "bilevel_states": K * n + m,
        "inner_transitions": K * inner_transitions,
        "outer_transitions": outer_transitions,
        "bilevel_transitions": K * inner_transitions + outer_transitions,
        "flat_states": sp.expand(m + outer_transitions * n),
        "flat_transitions": sp.expand(outer_transitions * (inner_transitions + A * d + f)),
    }


def evaluate(expr: sp.Expr, values: Mapping[str, float]) -> int | float:
    """``expr`` at the given symbol values (names as in :data:`SYMBOLS`); int when integral."""
    unknown = set(values) - set(SYMBOLS)
    if unknown:
        raise ValueError(f"unknown symbols {sorted(unknown)}; known: {', '.join(SYMBOLS)}")
    value = expr.subs({SYMBOLS[k]: v for k, v in values.items()})
    if value.free_symbols:
        missing = sorted(str(s) for s in value.free_symbols)
        raise ValueError(f"no value for symbols {missing} (needed by {expr})")
    out = float(value)
    return int(round(out)) if abs(out - round(out)) < 1e-9 else out


def implied_exponent(
    expr: sp.Expr, points: Sequence[Mapping[str, float]], sizes: Sequence[Any]
) -> float | tuple[float, ...]:
    """Least-squares slope of ``log expr(point)`` against ``log size`` over the study points.

    ``sizes`` is (P,) for one size axis, or (P, k) for k axes (a k-tuple of partial slopes is
    returned, as :func:`bipe.analysis.efficiency.fit_power_law` fits them). Symbols a point
    leaves out are set to 1 (they only shift the intercept of a monomial).
    """
    x = np.log(np.asarray(sizes, dtype=float))  # (P,) or (P, k)
    multi = x.ndim == 2
    x = x if multi else x[:, None]  # (P, k)
    design = np.hstack([np.ones((x.shape[0], 1)), x])  # (P, k + 1)
    if len(points) != x.shape[0] or np.linalg.matrix_rank(design) < x.shape[1] + 1:
        raise ValueError(
            "implied_exponent needs one point per size and sizes that "
            "determine the fit (>= 2 distinct per axis, axes varying independently)"
        )
    ys = []
    for p in points:
        full = {name: p.get(name, 1) for name in SYMBOLS}
        ys.append(float(expr.subs({SYMBOLS[k]: v for k, v in full.items()})))
    if min(ys) <= 0:
        raise ValueError(f"hypothesis {expr} is not positive at every study point")
    coef, *_ = np.linalg.lstsq(design, np.log(ys), rcond=None)
    slopes = tuple(float(b) for b in coef[1:])
    return slopes if multi else slopes[0]


def implied_exponents(
    points: Sequence[Mapping[str, float]],
    sizes: Sequence[Any],
    hypotheses: Mapping[str, sp.Expr] | None = None,
) -> dict[str, float | tuple[float, ...]]:
    """:func:`implied_exponent` of every hypothesis (default :data:`HYPOTHESES`)."""
    return {
        name: implied_exponent(expr, points, sizes)
        for name, expr in (hypotheses or HYPOTHESES).items()
    }


def nfa_counts(nfa: Any) -> dict[str, int]:
    """States and transitions (true entries of ``delta``) of an NFA."""
    return {"states": int(nfa.n_states), "transitions": int(np.count_nonzero(nfa.delta))}


def bilevel_counts(binfa: Any) -> dict[str, int]:
    """States and transitions of a (possibly nested) Bi-NFA's own description: outer plus
    every inner level, recursively."""
    outer = nfa_counts(binfa.outer)
    states, transitions = outer["states"], outer["transitions"]
    for inner in binfa.inner:
        sub = bilevel_counts(inner) if hasattr(inner, "outer") else nfa_counts(inner)
        states += sub["states"]
        transitions += sub["transitions"]
    return {"states": states, "transitions": transitions}


def flat_counts(binfa: Any) -> dict[str, int]:
    """States and transitions of ``binfa.flatten()``, counted without building it when the
    inner automata are plain NFAs (so it works for automata too large to flatten densely).

    Per outer transition ``(p, k, p2)`` the flattening holds a copy of inner automaton k: its
    transitions, the entry moves from p (the distinct (symbol, target) pairs of k's start
    states) and one separator move from each accepting state to p2.
    """
    if any(hasattr(x, "outer") for x in binfa.inner):  # nested levels: build it
        return nfa_counts(binfa.flatten())
    per_type = []
    for x in binfa.inner:
        entry = np.asarray(x.delta)[:, sorted(x.start), :].any(axis=1)  # (A, Q)
        per_type.append(
            (x.n_states, int(np.count_nonzero(x.delta)) + int(entry.sum()) + len(x.accept))
        )
    edges = [k for _, k, _ in binfa.outer.transitions()]
    return {
        "states": binfa.outer.n_states + sum(per_type[k][0] for k in edges),
        "transitions": sum(per_type[k][1] for k in edges),
    }


def binfa_counts(binfa: Any) -> dict[str, int]:
    """Exact counts of a concrete Bi-NFA: its levels, its description and its flattening."""
    outer = nfa_counts(binfa.outer)
    inner = [bilevel_counts(i) if hasattr(i, "outer") else nfa_counts(i) for i in binfa.inner]
    bilevel = bilevel_counts(binfa)
    flat = flat_counts(binfa)
    return {
        "types": len(binfa.inner),
        "outer_states": outer["states"],
        "outer_transitions": outer["transitions"],
        "inner_states": sum(i["states"] for i in inner),
        "inner_transitions": sum(i["transitions"] for i in inner),
        "bilevel_states": bilevel["states"],
        "bilevel_transitions": bilevel["transitions"],
        "flat_states": flat["states"],
        "flat_transitions": flat["transitions"],
    }


def _find_binfa_dict(tree: Any) -> Mapping[str, Any] | None:
    if isinstance(tree, Mapping):
        if {"outer", "inner"} <= set(tree):
            return tree
        for value in tree.values():
            found = _find_binfa_dict(value)
            if found is not None:
                return found
    elif isinstance(tree, list):
        for value in tree:
            found = _find_binfa_dict(value)
            if found is not None:
                return found
    return None


def load_binfa(path: str | Path) -> Any:
    """A Bi-NFA from a JSON file (``BiNFA.to_dict()``) or a dataset folder/meta.json holding one."""
    from bipe.automata import BiNFA  # lands with the automata package

    path = Path(path)
    if path.is_dir():
        path = path / "meta.json"
    if not path.is_file():
        raise OSError(f"{path}: no such file")
    try:
        tree = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err.msg})") from None
    found = _find_binfa_dict(tree)
    if found is None:
        raise ValueError(f"{path}: no Bi-NFA (an object with 'outer' and 'inner') inside")
    return BiNFA.from_dict(found)


def parse_hypothesis(spec: str) -> tuple[str, sp.Expr]:
    """``'NAME=EXPR'`` (EXPR in the symbols of :data:`SYMBOLS`, e.g. ``'mine=n*log(m)'``)."""
    name, sep, text = spec.partition("=")
    if not sep or not name.strip() or not text.strip():
        raise ValueError(f"hypothesis must look like NAME=EXPR, got {spec!r}")
    try:
        expr = sp.parse_expr(text, local_dict=dict(SYMBOLS), evaluate=True)
    except (SyntaxError, TypeError, sp.SympifyError) as err:
        raise ValueError(f"cannot parse hypothesis {spec!r}: {err}") from None
    unknown = {str(s) for s in expr.free_symbols} - set(SYMBOLS)
    if unknown:
        raise ValueError(
            f"hypothesis {name!r} uses unknown symbols {sorted(unknown)}; "
            f"known: {', '.join(SYMBOLS)}"
        )
    return name.strip(), expr


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def family_report(
    points: Sequence[Mapping[str, float]],
    sizes: Sequence[float] | None = None,
    hypotheses: Mapping[str, sp.Expr] | None = None,
) -> str:
    """Formulas, counts at each family point, hypotheses' values and implied exponents."""
    counts = family_counts()
    hyps = dict(hypotheses or HYPOTHESES)
    out = [
        "Bi-NFA family counts (symbols: "
        + ", ".join(f"{k}={v}" for k, v in SYMBOL_MEANING.items())
        + ")",
        _table(("quantity", "formula"), [(k, v) for k, v in counts.items()]),
        "",
    ]
    if points:
        keys = list(points[0])
        header = [*keys, "bilevel states", "flat states", "flat / bilevel"]
        rows = []
        for p in points:
            b, f = evaluate(counts["bilevel_states"], p), evaluate(counts["flat_states"], p)
            rows.append([*[p[k] for k in keys], b, f, f"{f / b:.2f}"])
        out += ["Counts at the given points", _table(header, rows), ""]
        shown = [k for k in ("K", "n", "m") if k in keys] or keys
        header = [
            "hypothesis",
            "formula",
            *[", ".join(f"{k}={p[k]}" for k in shown) for p in points],
        ]
        rows = [
            [
                name,
                expr,
                *[
                    f"{float(evaluate(expr, {**dict.fromkeys(SYMBOLS, 1), **p})):.3g}"
                    for p in points
                ],
            ]
            for name, expr in hyps.items()
        ]
        out += ["Width hypotheses (up to a constant factor)", _table(header, rows), ""]
        if sizes is not None and len(set(sizes)) >= 2:
            implied = implied_exponents(points, sizes, hyps)
            out += [
                "Implied log-log exponent of width against size over these points",
                _table(("hypothesis", "exponent"), [(k, f"{v:.2f}") for k, v in implied.items()]),
                "",
            ]
    return "\n".join(out)


def binfa_report(binfa: Any) -> str:
    """Exact counts of a concrete Bi-NFA and its flattening."""
    c = binfa_counts(binfa)
    rows = [
        (
            "states",
            c["bilevel_states"],
            c["flat_states"],
            f"{c['flat_states'] / c['bilevel_states']:.2f}",
        ),
        (
            "transitions",
            c["bilevel_transitions"],
            c["flat_transitions"],
            f"{c['flat_transitions'] / max(1, c['bilevel_transitions']):.2f}",
        ),
    ]
    return "\n".join(
        [
            f"Bi-NFA: {c['types']} types, outer {c['outer_states']} states / "
            f"{c['outer_transitions']} transitions, inner {c['inner_states']} states / "
            f"{c['inner_transitions']} transitions in total",
            _table(("", "bilevel", "flattened", "flat / bilevel"), rows),
            "",
        ]
    )
