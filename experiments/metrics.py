"""Language-model metrics that do not saturate (docs/method.md#evaluation).

Shape legend: B batch, T length, V vocabulary, A tokens the automaton knows (A <= V).
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["legal_logprob"]


def legal_logprob(logits: torch.Tensor, legal: np.ndarray, scored: np.ndarray) -> np.ndarray:
    """Per scored position, log of the model's probability mass on the legal next tokens.

    logits (B, T, V); legal (B, T, A) bool with A <= V; scored (B, T) bool. Non-saturating,
    unlike argmax legality: it separates two models that are both nearly always legal.
    """
    work = logits.float()
    allowed = torch.zeros(work.shape, dtype=torch.bool, device=work.device)  # (B, T, V)
    allowed[..., : legal.shape[2]] = torch.from_numpy(legal).to(work.device)
    total = work.logsumexp(-1)  # (B, T)
    on_legal = work.masked_fill(~allowed, float("-inf")).logsumexp(-1)  # (B, T)
    return (on_legal - total).cpu().numpy()[scored]  # (scored positions,)
