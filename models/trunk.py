"""The trunk's shared pieces, written once for :class:`~bipe.models.transformer.Transformer` and
:class:`~bipe.models.ensemble.EnsembleTransformer`.

Shape legend: B batch (M * B rows in an ensemble), T query length, S key length, D model width,
H heads, K head width, M ensemble members.

- :func:`rms_norm` / :class:`RMSNorm`: RMSNorm computed in float32.
- :func:`split_qkv`: a fused qkv projection's output into rotated q, k and v.
- :func:`compute_dtype` / :func:`in_compute_dtype`: the compute-dtype rule and the autocast
  wrapper around a forward.
- The positional hooks, in the order a forward calls them: :func:`prepared_positions`
  (default or checked explicit positions, then the encoding's ``prepare``),
  :func:`allowed_keys` (the one place the attention mask is built: which key each query may
  see) and :func:`positional_terms` (the encoding's ``embed``, ``rotation`` and ``bias`` on
  those positions and that mask).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import ModelConfig
from .encoding import Encoding, Rotation, apply_rotation
from .positions import Positions, default_positions
from .precision import NOMINAL_TOKENS, resolve_compute_dtype

__all__ = [
    "PositionalTerms",
    "RMSNorm",
    "allowed_keys",
    "check_positions",
    "compute_dtype",
    "in_compute_dtype",
    "positional_terms",
    "prepared_positions",
    "rms_norm",
    "split_qkv",
]

Out = TypeVar("Out", Tensor, list[Tensor])


class RMSNorm(nn.Module):
    """RMSNorm over the last dim, computed in float32 (as transformers' LlamaRMSNorm)."""

    def __init__(self, d_model: int, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d_model))
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        """(..., D) -> (..., D)."""
        return rms_norm(x, self.weight, self.eps)


def rms_norm(x: Tensor, weight: Tensor, eps: float) -> Tensor:
    """``weight * (x / rms(x))`` with the normalisation in float32. (..., D) -> (..., D).

    ``weight`` is (D,), or per-member gains broadcast against x (an ensemble's (M, 1, D) for
    x (M, N, D)); a (D,) float32 weight goes into the fused kernel."""
    if x.dtype == torch.float32 and weight.dtype == torch.float32:
        if weight.dim() == 1:
            return F.rms_norm(x, (x.shape[-1],), weight, eps=eps)
        return F.rms_norm(x, (x.shape[-1],), eps=eps) * weight
    return weight * F.rms_norm(x.float(), (x.shape[-1],), eps=eps).to(x.dtype)


def split_qkv(qkv: Tensor, rot: Rotation | None) -> tuple[Tensor, Tensor, Tensor]:
    """qkv (B, T, 3, H, K) -> q, k, v, each (B, H, T, K), q and k rotated by ``rot``
    (factors (B, T, 1|H, K/2); one call for both when q and k share them)."""
    if rot is not None and rot.cos_q is rot.cos_k and rot.sin_q is rot.sin_k:
        qk = apply_rotation(qkv[:, :, :2], rot.cos_q[:, :, None], rot.sin_q[:, :, None])
        q, k, v = qk[:, :, 0], qk[:, :, 1], qkv[:, :, 2]  # 3 x (B, T, H, K)
    else:
        q, k, v = qkv.unbind(2)  # 3 x (B, T, H, K)
        if rot is not None:
            q = apply_rotation(q, rot.cos_q, rot.sin_q)
            k = apply_rotation(k, rot.cos_k, rot.sin_k)
    return q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # 3 x (B, H, T, K)


def compute_dtype(config: ModelConfig, weight: Tensor) -> torch.dtype:
    """dtype of activations, keys and values: ``weight``'s (the parameters') or bfloat16
    (autocast), ``auto`` resolved for ``weight``'s device (``models/precision.py``) at a
    nominal step (a training run resolves ``auto`` with its real step)."""
    work = NOMINAL_TOKENS * config.d_model
    if resolve_compute_dtype(config.compute_dtype, weight.device, work=work) == "bfloat16":
        return torch.bfloat16
    return weight.dtype


