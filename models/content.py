"""Content-aware encodings through the ``content`` hook: CoPE, BiPE-CoPE and the forget gate.

Shape legend: B batch, T query length, S key length, D model width, H heads, K head width,
L layers, P position-table rows (``cope_max_pos``). See ``docs/method.md#newer-encodings``.

- :class:`Cope` (Golovneva et al. 2024, "Contextual Position Encoding"): gates
  ``g_ij = sigmoid(q_i . k_j)`` for keys j <= i, positions ``p_ij = sum_{t=j..i} g_it``
  (clamped at ``P - 1``), and the logit term ``q_i . e[p_ij] / sqrt(K)`` with ``e[p]`` a learned
  table (one per layer, shared by the heads) interpolated between ``e[floor p]`` and
  ``e[ceil p]`` by the fraction of p. The score is ``(q_i . k_j + q_i . e[p_ij]) / sqrt(K)``,
  as in the paper's code.
- :class:`SegmentCope` (BiPE-CoPE, ours): the same with gates only at segment boundaries:
  ``p_ij = sum_{t=j..i-1} g_it (seg_{t+1} - seg_t)``, so the gate of a separator t (the last
  token of its segment) counts; inside one segment ``p_ij = 0`` and with saturated gates
  ``p_ij = seg_i - seg_j``, BiPE's segment distance.
- :class:`Fox` (Lin et al. 2025, "Forgetting Transformer"): per layer and head a forget gate
  ``f_l = sigmoid(w_h . x_l + b_h)`` of the layer input x_l, and the logit term
  ``D_ij = sum_{l=j+1..i} log f_l = c_i - c_j`` with ``c`` the cumulative sum of ``log f``.
  Decoding keeps ``c`` of every key in the KV cache (``key_state_width = 1``).
"""

from __future__ import annotations

import math
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .encoding import AttentionContext, Count, Encoding
from .positions import Positions


def cope_positions(gates: Tensor) -> Tensor:
    """``p_ij = sum_{t >= j} gates_it`` (B, H, T, S): a reverse cumulative sum over keys; gates
    of keys after the query (or masked) must be 0."""
    return gates.flip(-1).cumsum(-1).flip(-1)


def interpolated_logits(z: Tensor, p: Tensor) -> Tensor:
    """``(1 - w) z[floor p] + w z[ceil p]`` with w = p - floor p, for z (B, H, T, P) the logits
    of every integer position and fractional positions p (B, H, T, S) in [0, P - 1]."""
    floor = p.floor()
    w = p - floor
    low = z.gather(-1, floor.long())  # (B, H, T, S)
    high = z.gather(-1, p.ceil().long())  # (B, H, T, S)
    return low * (1 - w) + high * w


def boundary_weights(seg: Tensor) -> Tensor:
    """(B, S) ``seg_{t+1} - seg_t``: 1 at a separator (the last token of its segment), 0 inside
    a segment and at the last key (whose successor is not known yet)."""
    step = seg[:, 1:] - seg[:, :-1]  # (B, S - 1)
    return torch.cat([step, torch.zeros_like(seg[:, :1])], dim=1)


class Cope(Encoding):
    """CoPE (Golovneva et al. 2024): ``g_it = sigmoid(q_i . k_t)``, ``p_ij = min(sum_{t=j..i}
    g_it, P - 1)``, logit term ``q_i . e[p_ij] / sqrt(K)`` with e interpolated between rows.

    Reads no position stream (``invariant_streams`` = all); ``table`` holds one (K, P) table
    per layer, zero at init as in the paper's code.
    """

    uses_content = True
    bidirectional_refusal = "cope counts gates from the key up to the query, defined only causally"

    @staticmethod
    def n_params(d_head: Count, n_layers: Count, max_pos: Count) -> Count:
        """Parameters: one (K, P) table per layer (ints or sympy symbols)."""
        return n_layers * d_head * max_pos

    def __init__(self, d_head: int, n_layers: int, max_pos: int) -> None:
        super().__init__()
        self.max_pos = max_pos
        self.table = nn.Parameter(torch.zeros(n_layers, d_head, max_pos))

    def counted_gates(self, ctx: AttentionContext, gates: Tensor) -> Tensor:
        """Gates (B, H, T, S) restricted to the keys that count (every allowed key)."""
        return gates.masked_fill(~ctx.allowed, 0.0)

    def content(self, ctx: AttentionContext) -> Tensor:
        """(B, H, T, S) ``q_i . e[p_ij] / sqrt(K)``, -inf where not allowed."""
        q, k = ctx.q, ctx.k
        work = torch.promote_types(q.dtype, torch.float32)
        q, k = q.to(work), k.to(work)
        gates = torch.sigmoid(q @ k.transpose(-1, -2))  # (B, H, T, S)
        p = cope_positions(self.counted_gates(ctx, gates)).clamp(max=self.max_pos - 1)
        z = q @ self.table[ctx.layer].to(work)  # (B, H, T, P)
        term = interpolated_logits(z, p) / math.sqrt(q.shape[-1])  # (B, H, T, S)
        return term.masked_fill(~ctx.allowed, float("-inf"))


