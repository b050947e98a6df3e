"""RULER generators (synthetic/text/ruler.py) against the independent reader, at every depth
from 0 to 1 and up to the longest evaluated length, and their malformed-parameter errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bipe.synthetic.text.passkey import FILLER
from bipe.synthetic.text.ruler import (
    RULER_TASKS,
    RulerParams,
    min_ruler_length,
    recall,
    ruler_example,
)
from bipe.synthetic.text.ruler_reader import read_answer, verify_record
from bipe.synthetic.text.tokenizer import ByteTokenizer

TOK = ByteTokenizer()
PARAMS = {
    "niah_single": RulerParams(),
    "niah_multikey": RulerParams(needles=4),
    "niah_multivalue": RulerParams(values=4),
    "niah_multiquery": RulerParams(needles=4, queries=3),
    "variable_tracking": RulerParams(hops=4, chains=3),
    "common_words": RulerParams(common_words=3, freq_cw=4, freq_ucw=2),
}
LONGEST = 16 * 384
STREAM = TOK.encode(("In the beginning was the word. " * 20 + "\n") * 40)  # a corpus stand-in


def _check(task, ex, length, params):
    assert len(ex.tokens) == length and ex.tokens.dtype == np.int64
    text = TOK.decode(ex.tokens[: length - ex.n_answer])
    target = TOK.decode(ex.tokens[length - ex.n_answer :])
    assert read_answer(task, text) == list(ex.answer)
    assert recall(target, ex.answer) == 1.0
    record = {"text": text, "answer": list(ex.answer)}
    assert verify_record(record, {"generator": f"ruler:{task}"}) is None
    return text


@pytest.mark.parametrize("task", RULER_TASKS)
def test_reader_agrees_on_200_examples_per_task(task):
    """200 examples per task: depths 0, 1 and between, the shortest and the longest lengths,
    repeated and corpus filler."""
    rng = np.random.default_rng(np.random.SeedSequence(24))
    params = PARAMS[task]
    shortest = min_ruler_length(TOK, task, params)
    lengths = [shortest, shortest + 1, 3 * shortest, LONGEST]
    depths = [0.0, 1.0, 0.5, *rng.uniform(0, 1, 47)]
    for i in range(200):
        length, depth = lengths[i % len(lengths)], depths[i % len(depths)]
        filler = STREAM if i % 3 == 0 and length <= len(STREAM) else None
        ex = ruler_example(rng, TOK, task, length, depth, filler, params)
        _check(task, ex, length, params)


@given(
    task=st.sampled_from(RULER_TASKS),
    extra=st.integers(0, 2000),
    depth=st.sampled_from([0.0, 1.0]) | st.floats(0, 1),
    seed=st.integers(0, 2**32 - 1),
    counts=st.tuples(*[st.integers(1, 5)] * 4),
)
def test_any_parameters_round_trip(task, extra, depth, seed, counts):
    needles, values, hops, chains = counts
    params = {
        "niah_single": RulerParams(),
        "niah_multikey": RulerParams(needles=needles),
        "niah_multivalue": RulerParams(values=values),
        "niah_multiquery": RulerParams(needles=needles, queries=max(1, needles - values + 1)),
        "variable_tracking": RulerParams(hops=hops, chains=chains),
        "common_words": RulerParams(common_words=needles, freq_cw=values + 1, freq_ucw=1),
    }[task]
    length = min_ruler_length(TOK, task, params) + extra
    ex = ruler_example(np.random.default_rng(seed), TOK, task, length, depth, None, params)
    _check(task, ex, length, params)


@pytest.mark.parametrize("task", [t for t in RULER_TASKS if t.startswith("niah_m") or t[0] == "v"])
def test_depth_0_and_1_place_the_queried_line_at_the_ends(task):
    """Depth 0: the text starts with the queried group's first line; depth 1: the queried
    group closes the filler (all of it, in order, just before the question)."""
    params = PARAMS[task]
    length = 4 * min_ruler_length(TOK, task, params)
    for seed in range(20):
        rng = np.random.default_rng(seed)
        ex = ruler_example(rng, TOK, task, length, 0.0, None, params)
        text = TOK.decode(ex.tokens[: length - ex.n_answer])
        if task == "variable_tracking":
            assert text.startswith(f"\nVAR {ex.answer[0]} = ")
        else:
            assert text.startswith("\nThe pass key of ") and ex.answer[0] in text.split("\n")[1]
        ex = ruler_example(rng, TOK, task, length, 1.0, None, params)
        text = TOK.decode(ex.tokens[: length - ex.n_answer])
        body = text[: text.rindex("\n", 0, len(text) - 1)].rstrip("\n").split("\n")
        if task == "variable_tracking":
            tail = body[-2 * (params.hops + 1) + 1 :: 2]
            assert [x.split()[1] for x in tail] == list(ex.answer)
        elif task == "niah_multivalue":
            tail = body[-2 * params.values + 1 :: 2]
            assert [x.split()[-1].rstrip(".") for x in tail] == list(ex.answer)
        else:
            assert body[-1].split()[-1].rstrip(".") == ex.answer[0]


def test_common_words_counts_and_no_depth():
    """The common words appear freq_cw times, every other word freq_ucw times; the list fills
    all of the length but less than one more uncommon word's items."""
    p = RulerParams(common_words=2, freq_cw=5, freq_ucw=2)
    for length in (200, 201, 1000, 4000):
        ex = ruler_example(np.random.default_rng(length), TOK, "common_words", length, 0.5, None, p)
        text = TOK.decode(ex.tokens)
        words = text.split("\n")[-2].split()[1::2]
        counts = {w: words.count(w) for w in words}
        assert {counts[w] for w in ex.answer} == {5} and len(counts) > 2
        assert {c for w, c in counts.items() if w not in ex.answer} == {2}
        assert text.index("\n1. ") < 2 * len(" 999. abcd") and np.isnan(ex.depth)


