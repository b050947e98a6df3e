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

Randomized entries (Ruoss et al. 2023; :mod:`bipe.models.randomized`): ``randomized_rope``,
``randomized_sinusoidal``, ``randomized_learned`` (a table of ``randomized_max_pos`` rows) and
``randomized_alibi`` draw the token index as an ordered random subset of
``range(randomized_max_pos)``; ``randomized_bipe_rope`` / ``randomized_bipe_alibi`` are
``bipe_rope`` / ``bipe_alibi`` with the segment index drawn that way (plain ALiBi slopes: with
segment positions spread over the range, x96 would confine every head to its segment).

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

import dataclasses
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass
from typing import TYPE_CHECKING, Any

from .absolute import LearnedAbsolute, Sinusoidal
from .bias import Alibi, Fire, T5Bias
from .config import HBIPE_INTER, OFFICIAL_BIPE_ALIBI_SLOPE_SCALE
from .content import Cope, Fox, SegmentCope
from .encoding import Combined, Count, Encoding, head_levels
from .path import Path
from .polar import Pope
from .random_float import RandomFloat
from .randomized import Randomized
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
class Option:
    """One option an encoding reads: ``name``, ``type`` (``int``, ``float``, ``str`` or
    ``bool``; for a built-in the annotation of its :class:`ModelConfig` field, e.g.
    ``"float | None"``), ``default`` and a one-line ``doc``. An option whose name is a
    ModelConfig field is that field (``--model.rope_base``); any other lives in
    ``ModelConfig.opt`` (``--model.opt.NAME``). Read values with ``cfg.option(name)``."""

    name: str
    type: Any
    default: Any
    doc: str = ""


@dataclass(frozen=True)
class EncodingEntry:
    """A registry entry: ``build(cfg)`` makes the encoding module; ``n_params(cfg)`` is its
    parameter count, written as plain arithmetic on the config's sizes (``d_model``,
    ``n_heads``, ``d_head``, ...), so that it also runs on sympy symbols
    (:mod:`bipe.analysis.params`); None means unknown. A test checks it against the built
    module for every built-in entry.

    Keyword fields describe the entry to the rest of bipe, which never tests an encoding by
    name: ``options`` (the :class:`Option` s it reads; ``reads(cfg)`` narrows them to the
    names read under ``cfg`` when that depends on another option), the capabilities
    ``reads_content`` (a ``content`` hook: ensembles refuse it), ``multi_level`` (separators
    are one tuple per level, innermost first; tasks give it every level), ``samples_positions``
    (``prepare`` draws random positions in training: no compiled forward) and ``rope_family``
    (rotates with :class:`Rope`; a bool or ``cfg -> bool``), ``check(cfg)`` (extra validation
    raising ``ValueError``) and a one-line ``doc``. A plug-in is an entry like these
    (:mod:`bipe.models.plugins`).
    """

    build: Callable[[ModelConfig], Encoding]
    n_params: Callable[[Any], Count] | None = _no_params
    _: KW_ONLY
    options: tuple[Option, ...] = ()
    reads: Callable[[Any], tuple[str, ...]] | None = None
    reads_content: bool = False
    multi_level: bool = False
    samples_positions: bool = False
    rope_family: bool | Callable[[Any], bool] = False
    check: Callable[[Any], None] | None = None
    doc: str = ""

    def option_names(self) -> tuple[str, ...]:
        """Names of every option the entry declares."""
        return tuple(o.name for o in self.options)

    def options_read(self, cfg: Any) -> tuple[str, ...]:
        """Names of the options the entry reads under ``cfg`` (all declared by default)."""
        return self.option_names() if self.reads is None else tuple(self.reads(cfg))

    def is_rope(self, cfg: Any) -> bool:
        """True when, under ``cfg``, the encoding rotates with RoPE."""
        return bool(self.rope_family(cfg) if callable(self.rope_family) else self.rope_family)

    def capabilities(self) -> tuple[str, ...]:
        """The capability words that apply (for listings)."""
        words = []
        if self.reads_content:
            words.append("reads content")
        if self.multi_level:
            words.append("multi-level")
        if self.samples_positions:
            words.append("samples positions")
        if callable(self.rope_family):
            words.append("RoPE family (by option)")
        elif self.rope_family:
            words.append("RoPE family")
        return tuple(words)


