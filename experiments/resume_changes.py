"""What ``bipe train --resume RUN`` may change, and the record of each resume.

A resumed run continues from its checkpoint under its own ``config.json``
(docs/guide.md#resuming-a-run). Options given with ``--resume`` are checked against it:

- **safe** changes are applied: ``train.steps`` (more, or fewer but not below the steps already
  trained), the log and checkpoint cadence (``train.log_every``, ``train.checkpoint_every``),
  ``train.evaluate_at_end``, and evaluation settings (``data.n_eval``, ``data.eval_lengths``,
  ``data.eval_tokens_per_batch``, ``data.eval_segment_length``, any ``segment_eval.*``,
  ``eval_positions``);
- anything else (model, data, seeds, optimiser and learning-rate schedule shape, ...) is refused
  with one line naming the key and both values.

The learning rate stays a pure function of the step and the config: with a new ``train.steps``
the warm-up + cosine schedule is that of the new total, applied from the resume step on (the
steps already taken keep the rates they had). Resuming an extended run again, or extending it
without interruption, therefore gives the same result.

Each resume given on the command line (or with changes) is appended to
``config.json["resumes"]`` as ``{"command": [...] or null, "step": <checkpoint step>,
"changes": {key: [old, new]}}``; the original ``config.json["command"]`` is kept.
"""

from __future__ import annotations

from typing import Any

from bipe.experiments.config import RunConfig, apply_overrides, config_from_dict, config_to_dict

__all__ = ["SAFE_KEYS", "is_safe_on_resume", "resumed_config"]

SAFE_KEYS = ("train.steps", "train.log_every", "train.checkpoint_every", "train.evaluate_at_end")
EVAL_FIELDS = ("n_eval", "eval_lengths", "eval_tokens_per_batch", "eval_segment_length")
EVAL_SECTIONS = ("segment_eval",)
EVAL_TOP = ("eval_positions",)


def is_safe_on_resume(key: str) -> bool:
    """Whether the dotted config ``key`` may change when a run is resumed."""
    top, leaf = key.split(".")[0], key.rsplit(".", 1)[-1]
    return (
        key in SAFE_KEYS
        or key in EVAL_TOP
        or top in EVAL_SECTIONS
        or (top == "data" and leaf in EVAL_FIELDS)
    )


def _changes(old: Any, new: Any, prefix: str = "") -> dict[str, list]:
    """``{dotted key: [old, new]}`` of every leaf that differs between two config dicts."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: dict[str, list] = {}
        for key in sorted(set(old) | set(new)):
            out.update(_changes(old.get(key), new.get(key), f"{prefix}.{key}" if prefix else key))
        return out
    return {} if old == new else {prefix: [old, new]}


def resumed_config(
    config: RunConfig, overrides: dict[str, str], *, step: int
) -> tuple[RunConfig, dict[str, list]]:
    """``config`` with the safe ``overrides`` applied, and the changes ``{key: [old, new]}``.

    ``step`` is the checkpoint's step. An unsafe change, or ``train.steps`` below ``step``, is a
    ``ValueError`` (one line, naming the key).
    """
    old = config_to_dict(config)
    data = apply_overrides(old, overrides, RunConfig)
    changes = _changes(old, data)
    unsafe = [k for k in changes if not is_safe_on_resume(k)]
    if unsafe:
        key = unsafe[0]
        before, after = changes[key]
        raise ValueError(
            f"--resume cannot change {key} ({before!r} -> {after!r}); a resumed run may change "
            f"only {', '.join(SAFE_KEYS)} and evaluation settings (data.n_eval, "
            "data.eval_lengths, data.eval_tokens_per_batch, data.eval_segment_length, "
            "segment_eval.*, eval_positions)"
        )
    new = config_from_dict(RunConfig, data)
    if new.train.steps < step:
        raise ValueError(
            f"--train.steps {new.train.steps} is below the {step} steps the run has already trained"
        )
    return new, changes
