"""Greedy decoding with the KV cache under entropy segmentation, segments computed online.

Shape legend: B batch, P prompt width (left-padded), N new tokens, V vocabulary.

The model's own cached decoding (``bipe.models.generate``) derives each new token's positions
from separators. Entropy segmentation (docs/method.md#entropy-segmentation) instead feeds every
prompt through the streaming segmenter (:func:`bipe.synthetic.entropy.entropy_step`), runs the
left-padded prompts once with those positions, then advances one lock-step stream state per
generated token: one single-token forward against the cache per step, as for separators. The
result equals recomputing the whole prefix with the batch segmenter at every step (evaluation's
recompute path; tested), because the segmenter is causal.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from bipe.models.positions import Positions
from bipe.models.transformer import KVCache
from bipe.synthetic.entropy import (
    EntropySegmenter,
    EntropyStreamState,
    entropy_initial_state,
    entropy_step,
)
from bipe.synthetic.segment import StreamState

__all__ = ["decode_entropy_cached"]


def _prompt_streams(prompts: Sequence[np.ndarray], segmenter: EntropySegmenter, width: int
                    ) -> tuple[np.ndarray, np.ndarray, EntropyStreamState]:
    """Left-padded ``(seg, intra)`` (B, P) of the prompts and the lock-step state after them."""
    seg = np.zeros((len(prompts), width), dtype=np.int64)  # (B, P)
    intra = np.zeros_like(seg)
    states = []
    for b, prompt in enumerate(prompts):
        state = entropy_initial_state(segmenter)
        pad = width - len(prompt)
        for t, token in enumerate(prompt):
            state, seg[b, pad + t], intra[b, pad + t] = entropy_step(state, int(token), segmenter)
        states.append(state)
    stacked = EntropyStreamState(
        positions=StreamState(segs=(np.array([s.positions.seg for s in states]),),
                              intra=np.array([s.positions.intra for s in states])),
        context=np.stack([s.context for s in states]),
        entropy=np.array([s.entropy for s in states], dtype=float))
    return seg, intra, stacked


def decode_entropy_cached(model, prompts: Sequence[np.ndarray], max_new: int, eos: int | None,
                          device: torch.device, segmenter: EntropySegmenter) -> np.ndarray:
    """(B, max_new) greedy continuations of 1-D ``prompts`` (each non-empty); rows that have
    produced ``eos`` keep producing it."""
    lengths = np.array([len(p) for p in prompts], dtype=np.int64)  # (B,)
    b, width = len(prompts), int(lengths.max())
    tokens = np.zeros((b, width), dtype=np.int64)  # (B, P) left-padded
    for i, p in enumerate(prompts):
        tokens[i, width - len(p):] = p
    seg, intra, state = _prompt_streams(prompts, segmenter, width)
    valid = np.arange(width)[None, :] >= (width - lengths)[:, None]  # (B, P)
    index = np.where(valid, np.arange(width)[None, :] - (width - lengths)[:, None], 0)  # (B, P)

    def tensor(x: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.asarray(x, dtype=np.int64), device=device)

    pos = Positions(tensor(index), tensor(seg), tensor(intra))
    cache = KVCache.empty(model.config, b, width + max_new, 0, device, model.compute_dtype())
    cache.key_valid[:, :width] = tensor(valid).bool()
    cache.key_valid[:, width:] = True
    logits = model.run(tensor(tokens), pos, cache=cache, start=0,
                       key_valid=cache.key_valid[:, :width])  # (B, P, V)
    out = np.full((b, max_new), eos if eos is not None else 0, dtype=np.int64)  # (B, N)
    done = np.zeros(b, dtype=bool)
    for step in range(max_new):
        token = logits[:, -1].argmax(-1).cpu().numpy()  # (B,)
        if eos is not None:
            token = np.where(done, eos, token)
            done |= token == eos
        out[:, step] = token
        if step == max_new - 1 or (eos is not None and done.all()):
            break
        state, seg_t, intra_t = entropy_step(state, token, segmenter)  # (B,) each
        pos = Positions(tensor(lengths + step)[:, None], tensor(seg_t)[:, None],
                        tensor(intra_t)[:, None])
        logits = model.run(tensor(token)[:, None], pos, cache=cache, start=width + step,
                           key_valid=cache.key_valid[:, :width + step + 1])  # (B, 1, V)
    return out
