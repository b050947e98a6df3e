"""The chomsky data family's config, datasets and record verifier.

:class:`ChomskyData` adds to the shared :class:`~bipe.synthetic.family.DataConfig` the
training-length law (``lengths``, a length spec over input lengths; the reference draws one
length uniformly from 1-40 per batch) and the protocol (``protocol``: ``reference``, a
non-causal encoder reading the input then an empty tape of output-length slots; ``decoder``,
the input, a separator, then the output generated token by token; docs/method.md).

A dataset (``bipe gen chomsky:TASK``) holds ``n_train`` records ``{"input": [...], "output":
[...], "length": L}`` with lengths drawn from ``lengths``, token ids in the reference's one-hot
index order (:mod:`bipe.synthetic.chomsky`). :func:`derive_output` re-derives a record's output
from its input alone (row by row, a second statement of each rule), which is what ``bipe
verify`` checks.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from bipe.synthetic.chomsky import MODULUS, TASKS, get_spec, output_length, sample
from bipe.synthetic.distributions import parse_length_spec
from bipe.synthetic.family import DataConfig

__all__ = [
    "GENERATORS",
    "PROTOCOLS",
    "ChomskyData",
    "derive_output",
    "generate_dataset",
    "verify_record",
]

PROTOCOLS = ("reference", "decoder")
GENERATORS = tuple(f"chomsky:{name}" for name in TASKS)


@dataclass(frozen=True, kw_only=True)
class ChomskyData(DataConfig):
    """A chomsky task's data: training input lengths and protocol (module docstring)."""

    lengths: str = "uniform:1:40"
    protocol: str = "reference"

    def __post_init__(self) -> None:
        super().__post_init__()
        spec = parse_length_spec(self.lengths)
        if spec.lo < 1 or spec.hi is None:
            raise ValueError(f"data.lengths {self.lengths!r} must be bounded and >= 1")
        if self.protocol not in PROTOCOLS:
            raise ValueError(
                f"data.protocol {self.protocol!r} unknown; known: {', '.join(PROTOCOLS)}"
            )
        if any(k < 1 for k in self.eval_lengths):
            raise ValueError(f"data.eval_lengths must be >= 1, got {self.eval_lengths}")


def generate_dataset(
    data: ChomskyData, seed: int, *, task: str
) -> tuple[Iterator[dict[str, Any]], dict[str, Any]]:
    """``(records, meta)``: ``n_train`` records of ``task``, each at a length drawn from
    ``data.lengths`` (``SeedSequence(seed)``: lengths first, then the examples)."""
    spec = get_spec(task)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    law = parse_length_spec(data.lengths)
    length_rng, example_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2)
    )
    lengths = law.sample(length_rng, data.n_train)  # (N,)
    meta = {
        "generator": f"chomsky:{task}",
        "task": task,
        "level": spec.level,
        "input_size": spec.input_size,
        "output_size": spec.output_size,
        "config": {"n": data.n_train, "lengths": str(law), "seed": seed},
        "seed": seed,
    }

    def records() -> Iterator[dict[str, Any]]:
        for length in lengths:
            x, y = sample(example_rng, task, 1, int(length))
            yield {"input": x[0], "output": y[0], "length": int(length)}

    return records(), meta


# ---- re-derivation (bipe verify) ---------------------------------------------------------------


def _little_digits(value: int) -> list[int]:
    return [int(c) for c in reversed(bin(value)[2:])]


def _le_value(digits: list[int]) -> int:
    return sum(d << i for i, d in enumerate(digits))


def _bracket_value(tokens: list[int], ids: dict[int, str]) -> int:
    """Value mod 5 of a bracketed expression, by recursive descent (unary - before a digit)."""
    pos = 0

    def term() -> int:
        nonlocal pos
        t = ids.get(tokens[pos], tokens[pos])
        pos += 1
        if t == "-":
            return -term()
        if t != "(":
            if not isinstance(t, int) or t >= MODULUS:
                raise ValueError("malformed expression")
            return t
        value = term()
        if ids.get(tokens[pos]) in ("+", "-", "*"):
            op = ids[tokens[pos]]
            pos += 1
            right = term()
            value = {"+": value + right, "-": value - right, "*": value * right}[op]
        if ids.get(tokens[pos]) != ")":
            raise ValueError("unbalanced brackets")
        pos += 1
        return value

    value = term()
    if pos != len(tokens):
        raise ValueError("trailing tokens")
    return value % MODULUS


