"""bipe.synthetic.arithmetic against slow, independent reference code.

The references here share no code with the module's verifier: values come from Python's own
operator precedence on a Z_p number class, chains are checked by enumerating every forward
generator step (all positions, all (n1, op, n2)), questions by a backward search to a single
number, and the ``steps`` format by leftmost-evaluable string rewriting.
"""

from __future__ import annotations

import functools
import re
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from bipe.synthetic.arithmetic import (
    ARITH_VOCAB,
    EOS,
    FORMATS,
    expansion_table,
    generate_arithmetic,
    iter_arithmetic,
    make_record,
    under_quotas,
    verify_record,
    verify_text,
    vocab,
)
from bipe.testing import reference_positions

# Real files from the reference generator (Feng et al.), kept with the tests.
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "feng_arithmetic"
PRIMES = [2, 3, 5, 7, 11, 13, 17]
OPS = ("+", "-", "*", "/")
PREC = {"+": 1, "-": 1, "*": 2, "/": 2}


def meta_for(fmt: str, p: int) -> dict:
    return {
        "generator": "arith",
        "arith_format": fmt,
        "modulus": p,
        "vocab": list(vocab(p)),
        "separators": [9, 2],
    }


# ----------------------------------------------------------------------------- references


class Z:
    """An element of Z_p with Python operators (``/`` by zero raises ZeroDivisionError)."""

    p = 11

    def __init__(self, v: int) -> None:
        self.v = v % Z.p

    def __add__(self, o: Z) -> Z:
        return Z(self.v + o.v)

    def __sub__(self, o: Z) -> Z:
        return Z(self.v - o.v)

    def __mul__(self, o: Z) -> Z:
        return Z(self.v * o.v)

    def __truediv__(self, o: Z) -> Z:
        for c in range(Z.p):
            if (o.v * c) % Z.p == self.v and o.v:
                return Z(c)
        raise ZeroDivisionError


def ref_value(words: list[str], p: int) -> int:
    """Python's precedence does the parsing; Z does the arithmetic."""
    Z.p = p
    src = re.sub(r"\d+", lambda m: f"Z({m.group()})", " ".join(words))
    return eval(src, {"Z": Z}).v  # test-only, input built from known words


@functools.cache
def ref_op(a: int, op: str, b: int, p: int) -> int | None:
    try:
        return ref_value([str(a), op, str(b)], p)
    except ZeroDivisionError:
        return None


def ref_expand(expr: list[str], i: int, n1: int, op: str, n2: int) -> list[str]:
    """The reference generator's step, transcribed from its bracket rule."""
    before = expr[i - 1] if i > 0 else None
    after = expr[i + 1] if i + 1 < len(expr) else None
    if before == "/":
        bracket = True
    elif before == "*" or after in ("*", "/") or before == "-":
        bracket = op in "+-"
    else:
        bracket = False
    mid = [str(n1), op, str(n2)]
    return expr[:i] + (["(", *mid, ")"] if bracket else mid) + expr[i + 1 :]


def ref_expansions(expr: list[str], p: int) -> set[tuple[str, ...]]:
    """Every expression one generator step can make from ``expr``."""
    out = set()
    for i, w in enumerate(expr):
        if not w.isdigit():
            continue
        for n1 in range(p):
            for op in OPS:
                for n2 in range(p):
                    if ref_op(n1, op, n2, p) == int(w):
                        out.add(tuple(ref_expand(expr, i, n1, op, n2)))
    return out


def is_number(w: str, p: int) -> bool:
    return w.isdigit() and int(w) < p and str(int(w)) == w