def test_same_seed_same_example_and_filler_is_the_passkeys():
    for task in RULER_TASKS:
        a, b = (ruler_example(np.random.default_rng(7), TOK, task, 600, 0.3) for _ in range(2))
        assert np.array_equal(a.tokens, b.tokens) and a.answer == b.answer
        assert FILLER[:5] in TOK.decode(a.tokens)


def test_recall_is_rulers_string_match_all():
    assert recall("12, 34", ("12", "34", "56", "78")) == 0.5
    assert recall("AbC x", ("abc",)) == 1.0 and recall("", ("1",)) == 0.0


@pytest.mark.parametrize(
    "make,needle",
    [
        (lambda: RulerParams(needles=0), "data.needles must be >= 1"),
        (lambda: RulerParams(hops=0), "data.hops must be >= 1"),
        (lambda: RulerParams(needles=2, queries=3), "asks more keys"),
        (lambda: RulerParams(freq_cw=2, freq_ucw=2), "must exceed"),
        (lambda: RulerParams(needles=5, digits=1), "too many to draw"),
        (
            lambda: ruler_example(
                np.random.default_rng(0),
                TOK,
                "variable_tracking",
                200,
                0.5,
                None,
                RulerParams(hops=12, chains=2),
            ),
            "needs at least",
        ),
        (lambda: ruler_example(np.random.default_rng(0), TOK, "niah_multikey", 500, 1.5), "[0, 1]"),
        (
            lambda: ruler_example(
                np.random.default_rng(0), TOK, "niah_single", 500, 0.5, None, RulerParams(needles=2)
            ),
            "passkey",
        ),
        (lambda: ruler_example(np.random.default_rng(0), TOK, "cwe", 500, 0.5), "unknown RULER"),
    ],
)
def test_malformed_parameters_raise(make, needle):
    with pytest.raises(ValueError, match=needle.replace("[", r"\[").replace("]", r"\]")):
        make()


def test_reader_refuses_a_text_without_its_question():
    meta = {"generator": "ruler:niah_multikey"}
    assert "expected one" in verify_record({"text": "no question", "answer": ["1"]}, meta)
    assert "no reader" in verify_record({"text": "x", "answer": ["1"]}, {})
    bad = {"text": "\nThe pass key is 12. Remember it.\n", "answer": ["13"]}
    assert "the text answers ['12']" in verify_record(bad, {"generator": "ruler:niah_single"})
