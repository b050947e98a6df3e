"""Rotary encodings: RoPE (with PI / NTK-aware / YaRN scaling), randomized RoPE, xPos.

Shape legend: B batch, T length, H heads, K head width (K/2 rotary pairs), M position range.

All rotate q and k in the rotate-half layout (Llama): pair i couples dims i and i + K/2 and
turns by ``p * inv_freq[i]`` with ``inv_freq[i] = base^(-2i/K)``. The score of query p and key q
then depends on p - q only.
"""

from __future__ import annotations

import math
from dataclasses import replace

import torch
from torch import Tensor

from .encoding import Encoding, Rotation, read_stream, streams_except
from .positions import Positions
from .rope_variants import log_scale_factor, pose_offsets, variant_frequencies

YARN_ALPHA, YARN_BETA = 1.0, 32.0


def rope_frequencies(
    d_head: int,
    base: float = 10000.0,
    *,
    scaling: str = "none",
    factor: float = 1.0,
    original_len: int | None = None,
) -> Tensor:
    """(K/2,) float32 inverse frequencies, optionally scaled for a ``factor`` x longer range.

    ``pi`` (position interpolation, Chen et al.): every frequency / factor. ``ntk`` (NTK-aware):
    base * factor^(K/(K-2)). ``yarn`` (Peng et al.): per pair, with r = original_len / wavelength,
    ramp g = clip((r - 1) / (32 - 1), 0, 1) and frequency ``(1 - g) f / factor + g f``; pairs that
    turn many times in the training range keep their frequency, slow ones are interpolated.
    """
    exps = torch.arange(0, d_head, 2, dtype=torch.int64).float() / d_head  # (K/2,)
    if scaling == "ntk":
        base = base * factor ** (d_head / (d_head - 2))
    inv = 1.0 / (base**exps)  # (K/2,) the float32 arithmetic of transformers' Llama
    if scaling not in ("none", "pi", "ntk", "yarn"):
        raise ValueError(f"unknown rope scaling {scaling!r}; known: none, pi, ntk, yarn")
    if scaling in ("none", "ntk") or factor == 1.0:  # factor 1 is exactly no scaling
        return inv
    if scaling == "pi":
        return inv / factor
    if original_len is None:
        raise ValueError("yarn scaling needs original_len (the training length)")
    turns = original_len * inv / (2 * math.pi)  # (K/2,) rotations within the training range
    ramp = ((turns - YARN_ALPHA) / (YARN_BETA - YARN_ALPHA)).clamp(0.0, 1.0)
    return (1 - ramp) * inv / factor + ramp * inv


def rope_attention_scale(scaling: str, factor: float) -> float:
    """Multiplier on cos and sin (so on logits squared): YaRN's 0.1 ln(s) + 1, else 1."""
    return 0.1 * math.log(factor) + 1.0 if scaling == "yarn" and factor > 1 else 1.0


def rope_angles(
    pos: Tensor,
    d_head: int,
    base: float = 10000.0,
    *,
    scaling: str = "none",
    factor: float = 1.0,
    original_len: int | None = None,
) -> Tensor:
    """(..., K/2) float32 rotation angles ``pos * inv_freq`` for integer positions (...)."""
    inv = rope_frequencies(
        d_head, base, scaling=scaling, factor=factor, original_len=original_len
    ).to(pos.device)
    return pos.float()[..., None] * inv  # (..., K/2)


def randomized_positions(
    generator: torch.Generator | None,
    batch: int,
    length: int,
    max_pos: int,
    device: torch.device | str = "cpu",
) -> Tensor:
    """(B, T) long: per row a sorted uniform random subset of ``range(max_pos)`` of size T."""
    if length > max_pos:
        raise ValueError(f"sequence length {length} exceeds randomized_max_pos {max_pos}")
    keys = torch.rand(batch, max_pos, generator=generator, device=device)  # (B, M)
    return keys.topk(length, dim=-1).indices.sort(dim=-1).values  # (B, T)


