"""Parsing and evaluating arithmetic expressions over Z_p (token ids, no ``=``)."""

from __future__ import annotations

from bipe.synthetic.arithmetic.vocabulary import (
    CLOSE,
    DIVIDE,
    LOW,
    MINUS,
    NUM0,
    OPEN,
    PLUS,
    TIMES,
)


def apply(op: int, a: int, b: int, modulus: int) -> int:
    """``a op b`` in Z_p; division by zero is a ``ValueError``."""
    if op == PLUS:
        return (a + b) % modulus
    if op == MINUS:
        return (a - b) % modulus
    if op == TIMES:
        return a * b % modulus
    if op == DIVIDE:
        if b % modulus == 0:
            raise ValueError("division by zero")
        return a * pow(b, modulus - 2, modulus) % modulus
    raise ValueError(f"{op} is not an operator id")


def parse(ids: list[int], modulus: int) -> tuple[object, list[tuple[int, int, int | None]]]:
    """Parse an expression (token ids, no ``=``) into ``(tree, groups)``.

    ``tree`` is a number value (int) or ``(op, left, right)``; ``+ -`` and ``* /`` are
    left-associative with ``* /`` binding tighter. ``groups`` lists each bracket pair as
    ``(open_index, close_index, root_op)`` where ``root_op`` is the operator at the top of the
    bracketed expression (None for a lone number). Malformed input is a ``ValueError``.
    """
    groups: list[tuple[int, int, int | None]] = []
    top = NUM0 + modulus

    def atom(i: int) -> tuple[object, int]:
        if i < len(ids) and NUM0 <= ids[i] < top:
            return ids[i] - NUM0, i + 1
        if i < len(ids) and ids[i] == OPEN:
            tree, j = expr(i + 1)
            if j >= len(ids) or ids[j] != CLOSE:
                raise ValueError(f"unclosed bracket at token {i}")
            groups.append((i, j, tree[0] if isinstance(tree, tuple) else None))
            return tree, j + 1
        raise ValueError(f"expected a number or '(' at token {i}")

    def chain(i: int, ops: tuple[int, int], sub) -> tuple[object, int]:
        tree, i = sub(i)
        while i < len(ids) and ids[i] in ops:
            right, j = sub(i + 1)
            tree, i = (ids[i], tree, right), j
        return tree, i

    def term(i: int) -> tuple[object, int]:
        return chain(i, (TIMES, DIVIDE), atom)

    def expr(i: int) -> tuple[object, int]:
        return chain(i, LOW, term)

    tree, end = expr(0)
    if end != len(ids):
        raise ValueError(f"unexpected token at {end}")
    return tree, groups


def evaluate(ids: list[int], modulus: int) -> int:
    """The value of an expression (token ids) in Z_p."""
    return _tree_value(parse(ids, modulus)[0], modulus)


def _tree_value(tree: object, modulus: int) -> int:
    if isinstance(tree, int):
        return tree
    op, left, right = tree  # type: ignore[misc]
    return apply(op, _tree_value(left, modulus), _tree_value(right, modulus), modulus)  # type: ignore[has-type]


def canonical_steps(ids: list[int], modulus: int) -> list[tuple[int, int, int, int]]:
    """``(a, op, b, value)`` for each operation of the question, in post-order (see module doc)."""
    steps: list[tuple[int, int, int, int]] = []

    def walk(tree: object) -> int:
        if isinstance(tree, int):
            return tree
        op, left, right = tree  # type: ignore[misc]
        a, b = walk(left), walk(right)  # type: ignore[has-type]
        steps.append((a, op, b, apply(op, a, b, modulus)))  # type: ignore[has-type]
        return steps[-1][3]

    walk(parse(ids, modulus)[0])
    return steps


def needs_brackets(before: int | None, after: int | None, op: int) -> bool:
    """The reference's bracket rule for ``n1 op n2`` replacing a number between two tokens."""
    if before == DIVIDE:
        return True
    if before == TIMES or after in (TIMES, DIVIDE):
        return op in LOW
    return before == MINUS and op in LOW


def bracket_problem(ids: list[int], groups: list[tuple[int, int, int | None]]) -> str | None:
    """Why the brackets of a parsed expression are not the generator's, or None if they are.

    The tokens around a bracket pair never change once it is written, so a pair is the
    generator's iff :func:`needs_brackets` demands it from those tokens and its top operator.
    """
    for i, j, op in groups:
        before = ids[i - 1] if i > 0 else None
        after = ids[j + 1] if j + 1 < len(ids) else None
        if op is None or not needs_brackets(before, after, op):
            return f"brackets at tokens {i}..{j} are not needed"
    return None
