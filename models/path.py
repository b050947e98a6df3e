"""PaTH attention (Yang et al. 2025, "PaTH Attention: Position Encoding via Accumulating
Householder Transformations") and its bilevel form, through the ``content`` hook.

Shape legend: B batch, T query length, S key length, D model width, H heads, K head width,
L layers, R rank of the w projection.

Every token t carries a Householder-like transform ``H_t = I - beta_t w_t w_t^T`` made from the
layer input: ``w_t`` is a low-rank projection (D -> R -> D) of the token, passed through a causal
depthwise convolution of width 3 with SiLU (the paper's short convolution) and L2-normalised per
head; ``beta_t = 2 sigmoid(b_h . x_t + c_h)`` in (0, 2). The logit of query i and key j <= i is::

    a_ij = q_i^T H_i H_{i-1} ... H_{j+1} k_j / sqrt(K)

(no rotation): the transforms between key and query replace RoPE's fixed rotations.
``bipe_path`` (ours) keeps ``H_t`` only where a new segment begins (``seg_t > seg_{t-1}``,
identity elsewhere), so exactly ``seg_i - seg_j`` transforms lie between key j and query i.

Computation (plain torch, the reference's chunked UT transform): within a block of C tokens,
with ``L_st = beta_s w_s . w_t`` for s > t and ``M_sj = beta_s w_s . k_j`` for s > j,
``A = q k^T - tril(q w^T) (I + L)^{-1} M`` and the keys carried past the block are
``k - ((I + L)^{-1} M)^T w``; across blocks, queries are pulled back through each block's
product in turn. Decoding follows the paper's rule: the cache keeps
each key transformed by every transform so far (a new token's ``H_t`` updates all earlier keys)
and the last two pre-convolution projections; both live in the KV cache's per-key state
(``key_state_width = 2K``). Padding keys (left-padded prompts) neither transform nor feed the
convolution.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .encoding import AttentionContext, Count, Encoding

CONV_WIDTH = 3
PATH_CHUNK = 64


def _block(q: Tensor, k: Tensor, w: Tensor, beta: Tensor):
    """UT quantities of one block of C tokens (q, k, w (B, H, C, K), beta (B, H, C)):
    ``(local (B, H, C, C), q_back (B, H, C, K), k_fwd (B, H, C, K), h (B, H, K, K))``: the
    block's own scores (entries above the diagonal are junk), each query pulled back through
    the block's transforms up to it, each key carried through those after it, and h with
    ``x - x h`` pulling a row x back through the whole block."""
    C = q.shape[-2]
    wb = w * beta[..., None]  # (B, H, C, K)
    eye = torch.eye(C, dtype=q.dtype, device=q.device)
    lower = (wb @ w.transpose(-1, -2)).tril(-1)  # (B, H, C, C) L_st, s > t
    t = torch.linalg.solve_triangular(eye + lower, eye, upper=False, unitriangular=True)
    qw = (q @ w.transpose(-1, -2)).tril()  # (B, H, C, C) transforms s <= i
    tm = t @ (wb @ k.transpose(-1, -2)).tril(-1)  # (B, H, C, C) transforms s > j
    twb = t @ wb  # (B, H, C, K)
    local = q @ k.transpose(-1, -2) - qw @ tm
    return local, q - qw @ twb, k - tm.transpose(-1, -2) @ w, w.transpose(-1, -2) @ twb


def path_scores(q: Tensor, keys: Tensor, w: Tensor, beta: Tensor, n_old: int, chunk: int = 64):
    """PaTH logits (unscaled) and the keys carried through every transform of the chunk.

    q (B, H, T, K) the chunk's queries; keys (B, H, S, K): ``n_old`` earlier keys with every
    earlier transform applied, then the chunk's T keys; w (B, H, T, K) unit vectors and beta
    (B, H, T) of the chunk's transforms. Returns ``(A (B, H, T, S), carried (B, H, S, K))``;
    entries of A for keys after the query are junk (the caller masks them). Blocks of
    ``chunk`` tokens (the reference's chunked form): one C x C solve per block, then block
    pairs by matrix products, O(T^2 K + T C^2) per head.
    """
    T = q.shape[-2]
    old, new = keys[..., :n_old, :], keys[..., n_old:, :]
    spans = [slice(a, min(a + chunk, T)) for a in range(0, T, chunk)]
    parts = [_block(q[..., s, :], new[..., s, :], w[..., s, :], beta[..., s]) for s in spans]
    rows = []
    for b, (local, pulled, _, _) in enumerate(parts):
        cols = [local]
        for c in range(b - 1, -1, -1):  # earlier blocks, nearest first
            cols.insert(0, pulled @ parts[c][2].transpose(-1, -2))  # (B, H, Cb, Cc)
            pulled = pulled - pulled @ parts[c][3]
        later = T - spans[b].stop
        cols.append(local.new_zeros(*local.shape[:-1], later))  # junk: after the query
        rows.append(torch.cat([pulled @ old.transpose(-1, -2), *cols], dim=-1))
    carried = [old]
    for part in parts:  # keys before a block pass through it; then its own keys join
        carried = [key - key @ part[3].transpose(-1, -2) for key in carried]
        carried.append(part[2])  # (B, H, C, K) carried to the block's end
    return torch.cat(rows, dim=-2), torch.cat(carried, dim=-2)


class Path(Encoding):
    """PaTH: data-dependent Householder transforms between key and query (one set of
    projections per layer); ``segmented`` keeps them only at segment starts (``bipe_path``).

    Reads no position stream, or ``seg`` through its differences (``bipe_path``): every
    uniform shift leaves it unchanged."""

    uses_content = True

    @staticmethod
    def n_params(d_model: Count, n_heads: Count, n_layers: Count, rank: Count) -> Count:
        """Parameters: per layer w's low-rank projection, its convolution and beta's linear."""
        return n_layers * (2 * d_model * rank + CONV_WIDTH * d_model + n_heads * (d_model + 1))

    def __init__(
        self, d_model: int, n_heads: int, n_layers: int, *, rank: int = 32, segmented: bool = False
    ) -> None:
        super().__init__()
        self.n_heads, self.d_head, self.segmented = n_heads, d_model // n_heads, segmented
        self.chunk = PATH_CHUNK  # tokens per block of the chunked computation
        self.key_state_width = 2 * self.d_head  # carried key, then pre-convolution projection
        self.w_down = nn.ModuleList(nn.Linear(d_model, rank, bias=False) for _ in range(n_layers))
        self.w_up = nn.ModuleList(nn.Linear(rank, d_model, bias=False) for _ in range(n_layers))
        self.conv = nn.ParameterList(
            nn.Parameter(torch.empty(d_model, CONV_WIDTH).uniform_(-1, 1) / math.sqrt(CONV_WIDTH))
            for _ in range(n_layers)
        )
        self.beta = nn.ModuleList(nn.Linear(d_model, n_heads) for _ in range(n_layers))

    def transforms(self, layer: int, h: Tensor, u_before: Tensor, valid: Tensor, gate: Tensor):
        """``(w (B, H, T, K), beta (B, H, T), u (B, T, D))`` of the chunk's layer inputs h
        (B, T, D); u_before (B, 2, D) the two projections before the chunk (zeros at the
        start); valid (B|1, T) real tokens; gate (B|1, T) 1 where a transform acts."""
        B, T, D = h.shape
        down: nn.Linear = self.w_down[layer]  # type: ignore[assignment]
        up: nn.Linear = self.w_up[layer]  # type: ignore[assignment]
        u = F.linear(F.linear(h, down.weight), up.weight)  # (B, T, D)
        u = u * valid[..., None].to(u.dtype)
        window = torch.cat((u_before.to(u.dtype), u), dim=1)  # (B, T + 2, D)
        conv = self.conv[layer].to(u.dtype)[:, None, :]  # (D, 1, 3)
        w = F.silu(F.conv1d(window.transpose(1, 2), conv, groups=D)).transpose(1, 2)  # (B, T, D)
        w = F.normalize(w.view(B, T, self.n_heads, self.d_head), dim=-1).transpose(1, 2)
        lin: nn.Linear = self.beta[layer]  # type: ignore[assignment]
        beta = 2 * torch.sigmoid(F.linear(h, lin.weight.to(h.dtype), lin.bias.to(h.dtype)))
        beta = beta * (valid * gate).to(beta.dtype)[..., None]  # (B, T, H)
        return w, beta.transpose(1, 2), u  # (B, H, T, K), (B, H, T), (B, T, D)

    def content(self, ctx: AttentionContext) -> Tensor:
        """(B, H, T, S) PaTH's logit minus ``q . k / sqrt(K)``, -inf where not allowed; with a
        cache, stores the carried keys and the chunk's projections in ``ctx.state``."""
        work = torch.promote_types(ctx.q.dtype, torch.float32)
        q, k, h = ctx.q.to(work), ctx.k.to(work), ctx.h.to(work)
        B, H, T, K = q.shape
        start, S = ctx.start, k.shape[2]
        valid = ctx.allowed[:, 0, -1, start:]  # (B|1, T): the last query sees every real token
        u_before = torch.zeros(B, CONV_WIDTH - 1, H * K, dtype=work, device=q.device)
        keys = k
        if ctx.state is not None and start > 0:
            keys = torch.cat((ctx.state[:, :, :start, :K].to(work), k[:, :, start:]), dim=2)
            lo = max(start - CONV_WIDTH + 1, 0)
            kept = ctx.state[:, :, lo:start, K:].to(work).transpose(1, 2).reshape(B, -1, H * K)
            u_before[:, CONV_WIDTH - 1 - (start - lo) :] = kept
        w, beta, u = self.transforms(ctx.layer, h, u_before, valid, self.gate(ctx))
        scores, carried = path_scores(q, keys, w, beta, S - T, self.chunk)
        if ctx.state is not None:
            ctx.state[:, :, :S, :K] = carried.detach()
            ctx.state[:, :, start:S, K:] = u.detach().view(B, T, H, K).transpose(1, 2)
        term = (scores - q @ k.transpose(-1, -2)) / math.sqrt(K)  # (B, H, T, S)
        return term.masked_fill(~ctx.allowed, float("-inf"))

    def gate(self, ctx: AttentionContext) -> Tensor:
        """(B|1, T) 1 where token t's transform acts: everywhere (PaTH), or where a new segment
        begins, ``seg_t > seg_{t-1}`` (``bipe_path``; never at slot 0)."""
        T, start = ctx.q.shape[2], ctx.start
        if not self.segmented:
            return torch.ones(1, T, device=ctx.q.device)
        seg = ctx.k_pos.seg  # (B, S): the cache's positions include the chunk
        previous = torch.cat((seg[:, :1], seg[:, :-1]), dim=1)  # (B, S) seg_{t-1}
        return (seg > previous)[:, start:].float()  # (B, T)
