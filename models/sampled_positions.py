"""Positions drawn at evaluation, for the entries that sample positions in training.

Shape legend: B batch, T length, W table width.

The randomized entries (``randomized_*``: an ordered random subset of ``range(M)``, Ruoss et
al. 2023) and the random-float entries (``rfs_*``: sorted uniform floats on ``[0, M)``,
Shimizu et al. 2026) replace one stream, the token index or the segment index, by random
values in training. A causal model is evaluated on the plain integer stream by default, so
decoding with the KV cache is exact. Both papers also draw positions at inference; these
functions do that (an evaluation's ``eval_positions=sampled``):

- a *sampling part* of an encoding (:func:`sampling_parts`: a part with a ``sampled_stream``)
  draws tables with ``draw_table(generator, counts, width)``: row b starts with the
  ``counts[b]`` values a training row with that many stream values would get, in order;
- :func:`sample_positions` maps the stream of whole rows through such tables: value v becomes
  entry v of its row's table, so a row of n tokens (or n segments) gets n sorted draws;
- :class:`SampledPositions` does the same while decoding (a ``positions`` function of
  :func:`bipe.models.generate`). The tables are drawn once, at the prompt, for the longest
  sequence the decoding can reach: the prompt plus the new tokens (for the segment index, the
  prompt's segments plus the new tokens, as a token opens at most one segment). A token's
  positions then never change as the sequence grows, so the KV cache stays valid; a row that
  stops early has used a prefix of its draws.

Example: an ``rfs_rope`` row of 4 tokens with ``M = 10`` may be read at index positions
``0.7 3.1 3.3 8.9``; a ``bipe_rfs_rope`` row with segments ``0 0 1 1 2`` at segment positions
``2.0 2.0 5.5 5.5 9.1``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import torch
from torch import Tensor, nn

from .encoding import Encoding
from .generate import PositionFn
from .positions import Positions, left_padded_positions

__all__ = ["SampledPositions", "sample_positions", "sampling_parts"]


def sampling_parts(encoding: nn.Module) -> list[Encoding]:
    """The parts of ``encoding`` that sample a stream in training (at most one per stream)."""
    parts = [p for p in encoding.modules() if isinstance(p, Encoding) and p.sampled_stream]
    streams = [p.sampled_stream for p in parts]
    if len(set(streams)) < len(streams):
        raise ValueError(f"two parts sample the same stream ({', '.join(streams)})")
    return parts


def stream_counts(values: Tensor, valid: Tensor) -> Tensor:
    """(B,) number of stream values of each row: 1 + its largest value over valid tokens
    (streams count from 0)."""
    return values.masked_fill(~valid, -1).amax(dim=1) + 1  # (B,)


def _mapped(pos: Positions, stream: str, table: Tensor) -> Positions:
    """``pos`` with ``stream`` read through ``table`` (B, W): value v becomes ``table[b, v]``."""
    values = getattr(pos, stream)  # (B, T)
    if values.numel() and int(values.max()) >= table.shape[1]:
        raise ValueError(
            f"{stream} position {int(values.max())} lies past the {table.shape[1]} drawn values"
        )
    return replace(pos, **{stream: table.gather(1, values)})  # type: ignore[arg-type]  # (B, T)


def sample_positions(
    parts: Sequence[Encoding], pos: Positions, valid: Tensor, generator: torch.Generator
) -> Positions:
    """``pos`` (B, T) of whole rows (``valid`` (B, T): False on padding) with every sampled
    stream drawn afresh for each row, as in training."""
    for part in parts:
        values = getattr(pos, part.sampled_stream)  # (B, T)
        width = int(values.max()) + 1 if values.numel() else 1
        table = part.draw_table(generator, stream_counts(values, valid), width)  # (B, W)
        pos = _mapped(pos, part.sampled_stream, table)
    return pos


class SampledPositions:
    """``positions(tokens, lengths)`` for :func:`bipe.models.generate` (right-aligned tokens
    (B, S), row lengths (B,)) that draws the sampled streams once, at the prompt, for up to
    ``n_new`` more tokens (module docstring). ``inner`` gives the integer positions (default:
    the separator rule, ``level_separators``). One object serves one ``generate`` call."""

    def __init__(
        self,
        parts: Sequence[Encoding],
        level_separators: Sequence[Sequence[int]],
        n_new: int,
        generator: torch.Generator,
        inner: PositionFn | None = None,
    ) -> None:
        self.parts, self.n_new, self.generator = list(parts), n_new, generator
        self.inner = inner or (lambda t, n: left_padded_positions(t, n, level_separators))
        self.tables: list[Tensor] | None = None

    def __call__(self, tokens: Tensor, lengths: Tensor) -> Positions:
        pos = self.inner(tokens, lengths)
        if self.tables is None:  # the prompt: draw for the longest reachable sequence
            S = tokens.shape[1]
            valid = torch.arange(S, device=tokens.device)[None, :] >= (S - lengths)[:, None]
            self.tables = []
            for part in self.parts:
                counts = stream_counts(getattr(pos, part.sampled_stream), valid) + self.n_new
                self.tables.append(part.draw_table(self.generator, counts, int(counts.max())))
        for part, table in zip(self.parts, self.tables, strict=True):
            pos = _mapped(pos, part.sampled_stream, table)
        return pos
