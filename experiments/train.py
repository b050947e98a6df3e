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
Seed streams and :func:`prepare` live in ``experiments/prepare.py`` (re-exported here).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

from bipe.experiments import distributed, rundir, tblog
from bipe.experiments.compiled import backward, compile_forward, compile_supported, update
from bipe.experiments.config import RunConfig
from bipe.experiments.prepare import (  # noqa: F401 (re-exported: public names of train)
    BATCH,
    EVAL,
    SEGMENT,
    TRAIN,
    WORLD,
    Prepared,
    apply_threads,
    prepare,
    resolve_device,
    resolve_precision,
    step_work,
    stream,
)
from bipe.experiments.progress import StepLines
from bipe.experiments.segmentation import save_run_segmenters
from bipe.experiments.tasks import IGNORE, Examples
from bipe.models.checkpoint import save as save_model
from bipe.models.positions import Positions
from bipe.models.precision import precision_note
from bipe.models.transformer import Transformer
from bipe.synthetic.arrays import pad_rows

__all__ = [
    "Prepared",
    "batch_indices",
    "make_batch",
    "prepare",
    "resolve_precision",
    "resume",
    "stream",
    "train",
]


def batch_indices(data_seed: int, step: int, batch_size: int, n: int) -> np.ndarray:
    """(B,) example indices of step ``step``: consecutive slices of one permutation per epoch."""
    flat = step * batch_size + np.arange(batch_size)  # (B,) running example counter
    epochs = flat // n
    out = np.empty(batch_size, dtype=np.int64)
    for epoch in np.unique(epochs):
        perm = _epoch_order(data_seed, int(epoch), n)  # (N,)
        sel = epochs == epoch
        out[sel] = perm[flat[sel] % n]
    return out


@functools.lru_cache(maxsize=4)
def _epoch_order(data_seed: int, epoch: int, n: int) -> np.ndarray:
    """(N,) read-only permutation of epoch ``epoch`` (drawn once, not at every step)."""
    perm = stream(data_seed, BATCH, epoch).permutation(n)
    perm.flags.writeable = False
    return perm


def make_batch(
    examples: Examples, positions, rows: np.ndarray, device: torch.device
) -> tuple[torch.Tensor, Positions | None, torch.Tensor]:
    """``(tokens (B, T), positions, targets (B, T[, C]))`` of the given example rows.

    ``positions`` (per-example ``(seg, intra)``, as ``Prepared.positions``) are padded and
    shipped only when given: None (the default segmentation, which the model recomputes from
    the separators) gives None."""
    tokens, _ = pad_rows([examples.inputs[i] for i in rows])  # (B, T)
    targets, _ = pad_rows([examples.targets[i] for i in rows], pad=IGNORE)  # (B, T[, C])
    tokens_t, targets_t = torch.from_numpy(tokens).to(device), torch.from_numpy(targets).to(device)
    if positions is None:
        return tokens_t, None, targets_t
    seg, _ = pad_rows([positions[i][0] for i in rows])  # (B, T)
    intra, _ = pad_rows([positions[i][1] for i in rows])  # (B, T)
    b, t = tokens.shape
    index = torch.arange(t, device=device).expand(b, t)  # (B, T)
    pos = Positions(index, torch.from_numpy(seg).to(device), torch.from_numpy(intra).to(device))
    return tokens_t, pos, targets_t


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
    """AdamW (fused kernel on CPU and CUDA); weight decay on matrices only (not on norms'
    gains)."""
    decay = [p for p in model.parameters() if p.dim() >= 2]
    other = [p for p in model.parameters() if p.dim() < 2]
    groups = [
        {"params": decay, "weight_decay": config.weight_decay},
        {"params": other, "weight_decay": 0.0},
    ]
    fused = all(p.device.type in ("cpu", "cuda") for p in model.parameters())
    return torch.optim.AdamW(groups, lr=config.lr, betas=(0.9, 0.98), fused=fused or None)