def ordered_subset_table(
    generator: torch.Generator, counts: Tensor, width: int, max_pos: int
) -> Tensor:
    """(B, W) long: row b starts with a sorted uniform random ``counts[b]``-subset of
    ``range(max_pos)`` (``randomized_positions`` of one row of that length); the rest of the
    row is ``max_pos``."""
    if int(counts.max()) > max_pos:
        raise ValueError(
            f"a row needs {int(counts.max())} sampled positions, more than "
            f"randomized_max_pos {max_pos}"
        )
    B = counts.shape[0]
    keys = torch.rand(B, max_pos, generator=generator, device=counts.device)  # (B, M)
    top = keys.topk(min(width, max_pos), dim=-1).indices  # (B, min(W, M)), largest keys first
    unused = torch.arange(top.shape[1], device=counts.device)[None, :] >= counts[:, None]
    table = top.masked_fill(unused, max_pos).sort(dim=-1).values  # (B, min(W, M))
    filler = table.new_full((B, width - table.shape[1]), max_pos)  # (B, W - min(W, M))
    return torch.cat([table, filler], dim=1)  # (B, W)


class Rope(Encoding):
    """RoPE on one stream (``index``; ``seg`` for BiPE-RoPE; ``levels`` for hbipe head groups).

    Options (``docs/method.md#newer-encodings``): ``variant`` (``resonance`` or ``p_rope``, with
    ``p_rope_share``) transforms the frequencies after ``scaling``; ``pose_target_len`` turns on
    PoSE position skipping of the source stream in training mode (drawn from the forward's
    ``generator``); ``log_scale`` (``official`` | ``clamped``) multiplies queries by
    ``log(p + 1) / log(log_scale_len)`` of the source stream, folded into the query's cos/sin.
    """

    inv_freq: Tensor  # buffers, (K/2,) and (H,)
    levels_of_heads: Tensor

    def __init__(
        self,
        d_head: int,
        *,
        source: str = "index",
        base: float = 10000.0,
        scaling: str = "none",
        factor: float = 1.0,
        original_len: int | None = None,
        levels_of_heads: Tensor | None = None,
        variant: str = "none",
        p_rope_share: float = 0.25,
        pose_target_len: int | None = None,
        pose_chunks: int = 2,
        log_scale: str = "none",
        log_scale_len: int | None = None,
    ) -> None:
        super().__init__()
        self.source = source
        self.register_buffer("levels_of_heads", levels_of_heads, persistent=False)  # on device
        self.scale = rope_attention_scale(scaling, factor)
        self.pose_target_len, self.pose_chunks = pose_target_len, pose_chunks
        self.log_scale, self.log_scale_len = log_scale, log_scale_len
        if pose_target_len is not None and source not in ("index", "seg"):
            raise ValueError(f"PoSE skips the index or seg stream, not {source!r}")
        if log_scale != "none" and log_scale_len is None:
            raise ValueError("log_scale needs log_scale_len (the training length)")
        if log_scale != "none":  # the query scale reads the absolute position
            self.invariant_streams = streams_except(source)
        inv = rope_frequencies(
            d_head, base, scaling=scaling, factor=factor, original_len=original_len
        )
        inv = variant_frequencies(inv, variant, p_rope_share)
        self.register_buffer("inv_freq", inv, persistent=False)

    def prepare(self, pos: Positions, generator: torch.Generator | None = None) -> Positions:
        """PoSE: chunk-wise skipped training positions of the source stream (if enabled)."""
        if self.pose_target_len is None or not self.training:
            return pos
        p = read_stream(pos, self.source)  # (B, T)
        B, T = p.shape
        skips = pose_offsets(generator, B, T, self.pose_target_len, self.pose_chunks, p.device)
        return replace(pos, **{self.source: p + skips})  # type: ignore[arg-type]  # one stream

    def angles(self, pos: Positions) -> Tensor:
        """(B, T, 1|H, K/2) rotation angles of the source stream."""
        p = read_stream(pos, self.source, self.levels_of_heads)  # (B, T) or (B, T, H)
        angles = p.to(self.inv_freq.dtype)[..., None] * self.inv_freq  # (B, T[, H], K/2)
        return angles if p.dim() == 3 else angles[:, :, None]  # (B, T, 1|H, K/2)

    def rotation(self, pos: Positions) -> Rotation:
        """The same rotation for q and k."""
        angles = self.angles(pos)
        cos, sin = angles.cos(), angles.sin()
        if self.scale != 1.0:
            cos, sin = cos * self.scale, sin * self.scale
        if self.log_scale == "none":
            return Rotation(cos, sin, cos, sin)
        p = read_stream(pos, self.source, self.levels_of_heads)  # (B, T) or (B, T, H)
        s = log_scale_factor(p, self.log_scale_len, self.log_scale)  # type: ignore[arg-type]
        s = s.to(cos.dtype)  # log_scale_len is set whenever log_scale is (ModelConfig)
        s = s[..., None] if p.dim() == 3 else s[:, :, None, None]  # (B, T, 1|H, 1)
        return Rotation(cos * s, sin * s, cos, sin)


