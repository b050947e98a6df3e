"""PoPE (Gopalakrishnan et al. 2025, "Decoupling the 'What' and 'Where' With Polar Coordinate
Positional Embeddings"): RoPE with the content in the magnitudes and the position in the phases.

Shape legend: B batch, T query length, S key length, H heads, K head width, L layers.

Each of the K components c of a query (key) becomes a complex number of magnitude
``softplus(q_c)`` and phase ``p theta_c`` with ``theta_c = base^(-c/K)`` (K frequencies, one per
component, not K/2 pairs), and the key's phase carries a learned bias ``delta_hc`` clamped to
``[-2 pi, 0]`` (zero at init). The logit is the real part of their product::

    a_ij = sum_c softplus(q_ic) softplus(k_jc) cos((p_i - p_j) theta_c - delta_hc) / sqrt(K)

so it depends on ``p_i - p_j`` only. ``bipe_pope`` (ours) reads the segment index instead of the
token index (with BiPE's learned intra table added to the input embedding).

PoPE's score replaces ``q . k``; in bipe it enters through the ``content`` hook as the
difference ``a_ij - q_i . k_j / sqrt(K)`` (SDPA adds ``q . k / sqrt(K)`` back), so the attention
kernels and the five-hook interface stay as they are. ``delta`` has one (H, K) table per layer.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .encoding import AttentionContext, Count, Encoding, read_stream


def pope_frequencies(d_head: int, base: float = 10000.0) -> Tensor:
    """(K,) float32 ``theta_c = base^(-c/K)``: one frequency per component."""
    return base ** -(torch.arange(d_head, dtype=torch.float32) / d_head)


def polar_features(x: Tensor, angles: Tensor) -> Tensor:
    """``[softplus(x) cos(angles), softplus(x) sin(angles)]`` (..., 2K) of x (..., K): the real
    and imaginary parts, so that a dot product of two is the real part of ``q conj(k)``."""
    magnitude = F.softplus(x)
    return torch.cat((magnitude * angles.cos(), magnitude * angles.sin()), dim=-1)  # (..., 2K)


def pope_scores(q: Tensor, k: Tensor, q_pos: Tensor, k_pos: Tensor, inv: Tensor, delta: Tensor):
    """(B, H, T, S) ``sum_c softplus(q_c) softplus(k_c) cos((p_q - p_k) theta_c - delta_hc)``
    (unscaled) of q (B, H, T, K), k (B, H, S, K) at positions q_pos (B, T), k_pos (B, S), with
    frequencies inv (K,) and phase biases delta (H, K)."""
    angle_q = q_pos[:, None, :, None] * inv  # (B, 1, T, K)
    angle_k = k_pos[:, None, :, None] * inv + delta[None, :, None, :]  # (B, H, S, K)
    return polar_features(q, angle_q) @ polar_features(k, angle_k).transpose(-1, -2)


class Pope(Encoding):
    """PoPE on one stream (``index``; ``seg`` for ``bipe_pope``); relative in that stream, so
    every uniform shift leaves it unchanged."""

    uses_content = True
    inv_freq: Tensor  # buffer (K,)

    @staticmethod
    def n_params(n_layers: Count, n_heads: Count, d_head: Count) -> Count:
        """Parameters: one (H, K) phase-bias table per layer (ints or sympy symbols)."""
        return n_layers * n_heads * d_head

    def __init__(
        self, d_head: int, n_heads: int, n_layers: int, *, source: str = "index", base: float = 1e4
    ) -> None:
        super().__init__()
        self.source = source
        self.register_buffer("inv_freq", pope_frequencies(d_head, base), persistent=False)
        self.phase = nn.Parameter(torch.zeros(n_layers, n_heads, d_head))

    def delta(self, layer: int) -> Tensor:
        """(H, K) the phase bias of ``layer``, clamped to [-2 pi, 0] as in the reference."""
        return self.phase[layer].clamp(-2 * math.pi, 0.0)

    def content(self, ctx: AttentionContext) -> Tensor:
        """(B, H, T, S) PoPE's logit minus ``q . k / sqrt(K)``, -inf where not allowed."""
        work = torch.promote_types(ctx.q.dtype, torch.float32)
        q, k = ctx.q.to(work), ctx.k.to(work)
        p_q = read_stream(ctx.q_pos, self.source).to(work)  # (B, T)
        p_k = read_stream(ctx.k_pos, self.source).to(work)  # (B, S)
        scores = pope_scores(q, k, p_q, p_k, self.inv_freq.to(work), self.delta(ctx.layer).to(work))
        term = (scores - q @ k.transpose(-1, -2)) / math.sqrt(q.shape[-1])  # (B, H, T, S)
        return term.masked_fill(~ctx.allowed, float("-inf"))
