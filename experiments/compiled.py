"""The training step, optionally compiled once for every batch length.

Documented in docs/guide.md#training-step-and-compilation.

``train.compile`` runs the model's forward through :func:`compile_forward`: ``torch.compile``
with the length dimension of every input marked dynamic, so batches of any length share one
graph (compiled once per process, forward and AOT backward) and no padding is computed (padding
to static-shape buckets computed up to 41% extra positions at the ``demo`` shape; BENCHMARKS.md
has the figures). Inductor's on-disk cache
(``TORCHINDUCTOR_CACHE_DIR``, default under /tmp) makes later processes of a sweep at the same
shape start warm.

:func:`train_step` is one optimisation step on any forward (eager or compiled); it returns the
loss as a device tensor, so the loop reads it back only at log steps.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from bipe.models.plugins import resolve_encoding
from bipe.models.positions import Positions
from bipe.models.transformer import Transformer

__all__ = [
    "backward",
    "compile_forward",
    "compile_supported",
    "explicit_positions",
    "train_step",
    "update",
]

Forward = Callable[..., torch.Tensor]


def compile_supported(model: Transformer) -> str | None:
    """None if the model's training forward can be compiled, else why not (one phrase)."""
    if resolve_encoding(model.config.pe).samples_positions:
        return f"{model.config.pe} samples positions from a torch.Generator every step"
    return None


def compile_forward(model: torch.nn.Module, backend: str | Callable = "inductor") -> Forward:
    """``model(tokens, positions=None) -> logits`` (a Transformer, or one under DDP) compiled
    by ``backend`` (a ``torch.compile`` backend): one graph for every batch length (dim 1 of the
    tokens and of every position stream marked dynamic)."""
    compiled = torch.compile(model, backend=backend)

    def forward(tokens: torch.Tensor, positions: Positions | None = None, **kwargs) -> torch.Tensor:
        streams = (
            ()
            if positions is None
            else (positions.index, positions.seg, positions.intra, *positions.outer)
        )
        for x in (tokens, *streams):
            torch._dynamo.maybe_mark_dynamic(x, 1)  # (B, T): T varies from batch to batch
        return compiled(tokens, positions, **kwargs)

    return forward


def backward(
    forward: Forward,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    optimizer: torch.optim.Optimizer,
    batch: tuple,
    **forward_kwargs,
) -> torch.Tensor:
    """Forward, loss and backward of one batch ``(tokens, positions, targets)``; returns the
    detached loss (a device tensor: no host synchronisation)."""
    tokens, pos, targets = batch
    logits = forward(tokens, pos, **forward_kwargs)  # (B, T, V)
    loss = loss_fn(logits, targets)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    return loss.detach()


def update(model: torch.nn.Module, optimizer: torch.optim.Optimizer, grad_clip: float) -> None:
    """Gradient clipping (if ``grad_clip``) and the optimizer step."""
    if grad_clip:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()


def train_step(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    forward: Forward,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    batch: tuple,
    grad_clip: float,
    **forward_kwargs,
) -> torch.Tensor:
    """One optimisation step (:func:`backward` then :func:`update`); the detached loss."""
    loss = backward(forward, loss_fn, optimizer, batch, **forward_kwargs)
    update(model, optimizer, grad_clip)
    return loss


def explicit_positions(
    pos: Positions | None, model: Transformer, tokens: torch.Tensor
) -> Positions:
    """Explicit positions of a batch: ``pos`` or the model's own (padding needs them)."""
    return pos if pos is not None else model.positions(tokens)
