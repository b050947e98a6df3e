"""The one drawing rule (``draw_batches``: chunks of ``DRAW_CHUNK`` sequences) and
``SequenceBatch.concat``: concatenated chunks hold exactly the records of the chunks, in order."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bipe.automata import random_binfa
from bipe.synthetic import sequence_sampling
from bipe.synthetic.sequences import (
    SequenceBatch,
    SequenceConfig,
    batch_records,
    build_sampler,
    draw_batches,
    draw_sequences,
)
from bipe.testing.strategies import scaled_examples

KINDS = {  # kind -> (levels of the automaton, config)
    "binfa": (2, SequenceConfig(kind="binfa", segments="uniform:1:4")),
    "nfa": (2, SequenceConfig(kind="nfa", length="uniform:2:12")),
    "binfa3": (
        3,
        SequenceConfig(kind="binfa3", segments="uniform:1:3", sub_segments="uniform:1:2"),
    ),
}


def _sampler(kind: str):
    levels, config = KINDS[kind]
    binfa = random_binfa(
        np.random.default_rng(levels),
        3,
        2,
        3,
        2,
        levels=levels,
        segment_lengths=range(1, 5),
        segment_counts=range(1, 5),
    )
    return build_sampler(config, binfa)


def _same_records(a: list[dict], b: list[dict]) -> bool:
    return len(a) == len(b) and all(
        x.keys() == y.keys() and all(np.array_equal(x[k], y[k]) for k in x)
        for x, y in zip(a, b, strict=True)
    )


@settings(max_examples=scaled_examples(20), deadline=None)
@given(
    kind=st.sampled_from(sorted(KINDS)),
    n=st.integers(0, 40),
    chunk=st.integers(1, 16),
    seed=st.integers(0, 2**16),
)
def test_concatenated_chunks_hold_the_chunks_records(kind, n, chunk, seed):
    sampler = _sampler(kind)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sequence_sampling, "DRAW_CHUNK", chunk)
        batches = list(draw_batches(sampler, np.random.default_rng(seed), n))
        joined = draw_sequences(sampler, np.random.default_rng(seed), n)
    assert [b.n for b in batches] == ([min(chunk, n - s) for s in range(0, n, chunk)] or [0])
    assert joined.n == n
    chunks = [r for b in batches for r in batch_records(b, kind)]
    assert _same_records(batch_records(joined, kind), chunks)
    segs, intra = joined.positions()
    assert np.array_equal(intra, np.concatenate([b.positions()[1] for b in batches]))
    assert np.array_equal(segs, np.concatenate([b.positions()[0] for b in batches], axis=1))


def test_a_single_chunk_is_one_sampler_call():
    sampler = _sampler("binfa")
    once = sampler.sample(np.random.default_rng(4), 30)
    (drawn,) = draw_batches(sampler, np.random.default_rng(4), 30)
    assert _same_records(batch_records(drawn, "binfa"), batch_records(once, "binfa"))
    assert SequenceBatch.concat([once]) is once


@pytest.mark.parametrize("n", [-1, 2.0, True])
def test_a_bad_count_is_refused(n):
    with pytest.raises(ValueError, match="non-negative int"):
        next(draw_batches(_sampler("binfa"), np.random.default_rng(0), n))


def test_nothing_to_concatenate_is_refused():
    with pytest.raises(ValueError, match="no batches"):
        SequenceBatch.concat([])
