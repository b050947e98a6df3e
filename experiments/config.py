"""Run configuration: nested frozen keyword-only dataclasses, dotted overrides, JSON round trip.

A run is described by one :class:`RunConfig`::

    RunConfig
      task            registry name (experiments/tasks/)
      data            the task's data family config (a DataConfig subclass, e.g.
                      ArithmeticData, AutomatonData; bipe.synthetic.families): what is
                      generated (or loaded) for training and evaluation
      model           bipe.models.ModelConfig (vocab and separators are derived from the task)
      train           TrainConfig: optimisation, logging, checkpoints, device
      segment_train   SegmentationConfig: which positions the model sees while training
      segment_eval    SegmentationConfig: ... and while being evaluated
      eval_positions  ``integer`` (the default) or ``sampled``: at evaluation, an entry that
                      samples positions in training (randomized_*, rfs_*) draws them again
                      (bipe.models.sampled_positions) instead of reading the plain integers
      data_seed       seeds every data stream (training set, batch order, evaluation sets)
      init_seed       seeds the model's initial weights (and dropout)
      out             the run folder

Every field can be overridden from the command line with a dotted key, the value parsed by the
field's type: ``--model.d_model 64``, ``--train.steps 400``, ``--data.operators uniform:1:6``,
``--data.eval_lengths 1,2,4,8``, ``--segment_eval.drop 0.1``, ``--init_seed 3``. Unknown keys are
errors naming the key and listing the valid ones (:func:`apply_overrides`). ``data.KEY``
resolves against the task's family; a key of another family is an error naming both families.
A flat ``data`` section of an older ``config.json`` (every family's keys) is read through
:func:`bipe.synthetic.families.upgrade_data`; that path is kept for run folders outside the
repository (the committed studies are migrated: ``studies/migrate_configs.py``) and is to be
removed on 2027-06-01.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from typing import Any

from bipe.models.config import ModelConfig
from bipe.synthetic.families import get_family, owner, upgrade_data
from bipe.synthetic.family import DataConfig, DataFamily

__all__ = [
    "DataConfig",
    "RunConfig",
    "SegmentationConfig",
    "TrainConfig",
    "apply_overrides",
    "check_finite",
    "config_from_dict",
    "config_to_dict",
    "data_family",
    "parse_value",
    "upgrade_run_dict",
    "valid_keys",
]

_SEGMENT_METHODS = ("separator", "fixed:K", "oracle", "entropy")
_ENTROPY_RULES = ("threshold", "rise")


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """Optimisation (AdamW, linear warm-up then cosine decay to ``min_lr_ratio * lr``), logging,
    checkpoints and device (``auto``: CUDA when present, else CPU). ``compile`` runs the
    training forward through ``torch.compile``, one graph for every batch length
    (``experiments/compiled.py``; docs/guide.md#training-step-and-compilation)."""

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
                f"train.device must be auto, cpu, cuda[:N] or mps, got {self.device!r}"
            )


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
                    f"segmentation {name} must lie in [0, 1], got {getattr(self, name)}"
                )
        if self.shift < 0:
            raise ValueError(f"segmentation shift must be >= 0, got {self.shift}")

    def _check_entropy(self) -> None:
        knobs = ("entropy_length", "entropy_order", "entropy_rule", "entropy_smoothing")
        if self.method != "entropy":
            for name in knobs:
                if getattr(self, name) != SegmentationConfig.__dataclass_fields__[name].default:
                    raise ValueError(
                        f"segmentation {name} is set but method is "
                        f"{self.method!r}; it applies only to method entropy"
                    )
            return
        if not self.entropy_length >= 1:
            raise ValueError(f"segmentation entropy_length must be >= 1, got {self.entropy_length}")
        if self.entropy_order < 2:
            raise ValueError(f"segmentation entropy_order must be >= 2, got {self.entropy_order}")
        if self.entropy_rule not in _ENTROPY_RULES:
            raise ValueError(
                f"segmentation entropy_rule {self.entropy_rule!r} unknown; known: "
                f"{', '.join(_ENTROPY_RULES)}"
            )
        if not self.entropy_smoothing > 0:
            raise ValueError(
                f"segmentation entropy_smoothing must be > 0, got {self.entropy_smoothing}"
            )

    @property
    def is_default(self) -> bool:
        """True when positions are exactly the separator rule (what the model computes itself)."""
        return self.method == "separator" and not (self.drop or self.insert or self.shift)


