"""Training runs: data in memory from the data seed, AdamW, checkpoints, exact resume.

:func:`train` runs a :class:`~bipe.experiments.config.RunConfig` into its run folder (layout in
``experiments/rundir.py``); :func:`resume` continues one. Determinism: the training set comes
from ``data_seed``; the batch of step ``s`` is a pure function of ``(data_seed, s)`` (one
permutation of the training set per epoch); the initial weights come from ``init_seed`` (torch's
global generator is forked, never touched); the checkpoint holds model, optimizer, the sampling
generator's state, torch's global generator state (dropout) and the loss accumulator of the
logging window. Resuming from any checkpoint therefore gives bit-identical losses and weights
on CPU to an uninterrupted run; Ctrl-C saves a
checkpoint at the last completed step (unless it hit inside the optimizer update, where the
last periodic checkpoint stands).

Seed streams (``SeedSequence(data_seed)`` with these spawn keys): 0 the task's world (e.g. the
automaton), 1 the training set, 2 the batch order, 3 evaluation sets, 4 segmentation
perturbations.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bipe.experiments import rundir, tblog
from bipe.experiments.config import RunConfig
from bipe.experiments.segmentation import (
    example_positions,
    fit_run_segmenters,
    load_run_segmenters,
    max_intra,
    pad_rows,
    save_run_segmenters,
)
from bipe.experiments.tasks import IGNORE, Examples, Task, get_task
from bipe.models.checkpoint import save as save_model
from bipe.models.positions import Positions
from bipe.models.transformer import Transformer

__all__ = ["Prepared", "batch_indices", "make_batch", "prepare", "resume", "stream", "train"]

WORLD, TRAIN, BATCH, EVAL, SEGMENT = range(5)


def stream(data_seed: int, *key: int) -> np.random.Generator:
    """The independent generator of one named data stream (see the module docstring)."""
    return np.random.default_rng(np.random.SeedSequence(data_seed, spawn_key=tuple(key)))


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when present, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


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
    """
    task = get_task(config.task)
    world = task.setup(stream(config.data_seed, WORLD), config.data)
    if config.data.path:
        examples = task.load(config.data.path, config.data, world)
        lo, hi = task.train_range(config.data)
        have = (int(examples.setting.min()), int(examples.setting.max())) if len(examples) \
            else (lo, hi)
        if have[0] < lo or have[1] > hi:
            raise ValueError(f"{config.data.path}: {task.unit} {have[0]}..{have[1]}, outside "
                             f"the training range {lo}..{hi} of the run's data config (set "
                             f"--data.{'operators' if task.unit == 'operators' else 'segments'}"
                             f" uniform:{have[0]}:{have[1]})")
    else:
        examples = task.generate(stream(config.data_seed, TRAIN), config.data, world,
                                 config.data.n_train, None)
    if not len(examples):
        raise ValueError("the training set is empty")
    seps = config.model.separators
    segmenters = (load_run_segmenters(run_dir, config) if run_dir is not None else None) \
        or fit_run_segmenters(config, examples.inputs)
    positions = example_positions(stream(config.data_seed, SEGMENT, 0), examples,
                                  config.segment_train, seps, segmenters.get("train"))
    model = dataclasses.replace(config.model, max_intra=max_intra(positions) + 1)
    return Prepared(dataclasses.replace(config, model=model), task, world, examples, positions,
                    segmenters)


def batch_indices(data_seed: int, step: int, batch_size: int, n: int) -> np.ndarray:
    """(B,) example indices of step ``step``: consecutive slices of one permutation per epoch."""
    flat = step * batch_size + np.arange(batch_size)  # (B,) running example counter
    epochs = flat // n
    out = np.empty(batch_size, dtype=np.int64)
    for epoch in np.unique(epochs):
        perm = stream(data_seed, BATCH, int(epoch)).permutation(n)  # (N,)
        sel = epochs == epoch
        out[sel] = perm[flat[sel] % n]
    return out


