"""Absolute encodings: sinusoidal (Vaswani et al.) and a learned table (also BiPE's intra table).

Shape legend: B batch, T length, D model width, R table rows.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .encoding import Count, Encoding, read_stream, streams_except
from .positions import Positions


def sinusoidal_encoding(pos: Tensor, d_model: int, base: float = 10000.0) -> Tensor:
    """(..., D) float32: ``[sin(p w_0), cos(p w_0), sin(p w_1), ...]`` with ``w_i = base^(-2i/D)``.

    Dimension 2i holds the sine and 2i+1 the cosine, as in Vaswani et al.; odd D drops the last
    cosine.
    """
    i = torch.arange(0, d_model, 2, device=pos.device, dtype=torch.float32)  # (ceil(D/2),)
    angles = pos.to(torch.float32)[..., None] * base ** (-i / d_model)  # (..., ceil(D/2))
    pairs = torch.stack((angles.sin(), angles.cos()), dim=-1)  # (..., ceil(D/2), 2)
    return pairs.flatten(-2)[..., :d_model]  # (..., D)


class Sinusoidal(Encoding):
    """Adds the sinusoidal encoding of one stream to the input embedding; any length."""

    def __init__(self, d_model: int, *, source: str = "index") -> None:
        super().__init__()
        self.d_model, self.source = d_model, source
        self.invariant_streams = streams_except(source)

    def embed(self, pos: Positions) -> Tensor:
        """(B, T, D) sinusoidal vectors of the source stream."""
        return sinusoidal_encoding(read_stream(pos, self.source), self.d_model)


class LearnedAbsolute(Encoding):
    """A learned table indexed by one stream, with an explicit overflow policy.

    ``track_trained=False`` (plain ``learned``): positions must lie in ``[0, n_rows)``, anything
    else is a ValueError. ``track_trained=True`` (BiPE intra table): the buffer ``n_trained``
    records ``1 + `` the largest position a training-mode forward used; in eval mode positions
    ``>= n_trained`` follow ``overflow``: ``clamp`` (use row ``n_trained - 1``), ``sinusoidal``
    (a sinusoidal vector scaled to the trained rows' mean norm) or ``error``. In training mode,
    and before any training, the limit is ``n_rows``, where ``clamp`` trains the last row on the
    overflowing positions.
    """

    n_trained: Tensor  # buffer, a long scalar

    @staticmethod
    def n_params(n_rows: Count, d_model: Count) -> Count:
        """Parameters of a table of ``n_rows`` x ``d_model`` (ints or sympy symbols)."""
        return n_rows * d_model

    def __init__(
        self,
        n_rows: int,
        d_model: int,
        *,
        source: str,
        overflow: str = "error",
        track_trained: bool = False,
    ) -> None:
        super().__init__()
        self.table = nn.Embedding(n_rows, d_model)
        self.source, self.overflow, self.track_trained = source, overflow, track_trained
        self.register_buffer("n_trained", torch.zeros((), dtype=torch.long))
        self.invariant_streams = streams_except(source)

    def limit(self) -> int:
        """Rows usable now: ``n_trained`` in eval mode once trained, else the table size."""
        n_rows = self.table.num_embeddings
        if self.track_trained and not self.training and int(self.n_trained) > 0:
            return int(self.n_trained)
        return n_rows

    def embed(self, pos: Positions) -> Tensor:
        """(B, T, D) table rows of the source stream, after the overflow policy."""
        p = read_stream(pos, self.source)  # (B, T)
        if self.training and (p.device.type != "cpu" or torch.compiler.is_compiling()):
            return self.train_rows(p)
        if p.numel() and int(p.min()) < 0:
            raise ValueError(f"negative {self.source} position {int(p.min())} for a learned table")
        if self.track_trained and self.training and p.numel():
            with torch.no_grad():
                seen = min(int(p.max()) + 1, self.table.num_embeddings)
                self.n_trained.fill_(max(int(self.n_trained), seen))
        limit = self.limit()
        top = int(p.max()) if p.numel() else -1
        if top < limit:
            return self.table(p)
        if self.overflow == "error" or not self.track_trained:
            what = "trained rows" if limit < self.table.num_embeddings else "table rows"
            raise ValueError(
                f"{self.source} position {top} is past the learned table's {limit} "
                f"{what} (overflow policy 'error'; see max_len / max_intra)"
            )
        rows = self.table(p.clamp(max=limit - 1))  # (B, T, D)
        if self.overflow == "clamp":
            return rows
        trained = self.table.weight[:limit]  # (limit, D)
        wave = sinusoidal_encoding(p, trained.shape[1]).to(rows.dtype)  # (B, T, D)
        wave = wave * (trained.norm(dim=-1).mean() / wave.norm(dim=-1, keepdim=True))
        return torch.where((p >= limit)[..., None], wave, rows)

    def train_rows(self, p: Tensor) -> Tensor:
        """Training-mode rows (B, T, D) of positions p (B, T) without a host synchronisation
        (the GPU and compiled path): ``n_trained`` grows on the device, ``clamp`` sends
        positions past the table to its last row; out-of-range positions under ``error`` are
        caught before training, where batches are made (``check_feasible``), not here."""
        n_rows = self.table.num_embeddings
        if self.track_trained and p.numel():
            with torch.no_grad():
                seen = (p.max() + 1).clamp(max=n_rows)  # () on the device
                torch.maximum(self.n_trained, seen, out=self.n_trained)
        if self.track_trained and self.overflow == "clamp":
            p = p.clamp(max=n_rows - 1)
        return self.table(p)  # (B, T, D)