@functools.lru_cache(maxsize=100_000)
def ref_reachable(expr: tuple[str, ...], p: int) -> bool:
    """Whether the generator can produce ``expr`` from a single number (backward search)."""
    if len(expr) == 1:
        return is_number(expr[0], p)
    for i in range(len(expr)):
        for width, opened in ((3, False), (5, True)):
            span = list(expr[i : i + width])
            if len(span) < width or (opened and (span[0], span[-1]) != ("(", ")")):
                continue
            a, op, b = span[1:-1] if opened else span
            if not (is_number(a, p) and op in OPS and is_number(b, p)):
                continue
            c = ref_op(int(a), op, int(b), p)
            if c is None:
                continue
            nxt = list(expr[:i]) + [str(c)] + list(expr[i + width :])
            if ref_expand(nxt, i, int(a), op, int(b)) == list(expr) and ref_reachable(
                tuple(nxt), p
            ):
                return True
    return False


def ref_steps(question: list[str], p: int) -> list[str]:
    """The ``steps`` chain by rewriting the leftmost operation precedence allows next."""
    cur, steps = list(question), []
    while len(cur) > 1:
        for i in range(1, len(cur) - 1):
            op = cur[i]
            if op not in OPS or not (cur[i - 1].isdigit() and cur[i + 1].isdigit()):
                continue
            left = cur[i - 2] if i >= 2 else None
            right = cur[i + 2] if i + 2 < len(cur) else None
            if left in PREC and PREC[left] >= PREC[op]:
                continue
            if right in PREC and PREC[right] > PREC[op]:
                continue
            c = ref_op(int(cur[i - 1]), op, int(cur[i + 1]), p)
            steps.append([cur[i - 1], op, cur[i + 1], str(c)])
            cur = cur[: i - 1] + [str(c)] + cur[i + 2 :]
            if i - 1 > 0 and cur[i - 2] == "(" and cur[i] == ")":
                cur = cur[: i - 2] + [cur[i - 1]] + cur[i + 1 :]
            break
    words = [*question, "="]
    for k, (a, op, b, _) in enumerate(steps):
        words += ([steps[k - 1][3]] if k else []) + [a, op, b, "="]
    return words + [steps[-1][3]]


def ref_valid(words: list[str], fmt: str, p: int) -> bool:
    """Whether ``words`` is a chain the generator could write in format ``fmt``."""
    if any(not (is_number(w, p) or w in OPS or w in "()=") for w in words):
        return False
    parts, cur = [], []
    for w in [*words, "="]:
        if w == "=":
            parts.append(cur)
            cur = []
        else:
            cur.append(w)
    if len(parts) < 2 or any(not part for part in parts) or len(parts[-1]) != 1:
        return False
    if not is_number(parts[-1][0], p):
        return False
    question = parts[0]
    if len(question) == 1 or not ref_reachable(tuple(question), p):
        return False
    if ref_value(question, p) != int(parts[-1][0]):
        return False
    if fmt == "direct":
        return len(parts) == 2
    if fmt == "steps":
        return words == ref_steps(question, p)
    n_ops = sum(w in OPS for w in question)
    return len(parts) == n_ops + 1 and all(
        tuple(parts[i]) in ref_expansions(parts[i + 1], p) for i in range(n_ops)
    )


def raw_record(ids: list[int], p: int) -> dict:
    """A record whose derived fields follow the token ids, whatever they are (test builder)."""
    tokens = [*ids, EOS]
    seg, intra = reference_positions(tokens, (9, 2))
    prompt_len = tokens.index(9) + 1 if 9 in tokens else len(tokens)
    return {
        "text": " ".join(vocab(p)[t] for t in ids),
        "tokens": tokens,
        "seg": seg,
        "intra": intra,
        "answer": tokens[-2] - 10,
        "n_operators": sum(3 <= t <= 6 for t in tokens[:prompt_len]),
        "prompt_len": prompt_len,
    }


# ----------------------------------------------------------------------------- properties

settings_small = dict(
    seed=st.integers(0, 2**32 - 1), p=st.sampled_from(PRIMES), fmt=st.sampled_from(FORMATS)
)


@given(**settings_small, spec=st.sampled_from(["1", "3", "uniform:1:6", "linear:1:5", "7"]))
def test_every_generated_chain_verifies(seed, p, fmt, spec):
    records = generate_arithmetic(
        np.random.default_rng(seed), 6, operators=spec, modulus=p, fmt=fmt
    )
    for r in records:
        assert verify_record(r, meta_for(fmt, p)) is None, r["text"]
        assert r["tokens"][-1] == EOS and r["text"].count("  ") == 0
        if r["n_operators"] <= 5:
            assert ref_valid(r["text"].split(" "), fmt, p), r["text"]