# One line of doc per ModelConfig encoding field (the built-in entries' options).
FIELD_DOCS: dict[str, str] = {
    "max_len": "rows of the learned absolute table; a position past it is an error",
    "max_intra": "rows of the BiPE intra table (set from the training data)",
    "intra_overflow": "an intra position past the trained rows: clamp, sinusoidal or error",
    "bipe_intra": "absolute half of bipe/hbipe: learned or sinusoidal",
    "bipe_inter": "relative half of bipe: rope, alibi, xpos, t5, fire or cope",
    "rope_base": "RoPE frequency base",
    "rope_scaling": "RoPE scaling: none, pi, ntk or yarn",
    "rope_scaling_factor": "RoPE scaling factor s >= 1",
    "rope_original_len": "training length in the rotated stream's units (YaRN)",
    "alibi_slope_scale": "multiplies the ALiBi slopes (None: the entry's default)",
    "xpos_scale_base": "xPos decay length",
    "randomized_max_pos": "training positions: a sorted random subset (floats: rfs) of [0, this)",
    "t5_n_buckets": "T5 relative-position buckets",
    "t5_max_distance": "T5 distance of the last bucket",
    "fire_d_hidden": "width of FIRE's MLP",
    "fire_threshold": "initial value of FIRE's learnable threshold L",
    "cope_max_pos": "rows of CoPE's position table",
    "hirope_seg_share": "share of rotary pairs turned by the segment index",
    "hirope_inner": "what turns the other pairs: intra or index",
    "hirope_bands": "which pairs hirope turns by seg: low (slowest), high or interleaved",
    "path_w_rank": "rank of PaTH's low-rank w projection",
    "rfs_max_seg": "random float segment positions are drawn from [0, this)",
    "rope_variant": "none, resonance (integer wavelengths) or p_rope",
    "p_rope_share": "share of the slowest pairs p_rope leaves unrotated",
    "pose_target_len": "PoSE: spread training positions over [0, this) (None: off)",
    "pose_chunks": "PoSE chunks",
    "log_scale": "query log scaling: none, official or clamped",
    "log_scale_len": "training length of log_scale",
}

# ModelConfig fields set from the data rather than by the user (never refused as unread).
DERIVED_OPTIONS = ("max_intra",)


def field_options(*names: str, **defaults: Any) -> tuple[Option, ...]:
    """Options for ModelConfig fields ``names`` (type and default from the field; ``defaults``
    gives an entry's own meaning of a None default, e.g. ``alibi_slope_scale=96.0``)."""
    from .config import ModelConfig  # config imports us lazily

    fields = {f.name: f for f in dataclasses.fields(ModelConfig)}
    return tuple(
        Option(n, fields[n].type, defaults.get(n, fields[n].default), FIELD_DOCS[n]) for n in names
    )


ROPE_OPTIONS = (
    "rope_base",
    "rope_scaling",
    "rope_scaling_factor",
    "rope_original_len",
    "rope_variant",
    "p_rope_share",
    "pose_target_len",
    "pose_chunks",
    "log_scale",
    "log_scale_len",
)
POSE_OPTIONS = ("pose_target_len", "pose_chunks")
LOG_SCALE_OPTIONS = ("log_scale", "log_scale_len")
INTRA_OPTIONS = ("max_intra", "intra_overflow")


def _without(names: tuple[str, ...], *drop: tuple[str, ...] | str) -> tuple[str, ...]:
    dropped = {d for group in drop for d in ((group,) if isinstance(group, str) else group)}
    return tuple(n for n in names if n not in dropped)


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


# Options each relative part reads (by ``bipe_inter`` kind).
_RELATIVE_OPTIONS: dict[str, tuple[str, ...]] = {
    "rope": ROPE_OPTIONS,
    "alibi": ("alibi_slope_scale",),
    "xpos": ("rope_base", "xpos_scale_base"),
    "t5": ("t5_n_buckets", "t5_max_distance"),
    "fire": ("fire_d_hidden", "fire_threshold"),
    "cope": ("cope_max_pos",),
}


def _union(*groups: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(n for g in groups for n in g))