def make_batch(
    examples: Examples, positions, rows: np.ndarray, device: torch.device
) -> tuple[torch.Tensor, Positions, torch.Tensor]:
    """``(tokens (B, T), positions, targets (B, T[, C]))`` of the given example rows."""
    tokens, lengths = pad_rows([examples.inputs[i] for i in rows])  # (B, T), (B,)
    seg, _ = pad_rows([positions[i][0] for i in rows])  # (B, T)
    intra, _ = pad_rows([positions[i][1] for i in rows])  # (B, T)
    first = examples.targets[rows[0]]
    targets = np.full(tokens.shape + first.shape[1:], IGNORE, dtype=np.int64)  # (B, T[, C])
    for j, i in enumerate(rows):
        targets[j, : lengths[j]] = examples.targets[i]
    b, t = tokens.shape
    index = torch.arange(t, device=device).expand(b, t)  # (B, T)
    pos = Positions(index, torch.from_numpy(seg).to(device), torch.from_numpy(intra).to(device))
    return torch.from_numpy(tokens).to(device), pos, torch.from_numpy(targets).to(device)


def lr_at(step: int, config) -> float:
    """Learning rate of ``step`` (0-based): linear warm-up, then cosine to ``min_lr_ratio``."""
    if config.warmup and step < config.warmup:
        return config.lr * (step + 1) / config.warmup
    span = max(1, config.steps - config.warmup)
    progress = min(1.0, (step - config.warmup) / span)
    floor = config.lr * config.min_lr_ratio
    return floor + (config.lr - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def build_model(config: RunConfig, device: torch.device) -> Transformer:
    """The model with initial weights from ``init_seed`` (torch's global RNG left untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.init_seed)
        model = Transformer(config.model)
    return model.to(device)


def make_optimizer(model: torch.nn.Module, config) -> torch.optim.Optimizer:
    """AdamW; weight decay on matrices only (not on norms' gains)."""
    decay = [p for p in model.parameters() if p.dim() >= 2]
    other = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": config.weight_decay},
              {"params": other, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=config.lr, betas=(0.9, 0.98))


def train(
    config: RunConfig, *, command: list[str] | None = None, progress: bool = True,
    stop_after: int | None = None,
) -> Path:
    """Train ``config`` into the new run folder ``config.out``; returns the folder.

    A folder that already holds a run is an error (use :func:`resume`). ``stop_after`` ends
    the run after that many steps as if interrupted (tests use it to check resume).
    """
    out = Path(config.out)
    if (out / "config.json").exists() or (out / "checkpoint.pt").exists():
        raise ValueError(
            f"{out} already holds a run; resume it with --resume or pick another --out")
    prepared = prepare(config)
    from bipe.experiments.evaluate import check_feasible  # noqa: PLC0415 (evaluate imports us)

    check_feasible(prepared)
    save_run_segmenters(out, prepared.segmenters)
    rundir.write_run_config(out, prepared.config, command or [])
    return _run(prepared, out, None, progress=progress, stop_after=stop_after)


def resume(run_dir: str | Path, *, progress: bool = True, stop_after: int | None = None) -> Path:
    """Continue the run in ``run_dir`` from its checkpoint (or from scratch if it has none)."""
    config, _ = rundir.read_run_config(run_dir)
    state = rundir.load_checkpoint(run_dir)
    prepared = prepare(config, run_dir)
    if prepared.config.model != config.model:
        raise ValueError(f"{run_dir}/config.json does not match the regenerated training data "
                         "(was it written by another bipe version?)")
    prepared = dataclasses.replace(prepared, config=dataclasses.replace(
        prepared.config, out=str(run_dir)))
    return _run(prepared, Path(run_dir), state, progress=progress, stop_after=stop_after)


def _run(prepared: Prepared, out: Path, state: dict | None, *, progress: bool,
         stop_after: int | None) -> Path:
    config, tc = prepared.config, prepared.config.train
    if tc.n_threads:
        torch.set_num_threads(tc.n_threads)
    device = resolve_device(tc.device)
    model = build_model(config, device)
    optimizer = make_optimizer(model, tc)
    sampler = torch.Generator(device=device).manual_seed(config.init_seed)  # randomized PEs
    step, window = 0, [0.0, 0]
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        sampler.set_state(state["sampler"])
        step, window = int(state["step"]), [float(state["window_loss"]), int(state["window_n"])]
        rundir.write_metrics(out, [r for r in rundir.read_metrics(out) if r["step"] <= step])
    elif (out / "metrics.jsonl").exists():
        rundir.write_metrics(out, [])
    if step < tc.steps:
        # dropout draws from torch's global generator: fork it, seed it, restore it on resume
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(config.init_seed + 1)
            if state is not None:
                torch.set_rng_state(state["torch_rng"])
                if device.type == "cuda" and "cuda_rng" in state:
                    torch.cuda.set_rng_state(state["cuda_rng"], device)
            step = _loop(prepared, model, optimizer, sampler, out, step, window, progress,
                         stop_after)
    if step >= tc.steps:
        save_model(model, out / "model.pt")
        if tc.evaluate_at_end:
            from bipe.experiments.evaluate import evaluate_run  # noqa: PLC0415

            tblog.log_eval(out, evaluate_run(out, model=model, progress=progress), step)
    return out


def _checkpoint(out, model, optimizer, sampler, step, window) -> None:
    device = next(model.parameters()).device
    extra = {"cuda_rng": torch.cuda.get_rng_state(device)} if device.type == "cuda" else {}
    rundir.save_checkpoint(out, {
        "step": step, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
        "sampler": sampler.get_state(), "torch_rng": torch.get_rng_state(),
        "window_loss": window[0], "window_n": window[1], **extra,
    })


def _loop(prepared, model, optimizer, sampler, out, step, window, progress, stop_after) -> int:
    from tqdm.auto import tqdm  # noqa: PLC0415

    config, tc, task = prepared.config, prepared.config.train, prepared.task
    device = next(model.parameters()).device
    n = len(prepared.train)
    bar = tqdm(total=tc.steps, initial=step, disable=not progress,
               desc=f"train {config.task} {config.model.pe}", leave=False)
    model.train()
    tokens_seen, t0, updating = 0, time.perf_counter(), False
    last_saved, tb = step, tblog.open_log(out, step)  # TensorBoard view of metrics.jsonl
    end = tc.steps if stop_after is None else min(tc.steps, step + stop_after)
    try:
        while step < end:
            rows = batch_indices(config.data_seed, step, tc.batch_size, n)
            tokens, pos, targets = make_batch(prepared.train, prepared.positions, rows, device)
            if config.segment_train.is_default:
                pos = None  # the model's own streams (identical; multi-level for hbipe)
            lr = lr_at(step, tc)
            for group in optimizer.param_groups:
                group["lr"] = lr
            logits = model(tokens, pos, generator=sampler)  # (B, T, V)
            loss = task.loss(logits, targets, config.data)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if tc.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip)
            loss_value = float(loss.detach())
            updating = True  # from here to the end of the body a Ctrl-C keeps the last checkpoint
            optimizer.step()
            step += 1
            window[0] += loss_value
            window[1] += 1
            tokens_seen += tokens.numel()
            bar.update(1)
            if step % tc.log_every == 0 or step == tc.steps:
                elapsed = time.perf_counter() - t0
                row = {"step": step, "loss": window[0] / window[1], "lr": lr,
                       "tokens/s": tokens_seen / elapsed if elapsed > 0 else 0.0,
                       "elapsed_s": elapsed}
                rundir.append_metrics(out, row)
                tb.log(row)
                bar.set_postfix(loss=f"{window[0] / window[1]:.3f}")
                window[0], window[1] = 0.0, 0
                tokens_seen, t0 = 0, time.perf_counter()
            if step % tc.checkpoint_every == 0 or step == tc.steps:
                _checkpoint(out, model, optimizer, sampler, step, window)
                last_saved = step
            updating = False
    except (KeyboardInterrupt, SystemExit):  # Ctrl-C; a submitit job told to exit
        if not updating and step != last_saved:
            _checkpoint(out, model, optimizer, sampler, step, window)
        raise
    finally:
        bar.close()
        tb.close()
    if step != last_saved:
        _checkpoint(out, model, optimizer, sampler, step, window)
    return step
