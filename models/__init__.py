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

Encodings (``ModelConfig.pe``, the registry :data:`ENCODINGS`): ``nope``, ``sinusoidal``,
``learned`` (table of ``max_len`` rows, ValueError past it), ``rope`` (``rope_scaling`` none /
pi / ntk / yarn), ``alibi``, ``xpos``, ``randomized_rope`` (random ordered training positions
from ``[0, randomized_max_pos)``), ``t5`` (bucketed relative bias), ``fire``, and the BiPE
family: ``bipe_rope`` (learned intra table + RoPE on the segment index), ``bipe_alibi``
(learned intra table + ALiBi on the segment index, slopes x96 as in the official code),
``bipe`` (``bipe_intra`` learned|sinusoidal x ``bipe_inter`` rope|alibi|xpos|t5|fire) and
``hbipe`` (several separator levels; the relative encoding's heads are split into one group per
level). Newer entries (``docs/method.md#newer-encodings``): ``cope``, ``fox`` and
``bipe_cope`` (content-aware, through the ``content`` hook), ``hirope``, ``resonance_rope`` and
``p_rope``; every RoPE takes ``rope_variant``, PoSE (``pose_target_len``) and ``log_scale``.
Plug-ins: ``pe`` may also be ``FILE.py:NAME``, ``package.module:NAME`` or an installed
``bipe.encodings`` entry point naming an :class:`EncodingEntry` (:func:`resolve_encoding`,
``docs/extending.md``). Every encoding acts through the hooks of :class:`Encoding` with explicit
:class:`Positions` (token index, segment index, intra position, outer levels).

Intra overflow (BiPE tables): positions past the *trained* rows follow ``intra_overflow``
(``clamp`` to the last trained row, ``sinusoidal``, or ``error``); the model records which rows
a training-mode forward used, so an untrained row is never read.

Speed: ``compute_dtype="bfloat16"`` runs matmuls and attention under bf16 autocast (weights
and logits stay float32); ``benchmarks/bench_models.py`` compares against transformers' Llama.
Interop: :func:`to_hf_llama` / :func:`from_hf_llama`; persistence: :func:`save` / :func:`load`.
"""

from .bias import alibi_slopes, t5_buckets
from .checkpoint import load, save
from .config import ModelConfig
from .encoding import Encoding, Rotation, apply_rotation
from .generate import generate
from .llama import from_hf_llama, to_hf_llama
from .plugins import encoding_source, resolve_encoding
from .positions import (
    Positions,
    bilevel_positions,
    default_positions,
    left_padded_positions,
    multilevel_positions,
    next_positions,
)
from .registry import ENCODINGS, REGISTRY, EncodingEntry, Option
from .rope import randomized_positions, rope_angles, rope_frequencies
from .transformer import KVCache, Transformer

__all__ = [
    "ENCODINGS",
    "REGISTRY",
    "Encoding",
    "EncodingEntry",
    "KVCache",
    "ModelConfig",
    "Option",
    "Positions",
    "Rotation",
    "Transformer",
    "alibi_slopes",
    "apply_rotation",
    "bilevel_positions",
    "default_positions",
    "encoding_source",
    "from_hf_llama",
    "generate",
    "left_padded_positions",
    "load",
    "multilevel_positions",
    "next_positions",
    "randomized_positions",
    "resolve_encoding",
    "rope_angles",
    "rope_frequencies",
    "save",
    "t5_buckets",
    "to_hf_llama",
]
