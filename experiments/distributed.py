"""Data-parallel training: ``torchrun --nproc_per_node N -m bipe train ...``.

Documented in docs/guide.md#data-parallel-training.

Under torchrun (``WORLD_SIZE`` > 1 in the environment) ``bipe train`` joins a process group
(gloo on CPU, NCCL on CUDA, one GPU per local rank) and trains one run with
``DistributedDataParallel``:

- the global batch ``train.batch_size`` is split across ranks: every rank draws the same global
  batch indices as a single process (``batch_indices``) and pads the whole global batch, then
  takes rows ``r*B/N .. (r+1)*B/N``; so the data order is the single-process order;
- each rank's mean loss is weighted by its share of the global batch's target tokens, so the
  gradient DDP averages is the gradient of the global batch's mean loss, and the logged loss
  (all-reduced at log steps only) is the single-process loss up to float rounding;
- only rank 0 writes the run folder (config, metrics, checkpoints, model, evaluation); the
  checkpoint holds nothing that depends on N, so a run resumes under any N (or none);
- bad setups end with a one-line error: a batch not divisible by N before anything starts, a
  rank that dies through the process group's timeout (``BIPE_DIST_TIMEOUT_S``, default 300 s;
  torchrun usually stops the other ranks first).

Dropout and randomized RoPE draw per rank, so runs that sample differ from the single-process
run by their random draws; everything else matches.
"""

from __future__ import annotations

import contextlib
import datetime
import os
from collections.abc import Iterator

import torch
import torch.distributed as dist

from bipe.experiments.tasks import IGNORE
from bipe.models.positions import Positions

__all__ = [
    "all_mean",
    "barrier",
    "check_batch",
    "is_main",
    "join",
    "local_batch",
    "local_rows",
    "rank",
    "requested",
    "shard_weight",
    "world_size",
    "wrap",
]

DEFAULT_TIMEOUT_S = 300


def requested() -> bool:
    """True when launched by torchrun with more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def world_size() -> int:
    """Number of ranks (1 without a process group)."""
    return dist.get_world_size() if dist.is_initialized() else 1


def rank() -> int:
    """This process's rank (0 without a process group)."""
    return dist.get_rank() if dist.is_initialized() else 0


def is_main() -> bool:
    """True on the rank that writes the run folder."""
    return rank() == 0


def barrier() -> None:
    """Wait for every rank (no-op in a single process)."""
    if dist.is_initialized():
        dist.barrier()


@contextlib.contextmanager
def join(device: str) -> Iterator[None]:
    """Join the torchrun process group for the duration (no-op unless :func:`requested`);
    collective failures (a dead rank, a timeout) become a one-line ``ValueError``."""
    if not requested() or dist.is_initialized():
        yield
        return
    use_cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    if use_cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    timeout = datetime.timedelta(
        seconds=float(os.environ.get("BIPE_DIST_TIMEOUT_S", DEFAULT_TIMEOUT_S))
    )
    try:
        dist.init_process_group("nccl" if use_cuda else "gloo", timeout=timeout)
    except (RuntimeError, ValueError) as err:
        raise ValueError(
            f"cannot join the data-parallel process group: {_first_line(err)}"
        ) from None
    try:
        yield
    except RuntimeError as err:  # DistBackendError included
        raise ValueError(
            f"rank {rank()}: data-parallel training failed (another rank died "
            f"or timed out?): {_first_line(err)}"
        ) from None
    finally:
        dist.destroy_process_group()


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return text.splitlines()[0][:200] if text else type(err).__name__


def check_batch(batch_size: int) -> None:
    """A global batch must split evenly across the ranks."""
    n = world_size()
    if batch_size % n:
        raise ValueError(
            f"train.batch_size {batch_size} is not divisible by the {n} data-parallel ranks"
        )


def local_rows(n_rows: int) -> slice:
    """This rank's slice of a global batch of ``n_rows`` rows."""
    per = n_rows // world_size()
    return slice(rank() * per, (rank() + 1) * per)


def shard_weight(targets: torch.Tensor, rows: slice) -> torch.Tensor:
    """``N * (target tokens of this rank) / (target tokens of the global batch)``, a () device
    tensor (no host synchronisation): the factor that turns this rank's mean loss into its
    share of the global mean (targets (B, T[, C]))."""
    valid = targets != IGNORE  # (B, T[, C])
    return world_size() * valid[rows].sum() / valid.sum().clamp(min=1)


def local_batch(
    tokens: torch.Tensor, pos: Positions | None, targets: torch.Tensor, rows: slice
) -> tuple[torch.Tensor, Positions | None, torch.Tensor]:
    """Rows ``rows`` of a global batch: tokens (B, T), positions (None: the model's own),
    targets (B, T[, C])."""
    if pos is not None:
        pos = Positions(
            pos.index[rows], pos.seg[rows], pos.intra[rows], tuple(o[rows] for o in pos.outer)
        )
    return tokens[rows], pos, targets[rows]


def wrap(model: torch.nn.Module) -> torch.nn.Module:
    """The model under ``DistributedDataParallel`` (itself without a process group)."""
    if not dist.is_initialized():
        return model
    device = next(model.parameters()).device
    ids = [device.index] if device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)


def all_mean(values: torch.Tensor) -> torch.Tensor:
    """The mean over ranks of ``values`` (itself in a single process)."""
    if not dist.is_initialized():
        return values
    out = values.clone()
    dist.all_reduce(out)
    return out / world_size()