def train(
    config: RunConfig,
    *,
    command: list[str] | None = None,
    progress: bool = True,
    stop_after: int | None = None,
) -> Path:
    """Train ``config`` into the new run folder ``config.out``; returns the folder.

    A folder that already holds a run is an error (use :func:`resume`). ``stop_after`` ends
    the run after that many steps as if interrupted (tests use it to check resume). Under
    torchrun the run trains data-parallel (``experiments/distributed.py``).
    """
    resolve_device(config.train.device)  # a missing device: refused before anything is written
    with distributed.join(config.train.device):
        return _train(config, command, progress, stop_after)


def _train(
    config: RunConfig, command: list[str] | None, progress: bool, stop_after: int | None
) -> Path:
    out = Path(config.out)
    if (out / "config.json").exists() or (out / "checkpoint.pt").exists():
        raise ValueError(
            f"{out} already holds a run; resume it with --resume or pick another --out"
        )
    prepared = prepare(config)
    from bipe.experiments.evaluate import check_feasible  # evaluate imports us

    check_feasible(prepared)
    distributed.check_batch(config.train.batch_size)
    distributed.barrier()  # every rank has checked the folder before rank 0 writes to it
    if distributed.is_main():
        _announce(
            config.model.compute_dtype,
            config.train.device,
            progress,
            step_work(config, prepared.train),
        )
        save_run_segmenters(out, prepared.segmenters)
        rundir.write_run_config(out, prepared.config, command or [])
        prepared.task.write_files(prepared.world, out)
    return _run(prepared, out, None, progress=progress, stop_after=stop_after)


def resume(
    run_dir: str | Path,
    *,
    progress: bool = True,
    stop_after: int | None = None,
    overrides: dict[str, str] | None = None,
    command: list[str] | None = None,
    force: bool = False,
) -> Path:
    """Continue the run in ``run_dir`` from its checkpoint (or from scratch if it has none),
    with the recorded config (compute dtype included), under any number of ranks.

    ``overrides`` (dotted key -> text) may change only what is safe to change mid-run (more
    steps, evaluation settings, cadence; see ``experiments/resume_changes.py``); anything else is
    a ``ValueError``. A resume with changes or a ``command`` (its command line) is recorded in
    ``config.json["resumes"]``.
    """
    config, raw = rundir.read_run_config(run_dir)
    resolve_device(config.train.device)
    # a plug-in whose source changed since the run began: refused unless ``force``
    rundir.check_run_encoding(run_dir, raw, resuming=True, force=force)
    with distributed.join(config.train.device):
        return _resume(run_dir, config, raw, progress, stop_after, overrides or {}, command)


def _resume(
    run_dir: str | Path,
    config: RunConfig,
    raw: dict,
    progress: bool,
    stop_after: int | None,
    overrides: dict[str, str],
    command: list[str] | None,
) -> Path:
    from bipe.experiments.resume_changes import resumed_config

    state = rundir.load_checkpoint(run_dir)
    config, changes = resumed_config(
        config, overrides or {}, step=int(state["step"]) if state else 0
    )
    prepared = prepare(config, run_dir)
    if prepared.config.model != config.model:
        raise ValueError(
            f"{run_dir}/config.json does not match the regenerated training data "
            "(was it written by another bipe version?)"
        )
    prepared = dataclasses.replace(
        prepared, config=dataclasses.replace(prepared.config, out=str(run_dir))
    )
    distributed.check_batch(config.train.batch_size)
    if distributed.is_main():
        _announce(config.model.compute_dtype, config.train.device, progress)
    if changes:
        from bipe.experiments.evaluate import check_feasible

        check_feasible(prepared)
    if (changes or command is not None) and distributed.is_main():
        entry = {
            "command": None if command is None else list(command),
            "step": int(state["step"]) if state else 0,
            "changes": changes,
        }
        rundir.record_resume(run_dir, prepared.config, raw, entry)
    return _run(prepared, Path(run_dir), state, progress=progress, stop_after=stop_after)