def _bipe_entry(intra: str | None = None, inter: str | None = None, doc: str = "") -> EncodingEntry:
    """A BiPE composition; None takes the part from ``cfg.bipe_intra`` / ``cfg.bipe_inter``."""

    def parts(cfg: Any) -> tuple[str, str]:
        return intra or cfg.bipe_intra, inter or cfg.bipe_inter

    choice = tuple(n for n, v in (("bipe_intra", intra), ("bipe_inter", inter)) if v is None)
    kinds = (inter,) if inter else tuple(_RELATIVE_OPTIONS)
    declared = _union(INTRA_OPTIONS, choice, *(_RELATIVE_OPTIONS[k] for k in kinds))
    return EncodingEntry(
        lambda cfg: _bipe(cfg, *parts(cfg)),
        lambda cfg: intra_params(cfg, parts(cfg)[0]) + relative_params(cfg, parts(cfg)[1]),
        options=field_options(*declared, alibi_slope_scale=OFFICIAL_BIPE_ALIBI_SLOPE_SCALE),
        reads=lambda cfg: _union(INTRA_OPTIONS, choice, _RELATIVE_OPTIONS[parts(cfg)[1]]),
        reads_content=inter == "cope",
        rope_family=(inter == "rope") if inter else (lambda cfg: parts(cfg)[1] == "rope"),
        doc=doc,
    )


def _randomized(cfg: ModelConfig, inner: Encoding, stream: str = "index") -> Encoding:
    return Randomized(inner, stream=stream, max_pos=cfg.randomized_max_pos)


def _randomized_bipe(cfg: ModelConfig, inter: str) -> Encoding:
    return Combined(_intra(cfg, "learned"), _randomized(cfg, _relative(cfg, inter, "seg"), "seg"))


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


def _check_hbipe(cfg: Any) -> None:
    if len(cfg.separators) < 2:
        raise ValueError(
            "pe='hbipe' needs separators for at least two levels, innermost "
            f"first, got {cfg.separators!r}"
        )
    if cfg.bipe_inter not in HBIPE_INTER:
        raise ValueError(f"pe='hbipe' supports bipe_inter in {HBIPE_INTER}, got {cfg.bipe_inter!r}")
    if cfg.n_heads < len(cfg.separators):
        raise ValueError(
            f"pe='hbipe' needs n_heads ({cfg.n_heads}) >= number of levels "
            f"({len(cfg.separators)}): each level gets its own head group"
        )


_HBIPE_READS = _without(ROPE_OPTIONS, POSE_OPTIONS)
_HIROPE_READS = _without(ROPE_OPTIONS, POSE_OPTIONS, LOG_SCALE_OPTIONS)

