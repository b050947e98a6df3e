"""Run configuration: nested frozen keyword-only dataclasses, dotted overrides, JSON round trip.

A run is described by one :class:`RunConfig`::

    RunConfig
      task            registry name (experiments/tasks.py)
      data            DataConfig: what is generated (or loaded) for training and evaluation
      model           bipe.models.ModelConfig (vocab and separators are derived from the task)
      train           TrainConfig: optimisation, logging, checkpoints, device
      segment_train   SegmentationConfig: which positions the model sees while training
      segment_eval    SegmentationConfig: ... and while being evaluated
      data_seed       seeds every data stream (training set, batch order, evaluation sets)
      init_seed       seeds the model's initial weights (and dropout)
      out             the run folder

Every field can be overridden from the command line with a dotted key, the value parsed by the
field's type: ``--model.d_model 64``, ``--train.steps 400``, ``--data.operators uniform:1:6``,
``--data.eval_lengths 1,2,4,8``, ``--segment_eval.drop 0.1``, ``--init_seed 3``. Unknown keys are
errors naming the key and listing the valid ones (:func:`apply_overrides`).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any

from bipe.models.config import ModelConfig

__all__ = [
    "DataConfig",
    "RunConfig",
    "SegmentationConfig",
    "TrainConfig",
    "apply_overrides",
    "config_from_dict",
    "config_to_dict",
    "parse_value",
    "valid_keys",
]

_SEGMENT_METHODS = ("separator", "fixed:K", "oracle", "entropy")
_ENTROPY_RULES = ("threshold", "rise")


@dataclass(frozen=True, kw_only=True)
class DataConfig:
    """What a task generates (or loads) for training and evaluation.

    Length settings are task-specific: operator counts for arithmetic (``operators``), segment
    counts for automata tasks (``segments``). ``eval_lengths`` lists the evaluation settings in
    the same unit (empty: the task's default, from below the training range to several times
    above it). Everything is generated in memory from the run's ``data_seed``; ``path`` instead
    loads a saved training set (``bipe gen ... --out DIR``).
    """

    path: str | None = None
    n_train: int = 20000
    n_eval: int = 200
    eval_lengths: tuple[int, ...] = ()
    eval_tokens_per_batch: int = 16384
    # arithmetic (arith, arith_direct)
    operators: str = "uniform:1:4"
    fmt: str = "feng"
    modulus: int = 11
    # automata (binfa_lm, binfa_state, nfa_lm)
    n_symbols: int = 4
    n_types: int = 2
    inner_states: int = 3
    outer_states: int = 3
    out_degree: int = 2
    segments: str = "uniform:2:8"
    segment_length: str = "uniform:1:4"
    eval_segment_length: str = ""
    continuation_prefix: float = 0.5

    def __post_init__(self) -> None:
        _check_positive(self, "n_train", "n_eval", "eval_tokens_per_batch", "modulus")
        _check_positive(self, "n_symbols", "n_types", "inner_states", "outer_states",
                        "out_degree")
        if any(k < 0 for k in self.eval_lengths):
            raise ValueError(f"data.eval_lengths must be >= 0, got {self.eval_lengths}")
        if not 0.0 < self.continuation_prefix < 1.0:
            raise ValueError(
                f"data.continuation_prefix must lie in (0, 1), got {self.continuation_prefix}"
            )


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """Optimisation (AdamW, linear warm-up then cosine decay to ``min_lr_ratio * lr``), logging,
    checkpoints and device (``auto``: CUDA when present, else CPU). ``compile`` runs the
    training forward through ``torch.compile`` with padded length buckets
    (``experiments/compiled.py``; docs/method.md#training-step-and-compilation)."""

    steps: int = 1000
    batch_size: int = 64
    lr: float = 1e-3
    min_lr_ratio: float = 0.1
    warmup: int = 100
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    log_every: int = 10
    checkpoint_every: int = 200
    device: str = "auto"
    n_threads: int = 0
    evaluate_at_end: bool = True
    compile: bool = False

    def __post_init__(self) -> None:
        _check_positive(self, "steps", "batch_size", "log_every", "checkpoint_every")
        for name in ("warmup", "n_threads"):
            if getattr(self, name) < 0:
                raise ValueError(f"train.{name} must be >= 0, got {getattr(self, name)}")
        if not self.lr > 0:
            raise ValueError(f"train.lr must be > 0, got {self.lr}")
        if not 0.0 <= self.min_lr_ratio <= 1.0:
            raise ValueError(f"train.min_lr_ratio must lie in [0, 1], got {self.min_lr_ratio}")
        if self.weight_decay < 0 or self.grad_clip < 0:
            raise ValueError("train.weight_decay and train.grad_clip must be >= 0")
        if self.device != "auto" and not self.device.startswith(("cpu", "cuda", "mps")):
            raise ValueError(
                f"train.device must be auto, cpu, cuda[:N] or mps, got {self.device!r}")


@dataclass(frozen=True, kw_only=True)
class SegmentationConfig:
    """Which ``(seg, intra)`` positions a BiPE model receives (flat encodings ignore them).

    ``method``: ``separator`` (segments closed by the task's separator tokens; the default),
    ``fixed:K`` (every K tokens, the paper's ablation), ``oracle`` (the generator's own labels)
    or ``entropy`` (a boundary after each token where an n-gram model fitted on the run's
    training split is unsure of the next token; docs/method.md#entropy-segmentation). Entropy
    knobs (only with ``method=entropy``): ``entropy_length`` the target mean tokens per segment
    on the training split (the threshold is calibrated to it), ``entropy_order`` the n-gram
    order n (>= 2), ``entropy_rule`` ``threshold`` (entropy above the threshold) or ``rise``
    (entropy rise over the previous token's above it), ``entropy_smoothing`` the add-k ``k``.
    Perturbations of the chosen boundaries (never of the tokens), seeded from the data seed:
    ``drop`` each boundary with this probability, ``insert`` a spurious boundary at each other
    token with this probability, then ``shift`` every boundary by a uniform offset in
    ``-shift..shift`` tokens (``bipe.synthetic.perturb``).
    """

    method: str = "separator"
    drop: float = 0.0
    insert: float = 0.0
    shift: int = 0
    entropy_length: float = 4.0
    entropy_order: int = 3
    entropy_rule: str = "threshold"
    entropy_smoothing: float = 0.1

    def __post_init__(self) -> None:
        self._check_entropy()
        if self.method not in ("separator", "oracle", "entropy"):
            head, _, k = self.method.partition(":")
            if head != "fixed" or not k.isdigit() or int(k) < 1:
                raise ValueError(
                    f"segmentation method {self.method!r} unknown; known: "
                    f"{', '.join(_SEGMENT_METHODS)}"
                )
        for name in ("drop", "insert"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(
                    f"segmentation {name} must lie in [0, 1], got {getattr(self, name)}")
        if self.shift < 0:
            raise ValueError(f"segmentation shift must be >= 0, got {self.shift}")

    def _check_entropy(self) -> None:
        knobs = ("entropy_length", "entropy_order", "entropy_rule", "entropy_smoothing")
        if self.method != "entropy":
            for name in knobs:
                if getattr(self, name) != SegmentationConfig.__dataclass_fields__[name].default:
                    raise ValueError(f"segmentation {name} is set but method is "
                                     f"{self.method!r}; it applies only to method entropy")
            return
        if not self.entropy_length >= 1:
            raise ValueError(f"segmentation entropy_length must be >= 1, got "
                             f"{self.entropy_length}")
        if self.entropy_order < 2:
            raise ValueError(f"segmentation entropy_order must be >= 2, got {self.entropy_order}")
        if self.entropy_rule not in _ENTROPY_RULES:
            raise ValueError(f"segmentation entropy_rule {self.entropy_rule!r} unknown; known: "
                             f"{', '.join(_ENTROPY_RULES)}")
        if not self.entropy_smoothing > 0:
            raise ValueError(f"segmentation entropy_smoothing must be > 0, got "
                             f"{self.entropy_smoothing}")

    @property
    def is_default(self) -> bool:
        """True when positions are exactly the separator rule (what the model computes itself)."""
        return self.method == "separator" and not (self.drop or self.insert or self.shift)


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    """One training run: task, data, model, training, segmentation, seeds, output folder."""

    task: str
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig
    train: TrainConfig = field(default_factory=TrainConfig)
    segment_train: SegmentationConfig = field(default_factory=SegmentationConfig)
    segment_eval: SegmentationConfig = field(default_factory=SegmentationConfig)
    data_seed: int = 0
    init_seed: int = 0
    out: str = "run"

    def __post_init__(self) -> None:
        from bipe.experiments.tasks import TASKS  # noqa: PLC0415 (tasks import this module)

        if self.task not in TASKS:
            raise ValueError(f"unknown task {self.task!r}; known tasks: {', '.join(TASKS)}")
        if self.data_seed < 0 or self.init_seed < 0:
            raise ValueError("data_seed and init_seed must be >= 0")


def _check_positive(obj: Any, *names: str) -> None:
    section = type(obj).__name__.removesuffix("Config").lower()
    for name in names:
        if getattr(obj, name) <= 0:
            raise ValueError(f"{section}.{name} must be > 0, got {getattr(obj, name)}")


# ---------------------------------------------------------------- dict round trip and overrides


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _is_config(tp: Any) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def config_to_dict(config: Any) -> dict[str, Any]:
    """A dataclass as nested plain dicts/lists (JSON-ready; tuples become lists)."""

    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, (tuple, list)):
            return [plain(v) for v in value]
        return value

    return plain(config)


def config_from_dict(cls: type, data: dict[str, Any], *, where: str = "") -> Any:
    """Rebuild ``cls`` from :func:`config_to_dict` output; unknown keys are a ``ValueError``."""
    if not isinstance(data, dict):
        raise ValueError(f"config section {where or cls.__name__!r} must be an object")
    hints = _hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise ValueError(
            f"unknown config key {_join(where, unknown[0])!r}; valid keys: "
            f"{', '.join(_join(where, n) for n in names)}"
        )
    kwargs = {name: _coerce(hints[name], value, _join(where, name)) for name, value in data.items()}
    return cls(**kwargs)


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _coerce(tp: Any, value: Any, key: str) -> Any:
    """A JSON value as an instance of the annotated type ``tp``."""
    if _is_config(tp):
        return config_from_dict(tp, value, where=key)
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(inner[0], value, key)
    if tp is tuple:
        return _as_tuple(value)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{key} must be a list, got {value!r}")
        item = args[0] if args else Any
        return tuple(_coerce(item, v, key) for v in value)
    if origin is typing.Literal:
        if value not in args:
            raise ValueError(f"{key} must be one of {', '.join(map(str, args))}, got {value!r}")
        return value
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _as_tuple(value: Any) -> Any:
    """Nested lists as nested tuples (for untyped ``tuple`` fields such as separators)."""
    return tuple(_as_tuple(v) for v in value) if isinstance(value, (list, tuple)) else value


def parse_value(tp: Any, text: str, key: str) -> Any:
    """Command-line text as a value of the annotated type ``tp`` (a ``ValueError`` names key)."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if text.lower() in ("none", "null", "") and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return parse_value(inner[0], text, key)
    if origin is tuple:
        item = args[0] if args else str
        parts = [p for p in text.replace(" ", ",").split(",") if p]
        return tuple(parse_value(item, p, key) for p in parts)
    if origin is typing.Literal:
        for option in args:
            if str(option) == text:
                return option
        raise ValueError(f"{key} must be one of {', '.join(map(str, args))}, got {text!r}")
    try:
        if tp is bool:
            lowered = text.lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if tp is int:
            return int(text)
        if tp is float:
            return float(text)
    except ValueError:
        raise ValueError(f"{key} expects {getattr(tp, '__name__', tp)}, got {text!r}") from None
    if tp is str or tp is Any:
        return text
    raise ValueError(f"{key} cannot be set from the command line (type {tp})")


def valid_keys(cls: type, prefix: str = "") -> list[str]:
    """Every dotted key of a config class, leaves only (``model.d_model``, ``train.steps``...)."""
    keys = []
    hints = _hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if _is_config(tp):
            keys.extend(valid_keys(tp, _join(prefix, f.name)))
        else:
            keys.append(_join(prefix, f.name))
    return keys


def _leaf_type(cls: type, key: str) -> Any:
    """The annotated type of a dotted key, or a ``ValueError`` listing the valid keys."""
    tp: Any = cls
    for part in key.split("."):
        fields = {f.name for f in dataclasses.fields(tp)} if _is_config(tp) else set()
        if part not in fields:
            raise ValueError(
                f"unknown config key {key!r}; valid keys: {', '.join(valid_keys(cls))}")
        tp = _hints(tp)[part]
    if _is_config(tp):
        raise ValueError(f"config key {key!r} is a section; set one of its fields ({key}.NAME)")
    return tp


def apply_overrides(data: dict[str, Any], overrides: dict[str, str], cls: type) -> dict[str, Any]:
    """A copy of the nested dict ``data`` (a config of class ``cls``) with dotted overrides set.

    Each value is parsed by its field's type (``int``, ``float``, ``bool``, ``str``, optional
    and tuple types: ``1,2,4``).
    """
    out = _deep_copy(data)
    for key, text in overrides.items():
        value = parse_value(_leaf_type(cls, key), text, key)
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = list(value) if isinstance(value, tuple) else value
    return out


def _deep_copy(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _deep_copy(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_deep_copy(v) for v in data]
    return data
