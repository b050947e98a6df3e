"""A run's data in memory: seed streams, the device, and :func:`prepare` (world, training set
and the config resolved against them).

Seed streams (``SeedSequence(data_seed)`` with these spawn keys): 0 the task's world (e.g. the
automaton), 1 the training set, 2 the batch order, 3 evaluation sets, 4 segmentation
perturbations, 5 sampled evaluation positions (``eval_positions=sampled``).

Both ``experiments/train.py`` and ``experiments/evaluate.py`` build on this module, so neither
imports the other at load time.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bipe.experiments.config import RunConfig
from bipe.experiments.segmentation import (
    example_positions,
    fit_run_segmenters,
    load_run_segmenters,
    max_intra,
)
from bipe.experiments.tasks import Examples, Task, get_task
from bipe.models.precision import resolve_compute_dtype

__all__ = [
    "BATCH",
    "EVAL",
    "SEGMENT",
    "TRAIN",
    "WORLD",
    "Prepared",
    "apply_threads",
    "prepare",
    "machine_devices",
    "resolve_device",
    "resolve_precision",
    "step_work",
    "stream",
]

WORLD, TRAIN, BATCH, EVAL, SEGMENT, POSITIONS = range(6)


def stream(data_seed: int, *key: int) -> np.random.Generator:
    """The independent generator of one named data stream (see the module docstring)."""
    return np.random.default_rng(np.random.SeedSequence(data_seed, spawn_key=tuple(key)))


def apply_threads(config: RunConfig) -> None:
    """Use the run's ``train.n_threads`` CPU threads (0: torch's default). Training and
    evaluation both apply it: an evaluation that starts more threads than its run was given
    oversubscribes the cores when runs share a machine, and waits on them."""
    if config.train.n_threads:
        torch.set_num_threads(config.train.n_threads)


def machine_devices() -> list[str]:
    """The devices this machine has: ``cpu``, then ``cuda:N`` and ``mps`` where present."""
    found = ["cpu"]
    if torch.cuda.is_available():
        found += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if torch.backends.mps.is_available():
        found.append("mps")
    return found


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when present, else CPU; a device this machine lacks (``cuda`` without
    a GPU, ``cuda:1`` with one, ``mps`` off a Mac) -> ``ValueError`` naming the ones it has."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"train.device {name!r} is not a device name") from None
    present = machine_devices()
    wanted = "mps" if device.type == "mps" else f"{device.type}:{device.index or 0}"
    if device.type != "cpu" and wanted not in present:
        raise ValueError(
            f"train.device={name}: this machine has no such device; it has {', '.join(present)}"
        )
    return device


@dataclass(frozen=True, eq=False)
class Prepared:
    """A run's task, world and training data, and the config resolved against that data."""

    config: RunConfig
    task: Task
    world: Any
    train: Examples
    positions: tuple[tuple[np.ndarray, np.ndarray], ...]
    segmenters: dict[str, Any] = dataclasses.field(default_factory=dict)


def prepare(config: RunConfig, run_dir: str | Path | None = None) -> Prepared:
    """Build the world and the training set, and resolve ``model.max_intra`` from it.

    The intra table gets exactly one row per intra position seen in training (under the
    training segmentation); the model's ``intra_overflow`` policy decides the rest. Entropy
    segmenters (``segmenters``: split -> fitted segmenter) are read from ``run_dir`` when it
    holds them, else fitted on the training inputs (experiments/segmentation.py).
    ``model.compute_dtype="auto"`` becomes the concrete dtype for the run's device (recorded
    in config.json, so a resumed run keeps it on any machine; docs/guide.md#precision).
    """
    task = get_task(config.task)
    world = task.setup(stream(config.data_seed, WORLD), config.data)
    if config.data.path:
        examples = task.load(config.data.path, config.data, world)
        lo, hi = task.train_range(config.data)
        have = (
            (int(examples.setting.min()), int(examples.setting.max()))
            if len(examples)
            else (lo, hi)
        )
        if have[0] < lo or have[1] > hi:
            raise ValueError(
                f"{config.data.path}: {task.unit} {have[0]}..{have[1]}, outside "
                f"the training range {lo}..{hi} of the run's data config (set "
                f"--data.{task.length_field}"
                f" uniform:{have[0]}:{have[1]})"
            )
    else:
        examples = task.generate(
            stream(config.data_seed, TRAIN), config.data, world, config.data.n_train, None
        )
    if not len(examples):
        raise ValueError("the training set is empty")
    seps = config.model.separators
    segmenters = (
        load_run_segmenters(run_dir, config) if run_dir is not None else None
    ) or fit_run_segmenters(config, examples.inputs)
    positions = example_positions(
        stream(config.data_seed, SEGMENT, 0),
        examples,
        config.segment_train,
        seps,
        segmenters.get("train"),
    )
    model = dataclasses.replace(
        resolve_precision(config, step_work(config, examples)).model,
        max_intra=max_intra(positions) + 1,
    )
    return Prepared(
        dataclasses.replace(config, model=model), task, world, examples, positions, segmenters
    )


def step_work(config: RunConfig, examples) -> int:
    """A training step's ``B * T * D``: batch size x the examples' mean length x width (what
    ``compute_dtype="auto"`` weighs on a CPU; ``models/precision.py``)."""
    mean = sum(len(x) for x in examples.inputs) / max(len(examples), 1)
    return round(config.train.batch_size * mean * config.model.d_model)


def resolve_precision(config: RunConfig, work: int | None = None) -> RunConfig:
    """``config`` with ``model.compute_dtype="auto"`` resolved for the run's device and a
    training step of ``work`` = ``B * T * D`` (:func:`step_work`)."""
    dtype = resolve_compute_dtype(
        config.model.compute_dtype, resolve_device(config.train.device), work=work
    )
    return dataclasses.replace(config, model=dataclasses.replace(config.model, compute_dtype=dtype))