REGISTRY: dict[str, EncodingEntry] = {
    "nope": EncodingEntry(lambda cfg: Encoding(), doc="no positional encoding"),
    "sinusoidal": EncodingEntry(
        lambda cfg: Sinusoidal(cfg.d_model, source="index"),
        doc="sinusoidal absolute embedding of the token index (Vaswani et al. 2017)",
    ),
    "learned": EncodingEntry(
        lambda cfg: LearnedAbsolute(cfg.max_len, cfg.d_model, source="index"),
        lambda cfg: LearnedAbsolute.n_params(cfg.max_len, cfg.d_model),
        options=field_options("max_len"),
        doc="learned absolute table of the token index",
    ),
    "rope": EncodingEntry(
        lambda cfg: _rope(cfg, "index"),
        options=field_options(*ROPE_OPTIONS),
        rope_family=True,
        doc="rotary encoding of the token index (Su et al. 2021)",
    ),
    "alibi": EncodingEntry(
        lambda cfg: _relative(cfg, "alibi", "index"),
        options=field_options("alibi_slope_scale", alibi_slope_scale=1.0),
        doc="linear distance bias on the token index (Press et al. 2022)",
    ),
    "xpos": EncodingEntry(
        lambda cfg: _relative(cfg, "xpos", "index"),
        options=field_options(*_RELATIVE_OPTIONS["xpos"]),
        doc="rotary encoding with exponential decay (Sun et al. 2023)",
    ),
    "randomized_rope": EncodingEntry(
        lambda cfg: RandomizedRope(
            cfg.d_head, max_pos=cfg.randomized_max_pos, **_rope_options(cfg)
        ),
        options=field_options("randomized_max_pos", *_without(ROPE_OPTIONS, POSE_OPTIONS)),
        samples_positions=True,
        rope_family=True,
        doc="RoPE on sorted random training positions (Ruoss et al. 2023)",
    ),
    "randomized_sinusoidal": EncodingEntry(
        lambda cfg: _randomized(cfg, Sinusoidal(cfg.d_model, source="index")),
        options=field_options("randomized_max_pos"),
        samples_positions=True,
        doc="sinusoidal embedding of sorted random positions (Ruoss et al. 2023)",
    ),
    "randomized_learned": EncodingEntry(
        lambda cfg: _randomized(
            cfg, LearnedAbsolute(cfg.randomized_max_pos, cfg.d_model, source="index")
        ),
        lambda cfg: LearnedAbsolute.n_params(cfg.randomized_max_pos, cfg.d_model),
        options=field_options("randomized_max_pos"),
        samples_positions=True,
        doc="learned table of randomized_max_pos rows at sorted random positions (Ruoss et al.)",
    ),
    "randomized_alibi": EncodingEntry(
        lambda cfg: _randomized(cfg, _relative(cfg, "alibi", "index")),
        options=field_options("randomized_max_pos", "alibi_slope_scale", alibi_slope_scale=1.0),
        samples_positions=True,
        doc="ALiBi on sorted random positions (Ruoss et al. 2023)",
    ),
    "randomized_bipe_rope": EncodingEntry(
        lambda cfg: _randomized_bipe(cfg, "rope"),
        lambda cfg: intra_params(cfg, "learned"),
        options=field_options(
            *INTRA_OPTIONS, "randomized_max_pos", *_without(ROPE_OPTIONS, POSE_OPTIONS)
        ),
        samples_positions=True,
        rope_family=True,
        doc="BiPE-RoPE with the segment index at sorted random positions",
    ),
    "randomized_bipe_alibi": EncodingEntry(
        lambda cfg: _randomized_bipe(cfg, "alibi"),
        lambda cfg: intra_params(cfg, "learned"),
        options=field_options(
            *INTRA_OPTIONS, "randomized_max_pos", "alibi_slope_scale", alibi_slope_scale=1.0
        ),
        samples_positions=True,
        doc="BiPE-ALiBi (plain slopes) with the segment index at sorted random positions",
    ),
    "t5": EncodingEntry(
        lambda cfg: _relative(cfg, "t5", "index"),
        lambda cfg: relative_params(cfg, "t5"),
        options=field_options(*_RELATIVE_OPTIONS["t5"]),
        doc="learned bucketed relative bias (Raffel et al. 2020)",
    ),
    "fire": EncodingEntry(
        lambda cfg: _relative(cfg, "fire", "index"),
        lambda cfg: relative_params(cfg, "fire"),
        options=field_options(*_RELATIVE_OPTIONS["fire"]),
        doc="functional interpolation relative bias (Li et al. 2024)",
    ),
    "bipe_rope": _bipe_entry("learned", "rope", "BiPE-RoPE: learned intra table + RoPE on seg"),
    "bipe_alibi": _bipe_entry(
        "learned", "alibi", "BiPE-ALiBi: learned intra table + ALiBi (x96) on seg"
    ),
    "bipe": _bipe_entry(doc="BiPE: bipe_intra on intra + bipe_inter on seg"),
    "hbipe": EncodingEntry(
        _hbipe,
        _bipe_entry().n_params,
        options=field_options(
            *INTRA_OPTIONS,
            "bipe_intra",
            "bipe_inter",
            "alibi_slope_scale",
            *_HBIPE_READS,
            alibi_slope_scale=OFFICIAL_BIPE_ALIBI_SLOPE_SCALE,
        ),
        reads=lambda cfg: (
            (*INTRA_OPTIONS, "bipe_intra", "bipe_inter")
            + (_HBIPE_READS if cfg.bipe_inter == "rope" else ("alibi_slope_scale",))
        ),
        multi_level=True,
        rope_family=lambda cfg: cfg.bipe_inter == "rope",
        check=_check_hbipe,
        doc="multi-level BiPE: one head group per separator level",
    ),
    "bipe_cope": _bipe_entry("learned", "cope", "learned intra table + CoPE counting segments"),
    "cope": EncodingEntry(
        lambda cfg: Cope(cfg.d_head, cfg.n_layers, cfg.cope_max_pos),
        lambda cfg: Cope.n_params(cfg.d_head, cfg.n_layers, cfg.cope_max_pos),
        options=field_options("cope_max_pos"),
        reads_content=True,
        doc="contextual position encoding (Golovneva et al. 2024)",
    ),
    "fox": EncodingEntry(
        lambda cfg: Fox(cfg.d_model, cfg.n_heads, cfg.n_layers),
        lambda cfg: Fox.n_params(cfg.d_model, cfg.n_heads, cfg.n_layers),
        reads_content=True,
        doc="forgetting attention (Lin et al. 2025)",
    ),
    "hirope": EncodingEntry(
        lambda cfg: HiRope(
            cfg.d_head,
            seg_share=cfg.hirope_seg_share,
            inner=cfg.hirope_inner,
            bands=cfg.hirope_bands,
            **_rope_options(cfg),
        ),
        options=field_options("hirope_seg_share", "hirope_inner", "hirope_bands", *_HIROPE_READS),
        rope_family=True,
        doc="hierarchical RoPE: slow pairs by seg, the rest by intra or index (Zhang et al. 2024)",
    ),
    "resonance_rope": EncodingEntry(
        lambda cfg: _rope(cfg, "index", variant="resonance"),
        options=field_options(*_without(ROPE_OPTIONS, "rope_variant", "p_rope_share")),
        rope_family=True,
        doc="RoPE with integer wavelengths (Wang et al. 2024)",
    ),
    "p_rope": EncodingEntry(
        lambda cfg: _rope(cfg, "index", variant="p_rope"),
        options=field_options(*_without(ROPE_OPTIONS, "rope_variant")),
        rope_family=True,
        doc="RoPE with its slowest pairs unrotated (Barbero et al. 2025)",
    ),
    "intra_rope": EncodingEntry(
        lambda cfg: _rope(cfg, "intra"),
        options=field_options(*_without(ROPE_OPTIONS, POSE_OPTIONS)),
        rope_family=True,
        doc="RoPE on the intra position alone (local layers of bilevel interleaving)",
    ),
    "seg_rope": EncodingEntry(
        lambda cfg: _rope(cfg, "seg"),
        options=field_options(*ROPE_OPTIONS),
        rope_family=True,
        doc="RoPE on the segment index alone (global layers of bilevel interleaving)",
    ),
    "pope": EncodingEntry(
        lambda cfg: _pope(cfg, "index"),
        _pope_params,
        options=field_options("rope_base"),
        reads_content=True,
        doc="polar RoPE: softplus magnitudes, learned phase bias (Gopalakrishnan et al. 2025)",
    ),
    "bipe_pope": EncodingEntry(
        lambda cfg: Combined(_intra(cfg, "learned"), _pope(cfg, "seg")),
        lambda cfg: intra_params(cfg, "learned") + _pope_params(cfg),
        options=field_options(*INTRA_OPTIONS, "rope_base"),
        reads_content=True,
        doc="learned intra table + PoPE on seg",
    ),
    "path": EncodingEntry(
        lambda cfg: _path(cfg, False),
        _path_params,
        options=field_options("path_w_rank"),
        reads_content=True,
        doc="accumulated data-dependent Householder transforms (Yang et al. 2025)",
    ),
    "bipe_path": EncodingEntry(
        lambda cfg: Combined(_intra(cfg, "learned"), _path(cfg, True)),
        lambda cfg: intra_params(cfg, "learned") + _path_params(cfg),
        options=field_options(*INTRA_OPTIONS, "path_w_rank"),
        reads_content=True,
        doc="learned intra table + PaTH transforms only where a segment begins",
    ),
    "rfs_sinusoidal": EncodingEntry(
        lambda cfg: _rfs(cfg, "index", Sinusoidal(cfg.d_model, source="index")),
        options=field_options("randomized_max_pos"),
        samples_positions=True,
        doc="sinusoidal embedding of random float training positions (Shimizu et al. 2026)",
    ),
    "rfs_rope": EncodingEntry(
        lambda cfg: _rfs(cfg, "index", _rope(cfg, "index")),
        options=field_options("randomized_max_pos", *_without(ROPE_OPTIONS, POSE_OPTIONS)),
        samples_positions=True,
        rope_family=True,
        doc="RoPE on random float training positions (Shimizu et al. 2026)",
    ),
    "rfs_alibi": EncodingEntry(
        lambda cfg: _rfs(cfg, "index", _relative(cfg, "alibi", "index")),
        options=field_options("randomized_max_pos", "alibi_slope_scale", alibi_slope_scale=1.0),
        samples_positions=True,
        doc="ALiBi on random float training positions (Shimizu et al. 2026)",
    ),
    "bipe_rfs_rope": EncodingEntry(
        lambda cfg: _rfs(cfg, "seg", _intra(cfg, "learned"), _relative(cfg, "rope", "seg")),
        lambda cfg: intra_params(cfg, "learned"),
        options=field_options("rfs_max_seg", *INTRA_OPTIONS, *_without(ROPE_OPTIONS, POSE_OPTIONS)),
        samples_positions=True,
        rope_family=True,
        doc="bipe_rope with random float segment positions in training",
    ),
    "bipe_rfs_alibi": EncodingEntry(
        lambda cfg: _rfs(cfg, "seg", _intra(cfg, "learned"), _relative(cfg, "alibi", "seg")),
        lambda cfg: intra_params(cfg, "learned"),
        options=field_options(
            "rfs_max_seg",
            *INTRA_OPTIONS,
            "alibi_slope_scale",
            alibi_slope_scale=OFFICIAL_BIPE_ALIBI_SLOPE_SCALE,
        ),
        samples_positions=True,
        doc="bipe_alibi with random float segment positions in training",
    ),
}

