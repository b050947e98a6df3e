"""ModelConfig: the frozen, validated description of a Transformer and its positional encoding.

Shape legend (all ``models`` files): B batch, T query length, S key length, D model width,
H heads, K head width, V vocabulary.

Every field is plain data (ints, floats, strings, tuples), so a config round-trips through
``to_dict``/``from_dict`` and JSON. ``pe`` names an entry of :data:`bipe.models.ENCODINGS`
or a plug-in (:func:`bipe.models.resolve_encoding`); each entry declares the options it reads,
and a non-default option that the chosen entry does not read is refused.

Example::

    >>> cfg = ModelConfig(32, 64, 2, 4, pe="bipe_rope", separators=(9,), max_intra=64)
    >>> cfg.d_head, cfg.ff_width
    (16, 256)
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import KW_ONLY, dataclass, field
from typing import Any

INTRA_OVERFLOW = ("clamp", "sinusoidal", "error")
BIPE_INTRA = ("learned", "sinusoidal")
BIPE_INTER = ("rope", "alibi", "xpos", "t5", "fire", "cope")
ROPE_SCALING = ("none", "pi", "ntk", "yarn")
COMPUTE_DTYPES = ("auto", "float32", "bfloat16")
ROPE_VARIANTS = ("none", "resonance", "p_rope")
HBIPE_INTER = ("rope", "alibi")
LOG_SCALES = ("none", "official", "clamped")
HIROPE_INNER = ("intra", "index")
HIROPE_BANDS = ("low", "high", "interleaved")
OFFICIAL_BIPE_ALIBI_SLOPE_SCALE = 96.0


@dataclass(frozen=True)
class ModelConfig:
    """A decoder-only Transformer with a registry positional encoding.

    Trunk: ``vocab_size`` V, ``d_model`` D, ``n_layers``, ``n_heads`` H, ``d_ff`` (SwiGLU hidden
    width, default ``4 * d_model``), ``dropout`` (residual and attention), ``tie_embeddings``,
    ``norm_eps`` (RMSNorm epsilon), ``compute_dtype``: ``float32``, ``bfloat16`` to run the
    forward under ``torch.autocast`` (weights, norms, softmax statistics and logits stay
    float32; matmuls and attention run in bfloat16, several times faster on CPUs with
    AMX/AVX512-BF16, several times slower on CPUs without), or ``auto`` (the default):
    bfloat16 where the device computes it natively, else float32 (``models/precision.py``;
    training runs record the resolved choice). Exactness claims (cached decoding equals
    recomputation token for token) hold in float32/float64; in bfloat16 up to rounding.
    ``causal``: True (the default) masks later keys; False makes a bidirectional encoder (the
    Chomsky-hierarchy reference protocol): every position sees every token, the encodings use
    their bidirectional forms (``docs/method.md#the-chomsky-hierarchy-suite``) and an encoding
    without one is refused here; such a model cannot decode with a KV cache.

    Positions: ``pe`` is an :data:`ENCODINGS` name or a plug-in spec (``FILE.py:NAME``,
    ``package.module:NAME``, a ``bipe.encodings`` entry point); ``separators`` are the token
    ids that close a segment (docs/method.md#positions). For ``pe="hbipe"`` (a multi-level
    entry) entry k of ``separators`` is the separator id (an int, or a tuple of ints) closing
    a level-k unit, innermost first (at least two levels).

    Encoding options (each registry entry declares the ones it reads; setting another to a
    non-default value is a ValueError naming the entry's options; ``opt`` maps a plug-in's own
    option names to values, ``--model.opt.NAME``; read any option with :meth:`option`):

    - ``max_len``: rows of the ``learned`` absolute table; a position past it is a ValueError.
    - ``max_intra``: rows of the BiPE intra table; set it to the largest intra position seen in
      training. ``intra_overflow`` says what an intra position past the *trained* rows gets:
      ``clamp`` (the last trained row), ``sinusoidal`` (a sinusoidal vector scaled to the trained
      rows' mean norm) or ``error``. A row counts as trained once a training-mode forward has
      used it (the model records this in a buffer saved with the weights).
    - ``bipe_intra`` / ``bipe_inter``: the absolute and relative halves of ``pe="bipe"``
      (``bipe_inter`` also picks hbipe's level encoding, ``rope`` or ``alibi``).
    - ``rope_base``; ``rope_scaling`` in none/pi/ntk/yarn with ``rope_scaling_factor`` (s > 1
      stretches the usable range s times) and ``rope_original_len`` (training length in the
      rotated stream's units; YaRN needs it). Applies to ``rope``, ``randomized_rope`` and every
      rope rotation of the BiPE family.
    - ``alibi_slope_scale``: multiplies the Press et al. slopes. ``None`` means the encoding's
      documented default: 1 for ``alibi``, 96 (official BiPE-ALiBi LM code) for ``bipe_alibi``
      and bipe/hbipe with ALiBi. :meth:`resolved_alibi_slope_scale` returns the value in use.
    - ``xpos_scale_base`` (xPos decay length), ``randomized_max_pos`` (Ruoss et al.: training
      positions are a sorted random subset of ``[0, randomized_max_pos)``), ``t5_n_buckets`` and
      ``t5_max_distance`` (T5 buckets), ``fire_d_hidden`` and ``fire_threshold`` (FIRE's MLP width
      and the initial value of its learnable threshold L).

    Newer encodings and RoPE options (``docs/method.md#newer-encodings``):

    - ``cope_max_pos``: rows P of CoPE's position table (``cope``, ``bipe_cope``); contextual
      positions are clamped at P - 1.
    - ``hirope_seg_share``: share of the rotary pairs (the slowest) that ``hirope`` turns by the
      segment index; ``hirope_inner`` (``intra`` or ``index``) turns the rest;
      ``hirope_bands`` says which pairs carry the segment index: ``low`` (the slowest, the
      default), ``high`` (the fastest) or ``interleaved`` (spread evenly over the spectrum).
    - ``path_w_rank``: rank R of PaTH's low-rank w projection (``path``, ``bipe_path``).
    - ``randomized_max_pos`` is also the range M of the random float training positions of
      ``rfs_sinusoidal``, ``rfs_rope`` and ``rfs_alibi`` (token index); ``rfs_max_seg`` is the
      range of those of ``bipe_rfs_rope`` and ``bipe_rfs_alibi`` (segment index).

    Interleaved layers (SWAN-GPT, iRoPE; ``models/layers.py``), for every ``pe`` (model
    options, not encoding options): ``layer_pattern`` (``L`` local / ``G`` global, repeated over
    the layers; empty: all local), ``window`` (local layers see the last ``window`` keys; None:
    all), ``global_pe`` (the global layers' encoding, ``nope`` by default; ``pe`` is the local
    layers') and ``global_log_scale_len`` (global layers scale queries by
    ``max(1, log(p + 1) / log(global_log_scale_len))``; None: off).
    - ``rope_variant`` (``none``, ``resonance``: integer wavelengths, ``p_rope``: the slowest
      ``p_rope_share`` of the pairs unrotated) applies to every RoPE of the family (``rope``,
      ``randomized_rope``, ``bipe_rope``, ``bipe``/``hbipe`` with rope, ``hirope``); the
      entries ``resonance_rope`` and ``p_rope`` fix it (leave it ``none`` there).
    - ``pose_target_len`` (None: off) and ``pose_chunks``: PoSE training-time position skipping
      of the rotated stream (token index; segment index for the BiPE family): training
      positions spread over ``[0, pose_target_len)``; evaluation uses the plain positions.
    - ``log_scale`` (``none``, ``official``: queries times ``log(p + 1) / log(log_scale_len)``
      as in the official BiPE code, ``clamped``: the same but at least 1) of the rotated
      stream's position p; ``log_scale_len`` is the training length.
    """

    vocab_size: int
    d_model: int
    n_layers: int
    n_heads: int
    _: KW_ONLY
    d_ff: int | None = None
    pe: str = "rope"
    separators: tuple = ()
    dropout: float = 0.0
    tie_embeddings: bool = False
    norm_eps: float = 1e-6
    compute_dtype: str = "auto"
    causal: bool = True
    max_len: int = 2048
    max_intra: int = 256
    intra_overflow: str = "clamp"
    bipe_intra: str = "learned"
    bipe_inter: str = "rope"
    rope_base: float = 10000.0
    rope_scaling: str = "none"
    rope_scaling_factor: float = 1.0
    rope_original_len: int | None = None
    alibi_slope_scale: float | None = None
    xpos_scale_base: float = 512.0
    randomized_max_pos: int = 2048
    t5_n_buckets: int = 32
    t5_max_distance: int = 128
    fire_d_hidden: int = 32
    fire_threshold: float = 512.0
    cope_max_pos: int = 64
    hirope_seg_share: float = 0.5
    hirope_inner: str = "intra"
    rope_variant: str = "none"
    p_rope_share: float = 0.25
    pose_target_len: int | None = None
    pose_chunks: int = 2
    log_scale: str = "none"
    log_scale_len: int | None = None
    hirope_bands: str = "low"
    path_w_rank: int = 32
    rfs_max_seg: int = 64
    layer_pattern: str = ""
    window: int | None = None
    global_pe: str = "nope"
    global_log_scale_len: int | None = None
    opt: dict = field(default_factory=dict, metadata={"omit_if_empty": True})

    def __post_init__(self) -> None:
        from .registry import resolve_encoding  # lazy: the registry imports the encodings

        for name in (
            "vocab_size",
            "d_model",
            "n_layers",
            "n_heads",
            "max_len",
            "max_intra",
            "randomized_max_pos",
            "t5_n_buckets",
            "t5_max_distance",
            "fire_d_hidden",
            "cope_max_pos",
            "pose_chunks",
            "path_w_rank",
            "rfs_max_seg",
        ):
            _check_positive_int(name, getattr(self, name))
        if self.d_ff is not None:
            _check_positive_int("d_ff", self.d_ff)
        if self.d_model % self.n_heads:
            raise ValueError(
                f"d_model ({self.d_model}) must be a multiple of n_heads ({self.n_heads})"
            )
        if self.d_head % 2:
            raise ValueError(f"d_model / n_heads = {self.d_head} must be even (rotary pairs)")
        entry = resolve_encoding(self.pe)
        if not isinstance(self.opt, dict) or not all(isinstance(k, str) for k in self.opt):
            raise ValueError(f"opt must be a dict of option names to values, got {self.opt!r}")
        _check_choice("intra_overflow", self.intra_overflow, INTRA_OVERFLOW)
        _check_choice("bipe_intra", self.bipe_intra, BIPE_INTRA)
        _check_choice("bipe_inter", self.bipe_inter, BIPE_INTER)
        _check_choice("rope_scaling", self.rope_scaling, ROPE_SCALING)
        _check_choice("compute_dtype", self.compute_dtype, COMPUTE_DTYPES)
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        for name in ("norm_eps", "rope_base", "xpos_scale_base", "fire_threshold"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number, got {value!r}")
        if self.rope_base <= 1:
            raise ValueError(f"rope_base must be > 1, got {self.rope_base}")
        if not self.rope_scaling_factor >= 1.0:
            raise ValueError(f"rope_scaling_factor must be >= 1, got {self.rope_scaling_factor}")
        if self.rope_scaling == "yarn" and self.rope_original_len is None:
            raise ValueError("rope_scaling='yarn' needs rope_original_len (the training length)")
        if self.rope_original_len is not None:
            _check_positive_int("rope_original_len", self.rope_original_len)
        if self.alibi_slope_scale is not None and not self.alibi_slope_scale > 0:
            raise ValueError(f"alibi_slope_scale must be > 0, got {self.alibi_slope_scale}")
        if self.t5_max_distance <= self.t5_n_buckets // 2:
            raise ValueError(
                f"t5_max_distance ({self.t5_max_distance}) must exceed "
                f"t5_n_buckets / 2 ({self.t5_n_buckets // 2})"
            )
        self._check_separators(entry.multi_level)
        self._check_newer()
        if not isinstance(self.causal, bool):
            raise ValueError(f"causal must be true or false, got {self.causal!r}")
        if not self.causal:
            import torch

            from .encoding import bidirectional_refusals

            with torch.random.fork_rng(devices=[]):  # building draws initial weights
                refusals = bidirectional_refusals(entry.build(self))
            if refusals:
                raise ValueError(f"pe={self.pe!r} cannot run with causal=false: {refusals[0]}")
        self._check_layers()

    def _check_newer(self) -> None:
        from .registry import check_options

        _check_choice("rope_variant", self.rope_variant, ROPE_VARIANTS)
        _check_choice("log_scale", self.log_scale, LOG_SCALES)
        _check_choice("hirope_inner", self.hirope_inner, HIROPE_INNER)
        _check_choice("hirope_bands", self.hirope_bands, HIROPE_BANDS)
        for name in ("hirope_seg_share", "p_rope_share"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not 0.0 <= value <= 1.0
            ):
                raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
        for name in ("pose_target_len", "log_scale_len"):
            if getattr(self, name) is not None:
                _check_positive_int(name, getattr(self, name))
        check_options(self)  # an option the encoding does not read; the entry's own checks
        if self.log_scale != "none" and self.log_scale_len is None:
            raise ValueError("log_scale needs log_scale_len (the training length)")
        if self.log_scale_len is not None and self.log_scale_len < 2:
            raise ValueError(f"log_scale_len must be >= 2, got {self.log_scale_len}")

    def _check_layers(self) -> None:
        from .layers import GLOBAL_PES, LAYER_KINDS

        if not isinstance(self.layer_pattern, str) or set(self.layer_pattern) - set(LAYER_KINDS):
            raise ValueError(
                f"layer_pattern must be a string of L (local) and G (global), "
                f"got {self.layer_pattern!r}"
            )
        for name in ("window", "global_log_scale_len"):
            if getattr(self, name) is not None:
                _check_positive_int(name, getattr(self, name))
        _check_choice("global_pe", self.global_pe, GLOBAL_PES)
        has_global = "G" in self.layer_pattern
        if not has_global and (self.global_pe != "nope" or self.global_log_scale_len is not None):
            raise ValueError(
                "global_pe and global_log_scale_len apply to global layers: "
                f"layer_pattern {self.layer_pattern!r} has no G"
            )
        if self.global_log_scale_len is not None and self.global_log_scale_len < 2:
            raise ValueError(f"global_log_scale_len must be >= 2, got {self.global_log_scale_len}")

    def _check_separators(self, multi_level: bool) -> None:
        if not isinstance(self.separators, tuple):
            raise ValueError(f"separators must be a tuple, got {type(self.separators).__name__}")
        if not multi_level:
            for s in self.separators:
                _check_token("separators", s, self.vocab_size)
            return
        seen: set[int] = set()
        for level in self.separators:
            for s in level if isinstance(level, tuple) else (level,):
                _check_token("separators", s, self.vocab_size)
                if s in seen:
                    raise ValueError(f"separator {s} appears at two {self.pe} levels")
                seen.add(s)

    @property
    def d_head(self) -> int:
        """Head width K = d_model / n_heads."""
        return self.d_model // self.n_heads

    @property
    def ff_width(self) -> int:
        """SwiGLU hidden width: ``d_ff`` or ``4 * d_model``."""
        return self.d_ff if self.d_ff is not None else 4 * self.d_model

    def level_separators(self) -> tuple[tuple[int, ...], ...]:
        """Separator ids per level, innermost first: one level except for a multi-level
        encoding (``hbipe``)."""
        from .registry import resolve_encoding

        if not resolve_encoding(self.pe).multi_level:
            return (tuple(int(s) for s in self.separators),)
        return tuple(
            tuple(int(s) for s in (lv if isinstance(lv, tuple) else (lv,)))
            for lv in self.separators
        )

    def resolved_alibi_slope_scale(self) -> float:
        """The ALiBi slope multiplier in use: the field, else the entry's declared default
        (1 for alibi, 96 for the BiPE family)."""
        from .registry import resolve_encoding

        if self.alibi_slope_scale is not None:
            return float(self.alibi_slope_scale)
        declared = {o.name: o.default for o in resolve_encoding(self.pe).options}
        return float(declared.get("alibi_slope_scale", OFFICIAL_BIPE_ALIBI_SLOPE_SCALE))

    def option(self, name: str) -> Any:
        """The value of encoding option ``name``: its field (``rope_base``...), else the
        ``opt`` entry, else the encoding's declared default (a plug-in reads its options so)."""
        from .registry import option_value

        return option_value(self, name)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (tuples become lists)."""
        out = dataclasses.asdict(self)
        if not self.opt:  # metadata omit_if_empty
            del out["opt"]  # as before plug-in options existed (old readers, same files)
        out["separators"] = [list(s) if isinstance(s, tuple) else s for s in self.separators]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """Inverse of :meth:`to_dict`; unknown keys are a ValueError naming them."""
        if not isinstance(data, dict):
            raise ValueError(f"model config must be a dict, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown model config keys: {', '.join(unknown)}")
        data = dict(data)
        if "separators" in data:
            data["separators"] = tuple(
                tuple(s) if isinstance(s, list) else s for s in data["separators"]
            )
        try:
            return cls(**data)
        except TypeError as err:
            raise ValueError(f"bad model config: {err}") from None


def _check_positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; known: {', '.join(choices)}")


def _check_token(name: str, value: Any, vocab_size: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < vocab_size:
        raise ValueError(f"{name} entries must be token ids in [0, {vocab_size}), got {value!r}")
