"""The Transformer: a Llama-style pre-norm decoder with a registry positional encoding.

Shape legend: B batch, T query length, S key length, D model width, H heads, K head width,
F feed-forward width, V vocabulary.

Blocks are ``x + attn(rmsnorm(x))`` then ``x + swiglu(rmsnorm(x))``, no biases, attention via
``scaled_dot_product_attention`` (causal; the encoding's bias joins as an additive float mask).
q, k and v come from one fused projection and gate/up from another (split when exporting to
transformers). Initialisation draws from torch's default generator: seed it at the
composition root (``torch.manual_seed(init_seed)``) before ``Transformer(config)``.

What the ensemble shares (RMSNorm, the q/k rotation, the compute dtype, the positional hooks
and :func:`~bipe.models.trunk.allowed_keys`, where the attention mask is built) lives in
``models/trunk.py``; :meth:`Transformer._run` is the one place a forward combines them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import ModelConfig
from .content import layer_hooks
from .encoding import Rotation, set_bidirectional
from .layers import layer_kinds, scaled_queries, windowed
from .plugins import resolve_encoding
from .positions import Positions, default_positions
from .trunk import (
    RMSNorm,
    allowed_keys,
    compute_dtype,
    in_compute_dtype,
    positional_terms,
    prepared_positions,
    rms_norm,
    split_qkv,
)

INIT_STD = 0.02


@dataclass(frozen=True, eq=False)
class KVCache:
    """Keys and values of every layer, each (B, H, S_max, K), plus the keys' positions
    ((B, S_max) per stream) and which key slots are real tokens (B, S_max) (False: padding).
    Written in place by the forward that fills slots ``start:start+T``."""

    keys: tuple[Tensor, ...]
    values: tuple[Tensor, ...]
    positions: Positions
    key_valid: Tensor
    states: tuple[Tensor, ...] = ()  # per layer (B, H, S_max, W): content hooks' key state

    @classmethod
    def empty(
        cls,
        config: ModelConfig,
        batch: int,
        max_len: int,
        n_outer: int,
        device: torch.device,
        dtype: torch.dtype,
        state_width: int = 0,
        like: Positions | None = None,
    ) -> KVCache:
        """A zeroed cache for ``max_len`` tokens (``state_width``: the encoding's
        ``key_state_width``, floats kept per head and key for its content hook). Key positions
        are kept as long, or per stream in the dtype of ``like`` (float positions drawn at
        evaluation: ``bipe.models.sampled_positions``)."""
        shape = (batch, config.n_heads, max_len, config.d_head)
        keys = tuple(torch.zeros(shape, device=device, dtype=dtype) for _ in range(config.n_layers))
        values = tuple(torch.zeros_like(k) for k in keys)

        def zeros(stream: Tensor | None) -> Tensor:  # (B, S_max)
            kind = torch.long if stream is None else stream.dtype
            return torch.zeros(batch, max_len, dtype=kind, device=device)

        streams = (
            (None,) * (3 + n_outer)
            if like is None
            else (like.index, like.seg, like.intra, *like.outer)
        )
        index, seg, intra, *outer = (zeros(s) for s in streams)
        pos = Positions(index, seg, intra, tuple(outer))
        work = torch.promote_types(dtype, torch.float32)
        states = (
            tuple(
                torch.zeros(*shape[:3], state_width, device=device, dtype=work)
                for _ in range(config.n_layers)
            )
            if state_width
            else ()
        )
        return cls(
            keys, values, pos, torch.zeros(batch, max_len, dtype=torch.bool, device=device), states
        )

    def write_positions(self, pos: Positions, start: int) -> None:
        """Store the positions (B, T) of slots ``start:start+T``."""
        stop = start + pos.index.shape[1]
        for dst, src in zip(
            (self.positions.index, self.positions.seg, self.positions.intra, *self.positions.outer),
            (pos.index, pos.seg, pos.intra, *pos.outer),
            strict=True,
        ):
            if src.is_floating_point() and not dst.is_floating_point():
                raise ValueError(
                    "float positions into a cache that keeps integer positions; "
                    "build it with KVCache.empty(..., like=positions)"
                )
            dst[:, start:stop] = src


class Attention(nn.Module):
    """Multi-head causal self-attention with a fused qkv projection."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.n_heads, self.d_head, self.dropout = config.n_heads, config.d_head, config.dropout
        self.qkv = nn.Linear(config.d_model, 3 * config.d_model, bias=False)
        self.out = nn.Linear(config.d_model, config.d_model, bias=False)

    def forward(
        self,
        x: Tensor,
        rot: Rotation | None,
        mask: Tensor | None,
        is_causal: bool,
        cache: tuple[Tensor, Tensor] | None = None,
        start: int = 0,
        keep_weights: list | None = None,
        content: Callable | None = None,
    ) -> Tensor:
        """x (B, T, D) -> (B, T, D); with ``cache`` the keys of slots ``< start`` join;
        ``content(q, k, x)`` (the encoding's content hook) adds a (B, H, T, S) logit term."""
        B, T, D = x.shape
        H, K = self.n_heads, self.d_head
        qkv = F.linear(x, self.qkv.weight).view(B, T, 3, H, K)  # (B, T, 3, H, K)
        q, k, v = split_qkv(qkv, rot)  # 3 x (B, H, T, K)
        if cache is not None:
            cache[0][:, :, start : start + T] = k
            cache[1][:, :, start : start + T] = v
            k, v = cache[0][:, :, : start + T], cache[1][:, :, : start + T]  # (B, H, S, K)
        if content is not None:  # -inf where masked, so it replaces a bool mask
            term = content(q, k, x).to(q.dtype)  # (B, H, T, S)
            mask = term if mask is None or mask.dtype == torch.bool else mask + term
            is_causal = False
        if keep_weights is not None:
            y = _explicit_attention(q, k, v, mask, is_causal, keep_weights)
        else:
            p = self.dropout if self.training else 0.0
            y = F.scaled_dot_product_attention(
                q, k, v, attn_mask=mask, dropout_p=p, is_causal=is_causal
            )  # (B, H, T, K)
        return F.linear(y.transpose(1, 2).reshape(B, T, D), self.out.weight)  # (B, T, D)