def _flat_value(x: list[int]) -> int:
    """Value mod 5 of ``d op d ... d`` (digits at even slots, + - * at odd ones): Python's
    own integer arithmetic on the written-out expression (* binds tighter)."""
    if any((t < MODULUS) != (i % 2 == 0) for i, t in enumerate(x)):
        raise ValueError("digits and operators do not alternate")
    text = "".join(str(t) if t < MODULUS else "+-*"[t - MODULUS] for t in x)
    if not re.fullmatch(r"[0-4]([-+*][0-4])*", text):
        raise ValueError("malformed expression")
    return eval(text) % MODULUS  # a checked string of digits and + - *


def _result(task: str, x: list[int], length: int) -> list[int]:
    """The unpadded result of ``task`` on input ``x`` (before padding to the output length)."""
    if task == "even_pairs":
        return [sum(a != b for a, b in zip(x[:-1], x[1:], strict=True)) % 2]
    if task == "parity_check":
        return [sum(x) % 2]
    if task == "cycle_navigation":
        return [sum(a - 1 for a in x) % MODULUS]
    if task == "modular_arithmetic":
        return [_flat_value(x)]
    if task == "stack_manipulation":
        k = next((i for i, t in enumerate(x) if t >= 2), len(x))
        stack = list(x[:k])
        for a in x[k:]:
            stack = stack[:-1] if a == 2 else stack + [a - 3]
        return stack[::-1] + [2]
    if task == "reverse_string":
        return x[::-1]
    if task == "modular_arithmetic_brackets":
        ids = {MODULUS: "+", MODULUS + 1: "-", MODULUS + 2: "*", MODULUS + 3: "(", MODULUS + 4: ")"}
        return [_bracket_value(x, ids)]
    if task == "solve_equation":
        if length < 3:
            return [0]
        ids = {5: "+", 6: "-", 7: "(", 8: ")"}
        lhs, rhs = x[:-2], x[-1]
        sols = [
            v
            for v in range(MODULUS)
            if _bracket_value([v if t == 9 else t for t in lhs], ids) == rhs
        ]
        return sols[:1] if len(sols) == 1 else [-1]
    if task == "duplicate_string":
        return x + x
    if task == "missing_duplicate_string":
        if length == 1:
            return [1]
        half = length // 2
        i = x.index(2)
        return [x[(i + half) % (2 * half)]]
    if task == "odds_first":
        return x[1::2] + x[::2]
    if task in ("binary_addition", "binary_multiplication"):
        if 2 not in x:  # the short case (length <= 2)
            if task == "binary_multiplication":
                return [0] * (length - 1) + [2]
            return _little_digits(_le_value(x)) + [2]
        i = x.index(2)
        a, b = _le_value(x[:i]), _le_value(x[i + 1 :])
        return _little_digits(a + b if task == "binary_addition" else a * b) + [2]
    if task == "compute_sqrt":
        root = math.isqrt(int("".join(map(str, x)), 2))
        return [int(c) for c in bin(root)[2:].zfill(math.ceil(length / 2))]
    if task == "bucket_sort":
        return sorted(x)
    raise ValueError(f"unknown chomsky task {task!r}")


def derive_output(task: str, x: list[int], length: int) -> list[int]:
    """The output the reference gives for input ``x`` (requested length ``length``)."""
    result = _result(task, list(x), length)
    width = output_length(task, len(x))
    return result + [0] * (width - len(result))


def verify_record(record: dict, meta: dict) -> str | None:
    """Why ``record`` is not a valid record of the chomsky dataset ``meta``, or None."""
    task = meta.get("task")
    if task not in TASKS:
        return f"meta names no chomsky task (task={task!r})"
    missing = [k for k in ("input", "output", "length") if k not in record]
    if missing:
        return f"missing fields {', '.join(missing)}"
    x, y, length = record["input"], record["output"], record["length"]
    spec = TASKS[task]
    if not isinstance(length, int) or length < 1:
        return f"length {length!r} is not a positive int"
    want_len = length - 1 if task == "modular_arithmetic" and length % 2 == 0 else length
    if len(x) != want_len:
        return f"input has {len(x)} tokens, length {length} needs {want_len}"
    if any(not isinstance(t, int) or not 0 <= t < spec.input_size for t in x):
        return f"input ids must lie in 0..{spec.input_size - 1}"
    try:
        want = derive_output(task, x, length)
    except (ValueError, IndexError):
        return f"input is not a valid {task} input"
    if y != want:
        return f"output {y} but the input gives {want}"
    return None