def in_compute_dtype(dtype: torch.dtype, device: torch.device, forward: Callable[[], Out]) -> Out:
    """``forward()`` as is, or for bfloat16 under ``torch.autocast`` with float32 logits."""
    if dtype != torch.bfloat16:
        return forward()
    with torch.autocast(device.type, dtype=torch.bfloat16):
        out = forward()
    return out.float() if isinstance(out, Tensor) else [x.float() for x in out]


def check_positions(
    pos: Positions, shape: tuple[int, int], level_separators: Sequence, pe: str
) -> None:
    """Explicit positions must match the tokens' shape (B, T) and the number of levels."""
    streams = {"index": pos.index, "seg": pos.seg, "intra": pos.intra}
    streams.update({f"outer[{i}]": o for i, o in enumerate(pos.outer)})
    for name, stream in streams.items():
        if tuple(stream.shape) != shape:
            raise ValueError(
                f"positions.{name} has shape {tuple(stream.shape)}, tokens have {shape}"
            )
    n_outer = len(level_separators) - 1
    if len(pos.outer) < n_outer:
        raise ValueError(
            f"pe={pe!r} needs positions.outer with {n_outer} "
            f"level(s) above seg, got {len(pos.outer)}"
        )


def prepared_positions(
    encoding: Encoding,
    config: ModelConfig,
    tokens: Tensor,
    positions: Positions | None,
    generator: torch.Generator | None,
) -> Positions:
    """The positions of tokens (B, T) the hooks see: ``positions`` (checked) or the default
    ones from the separators, through the encoding's ``prepare``."""
    levels = config.level_separators()
    if positions is None:
        positions = default_positions(tokens, levels)
    else:
        B, T = tokens.shape
        check_positions(positions, (B, T), levels, config.pe)
    return encoding.prepare(positions, generator)


def allowed_keys(
    T: int, start: int, key_valid: Tensor | None, device: torch.device, causal: bool = True
) -> Tensor:
    """(B|1, 1, T, S) bool: query slot ``start + i`` may see key slot j <= start + i (any j
    when not ``causal``: ``model.causal=false``) that is valid (``key_valid`` (B, S), False for
    padding). A padding query may always see itself, so no row is empty."""
    S = start + T
    q_slot = torch.arange(start, S, device=device)[:, None]  # (T, 1)
    k_slot = torch.arange(S, device=device)[None, :]  # (1, S)
    allowed = ((k_slot <= q_slot) | (not causal))[None, None]  # (1, 1, T, S)
    if key_valid is not None:
        allowed = allowed & (key_valid[:, None, None, :S] | (k_slot == q_slot))  # (B, 1, T, S)
    return allowed


@dataclass(frozen=True, eq=False)
class PositionalTerms:
    """What an encoding adds to a forward: ``embed`` (B, T, D) joins the token embedding,
    ``rotation`` rotates q and k in every layer, ``bias`` (B|1, H|1, T, S) float (-inf where
    not allowed) is every layer's attention mask; None where the encoding has none."""

    embed: Tensor | None
    rotation: Rotation | None
    bias: Tensor | None


def positional_terms(
    encoding: Encoding,
    pos: Positions,
    k_pos: Positions,
    allowed: Tensor | None,
    dtype: torch.dtype,
) -> PositionalTerms:
    """The encoding's embed, rotation and (``uses_bias``; ``allowed`` from
    :func:`allowed_keys` is then required) bias hooks for queries at prepared positions ``pos``
    and keys at ``k_pos``."""
    bias = None
    if encoding.uses_bias:
        if allowed is None:
            raise ValueError("an encoding with a bias needs the allowed-keys mask")
        bias = encoding.bias(pos, k_pos, allowed, dtype)  # (B|1, H|1, T, S)
    return PositionalTerms(encoding.embed(pos), encoding.rotation(pos), bias)
