"""``docs/results.md`` from committed study folders: one section per study, every number
regenerable from the run files.

A study folder (``studies/<name>/``) holds the sweep's grid file, its run folders (each with
``config.json``, ``metrics.jsonl``, ``eval.json``) and ``study.toml``, which says what the study
asks and which comparisons answer it::

    title = "Segment-count extrapolation (Bi-NFA LM)"
    order = 10                           # place among the studies found under studies/
    question = "Does BiPE extrapolate further in the number of segments ...?"
    metrics = ["continuation_valid", "accuracy"]   # the first is the headline
    group = ["model.pe"]                 # config keys whose values name a variant
    pairs = [["bipe_rope", "rope"], ["bipe_alibi", "alibi"]]   # variant A minus variant B
    headline = ["bipe_rope", "rope"]     # the findings table's pair (default: the first)
    runs = ["."]                         # folders (relative to the study) holding its runs
    average = ["task"]                   # optional: keys averaged over per variant and seed
    pending = "not run: ..."             # optional: why no run is in yet (shown until one is)
    [where]                              # optional filter: config key -> allowed values
    "model.pe" = ["alibi", "bipe_alibi"]
    [labels]                             # optional readable names for the findings table
    "bipe_alibi" = "BiPE-ALiBi"

A width study (``bipe study width``) adds a ``[width]`` table; its section is
:mod:`bipe.analysis.width_results`'s. Parsing, finding study folders and grouping runs are
:mod:`bipe.analysis.studies`; the headline table is :mod:`bipe.analysis.findings`.

Variants are labelled by the values of the ``group`` keys (``bipe_alibi 8``). Runs are paired
by ``(data_seed, init_seed)``. Each section states the question, the setup (the grid file), a
figure of the headline metric against length with 95% percentile-bootstrap intervals across
seeds, the per-length table, the paired differences above the training range, and one
conclusion sentence per pair. Each study draws its bootstrap from its own random stream (the
seed and its title), so a run added to one study leaves every other study's numbers as they
were. A difference is called a finding only when its 95% Student-t interval across seeds
excludes zero (the bootstrap is too narrow with few seeds); otherwise the sentence says no
difference was detectable at this budget. Per-length paired differences
are exploratory: a length is marked only where its difference survives Holm's correction
across the lengths of its pair.
"""

from __future__ import annotations

import difflib
import math
import os
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bipe.fileio import write_text_atomic
from bipe.provenance import NUMERICS, run_numerics

from .findings import findings_table, readme_block, write_readme_block
from .plots import plot_series_ci
from .report import Block, plot_depth_heatmaps, render_markdown
from .ruler import effective_length_blocks
from .stats import Interval, bootstrap_ci, holm, named_rng, t_interval, t_pvalue, verdict
from .studies import (
    StudySpec,
    above_train_interval,
    evaluated_runs,
    find_studies,
    grid_files,
    load_study,
    per_length_values,
    run_counts,
    study_runs,
)
from .width_results import width_blocks

__all__ = [
    "StudySpec",
    "above_train_interval",
    "evaluated_runs",
    "find_studies",
    "load_study",
    "study_blocks",
    "study_runs",
    "write_results",
]


def _fmt(iv: Interval) -> str:
    return "-" if iv.n == 0 or math.isnan(iv.estimate) else iv.format(3)


def _length_table(rng, spec, runs, metric, out_dir, stem) -> list[Block]:
    series = {}
    for variant, by_seed in runs.items():
        pts: dict[float, list[float]] = defaultdict(list)
        for r in by_seed.values():
            for x, v in per_length_values(r, metric).items():
                if not math.isnan(v):
                    pts[x].append(v)
        series[variant] = [(x, bootstrap_ci(rng, v)) for x, v in sorted(pts.items())]
    some = next(r for by_seed in runs.values() for r in by_seed.values())
    train = tuple(some.evaluation.get("train_range") or ()) or None
    name = f"{stem}_{metric}.png"
    plot_series_ci(
        out_dir / name,
        series,
        xlabel="length",
        ylabel=metric,
        shade=train,
        title=f"{spec.title}: {metric}",
    )
    lengths = sorted({x for s in series.values() for x, _ in s})
    rows = tuple(
        (
            v,
            str(len(runs[v])),
            *[
                _fmt(dict(s).get(x, Interval(estimate=math.nan, lo=math.nan, hi=math.nan, n=0)))
                for x in lengths
            ],
        )
        for v, s in series.items()
    )
    return [
        Block(kind="img", text=f"{out_dir.name}/{name}"),
        Block(
            kind="p",
            text=f"`{metric}` per evaluation length (training range "
            f"{train[0]}-{train[1]} shaded), mean over seeds "
            "[95% bootstrap interval]."
            if train
            else "",
        ),
        Block(kind="table", header=("variant", "seeds", *[f"{x:g}" for x in lengths]), rows=rows),
    ]


def _pair_rows(spec, runs, metric) -> tuple[list[tuple[str, ...]], list[str]]:
    rows, sentences = [], []
    for a, b in spec.pairs:
        iv = above_train_interval(runs, a, b, metric)
        if iv is None:
            continue
        rows.append((f"{a} - {b}", str(iv.n), _fmt(iv), verdict(a, b, iv)))
        sentences.append(verdict(a, b, iv))
    return rows, sentences