def _run(
    prepared: Prepared, out: Path, state: dict | None, *, progress: bool, stop_after: int | None
) -> Path:
    config, tc = prepared.config, prepared.config.train
    apply_threads(config)
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
        if distributed.is_main():
            rundir.write_metrics(out, [r for r in rundir.read_metrics(out) if r["step"] <= step])
    elif (out / "metrics.jsonl").exists() and distributed.is_main():
        rundir.write_metrics(out, [])
    if step < tc.steps:
        # dropout draws from torch's global generator: fork it, seed it, restore it on resume
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(config.init_seed + 1)
            if state is not None:
                torch.set_rng_state(state["torch_rng"])
                if device.type == "cuda" and "cuda_rng" in state:
                    torch.cuda.set_rng_state(state["cuda_rng"], device)
            step = _loop(
                prepared, model, optimizer, sampler, out, step, window, progress, stop_after
            )
    if step >= tc.steps and distributed.is_main():
        save_model(model, out / "model.pt")
        if tc.evaluate_at_end:
            from bipe.experiments.evaluate import evaluate_run

            tblog.log_eval(out, evaluate_run(out, model=model, progress=progress), step)
    return out


def _training_forward(model: Transformer, tc) -> tuple:
    """``(forward, compiled)``: the model's forward (under DDP when data-parallel), compiled
    for every batch length when ``tc.compile`` (and the encoding allows it)."""
    module = distributed.wrap(model)
    if not tc.compile:
        return module, False
    why_not = compile_supported(model)
    if why_not:
        print(f"train.compile: not compiling ({why_not}); training eagerly", file=sys.stderr)
        return module, False
    return compile_forward(module), True


def _step_batch(prepared: Prepared, model: Transformer, step: int) -> tuple:
    """``((tokens, positions, targets), global tokens, loss weight)`` of ``step`` for this rank:
    the global batch, then this rank's rows of it."""
    config, tc = prepared.config, prepared.config.train
    device = next(model.parameters()).device
    rows = prepared.task.batch_rows(prepared.train, config.data_seed, step, tc.batch_size)
    if rows is None:
        rows = batch_indices(config.data_seed, step, tc.batch_size, len(prepared.train))
    tokens, pos, targets = make_batch(prepared.train, _shipped_positions(prepared), rows, device)
    n_tokens = tokens.numel()
    if distributed.world_size() == 1:
        return (tokens, pos, targets), n_tokens, 1.0
    mine = distributed.local_rows(tokens.shape[0])
    weight = distributed.shard_weight(targets, mine)
    return distributed.local_batch(tokens, pos, targets, mine), n_tokens, weight


def _shipped_positions(prepared: Prepared):
    """The training positions a batch ships: None under the default segmentation (the model's
    own streams are identical, multi-level for hbipe), else ``prepared.positions``."""
    return None if prepared.config.segment_train.is_default else prepared.positions


def _read_losses(pending: list[torch.Tensor], window: list) -> None:
    """Add the losses not yet read back to the logging window (one host synchronisation)."""
    if pending:
        for value in distributed.all_mean(torch.stack(pending)).tolist():
            window[0] += value
        pending.clear()


def _announce(dtype: str, device: str, progress: bool, work: int | None = None) -> None:
    """Print the precision once: always a warning (emulated bf16), the choice when
    ``progress``."""
    note = precision_note(dtype, resolve_device(device), work=work)
    if progress or note.startswith("warning"):
        print(note, file=sys.stderr)


def _rng_states(sampler: torch.Generator, device: torch.device) -> dict:
    """The sampling generator's and torch's (dropout) generator states, as checkpointed."""
    extra = {"cuda_rng": torch.cuda.get_rng_state(device)} if device.type == "cuda" else {}
    return {"sampler": sampler.get_state(), "torch_rng": torch.get_rng_state(), **extra}