# name -> constructor taking a ModelConfig (the registry's build functions).
ENCODINGS: dict[str, Callable[[ModelConfig], Encoding]] = {
    name: entry.build for name, entry in REGISTRY.items()
}


def parameter_count(cfg: Any) -> Count | None:
    """The positional parameters of ``cfg.pe``'s encoding (numbers, or sympy expressions when
    ``cfg``'s sizes are symbols); None when the entry gives no formula (a plug-in may not); an
    unknown ``pe`` is a ``ValueError`` listing the known."""
    entry = resolve_encoding(cfg.pe)
    return None if entry.n_params is None else entry.n_params(cfg)


def uses_rope(cfg: Any) -> bool:
    """True when ``cfg``'s encoding rotates with RoPE (so the RoPE options apply)."""
    return resolve_encoding(cfg.pe).is_rope(cfg)


def is_multi_level(spec: str) -> bool:
    """True when the encoding ``spec`` reads one separator tuple per level (``hbipe``)."""
    return resolve_encoding(spec).multi_level


def encoding_fields() -> tuple[str, ...]:
    """The ModelConfig fields that are some built-in entry's option."""
    return tuple(dict.fromkeys(o.name for e in REGISTRY.values() for o in e.options))


def check_options(cfg: Any) -> None:
    """``ValueError`` (one line naming the entry's options) when ``cfg`` sets an option that
    its encoding does not read: a non-default encoding field, or an ``opt`` key it does not
    declare; then the entry's own ``check``."""
    entry = resolve_encoding(cfg.pe)
    read = set(entry.options_read(cfg))
    defaults = {f.name: f.default for f in dataclasses.fields(cfg)}
    unread = [
        n
        for n in encoding_fields()
        if n not in read and n not in DERIVED_OPTIONS and getattr(cfg, n) != defaults[n]
    ]
    unread += [n for n in cfg.opt if n not in entry.option_names() or n in defaults]
    if unread:
        own = ", ".join(entry.options_read(cfg)) or "none"
        raise ValueError(
            f"pe={cfg.pe!r} does not read option {unread[0]} (set to "
            f"{_option_value(cfg, unread[0])!r}); its options: {own}"
        )
    if entry.check is not None:
        entry.check(cfg)


