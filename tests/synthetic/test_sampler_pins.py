"""The production Bi-NFA / NFA sampler's output, pinned: hashes of the arrays that
``sample_binfa_sequences`` / ``sample_nfa_sequences`` return for fixed automata and seeds,
computed from the code before the two Bi-NFA samplers were merged (any change to the random
stream, the layout or the labels changes them)."""

import hashlib

import numpy as np
import pytest

from bipe.automata import random_binfa
from bipe.synthetic import sequences
from bipe.synthetic.distributions import parse_length_spec as spec

PINS = {
    "binfa": "fa0619dcf77b89b9bfbe7aa5f7446b11e1550236237da4d0c6f56e6fa4147077",
    "binfa_nolabels": "4f8a3f98c77c735cc9b032768e4a745760995990f8fbfc0bcb10439f82b9d385",
    "binfa_zipf": "b7a90f758340d99cee3232134d08543436c331aa7c7087ada8b04ebbf3a8bca6",
    "binfa3": "e25f65cb8d8ac395c10a76d86940d0d32e4d36f1d61ad48dc66c7f1d5461e7c2",
    "nfa": "59653b6b13d80af2dd2b65d2623110b7dfcb840cfce7bdccac68d3489b9d43dc",
}


def batch_hash(batch) -> str:
    """sha256 over every array of a SequenceBatch, in a fixed order."""
    digest = hashlib.sha256()
    for name in ("tokens", "offsets", "marks", "inner_state", "outer_state"):
        values = getattr(batch, name)
        if values is not None:
            digest.update(name.encode())
            digest.update(np.ascontiguousarray(values).tobytes())
    for values in (*batch.types, *batch.type_offsets):
        digest.update(np.ascontiguousarray(values).tobytes())
    return digest.hexdigest()


def _two_level():
    return random_binfa(
        np.random.default_rng(1),
        3,
        3,
        4,
        3,
        segment_lengths=range(1, 7),
        segment_counts=range(1, 9),
    )


def _batch(name: str):
    two = _two_level()
    if name == "binfa":
        return sequences.sample_binfa_sequences(
            np.random.default_rng(4), two, 300, [spec("uniform:1:8"), spec("uniform:1:6")]
        )
    if name == "binfa_nolabels":
        return sequences.sample_binfa_sequences(
            np.random.default_rng(4),
            two,
            300,
            [spec("uniform:1:8"), spec("uniform:1:6")],
            state_labels=False,
        )
    if name == "binfa_zipf":
        return sequences.sample_binfa_sequences(
            np.random.default_rng(9), two, 200, [spec("uniform:2:5"), spec("zipf:1.5:6")]
        )
    if name == "binfa3":
        three = random_binfa(
            np.random.default_rng(2),
            3,
            2,
            3,
            3,
            segment_lengths=range(1, 5),
            segment_counts=range(1, 5),
            levels=3,
        )
        return sequences.sample_binfa_sequences(
            np.random.default_rng(5),
            three,
            100,
            [spec("uniform:1:4"), spec("uniform:1:3"), spec("uniform:1:4")],
        )
    return sequences.sample_nfa_sequences(
        np.random.default_rng(6), two.flatten(), 200, spec("uniform:5:30"), two.separators
    )


@pytest.mark.parametrize("name", sorted(PINS))
def test_sampler_output_is_pinned(name):
    assert batch_hash(_batch(name)) == PINS[name]