def _checkpoint(out, model, optimizer, sampler, step, window, rngs=None) -> None:
    """checkpoint.pt at ``step``; ``rngs`` (from :func:`_rng_states`) replaces the generators'
    current states (a Ctrl-C saves those of the start of the unfinished step)."""
    if not distributed.is_main():
        return
    rngs = rngs or _rng_states(sampler, next(model.parameters()).device)
    rundir.save_checkpoint(
        out,
        {
            "step": step,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "window_loss": window[0],
            "window_n": window[1],
            **rngs,
        },
    )


def _loop(prepared, model, optimizer, sampler, out, step, window, progress, stop_after) -> int:
    from tqdm.auto import tqdm

    config, tc, task = prepared.config, prepared.config.train, prepared.task
    shown = progress and distributed.is_main()
    is_terminal = sys.stderr.isatty()  # a bar on a terminal, plain lines in a log or pipe
    bar = tqdm(
        total=tc.steps,
        initial=step,
        disable=not shown or not is_terminal,
        desc=f"train {config.task} {config.model.pe}",
        leave=False,
    )
    lines = StepLines(out.name, tc.steps, step, enabled=shown and not is_terminal)
    model.train()
    tokens_seen, t0, updating = 0, time.perf_counter(), False
    last_saved = step  # TensorBoard view of metrics.jsonl (rank 0 only):
    tb = tblog.open_log(out, step) if distributed.is_main() else tblog.TrainLog(None)
    end = tc.steps if stop_after is None else min(tc.steps, step + stop_after)
    forward, compiled = _training_forward(model, tc)
    pending: list[torch.Tensor] = []  # losses not yet read back (read at log/checkpoint steps)
    weight = [1.0]  # this rank's share of the global batch's loss (data-parallel)

    def loss_fn(logits, targets):
        return task.loss(logits, targets, config.data) * weight[0]

    device = next(model.parameters()).device
    rngs = None  # generator states at the start of the current step
    try:
        while step < end:
            rngs = _rng_states(sampler, device)  # a Ctrl-C saves these (draws of the step undone)
            batch, n_tokens, weight[0] = _step_batch(prepared, model, step)
            tokens_seen += n_tokens
            lr = lr_at(step, tc)
            for group in optimizer.param_groups:
                group["lr"] = lr
            extra = {} if compiled else {"generator": sampler}
            loss = backward(forward, loss_fn, optimizer, batch, **extra)
            updating = True  # from here to the end of the body a Ctrl-C keeps the last checkpoint
            pending.append(loss)
            update(model, optimizer, tc.grad_clip)
            step += 1
            window[1] += 1
            bar.update(1)
            if step % tc.log_every == 0 or step % tc.checkpoint_every == 0 or step == end:
                _read_losses(pending, window)
            if (step % tc.log_every == 0 or step == tc.steps) and distributed.is_main():
                elapsed = time.perf_counter() - t0
                row = {
                    "step": step,
                    "loss": window[0] / window[1],
                    "lr": lr,
                    "tokens/s": tokens_seen / elapsed if elapsed > 0 else 0.0,
                    "elapsed_s": elapsed,
                }
                rundir.append_metrics(out, row)
                tb.log(row)
                bar.set_postfix(loss=f"{window[0] / window[1]:.3f}")
                lines.update(step, window[0] / window[1])
            if step % tc.log_every == 0 or step == tc.steps:
                window[0], window[1] = 0.0, 0
                tokens_seen, t0 = 0, time.perf_counter()
            if step % tc.checkpoint_every == 0 or step == tc.steps:
                _checkpoint(out, model, optimizer, sampler, step, window)
                last_saved = step
            updating = False
    except (KeyboardInterrupt, SystemExit):  # Ctrl-C; a submitit job told to exit
        _read_losses(pending, window)
        if not updating and step != last_saved:
            _checkpoint(out, model, optimizer, sampler, step, window, rngs)
        raise
    finally:
        bar.close()
        tb.close()
    if step != last_saved:
        _checkpoint(out, model, optimizer, sampler, step, window)
    return step