@given(**settings_small, n_ops=st.integers(1, 4), data=st.data())
def test_verifier_agrees_with_reference_on_single_token_corruptions(seed, p, fmt, n_ops, data):
    (record,) = generate_arithmetic(
        np.random.default_rng(seed), 1, operators=n_ops, modulus=p, fmt=fmt
    )
    ids = record["tokens"][:-1]
    k = data.draw(st.integers(0, len(ids) - 1))
    new = data.draw(st.integers(0, 10 + p - 1).filter(lambda t: t != ids[k]))
    corrupt = ids[:k] + [new] + ids[k + 1 :]
    rec = raw_record(corrupt, p)
    want = ref_valid(rec["text"].split(" "), fmt, p)
    event(f"corruption is another valid chain: {want}")
    got = verify_record(rec, meta_for(fmt, p))
    assert (got is None) == want, (record["text"], rec["text"], got)


def test_every_single_token_corruption_of_small_chains():
    """Exhaustive over positions and replacement tokens; some corruptions are valid chains."""
    agree, valid = 0, Counter()
    for p, fmt, seed in [(p, f, s) for p in (2, 3) for f in FORMATS for s in range(4)]:
        for record in generate_arithmetic(
            np.random.default_rng(seed), 2, operators="uniform:1:3", modulus=p, fmt=fmt
        ):
            ids = record["tokens"][:-1]
            for k in range(len(ids)):
                for new in range(10 + p):
                    if new == ids[k]:
                        continue
                    rec = raw_record(ids[:k] + [new] + ids[k + 1 :], p)
                    want = ref_valid(rec["text"].split(" "), fmt, p)
                    assert (verify_record(rec, meta_for(fmt, p)) is None) == want, rec["text"]
                    agree += 1
                    valid[fmt] += want
    assert agree > 1000 and valid["feng"] > 0 and valid["direct"] > 0, valid


@given(
    **settings_small,
    field=st.sampled_from(
        ["tokens", "seg", "intra", "answer", "n_operators", "prompt_len", "text"]
    ),
)
def test_verifier_rejects_inconsistent_fields(seed, p, fmt, field):
    (record,) = generate_arithmetic(np.random.default_rng(seed), 1, operators=3, modulus=p, fmt=fmt)
    bad = dict(record)
    if field in ("tokens", "seg", "intra"):
        bad[field] = [*record[field][:-1], record[field][-1] + 1]
    elif field == "text":
        bad["text"] = record["text"].replace(" ", "  ", 1)
    else:
        bad[field] = record[field] + 1
    assert verify_record(bad, meta_for(fmt, p)) is not None


def test_verifier_rejects_bad_meta():
    (record,) = generate_arithmetic(np.random.default_rng(0), 1, operators=2)
    assert verify_record(record, meta_for("feng", 11)) is None
    assert "prime" in verify_record(record, {**meta_for("feng", 11), "modulus": 12})
    assert verify_record(record, {**meta_for("feng", 11), "separators": [9]}) is not None
    assert verify_record(record, {**meta_for("feng", 11), "arith_format": "x"}) is not None
    assert verify_record(record, meta_for("feng", 13)) is not None  # vocab/modulus mismatch


@given(seed=st.integers(0, 2**32 - 1), fmt=st.sampled_from(FORMATS))
def test_same_seed_same_records(seed, fmt):
    def make():
        return list(
            iter_arithmetic(
                np.random.default_rng(seed), 40, operators="uniform:1:8", fmt=fmt, dedup=True
            )
        )

    assert make() == make()


def test_output_does_not_depend_on_the_number_of_workers():
    def make(workers: int) -> list[dict]:
        return generate_arithmetic(
            np.random.default_rng(7), 4500, operators="uniform:1:4", dedup=True, workers=workers
        )

    one, two = make(1), make(2)
    assert one == two and len({r["text"] for r in one}) == 4500


