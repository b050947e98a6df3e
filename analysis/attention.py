"""Attention diagnostics: how much attention stays inside a segment, and at what distances.

For every layer and head, averaged over (valid) query tokens:

- ``same_segment``: attention mass on keys of the query's own segment (the rest goes across
  segments); ``uniform_same_segment`` is the same quantity for uniform causal attention, the
  baseline a head with no positional preference would show;
- ``seg_profile[d]``: mass on keys ``d`` segments back (``seg_q - seg_k = d``; the last bin
  collects everything farther);
- ``intra_profile[d]``: mass on keys of the *same* segment ``d`` tokens back
  (``intra_q - intra_k = d``).

Maps come from :meth:`bipe.models.Transformer.attention_maps` (one (B, H, T, T) array per
layer); positions follow docs/method.md#positions. Worked example: a head attending only to the
first token of a 2-segment sequence ``a S b`` (seg 0 0 1) puts mass 1 on the same segment for
queries 0, 1 and mass 0 for query 2, so ``same_segment = 2/3`` and ``seg_profile = [2/3, 1/3]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bipe.fileio import write_text_atomic
from bipe.synthetic.arrays import pad_rows

from .plots import plot_series_ci
from .stats import Interval


@dataclass(frozen=True, kw_only=True)
class AttentionProfile:
    """Per layer and head: ``same_segment`` (L, H), ``uniform_same_segment`` scalar,
    ``seg_profile`` (L, H, Ds), ``intra_profile`` (L, H, Di)."""

    same_segment: np.ndarray
    uniform_same_segment: float
    seg_profile: np.ndarray
    intra_profile: np.ndarray


def attention_profile(
    maps: Sequence[np.ndarray],
    seg: np.ndarray,
    intra: np.ndarray,
    *,
    valid: np.ndarray | None = None,
    max_seg_distance: int = 8,
    max_intra_distance: int = 16,
) -> AttentionProfile:
    """Profiles of attention maps (each (B, H, T, T), rows summing to 1) given positions (B, T).

    ``valid`` (B, T) bool marks real tokens (queries outside it are ignored).
    """
    seg = np.asarray(seg, dtype=np.int64)
    intra = np.asarray(intra, dtype=np.int64)
    B, T = seg.shape
    valid = np.ones((B, T), dtype=bool) if valid is None else np.asarray(valid, dtype=bool)
    causal = np.tril(np.ones((T, T), dtype=bool))[None]  # (1, T, T)
    keys = causal & valid[:, None, :] & valid[:, :, None]  # (B, T, T)
    same = (seg[:, :, None] == seg[:, None, :]) & keys  # (B, T, T)
    dseg = np.clip(seg[:, :, None] - seg[:, None, :], 0, max_seg_distance)  # (B, T, T)
    dintra = np.clip(intra[:, :, None] - intra[:, None, :], 0, max_intra_distance)  # (B, T, T)
    n_queries = max(int(valid.sum()), 1)
    uniform = float((same.sum(-1)[valid] / keys.sum(-1)[valid]).mean()) if valid.any() else 0.0
    layers = []
    for a in maps:
        a = np.asarray(a, dtype=np.float64) * keys[:, None]  # (B, H, T, T)
        same_mass = (a * same[:, None]).sum(axis=(0, 2, 3)) / n_queries  # (H,)
        seg_prof = _binned(a, dseg, keys, max_seg_distance + 1) / n_queries  # (H, Ds)
        intra_prof = _binned(a, dintra, same, max_intra_distance + 1) / n_queries  # (H, Di)
        layers.append((same_mass, seg_prof, intra_prof))
    return AttentionProfile(
        same_segment=np.stack([x[0] for x in layers]),
        uniform_same_segment=uniform,
        seg_profile=np.stack([x[1] for x in layers]),
        intra_profile=np.stack([x[2] for x in layers]),
    )


def _binned(a: np.ndarray, bins: np.ndarray, where: np.ndarray, n_bins: int) -> np.ndarray:
    """Per head, attention mass summed by distance bin over the pairs in ``where``."""
    idx = bins[where]  # (P,)
    return np.stack(
        [np.bincount(idx, weights=a[:, h][where], minlength=n_bins) for h in range(a.shape[1])]
    )  # (H, n_bins)


def model_attention_profile(model, tokens, **kwargs) -> AttentionProfile:
    """:func:`attention_profile` of a :class:`bipe.models.Transformer` on ``tokens`` (B, T),
    with the model's own default positions (for hbipe, ``seg`` is the innermost level)."""
    import torch  # torch only when a model is analysed

    tokens = torch.as_tensor(np.asarray(tokens), dtype=torch.long)
    vocab = model.config.vocab_size
    if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= vocab):
        raise ValueError(
            f"token ids must lie in [0, {vocab}) for this model, got "
            f"{int(tokens.min())}..{int(tokens.max())}"
        )
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            pos = model.positions(tokens)
            maps = [m.double().cpu().numpy() for m in model.attention_maps(tokens, pos)]
    finally:
        model.train(was_training)
    return attention_profile(maps, pos.seg.cpu().numpy(), pos.intra.cpu().numpy(), **kwargs)


