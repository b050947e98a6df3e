"""Position streams: token index, segment index, intra position, and higher levels (hbipe).

Shape legend: B batch, T length. Every function is vectorised over the batch; rows are
independent. The convention is docs/method.md#positions: ``seg[t]`` counts separators
strictly before t, ``intra[t]`` is t minus the first index of t's segment, and a separator is the
last token of the segment it closes. Worked example (S a separator)::

    tokens : a  b  S  c  d  e  S  f  S  S  g
    intra  : 0  1  2  0  1  2  3  0  1  0  0
    seg    : 0  0  0  1  1  1  1  2  2  3  4

Multi-level (hbipe): with separators per level, innermost first, level k's index ``levels[k]``
counts the separators of level k *or higher* strictly before t (a sentence end also closes the
current word), so ``levels[0]`` is ``seg`` over all separators and ``intra`` restarts after any
separator. Example with word end ``w`` (level 0) and sentence end ``s`` (level 1)::

    tokens    : a  b  w  c  s  d  w
    intra     : 0  1  2  0  1  0  1
    levels[0] : 0  0  0  1  1  2  2
    levels[1] : 0  0  0  0  0  1  1
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch
from torch import Tensor

STREAMS = ("index", "seg", "intra", "outer")


@dataclass(frozen=True, eq=False)
class Positions:
    """Explicit position tensors, each (B, T) long.

    ``index`` is the token index, ``seg`` the segment index, ``intra`` the position inside the
    segment, ``outer`` the indices of the levels above ``seg`` (hbipe only; innermost first).
    """

    index: Tensor
    seg: Tensor
    intra: Tensor
    outer: tuple[Tensor, ...] = ()

    @property
    def levels(self) -> tuple[Tensor, ...]:
        """``(seg, *outer)``: every segment-level index, innermost first."""
        return (self.seg, *self.outer)

    def shifted(self, stream: str, offset: int) -> Positions:
        """A copy with ``offset`` added to one stream (``outer`` shifts every outer level)."""
        if stream == "outer":
            return replace(self, outer=tuple(o + offset for o in self.outer))
        if stream not in STREAMS:
            raise ValueError(f"unknown position stream {stream!r}; known: {', '.join(STREAMS)}")
        return replace(self, **{stream: getattr(self, stream) + offset})

    def select(self, start: int, stop: int) -> Positions:
        """Columns ``start:stop`` of every stream."""
        return Positions(
            self.index[:, start:stop],
            self.seg[:, start:stop],
            self.intra[:, start:stop],
            tuple(o[:, start:stop] for o in self.outer),
        )


def _separator_mask(tokens: Tensor, separators: Sequence[int]) -> Tensor:
    """(..., T) bool: True where the token is one of ``separators``."""
    if len(separators) == 0:
        return torch.zeros_like(tokens, dtype=torch.bool)
    return torch.isin(tokens, torch.tensor(list(separators), device=tokens.device))


def bilevel_positions(tokens: Tensor, separators: Sequence[int]) -> tuple[Tensor, Tensor]:
    """``(seg, intra)`` long tensors shaped like ``tokens`` ((B, T) or (T,));
    docs/method.md#positions.

    >>> seg, intra = bilevel_positions(torch.tensor([0, 1, 9, 2, 9, 9, 3]), [9])
    >>> seg.tolist(), intra.tolist()
    ([0, 0, 0, 1, 1, 2, 3], [0, 1, 2, 0, 1, 0, 0])
    """
    is_sep = _separator_mask(tokens, separators)  # (..., T)
    steps = is_sep.long()
    seg = torch.cumsum(steps, dim=-1) - steps  # separators strictly before t
    t = torch.arange(tokens.shape[-1], device=tokens.device).expand_as(tokens)  # (..., T)
    last_sep = torch.cummax(torch.where(is_sep, t, -1), dim=-1).values  # last sep at or before t
    before = torch.cat([torch.full_like(last_sep[..., :1], -1), last_sep[..., :-1]], dim=-1)
    return seg, t - before - 1


def multilevel_positions(
    tokens: Tensor, level_separators: Sequence[Sequence[int]]
) -> tuple[Tensor, tuple[Tensor, ...]]:
    """``(intra, levels)`` for separators per level, innermost first (see the module example)."""
    all_seps = [s for level in level_separators for s in level]
    _, intra = bilevel_positions(tokens, all_seps)
    levels = []
    for k in range(len(level_separators)):
        closing = _separators_from_level(level_separators, k)
        steps = _separator_mask(tokens, closing).long()  # (..., T)
        levels.append(torch.cumsum(steps, dim=-1) - steps)
    return intra, tuple(levels)


def _separators_from_level(level_separators: Sequence[Sequence[int]], k: int) -> list[int]:
    """Separator ids of level k or higher."""
    return [s for level in level_separators[k:] for s in level]


def default_positions(tokens: Tensor, level_separators: Sequence[Sequence[int]]) -> Positions:
    """The positions a model uses when none are given: index 0..T-1 and the separator streams."""
    B, T = tokens.shape
    if len(level_separators) <= 1:
        seg, intra = bilevel_positions(tokens, level_separators[0] if level_separators else ())
        outer: tuple[Tensor, ...] = ()
    else:
        intra, levels = multilevel_positions(tokens, level_separators)
        seg, outer = levels[0], levels[1:]
    index = torch.arange(T, device=tokens.device).expand(B, T)  # (B, T)
    return Positions(index, seg, intra, outer)


def left_padded_positions(
    tokens: Tensor, lengths: Tensor, level_separators: Sequence[Sequence[int]]
) -> Positions:
    """Positions of right-aligned rows (row b's content is its last ``lengths[b]`` tokens).

    Content positions equal :func:`default_positions` of the unpadded row; padding gets 0.
    """
    B, T = tokens.shape
    pad = (T - lengths).to(tokens.device)  # (B,)
    t = torch.arange(T, device=tokens.device)
    src = (t[None, :] + pad[:, None]) % T  # (B, T): left-aligned view of each row
    pos = default_positions(torch.gather(tokens, 1, src), level_separators)
    back = (t[None, :] - pad[:, None]) % T  # (B, T): inverse permutation
    is_pad = t[None, :] < pad[:, None]  # (B, T)

    def undo(x: Tensor) -> Tensor:
        return torch.gather(x, 1, back).masked_fill(is_pad, 0)

    return Positions(
        undo(pos.index), undo(pos.seg), undo(pos.intra), tuple(undo(o) for o in pos.outer)
    )


def next_positions(
    last: Positions, last_token: Tensor, level_separators: Sequence[Sequence[int]]
) -> Positions:
    """Positions (B, 1) of the token after ``last`` (B, 1) when ``last_token`` (B,) was emitted.

    The streaming form of :func:`default_positions`: a separator closes its segment, so the next
    token starts a new one (``seg + 1``, ``intra = 0``); otherwise ``intra + 1``.
    """
    token = last_token.reshape(-1, 1)  # (B, 1)
    all_seps = [s for level in level_separators for s in level]
    is_sep = _separator_mask(token, all_seps)  # (B, 1)
    seg = last.seg + is_sep.long()
    intra = torch.where(is_sep, torch.zeros_like(last.intra), last.intra + 1)
    outer = tuple(
        o + _separator_mask(token, _separators_from_level(level_separators, k + 1)).long()
        for k, o in enumerate(last.outer)
    )
    return Positions(last.index + 1, seg, intra, outer)
