"""The 15 tasks of the Chomsky-hierarchy suite (Deletang et al. 2023; Ruoss et al. 2023).

Each task is one pure sampler ``sample(rng, n, length) -> (inputs (N, T), outputs (N, O))`` of
int64 token ids, in the reference's own one-hot index order (so a record can be compared with
the reference code's ``argmax``), with the reference's default parameters (modulus 5, binary
strings, bucket_sort over 5 symbols, modular_arithmetic_brackets with ``*``). ``T`` is
``length`` except for modular_arithmetic, whose expressions have odd length (an even request
gives ``length - 1`` tokens, as in the reference); ``O`` is :func:`output_length`.

Worked examples (input -> output)::

    even_pairs                   0 1 1 0 0 -> 0        (two unequal neighbours: even)
    modular_arithmetic           1 5 2 7 3 -> 2        (1 + 2 * 3 mod 5; + - * are 5 6 7)
    parity_check                 1 0 1 1 -> 1
    cycle_navigation             2 0 1 0 0 -> 3        (0 1 2: left, stay, right on Z_5)
    stack_manipulation           0 1 4 2 2 -> 0 2 0 0 0 0  (stack 0 1, PUSH 1, POP, POP; top first)
    reverse_string               0 0 1 -> 1 0 0
    modular_arithmetic_brackets  8 2 7 3 9 -> 1        ((2*3) mod 5; + - * ( ) are 5 6 7 8 9)
    solve_equation               7 9 5 3 8 10 1 -> 3   ((x+3)=1 mod 5; + - ( ) x = are 5..10)
    duplicate_string             0 1 -> 0 1 0 1
    missing_duplicate_string     0 2 0 1 -> 1          (0 ? 0 1: the copy says 1; 3 pads odd T)
    odds_first                   a b c d e -> b d a c e  (0-based odd indices first)
    binary_addition              1 1 2 1 -> 0 0 1 2 0  (3 + 1 = 4, little-endian, 2 ends the sum)
    binary_multiplication        1 1 2 1 -> 1 1 2 0    (3 * 1 = 3; output as long as input)
    compute_sqrt                 1 0 0 1 0 1 -> 1 1 0  (isqrt(37) = 6, big-endian, ceil(T/2) digits)
    bucket_sort                  3 1 4 1 -> 1 1 3 4

The termination-token tasks (stack_manipulation, binary_addition, binary_multiplication) are
scored only up to and including their termination token 2 (:func:`scored_mask`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = [
    "LEVELS",
    "MODULUS",
    "TASKS",
    "TaskSpec",
    "get_spec",
    "output_length",
    "sample",
    "scored_mask",
]

MODULUS = 5  # modular tasks and the cycle of cycle_navigation (the reference's default)
TERMINATION = 2  # the end-of-result token of the termination-token tasks
Arrays = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True, kw_only=True)
class TaskSpec:
    """One task: its level, input and output alphabet sizes, output length rule and sampler."""

    name: str
    level: str  # regular, dcf or cs
    input_size: int
    output_size: int
    out_len: Callable[[int], int]
    sampler: Callable[[np.random.Generator, int, int], Arrays]
    terminated: bool = False  # scored through the termination token only


def _bits(rng: np.random.Generator, n: int, length: int, high: int = 2) -> np.ndarray:
    return rng.integers(0, high, size=(n, length), dtype=np.int64)  # (N, T)


def _one(values) -> np.ndarray:
    return np.asarray(values, dtype=np.int64).reshape(-1, 1)  # (N, 1)


# ---- regular ---------------------------------------------------------------------------------


def _even_pairs(rng, n, length):
    s = _bits(rng, n, length)  # (N, T)
    return s, _one((s[:, 1:] != s[:, :-1]).sum(axis=1) % 2)


def _parity_check(rng, n, length):
    s = _bits(rng, n, length)
    return s, _one(s.sum(axis=1) % 2)


def _cycle_navigation(rng, n, length):
    s = _bits(rng, n, length, 3)
    return s, _one((s - 1).sum(axis=1) % MODULUS)


def _modular_arithmetic(rng, n, length):
    t = length if length % 2 else length - 1  # odd lengths only (the reference's rule)
    x = np.empty((n, t), dtype=np.int64)
    x[:, ::2] = rng.integers(0, MODULUS, size=(n, t // 2 + 1))
    x[:, 1::2] = MODULUS + rng.integers(0, 3, size=(n, t // 2))  # + - * are 5 6 7
    return x, _one([_evaluate_flat(row) for row in x])


def _evaluate_flat(row: np.ndarray) -> int:
    """A bracket-free expression ``d op d op ... d`` with * before + and -, mod 5."""
    total, term, sign = 0, int(row[0]), 1
    for op, d in zip(row[1::2], row[2::2], strict=True):
        if op == MODULUS + 2:  # *
            term *= int(d)
        else:
            total += sign * term
            sign, term = (1 if op == MODULUS else -1), int(d)
    return (total + sign * term) % MODULUS


# ---- deterministic context-free ----------------------------------------------------------------


def _stack_manipulation(rng, n, length):
    inputs, outputs = [], []
    for _ in range(n):
        if length == 1:
            stack = list(rng.integers(0, 2, size=1))
            actions: list = []
        else:
            k = int(rng.integers(1, length))
            stack = list(rng.integers(0, 2, size=k))
            actions = list(rng.integers(2, 5, size=length - k))
        inputs.append(stack + actions)
        for a in actions:  # 2 POP (ignored on an empty stack), 3 PUSH 0, 4 PUSH 1
            stack = stack[:-1] if a == 2 else stack + [a - 3]
        out = stack[::-1] + [TERMINATION]
        outputs.append(out + [0] * (length + 1 - len(out)))
    return np.asarray(inputs, dtype=np.int64), np.asarray(outputs, dtype=np.int64)


def _reverse_string(rng, n, length):
    s = _bits(rng, n, length)
    return s, s[:, ::-1].copy()


_PLUS, _MINUS, _TIMES, _OPEN, _CLOSE = range(MODULUS, MODULUS + 5)  # brackets task's ids


def _expression(rng, length: int, ops: int) -> tuple[list[int], int]:
    """A random bracketed expression of exactly ``length`` tokens over Z_5 and its value;
    ``ops`` operators (2: + -, 3: + - *). Ids: digits, then + - * ( )."""
    if length <= 4:
        d = int(rng.integers(0, MODULUS))
        shapes = {1: ([d], d), 2: ([_MINUS, d], -d), 3: ([_OPEN, d, _CLOSE], d)}
        body, value = shapes.get(length, ([_OPEN, _MINUS, d, _CLOSE], -d))
        return body, value % MODULUS
    left_len = int(rng.integers(1, length - 3))
    left, a = _expression(rng, left_len, ops)
    right, b = _expression(rng, length - 3 - left_len, ops)
    op = int(rng.integers(0, ops))
    value = (a + b, a - b, a * b)[op] % MODULUS
    return [_OPEN, *left, MODULUS + op, *right, _CLOSE], value


def _modular_arithmetic_brackets(rng, n, length):
    rows = [_expression(rng, length, 3) for _ in range(n)]
    return np.asarray([r[0] for r in rows], dtype=np.int64), _one([r[1] for r in rows])


def _solve_equation(rng, n, length):
    if length < 3:  # the reference's placeholder: all zeros, answer 0
        return np.zeros((n, length), dtype=np.int64), _one([0] * n)
    # ids here: digits, + 5, - 6, ( 7, ) 8, x 9, = 10 (no *: the brackets ids shift down by one)
    remap = {_PLUS: 5, _MINUS: 6, _OPEN: 7, _CLOSE: 8}
    inputs, answers = [], []
    for _ in range(n):
        expr, value = _expression(rng, length - 2, 2)
        i = int(rng.integers(0, len(expr)))
        while expr[i] >= MODULUS:  # the next digit, cyclically
            i = (i + 1) % len(expr)
        answers.append(expr[i])
        row = [remap.get(t, t) for t in expr]
        row[i] = 9
        inputs.append([*row, 10, value])
    return np.asarray(inputs, dtype=np.int64), _one(answers)


# ---- context-sensitive -----------------------------------------------------------------------


def _duplicate_string(rng, n, length):
    s = _bits(rng, n, length)
    return s, np.concatenate([s, s], axis=1)


def _missing_duplicate_string(rng, n, length):
    if length == 1:  # the reference's placeholder: input 1, answer 1
        return np.ones((n, 1), dtype=np.int64), _one([1] * n)
    half = _bits(rng, n, length // 2)  # (N, T//2)
    doubled = np.concatenate([half, half], axis=1)  # (N, 2 * (T//2))
    where = rng.integers(0, doubled.shape[1], size=n)  # (N,)
    rows = np.arange(n)
    answer = doubled[rows, where]  # (N,)
    doubled[rows, where] = 2
    pad = np.full((n, length % 2), 3, dtype=np.int64)  # (N, T % 2)
    return np.concatenate([doubled, pad], axis=1), _one(answer)


def _odds_first(rng, n, length):
    s = _bits(rng, n, length)
    return s, np.concatenate([s[:, 1::2], s[:, ::2]], axis=1)


def _random_ints(rng, widths: np.ndarray) -> list[int]:
    """Integers uniform on [1, 2^w - 1] for each width w (Python ints: any size)."""
    out = []
    for w in widths:
        while True:
            digits = rng.integers(0, 2, size=int(w))
            if digits.any():
                break
        out.append(int("".join(map(str, digits)), 2))
    return out


def _little(value: int, width: int = 0) -> list[int]:
    """Little-endian binary digits of ``value``, zero-padded to ``width`` ('0' for 0)."""
    return [int(c) for c in reversed(f"{value:b}".zfill(width))]


def _binary_pair(rng, n, length, combine) -> tuple[list, list]:
    """Expressions ``a 2 b`` (little-endian, operand widths summing to length - 1) and the
    combined value of each pair."""
    widths = rng.integers(1, length - 1, size=n)  # (N,) width of the first operand
    a = _random_ints(rng, widths)
    b = _random_ints(rng, length - 1 - widths)
    exprs = [
        _little(x, int(w)) + [2] + _little(y, length - 1 - int(w))
        for x, y, w in zip(a, b, widths, strict=True)
    ]
    return exprs, [combine(x, y) for x, y in zip(a, b, strict=True)]


def _binary_addition(rng, n, length):
    if length <= 2:  # the reference's short case: a number alone; its "sum" is itself
        values = rng.integers(0, 2**length - 1, size=n)
        exprs, results = [_little(int(v), length) for v in values], [int(v) for v in values]
    else:
        exprs, results = _binary_pair(rng, n, length, lambda x, y: x + y)
    outs = [_little(r) + [TERMINATION] for r in results]
    outs = [o + [0] * (length + 1 - len(o)) for o in outs]
    return np.asarray(exprs, dtype=np.int64), np.asarray(outs, dtype=np.int64)


def _binary_multiplication(rng, n, length):
    if length <= 2:  # the reference's short case: a number alone, result digits all 0
        values = rng.integers(0, 2**length - 1, size=n)
        exprs = [_little(int(v), length) for v in values]
        outs = [[0] * (length - 1) + [TERMINATION] for _ in values]
    else:
        exprs, results = _binary_pair(rng, n, length, lambda x, y: x * y)
        outs = [_little(r) + [TERMINATION] for r in results]
        outs = [o + [0] * (length - len(o)) for o in outs]
    return np.asarray(exprs, dtype=np.int64), np.asarray(outs, dtype=np.int64)


def _compute_sqrt(rng, n, length):
    values = _random_ints(rng, np.full(n, length))
    width = math.ceil(length / 2)
    big = [[int(c) for c in f"{v:b}".zfill(length)] for v in values]
    roots = [[int(c) for c in f"{math.isqrt(v):b}".zfill(width)] for v in values]
    return np.asarray(big, dtype=np.int64), np.asarray(roots, dtype=np.int64)


def _bucket_sort(rng, n, length):
    s = _bits(rng, n, length, 5)
    return s, np.sort(s, axis=1)


def _spec(name, level, sizes, sampler, out_len=lambda t: 1, terminated=False) -> TaskSpec:
    return TaskSpec(
        name=name,
        level=level,
        input_size=sizes[0],
        output_size=sizes[1],
        out_len=out_len,
        sampler=sampler,
        terminated=terminated,
    )


TASKS: dict[str, TaskSpec] = {
    s.name: s
    for s in (
        _spec("even_pairs", "regular", (2, 2), _even_pairs),
        _spec("modular_arithmetic", "regular", (MODULUS + 4, MODULUS), _modular_arithmetic),
        _spec("parity_check", "regular", (2, 2), _parity_check),
        _spec("cycle_navigation", "regular", (3, MODULUS), _cycle_navigation),
        _spec("stack_manipulation", "dcf", (5, 3), _stack_manipulation, lambda t: t + 1, True),
        _spec("reverse_string", "dcf", (2, 2), _reverse_string, lambda t: t),
        _spec(
            "modular_arithmetic_brackets",
            "dcf",
            (MODULUS + 6, MODULUS),
            _modular_arithmetic_brackets,
        ),
        _spec("solve_equation", "dcf", (MODULUS + 6, MODULUS), _solve_equation),
        _spec("duplicate_string", "cs", (2, 2), _duplicate_string, lambda t: 2 * t),
        _spec("missing_duplicate_string", "cs", (4, 2), _missing_duplicate_string),
        _spec("odds_first", "cs", (2, 2), _odds_first, lambda t: t),
        _spec("binary_addition", "cs", (3, 3), _binary_addition, lambda t: t + 1, True),
        _spec("binary_multiplication", "cs", (3, 3), _binary_multiplication, lambda t: t, True),
        _spec("compute_sqrt", "cs", (2, 2), _compute_sqrt, lambda t: math.ceil(t / 2)),
        _spec("bucket_sort", "cs", (5, 5), _bucket_sort, lambda t: t),
    )
}
LEVELS = ("regular", "dcf", "cs")


def get_spec(name: str) -> TaskSpec:
    """The task ``name``; unknown -> ``ValueError`` listing the 15."""
    if name not in TASKS:
        raise ValueError(f"unknown chomsky task {name!r}; known: {', '.join(TASKS)}")
    return TASKS[name]


def sample(rng: np.random.Generator, name: str, n: int, length: int) -> Arrays:
    """``(inputs (N, T), outputs (N, O))`` of ``n`` examples of task ``name`` at ``length``."""
    if length < 1:
        raise ValueError(f"chomsky length must be >= 1, got {length}")
    if n < 0:
        raise ValueError(f"number of examples must be >= 0, got {n}")
    return get_spec(name).sampler(rng, n, length)


def output_length(name: str, input_length: int) -> int:
    """The output length of task ``name`` for an input of ``input_length`` tokens."""
    return get_spec(name).out_len(input_length)


def scored_mask(name: str, outputs: np.ndarray) -> np.ndarray:
    """(N, O) bool: the output slots the reference's accuracy counts (all, or through the
    first termination token for the termination-token tasks)."""
    if not get_spec(name).terminated:
        return np.ones(outputs.shape, dtype=bool)
    end = np.argmax(outputs == TERMINATION, axis=1)  # (N,) first termination token
    return np.arange(outputs.shape[1])[None, :] <= end[:, None]  # (N, O)