def test_formats_share_questions_and_answers():
    """With the same seed the three formats write the same questions and answers."""
    recs = {
        f: generate_arithmetic(np.random.default_rng(3), 30, operators=5, fmt=f) for f in FORMATS
    }
    for f in ("direct", "steps"):
        assert [r["answer"] for r in recs[f]] == [r["answer"] for r in recs["feng"]]
        assert [r["prompt_len"] for r in recs[f]] == [r["prompt_len"] for r in recs["feng"]]


@given(seed=st.integers(0, 2**32 - 1), n_ops=st.integers(1, 20))
def test_steps_segments_are_bounded(seed, n_ops):
    (r,) = generate_arithmetic(np.random.default_rng(seed), 1, operators=n_ops, fmt="steps")
    seg, intra = np.array(r["seg"]), np.array(r["intra"])
    assert seg.max() == n_ops + 1  # question, L steps, answer
    assert intra[seg > 0].max() <= 4  # step segments hold at most 5 tokens
    assert len(r["tokens"]) == r["prompt_len"] + 5 * n_ops + 1


def test_worked_examples():
    q = "( 2 + 7 ) * 6 - 3"
    assert verify_text(f"{q} = 9 * 6 - 3 = 10 - 3 = 7", "feng", 11) is None
    assert verify_text(f"{q} = 2 + 7 = 9 9 * 6 = 10 10 - 3 = 7", "steps", 11) is None
    assert verify_text(f"{q} = 7", "direct", 11) is None
    # the reference also reduces 1 + 3 inside 10 + 1 + 3 (fixture ops6, + associates)
    assert verify_text("10 + 1 + 3 = 10 + 4 = 3", "feng", 11) is None
    assert verify_text("( 1 + 2 ) + 3 = 3 + 3 = 6", "feng", 11) is not None  # needless brackets
    assert verify_text("2 * 3 + 4 = 2 * 7 = 3", "feng", 11) is not None  # not a reduction
    assert verify_text("1 / 0 = 0", "feng", 11) is not None
    assert ARITH_VOCAB[:10] == ("<pad>", "<cls>", "<eos>", "+", "-", "*", "/", "(", ")", "=")
    assert ARITH_VOCAB[10:] == tuple(str(i) for i in range(11))


def test_dedup_exclude_and_under_quotas():
    rng = np.random.default_rng(0)
    recs = list(iter_arithmetic(rng, 600, operators=3, under=True, dedup=True))
    assert len({r["text"] for r in recs}) == 600
    counts = Counter(r["n_operators"] for r in recs)
    quotas = under_quotas(600, 3)  # [100, 200, 300]
    assert counts[1] <= quotas[0] and counts[2] <= quotas[1] and counts[3] >= quotas[2]
    assert counts[1] > 0.85 * quotas[0]  # ~473 distinct 1-operator chains: few duplicates
    questions = {r["text"].partition(" =")[0] for r in recs}
    test = generate_arithmetic(rng, 300, operators=2, fmt="direct", exclude=questions)
    assert not questions & {r["text"].partition(" =")[0] for r in test}


def test_impossible_requests_raise():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="only 473"):
        generate_arithmetic(rng, 1000, operators=1, dedup=True)
    with pytest.raises(ValueError, match="gave up"):
        plus_minus = {f"{a} {op} {b}" for a in "01" for op in "+-" for b in "01"}
        list(
            iter_arithmetic(
                rng, 10, operators=1, modulus=2, dedup=True, max_stale=500, exclude=plus_minus
            )
        )  # 14 chains exist, 8 excluded
    for kwargs, match in [
        ({"modulus": 12}, "prime"),
        ({"fmt": "x"}, "unknown"),
        ({"operators": "fixed:0"}, "at least 1"),
        ({"operators": "uniform:1:3", "under": True}, "fixed"),
    ]:
        with pytest.raises(ValueError, match=match):
            generate_arithmetic(rng, 3, **{"operators": 2, **kwargs})
    with pytest.raises(ValueError, match="positive"):
        generate_arithmetic(rng, 0, operators=2)


