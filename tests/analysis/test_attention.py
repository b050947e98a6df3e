"""Attention diagnostics on hand-made maps, against a loop reference, and on tiny models."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bipe.analysis.attention import (
    attention_profile,
    model_attention_profile,
    write_attention_report,
)
from bipe.models import ModelConfig, Transformer
from bipe.synthetic.segment import separator_positions
from bipe.testing.strategies import scaled_examples


def test_worked_example_first_token_head():
    seg, intra = np.array([[0, 0, 1]]), np.array([[0, 1, 0]])
    a = np.zeros((1, 1, 3, 3))
    a[0, 0, :, 0] = 1.0  # every query attends to token 0
    p = attention_profile([a], seg, intra, max_seg_distance=2, max_intra_distance=2)
    assert p.same_segment[0, 0] == pytest.approx(2 / 3)
    assert p.seg_profile[0, 0].tolist() == pytest.approx([2 / 3, 1 / 3, 0.0])
    assert p.intra_profile[0, 0].tolist() == pytest.approx([1 / 3, 1 / 3, 0.0])
    # uniform causal: query0 1/1, query1 2/2, query2 1/3 same-segment
    assert p.uniform_same_segment == pytest.approx((1 + 1 + 1 / 3) / 3)


def reference(a, seg, intra, max_d):
    """Slow loops over queries and keys for one (B, H, T, T) map."""
    B, H, T, _ = a.shape
    same = np.zeros(H)
    prof = np.zeros((H, max_d + 1))
    iprof = np.zeros((H, max_d + 1))
    for b in range(B):
        for h in range(H):
            for i in range(T):
                for j in range(i + 1):
                    ds = min(seg[b, i] - seg[b, j], max_d)
                    prof[h, ds] += a[b, h, i, j]
                    if seg[b, i] == seg[b, j]:
                        same[h] += a[b, h, i, j]
                        iprof[h, min(intra[b, i] - intra[b, j], max_d)] += a[b, h, i, j]
    return same / (B * T), prof / (B * T), iprof / (B * T)


@settings(deadline=None, max_examples=scaled_examples(30))
@given(st.integers(1, 3), st.integers(1, 3), st.integers(1, 9), st.integers(0, 2**31))
def test_vectorised_profile_equals_loop_reference(B, H, T, seed):
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, 3, size=(B, T))
    seg, intra = separator_positions(tokens, [0])
    logits = rng.normal(size=(B, H, T, T)) + np.where(np.tril(np.ones((T, T))), 0, -np.inf)
    a = np.exp(logits - logits.max(-1, keepdims=True))
    a /= a.sum(-1, keepdims=True)
    p = attention_profile([a, a], seg, intra, max_seg_distance=3, max_intra_distance=3)
    same, prof, iprof = reference(a, seg, intra, 3)
    np.testing.assert_allclose(p.same_segment[1], same, atol=1e-12)
    np.testing.assert_allclose(p.seg_profile[0], prof, atol=1e-12)
    np.testing.assert_allclose(p.intra_profile[0], iprof, atol=1e-12)
    np.testing.assert_allclose(p.seg_profile[0].sum(-1), 1.0, atol=1e-9)  # rows sum to 1


def tiny(pe, **kw):
    torch.manual_seed(0)
    return Transformer(
        ModelConfig(
            8, 16, 2, 2, pe=pe, separators=(7,), max_intra=16, compute_dtype="float32", **kw
        )
    )


def test_bipe_alibi_with_huge_slopes_stays_inside_segments(tmp_path):
    tokens = np.array([[1, 2, 7, 3, 4, 5, 7, 2, 7, 1, 1, 3]])
    strong = model_attention_profile(tiny("bipe_alibi", alibi_slope_scale=1e4), tokens)
    assert np.all(strong.same_segment > 0.999)
    assert strong.seg_profile[..., 1:].max() < 1e-3
    flat = model_attention_profile(tiny("rope"), tokens)
    assert 0.0 < flat.same_segment.mean() < 0.999
    np.testing.assert_allclose(flat.seg_profile.sum(-1), 1.0, atol=1e-6)
    md = write_attention_report({"bipe_alibi": strong, "rope": flat}, tmp_path).read_text()
    assert "| bipe_alibi | 1 | 1 |" in md
    assert (tmp_path / "attention_rope_segment_distance.png").stat().st_size > 1000


def test_right_padding_with_valid_mask_changes_nothing():
    from bipe.analysis.attention import pad_batch

    model = tiny("bipe_rope")
    seq = [1, 2, 7, 3, 7, 4, 5]
    tokens, valid = pad_batch([seq, seq[:3]])
    assert tokens.shape == (2, 7) and valid.sum() == 10
    alone = model_attention_profile(model, np.array([seq]))
    padded = model_attention_profile(
        model, np.array([seq + [0, 0, 0]]), valid=np.array([[True] * 7 + [False] * 3])
    )
    np.testing.assert_allclose(padded.same_segment, alone.same_segment, atol=1e-6)
    np.testing.assert_allclose(padded.seg_profile, alone.seg_profile, atol=1e-6)
    with pytest.raises(ValueError, match="token ids"):
        model_attention_profile(model, np.array([[1, 99]]))
