"""xPos equals x-transformers' (the peer implementation, a test-only dependency) at 40,000+
positions: the decay exponent is centred, not clamped, so every pair keeps decaying."""

import pytest
import torch

from bipe.models.encoding import apply_rotation
from bipe.models.positions import Positions
from bipe.models.rope import XPos

xt = pytest.importorskip("x_transformers.x_transformers")

K = 16


def _interleaved(x: torch.Tensor) -> torch.Tensor:
    """Rotate-half layout (pair i = dims i, i + K/2) -> interleaved (pair i = dims 2i, 2i+1)."""
    return torch.stack(x.chunk(2, dim=-1), dim=-1).flatten(-2)


def _pair_scores(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Per-pair score contributions of interleaved q (Q, K) and k (S, K): (Q, S, K/2)."""
    prod = q[:, None, :] * k[None, :, :]  # (Q, S, K)
    return prod.view(*prod.shape[:2], K // 2, 2).sum(-1)


@pytest.mark.parametrize("length", [40_960, 50_000])
def test_xpos_scores_equal_x_transformers_at_long_lengths(length):
    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(2, length, K, generator=g).unbind(0)  # (T, K) each
    index = torch.arange(length)[None]  # (1, T)
    rot = XPos(K, scale_base=512.0).rotation(Positions(index, index, index))
    ours_q = apply_rotation(q[None, :, None], rot.cos_q, rot.sin_q)[0, :, 0]  # (T, K)
    ours_k = apply_rotation(k[None, :, None], rot.cos_k, rot.sin_k)[0, :, 0]
    peer = xt.RotaryEmbedding(K, use_xpos=True, scale_base=512)
    freqs, scale = peer(torch.arange(length))
    theirs_q = xt.apply_rotary_pos_emb(_interleaved(q)[None], freqs, scale)[0]  # (T, K)
    theirs_k = xt.apply_rotary_pos_emb(_interleaved(k)[None], freqs, scale**-1.0)[0]
    last = slice(length - 3, length)  # the last queries, against every key
    ours = _pair_scores(_interleaved(ours_q[last]), _interleaved(ours_k))
    theirs = _pair_scores(theirs_q[last], theirs_k)
    assert torch.isfinite(ours).all() and torch.isfinite(theirs).all()
    near = slice(length - 2048, length)  # keys within 2048 of the queries: a visible decay
    top = theirs[:, near].abs().amax()
    assert torch.allclose(ours[:, near], theirs[:, near], rtol=1e-3, atol=1e-5 * top)
    assert torch.allclose(ours, theirs, rtol=1e-2, atol=1e-5 * top)


def test_cached_decoding_past_the_centring_limit_is_refused():
    """Cached keys keep the centre of the call that wrote them, so a centred row is refused."""
    from bipe.models import ModelConfig, Transformer
    from bipe.models.rope import XPOS_CENTRE_FROM
    from bipe.models.transformer import KVCache

    torch.manual_seed(0)
    model = Transformer(ModelConfig(12, 32, 1, 2, pe="xpos", compute_dtype="float32")).eval()
    tokens = torch.randint(0, 12, (1, 4))
    cache = KVCache.empty(model.config, 1, 8, 0, torch.device("cpu"), torch.float32)
    index = torch.arange(4)[None] + XPOS_CENTRE_FROM - 2
    with pytest.raises(ValueError, match="cached decoding is exact only below position"):
        model.run(tokens, Positions(index, index, index), cache=cache)
    below = index - 2
    assert torch.isfinite(model.run(tokens, Positions(below, below, below), cache=cache)).all()
