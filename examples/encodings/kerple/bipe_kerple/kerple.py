"""KERPLE-log (Chi et al. 2022, "KERPLE: Kernelized Relative Positional Embedding for Length
Extrapolation", NeurIPS), as a bipe plug-in encoding, and its bilevel (BiPE) form.

Shape legend: B batch, T query length, S key length, H heads, D model width.

KERPLE derives relative biases from conditionally positive definite kernels; its
logarithmic variant adds to the attention logit of query m and key n

    b_h(m, n) = -r1_h * log(1 + r2_h * |m - n|)

with two learned scalars ``r1_h, r2_h > 0`` per head h, shared by all layers. Here the
positivity is kept by a softplus of unconstrained parameters, initialised so that
``r1 = kerple_r1`` and ``r2 = kerple_r2`` (both 1 by default).

- ``KERPLE_LOG``: the bias on the token index (the paper's encoding);
- ``BIPE_KERPLE_LOG``: its bilevel form, BiPE's recipe: a learned table of the intra
  position (the token's position inside its segment) added to the input, and the KERPLE-log
  bias on the segment index (zero inside a segment, growing logarithmically across segments).

Use it without installing (``bipe train --pe examples/encodings/kerple/bipe_kerple/kerple.py:
KERPLE_LOG``) or install the package (``pip install -e examples/encodings/kerple``) and use
the entry points ``kerple_log`` and ``bipe_kerple_log``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from bipe.models import Encoding, EncodingEntry, Option, Positions
from bipe.models.absolute import LearnedAbsolute
from bipe.models.encoding import Combined, read_stream, streams_except


def _inverse_softplus(y: float) -> float:
    """x with softplus(x) = y (y > 0)."""
    return y + math.log(-math.expm1(-y))


class KerpleLog(Encoding):
    """The KERPLE-log bias ``-r1_h * log(1 + r2_h * |p_query - p_key|)`` on one stream."""

    uses_bias = True

    def __init__(self, n_heads: int, *, source: str = "index", r1: float = 1.0, r2: float = 1.0):
        super().__init__()
        if not (r1 > 0 and r2 > 0):
            raise ValueError(f"kerple_r1 and kerple_r2 must be > 0, got {r1}, {r2}")
        self.source = source
        self.invariant_streams = streams_except(source)  # relative: shifting the stream is free
        self.raw_r1 = nn.Parameter(torch.full((n_heads,), _inverse_softplus(r1)))  # (H,)
        self.raw_r2 = nn.Parameter(torch.full((n_heads,), _inverse_softplus(r2)))  # (H,)

    def bias(
        self,
        q_pos: Positions,
        k_pos: Positions,
        allowed: Tensor | None = None,
        dtype: torch.dtype | None = None,
    ) -> Tensor:
        """(B, H, T, S) logarithmic distance penalty, -inf where not ``allowed``."""
        work = torch.promote_types(self.raw_r1.dtype, torch.float32)
        q = read_stream(q_pos, self.source).to(work)  # (B, T)
        k = read_stream(k_pos, self.source).to(work)  # (B, S)
        d = (q[:, :, None] - k[:, None, :]).abs()[:, None]  # (B, 1, T, S)
        r1 = nn.functional.softplus(self.raw_r1).to(work)[:, None, None]  # (H, 1, 1)
        r2 = nn.functional.softplus(self.raw_r2).to(work)[:, None, None]  # (H, 1, 1)
        bias = -r1 * torch.log1p(r2 * d)  # (B, H, T, S)
        if allowed is not None:  # masked after the log: an infinite distance's gradient is NaN
            bias = bias.masked_fill(~allowed, float("-inf"))  # (B, H, T, S)
        return bias.to(dtype or torch.float32)


OPTIONS = (
    Option("kerple_r1", float, 1.0, "initial r1 of every head (> 0): the bias' scale"),
    Option("kerple_r2", float, 1.0, "initial r2 of every head (> 0): the distance's scale"),
)


def _kerple(cfg, source: str) -> KerpleLog:
    return KerpleLog(
        cfg.n_heads, source=source, r1=cfg.option("kerple_r1"), r2=cfg.option("kerple_r2")
    )


def _bilevel(cfg) -> Encoding:
    intra = LearnedAbsolute(
        cfg.max_intra, cfg.d_model, source="intra", overflow=cfg.intra_overflow, track_trained=True
    )
    return Combined(intra, _kerple(cfg, "seg"))


KERPLE_LOG = EncodingEntry(
    lambda cfg: _kerple(cfg, "index"),
    lambda cfg: 2 * cfg.n_heads,
    options=OPTIONS,
    doc="KERPLE-log bias -r1 log(1 + r2 |i - j|) on the token index (Chi et al. 2022)",
)

BIPE_KERPLE_LOG = EncodingEntry(
    _bilevel,
    lambda cfg: cfg.max_intra * cfg.d_model + 2 * cfg.n_heads,
    options=(
        Option("max_intra", int, 256, "rows of the intra table (set from the training data)"),
        Option("intra_overflow", str, "clamp", "an intra position past the trained rows"),
        *OPTIONS,
    ),
    doc="BiPE form: learned intra table + KERPLE-log on the segment index",
)