def _explicit_attention(
    q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, is_causal: bool, keep: list
) -> Tensor:
    """Softmax attention written out (for attention maps); appends (B, H, T, S) weights."""
    T, S = q.shape[2], k.shape[2]
    logits = q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5  # (B, H, T, S)
    if is_causal:
        allowed = torch.ones(T, S, dtype=torch.bool, device=q.device).tril()
        logits = logits.masked_fill(~allowed, float("-inf"))
    if mask is not None:
        logits = (
            logits.masked_fill(~mask, float("-inf")) if mask.dtype == torch.bool else logits + mask
        )
    weights = logits.softmax(dim=-1)
    keep.append(weights)
    return weights @ v  # (B, H, T, K)


class SwiGLU(nn.Module):
    """``down(silu(gate(x)) * up(x))`` with gate and up fused."""

    def __init__(self, d_model: int, d_ff: int) -> None:
        super().__init__()
        self.gate_up = nn.Linear(d_model, 2 * d_ff, bias=False)
        self.down = nn.Linear(d_ff, d_model, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        """(B, T, D) -> (B, T, D)."""
        gate, up = F.linear(x, self.gate_up.weight).chunk(2, dim=-1)  # 2 x (B, T, F)
        return F.linear(F.silu(gate) * up, self.down.weight)


class Block(nn.Module):
    """Pre-norm block: attention then SwiGLU, each with a residual connection."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.attn_norm = RMSNorm(config.d_model, config.norm_eps)
        self.attn = Attention(config)
        self.mlp_norm = RMSNorm(config.d_model, config.norm_eps)
        self.mlp = SwiGLU(config.d_model, config.ff_width)
        self.p_drop = config.dropout

    def forward(
        self, x: Tensor, rot: Rotation | None, mask: Tensor | None, is_causal: bool, **attn_kwargs
    ) -> Tensor:
        """(B, T, D) -> (B, T, D).

        Sub-modules are called through ``.forward`` and functional ops (no module hooks): this
        halves the per-token overhead of cached decoding.
        """
        norm1, norm2 = self.attn_norm, self.mlp_norm
        h = self.attn.forward(
            rms_norm(x, norm1.weight, norm1.eps), rot, mask, is_causal, **attn_kwargs
        )
        x = x + self._drop(h)
        return x + self._drop(self.mlp.forward(rms_norm(x, norm2.weight, norm2.eps)))

    def _drop(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.p_drop, self.training) if self.p_drop else x


class Transformer(nn.Module):
    """Decoder-only Transformer; ``model(tokens, positions=None)`` -> logits (B, T, V).

    Without ``positions`` they come from ``config.separators`` (:meth:`positions`). In training
    mode ``generator`` feeds encodings that sample (randomized RoPE); None means torch's default
    generator.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(config.vocab_size, config.d_model)
        self.encoding = resolve_encoding(config.pe).build(config)
        self.layer_kinds = layer_kinds(config.layer_pattern, config.n_layers)
        self.global_encoding = (
            resolve_encoding(config.global_pe).build(config) if "G" in self.layer_kinds else None
        )
        if not config.causal:
            for encoding in self._encodings():
                set_bidirectional(encoding)
        if self.global_encoding is not None and self.encoding.uses_content:
            raise ValueError(
                f"pe={config.pe!r} reads attention content with per-layer modules; global "
                f"layers (layer_pattern {config.layer_pattern!r}) would leave theirs unused"
            )
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layers))
        self.norm = RMSNorm(config.d_model, config.norm_eps)
        self.head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        self.drop = nn.Dropout(config.dropout)
        self.apply(_init_weights)
        if config.tie_embeddings:
            self.head.weight = self.embed.weight

    @property
    def invariant_streams(self) -> tuple[str, ...]:
        """Streams whose uniform shift leaves the model's output unchanged: those of every
        layer's encoding (the token index drops out with ``global_log_scale_len``)."""
        shared = set.intersection(*(set(e.invariant_streams) for e in self._encodings()))
        if self.global_encoding is not None and self.config.global_log_scale_len is not None:
            shared.discard("index")
        return tuple(s for s in self.encoding.invariant_streams if s in shared)

    def positions(self, tokens: Tensor) -> Positions:
        """Default positions of tokens (B, T): index 0..T-1, seg/intra from the separators."""
        return default_positions(tokens, self.config.level_separators())

    def forward(
        self,
        tokens: Tensor,
        positions: Positions | None = None,
        *,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """tokens (B, T) long -> logits (B, T, V)."""
        return self.run(tokens, positions, generator=generator)

    def attention_maps(self, tokens: Tensor, positions: Positions | None = None) -> list[Tensor]:
        """Attention weights of every layer, each (B, H, T, T), from an explicit softmax (the
        logits equal the SDPA forward's; wrap in ``torch.no_grad()`` for diagnostics)."""
        maps: list[Tensor] = []
        self.run(tokens, positions, keep_weights=maps)
        return maps

    def run(
        self,
        tokens: Tensor,
        positions: Positions | None = None,
        *,
        cache: KVCache | None = None,
        start: int = 0,
        key_valid: Tensor | None = None,
        generator: torch.Generator | None = None,
        keep_weights: list | None = None,
    ) -> Tensor:
        """The forward in full: tokens (B, T) at slots ``start:start+T`` -> logits (B, T, V).

        ``cache`` holds earlier keys (slots < start) and receives these; ``key_valid`` (B, S)
        masks padding keys (S = start + T). Used by :func:`bipe.models.generate`.
        """
        dtype = self.compute_dtype()
        return in_compute_dtype(
            dtype,
            tokens.device,
            lambda: self._run(
                tokens, positions, cache, start, key_valid, generator, keep_weights, dtype
            ),
        )

    def compute_dtype(self) -> torch.dtype:
        """dtype of activations, keys and values: the parameters' or bfloat16 (autocast;
        ``auto`` resolved for the parameters' device, ``models/precision.py``)."""
        return compute_dtype(self.config, self.embed.weight)

    def _run(self, tokens, positions, cache, start, key_valid, generator, keep_weights, dtype):
        B, T = tokens.shape
        if not self.config.causal and (cache is not None or start > 0):
            raise ValueError(
                "a non-causal model (model.causal=false) cannot decode with a KV cache"
            )
        pos = prepared_positions(self.encoding, self.config, tokens, positions, generator)
        limits = [e.cached_position_limit for e in self._encodings() if e.cached_position_limit]
        if cache is not None and limits:
            _check_cached_positions(pos, min(limits), self.config.pe)
        if cache is not None and any(e.uses_bias or e.uses_content for e in self._encodings()):
            cache.write_positions(pos, start)
        k_pos = cache.positions.select(0, start + T) if cache is not None else pos
        # the local encoding's embed acts once on the input; each kind of layer has its own
        # rotation, mask and content hooks (models/layers.py)
        inputs = {
            kind: self._layer_inputs(kind, pos, k_pos, cache, start, key_valid, T, dtype)
            for kind in {"L", *self.layer_kinds}
        }
        x = self.embed(tokens)  # (B, T, D)
        embed = inputs["L"][0]
        if embed is not None:
            x = x + embed.to(x.dtype)
        x = self.drop(x)
        for i, block in enumerate(self.blocks):
            _, rot, mask, is_causal, hooks = inputs[self.layer_kinds[i]]
            layer_cache = (cache.keys[i], cache.values[i]) if cache is not None else None
            x = block.forward(
                x,
                rot,
                mask,
                is_causal,
                cache=layer_cache,
                start=start,
                keep_weights=keep_weights,
                content=hooks and hooks(i),
            )
        return F.linear(rms_norm(x, self.norm.weight, self.norm.eps), self.head.weight)

    def _encodings(self) -> tuple:
        """The local encoding, and the global layers' if any (``models/layers.py``)."""
        if self.global_encoding is None:
            return (self.encoding,)
        return (self.encoding, self.global_encoding)

    def _layer_inputs(self, kind, pos, k_pos, cache, start, key_valid, T, dtype):
        """``(embed, rotation, mask, is_causal, content hooks)`` of the layers of ``kind``:
        the local encoding (``L``, within ``config.window``) or the global one (``G``: full
        causal attention, the optional log-length query scaling)."""
        cfg = self.config
        enc = self.encoding if kind == "L" else self.global_encoding
        window = cfg.window if kind == "L" else None
        # a bias or content hook folds the mask in; else plain causal runs the fast kernel
        masked = key_valid is not None or (start > 0 and T > 1) or window is not None
        allowed = full = None
        if enc.uses_bias or enc.uses_content or masked:
            full = allowed_keys(T, start, key_valid, pos.index.device, cfg.causal)  # (B|1, 1, T, S)
            allowed = windowed(full, start, window)
        terms = positional_terms(enc, pos, k_pos, allowed, dtype)
        rot = terms.rotation
        if kind == "G" and cfg.global_log_scale_len is not None:
            rot = scaled_queries(rot, pos, cfg.global_log_scale_len, cfg.d_head)
        mask, is_causal = None, cfg.causal and key_valid is None and start == 0 and window is None
        if terms.bias is not None:
            mask, is_causal = terms.bias, False  # (B|1, H|1, T, S) float
        elif masked:
            mask = allowed
        # content hooks see the causal mask (PaTH's transforms and CoPE's gates run over every
        # earlier token); the window then masks their term
        hooks = self._content_hooks(enc, pos, k_pos, full, cache, start)
        if hooks is not None and window is not None:
            hooks = _windowed_hooks(hooks, allowed)
        return terms.embed, rot, mask, is_causal, hooks

    def _content_hooks(self, enc, pos, k_pos, allowed, cache, start):
        """``layer -> content hook`` for encodings that read content, else None."""
        if not enc.uses_content:
            return None
        width = enc.key_state_width
        if cache is not None and width and not cache.states:
            raise ValueError(
                f"pe={self.config.pe!r} keeps per-key state: build the cache with "
                f"KVCache.empty(..., state_width={width})"
            )
        states = cache.states if cache is not None else ()
        return layer_hooks(enc, pos, k_pos, allowed, start, states)

    def generate(self, prompt: Tensor, max_new_tokens: int, **kwargs) -> Tensor:
        """Decode ``max_new_tokens`` after ``prompt`` (B, T0); see :func:`bipe.models.generate`."""
        from .generate import generate

        return generate(self, prompt, max_new_tokens, **kwargs)


def _windowed_hooks(hooks: Callable, allowed: Tensor) -> Callable:
    """``layer -> content hook`` whose term is -inf outside ``allowed`` (B|1, 1, T, S)."""

    def for_layer(layer: int) -> Callable:
        hook = hooks(layer)
        return lambda q, k, h: hook(q, k, h).masked_fill(~allowed, float("-inf"))

    return for_layer


def _check_cached_positions(pos: Positions, limit: int, pe: str) -> None:
    """Cached decoding of an encoding with a ``cached_position_limit`` stays below it."""
    top = int(pos.index.max())
    if top >= limit:
        raise ValueError(
            f"pe={pe!r}: cached decoding is exact only below position {limit} (got {top}); "
            "decode without the cache (use_cache=False)"
        )


def _init_weights(module: nn.Module) -> None:
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, mean=0.0, std=INIT_STD)
        bias = getattr(module, "bias", None)
        if bias is not None:
            nn.init.zeros_(bias)
