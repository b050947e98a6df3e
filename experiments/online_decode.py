"""Entropy segmentation as a streaming position source for cached greedy decoding.

Shape legend: B batch, P prompt width (left-padded), S tokens so far.

The model's own cached decoding (``bipe.models.generate``) derives each new token's positions
from separators. Entropy segmentation (docs/method.md#entropy-segmentation) instead feeds every
prompt through the streaming segmenter (:func:`bipe.synthetic.entropy.entropy_step`) and then
advances one lock-step stream state per generated token: :class:`EntropyPositions` is the
``positions`` function :func:`bipe.models.generate.generate` takes, so decoding stays one
single-token forward against the cache per step. The result equals recomputing the whole prefix
with the batch segmenter at every step (tested), because the segmenter is causal.
"""

from __future__ import annotations

import numpy as np
import torch

from bipe.models.positions import Positions
from bipe.synthetic.entropy import (
    EntropySegmenter,
    EntropyStreamState,
    entropy_initial_state,
    entropy_step,
)
from bipe.synthetic.segment import StreamState

__all__ = ["EntropyPositions"]


class EntropyPositions:
    """``positions(tokens (B, S), lengths (B,)) -> Positions (B, S)`` of right-aligned rows
    under ``segmenter``, computed online: the first call segments the prompts, every later call
    must add exactly one token per row and advances the stream state by it. One object per
    decoding call (it holds that call's stream state)."""

    def __init__(self, segmenter: EntropySegmenter) -> None:
        self.segmenter = segmenter
        self._state: EntropyStreamState | None = None
        self._seg = self._intra = np.zeros((0, 0), dtype=np.int64)  # (B, S) so far

    def __call__(self, tokens: torch.Tensor, lengths: torch.Tensor) -> Positions:
        b, s = tokens.shape
        if self._state is None:
            self._seg, self._intra, self._state = self._prompt(
                tokens.cpu().numpy(), lengths.cpu().numpy()
            )
        elif s == self._seg.shape[1] + 1:
            token = tokens[:, -1].cpu().numpy()  # (B,)
            self._state, seg_t, intra_t = entropy_step(self._state, token, self.segmenter)
            self._seg = np.concatenate([self._seg, np.asarray(seg_t)[:, None]], axis=1)
            self._intra = np.concatenate([self._intra, np.asarray(intra_t)[:, None]], axis=1)
        else:
            raise ValueError(
                f"EntropyPositions advances one token per call: had "
                f"{self._seg.shape[1]} tokens, got {s}"
            )
        pad = s - lengths.cpu().numpy()  # (B,)
        index = np.maximum(np.arange(s)[None, :] - pad[:, None], 0)  # (B, S) padding -> 0

        def tensor(x: np.ndarray) -> torch.Tensor:
            return torch.as_tensor(np.asarray(x, dtype=np.int64), device=tokens.device)

        return Positions(tensor(index), tensor(self._seg), tensor(self._intra))

    def _prompt(
        self, tokens: np.ndarray, lengths: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, EntropyStreamState]:
        """Left-padded ``(seg, intra)`` (B, P) of the prompts and the lock-step state after
        them."""
        seg = np.zeros(tokens.shape, dtype=np.int64)  # (B, P)
        intra = np.zeros_like(seg)
        width = tokens.shape[1]
        states = []
        for b, n in enumerate(lengths):
            state = entropy_initial_state(self.segmenter)
            pad = width - int(n)
            for t in range(pad, width):
                state, seg[b, t], intra[b, t] = entropy_step(
                    state, int(tokens[b, t]), self.segmenter
                )
            states.append(state)
        stacked = EntropyStreamState(
            positions=StreamState(
                segs=(np.array([s.positions.seg for s in states]),),
                intra=np.array([s.positions.intra for s in states]),
            ),
            context=np.stack([s.context for s in states]),
            entropy=np.array([s.entropy for s in states], dtype=float),
        )
        return seg, intra, stacked