def _pair_length_table(spec, runs, metric) -> list[Block]:
    """Per pair and length: the paired difference [95% t interval]; ``*`` where it holds after
    Holm's correction across that pair's lengths (family-wise 5%)."""
    rows = []
    lengths = sorted(
        {
            x
            for by_seed in runs.values()
            for r in by_seed.values()
            for x in per_length_values(r, metric)
        }
    )
    for a, b in spec.pairs:
        if a not in runs or b not in runs:
            continue
        intervals, pvalues = [], []
        for x in lengths:
            diffs = [
                per_length_values(runs[a][k], metric).get(x, math.nan)
                - per_length_values(runs[b][k], metric).get(x, math.nan)
                for k in sorted(set(runs[a]) & set(runs[b]))
            ]
            diffs = [d for d in diffs if not math.isnan(d)]
            intervals.append(t_interval(diffs) if len(diffs) > 1 else None)
            pvalues.append(t_pvalue(diffs) if len(diffs) >= 3 else 1.0)
        adjusted = holm(pvalues)
        cells = [
            "-" if iv is None else iv.format(3) + (" *" if p < 0.05 else "")
            for iv, p in zip(intervals, adjusted, strict=True)
        ]
        rows.append((f"{a} - {b}", *cells))
    if not rows:
        return []
    return [
        Block(
            kind="p",
            text=f"Paired difference of `{metric}` per length [95% t interval across seeds]. "
            "The intervals are per length and exploratory: * marks the lengths where the "
            "difference holds after Holm's correction across the pair's "
            f"{len(lengths)} lengths (family-wise 5%, two-sided t tests, at least 3 seeds).",
        ),
        Block(kind="table", header=("pair", *[f"{x:g}" for x in lengths]), rows=tuple(rows)),
    ]


def _depth_heatmap(spec, runs, out_dir) -> list[Block]:
    """Passkey studies: accuracy per (depth, length), mean over seeds, one panel per variant."""
    labels = {r.path: variant for variant, by_seed in runs.items() for r in by_seed.values()}
    name = f"{spec.path.name}_accuracy_by_depth.png"
    flat = [r for by_seed in runs.values() for r in by_seed.values()]
    if not plot_depth_heatmaps(out_dir / name, flat, labels, title=spec.title):
        return []
    return [
        Block(kind="h3", text="Accuracy by depth and length"),
        Block(kind="img", text=f"{out_dir.name}/{name}"),
        Block(
            kind="p",
            text="Exact-match accuracy of the key (RULER tasks: the share of the answer "
            "strings found) per depth of the key line (RULER: the first asked line) (rows) and "
            "context length (columns), mean over seeds.",
        ),
    ]


def _setup_text(grids: list[Path]) -> str:
    """The study's grid files for its Setup: the first in full and, when there are more, what
    each other one changes (a unified diff of their non-comment lines), not five near-copies."""
    if not grids:
        return ""
    first = grids[0]
    text = f"Grid `{first.name}`:\n\n```toml\n{first.read_text().strip()}\n```"
    if len(grids) == 1:
        return text

    def lines(path: Path) -> list[str]:
        return [x for x in path.read_text().splitlines() if x.strip() and not x.startswith("#")]

    diffs = [
        "\n".join(
            difflib.unified_diff(lines(first), lines(g), first.name, g.name, n=0, lineterm="")
        )
        for g in grids[1:]
    ]
    return (
        f"{text}\n\nThe other grids differ from it only in these lines:\n\n```diff\n"
        + "\n".join(d for d in diffs if d)
        + "\n```"
    )


def study_blocks(rng: np.random.Generator, spec: StudySpec, out_dir: Path) -> list[Block]:
    """One study's section; its figures are written into ``out_dir``."""
    blocks = [
        Block(kind="h2", text=spec.title),
        Block(kind="p", text=f"**Question.** {spec.question}"),
    ]
    grids = grid_files(spec)
    if spec.width is not None:
        return _width_section(rng, spec, blocks, out_dir)
    runs = study_runs(spec)
    n = sum(len(v) for v in runs.values())
    own, planned = run_counts(spec, runs)
    status = f"{own} evaluated runs"
    if planned:
        status = (
            f"{own} of the {planned} runs in its grid evaluated"
            if own <= planned
            else f"{own} evaluated runs and evaluations ({planned} trained by its grid)"
        )
    if n > own:
        status += f", {n - own} more read from other studies"
    legend = (
        ""
        if len(spec.group) < 2
        else " A variant is named by its values of "
        + ", ".join(f"`{k}`" for k in spec.group)
        + ", in that order."
    )
    blocks.append(
        Block(
            kind="p",
            text=f"**Setup.** {status} (`{spec.path.as_posix()}`).{legend}"
            f" {_setup_text(grids) or 'No grid file.'}",
        )
    )
    if not runs:
        status = spec.pending or "no evaluated run yet"
        text = f"**Status.** {status[0].upper()}{status[1:].rstrip('.')}."
        return [*blocks, Block(kind="p", text=text)]
    stem = spec.path.name
    sentences: list[str] = []
    for i, metric in enumerate(spec.metrics):
        blocks.append(Block(kind="h3", text=f"{metric} against length"))
        blocks += _length_table(rng, spec, runs, metric, out_dir, stem)
        rows, said = _pair_rows(spec, runs, metric)
        if rows:
            blocks += [
                Block(
                    kind="p",
                    text=f"Paired differences of `{metric}` averaged over "
                    "the lengths above the training range, paired by "
                    "seed [95% Student-t interval across seeds]:",
                ),
                Block(
                    kind="table",
                    header=("pair", "seeds", "difference", "verdict"),
                    rows=tuple(rows),
                ),
            ]
        if i == 0:
            sentences = said
            blocks += _pair_length_table(spec, runs, metric)
    blocks += _depth_heatmap(spec, runs, out_dir)
    blocks += effective_length_blocks(runs)
    if sentences:
        blocks.append(
            Block(
                kind="p",
                text=f"**Conclusion** ({spec.metrics[0]} above the "
                "training range): " + "; ".join(sentences) + ".",
            )
        )
    return blocks


