"""REGISTRY: the positional encodings (name -> :class:`EncodingEntry`: a constructor taking a
ModelConfig and the formula of its parameter count); ``ENCODINGS`` maps names to constructors.

Shape legend: H heads, K head width, D model width.

The only place that turns a ``pe`` name into modules. BiPE entries are compositions:

- ``bipe_rope`` = learned intra table + RoPE on the segment index (official BiPE-RoPE);
- ``bipe_alibi`` = learned intra table + ALiBi on the segment index, slopes x96 by default;
- ``bipe`` = ``bipe_intra`` (learned | sinusoidal on intra) + ``bipe_inter`` (rope | alibi |
  xpos | t5 | fire on seg);
- ``bipe_cope`` = learned intra table + BiPE-CoPE (CoPE whose gates count only at separators,
  so the contextual position counts segments; also ``bipe`` with ``bipe_inter="cope"``);
- ``hbipe`` = absolute encoding of intra (the position inside the smallest unit) + one relative
  encoding (``bipe_inter``: rope or alibi) whose heads are split into contiguous groups, one
  per level, innermost first: head group g rotates (or is biased) by level g's index (see
  :mod:`bipe.models.positions`). With 4 heads and 2 levels, heads 0-1 see word distances and
  heads 2-3 sentence distances. Levels therefore combine by attention heads, never by summing
  indices, so each head's relative signal stays exactly shift invariant.

Newer entries (``docs/method.md#newer-encodings``; formulas and papers in each class):

- ``cope`` (Golovneva et al. 2024) and ``fox`` (Lin et al. 2025): content-aware, through the
  ``content`` hook (:mod:`bipe.models.content`), with no other positional encoding;
- ``hirope`` (Zhang et al. 2024): a share of each head's rotary pairs turns by the segment
  index, the rest by the intra position or token index (:class:`~bipe.models.rope.HiRope`);
- ``resonance_rope`` (Wang et al. 2024) and ``p_rope`` (Barbero et al. 2025): RoPE with
  integer wavelengths or its slowest pairs unrotated; ``rope_variant`` applies the same
  transforms to every RoPE of the family (``rope``, ``bipe_rope``, ...);
- PoSE (``pose_target_len``) and the official BiPE ``log_scale`` are options of every RoPE.

The 2025 encodings (``docs/method.md#newer-encodings-2025``), each with its bilevel form:

- ``pope`` (Gopalakrishnan et al. 2025, :mod:`bipe.models.polar`): polar RoPE, softplus
  magnitudes and a learned phase bias; ``bipe_pope`` turns it by the segment index;
- ``path`` (Yang et al. 2025, :mod:`bipe.models.path`): data-dependent Householder transforms
  between key and query; ``bipe_path`` keeps them only where a segment begins;
- ``rfs_sinusoidal``, ``rfs_rope``, ``rfs_alibi`` (Shimizu et al. 2026,
  :mod:`bipe.models.random_float`): random float training positions of the token index;
  ``bipe_rfs_rope`` / ``bipe_rfs_alibi`` draw them for the segment index;
- ``intra_rope`` and ``seg_rope``: RoPE on the intra position or on the segment index alone,
  the two halves of the bilevel interleaved layers (``layer_pattern``, ``models/layers.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .absolute import LearnedAbsolute, Sinusoidal
from .bias import Alibi, Fire, T5Bias
from .content import Cope, Fox, SegmentCope
from .encoding import Combined, Count, Encoding, head_levels
from .path import Path
from .polar import Pope
from .random_float import RandomFloat
from .rope import HiRope, RandomizedRope, Rope, XPos

if TYPE_CHECKING:
    from .config import ModelConfig


def _rope_options(cfg: ModelConfig, **override) -> dict:
    """Keyword arguments shared by every RoPE of the family (``override`` wins)."""
    options = dict(
        base=cfg.rope_base,
        scaling=cfg.rope_scaling,
        factor=cfg.rope_scaling_factor,
        original_len=cfg.rope_original_len,
        variant=cfg.rope_variant,
        p_rope_share=cfg.p_rope_share,
        pose_target_len=cfg.pose_target_len,
        pose_chunks=cfg.pose_chunks,
        log_scale=cfg.log_scale,
        log_scale_len=cfg.log_scale_len,
    )
    options.update(override)
    return options


def _rope(cfg: ModelConfig, source: str, **extra) -> Rope:
    return Rope(cfg.d_head, source=source, **_rope_options(cfg, **extra))


def _no_params(cfg: Any) -> Count:
    return 0


@dataclass(frozen=True)
class EncodingEntry:
    """A registry entry: ``build(cfg)`` makes the encoding module; ``n_params(cfg)`` is its
    parameter count, written as plain arithmetic on the config's sizes (``d_model``,
    ``n_heads``, ``d_head``, ...), so that it also runs on sympy symbols
    (:mod:`bipe.analysis.params`). A test checks it against the built module for every entry."""

    build: Callable[[ModelConfig], Encoding]
    n_params: Callable[[Any], Count] = _no_params


# Relative parts of the BiPE family by ``bipe_inter`` kind: build(cfg, source, levels_of_heads).
_RELATIVE: dict[str, tuple[Callable[..., Encoding], Callable[[Any], Count]]] = {
    "rope": (lambda cfg, source, levels: _rope(cfg, source, levels_of_heads=levels), _no_params),
    "alibi": (
        lambda cfg, source, levels: Alibi(
            cfg.n_heads,
            source=source,
            slope_scale=cfg.resolved_alibi_slope_scale(),
            levels_of_heads=levels,
        ),
        _no_params,
    ),
    "xpos": (
        lambda cfg, source, levels: XPos(
            cfg.d_head, source=source, base=cfg.rope_base, scale_base=cfg.xpos_scale_base
        ),
        _no_params,
    ),
    "t5": (
        lambda cfg, source, levels: T5Bias(
            cfg.n_heads, source=source, n_buckets=cfg.t5_n_buckets, max_distance=cfg.t5_max_distance
        ),
        lambda cfg: T5Bias.n_params(cfg.n_heads, cfg.t5_n_buckets),
    ),
    "fire": (
        lambda cfg, source, levels: Fire(
            cfg.n_heads, source=source, d_hidden=cfg.fire_d_hidden, threshold=cfg.fire_threshold
        ),
        lambda cfg: Fire.n_params(cfg.n_heads, cfg.fire_d_hidden),
    ),
    "cope": (
        lambda cfg, source, levels: SegmentCope(cfg.d_head, cfg.n_layers, cfg.cope_max_pos),
        lambda cfg: SegmentCope.n_params(cfg.d_head, cfg.n_layers, cfg.cope_max_pos),
    ),
}


def _relative_part(kind: str) -> tuple[Callable[..., Encoding], Callable[[Any], Count]]:
    if kind not in _RELATIVE:
        raise ValueError(f"unknown relative encoding {kind!r}")
    return _RELATIVE[kind]


def _relative(cfg: ModelConfig, kind: str, source: str, levels_of_heads=None) -> Encoding:
    return _relative_part(kind)[0](cfg, source, levels_of_heads)


def relative_params(cfg: Any, kind: str) -> Count:
    """Parameters of the relative encoding ``kind`` (a ``bipe_inter`` value) under ``cfg``."""
    return _relative_part(kind)[1](cfg)


def _intra(cfg: ModelConfig, kind: str) -> Encoding:
    if kind == "sinusoidal":
        return Sinusoidal(cfg.d_model, source="intra")
    return LearnedAbsolute(
        cfg.max_intra, cfg.d_model, source="intra", overflow=cfg.intra_overflow, track_trained=True
    )


def intra_params(cfg: Any, kind: str) -> Count:
    """Parameters of the intra (absolute) part ``kind`` (a ``bipe_intra`` value) under ``cfg``."""
    return 0 if kind == "sinusoidal" else LearnedAbsolute.n_params(cfg.max_intra, cfg.d_model)


def _bipe(cfg: ModelConfig, intra: str, inter: str) -> Encoding:
    return Combined(_intra(cfg, intra), _relative(cfg, inter, "seg"))


def _bipe_entry(intra: str | None = None, inter: str | None = None) -> EncodingEntry:
    """A BiPE composition; None takes the part from ``cfg.bipe_intra`` / ``cfg.bipe_inter``."""

    def parts(cfg: Any) -> tuple[str, str]:
        return intra or cfg.bipe_intra, inter or cfg.bipe_inter

    return EncodingEntry(
        lambda cfg: _bipe(cfg, *parts(cfg)),
        lambda cfg: intra_params(cfg, parts(cfg)[0]) + relative_params(cfg, parts(cfg)[1]),
    )


def _pope(cfg: Any, source: str) -> Pope:
    return Pope(cfg.d_head, cfg.n_heads, cfg.n_layers, source=source, base=cfg.rope_base)


def _pope_params(cfg: Any) -> Count:
    return Pope.n_params(cfg.n_layers, cfg.n_heads, cfg.d_head)


def _path(cfg: Any, segmented: bool) -> Path:
    return Path(cfg.d_model, cfg.n_heads, cfg.n_layers, rank=cfg.path_w_rank, segmented=segmented)


def _path_params(cfg: Any) -> Count:
    return Path.n_params(cfg.d_model, cfg.n_heads, cfg.n_layers, cfg.path_w_rank)


def _rfs(cfg: ModelConfig, source: str, *parts: Encoding) -> Encoding:
    """Random float positions of ``source`` in training, then ``parts`` reading them (range
    ``randomized_max_pos`` for the token index, ``rfs_max_seg`` for the segment index)."""
    max_pos = cfg.randomized_max_pos if source == "index" else cfg.rfs_max_seg
    return Combined(RandomFloat(source, max_pos), *parts)


def _hbipe(cfg: ModelConfig) -> Encoding:
    groups = head_levels(cfg.n_heads, len(cfg.level_separators()))
    return Combined(
        _intra(cfg, cfg.bipe_intra),
        _relative(cfg, cfg.bipe_inter, "levels", levels_of_heads=groups),
    )


REGISTRY: dict[str, EncodingEntry] = {
    "nope": EncodingEntry(lambda cfg: Encoding()),
    "sinusoidal": EncodingEntry(lambda cfg: Sinusoidal(cfg.d_model, source="index")),
    "learned": EncodingEntry(
        lambda cfg: LearnedAbsolute(cfg.max_len, cfg.d_model, source="index"),
        lambda cfg: LearnedAbsolute.n_params(cfg.max_len, cfg.d_model),
    ),
    "rope": EncodingEntry(lambda cfg: _rope(cfg, "index")),
    "alibi": EncodingEntry(lambda cfg: _relative(cfg, "alibi", "index")),
    "xpos": EncodingEntry(lambda cfg: _relative(cfg, "xpos", "index")),
    "randomized_rope": EncodingEntry(
        lambda cfg: RandomizedRope(cfg.d_head, max_pos=cfg.randomized_max_pos, **_rope_options(cfg))
    ),
    "t5": EncodingEntry(
        lambda cfg: _relative(cfg, "t5", "index"), lambda cfg: relative_params(cfg, "t5")
    ),
    "fire": EncodingEntry(
        lambda cfg: _relative(cfg, "fire", "index"), lambda cfg: relative_params(cfg, "fire")
    ),
    "bipe_rope": _bipe_entry("learned", "rope"),
    "bipe_alibi": _bipe_entry("learned", "alibi"),
    "bipe": _bipe_entry(),
    "hbipe": EncodingEntry(_hbipe, _bipe_entry().n_params),
    "bipe_cope": _bipe_entry("learned", "cope"),
    "cope": EncodingEntry(
        lambda cfg: Cope(cfg.d_head, cfg.n_layers, cfg.cope_max_pos),
        lambda cfg: Cope.n_params(cfg.d_head, cfg.n_layers, cfg.cope_max_pos),
    ),
    "fox": EncodingEntry(
        lambda cfg: Fox(cfg.d_model, cfg.n_heads, cfg.n_layers),
        lambda cfg: Fox.n_params(cfg.d_model, cfg.n_heads, cfg.n_layers),
    ),
    "hirope": EncodingEntry(
        lambda cfg: HiRope(
            cfg.d_head,
            seg_share=cfg.hirope_seg_share,
            inner=cfg.hirope_inner,
            bands=cfg.hirope_bands,
            **_rope_options(cfg),
        )
    ),
    "resonance_rope": EncodingEntry(lambda cfg: _rope(cfg, "index", variant="resonance")),
    "p_rope": EncodingEntry(lambda cfg: _rope(cfg, "index", variant="p_rope")),
    "intra_rope": EncodingEntry(lambda cfg: _rope(cfg, "intra")),
    "seg_rope": EncodingEntry(lambda cfg: _rope(cfg, "seg")),
    "pope": EncodingEntry(lambda cfg: _pope(cfg, "index"), _pope_params),
    "bipe_pope": EncodingEntry(
        lambda cfg: Combined(_intra(cfg, "learned"), _pope(cfg, "seg")),
        lambda cfg: intra_params(cfg, "learned") + _pope_params(cfg),
    ),
    "path": EncodingEntry(lambda cfg: _path(cfg, False), _path_params),
    "bipe_path": EncodingEntry(
        lambda cfg: Combined(_intra(cfg, "learned"), _path(cfg, True)),
        lambda cfg: intra_params(cfg, "learned") + _path_params(cfg),
    ),
    "rfs_sinusoidal": EncodingEntry(
        lambda cfg: _rfs(cfg, "index", Sinusoidal(cfg.d_model, source="index"))
    ),
    "rfs_rope": EncodingEntry(lambda cfg: _rfs(cfg, "index", _rope(cfg, "index"))),
    "rfs_alibi": EncodingEntry(lambda cfg: _rfs(cfg, "index", _relative(cfg, "alibi", "index"))),
    "bipe_rfs_rope": EncodingEntry(
        lambda cfg: _rfs(cfg, "seg", _intra(cfg, "learned"), _relative(cfg, "rope", "seg")),
        lambda cfg: intra_params(cfg, "learned"),
    ),
    "bipe_rfs_alibi": EncodingEntry(
        lambda cfg: _rfs(cfg, "seg", _intra(cfg, "learned"), _relative(cfg, "alibi", "seg")),
        lambda cfg: intra_params(cfg, "learned"),
    ),
}

# name -> constructor taking a ModelConfig (the registry's build functions).
ENCODINGS: dict[str, Callable[[ModelConfig], Encoding]] = {
    name: entry.build for name, entry in REGISTRY.items()
}


def parameter_count(cfg: Any) -> Count:
    """The positional parameters of ``cfg.pe``'s encoding (numbers, or sympy expressions when
    ``cfg``'s sizes are symbols); an unknown ``pe`` is a ``ValueError`` listing the known."""
    if cfg.pe not in REGISTRY:
        raise ValueError(f"no parameter formula for pe {cfg.pe!r}; known: {', '.join(REGISTRY)}")
    return REGISTRY[cfg.pe].n_params(cfg)


# Entries whose positions rotate through :class:`Rope` (PoSE, log_scale and rope_variant apply;
# ``bipe`` and ``hbipe`` only with ``bipe_inter="rope"``).
ROPE_FAMILY = (
    "rope",
    "randomized_rope",
    "bipe_rope",
    "bipe",
    "hbipe",
    "hirope",
    "resonance_rope",
    "p_rope",
    "intra_rope",
    "seg_rope",
)


def uses_rope(cfg: ModelConfig) -> bool:
    """True when ``cfg``'s encoding rotates with RoPE (so the RoPE options apply)."""
    if cfg.pe in ("bipe", "hbipe"):
        return cfg.bipe_inter == "rope"
    return cfg.pe in ROPE_FAMILY