EVAL_POSITIONS = ("integer", "sampled")


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    """One training run: task, data, model, training, segmentation, seeds, output folder.

    ``data`` is the config of the task's data family (:func:`data_family`).
    """

    task: str
    data: DataConfig
    model: ModelConfig
    train: TrainConfig = field(default_factory=TrainConfig)
    segment_train: SegmentationConfig = field(default_factory=SegmentationConfig)
    segment_eval: SegmentationConfig = field(default_factory=SegmentationConfig)
    eval_positions: str = "integer"
    data_seed: int = 0
    init_seed: int = 0
    out: str = "run"

    def __post_init__(self) -> None:
        family = data_family(self.task)
        if not isinstance(self.data, family.config):
            raise ValueError(
                f"task {self.task!r} needs data of the {family.name} family "
                f"({family.config.__name__}), got {type(self.data).__name__}"
            )
        if self.data_seed < 0 or self.init_seed < 0:
            raise ValueError("data_seed and init_seed must be >= 0")
        check_finite(self)
        self._check_eval_positions()
        from bipe.experiments.tasks import TASKS  # tasks import this module

        TASKS[self.task].check_data(self.data)

    def _check_eval_positions(self) -> None:
        if self.eval_positions not in EVAL_POSITIONS:
            raise ValueError(
                f"eval_positions must be one of {', '.join(EVAL_POSITIONS)}, "
                f"got {self.eval_positions!r}"
            )
        if self.eval_positions == "integer":
            return
        from bipe.models import resolve_encoding

        if not resolve_encoding(self.model.pe).samples_positions:
            raise ValueError(
                f"eval_positions=sampled draws the positions an encoding samples in training; "
                f"pe={self.model.pe!r} samples none (randomized_* and rfs_* entries do)"
            )
        seg = self.segment_eval
        if seg.drop or seg.insert or seg.shift:
            raise ValueError(
                "eval_positions=sampled cannot be combined with perturbed evaluation "
                "segments (segment_eval.drop, insert, shift)"
            )

    @classmethod
    def section_types(cls, tree: dict[str, Any]) -> dict[str, tuple[type, ...]]:
        """The classes the ``data`` section may take: the task's family config, or every
        family's when ``tree`` names no task (to list every key a command line may give)."""
        from bipe.synthetic.families import FAMILIES

        task = tree.get("task")
        if task is None:
            return {"data": tuple(f.config for f in FAMILIES.values())}
        return {"data": (data_family(task).config,)}


def data_family(task: str) -> DataFamily:
    """The data family of a registered task; unknown task -> ``ValueError`` listing them."""
    from bipe.experiments.tasks import TASKS  # tasks import this module

    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; known tasks: {', '.join(TASKS)}")
    return get_family(TASKS[task].family)


def upgrade_run_dict(tree: dict[str, Any]) -> dict[str, Any]:
    """A run config dict whose ``data`` section has only the task's family keys (older,
    flat ``config.json`` files: see :func:`bipe.synthetic.families.upgrade_data`). To be removed
    on 2027-06-01 (tested by tests/experiments/test_committed_configs.py)."""
    if (
        not isinstance(tree, dict)
        or not isinstance(tree.get("data"), dict)
        or not isinstance(tree.get("task"), str)
    ):
        return tree
    return {**tree, "data": upgrade_data(data_family(tree["task"]), tree["data"])}


def check_finite(config: Any, prefix: str = "") -> None:
    """Every float of a config (nested sections and tuples included) must be finite: no
    option gives infinity or NaN a meaning, so ``--train.lr inf`` is refused, naming the key."""
    for f in dataclasses.fields(config):
        key = _join(prefix, f.name)
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value):
            check_finite(value, key)
            continue
        values = value if isinstance(value, tuple) else (value,)
        for v in values:
            if isinstance(v, float) and not math.isfinite(v):
                raise ValueError(f"{key} must be finite, got {value!r}")


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


def _field_types(cls: type, tree: dict[str, Any] | None) -> dict[str, tuple[Any, ...]]:
    """Field name -> the types it may take in ``tree`` (a section chosen by another field,
    such as a run's ``data`` by its task, through the class's ``section_types``)."""
    types_ = {name: (tp,) for name, tp in _hints(cls).items()}
    hook = getattr(cls, "section_types", None)
    if hook is not None:
        types_.update(hook(tree if isinstance(tree, dict) else {}))
    return types_


def config_to_dict(config: Any) -> dict[str, Any]:
    """A dataclass as nested plain dicts/lists (JSON-ready; tuples become lists)."""

    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return {
                f.name: plain(getattr(value, f.name))
                for f in dataclasses.fields(value)
                if getattr(value, f.name) or not f.metadata.get("omit_if_empty")
            }
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, (tuple, list)):
            return [plain(v) for v in value]
        return value

    return plain(config)


