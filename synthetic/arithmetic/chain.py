"""One chain: the generator's expansions, the chain formats and the record of id rows."""

from __future__ import annotations

import bisect
from fractions import Fraction
from functools import lru_cache

import numpy as np

from bipe.synthetic.arithmetic.batch import ArithBatch, batch_records
from bipe.synthetic.arithmetic.parser import apply, canonical_steps, needs_brackets
from bipe.synthetic.arithmetic.vocabulary import (
    CLOSE,
    DIVIDE,
    EOS,
    EQUALS,
    FORMATS,
    MINUS,
    NUM0,
    OPEN,
    OPERATORS,
    PLUS,
    TIMES,
    check_modulus,
)


@lru_cache(maxsize=64)
def expansion_table(modulus: int) -> tuple[tuple[tuple[tuple[int, int, int], ...], ...], tuple]:
    """For each value x: the expansions ``(n1, op, n2)`` and their cumulative probabilities.

    The law of the reference's rejection loop: ``n1`` uniform, ``op`` uniform; ``n2`` solves
    ``n1 op n2 = x``; ``0 * n2 = 0`` takes a uniform ``n2``; ``0 / n2 = 0`` a uniform non-zero
    ``n2``; impossible pairs (``0 * n2 = x != 0``, ``n1 / n2 = 0`` with ``n1 != 0``, ``0 / n2 = x
    != 0``) are redrawn.
    """
    p = check_modulus(modulus)
    outcomes, cdfs = [], []
    for x in range(p):
        weights: dict[tuple[int, int, int], Fraction] = {}
        for n1 in range(p):
            for op in OPERATORS:
                for n2, w in _solutions(x, n1, op, p):
                    weights[(n1, op, n2)] = weights.get((n1, op, n2), 0) + w
        keys = sorted(weights)
        total = sum(weights.values())
        cum = np.cumsum([float(weights[k] / total) for k in keys])
        cum[-1] = 1.0
        outcomes.append(tuple(keys))
        cdfs.append(tuple(cum.tolist()))
    return tuple(outcomes), tuple(cdfs)


def _solutions(x: int, n1: int, op: int, p: int) -> list[tuple[int, Fraction]]:
    if op == PLUS:
        return [((x - n1) % p, Fraction(1))]
    if op == MINUS:
        return [((n1 - x) % p, Fraction(1))]
    if op == TIMES:
        if n1 == 0:
            return [(n2, Fraction(1, p)) for n2 in range(p)] if x == 0 else []
        return [(apply(DIVIDE, x, n1, p), Fraction(1))]
    if n1 == 0:
        return [(n2, Fraction(1, p)) for n2 in range(1, p)] if x == 0 else []
    return [] if x == 0 else [(apply(DIVIDE, n1, x, p), Fraction(1))]


def expand(expr: list[int], item: int, n1: int, op: int, n2: int) -> list[int]:
    """The generator's step: replace the number at ``item`` by ``n1 op n2`` (ids, values)."""
    before = expr[item - 1] if item > 0 else None
    after = expr[item + 1] if item + 1 < len(expr) else None
    mid = [NUM0 + n1, op, NUM0 + n2]
    if needs_brackets(before, after, op):
        mid = [OPEN, *mid, CLOSE]
    return expr[:item] + mid + expr[item + 1 :]


def _history(u: np.ndarray, n_ops: int, modulus: int) -> list[list[int]]:
    """Expressions from the answer to the question, driven by uniforms ``u`` (1 + 2*n_ops,)."""
    outcomes, cdfs = expansion_table(modulus)
    expr = [NUM0 + int(u[0] * modulus)]
    history = [expr]
    for i in range(n_ops):
        numbers = [j for j, t in enumerate(expr) if t >= NUM0]
        item = numbers[int(u[1 + i] * (i + 1))]
        x = expr[item] - NUM0
        n1, op, n2 = outcomes[x][bisect.bisect_right(cdfs[x], u[1 + n_ops + i])]
        expr = expand(expr, item, n1, op, n2)
        history.append(expr)
    return history


# ----------------------------------------------------------------------------- formats


def format_ids(history: list[list[int]], fmt: str, modulus: int) -> list[int]:
    """The token ids (ending in ``<eos>``) of a generation history in format ``fmt``."""
    question, answer = history[-1], history[0][0]
    if fmt == "feng":
        ids: list[int] = []
        for expr in reversed(history):
            ids += expr
            ids.append(EQUALS)
        ids[-1] = EOS
        return ids
    if fmt == "direct":
        return [*question, EQUALS, answer, EOS]
    if fmt == "steps":
        return steps_ids(question, modulus)
    raise ValueError(f"unknown arithmetic format {fmt!r}; known: {', '.join(FORMATS)}")


def steps_ids(question: list[int], modulus: int) -> list[int]:
    """The ``steps`` chain of a question (ids ending in ``<eos>``)."""
    ids = [*question, EQUALS]
    steps = canonical_steps(question, modulus)
    for k, (a, op, b, _) in enumerate(steps):
        if k:
            ids.append(NUM0 + steps[k - 1][3])
        ids += [NUM0 + a, op, NUM0 + b, EQUALS]
    ids += [NUM0 + (steps[-1][3] if steps else question[0] - NUM0), EOS]
    return ids


def make_record(ids: list[int], modulus: int, seg=None, intra=None) -> dict:
    """The record of token ids ending in ``<eos>`` (:func:`~bipe.synthetic.arithmetic.batch.
    batch_records` of a one-chain batch); ``seg``/``intra`` given as lists replace the computed
    positions."""
    record = batch_records(ArithBatch.of_rows([ids], modulus))[0]
    if seg is not None:
        record["seg"], record["intra"] = seg, intra
    return record