class SegmentCope(Cope):
    """BiPE-CoPE's relative part (ours): ``p_ij = min(sum_{t=j..i-1} g_it (seg_{t+1} - seg_t),
    P - 1)``, so only separators count; the logit term is CoPE's.

    Reads the ``seg`` stream through its differences, so a uniform shift of ``seg`` changes
    nothing; key t counts for query i only when t < i (strictly before the query).
    """

    def __init__(self, d_head: int, n_layers: int, max_pos: int) -> None:
        super().__init__(d_head, n_layers, max_pos)
        self.source = "seg"

    def counted_gates(self, ctx: AttentionContext, gates: Tensor) -> Tensor:
        """Gates times the boundary weight of each key, keys strictly before the query only."""
        T, S = ctx.q.shape[2], ctx.k.shape[2]
        q_slot = torch.arange(ctx.start, ctx.start + T, device=gates.device)[:, None]  # (T, 1)
        before = torch.arange(S, device=gates.device)[None, :] < q_slot  # (T, S)
        weight = boundary_weights(ctx.k_pos.seg).to(gates.dtype)[:, None, None, :]  # (B,1,1,S)
        return (gates * weight).masked_fill(~(ctx.allowed & before), 0.0)


class Fox(Encoding):
    """Forgetting Transformer (Lin et al. 2025): ``f_l = sigmoid(w_h . x_l + b_h)`` per layer
    and head, logit term ``sum_{l=j+1..i} log f_l = c_i - c_j``; reads no position stream.

    ``gate`` holds one ``Linear(D, H)`` per layer (weights from the model's init, biases 0,
    so ``f = 1/2`` at init).
    """

    uses_content = True
    key_state_width = 1
    bidirectional_refusal = "fox accumulates forget gates from the key up to the query (causal)"

    @staticmethod
    def n_params(d_model: Count, n_heads: Count, n_layers: Count) -> Count:
        """Parameters: a ``Linear(D, H)`` with bias per layer (ints or sympy symbols)."""
        return n_layers * n_heads * (d_model + 1)

    def __init__(self, d_model: int, n_heads: int, n_layers: int) -> None:
        super().__init__()
        self.gate = nn.ModuleList(nn.Linear(d_model, n_heads) for _ in range(n_layers))

    def log_forget(self, layer: int, h: Tensor) -> Tensor:
        """(B, H, T) ``log f`` of layer inputs h (B, T, D), at least float32."""
        work = torch.promote_types(h.dtype, torch.float32)
        lin = cast(nn.Linear, self.gate[layer])
        return F.logsigmoid(F.linear(h.to(work), lin.weight.to(work), lin.bias.to(work))).transpose(
            1, 2
        )  # (B, H, T)

    def content(self, ctx: AttentionContext) -> Tensor:
        """(B, H, T, S) ``c_i - c_j``, -inf where not allowed; writes c of the queries'
        slots into ``ctx.state`` when decoding with a cache."""
        c = self.log_forget(ctx.layer, ctx.h).cumsum(-1)  # (B, H, T)
        T = c.shape[-1]
        if ctx.state is None:
            c_keys = c
        else:
            if ctx.start > 0:
                c = c + ctx.state[:, :, ctx.start - 1, 0].to(c.dtype)[..., None]
            ctx.state[:, :, ctx.start : ctx.start + T, 0] = c
            c_keys = ctx.state[:, :, : ctx.start + T, 0].to(c.dtype)  # (B, H, S)
        term = c[..., :, None] - c_keys[..., None, :]  # (B, H, T, S)
        return term.masked_fill(~ctx.allowed, float("-inf"))


def layer_hooks(
    encoding: Encoding,
    pos: Positions,
    k_pos: Positions,
    allowed: Tensor,
    start: int,
    states: tuple[Tensor, ...],
):
    """A function ``layer -> (q, k, h) -> term`` binding the positions, mask and cache state
    (``states`` one (B, H, S_max, W) tensor per layer, or () without a cache)."""

    def for_layer(layer: int):
        state = states[layer] if states else None

        def hook(q: Tensor, k: Tensor, h: Tensor) -> Tensor | None:
            ctx = AttentionContext(layer, q, k, h, pos, k_pos, allowed, start, state)
            return encoding.content(ctx)

        return hook

    return for_layer
