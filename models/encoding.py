"""The one positional-encoding interface: five hooks, each a no-op by default.

Shape legend: B batch, T query length, S key length, D model width, H heads, K head width.

An :class:`Encoding` acts only through these hooks, all of which take explicit
:class:`~bipe.models.positions.Positions`:

- ``prepare(pos, generator)`` -> Positions: rewrite positions before use (randomized RoPE
  samples training positions here); identity by default.
- ``embed(pos)`` -> (B, T, D) or None: added to the token embedding before the first block.
- ``rotation(pos)`` -> :class:`Rotation` or None: rotates queries and keys in every layer.
- ``bias(q_pos, k_pos, allowed=None, dtype=None)`` -> (B or 1, H or 1, T, S) or None: added
  to the attention logits in every layer (queries at ``q_pos``, keys at ``k_pos``); where the
  bool ``allowed`` (B or 1, 1, T, S) is False the bias must be -inf (the causal and padding
  mask, folded in before the head dimension is expanded); ``dtype`` is the result's dtype
  (default float32).
- ``content(ctx)`` -> (B, H, T, S) or None: an additive logit term that may read content: the
  :class:`AttentionContext` of one layer holds q and k (after rotation, cached keys included),
  the layer's input, the query and key positions and the ``allowed`` mask; where ``allowed`` is
  False the term must be -inf. Only encodings with ``uses_content`` are called, and only they
  leave the plain causal SDPA kernel (the term joins SDPA as a float mask). Per-key state that
  decoding must keep (fox's cumulative log forget gates) lives in the KV cache
  (``key_state_width`` floats per head and key, ``ctx.state``), never on the module.

Each encoding reads one position stream (``source``): ``index``, ``seg``, ``intra`` or
``levels`` (hbipe: head group g reads level g). :class:`Combined` sums parts, which is how
BiPE (intra stream into an absolute part, seg stream into a relative part) and its variants
are built in the registry. ``invariant_streams`` names the streams whose uniform shift leaves
the encoding's effect unchanged (tested for every registry entry).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import torch
from torch import Tensor, nn

from .positions import STREAMS, Positions

SOURCES = ("index", "seg", "intra", "levels")
# A size or parameter count: an int, or a sympy expression when the sizes are symbols
# (bipe.analysis.params derives its formulas from the registry this way).
Count = Any


@dataclass(frozen=True, eq=False)
class Rotation:
    """Rotary factors for queries and keys, each (B, T, 1 or H, K/2).

    Query pair i of head width K (rotate-half layout: dims i and i + K/2) becomes
    ``(x_i cos - x_{i+K/2} sin, x_{i+K/2} cos + x_i sin)``. Scaled encodings (xPos, YaRN) fold
    their scale into cos and sin.
    """

    cos_q: Tensor
    sin_q: Tensor
    cos_k: Tensor
    sin_k: Tensor


@dataclass(frozen=True, eq=False)
class AttentionContext:
    """What the ``content`` hook of layer ``layer`` sees (queries at slots ``start:start+T``).

    ``q`` (B, H, T, K) and ``k`` (B, H, S, K) after rotation (``k`` includes the cached keys,
    S = start + T); ``h`` (B, T, D) the attention sub-layer's input (after its RMSNorm);
    ``q_pos`` (B, T) and ``k_pos`` (B, S) positions; ``allowed`` (B|1, 1, T, S) bool, the causal
    and padding mask; ``state`` (B, H, S_max, W) float, this layer's per-key state slots in the
    KV cache, or None without a cache (the hook then computes from scratch).
    """

    layer: int
    q: Tensor
    k: Tensor
    h: Tensor
    q_pos: Positions
    k_pos: Positions
    allowed: Tensor
    start: int = 0
    state: Tensor | None = None


def apply_rotation(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate-half rotation (Llama convention) of x (B, T, H, K) by cos, sin (B, T, 1|H, K/2)."""
    x1, x2 = x.chunk(2, dim=-1)  # 2 x (B, T, H, K/2)
    cos, sin = cos.to(x.dtype), sin.to(x.dtype)
    return torch.cat((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-1)  # (B, T, H, K)


def head_levels(n_heads: int, n_levels: int) -> Tensor:
    """(H,) level of each head: contiguous, near-equal groups, innermost level first."""
    return torch.arange(n_heads) * n_levels // n_heads


def read_stream(pos: Positions, source: str, levels_of_heads: Tensor | None = None) -> Tensor:
    """The stream an encoding reads: (B, T) long, or (B, T, H) for ``levels``."""
    if source == "levels":
        if levels_of_heads is None:
            raise ValueError("source 'levels' needs levels_of_heads (the level of each head)")
        stacked = torch.stack(pos.levels, dim=-1)  # (B, T, L)
        return stacked[..., levels_of_heads.to(stacked.device)]  # (B, T, H)
    if source not in SOURCES:
        raise ValueError(f"unknown position source {source!r}; known: {', '.join(SOURCES)}")
    return getattr(pos, source)


def set_bidirectional(encoding: nn.Module) -> None:
    """Mark every :class:`Encoding` part of ``encoding`` as running without a causal mask."""
    for part in encoding.modules():
        if isinstance(part, Encoding):
            part.bidirectional = True


def bidirectional_refusals(encoding: nn.Module) -> list[str]:
    """Why the parts of ``encoding`` cannot run without a causal mask (empty: they can)."""
    return sorted(
        {p.bidirectional_refusal for p in encoding.modules() if isinstance(p, Encoding)} - {""}
    )


def streams_except(source: str) -> tuple[str, ...]:
    """Every stream but the one(s) ``source`` reads."""
    read = ("seg", "outer") if source == "levels" else (source,)
    return tuple(s for s in STREAMS if s not in read)


class Encoding(nn.Module):
    """Base class: every hook is a no-op; ``nope`` is this class itself."""

    invariant_streams: tuple[str, ...] = STREAMS
    # Non-causal use (``model.causal=false``): ``bidirectional`` is set on every part of a
    # non-causal model's encoding (:func:`set_bidirectional`), and the parts whose form depends
    # on the direction (ALiBi, T5 buckets) consult it; a part with a ``bidirectional_refusal``
    # (one line saying why) cannot run non-causally and the config refuses it.
    bidirectional: bool = False
    bidirectional_refusal: str = ""
    uses_bias: bool = False  # True when ``bias`` can return a tensor (the model skips it else)
    uses_content: bool = False  # True when ``content`` can return a tensor (else SDPA as is)
    key_state_width: int = 0  # floats per (head, key) the content hook keeps in the KV cache
    # token index from which cached decoding would not be exact (xPos centres its decay past
    # it); None: no limit
    cached_position_limit: int | None = None
    # The stream a part replaces by random values in training (``index`` or ``seg``; "" for
    # none). Such a part also implements ``draw_table`` (:mod:`bipe.models.sampled_positions`)
    # so that an evaluation can draw positions the way training did.
    sampled_stream: str = ""

    @property
    def samples_in_eval(self) -> bool:
        """True when ``prepare`` already draws random positions in eval mode."""
        return False

    def draw_table(self, generator: torch.Generator, counts: Tensor, width: int) -> Tensor:
        """(B, W) tables: row b starts with the ``counts[b]`` values a training row with that
        many stream values would get, in order; the rest is filler (parts that sample only)."""
        raise NotImplementedError(f"{type(self).__name__} does not sample positions")

    def prepare(self, pos: Positions, generator: torch.Generator | None = None) -> Positions:
        """Positions the other hooks see (identity unless overridden)."""
        return pos

    def embed(self, pos: Positions) -> Tensor | None:
        """(B, T, D) added to the input embedding, or None."""
        return None

    def rotation(self, pos: Positions) -> Rotation | None:
        """Rotary factors for q and k, or None."""
        return None

    def bias(
        self,
        q_pos: Positions,
        k_pos: Positions,
        allowed: Tensor | None = None,
        dtype: torch.dtype | None = None,
    ) -> Tensor | None:
        """Additive attention bias (B|1, H|1, T, S), -inf where not ``allowed``, or None."""
        return None

    def content(self, ctx: AttentionContext) -> Tensor | None:
        """Additive logit term (B, H, T, S) read from content, -inf where not allowed, or None."""
        return None


class Combined(Encoding):
    """Sum of parts: embeddings and biases add; at most one part may rotate."""

    def __init__(self, *parts: Encoding) -> None:
        super().__init__()
        self.parts = nn.ModuleList(parts)
        shared = set(STREAMS)
        for part in parts:
            shared &= set(part.invariant_streams)
        self.invariant_streams = tuple(s for s in STREAMS if s in shared)
        self.uses_bias = any(part.uses_bias for part in parts)
        self.uses_content = any(part.uses_content for part in parts)
        stateful = [part.key_state_width for part in parts if part.key_state_width]
        if len(stateful) > 1:
            raise ValueError("at most one part of a combined encoding may keep per-key state")
        self.key_state_width = stateful[0] if stateful else 0
        limits = [p.cached_position_limit for p in parts if p.cached_position_limit is not None]
        self.cached_position_limit = min(limits) if limits else None

    def each_part(self) -> list[Encoding]:
        """The parts, typed (``self.parts`` is their ``nn.ModuleList``)."""
        return [cast(Encoding, part) for part in self.parts]

    def prepare(self, pos: Positions, generator: torch.Generator | None = None) -> Positions:
        """Each part's ``prepare`` in turn."""
        for part in self.each_part():
            pos = part.prepare(pos, generator)
        return pos

    def embed(self, pos: Positions) -> Tensor | None:
        """Sum of the parts' embeddings."""
        return _sum(part.embed(pos) for part in self.each_part())

    def rotation(self, pos: Positions) -> Rotation | None:
        """The single rotating part's rotation."""
        rotations = [r for r in (part.rotation(pos) for part in self.each_part()) if r is not None]
        if len(rotations) > 1:
            raise ValueError("at most one part of a combined encoding may rotate q and k")
        return rotations[0] if rotations else None

    def bias(
        self,
        q_pos: Positions,
        k_pos: Positions,
        allowed: Tensor | None = None,
        dtype: torch.dtype | None = None,
    ) -> Tensor | None:
        """Sum of the parts' biases."""
        return _sum(part.bias(q_pos, k_pos, allowed, dtype) for part in self.each_part())

    def content(self, ctx: AttentionContext) -> Tensor | None:
        """Sum of the parts' content terms."""
        return _sum(part.content(ctx) for part in self.each_part() if part.uses_content)


def _sum(items) -> Tensor | None:
    total = None
    for item in items:
        if item is not None:
            total = item if total is None else total + item
    return total
