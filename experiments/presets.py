"""Named presets and :func:`build_config`: preset + task + dotted overrides -> a RunConfig.

A preset is a partial config (nested dicts) looked up by exact name; whatever it leaves out
takes the dataclass defaults. Its ``data`` holds the data keys every family shares;
``family_data`` adds per-family keys, used when the run's task is of that family (``--task
binfa_lm`` on ``tiny`` gets ``family_data["automaton"]``). The model's ``vocab_size`` and
``separators`` are derived from the task (they cannot be overridden); ``max_intra`` is set
from the training data when the run starts (``experiments/train.py``).

Each preset says what it is for and what it costs; what runs of it found lives in
``docs/results.md`` (generated from the committed run folders).

``tiny``
    For tests and smoke runs: 2 layers, width 32, 60 steps on 1-2 operator arithmetic; seconds
    on a CPU.
``demo``
    What ``bipe demo`` trains for arithmetic: 2 layers, width 64, 4 heads, 3000 steps of 32
    bounded-step chains (``fmt=steps``) with 1-4 operators, evaluated at 1-8; about one minute
    per encoding on a free CPU core.
``paper_arith``
    The reference arithmetic setup (docs/method.md#the-paper) as far as it is stated: 3 layers,
    width 256, 4 heads, AdamW lr 1e-4, batch 512, 1e6 training chains with the reference's
    ``--under`` weighting (``linear:1:15``), 100 epochs (195,313 steps); evaluation at 16-18
    operators (their extrapolation check) and in distribution. Not stated there, so bipe's
    defaults: warm-up, cosine decay, weight decay 0.01, gradient clipping 1.0, 1,000 test chains
    per length (they used 1e5 in total). Needs a GPU (days on a CPU).
``cpu_arith``
    Arithmetic extrapolation within a 2-core CPU budget: 3 layers, width 64, 4 heads,
    bounded-step chains (``fmt=steps``: every step segment has at most 5 tokens, so only the
    question and the segment count grow with the operator count) over 1-8 operators, 100k
    chains, 16k steps of 64 (about 10 epochs), evaluated to 12 operators; about 35-40 minutes
    per run on two shared cores, data and evaluation included.
``cpu_text``
    Language modelling on the Python standard library within a CPU budget: 4 layers, width
    128, 4 heads, a 128-token training context, 800 steps of 32 windows, loss evaluated at
    128-1024 tokens (1x-8x the context) on 65,536 validation tokens; 10-20 minutes of training per
    run on two shared CPU cores.
"""

from __future__ import annotations

from typing import Any

from bipe.experiments.config import (
    RunConfig,
    apply_overrides,
    config_from_dict,
    data_family,
    upgrade_run_dict,
)
from bipe.experiments.tasks import get_task
from bipe.models.config import ModelConfig

__all__ = ["PRESETS", "build_config"]

DERIVED_KEYS = ("model.vocab_size", "model.separators", "model.max_intra")

PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {
        "task": "arith",
        "data": {"n_train": 512, "n_eval": 16, "eval_lengths": [1, 2, 3]},
        "family_data": {
            "arithmetic": {"operators": "uniform:1:2"},
            "automaton": {
                "n_symbols": 3,
                "n_types": 2,
                "inner_states": 2,
                "outer_states": 2,
                "segments": "uniform:1:3",
                "segment_length": "uniform:1:3",
            },
            "chomsky": {"lengths": "uniform:1:5", "eval_lengths": [3, 7]},
            "text": {
                "context": 96,
                "eval_lengths": [],
                "eval_tokens": 4096,
                "train_tokens": 200_000,
                "n_eval": 10,
            },
        },
        "model": {"d_model": 32, "n_layers": 2, "n_heads": 2},
        "train": {
            "steps": 60,
            "batch_size": 16,
            "lr": 3e-3,
            "warmup": 10,
            "log_every": 10,
            "checkpoint_every": 20,
        },
    },
    "demo": {
        "task": "arith",
        "data": {"n_train": 20000, "n_eval": 200, "eval_lengths": [1, 2, 3, 4, 5, 6, 7, 8]},
        "family_data": {"arithmetic": {"operators": "uniform:1:4", "fmt": "steps"}},
        "model": {"d_model": 64, "n_layers": 2, "n_heads": 4},
        "train": {
            "steps": 3000,
            "batch_size": 32,
            "lr": 3e-3,
            "warmup": 100,
            "log_every": 50,
            "checkpoint_every": 500,
        },
    },
    "paper_arith": {
        "task": "arith",
        "data": {"n_train": 1_000_000, "n_eval": 1000, "eval_lengths": [5, 10, 15, 16, 17, 18]},
        "family_data": {"arithmetic": {"operators": "linear:1:15", "fmt": "feng"}},
        "model": {"d_model": 256, "n_layers": 3, "n_heads": 4},
        "train": {
            "steps": 195_313,
            "batch_size": 512,
            "lr": 1e-4,
            "warmup": 1000,
            "log_every": 100,
            "checkpoint_every": 2000,
        },
    },
    # cpu_arith: chosen from the data points (3 layers, width 64, 60k chains, 10-12
    # epochs, 1-4 or 1-6 operators: nothing extrapolates) and short runs here (1-4 operators,
    # 2 layers, 4000 steps: 97-98% in distribution, chance at 5+; 1-8 operators, 3000 steps:
    # 64-71% at 8, chance at 9+), then measured in full once (see the docstring).
    "cpu_arith": {
        "task": "arith",
        "data": {"n_train": 100_000, "n_eval": 500, "eval_lengths": [2, 4, 6, 8, 9, 10, 11, 12]},
        "family_data": {"arithmetic": {"operators": "uniform:1:8", "fmt": "steps"}},
        "model": {"d_model": 64, "n_layers": 3, "n_heads": 4},
        "train": {
            "steps": 16000,
            "batch_size": 64,
            "lr": 2e-3,
            "warmup": 300,
            "log_every": 50,
            "checkpoint_every": 1000,
        },
    },
    # cpu_text: the calibration shape (byte-level, 4 layers, width 128, 4 heads, 800
    # steps of 32 x 128 bytes of the standard library, each window seen once), evaluated in
    # non-overlapping chunks on 64 KiB of held-out files at 1-8x the training context.
    "cpu_text": {
        "task": "text_lm",
        "data": {"n_train": 25_600, "n_eval": 100, "eval_lengths": [128, 256, 512, 1024]},
        "family_data": {"text": {"corpus": "stdlib", "context": 128, "eval_tokens": 65_536}},
        "model": {"d_model": 128, "n_layers": 4, "n_heads": 4},
        "train": {
            "steps": 800,
            "batch_size": 32,
            "lr": 2e-3,
            "warmup": 50,
            "log_every": 20,
            "checkpoint_every": 200,
        },
    },
}


def build_config(
    preset: str = "tiny",
    *,
    task: str | None = None,
    pe: str | None = None,
    overrides: dict[str, str] | None = None,
    out: str | None = None,
    base: dict[str, Any] | None = None,
) -> RunConfig:
    """The RunConfig of ``preset`` with ``task``, ``pe`` (= ``model.pe``) and dotted overrides.

    ``base`` (a config dict, e.g. a run's ``config.json``) goes over the preset: keys it
    leaves out (a partial config file) come from ``preset`` for ``base``'s task. Unknown preset,
    task or key -> ``ValueError`` listing the known ones.
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; known presets: {', '.join(PRESETS)}")
    overrides = dict(overrides or {})
    for key in DERIVED_KEYS:
        if key in overrides:
            raise ValueError(f"{key} is derived from the task and cannot be set")
    if pe is not None:
        overrides["model.pe"] = pe
    if base is None:
        tree = _preset_tree(preset, task)
    else:
        base = upgrade_run_dict({**base, "task": task or base.get("task")})
        filler = _preset_tree(preset, base["task"] or PRESETS[preset]["task"])
        tree = _merged(filler, {k: v for k, v in base.items() if v is not None})
    tree = apply_overrides(tree, overrides, RunConfig)
    if out is not None:
        tree["out"] = out
    the_task = get_task(tree["task"])
    data = config_from_dict(
        data_family(tree["task"]).config, tree.setdefault("data", {}), where="data"
    )
    model = tree.setdefault("model", {})
    model["vocab_size"] = the_task.vocab_size(data)
    model["separators"] = list(the_task.model_separators(data, model.get("pe", ModelConfig.pe)))
    model.pop("max_intra", None)  # set from the training data when the run starts
    need = the_task.causal(data)
    if need is not None:
        model.setdefault("causal", need)
    config = config_from_dict(RunConfig, tree)
    if need is not None and config.model.causal != need:
        raise ValueError(
            f"task {config.task} with data.protocol={data.protocol} needs "
            f"model.causal={str(need).lower()}"
        )
    return config


def _merged(under: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` with the keys it lacks taken from ``under``, section by section."""
    out = dict(under)
    for key, value in over.items():
        both = isinstance(value, dict) and isinstance(under.get(key), dict)
        out[key] = _merged(under[key], value) if both else value
    return out


def _preset_tree(preset: str, task: str | None) -> dict[str, Any]:
    """The preset as a config dict for ``task`` (its own task when None): the shared data keys
    plus the keys its ``family_data`` gives for that task's family."""
    tree = {k: v for k, v in PRESETS[preset].items() if k != "family_data"}
    tree["task"] = task or tree["task"]
    family = data_family(tree["task"]).name
    extra = PRESETS[preset].get("family_data", {}).get(family, {})
    tree["data"] = {**tree.get("data", {}), **extra}
    return tree
