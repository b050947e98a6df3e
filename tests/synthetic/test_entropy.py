"""Entropy segmentation: n-gram entropies against a slow reference from raw counts, the
segmenter contract (check_segmenter, batch == streaming), calibration, files, determinism."""

import math
from collections import Counter
from functools import partial

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bipe.synthetic.entropy import (
    _row_scores,
    calibrate_threshold,
    entropy_boundaries,
    entropy_initial_state,
    entropy_positions,
    entropy_scores,
    entropy_step,
    fit_entropy_segmenter,
    load_entropy_segmenter,
    save_entropy_segmenter,
)
from bipe.synthetic.ngram import fit_ngram_entropy
from bipe.synthetic.segment import positions_from_boundaries, stream_positions
from bipe.testing import check_segmenter
from bipe.testing.strategies import scaled_examples

# ------------------------------------------------------------------ the slow reference


def reference_entropies(corpus, order, vocab, k, row):
    """Per-position loop: H after each prefix of ``row`` (index t+1 after token t, index 0
    before token 0) from raw n-gram counts, the dense interpolated add-k distribution."""
    bos, oov = vocab + 1, vocab
    counts = Counter()  # (context tuple, next) -> count, every order
    for seq in corpus:
        padded = [bos] * (order - 1) + [int(x) for x in seq]
        for t in range(order - 1, len(padded)):
            for j in range(1, order + 1):
                counts[(tuple(padded[t - j + 1 : t]), padded[t])] += 1

    def prob(j, h, w):
        if j == 0:
            return 1.0 / vocab
        c_h = sum(c for (hh, _), c in counts.items() if hh == h)
        return (counts[(h, w)] + k * vocab * prob(j - 1, h[1:], w)) / (c_h + k * vocab)

    padded = [bos] * (order - 1) + [x if 0 <= x < vocab else oov for x in map(int, row)]
    out = []
    for t in range(len(row) + 1):
        h = tuple(padded[t : t + order - 1])
        dist = [prob(order, h, w) for w in range(vocab)]
        assert math.isclose(sum(dist), 1.0)
        out.append(-sum(p * math.log(p) for p in dist))
    return out


@st.composite
def corpora(draw):
    vocab = draw(st.integers(1, 4))
    order = draw(st.integers(2, 4))
    k = draw(st.sampled_from([0.01, 0.1, 1.0]))
    symbol = st.integers(0, vocab - 1)
    first = draw(st.lists(symbol, min_size=1, max_size=10))  # the corpus is never empty
    rest = draw(st.lists(st.lists(symbol, max_size=10), max_size=3))
    corpus = [np.array(r) for r in [first, *rest]]
    query = draw(st.lists(st.integers(-1, vocab + 1), max_size=8).map(np.array))
    return corpus, order, vocab, k, query


@settings(max_examples=scaled_examples(40), deadline=None)
@given(corpora())
def test_entropies_equal_the_dense_reference(case):
    corpus, order, vocab, k, query = case
    model = fit_ngram_entropy(corpus, order=order, vocab_size=vocab, smoothing=k)
    ref = np.array(reference_entropies(corpus, order, vocab, k, query))
    np.testing.assert_allclose(entropy_scores(model, query, "threshold"), ref[1:], atol=1e-9)
    np.testing.assert_allclose(entropy_scores(model, query, "rise"), np.diff(ref), atol=1e-9)


@settings(max_examples=scaled_examples(30), deadline=None)
@given(corpora(), st.sampled_from(["threshold", "rise"]), st.floats(1.0, 6.0))
def test_boundaries_equal_the_reference_rule(case, rule, target):
    corpus, order, vocab, k, query = case
    seg = fit_entropy_segmenter(
        corpus, target_length=target, order=order, rule=rule, smoothing=k, vocab_size=vocab
    )
    ref = np.array(reference_entropies(corpus, order, vocab, k, query))
    scores = ref[1:] if rule == "threshold" else np.diff(ref)
    clear = np.abs(scores - seg.threshold) > 1e-7  # away from float ties
    marks = entropy_boundaries(query, seg)
    assert np.array_equal(marks[clear], (scores > seg.threshold)[clear])


# ------------------------------------------------------------------ the segmenter contract


def _random_corpus(seed, vocab=5, rows=60):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, vocab, size=rng.integers(1, 30)) for _ in range(rows)]


