"""The chomsky tasks against an independent statement of each reference rule.

Every oracle below is written from the reference's task descriptions, differently from both
the generators (``bipe.synthetic.chomsky``) and the verifier (``chomsky_data.derive_output``):
Python's ``eval`` for the bracketed expressions, a walk for the cycle, first != last for
even_pairs, r^2 <= v < (r+1)^2 for the square root, and so on.
"""

import math
from collections import Counter

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bipe.synthetic import chomsky
from bipe.synthetic.chomsky_data import ChomskyData, derive_output, generate_dataset, verify_record

N_RECORDS = 240  # per task: 6 per length 1..40

# name -> (input ids, output ids, output length of an input of T tokens)
SHAPES = {
    "even_pairs": (2, 2, lambda t: 1),
    "modular_arithmetic": (9, 5, lambda t: 1),
    "parity_check": (2, 2, lambda t: 1),
    "cycle_navigation": (3, 5, lambda t: 1),
    "stack_manipulation": (5, 3, lambda t: t + 1),
    "reverse_string": (2, 2, lambda t: t),
    "modular_arithmetic_brackets": (11, 5, lambda t: 1),
    "solve_equation": (11, 5, lambda t: 1),
    "duplicate_string": (2, 2, lambda t: 2 * t),
    "missing_duplicate_string": (4, 2, lambda t: 1),
    "odds_first": (2, 2, lambda t: t),
    "binary_addition": (3, 3, lambda t: t + 1),
    "binary_multiplication": (3, 3, lambda t: t),
    "compute_sqrt": (2, 2, lambda t: (t + 1) // 2),
    "bucket_sort": (5, 5, lambda t: t),
}


def _text(x, chars):
    return "".join(chars[t] for t in x)


def _le(bits):
    return int("".join(map(str, reversed(bits))) or "0", 2)


def _padded(result, width):
    assert len(result) <= width
    return result + [0] * (width - len(result))


def _oracle(name, x, length):
    """The reference's output for input x (plus assertions on how inputs are drawn)."""
    t = len(x)
    if name == "even_pairs":
        return [int(x[0] != x[-1])]  # the number of 01 and 10 changes is odd iff ends differ
    if name == "parity_check":
        return ["".join(map(str, x)).count("1") % 2]
    if name == "cycle_navigation":
        where = 0
        for a in x:
            where = (where + {0: -1, 1: 0, 2: 1}[a]) % 5
        return [where]
    if name == "modular_arithmetic":
        assert t == (length if length % 2 else length - 1)
        return [eval(_text(x, "01234+-*")) % 5]
    if name == "modular_arithmetic_brackets":
        assert t == length
        return [eval(_text(x, "01234+-*()")) % 5]
    if name == "solve_equation":
        if length < 3:
            assert x == [0] * length
            return [0]
        lhs, eq, rhs = _text(x[:-2], "01234+-()x"), x[-2], x[-1]
        assert eq == 10 and lhs.count("x") == 1 and rhs < 5
        answers = [v for v in range(5) if eval(lhs.replace("x", str(v))) % 5 == rhs]
        assert len(answers) == 1
        return answers
    if name == "stack_manipulation":
        stack, i = [], 0
        while i < t and x[i] in (0, 1):
            stack.append(x[i])
            i += 1
        assert stack, "the initial stack is never empty"
        for action in x[i:]:
            if action == 2 and stack:
                stack.pop()
            elif action in (3, 4):
                stack.append(action - 3)
            else:
                assert action == 2
        return _padded(list(reversed(stack)) + [2], t + 1)
    if name == "reverse_string":
        return list(reversed(x))
    if name == "duplicate_string":
        return x * 2
    if name == "missing_duplicate_string":
        if length == 1:
            return [1]
        half = length // 2
        assert x[2 * half :] == [3] * (length % 2) and x.count(2) == 1
        hole = x.index(2)
        first, second = x[:half], x[half : 2 * half]
        other = second[hole] if hole < half else first[hole - half]
        return [other]
    if name == "odds_first":
        return [x[i] for i in range(1, t, 2)] + [x[i] for i in range(0, t, 2)]
    if name in ("binary_addition", "binary_multiplication"):
        adding = name == "binary_addition"
        width = t + 1 if adding else t
        if length <= 2:
            assert 2 not in x and _le(x) <= 2**length - 2
            digits = [int(c) for c in f"{_le(x):b}"[::-1]] if adding else [0] * (t - 1)
            return _padded(digits + [2], width)
        assert x.count(2) == 1
        cut = x.index(2)
        a, b = x[:cut], x[cut + 1 :]
        assert a and b and _le(a) >= 1 and _le(b) >= 1
        value = _le(a) + _le(b) if adding else _le(a) * _le(b)
        return _padded([int(c) for c in f"{value:b}"[::-1]] + [2], width)
    if name == "compute_sqrt":
        v = int("".join(map(str, x)), 2)
        assert v >= 1
        r = math.isqrt(v)
        assert r * r <= v < (r + 1) ** 2
        return [int(c) for c in format(r, f"0{(t + 1) // 2}b")]
    if name == "bucket_sort":
        counts = Counter(x)
        return [s for s in range(5) for _ in range(counts[s])]
    raise AssertionError(name)


def test_the_fifteen_tasks_of_the_suite():
    assert set(chomsky.TASKS) == set(SHAPES)
    levels = Counter(spec.level for spec in chomsky.TASKS.values())
    assert levels == {"regular": 4, "dcf": 4, "cs": 7}


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_records_match_an_independent_statement_of_the_rule(name):
    rng = np.random.default_rng(np.random.SeedSequence([23, len(name)]))
    n_in, n_out, out_len = SHAPES[name]
    checked = 0
    for length in range(1, 41):
        inputs, outputs = chomsky.sample(rng, name, N_RECORDS // 40, length)
        assert inputs.dtype == outputs.dtype == np.int64
        for x, y in zip(inputs.tolist(), outputs.tolist(), strict=True):
            assert all(0 <= v < n_in for v in x) and all(0 <= v < n_out for v in y)
            assert len(y) == out_len(len(x)) == chomsky.output_length(name, len(x))
            assert y == _oracle(name, x, length), (x, y)
            assert derive_output(name, x, length) == y
            checked += 1
    assert checked >= 200


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_long_inputs(name):
    rng = np.random.default_rng(5)
    for length in (97, 200):
        inputs, outputs = chomsky.sample(rng, name, 2, length)
        for x, y in zip(inputs.tolist(), outputs.tolist(), strict=True):
            assert y == _oracle(name, x, length)


@given(st.sampled_from(sorted(SHAPES)), st.integers(1, 30), st.integers(0, 2**32 - 1))
def test_same_seed_same_arrays_and_fresh_seeds_stay_valid(name, length, seed):
    a = chomsky.sample(np.random.default_rng(seed), name, 3, length)
    b = chomsky.sample(np.random.default_rng(seed), name, 3, length)
    assert all(np.array_equal(u, v) for u, v in zip(a, b, strict=True))
    for x, y in zip(a[0].tolist(), a[1].tolist(), strict=True):
        assert y == _oracle(name, x, length)


def test_scored_mask_stops_at_the_termination_token():
    outputs = np.array([[1, 0, 2, 0, 0], [2, 0, 0, 0, 0]])
    mask = chomsky.scored_mask("binary_addition", outputs)
    assert mask.tolist() == [[True, True, True, False, False], [True, False, False, False, False]]
    assert chomsky.scored_mask("bucket_sort", outputs).all()


def test_draws_are_spread_over_the_reference_ranges():
    """Spot checks of the sampling laws: operand widths, stack sizes and digits all vary."""
    rng = np.random.default_rng(0)
    x, _ = chomsky.sample(rng, "binary_addition", 400, 10)
    cuts = Counter(row.index(2) for row in x.tolist())
    assert set(cuts) == set(range(1, 9))  # the first operand has 1..length-2 digits
    x, _ = chomsky.sample(rng, "stack_manipulation", 400, 6)
    starts = Counter(next(i for i, t in enumerate(row + [9]) if t >= 2) for row in x.tolist())
    assert set(starts) == set(range(1, 6))  # the initial stack holds 1..length-1 symbols
    x, _ = chomsky.sample(rng, "modular_arithmetic_brackets", 200, 12)
    assert {5, 6, 7} <= set(x.ravel().tolist())  # + - * all occur


def test_dataset_records_verify_and_a_corrupted_one_does_not():
    records, meta = generate_dataset(ChomskyData(n_train=30), 4, task="cycle_navigation")
    records = list(records)
    assert meta["generator"] == "chomsky:cycle_navigation"
    plain = [
        {k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in r.items()} for r in records
    ]
    assert all(verify_record(r, meta) is None for r in plain)
    bad = dict(plain[0], output=[(plain[0]["output"][0] + 1) % 5])
    assert "the input gives" in verify_record(bad, meta)
    assert "tokens" in verify_record(dict(plain[0], length=plain[0]["length"] + 1), meta)


def test_config_refuses_bad_settings():
    with pytest.raises(ValueError, match="data.protocol"):
        ChomskyData(protocol="seq2seq")
    with pytest.raises(ValueError, match="data.lengths"):
        ChomskyData(lengths="uniform:0:40")
    with pytest.raises(ValueError, match="unknown chomsky task"):
        chomsky.sample(np.random.default_rng(0), "sorting", 1, 3)