def reference_draw(rng: np.random.Generator, x: int, p: int) -> tuple[int, int, int]:
    """One draw of the reference's loop, transcribed: restart whenever it says ``continue``."""
    while True:
        n1, op = int(rng.integers(p)), "+-*/"[rng.integers(4)]
        if op == "+":
            n2 = (x - n1) % p
        elif op == "-":
            n2 = (n1 - x) % p
        elif op == "*":
            if n1 == 0 and x != 0:
                continue
            n2 = int(rng.integers(p)) if n1 == 0 else next(c for c in range(p) if n1 * c % p == x)
        else:
            if x == 0 and n1 == 0:
                n2 = int(rng.integers(p))
                if n2 == 0:
                    continue
            elif x == 0 or n1 == 0:
                continue
            else:
                n2 = next(c for c in range(p) if x * c % p == n1)
        return n1, "+-*/".index(op) + 3, n2


def test_expansion_law_matches_the_reference_rejection_loop():
    p, rng, n = 5, np.random.default_rng(0), 20_000
    outcomes, cdfs = expansion_table(p)
    for x in (0, 3):
        draws = Counter(reference_draw(rng, x, p) for _ in range(n))
        probs = np.diff(np.concatenate([[0.0], cdfs[x]]))
        assert set(draws) == set(outcomes[x])
        for key, prob in zip(outcomes[x], probs, strict=True):
            assert abs(draws[key] / n - prob) < 4.5 * np.sqrt(prob * (1 - prob) / n), key


@given(seed=st.integers(0, 2**32 - 1), p=st.sampled_from(PRIMES))
def test_record_fields_follow_the_chain(seed, p):
    (r,) = generate_arithmetic(np.random.default_rng(seed), 1, operators=4, modulus=p)
    assert make_record(r["tokens"], p) == r
    words = r["text"].split(" ")
    assert r["answer"] == ref_value(words[: words.index("=")], p)
    assert r["prompt_len"] == words.index("=") + 1


# ----------------------------------------------------------------------------- fixtures


def fixture_lengths() -> tuple[dict, dict]:
    """Chain lengths (tokens incl. <eos>) and question lengths per operator count."""
    chains, questions = defaultdict(list), defaultdict(list)
    for folder in ("ops3", "ops6"):
        for name in ("chain/train_data.txt", "chain/test_data.txt"):
            for line in (FIXTURES / folder / name).read_text().splitlines():
                words = line.split()
                q = words[: words.index("=")]
                k = sum(w in OPS for w in q)
                questions[k].append(len(q))
                if name.startswith("chain/train"):
                    chains[k].append(len(words) + 1)
    return chains, questions


@pytest.mark.slow
def test_length_statistics_match_the_fixtures():
    chains, questions = fixture_lengths()
    rng = np.random.default_rng(2023)
    for k in sorted(chains):
        recs = generate_arithmetic(rng, 3000, operators=k)
        ours = np.array([len(r["tokens"]) for r in recs], dtype=float)
        ours_q = np.array([r["prompt_len"] - 1 for r in recs], dtype=float)
        for theirs, mine in (
            (np.array(chains[k], float), ours),
            (np.array(questions[k], float), ours_q),
        ):
            se = np.sqrt(theirs.var() / len(theirs) + mine.var() / len(mine))
            diff = abs(mine.mean() - theirs.mean())
            assert diff <= 0.03 * theirs.mean(), (k, mine.mean(), theirs.mean())
            assert diff <= 4 * se + 1e-9, (k, mine.mean(), theirs.mean(), se)


def test_fixture_chains_verify_and_match_the_reference():
    for folder in ("ops3", "ops6"):
        for line in (FIXTURES / folder / "chain/train_data.txt").read_text().splitlines()[:60]:
            text = line.rstrip(" ")
            assert verify_text(text, "feng", 11) is None
            assert ref_valid(text.split(" "), "feng", 11)
