"""Every data, train, segmentation and model trunk key has an effect or is refused.

A tiny run of each task family (training, then its evaluation) records which config fields
the code reads, leaving out reads made to validate, copy, compare or serialise a config. A key
never read under the defaults must change the model config (through a derived key such as
``model.separators``) or be refused (``ValueError`` naming it, the CLI's exit 2)
when set to a non-default value: otherwise it would be accepted and silently ignored. The
per-encoding model options are checked by the encodings' own declarations.
"""

import dataclasses
import sys

import pytest

from bipe.experiments import evaluate as evaluate_module
from bipe.experiments.config import RunConfig, valid_keys
from bipe.experiments.presets import DERIVED_KEYS, build_config
from bipe.experiments.train import train

SECTIONS = ("data", "model", "train", "segment_train", "segment_eval")
TRUNK = {
    "d_model",
    "n_layers",
    "n_heads",
    "d_ff",
    "pe",
    "dropout",
    "tie_embeddings",
    "norm_eps",
    "compute_dtype",
}
# reads from these functions validate, copy, compare or serialise; they are not effects
NOT_AN_EFFECT = {
    "__post_init__",
    "__eq__",
    "__repr__",
    "__hash__",
    "to_dict",
    "plain",
    "config_to_dict",
    "check_finite",
    "group_key",
    "trunk_key",
}
# a non-default value of each key that is valid on its own (numbers: see _other)
OTHER = {
    "data.path": "no/such/folder",
    "data.eval_lengths": "1,2",
    "data.operators": "uniform:1:3",
    "data.fmt": "direct",
    "data.separator_rule": "operators",
    "data.segments": "uniform:1:2",
    "data.segment_length": "uniform:1:2",
    "data.eval_segment_length": "uniform:1:2",
    "data.sub_segments": "uniform:1:2",
    "data.corpus": "kjv",
    "data.files": "a.txt",
    "data.include": "*.py",
    "data.exclude": "*.md",
    "data.text_column": "body",
    "data.hf_split": "test",
    "data.tokenizer": "bpe",
    "data.protocol": "sliding",
    "data.eval_split": "test",
    "data.passkey_filler": "corpus",
    "data.passkey_depths": "0.5",
    "model.pe": "alibi",
    "model.compute_dtype": "float32",
    "train.device": "cpu",
    "segment_train.method": "fixed:3",
    "segment_eval.method": "fixed:3",
    "segment_train.entropy_rule": "rise",
    "segment_eval.entropy_rule": "rise",
}
BIPE = {"model.pe": "bipe_rope", "train.warmup": "1"}  # reads the separators and the decay
RUNS = {
    "arith": {**BIPE, "data.n_eval": "4", "data.eval_lengths": "1"},
    "binfa_lm": {**BIPE, "data.n_eval": "4", "data.eval_lengths": "1"},
    "chomsky:parity_check": {**BIPE, "data.n_eval": "4"},
    "ruler:niah_multikey": {
        **BIPE,
        "data.context": "256",
        "data.eval_lengths": "256",
        "data.n_eval": "4",
    },
    "passkey": {**BIPE, "data.context": "96", "data.eval_lengths": "96", "data.n_eval": "5"},
    "text_lm": {
        **BIPE,
        "data.context": "32",
        "data.eval_tokens": "512",
        "data.train_tokens": "4096",
        "data.eval_lengths": "32",
    },
}


def _in_bookkeeping() -> bool:
    frame = sys._getframe(2)
    while frame is not None:
        code = frame.f_code
        if code.co_name in NOT_AN_EFFECT or code.co_filename.endswith("dataclasses.py"):
            return True
        frame = frame.f_back
    return False


def _track(config: RunConfig, reads: set[str]) -> RunConfig:
    """``config`` with every section recording the fields read (in place; copies made with
    ``dataclasses.replace`` keep recording)."""
    for section in SECTIONS:
        obj = getattr(config, section)
        cls = type(obj)
        names = {f.name for f in dataclasses.fields(cls)}

        def getattribute(self, name, _names=names, _section=section):
            if name in _names and not _in_bookkeeping():
                reads.add(f"{_section}.{name}")
            return object.__getattribute__(self, name)

        tracked = type(cls.__name__, (cls,), {"__getattribute__": getattribute})
        object.__setattr__(obj, "__class__", tracked)
    return config


def _other(key: str, default):
    if key in OTHER:
        return OTHER[key]
    if isinstance(default, bool):
        return str(not default)
    if isinstance(default, int):
        return str(default + 1)
    if isinstance(default, float):
        return str(default / 2 if default else 0.5)
    raise AssertionError(f"no non-default value for {key} (default {default!r}); add to OTHER")


def _default(config: RunConfig, key: str):
    section, name = key.split(".", 1)
    return getattr(getattr(config, section), name)


def _keys(task: str) -> list[str]:
    keys = []
    for key in valid_keys(RunConfig, tree={"task": task}):
        section, _, name = key.partition(".")
        if not name or key in DERIVED_KEYS or (section == "model" and name not in TRUNK):
            continue
        keys.append(key)
    return keys


@pytest.fixture(scope="module")
def read_keys(tmp_path_factory):
    """Task -> the keys a tiny run of it reads (training and evaluation)."""
    out = {}
    for task, extra in RUNS.items():
        reads: set[str] = set()
        overrides = {"train.steps": "2", "train.n_threads": "1", **extra}
        config = build_config(
            "tiny", task=task, overrides=overrides, out=str(tmp_path_factory.mktemp(task) / "r")
        )
        original = evaluate_module.evaluation_config

        def tracked_eval_config(run_dir, changes, _reads=reads, _original=original):
            config, raw = _original(run_dir, changes)
            return _track(config, _reads), raw

        evaluate_module.evaluation_config = tracked_eval_config
        try:
            train(_track(config, reads), progress=False)
        finally:
            evaluate_module.evaluation_config = original
        out[task] = reads
    return out


@pytest.mark.parametrize("task", list(RUNS))
def test_every_key_has_an_effect_or_is_refused(read_keys, task):
    base = {k: v for k, v in RUNS[task].items()}
    default = build_config("tiny", task=task, overrides=base)
    silent = []
    for key in _keys(task):
        if key in read_keys[task] or key in base:
            continue
        try:
            changed = build_config(
                "tiny", task=task, overrides={**base, key: _other(key, _default(default, key))}
            )
        except ValueError as err:
            assert key.split(".", 1)[1] in str(err), (key, str(err))
            continue
        if changed.model != default.model:  # it reaches the model through a derived key
            continue
        silent.append(key)
    assert not silent, f"accepted but never read in a {task} run: {silent}"


def test_the_runs_read_the_trunk_and_train_keys(read_keys):
    """The walk is not vacuous: a run reads the trainer's and the model's keys."""
    for reads in read_keys.values():
        assert {"train.lr", "train.steps", "model.d_model", "data.n_train"} <= reads
