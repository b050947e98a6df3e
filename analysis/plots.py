"""Matplotlib figures for reports (Agg backend; files written atomically).

Every series gets a colour, a marker and a line style from :func:`series_style`, so figures
stay readable printed in grayscale; every axis is labelled. Functions take plain data
(numbers, :class:`~bipe.analysis.stats.Interval`) and a path, and return the path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator

from bipe.fileio import write_atomic

from .stats import Interval

MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")
LINESTYLES = ("-", "--", "-.", ":")
GUIDE_STYLES = (":", (0, (6, 2, 1, 2, 1, 2)), (0, (1, 4)))
COLORS = ("#000000", "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#777777")


def series_style(i: int) -> dict:
    """Colour, marker and line style of the i-th series (distinct without colour up to 40)."""
    return {
        "color": COLORS[i % len(COLORS)],
        "marker": MARKERS[i % len(MARKERS)],
        "linestyle": LINESTYLES[(i // len(MARKERS) + i) % len(LINESTYLES)],
    }


def save_figure(fig, path: str | Path) -> Path:
    """Save ``fig`` as PNG atomically and close it."""
    try:
        return write_atomic(path, lambda tmp: fig.savefig(tmp, dpi=120, bbox_inches="tight"))
    finally:
        plt.close(fig)


def plot_series_ci(
    path: str | Path,
    series: Mapping[str, Sequence[tuple[float, Interval]]],
    *,
    xlabel: str,
    ylabel: str,
    title: str = "",
    shade: tuple[float, float] | None = None,
    shade_label: str = "training range",
    logx: bool = False,
    logy: bool = False,
) -> Path:
    """Lines with error bars/bands: one series per label, points ``(x, Interval)``."""
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    if shade is not None:
        ax.axvspan(
            shade[0],
            shade[1],
            facecolor="0.94",
            edgecolor="0.75",
            hatch="..",
            linewidth=0,
            label=shade_label,
            zorder=0,
        )
    for i, (label, points) in enumerate(series.items()):
        pts = sorted((x, iv) for x, iv in points if np.isfinite(iv.estimate))
        if not pts:
            continue
        x = np.array([p[0] for p in pts], dtype=float)
        est = np.array([p[1].estimate for p in pts])
        lo = np.array([p[1].lo for p in pts])
        hi = np.array([p[1].hi for p in pts])
        st = series_style(i)
        ax.plot(x, est, label=label, markersize=5, **st)
        if np.any(hi > lo):
            ax.fill_between(x, lo, hi, color=st["color"], alpha=0.15, linewidth=0)
            ax.errorbar(
                x,
                est,
                yerr=[est - lo, hi - est],
                fmt="none",
                ecolor=st["color"],
                capsize=2,
                linewidth=0.8,
            )
    if not logx and all(float(x).is_integer() for pts in series.values() for x, _ in pts):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    _finish(ax, xlabel=xlabel, ylabel=ylabel, title=title, logx=logx, logy=logy)
    return save_figure(fig, path)


def plot_curves(
    path: str | Path,
    curves: Mapping[str, Sequence[tuple[Sequence[float], Sequence[float]]]],
    *,
    xlabel: str,
    ylabel: str,
    title: str = "",
    logy: bool = False,
) -> Path:
    """Several (x, y) curves per label (e.g. one training curve per seed), one style per label."""
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for i, (label, runs) in enumerate(curves.items()):
        st = series_style(i)
        for j, (x, y) in enumerate(runs):
            x, y = np.asarray(x, float), np.asarray(y, float)
            every = max(1, len(x) // 8)
            ax.plot(
                x,
                y,
                label=label if j == 0 else None,
                markevery=every,
                markersize=4,
                linewidth=1.0,
                **st,
            )
    _finish(ax, xlabel=xlabel, ylabel=ylabel, title=title, logy=logy)
    return save_figure(fig, path)


def plot_scaling(
    path: str | Path,
    points: Mapping[str, Sequence[tuple[float, float]]],
    fits: Mapping[str, tuple[float, float]],
    *,
    xlabel: str = "automaton size",
    ylabel: str = "smallest d_model reaching target",
    title: str = "",
    guides: Mapping[str, Sequence[tuple[float, float]]] | None = None,
) -> Path:
    """Log-log scatter of threshold width vs size per encoding, fitted power laws as lines.

    ``fits`` maps label -> (exponent, prefactor); ``guides`` are extra dotted reference curves
    (e.g. hypotheses scaled to the data) as (x, y) points.
    """
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for i, (label, pts) in enumerate(points.items()):
        st = series_style(i)
        if not pts:
            continue
        x = np.array([p[0] for p in pts], float)
        y = np.array([p[1] for p in pts], float)
        ax.plot(x, y, linestyle="none", marker=st["marker"], color=st["color"], label=label)
        if label in fits:
            b, c = fits[label]
            xs = np.geomspace(x.min(), x.max(), 50)
            ax.plot(
                xs,
                c * xs**b,
                color=st["color"],
                linestyle=st["linestyle"],
                label=f"{label} fit: width ~ size^{b:.2f}",
            )
    for j, (label, pts) in enumerate((guides or {}).items()):
        x = np.array([p[0] for p in pts], float)
        y = np.array([p[1] for p in pts], float)
        ax.plot(
            x,
            y,
            color="0.45",
            linestyle=GUIDE_STYLES[j % len(GUIDE_STYLES)],
            linewidth=1.2,
            label=f"hypothesis: {label}",
        )
    _finish(ax, xlabel=xlabel, ylabel=ylabel, title=title, logx=True, logy=True)
    xs = sorted({p[0] for pts in points.values() for p in pts})
    ys = sorted({p[1] for pts in points.values() for p in pts})
    if xs:
        ax.set_xticks(xs, [f"{x:g}" for x in xs])
        ax.set_yticks(ys, [f"{y:g}" for y in ys])
        ax.minorticks_off()
    return save_figure(fig, path)


def plot_heatmaps(
    path: str | Path,
    panels: Sequence[tuple[str, np.ndarray]],
    *,
    xticks: Sequence[float],
    yticks: Sequence[float],
    xlabel: str,
    ylabel: str,
    title: str = "",
) -> Path:
    """Side-by-side heatmaps of values in [0, 1] (rows: ``yticks``, columns: ``xticks``), one
    per (label, (Y, X) array) panel, each cell annotated with its value (NaN: blank)."""
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels) + 0.8, 3.4), squeeze=False)
    for ax, (label, grid) in zip(axes[0], panels, strict=True):
        image = ax.imshow(grid, vmin=0.0, vmax=1.0, cmap="viridis", aspect="auto", origin="lower")
        for (r, c), v in np.ndenumerate(grid):
            if not np.isnan(v):
                ax.text(
                    c,
                    r,
                    f"{v:.2f}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if v < 0.5 else "black",
                )
        ax.set_xticks(range(len(xticks)), [f"{x:g}" for x in xticks], fontsize=7)
        ax.set_yticks(range(len(yticks)), [f"{y:g}" for y in yticks], fontsize=7)
        ax.set_xlabel(xlabel)
        ax.set_title(label, fontsize=9)
    axes[0][0].set_ylabel(ylabel)
    fig.colorbar(image, ax=axes[0].tolist(), shrink=0.8)
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)


def plot_histograms(
    path: str | Path,
    panels: Sequence[tuple[str, Sequence[float]]],
    *,
    xlabel: str,
    ylabel: str = "fraction",
    title: str = "",
) -> Path:
    """Overlaid step histograms (integer bins), one per (label, values) panel."""
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    values = [np.asarray(v, float) for _, v in panels]
    nonempty = [v for v in values if v.size]
    top = max((float(v.max()) for v in nonempty), default=1.0)
    bins = np.arange(0, top + 2) - 0.5 if top <= 200 else 60
    for i, ((label, _), v) in enumerate(zip(panels, values, strict=True)):
        if not v.size:
            continue
        st = series_style(i)
        ax.hist(
            v,
            bins=bins,
            histtype="step",
            density=True,
            color=st["color"],
            linestyle=st["linestyle"],
            linewidth=1.4,
            label=label,
        )
    _finish(ax, xlabel=xlabel, ylabel=ylabel, title=title)
    return save_figure(fig, path)


def _finish(
    ax, *, xlabel: str, ylabel: str, title: str, logx: bool = False, logy: bool = False
) -> None:
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.grid(True, color="0.9", linewidth=0.6)
    handles, _ = ax.get_legend_handles_labels()
    if handles:
        ax.legend(fontsize=8, frameon=False)
