"""ArithBatch: the arithmetic sampler's arrays, and the records that are a view of them.

Offsets, prompt lengths, operator counts and positions are checked against plain loops over
each chain; the records of :func:`generate_arithmetic` must equal :func:`batch_records` of
:func:`sample_arithmetic` for the same draws; the chunk filter (deduplication, exclusion, the
``max_stale`` give-up) must equal the one-record-at-a-time rule it replaced.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bipe.synthetic.arithmetic import (
    DIVIDE,
    EOS,
    EQUALS,
    FORMATS,
    PLUS,
    ArithBatch,
    batch_records,
    generate_arithmetic,
    iter_arithmetic,
    question_of,
    ragged_positions,
    sample_arithmetic,
)
from bipe.synthetic.arithmetic import generate as gen
from bipe.synthetic.arithmetic.verify import _positions
from bipe.synthetic.distributions import parse_length_spec
from bipe.synthetic.segment import separator_positions


@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 12),
    fmt=st.sampled_from(FORMATS),
    modulus=st.sampled_from([2, 5, 11]),
    hi=st.integers(1, 6),
)
def test_batch_arrays_follow_from_each_chain(seed, n, fmt, modulus, hi):
    batch = sample_arithmetic(
        np.random.default_rng(seed), n, operators=f"uniform:1:{hi}", modulus=modulus, fmt=fmt
    )
    offsets = batch.offsets.tolist()
    assert batch.n == n and offsets[0] == 0 and offsets[-1] == len(batch.tokens)
    assert all(a < b for a, b in zip(offsets, offsets[1:], strict=False))
    seg, intra = batch.positions()
    for i in range(n):
        row = batch.tokens[offsets[i] : offsets[i + 1]].tolist()
        p = row.index(EQUALS) + 1  # the prompt ends at the first '='
        assert row[-1] == EOS and batch.prompt_len[i] == p
        assert batch.n_operators[i] == sum(PLUS <= t <= DIVIDE for t in row[:p])
        assert 1 <= batch.n_operators[i] <= hi
        want = _positions(row)  # the verifier's plain loop
        assert (
            seg[offsets[i] : offsets[i + 1]].tolist(),
            intra[offsets[i] : offsets[i + 1]].tolist(),
        ) == want


@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 10),
    fmt=st.sampled_from(FORMATS),
    dedup=st.booleans(),
)
def test_records_are_a_view_of_the_batch(seed, n, fmt, dedup):
    options = {"operators": "uniform:1:4", "modulus": 7, "fmt": fmt, "dedup": dedup}
    records = generate_arithmetic(np.random.default_rng(seed), n, **options)
    batch = sample_arithmetic(np.random.default_rng(seed), n, **options)
    assert batch_records(batch) == records
    assert batch_records(ArithBatch.of_records(records, 7)) == records


@given(rows=st.lists(st.lists(st.integers(0, 5), max_size=8), max_size=6))
def test_ragged_positions_equal_each_row_alone(rows):
    separators = (2, 4)
    offsets = np.concatenate([[0], np.cumsum([len(r) for r in rows], dtype=np.int64)])
    tokens = np.array([t for r in rows for t in r], dtype=np.int64)
    seg, intra = ragged_positions(tokens, offsets, separators)
    for i, row in enumerate(rows):
        cut = slice(offsets[i], offsets[i + 1])
        alone = separator_positions(np.array(row, dtype=np.int64), separators)
        assert (seg[cut].tolist(), intra[cut].tolist()) == (alone[0].tolist(), alone[1].tolist())


def test_batch_refuses_rows_that_are_not_chains():
    with pytest.raises(ValueError, match="end in <eos>"):
        ArithBatch.of_rows([[11, 3, 12, 9, 13]], 11)
    with pytest.raises(ValueError, match="hold an '='"):
        ArithBatch.of_rows([[11, 2]], 11)
    with pytest.raises(ValueError, match="offsets"):
        ArithBatch.of_tokens(np.array([11, 9, 11, 2]), np.array([0, 2]), 11)


def _kept_one_at_a_time(records, n, dedup, exclude, max_stale):
    """The filter as it was written before batches: one record at a time."""
    seen, out, stale = set(), [], 0
    for record in records:
        text = record["text"]
        if exclude and question_of(text) in exclude:
            fresh = False
        elif dedup:
            key = hashlib.blake2b(text.encode(), digest_size=16).digest()
            fresh, _ = key not in seen, seen.add(key)
        else:
            fresh = True
        if fresh:
            out.append(record)
            stale = 0
            if len(out) == n:
                return out, None
        else:
            stale += 1
            if stale > max_stale:
                return out, "gave up"
    raise AssertionError("the stream ended")


@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 30),
    max_stale=st.integers(0, 20),
    exclude=st.sets(st.sampled_from(["0 + 1", "1 * 1", "2 - 0", "1 / 2"]), max_size=3),
)
def test_chunk_filter_equals_the_one_record_rule(seed, n, max_stale, exclude):
    dist = parse_length_spec("uniform:1:2")
    root = np.random.SeedSequence(seed)
    raw = (
        rec
        for chunk in gen._chunks(gen._chunk_tasks(root, n, dist, False, "direct", 3), 1)
        for rec in batch_records(chunk)
    )
    want, problem = _kept_one_at_a_time(raw, n, True, exclude, max_stale)
    chunks = gen._chunks(
        gen._chunk_tasks(np.random.SeedSequence(seed), n, dist, False, "direct", 3), 1
    )
    got = []
    try:
        for batch in gen._kept(chunks, n, True, exclude, max_stale, "test"):
            got += batch_records(batch)
    except ValueError as err:
        assert problem and "gave up" in str(err)
    else:
        assert problem is None
    assert got == want


def test_stream_and_batch_agree_over_several_chunks():
    options = {"operators": "uniform:1:2", "modulus": 5, "fmt": "steps", "dedup": True}
    records = list(iter_arithmetic(np.random.default_rng(5), 2100, **options))
    batch = sample_arithmetic(np.random.default_rng(5), 2100, **options)
    assert batch.n == 2100 and batch_records(batch) == records