def config_from_dict(cls: type, data: dict[str, Any], *, where: str = "") -> Any:
    """Rebuild ``cls`` from :func:`config_to_dict` output; unknown keys are a ``ValueError``."""
    if not isinstance(data, dict):
        raise ValueError(f"config section {where or cls.__name__!r} must be an object")
    hints = {name: tps[0] for name, tps in _field_types(cls, data).items()}
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
    if tp is dict:
        raise ValueError(f"{key} is a mapping; set its entries as --{key}.NAME VALUE")
    raise ValueError(f"{key} cannot be set from the command line (type {tp})")


def valid_keys(cls: type, prefix: str = "", tree: dict[str, Any] | None = None) -> list[str]:
    """Every dotted key of a config class, leaves only (``model.d_model``, ``train.steps``...).

    For a run, ``data.*`` are the keys of ``tree``'s task's family, or of every family when
    ``tree`` (a partial config dict) names no task.
    """
    keys: dict[str, None] = {}
    types_ = _field_types(cls, tree)
    for f in dataclasses.fields(cls):
        for tp in types_[f.name]:
            if _is_config(tp):
                keys.update(dict.fromkeys(valid_keys(tp, _join(prefix, f.name))))
            elif tp is dict:  # a mapping of named entries (model.opt.NAME)
                keys[_join(prefix, f.name) + ".NAME"] = None
            else:
                keys[_join(prefix, f.name)] = None
    return list(keys)


def _leaf_type(cls: type, key: str, tree: dict[str, Any] | None = None) -> Any:
    """The annotated type of a dotted key, or a ``ValueError`` listing the valid keys."""
    parts = key.split(".")
    candidates: tuple[Any, ...] = (cls,)
    for depth, part in enumerate(parts):
        # a section with several possible classes (no task yet): the first that has the key
        tp = next(
            (
                c
                for c in candidates
                if _is_config(c) and part in {f.name for f in dataclasses.fields(c)}
            ),
            None,
        )
        if tp is None:
            raise ValueError(_unknown_key(cls, key, tree))
        candidates = _field_types(tp, tree if depth == 0 else None)[part]
    tp = candidates[0]
    if _is_config(tp):
        raise ValueError(f"config key {key!r} is a section; set one of its fields ({key}.NAME)")
    return tp


def _unknown_key(cls: type, key: str, tree: dict[str, Any] | None) -> str:
    """The one-line error of an unknown key (naming the family of a data key of another)."""
    valid = ", ".join(valid_keys(cls, tree=tree))
    head, _, name = key.partition(".")
    task = (tree or {}).get("task")
    other = owner(name) if head == "data" and task is not None else None
    if other is not None:
        family = data_family(task)
        own = ", ".join(k for k in valid_keys(cls, tree=tree) if k.startswith("data."))
        return (
            f"config key {key!r} belongs to the {other} data family, but task {task!r} "
            f"uses the {family.name} family; its keys: {own}"
        )
    return f"unknown config key {key!r}; valid keys: {valid}"


def apply_overrides(data: dict[str, Any], overrides: dict[str, str], cls: type) -> dict[str, Any]:
    """A copy of the nested dict ``data`` (a config of class ``cls``) with dotted overrides set.

    Each value is parsed by its field's type (``int``, ``float``, ``bool``, ``str``, optional
    and tuple types: ``1,2,4``); ``data.*`` keys by the family of ``data``'s task.
    """
    out = _deep_copy(data)
    # encoding options last: which options exist depends on model.pe
    for key, text in sorted(overrides.items(), key=lambda kv: kv[0].startswith(OPTION_PREFIX)):
        if key.startswith(OPTION_PREFIX):
            _apply_option(out, key, text)
            continue
        value = parse_value(_leaf_type(cls, key, data), text, key)
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = list(value) if isinstance(value, tuple) else value
    return out


OPTION_PREFIX = "model.opt."  # --model.opt.NAME VALUE: an option of any encoding entry


def _apply_option(tree: dict[str, Any], key: str, text: str) -> None:
    """Set ``model.opt.NAME`` in ``tree``: a built-in option is its flat ModelConfig field
    (``model.opt.rope_base`` = ``model.rope_base``), a plug-in's goes into ``model.opt``;
    an option the encoding does not declare is a ``ValueError`` naming its options."""
    from bipe.models.config import ModelConfig
    from bipe.models.registry import declared_option

    model = tree.setdefault("model", {})
    name = key[len(OPTION_PREFIX) :]
    option = declared_option(model.get("pe", ModelConfig.pe), name)
    if name in {f.name for f in dataclasses.fields(ModelConfig)}:
        model[name] = parse_value(_leaf_type(ModelConfig, name), text, key)
    else:
        model.setdefault("opt", {})[name] = parse_value(option.type, text, key)


def _deep_copy(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _deep_copy(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_deep_copy(v) for v in data]
    return data
