"""bipe.models: a small decoder-only Transformer with pluggable positional encodings.

Shape legend: B batch, T query length, S key length, D model width, H heads, K head width,
V vocabulary.

Quick start::

    import torch
    from bipe.models import ModelConfig, Transformer

    torch.manual_seed(0)                       # initialisation uses torch's default generator
    cfg = ModelConfig(16, 64, 2, 4, pe="bipe_rope", separators=(15,), max_intra=32)
    model = Transformer(cfg)
    tokens = torch.randint(0, 16, (2, 20))
    logits = model(tokens)                     # (2, 20, 16); seg/intra from the separators
    out = model.generate(tokens[:, :5], 10)    # (2, 15), KV cache, streaming positions
"""

from .bias import alibi_slopes, t5_buckets
from .checkpoint import load, save
from .config import ModelConfig
from .encoding import Encoding, Rotation, apply_rotation
from .generate import generate
from .llama import from_hf_llama, to_hf_llama
from .positions import (
    Positions,
    bilevel_positions,
    default_positions,
    left_padded_positions,
    multilevel_positions,
    next_positions,
)
from .registry import ENCODINGS
from .rope import randomized_positions, rope_angles, rope_frequencies
from .transformer import KVCache, Transformer

__all__ = [
    "ENCODINGS", "Encoding", "KVCache", "ModelConfig", "Positions", "Rotation", "Transformer",
    "alibi_slopes", "apply_rotation", "bilevel_positions", "default_positions", "from_hf_llama",
    "generate", "left_padded_positions", "load", "multilevel_positions", "next_positions",
    "randomized_positions", "rope_angles", "rope_frequencies", "save", "t5_buckets",
    "to_hf_llama",
]