def segment_pairs(n_pairs: int, n_seg: int, bands: str = "low") -> Tensor:
    """(K/2,) bool: which ``n_seg`` of the ``n_pairs`` rotary pairs (pair 0 the fastest) carry
    the segment index: ``low`` the slowest, ``high`` the fastest, ``interleaved`` spread evenly
    (pair i when ``floor((i + 1) n_seg / n_pairs) > floor(i n_seg / n_pairs)``)."""
    i = torch.arange(n_pairs)
    if bands == "low":
        return i >= n_pairs - n_seg
    if bands == "high":
        return i < n_seg
    if bands == "interleaved":
        return (i + 1) * n_seg // n_pairs > i * n_seg // n_pairs
    raise ValueError(f"unknown hirope bands {bands!r}; known: low, high, interleaved")


class HiRope(Rope):
    """HiRoPE (Zhang et al. 2024): a ``seg_share`` of the rotary pairs turn by the segment
    index (``bands``: the slowest by default, as the paper; or the fastest, or interleaved
    across the spectrum as VideoRoPE/MRoPE choose), the other pairs by ``inner`` (``intra`` or
    ``index``). Both streams enter as rotations, so the encoding is invariant to shifting
    either."""

    on_seg: Tensor  # buffer (K/2,)

    def __init__(
        self,
        d_head: int,
        *,
        seg_share: float = 0.5,
        inner: str = "intra",
        bands: str = "low",
        **rope_kwargs,
    ) -> None:
        super().__init__(d_head, source=inner, **rope_kwargs)
        n_seg = round(seg_share * (d_head // 2))
        on_seg = segment_pairs(d_head // 2, n_seg, bands)  # (K/2,)
        self.register_buffer("on_seg", on_seg, persistent=False)

    def angles(self, pos: Positions) -> Tensor:
        """(B, T, 1, K/2): pair i turns by seg (slow pairs) or the inner stream (the rest)."""
        inner = read_stream(pos, self.source).to(self.inv_freq.dtype)[..., None]  # (B, T, 1)
        seg = pos.seg.to(self.inv_freq.dtype)[..., None]  # (B, T, 1)
        return (torch.where(self.on_seg, seg, inner) * self.inv_freq)[:, :, None]


def eval_generator(stream: Tensor) -> torch.Generator:
    """The evaluation-time generator of the randomized encodings: seeded with the batch's
    shape (B, T), so evaluating the same batch twice draws the same positions."""
    seed = RANDOMIZED_EVAL_SEED + 1_000_003 * stream.shape[0] + stream.shape[1]
    return torch.Generator(device=stream.device).manual_seed(seed)


RANDOMIZED_EVAL_SEED = 20230523


class RandomizedRope(Rope):
    """Randomized RoPE (Ruoss et al. 2023): in training mode the token index is replaced by a
    sorted random subset of ``[0, max_pos)`` drawn from the forward's ``generator`` (torch's
    default generator if None, which the composition root seeds).

    In eval mode a causal model uses plain RoPE on the given index (0..T-1 by default), so
    evaluation and cached decoding are deterministic; a non-causal model (``model.causal=false``,
    the Chomsky reference protocol) samples at test time too, as the reference code does, from
    a generator seeded with the batch's shape (reproducible; :mod:`bipe.models.randomized`).
    """

    def __init__(self, d_head: int, *, max_pos: int, **rope_kwargs) -> None:
        super().__init__(d_head, source="index", **rope_kwargs)
        self.max_pos = max_pos

    def prepare(self, pos: Positions, generator: torch.Generator | None = None) -> Positions:
        """Random ordered training positions; in eval mode unchanged unless non-causal."""
        if not (self.training or self.bidirectional):
            return pos
        B, T = pos.index.shape
        if not self.training and generator is None:
            generator = eval_generator(pos.index)
        index = randomized_positions(generator, B, T, self.max_pos, pos.index.device)  # (B, T)
        return Positions(index, pos.seg, pos.intra, pos.outer)

    sampled_stream = "index"

    @property
    def samples_in_eval(self) -> bool:
        return self.bidirectional

    def draw_table(self, generator: torch.Generator, counts: Tensor, width: int) -> Tensor:
        return ordered_subset_table(generator, counts, width, self.max_pos)


XPOS_MAX_EXPONENT = 80.0  # |log| of any xPos factor: e^80 stays finite in float32 and bf16
XPOS_CENTRE_FROM = 2**15  # rows reaching this position get a centred decay exponent


def xpos_centre(stream: Tensor) -> Tensor:
    """(B, T) positions -> (B, 1, 1) centre of each row's decay exponent: 0 while the row stays
    below :data:`XPOS_CENTRE_FROM`, else the middle of its range ``(min + max + 1) // 2``
    (x-transformers' ``(max + 1) // 2`` for a row starting at 0)."""
    top = stream.amax(dim=-1, keepdim=True)  # (B, 1)
    middle = (stream.amin(dim=-1, keepdim=True) + top + 1) // 2  # (B, 1)
    centre = torch.where(top >= XPOS_CENTRE_FROM, middle, torch.zeros_like(top))  # (B, 1)
    return centre[..., None]  # (B, 1, 1)


class XPos(Encoding):
    """xPos (Sun et al. 2023): RoPE whose pair i is scaled by ``zeta_i^((p - c)/scale_base)`` on
    queries and ``zeta_i^(-(p - c)/scale_base)`` on keys, ``zeta_i = (2i/K + 0.4) / 1.4``, so the
    score decays with distance like ``zeta_i^((p - q)/scale_base)`` and depends on p - q only.

    ``c`` centres the exponent, as the authors' code and x-transformers do (there: half the
    sequence length), so the factors stay finite: ``c = 0`` for a row whose positions stay below
    :data:`XPOS_CENTRE_FROM`, else the middle of the row's positions (:func:`xpos_centre`). The
    scores equal x-transformers' up to rounding at 40,000 positions and beyond; each factor's
    log is clamped to ``[-XPOS_MAX_EXPONENT, XPOS_MAX_EXPONENT]``, which bites only in rows
    spanning more than ``2 * 80 * scale_base / |log zeta_0|`` = 65,000 positions at scale_base
    512 (where the peer's factors overflow): logits stay finite at any position. Cached
    decoding keeps rotated keys, so it needs one centre for all calls:
    :attr:`cached_position_limit` refuses it from :data:`XPOS_CENTRE_FROM` on
    (docs/method.md#xpos).
    """

    inv_freq: Tensor  # buffers (K/2,)
    log_zeta: Tensor

    cached_position_limit = XPOS_CENTRE_FROM
    bidirectional_refusal = "xpos's decay grows without bound towards later keys (causal only)"

    def __init__(
        self,
        d_head: int,
        *,
        source: str = "index",
        base: float = 10000.0,
        scale_base: float = 512.0,
        gamma: float = 0.4,
    ) -> None:
        super().__init__()
        self.source, self.scale_base = source, scale_base
        self.register_buffer("inv_freq", rope_frequencies(d_head, base), persistent=False)
        zeta = (torch.arange(0, d_head, 2).float() / d_head + gamma) / (1 + gamma)  # (K/2,)
        self.register_buffer("log_zeta", zeta.log(), persistent=False)

    def rotation(self, pos: Positions) -> Rotation:
        """Rotation with the decay folded into cos and sin."""
        stream = read_stream(pos, self.source)  # (B, T)
        p = stream.to(self.inv_freq.dtype)[..., None]  # (B, T, 1)
        angles = (p * self.inv_freq)[:, :, None]  # (B, T, 1, K/2)
        centre = xpos_centre(stream).to(p.dtype)  # (B, 1, 1)
        exponent = ((p - centre) * self.log_zeta / self.scale_base)[:, :, None]
        bound = XPOS_MAX_EXPONENT  # exponent (B, T, 1, K/2)
        up, down = exponent.clamp(-bound, bound).exp(), (-exponent).clamp(-bound, bound).exp()
        cos, sin = angles.cos(), angles.sin()
        return Rotation(cos * up, sin * up, cos * down, sin * down)