def _width_section(rng, spec: StudySpec, blocks: list[Block], out_dir: Path) -> list[Block]:
    runs = evaluated_runs(spec)
    grids = sorted(spec.path.glob("*.sh")) + grid_files(spec)
    setup = " ".join(f"Command `{g.name}`:\n\n```bash\n{g.read_text().strip()}\n```" for g in grids)
    where = ", ".join(
        f"`{Path(os.path.normpath(spec.path / sub)).as_posix()}`" for sub in spec.runs
    )
    blocks.append(Block(kind="p", text=f"**Setup.** {len(runs)} evaluated runs ({where}). {setup}"))
    return [
        *blocks,
        *width_blocks(rng, spec.path, spec.width, spec.metrics[0], runs, out_dir, spec.pairs),
    ]


def numerics_block(specs: Sequence[StudySpec]) -> Block:
    """One paragraph naming the studies with runs of an earlier or unrecorded training
    numerics (``bipe/provenance.py``): today's code does not reproduce those runs."""
    stale = []
    for spec in specs:
        runs = [r for _, r in evaluated_runs(spec)]
        old = [v for v in (run_numerics(r.config) for r in runs) if v != NUMERICS]
        if old:
            versions = sorted({"unrecorded" if v is None else str(v) for v in old})
            stale.append(
                f"{spec.title.split(':')[0]} ({len(old)} of {len(runs)} runs; numerics "
                f"{', '.join(versions)})"
            )
    if not stale:
        return Block(
            kind="p",
            text=f"Every run below was produced under the current training numerics "
            f"(version {NUMERICS}).",
        )
    return Block(
        kind="p",
        text="**Training numerics.** Studies with runs that predate the current training "
        f"numerics (version {NUMERICS}) or do not record theirs (a run's `config.json` "
        'holds it under `"code"`): '
        + "; ".join(stale)
        + ". Today's code is not known to reproduce those runs bit for bit; their numbers "
        "are what the code that trained them measured.",
    )


def write_results(
    studies: Sequence[str | Path],
    out: str | Path,
    *,
    seed: int = 0,
    title: str = "Results",
    readme: str | Path | None = None,
) -> Path:
    """Write ``out`` (Markdown) and its figures into a folder beside it named after it.

    ``studies`` are study folders, or folders searched for every ``study.toml`` below them
    (:func:`find_studies`). With ``readme``, that file's findings block (between
    ``<!-- findings:start -->`` and ``<!-- findings:end -->``) is rewritten too; its markers
    are checked before anything is written.
    """

    out = Path(out)
    specs = [load_study(s) for s in find_studies(studies)]
    if readme is not None:
        readme_block(Path(readme).read_text(), readme)  # fail before writing anything
    fig_dir = out.with_suffix("")
    fig_dir.mkdir(parents=True, exist_ok=True)
    command = " ".join(["bipe results", *(Path(s).as_posix() for s in studies)])
    command += f" --out {out.as_posix()}"
    if readme is not None:
        command += f" --readme {Path(readme).as_posix()}"
    blocks = [
        Block(kind="h1", text=title),
        Block(
            kind="p",
            text=f"Generated by `{command}` from the committed run files; do not edit by hand.",
        ),
        Block(kind="h2", text="Headline findings"),
        Block(
            kind="p",
            text="One row per study: its headline comparison (named in its `study.toml`), "
            "paired by seed, with the 95% Student-t interval across seeds; a difference is "
            "claimed only where the interval excludes zero.",
        ),
        Block(kind="p", text=findings_table(specs, link="")),
    ]
    blocks.append(numerics_block(specs))
    for spec in specs:
        blocks += study_blocks(named_rng(seed, spec.title), spec, fig_dir)
    path = write_text_atomic(out, render_markdown(blocks))
    if readme is not None:
        link = os.path.relpath(out.resolve(), Path(readme).resolve().parent)
        write_readme_block(readme, findings_table(specs, link=Path(link).as_posix()))
    return path