@pytest.mark.parametrize("rule", ["threshold", "rise"])
def test_check_segmenter(rule):
    seg = fit_entropy_segmenter(_random_corpus(0), target_length=3.0, order=3, rule=rule)
    check_segmenter(
        partial(entropy_positions, segmenter=seg),
        separators=None,
        step=partial(entropy_step, segmenter=seg),
        init=entropy_initial_state(seg),
        n_symbols=7,
        max_examples=scaled_examples(40),
    )


def _separator_corpus(seed, sep=4, letters=(0, 1, 2, 3, 5, 6, 7)):
    """Segments ``L L.. S``: after S anything starts, after a letter only it or S follows."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(60):
        row = []
        for _ in range(rng.integers(1, 6)):
            row += [int(rng.choice(letters))] * int(rng.integers(1, 4)) + [sep]
        rows.append(np.array(row))
    return rows


def test_entropy_finds_the_separators_it_was_trained_on():
    """On data whose uncertainty sits after each separator, calibrated to the natural mean,
    entropy segmentation IS separator segmentation (the full separator contract holds)."""
    rows = _separator_corpus(1)
    natural = sum(map(len, rows)) / sum(int((r[:-1] == 4).sum()) + 1 for r in rows)
    seg = fit_entropy_segmenter(rows, target_length=natural, order=2)
    assert seg.achieved_length == pytest.approx(natural)
    a, b, c, sep = 0, 1, 2, 4  # the module docstring's worked example
    seg_ids, intra = entropy_positions(np.array([a, a, sep, c, sep, b, b, sep]), seg)
    assert seg_ids.tolist() == [0, 0, 0, 1, 1, 2, 2, 2]
    assert intra.tolist() == [0, 1, 2, 0, 1, 0, 1, 2]
    check_segmenter(
        partial(entropy_positions, segmenter=seg),
        separators=[4],
        step=partial(entropy_step, segmenter=seg),
        init=entropy_initial_state(seg),
        max_examples=scaled_examples(40),
    )


@settings(max_examples=scaled_examples(25), deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.integers(1, 4),
    st.integers(0, 20),
    st.sampled_from(["threshold", "rise"]),
)
def test_lockstep_streaming_equals_batch(seed, n, t, rule):
    seg = fit_entropy_segmenter(_random_corpus(3), target_length=2.5, order=3, rule=rule)
    tokens = np.random.default_rng(seed).integers(-1, 7, size=(n, t))  # OOV ids included
    streamed = stream_positions(
        partial(entropy_step, segmenter=seg), tokens, entropy_initial_state(seg, n=n)
    )
    batch = entropy_positions(tokens, seg)
    assert all(np.array_equal(a, b) for a, b in zip(streamed, batch, strict=True))


def test_a_longer_target_only_removes_boundaries():
    corpus = _random_corpus(4)
    tokens = np.random.default_rng(5).integers(0, 5, size=(8, 40))
    short, long = (fit_entropy_segmenter(corpus, target_length=t, order=3) for t in (2.0, 6.0))
    assert long.threshold >= short.threshold
    assert not np.any(entropy_boundaries(tokens, long) & ~entropy_boundaries(tokens, short))


# ------------------------------------------------------------------ calibration


def test_calibration_on_hand_values():
    scores = [np.array([0.0, 2.0, 1.0, 9.0]), np.array([2.0, 0.0, 5.0])]  # last of each unused
    # 7 tokens; inner scores 0, 2, 1 | 2, 0; tau just below 2 -> 2 marks -> 4 segments
    tau, mean = calibrate_threshold(scores, 7 / 4)
    assert 1.0 < tau < 2.0 and mean == pytest.approx(7 / 4)
    tau, mean = calibrate_threshold(scores, 100.0)  # no boundaries at all
    assert tau > 2.0 and mean == pytest.approx(7 / 2)
    tau, mean = calibrate_threshold(scores, 1.0)  # every inner token
    assert tau < 0.0 and mean == pytest.approx(1.0)
    with pytest.raises(ValueError, match="empty corpus"):
        calibrate_threshold([np.zeros(0)], 3.0)
    with pytest.raises(ValueError, match=">= 1"):
        calibrate_threshold(scores, 0.5)


def _markov_corpus(seed, vocab=12, rows=300):
    """An order-2 Markov source whose contexts differ in how predictable they are."""
    rng = np.random.default_rng(seed)
    peaks = rng.gamma(rng.uniform(0.05, 3.0, size=(vocab, vocab, 1)), size=(vocab, vocab, vocab))
    table = peaks / peaks.sum(-1, keepdims=True)  # (A, A, A) p(next | prev2, prev)
    out = []
    for _ in range(rows):
        row = list(rng.integers(0, vocab, size=2))
        for _ in range(int(rng.integers(20, 60))):
            row.append(int(rng.choice(vocab, p=table[row[-2], row[-1]])))
        out.append(np.array(row))
    return out


@pytest.mark.parametrize("rule", ["threshold", "rise"])
def test_calibration_hits_the_target_mean(rule):
    corpus = _markov_corpus(0)
    for target in (2.0, 4.0, 8.0):
        seg = fit_entropy_segmenter(corpus, target_length=target, order=3, rule=rule)
        marks = [entropy_boundaries(row, seg) for row in corpus]
        n_segments = sum(int(m[:-1].sum()) + 1 for m in marks)
        measured = sum(map(len, corpus)) / n_segments
        assert measured == pytest.approx(seg.achieved_length)
        assert measured == pytest.approx(target, rel=0.05)


# ------------------------------------------------------------------ files and determinism


def test_same_data_same_segmenter_and_file_round_trip(tmp_path):
    corpus = _random_corpus(6)
    a, b = (
        fit_entropy_segmenter(corpus, target_length=3.0, order=4, rule="rise") for _ in range(2)
    )
    for x, y in zip(a.model.keys + a.model.entropy, b.model.keys + b.model.entropy, strict=True):
        assert np.array_equal(x, y)
    assert a.threshold == b.threshold
    path = save_entropy_segmenter(tmp_path / "s.npz", a)
    loaded = load_entropy_segmenter(path)
    tokens = np.random.default_rng(0).integers(0, 6, size=(4, 30))
    assert all(
        np.array_equal(x, y)
        for x, y in zip(
            entropy_positions(tokens, a), entropy_positions(tokens, loaded), strict=True
        )
    )
    assert (loaded.rule, loaded.target_length, loaded.achieved_length) == (
        a.rule,
        a.target_length,
        a.achieved_length,
    )
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="bad.npz"):
        load_entropy_segmenter(tmp_path / "bad.npz")
    with pytest.raises(ValueError, match="missing"):
        load_entropy_segmenter(tmp_path / "none.npz")


def test_bad_arguments_are_one_line_errors():
    with pytest.raises(ValueError, match="empty corpus"):
        fit_ngram_entropy([np.zeros(0, dtype=int)], order=2)
    with pytest.raises(ValueError, match="order"):
        fit_ngram_entropy([np.arange(3)], order=1)
    with pytest.raises(ValueError, match="overflow"):
        fit_ngram_entropy([np.arange(3)], order=30, vocab_size=1000)
    with pytest.raises(ValueError, match="0..2"):
        fit_ngram_entropy([np.arange(5)], order=2, vocab_size=3)
    with pytest.raises(ValueError, match="rule"):
        fit_entropy_segmenter([np.arange(5)], target_length=2, rule="peak")


def test_positions_follow_the_one_conversion():
    seg = fit_entropy_segmenter(_random_corpus(7), target_length=3.0, order=2)
    tokens = np.random.default_rng(1).integers(0, 5, size=(3, 12))
    lengths = np.array([12, 5, 0])
    got = entropy_positions(tokens, seg, lengths, pad_value=-1)
    want = positions_from_boundaries(
        entropy_boundaries(tokens, seg, lengths), lengths, pad_value=-1
    )
    assert all(np.array_equal(a, b) for a, b in zip(got, want, strict=True))


@pytest.mark.parametrize("budget", [1, 7, 1 << 20])
def test_chunked_calibration_scores_equal_per_row_scores(budget):
    corpus = _random_corpus(8) + [np.zeros(0, dtype=np.int64)]
    seg = fit_entropy_segmenter(corpus, target_length=3.0, order=3, rule="rise")
    chunked = _row_scores(seg.model, corpus, "rise", budget=budget)
    per_row = [entropy_scores(seg.model, row, "rise") for row in sorted(corpus, key=len)]
    assert all(np.array_equal(a, b) for a, b in zip(chunked, per_row, strict=True))
