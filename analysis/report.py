"""``report.md``, PNG figures and ``report.html`` (same content) from run folders.

For every task among the runs: accuracy (each metric of ``eval.json``) against length per
encoding with bootstrap intervals across seeds and the training range shaded; in-distribution and
above-training summaries; training curves; accuracy against width when widths vary; paired
differences between encodings (paired by seed, at equal width) with bootstrap intervals.

The report is built once as a list of :class:`Block` values and rendered twice (Markdown and
HTML), so both files say the same thing. Intervals use a generator seeded from ``seed``: the same
runs and seed give byte-identical reports.
"""

from __future__ import annotations

import html
import itertools
import json
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bipe.fileio import write_text_atomic

from .plots import plot_curves, plot_heatmaps, plot_series_ci
from .runs import Run, as_float, load_runs, metric_names
from .stats import Interval, bootstrap_ci, named_rng, paired_difference

SETTINGS = ("in_distribution", "above_train")


@dataclass(frozen=True, kw_only=True)
class Block:
    """One piece of a report: a heading, a paragraph, a table or an image."""

    kind: str  # "h1" | "h2" | "h3" | "p" | "table" | "img"
    text: str = ""
    header: tuple[str, ...] = ()
    rows: tuple[tuple[str, ...], ...] = ()


def render_markdown(blocks: Sequence[Block]) -> str:
    """Markdown text of the blocks."""
    out = []
    for b in blocks:
        if b.kind in ("h1", "h2", "h3"):
            out.append("#" * int(b.kind[1]) + " " + b.text)
        elif b.kind == "p":
            out.append(b.text)
        elif b.kind == "img":
            out.append(f"![{b.text}]({b.text})")
        elif b.kind == "table":
            rows = [b.header, tuple("---" for _ in b.header), *b.rows]
            out.append("\n".join("| " + " | ".join(r) + " |" for r in rows))
    return "\n\n".join(out) + "\n"


