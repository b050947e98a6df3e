"""Random float positions (Shimizu et al. 2026, "Position Encoding with Random Float Sampling
Enhances Length Generalization of Transformers"): continuous random position values in training.

Shape legend: B batch, T length, N segments of a row.

Random Float Sampling (RFS) replaces the integer positions 0..T-1 of a training row by T
independent draws from the uniform law on ``[0, M)``, sorted: the k-th position (0-based) is the
(k+1)-th order statistic, of mean ``M (k + 1) / (T + 1)``. Every value in ``[0, M)`` is then
seen in training, so positions up to M at evaluation are in distribution; it is the continuous
counterpart of randomized RoPE's sorted integer subset (``randomized_rope``). It applies to any
encoding that reads positions as numbers: ``rfs_sinusoidal``, ``rfs_rope``, ``rfs_alibi`` on the
token index, and ``bipe_rfs_rope`` / ``bipe_rfs_alibi`` on BiPE's segment stream (one draw per
segment, shared by the segment's tokens, the intra stream untouched).

In eval mode the given positions are used as they are (0..T-1 by default), so evaluation and
cached decoding are deterministic; the paper also samples at inference, which an evaluation
does with ``eval_positions=sampled`` (:mod:`bipe.models.sampled_positions`, drawing from
:func:`random_float_table`).
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import Tensor

from .encoding import Encoding
from .positions import Positions


def random_float_positions(
    generator: torch.Generator | None,
    batch: int,
    length: int,
    max_pos: float,
    device: torch.device | str = "cpu",
) -> Tensor:
    """(B, T) float32: per row T independent Uniform[0, max_pos) draws, sorted ascending."""
    draws = torch.rand(batch, length, generator=generator, device=device) * max_pos  # (B, T)
    return draws.sort(dim=-1).values


def random_float_table(
    generator: torch.Generator | None, counts: Tensor, width: int, max_pos: float
) -> Tensor:
    """(B, W) float32: row b starts with ``counts[b]`` sorted Uniform[0, max_pos) draws (a
    training row of that length); the rest of the row is ``max_pos``."""
    B = counts.shape[0]
    draws = torch.rand(B, width, generator=generator, device=counts.device) * max_pos  # (B, W)
    unused = torch.arange(width, device=counts.device)[None, :] >= counts[:, None]  # (B, W)
    table = draws.masked_fill(unused, float("inf")).sort(dim=-1).values  # (B, W)
    return table.masked_fill(unused, float(max_pos))


def random_float_stream(
    generator: torch.Generator | None, stream: Tensor, max_pos: float
) -> Tensor:
    """(B, T) float32 random float values for an integer stream (B, T) that is constant on
    runs (the segment index): run r of a row (counted from the row's smallest value) gets the
    r-th of that row's sorted draws, so equal indices share a value and order is kept."""
    rank = stream - stream.min(dim=1, keepdim=True).values  # (B, T) 0-based run rank
    n_runs = int(rank.max()) + 1 if rank.numel() else 1
    values = random_float_positions(generator, stream.shape[0], n_runs, max_pos, stream.device)
    return values.gather(1, rank)  # (B, T)


class RandomFloat(Encoding):
    """A positions-only part: in training mode, ``prepare`` replaces the ``source`` stream
    (``index`` or ``seg``) by sorted random floats on ``[0, max_pos)`` drawn from the
    forward's ``generator``; every other hook is a no-op (combine it with the encoding that
    reads the stream)."""

    def __init__(self, source: str, max_pos: float) -> None:
        super().__init__()
        if source not in ("index", "seg"):
            raise ValueError(f"random float positions replace index or seg, not {source!r}")
        self.source, self.max_pos = source, max_pos

    def prepare(self, pos: Positions, generator: torch.Generator | None = None) -> Positions:
        """Random float training positions of the source stream; unchanged in eval mode."""
        if not self.training:
            return pos
        stream = getattr(pos, self.source)
        if self.source == "seg":
            return replace(pos, seg=random_float_stream(generator, stream, self.max_pos))
        B, T = stream.shape
        return replace(
            pos, index=random_float_positions(generator, B, T, self.max_pos, stream.device)
        )

    @property
    def sampled_stream(self) -> str:  # type: ignore[override]
        return self.source

    def draw_table(self, generator: torch.Generator, counts: Tensor, width: int) -> Tensor:
        return random_float_table(generator, counts, width, self.max_pos)
