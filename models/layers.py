"""Interleaved layers: which encoding and which attention window each layer uses.

Shape legend: B batch, T query length, S key length, K head width.

SWAN-GPT (Puvvada et al. 2025) and Llama 4's iRoPE interleave *local* layers (a positional
encoding and a sliding attention window) with *global* layers (no positional encoding, full
causal attention, logits scaled up with the log of the length at inference). A model states
this with three ModelConfig fields, for every registry entry:

- ``layer_pattern``: a string of ``L`` (local) and ``G`` (global), repeated over the layers
  (``"LLLG"``: layers 0-2 local, 3 global, 4-6 local, ...); empty (the default): every layer
  local, the plain model.
- ``window``: local layers attend to the last ``window`` keys only (key slot j with
  ``i - window < j <= i``); None: full causal attention.
- ``global_pe``: the global layers' encoding, a parameter-free position-only entry
  (:data:`GLOBAL_PES`; ``nope`` by default), and ``global_log_scale_len``: if set, global
  layers multiply their queries by ``max(1, log(p + 1) / log(global_log_scale_len))`` of the
  token index p (1 within the training length; the log-length scaling of SWAN-GPT's NoPE
  layers past it).

``pe`` is the local layers' encoding. Its ``prepare`` and ``embed`` hooks act once on the input,
as always; the global encoding's are identities. The bilevel analogue (ours): RoPE on the
intra position in the local layers (``pe="intra_rope"``, the window inside and across a few
segments) and RoPE on the segment index (``global_pe="seg_rope"``) or NoPE in the global ones.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .encoding import Rotation
from .positions import Positions

LAYER_KINDS = ("L", "G")
# Encodings a global layer may use: position-only and parameter-free (so the parameter formula
# of ``pe`` stays the model's, and decoding needs no per-key state for them).
GLOBAL_PES = ("nope", "rope", "seg_rope", "intra_rope", "alibi")


def layer_kinds(pattern: str, n_layers: int) -> tuple[str, ...]:
    """Each layer's kind, ``L`` or ``G``: ``pattern`` repeated over ``n_layers`` (empty: all L)."""
    if not pattern:
        return ("L",) * n_layers
    return tuple(pattern[i % len(pattern)] for i in range(n_layers))


def windowed(allowed: Tensor, start: int, window: int | None) -> Tensor:
    """``allowed`` (B|1, 1, T, S) restricted to keys within ``window`` slots of the query
    (``q_slot - k_slot < window``); unchanged when ``window`` is None."""
    if window is None:
        return allowed
    T, S = allowed.shape[-2:]
    q_slot = torch.arange(start, start + T, device=allowed.device)[:, None]  # (T, 1)
    k_slot = torch.arange(S, device=allowed.device)[None, :]  # (1, S)
    return allowed & (q_slot - k_slot < window)  # (B|1, 1, T, S)


def log_length_scale(index: Tensor, train_len: int) -> Tensor:
    """(B, T) ``max(1, log(p + 1) / log(train_len))`` of token indices p (B, T)."""
    return (torch.log1p(index.float()) / math.log(train_len)).clamp(min=1.0)


def scaled_queries(rot: Rotation | None, pos: Positions, train_len: int, d_head: int):
    """``rot`` with the log-length factor folded into the queries' cos and sin (a pure scale,
    cos = s and sin = 0, when there is no rotation)."""
    s = log_length_scale(pos.index, train_len)[:, :, None, None]  # (B, T, 1, 1)
    if rot is None:
        ones = torch.ones(*pos.index.shape, 1, d_head // 2, device=s.device)  # (B, T, 1, K/2)
        zeros = torch.zeros_like(ones)
        return Rotation(ones * s, zeros, ones, zeros)
    return Rotation(rot.cos_q * s.to(rot.cos_q.dtype), rot.sin_q * s, rot.cos_k, rot.sin_k)
