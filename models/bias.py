"""Attention-bias encodings: ALiBi, T5 relative buckets, FIRE.

Shape legend: B batch, T query length, S key length, H heads, N buckets, F FIRE hidden width.

Each returns a (B, H, T, S) bias added to the attention logits of queries at ``q_pos`` and keys
at ``k_pos``; in a causal model only keys at or before the query matter (the model masks the
rest), so distances are ``d = p_query - p_key >= 0``. Without the causal mask
(``bidirectional``, ``model.causal=false``) ALiBi penalises ``|d| - 0.5`` for earlier keys and
``|d|`` for later ones (the symmetric form with the reference's half-step tie-break, so left
and right differ), T5 gives later keys their own half of the buckets (T5's own bidirectional
buckets); FIRE refuses (its normalisation by the query position is defined for earlier keys).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .encoding import Count, Encoding, read_stream, streams_except
from .positions import Positions


def alibi_slopes(n_heads: int) -> Tensor:
    """(H,) float32 ALiBi slopes (Press et al.): for H a power of two ``2^(-8(h+1)/H)``;
    otherwise the slopes of the largest power of two n < H, then every other slope of 2n.

    >>> alibi_slopes(4).tolist()
    [0.25, 0.0625, 0.015625, 0.00390625]
    """

    def power_of_two(n: int) -> list[float]:
        return [2.0 ** (-8.0 * (h + 1) / n) for h in range(n)]

    n = 2 ** math.floor(math.log2(n_heads))
    slopes = power_of_two(n) + power_of_two(2 * n)[0::2][: n_heads - n]
    return torch.tensor(slopes, dtype=torch.float32)


def distances(q: Tensor, k: Tensor) -> Tensor:
    """(B, 1|H, T, S) ``q - k`` for streams (B, T) and (B, S), or per head (B, T, H), (B, S, H)."""
    if q.dim() == 3:
        return (q[:, :, None, :] - k[:, None, :, :]).permute(0, 3, 1, 2)  # (B, H, T, S)
    return (q[:, :, None] - k[:, None, :])[:, None]  # (B, 1, T, S)


class Alibi(Encoding):
    """ALiBi: bias ``-scale * m_h * (p_query - p_key)`` on one stream (BiPE-ALiBi: ``seg``, so
    zero inside a segment; hbipe: ``levels``, head group g on level g)."""

    slopes: Tensor  # buffers (H,)
    levels_of_heads: Tensor

    uses_bias = True

    def __init__(
        self,
        n_heads: int,
        *,
        source: str = "index",
        slope_scale: float = 1.0,
        levels_of_heads: Tensor | None = None,
    ) -> None:
        super().__init__()
        self.source = source
        self.register_buffer("levels_of_heads", levels_of_heads, persistent=False)  # on device
        self.slope_scale = slope_scale
        self.register_buffer("slopes", alibi_slopes(n_heads) * slope_scale, persistent=False)

    def bias(
        self,
        q_pos: Positions,
        k_pos: Positions,
        allowed: Tensor | None = None,
        dtype: torch.dtype | None = None,
    ) -> Tensor:
        """(B, H, T, S) linear distance penalty (masked before the heads are expanded)."""
        dtype = dtype or self.slopes.dtype
        work = torch.promote_types(self.slopes.dtype, torch.float32)
        d = distances(
            read_stream(q_pos, self.source, self.levels_of_heads).to(work),
            read_stream(k_pos, self.source, self.levels_of_heads).to(work),
        )
        if self.bidirectional:
            d = d.abs() - 0.5 * (d > 0)  # (B, 1|H, T, S) earlier keys half a step closer
        if allowed is not None:
            d = d.masked_fill(~allowed, float("inf"))  # (B, 1|H, T, S); -slope * inf = -inf
        return d.to(dtype) * (-self.slopes).to(dtype)[:, None, None]  # (B, H, T, S)


def t5_buckets(d: Tensor, n_buckets: int, max_distance: int) -> Tensor:
    """Causal T5 buckets of distances d >= 0 (negative -> 0): exact below N/2, then
    logarithmic up to ``max_distance``, the last bucket beyond."""
    d = d.clamp(min=0)
    exact = n_buckets // 2
    far = (
        exact
        + (
            torch.log(d.clamp(min=1).float() / exact)
            / math.log(max_distance / exact)
            * (n_buckets - exact)
        ).long()
    )
    return torch.where(d < exact, d, far.clamp(max=n_buckets - 1))


def t5_bidirectional_buckets(d: Tensor, n_buckets: int, max_distance: int) -> Tensor:
    """T5's bidirectional buckets of distances d = p_query - p_key: keys at or before the
    query use the causal buckets of the first half, later keys the same buckets of ``|d|``
    shifted into the second half."""
    half = n_buckets // 2
    return t5_buckets(d.abs(), half, max_distance) + half * (d < 0)


class T5Bias(Encoding):
    """T5 relative bias: a learned scalar per (bucket of p_query - p_key, head), shared by all
    layers (as in T5)."""

    uses_bias = True

    @staticmethod
    def n_params(n_heads: Count, n_buckets: Count) -> Count:
        """Parameters: one scalar per (bucket, head) (ints or sympy symbols)."""
        return n_buckets * n_heads

    def __init__(
        self, n_heads: int, *, source: str = "index", n_buckets: int = 32, max_distance: int = 128
    ) -> None:
        super().__init__()
        self.source, self.n_buckets, self.max_distance = source, n_buckets, max_distance
        self.table = nn.Embedding(n_buckets, n_heads)

    def bias(
        self,
        q_pos: Positions,
        k_pos: Positions,
        allowed: Tensor | None = None,
        dtype: torch.dtype | None = None,
    ) -> Tensor:
        """(B, H, T, S) looked-up bias."""
        d = distances(read_stream(q_pos, self.source), read_stream(k_pos, self.source))
        bucket = t5_bidirectional_buckets if self.bidirectional else t5_buckets
        buckets = bucket(d[:, 0], self.n_buckets, self.max_distance)  # (B, T, S)
        return _masked(self.table(buckets).permute(0, 3, 1, 2), allowed, dtype)  # (B, H, T, S)


class Fire(Encoding):
    """FIRE (Li et al. 2024): bias ``f(psi(d) / psi(max(L, p_query)))`` with
    ``psi(x) = log(c x + 1)``, ``f`` an MLP 1 -> F -> H (ReLU), learnable c > 0 and threshold
    L > 0, shared by all layers. Normalising by the query position makes FIRE *not* invariant
    to shifting positions (``invariant_streams`` excludes its source)."""

    uses_bias = True
    bidirectional_refusal = (
        "fire normalises distances by the query position, defined only for earlier keys"
    )

    @staticmethod
    def n_params(n_heads: Count, d_hidden: Count) -> Count:
        """Parameters: ``Linear(1, F)`` and ``Linear(F, H)`` with biases, ``c`` and ``L``."""
        return 2 * d_hidden + d_hidden * n_heads + n_heads + 2

    def __init__(
        self, n_heads: int, *, source: str = "index", d_hidden: int = 32, threshold: float = 512.0
    ) -> None:
        super().__init__()
        self.source = source
        self.mlp = nn.Sequential(nn.Linear(1, d_hidden), nn.ReLU(), nn.Linear(d_hidden, n_heads))
        self.log_c = nn.Parameter(torch.zeros(()))  # c = exp(log_c) = 1 at init
        self.log_threshold = nn.Parameter(torch.tensor(math.log(threshold)))
        self.invariant_streams = streams_except(source)

    def bias(
        self,
        q_pos: Positions,
        k_pos: Positions,
        allowed: Tensor | None = None,
        dtype: torch.dtype | None = None,
    ) -> Tensor:
        """(B, H, T, S) MLP of the normalised log distance."""
        q, k = read_stream(q_pos, self.source), read_stream(k_pos, self.source)
        c, threshold = self.log_c.exp(), self.log_threshold.exp()
        d = distances(q, k)[:, 0].clamp(min=0).to(c.dtype)  # (B, T, S)
        norm = torch.log1p(c * torch.maximum(q.to(c.dtype), threshold))  # (B, T)
        x = torch.log1p(c * d) / norm[:, :, None]  # (B, T, S)
        return _masked(self.mlp(x[..., None]).permute(0, 3, 1, 2), allowed, dtype)


def _masked(bias: Tensor, allowed: Tensor | None, dtype: torch.dtype | None) -> Tensor:
    """bias (B, H, T, S) in ``dtype`` with -inf where not ``allowed``."""
    bias = bias if dtype is None else bias.to(dtype)
    return bias if allowed is None else bias.masked_fill(~allowed, float("-inf"))