def _option_value(cfg: Any, name: str) -> Any:
    return cfg.opt[name] if name in cfg.opt else getattr(cfg, name)


def declared_option(spec: str, name: str) -> Option:
    """The option ``name`` that the entry ``spec`` declares; a ``ValueError`` naming the
    entry's options when it declares none of that name."""
    entry = resolve_encoding(spec)
    for option in entry.options:
        if option.name == name:
            return option
    own = ", ".join(entry.option_names()) or "none"
    raise ValueError(f"pe={spec!r} has no option {name!r}; its options: {own}")


def option_value(cfg: Any, name: str) -> Any:
    """The value of option ``name`` under ``cfg``: its ModelConfig field, else ``cfg.opt``'s
    entry, else the declared default of ``cfg.pe``'s entry (a ``ValueError`` if undeclared)."""
    if name in {f.name for f in dataclasses.fields(cfg)} and name != "opt":
        return getattr(cfg, name)
    if name in cfg.opt:
        return cfg.opt[name]
    entry = resolve_encoding(cfg.pe)
    for option in entry.options:
        if option.name == name:
            return option.default
    own = ", ".join(entry.option_names()) or "none"
    raise ValueError(f"pe={cfg.pe!r} declares no option {name!r}; its options: {own}")


from .plugins import resolve_encoding  # noqa: E402  (plugins imports EncodingEntry from here)
