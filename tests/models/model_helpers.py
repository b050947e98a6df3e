"""Shared helpers for the models tests: tiny configs for every registry entry, token batches
rich in separators, and slow obviously-correct references for the positional math."""

from __future__ import annotations

import math

import torch

from bipe.models import ENCODINGS, ModelConfig, Transformer, resolve_encoding

VOCAB = 12
SEP, OUTER_SEP = 10, 11

# Every registry entry with default options, plus the bipe/hbipe combinations worth covering.
VARIANTS: list[tuple[str, dict]] = [(name, {}) for name in ENCODINGS] + [
    ("bipe", {"bipe_intra": "sinusoidal", "bipe_inter": "t5"}),
    ("bipe", {"bipe_inter": "xpos"}),
    ("bipe", {"bipe_inter": "fire"}),
    ("bipe", {"bipe_inter": "alibi", "bipe_intra": "sinusoidal"}),
    ("hbipe", {"bipe_inter": "alibi"}),
    ("rope", {"rope_scaling": "yarn", "rope_scaling_factor": 4.0, "rope_original_len": 16}),
    ("bipe_rope", {"rope_scaling": "ntk", "rope_scaling_factor": 2.0}),
    ("bipe", {"bipe_inter": "cope", "bipe_intra": "sinusoidal"}),
    ("hirope", {"hirope_inner": "index", "hirope_seg_share": 0.25}),
    ("bipe_rope", {"rope_variant": "resonance", "log_scale": "official", "log_scale_len": 4}),
    ("rope", {"rope_variant": "p_rope", "log_scale": "clamped", "log_scale_len": 4}),
    ("rope", {"pose_target_len": 80, "pose_chunks": 3}),
    ("hirope", {"hirope_bands": "interleaved"}),
    ("hirope", {"hirope_bands": "high", "hirope_inner": "index"}),
    ("path", {"path_w_rank": 4}),
    ("rope", {"layer_pattern": "LG", "window": 3, "global_log_scale_len": 4}),  # SWAN-GPT
    ("intra_rope", {"layer_pattern": "GL", "window": 5, "global_pe": "seg_rope"}),  # bilevel
    ("bipe_alibi", {"window": 4}),  # a window alone, with a bias
    ("fox", {"window": 6}),  # a window with a content hook and cache state
    ("bipe_path", {"window": 4}),  # transforms of every earlier token, keys in the window
]
VARIANT_IDS = [name + "".join(f"-{v}" for v in extra.values()) for name, extra in VARIANTS]


def tiny_config(pe: str, **overrides) -> ModelConfig:
    """2 layers, width 32, 4 heads; separators 10 (and 11 as hbipe's outer level); float32
    pinned (exactness tests; ``auto`` would pick bf16 on CPUs with native bf16)."""
    seps = (SEP, OUTER_SEP) if pe == "hbipe" else (SEP,)
    kwargs = {**dict(pe=pe, separators=seps, d_ff=48, compute_dtype="float32"), **overrides}
    # encoding options for the entries that read them (an unread one is refused)
    read = resolve_encoding(pe).options_read(ModelConfig(VOCAB, 32, 2, 4, **kwargs))
    options = dict(max_intra=40, max_len=64, randomized_max_pos=128, fire_threshold=8.0)
    kwargs.update({k: v for k, v in options.items() if k in read and k not in overrides})
    return ModelConfig(VOCAB, 32, 2, 4, **kwargs)


def tiny_model(pe: str, seed: int = 0, dtype=torch.float64, **overrides) -> Transformer:
    """An eval-mode float64 model with weights from ``torch.manual_seed(seed)``; learned
    tables and relative biases get a larger spread so the encodings visibly matter."""
    torch.manual_seed(seed)
    model = Transformer(tiny_config(pe, **overrides)).to(dtype).eval()
    with torch.no_grad():
        for name, p in model.encoding.named_parameters():
            if any(s in name for s in ("table", "mlp", "gate", "phase")):
                p.normal_(0.0, 0.5)
    return model


def tokens(seed: int, batch: int = 3, length: int = 20) -> torch.Tensor:
    """(B, T) random tokens where about a third are separators."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randint(0, SEP, (batch, length), generator=gen)
    sep = torch.rand(batch, length, generator=gen)
    x = torch.where(sep < 0.25, torch.full_like(x, SEP), x)
    return torch.where(sep > 0.92, torch.full_like(x, OUTER_SEP), x)


def ref_rotate(
    x: torch.Tensor, pos: torch.Tensor, inv_freq: list[float], scale: list[float] | None = None
) -> torch.Tensor:
    """Rotate-half RoPE of x (B, T, H, K) at positions pos (B, T) or (B, T, H), one pair at a
    time; pair i optionally multiplied by scale[i] ** pos (xPos)."""
    B, T, H, K = x.shape
    out = torch.empty_like(x)
    for b in range(B):
        for t in range(T):
            for h in range(H):
                p = float(pos[b, t, h] if pos.dim() == 3 else pos[b, t])
                for i in range(K // 2):
                    c, s = math.cos(p * inv_freq[i]), math.sin(p * inv_freq[i])
                    f = scale[i] ** p if scale is not None else 1.0
                    a, b2 = float(x[b, t, h, i]), float(x[b, t, h, i + K // 2])
                    out[b, t, h, i] = (a * c - b2 * s) * f
                    out[b, t, h, i + K // 2] = (b2 * c + a * s) * f
    return out