def pad_batch(token_lists: Sequence[Sequence[int]], pad: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Right-padded (N, T) tokens and the (N, T) mask of real tokens. Causal attention and
    separator positions of real tokens do not depend on padding that follows them."""
    if not len(token_lists):
        raise ValueError("no token sequences to analyse")
    tokens, lengths = pad_rows([np.asarray(t, dtype=np.int64) for t in token_lists], pad)
    valid = np.arange(tokens.shape[1])[None, :] < lengths[:, None]  # (N, T)
    return tokens, valid


def run_attention_profile(run_dir: str | Path, tokens, **kwargs) -> AttentionProfile:
    """Load ``RUN/model.pt`` with :func:`bipe.models.load` and profile it on ``tokens``."""
    from bipe.models import load

    path = Path(run_dir) / "model.pt"
    if not path.is_file():
        raise OSError(f"{run_dir}: no trained model (model.pt) in the run folder")
    return model_attention_profile(load(path), tokens, **kwargs)


def profile_table(profiles: dict[str, AttentionProfile]) -> str:
    """Markdown: per encoding, layer and head, the same-segment mass (and uniform baseline)."""
    lines = [
        "| encoding | layer | head | same-segment mass | uniform baseline |",
        "|---|---|---|---|---|",
    ]
    for name, p in profiles.items():
        n_layers, n_heads = p.same_segment.shape
        for li in range(n_layers):
            for h in range(n_heads):
                lines.append(
                    f"| {name} | {li} | {h} | {p.same_segment[li, h]:.3f} | "
                    f"{p.uniform_same_segment:.3f} |"
                )
    return "\n".join(lines) + "\n"


def write_attention_report(profiles: dict[str, AttentionProfile], out_dir: str | Path) -> Path:
    """``attention.md`` with the table and per-encoding distance-profile PNGs (last layer)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    figures = []
    for name, p in profiles.items():
        for kind, prof in (("segment", p.seg_profile), ("intra", p.intra_profile)):
            series = {
                f"head {h}": [(d, _point(v)) for d, v in enumerate(prof[-1, h])]
                for h in range(prof.shape[1])
            }
            fname = f"attention_{name}_{kind}_distance.png"
            plot_series_ci(
                out / fname,
                series,
                xlabel=f"{kind} distance (query - key)",
                ylabel="attention mass per query",
                title=f"{name}: last layer, mass by {kind} distance",
            )
            figures.append(fname)
    md = (
        "# Attention diagnostics\n\n"
        + profile_table(profiles)
        + "\n"
        + "\n".join(f"![{f}]({f})" for f in figures)
        + "\n"
    )
    return write_text_atomic(out / "attention.md", md)


def _point(value: float) -> Interval:
    return Interval(estimate=float(value), lo=float(value), hi=float(value), n=1)
