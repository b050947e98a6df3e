"""Pure functions behind the newer RoPE variants and options (``docs/method.md#newer-encodings``).

Shape legend: B batch, T length, K head width (K/2 rotary pairs), N PoSE chunks.

- :func:`variant_frequencies`: ``resonance`` (Wang et al. 2024, Resonance RoPE) rounds every
  wavelength ``2 pi / theta_i`` to the nearest integer; ``p_rope`` (Barbero et al. 2025, "Round
  and round we go! What makes rotary positional encodings useful?") sets the frequency of the
  lowest-frequency ``share`` of the pairs to zero (they never rotate: the paper's p-RoPE with
  p = 1 - share).
- :func:`pose_offsets`: PoSE (Zhu et al. 2024, "Positional skip-wise training"): a training
  sequence is cut into N chunks at random points and chunk c's positions are moved up by a skip
  ``u_c`` (``0 = u_0 <= u_1 <= ... <= u_{N-1} <= target_len - T``), so training positions span
  ``[0, target_len)`` while the sequence stays T long.
- :func:`log_scale_factor`: the official BiPE code's undocumented query scaling
  ``log(p + 1) / log(train_len)`` (``official``; zero at p = 0) or its usual form clamped at 1
  (``clamped``: ``max(1, ...)``, so only positions past the training length are sharpened).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .config import LOG_SCALES, ROPE_VARIANTS


def variant_frequencies(inv_freq: Tensor, variant: str, share: float = 0.25) -> Tensor:
    """(K/2,) inverse frequencies after a variant (pairs ordered fastest first)."""
    if variant == "none":
        return inv_freq
    if variant == "resonance":
        wavelength = (2 * math.pi / inv_freq).round()  # (K/2,) integer wavelengths
        return 2 * math.pi / wavelength
    if variant == "p_rope":
        n_zero = round(share * inv_freq.shape[0])
        keep = torch.arange(inv_freq.shape[0]) < inv_freq.shape[0] - n_zero  # (K/2,)
        return torch.where(keep, inv_freq, torch.zeros_like(inv_freq))
    raise ValueError(f"unknown rope_variant {variant!r}; known: {', '.join(ROPE_VARIANTS)}")


def pose_offsets(
    generator: torch.Generator | None,
    batch: int,
    length: int,
    target_len: int,
    n_chunks: int,
    device: torch.device | str = "cpu",
) -> Tensor:
    """(B, T) long skips to add to positions 0..T-1: chunk c of each row (cut at ``N - 1``
    distinct random points) moves up by the c-th smallest of N - 1 uniform draws from
    ``[0, target_len - T]`` (chunk 0 stays put)."""
    if length > target_len:
        raise ValueError(f"sequence length {length} exceeds pose_target_len {target_len}")
    n_cuts = min(n_chunks, length) - 1
    if n_cuts <= 0:
        return torch.zeros(batch, length, dtype=torch.long, device=device)
    keys = torch.rand(batch, length - 1, generator=generator, device=device)  # (B, T - 1)
    cuts = keys.topk(n_cuts, dim=-1).indices + 1  # (B, N - 1) chunk starts in 1..T-1
    skips = (
        torch.randint(
            0, target_len - length + 1, (batch, n_cuts), generator=generator, device=device
        )
        .sort(dim=-1)
        .values
    )  # (B, N - 1)
    t = torch.arange(length, device=device)
    chunk = (t[None, :, None] >= cuts[:, None, :]).sum(-1)  # (B, T) chunk of each token
    skips = torch.cat([torch.zeros_like(skips[:, :1]), skips], dim=1)  # (B, N)
    return skips.gather(1, chunk)  # (B, T)


def log_scale_factor(pos: Tensor, train_len: int, kind: str) -> Tensor:
    """float64 factor shaped like ``pos``: ``log(pos + 1) / log(train_len)`` (``official``),
    clamped below at 1 (``clamped``), or ones (``none``)."""
    if kind == "none":
        return torch.ones_like(pos, dtype=torch.float64)
    factor = torch.log(pos.double() + 1) / math.log(train_len)
    if kind == "clamped":
        return factor.clamp(min=1.0)
    if kind == "official":
        return factor
    raise ValueError(f"unknown log_scale {kind!r}; known: {', '.join(LOG_SCALES)}")