def render_html(blocks: Sequence[Block], title: str) -> str:
    """A self-contained HTML page of the blocks (images referenced by relative path)."""
    esc = html.escape
    body = []
    for b in blocks:
        if b.kind in ("h1", "h2", "h3"):
            body.append(f"<{b.kind}>{esc(b.text)}</{b.kind}>")
        elif b.kind == "p":
            body.append(f"<p>{_inline_code(esc(b.text))}</p>")
        elif b.kind == "img":
            body.append(f'<p><img src="{esc(b.text)}" alt="{esc(b.text)}"></p>')
        elif b.kind == "table":
            head = "".join(f"<th>{esc(h)}</th>" for h in b.header)
            rows = "".join(
                "<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>" for r in b.rows
            )
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
    css = (
        "body{font-family:sans-serif;max-width:60em;margin:2em auto}"
        "table{border-collapse:collapse}td,th{border:1px solid #999;padding:2px 8px}"
        "img{max-width:100%}"
    )
    return (
        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{esc(title)}</title>'
        f"<style>{css}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )


def _inline_code(text: str) -> str:
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", text)


def slug(text: str) -> str:
    """A file-name-safe version of ``text``."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "x"


# Config keys that never distinguish groups: replicates (seeds), bookkeeping, derived fields,
# and the encoding and width, which the report shows on their own.
NOT_VARIANTS = (
    "command",
    "version",
    "resumes",
    "encoding",
    "out",
    "init_seed",
    "data_seed",
    "seed",
    "pe",
    "d_model",
    "max_intra",
    "vocab_size",
    "separators",
    "path",
    "device",
    "progress",
)


def _leaves(tree: Any, prefix: str = "") -> dict[str, str]:
    if not isinstance(tree, dict):
        return {prefix: tree if isinstance(tree, str) else json.dumps(tree, sort_keys=True)}
    out: dict[str, str] = {}
    for key, value in tree.items():
        out.update(_leaves(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def _variants(runs: Sequence[Run]) -> dict[Path, str]:
    """Per run, the config values that vary among ``runs`` (besides encoding, width, seeds),
    e.g. ``inner_states=3``: runs differing there are different conditions, not replicates."""
    leaves = {
        r.path: _leaves({k: v for k, v in r.config.items() if k not in NOT_VARIANTS}) for r in runs
    }
    keys = sorted({k for lv in leaves.values() for k in lv})
    varying = [
        k
        for k in keys
        if k.split(".")[-1] not in NOT_VARIANTS and len({lv.get(k) for lv in leaves.values()}) > 1
    ]
    return {
        path: " ".join(f"{k.split('.')[-1]}={lv.get(k, '-')}" for k in varying)
        for path, lv in leaves.items()
    }


def _labels(runs: Sequence[Run]) -> dict[Path, str]:
    """Series label per run: the encoding, the varying config values, and ``d=W`` when widths
    vary among the runs."""
    vary = len({r.width for r in runs}) > 1
    variants = _variants(runs)
    return {
        r.path: " ".join(x for x in (r.pe, variants[r.path], f"d={r.width}" if vary else "") if x)
        for r in runs
    }


def _summary_value(run: Run, setting: str, metric: str) -> float:
    """A summary value from eval.json, recomputed from per_length if absent."""
    ev = run.evaluation or {}
    value = as_float((ev.get("summary", {}).get(setting) or {}).get(metric))
    if not math.isnan(value):
        return value
    lo, hi = (ev.get("train_range") or [-math.inf, math.inf])[:2]
    rows = ev.get("per_length", [])
    keep = [
        as_float(r.get(metric))
        for r in rows
        if (lo <= r["length"] <= hi) == (setting == "in_distribution")
    ]
    keep = [v for v in keep if not math.isnan(v)]
    return float(np.mean(keep)) if keep else math.nan


def _ci_or_nan(rng: np.random.Generator, values: list[float]) -> Interval:
    vals = [v for v in values if not math.isnan(v)]
    if not vals:
        return Interval(estimate=math.nan, lo=math.nan, hi=math.nan, n=0)
    return bootstrap_ci(rng, vals)


def _task_blocks(
    rng: np.random.Generator, task: str, runs: list[Run], out_dir: Path
) -> list[Block]:
    blocks = [Block(kind="h2", text=f"Task `{task}`")]
    evaluated = [r for r in runs if r.evaluation]
    labels = _labels(runs)
    metrics = list(dict.fromkeys(m for r in evaluated for m in metric_names(r)))
    train_range = next(
        (tuple(r.evaluation["train_range"]) for r in evaluated if r.evaluation.get("train_range")),
        None,
    )
    if train_range:
        blocks.append(
            Block(
                kind="p",
                text=f"Training range: lengths {train_range[0]} to "
                f"{train_range[1]} (shaded in the figures).",
            )
        )
    for metric in metrics:
        blocks += _length_blocks(rng, task, metric, evaluated, labels, train_range, out_dir)
    if metrics:
        blocks += _summary_blocks(rng, metrics, evaluated, labels)
        blocks += _width_blocks(rng, task, metrics[0], evaluated, out_dir)
        blocks += _paired_blocks(rng, metrics, evaluated)
    blocks += _depth_blocks(task, evaluated, labels, out_dir)
    blocks += _effective_length_blocks(evaluated, labels)
    blocks += _training_blocks(task, runs, labels, out_dir)
    return blocks


def _length_blocks(rng, task, metric, runs, labels, train_range, out_dir) -> list[Block]:
    by_label: dict[str, dict[float, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in runs:
        for row in r.evaluation["per_length"]:
            by_label[labels[r.path]][float(row["length"])].append(as_float(row.get(metric)))
    series = {
        lab: [(x, _ci_or_nan(rng, v)) for x, v in sorted(pts.items())]
        for lab, pts in sorted(by_label.items())
    }
    name = f"{slug(task)}_{slug(metric)}_vs_length.png"
    unit = next(
        (r.evaluation.get("length_unit") for r in runs if r.evaluation.get("length_unit")),
        "evaluation setting",
    )
    plot_series_ci(
        out_dir / name,
        series,
        xlabel=f"length ({unit})",
        ylabel=metric,
        title=f"{task}: {metric} against length",
        shade=train_range,
    )
    lengths = sorted({x for s in series.values() for x, _ in s})
    header = ("encoding", *[f"{x:g}" for x in lengths])
    rows = []
    for lab, pts in series.items():
        at = dict(pts)
        rows.append(
            (
                lab,
                *[
                    at[x].format(2) if x in at and not math.isnan(at[x].estimate) else "-"
                    for x in lengths
                ],
            )
        )
    return [
        Block(kind="h3", text=f"{metric} against length"),
        Block(kind="img", text=name),
        Block(
            kind="p",
            text=f"Mean over seeds of `{metric}` per length [95% bootstrap interval across seeds].",
        ),
        Block(kind="table", header=header, rows=tuple(rows)),
    ]


def _summary_blocks(rng, metrics, runs, labels) -> list[Block]:
    groups: dict[str, list[Run]] = defaultdict(list)
    for r in runs:
        groups[labels[r.path]].append(r)
    header = (
        "encoding",
        "seeds",
        *[f"{m} ({s.replace('_', ' ')})" for m in metrics for s in SETTINGS],
    )
    rows = []
    for lab, rs in sorted(groups.items()):
        cells = [
            _ci_or_nan(rng, [_summary_value(r, s, m) for r in rs])
            for m in metrics
            for s in SETTINGS
        ]
        rows.append((lab, str(len(rs)), *[c.format(3) if c.n else "-" for c in cells]))
    return [
        Block(kind="h3", text="Summary: in distribution and above the training range"),
        Block(kind="table", header=header, rows=tuple(rows)),
    ]


def _width_blocks(rng, task, metric, runs, out_dir) -> list[Block]:
    if len({r.width for r in runs}) < 2:
        return []
    blocks = [Block(kind="h3", text=f"{metric} against width")]
    variants = _variants(runs)
    for setting in SETTINGS:
        cells: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
        for r in runs:
            label = f"{r.pe} {variants[r.path]}".strip()
            cells[label][r.width].append(_summary_value(r, setting, metric))
        series = {
            pe: [(w, _ci_or_nan(rng, v)) for w, v in sorted(ws.items())]
            for pe, ws in sorted(cells.items())
        }
        name = f"{slug(task)}_{slug(metric)}_vs_width_{setting}.png"
        plot_series_ci(
            out_dir / name,
            series,
            xlabel="d_model",
            ylabel=metric,
            logx=True,
            title=f"{task}: {metric} ({setting.replace('_', ' ')}) against width",
        )
        blocks.append(Block(kind="img", text=name))
    return blocks


def _paired_blocks(rng, metrics, runs) -> list[Block]:
    variants = _variants(runs)
    by_cell: dict[tuple[str, str], dict[int, Run]] = defaultdict(dict)
    for r in runs:
        by_cell[(f"d={r.width} {variants[r.path]}".strip(), r.pe)][r.seed] = r
    rows = []
    conditions = sorted({c for c, _ in by_cell})
    for w in conditions:
        pes = sorted(pe for ww, pe in by_cell if ww == w)
        for a, b in itertools.combinations(pes, 2):
            ra, rb = by_cell[(w, a)], by_cell[(w, b)]
            if not set(ra) & set(rb):
                continue
            for m, s in itertools.product(metrics, SETTINGS):
                va = {k: _summary_value(v, s, m) for k, v in ra.items()}
                vb = {k: _summary_value(v, s, m) for k, v in rb.items()}
                va = {k: v for k, v in va.items() if not math.isnan(v)}
                vb = {k: v for k, v in vb.items() if not math.isnan(v)}
                if set(va) & set(vb):
                    d = paired_difference(rng, va, vb)
                    rows.append((f"{a} - {b}", w, m, s.replace("_", " "), str(d.n), d.format(3)))
    if not rows:
        return []
    return [
        Block(kind="h3", text="Paired differences between encodings"),
        Block(
            kind="p",
            text="Difference of summary metrics, paired by seed under equal "
            "conditions (width and any other varied config value) "
            "[95% bootstrap interval over seeds].",
        ),
        Block(
            kind="table",
            header=("pair", "condition", "metric", "setting", "seeds", "difference"),
            rows=tuple(rows),
        ),
    ]


def _depth_blocks(task, runs, labels, out_dir) -> list[Block]:
    name = f"{slug(task)}_accuracy_by_depth.png"
    if not plot_depth_heatmaps(out_dir / name, runs, labels, title=task):
        return []
    return [Block(kind="h3", text="Accuracy by depth and length"), Block(kind="img", text=name)]


def _effective_length_blocks(runs, labels) -> list[Block]:
    """RULER runs: each label's effective lengths (:mod:`bipe.analysis.ruler`)."""
    from .ruler import effective_length_blocks  # it imports Block from here

    grouped: dict[str, dict] = defaultdict(dict)
    for r in runs:
        grouped[labels[r.path]][r.path.as_posix()] = r
    return effective_length_blocks(grouped)


def plot_depth_heatmaps(
    path: Path, runs: Sequence[Run], labels: Mapping[Path, str], *, title: str
) -> bool:
    """Passkey heatmaps at ``path``: accuracy per (depth, length), mean over the runs of each
    label (seeds), one panel per label (``labels``: run folder -> label). False (and nothing
    written) when no run has per-depth results."""
    cells: dict[str, dict[tuple[float, float], list[float]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for r in runs:
        for row in r.evaluation["per_length"]:
            for d in row.get("by_depth") or []:
                cells[labels[r.path]][(float(d["depth"]), float(row["length"]))].append(
                    as_float(d.get("accuracy"))
                )
    if not cells:
        return False
    depths = sorted({k[0] for c in cells.values() for k in c})
    lengths = sorted({k[1] for c in cells.values() for k in c})
    panels = []
    for label, c in sorted(cells.items()):
        grid = np.full((len(depths), len(lengths)), np.nan)  # (depths, lengths)
        for (d, n), values in c.items():
            grid[depths.index(d), lengths.index(n)] = float(np.nanmean(values))
        panels.append((label, grid))
    plot_heatmaps(
        path,
        panels,
        xticks=lengths,
        yticks=depths,
        xlabel="context length (tokens)",
        ylabel="depth of the key",
        title=f"{title}: exact-match accuracy, mean over seeds",
    )
    return True


def _training_blocks(task, runs, labels, out_dir) -> list[Block]:
    curves: dict[str, list] = defaultdict(list)
    for r in runs:
        pts = [
            (m["step"], m["loss"])
            for m in r.metrics
            if isinstance(m.get("step"), (int, float))
            and isinstance(m.get("loss"), (int, float))
            and m["loss"] > 0
        ]
        if pts:
            curves[labels[r.path]].append(([p[0] for p in pts], [p[1] for p in pts]))
    if not curves:
        return []
    name = f"{slug(task)}_training_loss.png"
    plot_curves(
        out_dir / name,
        dict(sorted(curves.items())),
        xlabel="training step",
        ylabel="training loss (log scale)",
        title=f"{task}: training curves",
        logy=True,
    )
    return [Block(kind="h3", text="Training curves"), Block(kind="img", text=name)]


def _runs_table(runs: Sequence[Run]) -> Block:
    rows = tuple(
        (r.name, r.task, r.pe, str(r.seed), str(r.width), "yes" if r.evaluation else "no")
        for r in runs
    )
    return Block(
        kind="table", header=("run", "task", "encoding", "seed", "d_model", "evaluated"), rows=rows
    )


def _attention_blocks(
    runs: Sequence[Run], data: str | Path, n_records: int, out_dir: Path
) -> list[Block]:
    """Same-segment attention mass and distance profiles of every run with a saved model."""
    from bipe.synthetic.dataset import load_dataset

    from .attention import pad_batch, run_attention_profile  # torch

    tokens, valid = pad_batch(load_dataset(data).column("tokens")[:n_records])
    groups: dict[str, list] = defaultdict(list)
    skipped = []
    for r in runs:
        try:
            groups[r.pe].append(run_attention_profile(r.path, tokens, valid=valid))
        except (ValueError, OSError) as err:
            skipped.append(f"{r.name} ({err})")
    blocks = [
        Block(kind="h2", text="Attention diagnostics"),
        Block(
            kind="p",
            text=f"On the first {len(tokens)} records of `{data}`; mean over "
            "seeds. Same-segment mass per layer is averaged over heads; "
            "uniform causal attention would give the baseline.",
        ),
    ]
    if skipped:
        blocks.append(Block(kind="p", text="Skipped: " + "; ".join(skipped)))
    if not groups:
        return blocks
    rows, seg_series, intra_series = [], {}, {}
    for pe, profs in sorted(groups.items()):
        same = np.mean([p.same_segment for p in profs], axis=0)  # (L, H)
        rows.append(
            (
                pe,
                str(len(profs)),
                *[f"{v:.3f}" for v in same.mean(axis=1)],
                f"{profs[0].uniform_same_segment:.3f}",
            )
        )
        for series, attr in ((seg_series, "seg_profile"), (intra_series, "intra_profile")):
            prof = np.mean([getattr(p, attr)[-1].mean(axis=0) for p in profs], axis=0)  # (Dd,)
            series[pe] = [
                (d, Interval(estimate=float(v), lo=float(v), hi=float(v), n=1))
                for d, v in enumerate(prof)
            ]
    n_layers = max(len(r) for r in rows) - 3
    blocks.append(
        Block(
            kind="table",
            header=(
                "encoding",
                "runs",
                *[f"layer {i}" for i in range(n_layers)],
                "uniform baseline",
            ),
            rows=tuple(rows),
        )
    )
    for name, series, what in (
        ("attention_segment_distance.png", seg_series, "segment"),
        ("attention_intra_distance.png", intra_series, "intra"),
    ):
        plot_series_ci(
            out_dir / name,
            series,
            xlabel=f"{what} distance (query - key; last bin = farther)",
            ylabel="attention mass per query (last layer)",
            title=f"Attention by {what} distance",
        )
        blocks.append(Block(kind="img", text=name))
    return blocks


def build_report(seed: int, runs: Sequence[Run], out_dir: Path, *, title: str) -> list[Block]:
    """The report's blocks; writes its figures into ``out_dir``.

    Each task's bootstrap draws from its own stream (``seed`` and the task's name).
    """
    blocks = [
        Block(kind="h1", text=title),
        Block(
            kind="p",
            text=f"{len(runs)} runs. Intervals are 95% percentile-bootstrap "
            "intervals across seeds (none with a single seed).",
        ),
        _runs_table(runs),
    ]
    by_task: dict[str, list[Run]] = defaultdict(list)
    for r in runs:
        by_task[r.task].append(r)
    for task, rs in sorted(by_task.items()):
        blocks += _task_blocks(named_rng(seed, task), task, rs, out_dir)
    return blocks


def write_report(
    run_dirs: Iterable[str | Path],
    out_dir: str | Path,
    *,
    title: str = "bipe report",
    seed: int = 0,
    attention_data: str | Path | None = None,
    attention_records: int = 32,
) -> Path:
    """Write ``report.md``, ``report.html`` and PNGs into ``out_dir``; return the .md path.

    ``run_dirs`` are run folders or folders containing runs (sweeps). ``seed`` seeds the
    bootstrap (this is a composition root for analysis). With ``attention_data`` (a bipe
    dataset folder whose tokens the runs' models accept) the report adds attention diagnostics
    of every run with a saved ``model.pt`` on its first ``attention_records`` records.
    """
    runs = load_runs(run_dirs)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    blocks = build_report(seed, runs, out, title=title)
    if attention_data is not None:
        blocks += _attention_blocks(runs, attention_data, attention_records, out)
    write_text_atomic(out / "report.html", render_html(blocks, title))
    return write_text_atomic(out / "report.md", render_markdown(blocks))
