"""Ensembles: K runs of one trunk shape trained in one process, each into its own run folder.

:func:`train_ensemble` trains K fresh :class:`~bipe.experiments.config.RunConfig` at once with
:class:`~bipe.models.ensemble.EnsembleTransformer`; :func:`resume_ensemble` continues them;
:func:`ensemble_groups` splits a list of configs into groups that may share a process (equal
in everything but ``init_seed``, ``data_seed``, ``out`` and the encoding fields of the model
config). Each member is exactly its separate ``bipe train`` run: initial weights built by
:func:`~bipe.experiments.train.build_model` from its ``init_seed``; its batches from its own
``data_seed`` stream; its own loss, gradient clipping (per member norm), AdamW state and
sampling generator. Every member folder is an ordinary run folder (config.json, metrics.jsonl,
checkpoint.pt in the ordinary format, model.pt, eval.json): ``bipe eval``/``report`` read it,
and a member can also be resumed on its own with ``bipe train --resume``. See
``docs/guide.md#ensembles``.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from bipe.experiments import rundir, tblog
from bipe.experiments.config import RunConfig, config_to_dict
from bipe.experiments.segmentation import save_run_segmenters
from bipe.experiments.train import (
    Prepared,
    apply_threads,
    batch_indices,
    build_model,
    lr_at,
    make_batch,
    make_optimizer,
    prepare,
    resolve_device,
)
from bipe.models.checkpoint import save as save_model
from bipe.models.ensemble import TRUNK_FIELDS, EnsembleTransformer

__all__ = ["ensemble_groups", "group_key", "resume_ensemble", "train_ensemble"]

FREE_RUN_FIELDS = ("init_seed", "data_seed", "out")


def group_key(config: RunConfig) -> str | None:
    """What members of one ensemble share (a JSON-like string), or None: never ensembled
    (dropout, a non-causal model or an encoding with a content hook, which an ensemble refuses;
    a task that groups its own batches, which the ensemble's shared batch order ignores)."""
    if config.model.dropout or not config.model.causal or _own_batches(config):
        return None
    if _reads_content(config):
        return None
    data = config_to_dict(config)
    for name in FREE_RUN_FIELDS:
        data.pop(name)
    data["model"] = {k: v for k, v in data["model"].items() if k in TRUNK_FIELDS}
    return repr(sorted(data.items()))


def _own_batches(config: RunConfig) -> bool:
    """Whether the run's task draws its own training rows (``Task.batch_rows``)."""
    from bipe.experiments.tasks import Task, get_task

    return type(get_task(config.task)).batch_rows is not Task.batch_rows


def _reads_content(config: RunConfig) -> bool:
    """Whether the run's encoding has a content hook (ensembles refuse those): declared by its
    registry entry (``reads_content``) or found on the built module (a plug-in may not say);
    per-layer encodings and windows (``layer_pattern``, ``window``) are refused too."""
    from bipe.models.plugins import resolve_encoding

    if config.model.layer_pattern or config.model.window is not None:
        return True
    entry = resolve_encoding(config.model.pe)
    if entry.reads_content:
        return True
    with torch.random.fork_rng(devices=[]):  # building an encoding may draw its init
        return bool(entry.build(config.model).uses_content)


def ensemble_groups(configs: Sequence[RunConfig], max_size: int) -> list[list[int]]:
    """Indices of ``configs`` in groups of at most ``max_size`` that may train as one
    ensemble, in order of first appearance; a config that cannot join any is alone."""
    if max_size < 1:
        raise ValueError(f"ensemble size must be >= 1, got {max_size}")
    by_key: dict[str, list[int]] = {}
    groups: list[list[int]] = []
    for i, config in enumerate(configs):
        key = group_key(config)
        if key is None:
            groups.append([i])
            continue
        if key not in by_key or len(by_key[key]) >= max_size:
            by_key[key] = []
            groups.append(by_key[key])
        by_key[key].append(i)
    return groups


@dataclasses.dataclass(eq=False)
class _Member:
    """One member's prepared data, folder, sampling generator and logging window."""

    prepared: Prepared
    out: Path
    sampler: torch.Generator
    torch_rng: torch.Tensor


def train_ensemble(
    configs: Sequence[RunConfig],
    run_dirs: Sequence[str | Path] | None = None,
    *,
    command: list[str] | None = None,
    progress: bool = True,
    stop_after: int | None = None,
) -> list[Path]:
    """Train ``configs`` as one ensemble into new run folders (``run_dirs``, default each
    config's ``out``); returns the folders. ``stop_after`` ends after that many steps as if
    interrupted (tests use it to check resume)."""
    from bipe.experiments.evaluate import check_feasible  # imports train

    dirs = [Path(d) for d in run_dirs] if run_dirs is not None else [Path(c.out) for c in configs]
    if len(dirs) != len(configs):
        raise ValueError(f"{len(configs)} configs but {len(dirs)} run folders")
    if len(set(dirs)) != len(dirs):
        raise ValueError("two ensemble members share a run folder")
    for out in dirs:
        if (out / "config.json").exists() or (out / "checkpoint.pt").exists():
            raise ValueError(f"{out} already holds a run; resume it or pick another folder")
    for config in configs:
        resolve_device(config.train.device)
    prepared = _prepare_all(
        [dataclasses.replace(c, out=str(d)) for c, d in zip(configs, dirs, strict=True)]
    )
    for p in prepared:
        check_feasible(p)
    for p, out in zip(prepared, dirs, strict=True):
        save_run_segmenters(out, p.segmenters)
        rundir.write_run_config(out, p.config, command or [], ensemble=True)
    return _run(prepared, dirs, [None] * len(dirs), progress=progress, stop_after=stop_after)


def resume_ensemble(
    run_dirs: Sequence[str | Path], *, progress: bool = True, stop_after: int | None = None
) -> list[Path]:
    """Continue the runs in ``run_dirs`` as one ensemble from their checkpoints (all at one
    step, or none with a checkpoint)."""
    dirs = [Path(d) for d in run_dirs]
    read = [rundir.read_run_config(d) for d in dirs]
    for d, (_, raw) in zip(dirs, read, strict=True):  # a changed plug-in source: refused
        rundir.check_run_encoding(d, raw, resuming=True)
    configs = [config for config, _ in read]
    states = [rundir.load_checkpoint(d) for d in dirs]
    steps = {None if s is None else int(s["step"]) for s in states}
    if len(steps) > 1:
        raise ValueError(
            f"ensemble members are at different steps ({sorted(map(str, steps))})"
            "; resume them separately"
        )
    prepared = _prepare_all(configs, dirs)
    for p, c, d in zip(prepared, configs, dirs, strict=True):
        if p.config.model != c.model:
            raise ValueError(f"{d}/config.json does not match the regenerated training data")
    prepared = [
        dataclasses.replace(p, config=dataclasses.replace(p.config, out=str(d)))
        for p, d in zip(prepared, dirs, strict=True)
    ]
    return _run(prepared, dirs, states, progress=progress, stop_after=stop_after)


def _prepare_all(
    configs: Sequence[RunConfig], dirs: Sequence[Path] | None = None
) -> list[Prepared]:
    """:func:`prepare` of each config (with its run folder's segmenters when resuming);
    members that differ only in init_seed/out share data."""
    cache: dict[str, Prepared] = {}
    out = []
    for k, config in enumerate(configs):
        key = repr(config_to_dict(dataclasses.replace(config, init_seed=0, out="")))
        if key not in cache:
            cache[key] = prepare(config, None if dirs is None else dirs[k])
        shared = cache[key]
        out.append(
            dataclasses.replace(
                shared,
                config=dataclasses.replace(
                    shared.config, init_seed=config.init_seed, out=config.out
                ),
            )
        )
    return out


def _dropout_rng_state(init_seed: int) -> torch.Tensor:
    """torch's global RNG state a separate run would checkpoint (seeded, never drawn from:
    ensembles have no dropout)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(init_seed + 1)
        return torch.get_rng_state()


def _run(
    prepared: list[Prepared],
    dirs: list[Path],
    states: list[dict | None],
    *,
    progress: bool,
    stop_after: int | None,
) -> list[Path]:
    tc = prepared[0].config.train
    if tc.compile:
        print("train.compile: ensembles train eagerly (not compiled)", file=sys.stderr)
    apply_threads(prepared[0].config)
    device = resolve_device(tc.device)
    model = EnsembleTransformer([build_model(p.config, device) for p in prepared])
    model = model.to(device)
    optimizer = _make_optimizer(model, tc)
    members = [
        _Member(
            p,
            d,
            torch.Generator(device=device).manual_seed(p.config.init_seed),
            _dropout_rng_state(p.config.init_seed),
        )
        for p, d in zip(prepared, dirs, strict=True)
    ]
    window = _Window(torch.zeros(len(members), dtype=torch.float64, device=device), 0, 0)
    step = 0
    if states[0] is not None:
        step = window.last_saved = _load_states(model, optimizer, members, states, window, tc)
    else:
        for m in members:
            if (m.out / "metrics.jsonl").exists():
                rundir.write_metrics(m.out, [])
    if step < tc.steps:
        step = _loop(model, optimizer, members, step, window, progress, stop_after)
    if step >= tc.steps:
        for k, m in enumerate(members):
            member = model.member(k)
            save_model(member, m.out / "model.pt")
            if tc.evaluate_at_end:
                from bipe.experiments.evaluate import evaluate_run

                tblog.log_eval(m.out, evaluate_run(m.out, model=member, progress=progress), step)
    return dirs


def _make_optimizer(model: EnsembleTransformer, tc) -> torch.optim.Optimizer:
    """AdamW as :func:`~bipe.experiments.train.make_optimizer` builds it for each member:
    weight decay on the members' matrices only (a stacked tensor has one more dim)."""
    params = [(p, p.dim() - 1) for p in model.stacked.values()]
    params += [(p, p.dim()) for p in model.encodings.parameters()]
    groups = [
        {"params": [p for p, d in params if d >= 2], "weight_decay": tc.weight_decay},
        {"params": [p for p, d in params if d < 2], "weight_decay": 0.0},
    ]
    fused = all(p.device.type in ("cpu", "cuda") for p, _ in params)  # as make_optimizer
    return torch.optim.AdamW(groups, lr=tc.lr, betas=(0.9, 0.98), fused=fused or None)


def _clip_grads(model: EnsembleTransformer, max_norm: float) -> None:
    """``clip_grad_norm_`` of each member over its own parameters, without host syncs."""
    stacked = [p.grad for p in model.stacked.values() if p.grad is not None]
    M = model.n_members
    norms = torch.stack(
        [torch.linalg.vector_norm(g.reshape(M, -1), dim=1) for g in stacked], dim=1
    )  # (M, P)
    coefs = []
    for m, enc in enumerate(model.encodings):
        own = [torch.linalg.vector_norm(p.grad) for p in enc.parameters() if p.grad is not None]
        total = torch.linalg.vector_norm(torch.cat([norms[m], *(n[None] for n in own)]))
        coef = torch.clamp(max_norm / (total + 1e-6), max=1.0)
        for p in enc.parameters():
            if p.grad is not None:
                p.grad.mul_(coef)
        coefs.append(coef)
    coef = torch.stack(coefs)  # (M,)
    for g in stacked:
        g.mul_(coef.view(M, *([1] * (g.dim() - 1))).to(g.dtype))


def _member_pairs(model: EnsembleTransformer, m: int, member: torch.nn.Module):
    """(member parameter, ensemble tensor, slice index | None) for each member parameter."""
    for name, p in member.named_parameters():
        tensor, index = model.locate(m, name)
        yield p, tensor, index


def _member_optimizer_state(model, optimizer, m: int, member: torch.nn.Module, tc) -> dict:
    """Member m's AdamW state_dict, as its separate run's optimizer would hold it."""
    own = _make_member_optimizer(member, tc, optimizer)
    for p, tensor, index in _member_pairs(model, m, member):
        state = optimizer.state.get(tensor)
        if state:
            own.state[p] = {
                k: (v if k == "step" or index is None else v[index]).clone()
                for k, v in state.items()
            }
    return own.state_dict()


def _make_member_optimizer(member, tc, optimizer):
    own = make_optimizer(member, tc)
    for group in own.param_groups:
        group["lr"] = optimizer.param_groups[0]["lr"]
    return own


def _load_member_optimizer_state(model, optimizer, m: int, member, state: dict, tc) -> None:
    """Write member m's AdamW state (from its checkpoint) into the ensemble optimizer."""
    own = _make_member_optimizer(member, tc, optimizer)
    own.load_state_dict(state)
    for group in optimizer.param_groups:
        group["lr"] = own.param_groups[0]["lr"]
    for p, tensor, index in _member_pairs(model, m, member):
        src = own.state.get(p)
        if not src:
            continue
        if index is None:
            optimizer.state[tensor] = {k: v.clone() for k, v in src.items()}
            continue
        dst = optimizer.state[tensor]
        for key, value in src.items():
            if key == "step":
                dst[key] = value.clone()
                continue
            if key not in dst:
                dst[key] = torch.zeros_like(tensor)
            dst[key][index].copy_(value)


def _load_states(model, optimizer, members, states, window, tc) -> int:
    """Restore weights, optimizer, samplers and the logging window; returns the step."""
    step = int(states[0]["step"])
    for m, (member, state) in enumerate(zip(members, states, strict=True)):
        model.load_member_state_dict(m, state["model"])
        own = model.member(m)
        _load_member_optimizer_state(model, optimizer, m, own, state["optimizer"], tc)
        member.sampler.set_state(state["sampler"])
        member.torch_rng = state["torch_rng"]
        window.losses[m] = float(state["window_loss"])
        rundir.write_metrics(
            member.out, [r for r in rundir.read_metrics(member.out) if r["step"] <= step]
        )
    window.n = int(states[0]["window_n"])
    return step


def _checkpoint(model, optimizer, members, step: int, window: _Window) -> None:
    """An ordinary checkpoint.pt in every member folder."""
    tc = members[0].prepared.config.train
    losses = window.losses.tolist()
    for m, member in enumerate(members):
        own = model.member(m)
        device = model.weight("embed.weight").device
        extra = {"cuda_rng": torch.cuda.get_rng_state(device)} if device.type == "cuda" else {}
        rundir.save_checkpoint(
            member.out,
            {
                "step": step,
                "model": own.state_dict(),
                "optimizer": _member_optimizer_state(model, optimizer, m, own, tc),
                "sampler": member.sampler.get_state(),
                "torch_rng": member.torch_rng,
                "window_loss": losses[m],
                "window_n": window.n,
                **extra,
            },
        )


def _batches(members: list[_Member], step: int, device: torch.device):
    """Each member's (tokens (B, T_m), positions | None, targets) of ``step``."""
    out = []
    for m in members:
        config = m.prepared.config
        rows = batch_indices(config.data_seed, step, config.train.batch_size, len(m.prepared.train))
        positions = None if config.segment_train.is_default else m.prepared.positions
        out.append(make_batch(m.prepared.train, positions, rows, device))
    return out


def _gradients(model, optimizer, members, batches, lr: float) -> torch.Tensor:
    """Forward and backward of one step, gradients clipped per member; losses (M,)."""
    tc = members[0].prepared.config.train
    for group in optimizer.param_groups:
        group["lr"] = lr
    logits = model([b[0] for b in batches], [b[1] for b in batches], [m.sampler for m in members])
    losses = torch.stack(
        [
            m.prepared.task.loss(x, b[2], m.prepared.config.data)
            for m, x, b in zip(members, logits, batches, strict=True)
        ]
    )
    optimizer.zero_grad(set_to_none=True)
    losses.sum().backward()
    if tc.grad_clip:
        _clip_grads(model, tc.grad_clip)
    return losses


@dataclasses.dataclass(eq=False)
class _Window:
    """The logging window: summed losses per member (M,) on the device, steps in it, tokens
    per member, its start time; and the step of the last checkpoint."""

    losses: torch.Tensor
    n: int
    last_saved: int
    tokens: list[int] = dataclasses.field(default_factory=list)
    t0: float = dataclasses.field(default_factory=time.perf_counter)

    def add(self, losses: torch.Tensor, batches) -> None:
        self.losses += losses.detach().double()
        self.n += 1
        self.tokens = [
            n + b[0].numel()
            for n, b in zip(self.tokens or [0] * len(batches), batches, strict=True)
        ]

    def log(self, members, step: int, lr: float, logs) -> None:
        """One metrics row per member (tokens/s: its own tokens over the shared time), also
        to its TensorBoard log."""
        elapsed, losses = time.perf_counter() - self.t0, self.losses.tolist()
        for m, (member, tb) in enumerate(zip(members, logs, strict=True)):
            row = {
                "step": step,
                "loss": losses[m] / self.n,
                "lr": lr,
                "tokens/s": self.tokens[m] / elapsed if elapsed > 0 else 0.0,
                "elapsed_s": elapsed,
            }
            rundir.append_metrics(member.out, row)
            tb.log(row)
        self.losses.zero_()
        self.n, self.tokens, self.t0 = 0, [], time.perf_counter()


def _loop(
    model, optimizer, members, step: int, window: _Window, progress: bool, stop_after: int | None
) -> int:
    from tqdm.auto import tqdm

    tc = members[0].prepared.config.train
    device = model.weight("embed.weight").device
    bar = tqdm(
        total=tc.steps,
        initial=step,
        disable=not progress,
        desc=f"ensemble of {len(members)}",
        leave=False,
    )
    model.train()
    updating, end = False, tc.steps if stop_after is None else min(tc.steps, step + stop_after)
    logs = [tblog.open_log(m.out, step) for m in members]  # TensorBoard views of metrics.jsonl

    def save() -> None:
        _checkpoint(model, optimizer, members, step, window)
        window.last_saved = step

    samplers = [m.sampler.get_state() for m in members]
    try:
        while step < end:
            samplers = [m.sampler.get_state() for m in members]  # a Ctrl-C rewinds to these
            batches = _batches(members, step, device)
            lr = lr_at(step, tc)
            losses = _gradients(model, optimizer, members, batches, lr)
            updating = True  # from here to the end of the body a Ctrl-C keeps the last checkpoint
            optimizer.step()
            step += 1
            window.add(losses, batches)
            bar.update(1)
            if step % tc.log_every == 0 or step == tc.steps:
                window.log(members, step, lr, logs)
            if step % tc.checkpoint_every == 0 or step == tc.steps:
                save()
            updating = False
    except (KeyboardInterrupt, SystemExit):  # Ctrl-C; a submitit job told to exit
        if not updating and step != window.last_saved:
            for member, state in zip(members, samplers, strict=True):
                member.sampler.set_state(state)  # draws of the unfinished step are undone
            save()
        raise
    finally:
        bar.close()
        for tb in logs:
            tb.close()
    if step != window.last_saved:
        save()
    return step
