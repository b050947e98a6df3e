"""Randomized positional encodings (Ruoss et al. 2023) of any encoding and stream.

Shape legend: B batch, T length, M the sampling range ``max_pos``.

:class:`Randomized` wraps an encoding and rewrites one position stream in ``prepare``: the
stream's values ``0..n-1`` are mapped to an ordered random subset of ``range(max_pos)`` of size
n (value v becomes the (v+1)-th smallest drawn position), one subset per batch as in the
reference code. On the token index this is the RPE paper's encoding (``randomized_sinusoidal``,
``randomized_learned``, ``randomized_alibi``); on BiPE's segment index it randomizes the
segment stream only (``randomized_bipe_rope``, ``randomized_bipe_alibi``: positions inside a
segment stay exact, segment numbers become an ordered random subset).

When it samples: in training mode always (from the forward's ``generator``, torch's default
when None, which the composition root seeds); in eval mode when the model is non-causal (the
reference protocol: the reference code samples at test time too), from a generator seeded
with the batch's shape, so an evaluation is reproducible; in eval mode of a causal model never
(plain positions, so KV-cache decoding stays exact; as ``randomized_rope``).

Example: a batch of length 4 with ``max_pos=10`` may see index positions ``1 4 5 9``; a BiPE
batch with segments ``0 0 1 1 2`` may see segment positions ``3 3 7 7 8``.
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import Tensor

from .encoding import Encoding, Rotation
from .positions import Positions
from .rope import eval_generator, ordered_subset_table

__all__ = ["Randomized", "ordered_subset"]


def ordered_subset(
    generator: torch.Generator | None, n: int, max_pos: int, device: torch.device | str = "cpu"
) -> Tensor:
    """(n,) long: a sorted uniform random n-subset of ``range(max_pos)``."""
    if n > max_pos:
        raise ValueError(f"{n} positions exceed randomized_max_pos {max_pos}")
    keys = torch.rand(max_pos, generator=generator, device=device)  # (M,)
    return keys.topk(n).indices.sort().values  # (n,)


class Randomized(Encoding):
    """``inner`` with stream ``stream`` (``index`` or ``seg``) randomized (module docstring)."""

    def __init__(self, inner: Encoding, *, stream: str, max_pos: int) -> None:
        super().__init__()
        if stream not in ("index", "seg"):
            raise ValueError(f"randomized stream must be index or seg, got {stream!r}")
        self.inner, self.stream, self.max_pos = inner, stream, max_pos
        self.uses_bias, self.uses_content = inner.uses_bias, inner.uses_content
        self.invariant_streams = inner.invariant_streams

    def prepare(self, pos: Positions, generator: torch.Generator | None = None) -> Positions:
        """The inner encoding's positions with the stream mapped onto an ordered subset."""
        pos = self.inner.prepare(pos, generator)
        if not (self.training or self.bidirectional):
            return pos
        values = getattr(pos, self.stream)  # (B, T)
        n = int(values.max()) + 1 if values.numel() else 0
        if not self.training and generator is None:
            generator = eval_generator(values)
        subset = ordered_subset(generator, n, self.max_pos, values.device)  # (n,)
        return replace(pos, **{self.stream: subset[values]})  # type: ignore[arg-type]  # (B, T)

    @property
    def sampled_stream(self) -> str:  # type: ignore[override]
        return self.stream

    @property
    def samples_in_eval(self) -> bool:
        return self.bidirectional

    def draw_table(self, generator: torch.Generator, counts: Tensor, width: int) -> Tensor:
        return ordered_subset_table(generator, counts, width, self.max_pos)

    def embed(self, pos: Positions) -> Tensor | None:
        return self.inner.embed(pos)

    def rotation(self, pos: Positions) -> Rotation | None:
        return self.inner.rotation(pos)

    def bias(self, q_pos, k_pos, allowed=None, dtype=None) -> Tensor | None:
        return self.inner.bias(q_pos, k_pos, allowed, dtype)
