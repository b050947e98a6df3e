"""``bipe demo``: the workbench's main job in one command (about 5-10 minutes on 2 CPU cores).

It reproduces, at small scale, the most robust finding of the segment-count study
(``studies/segment_count``, ``docs/results.md``): Bi-NFA language models trained on 2-6 segments
are evaluated up to 18 segments, and BiPE's two published variants are compared over eight init
seeds (16 runs of about 30 s each on a free core): ``bipe_alibi`` (ALiBi over segment indices)
against ``bipe_rope`` (RoPE over segment indices). In the study, the ALiBi family kept its
continuations valid far beyond training while the RoPE family decayed, the largest and most
stable gap between encodings; the BiPE-vs-flat differences were not detectable above the
training range at six seeds (see ``docs/results.md``). It prints the per-length table of
``continuation_valid`` (mean over seeds, 95% bootstrap interval), the paired difference above
the training range with its 95% Student-t interval across seeds, and one sentence of conclusion:
a difference is stated only when that interval excludes zero. It also writes ``report.md`` (+
``report.html`` and PNG plots, from ``bipe.analysis.report``).

The runs live in ``OUT/runs`` as ordinary run folders (a sweep), so running the demo again
reuses finished runs and resumes interrupted ones. Everything is seeded: the same command gives
the same numbers on the same machine; another CPU gives numbers of the same distribution.

``quick=True`` is a seconds-long version for tests and CI (tiny models, few steps); its numbers
mean nothing.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from bipe.experiments.config import RunConfig
from bipe.experiments.presets import build_config
from bipe.experiments.rundir import read_json
from bipe.experiments.sweep import run_sweep

__all__ = ["DEMO_ENCODINGS", "DEMO_METRIC", "DEMO_SEEDS", "demo_configs", "run_demo"]

DEMO_ENCODINGS = ("bipe_alibi", "bipe_rope")  # the first is compared against each of the others
DEMO_SEEDS = 8
DEMO_METRIC = "continuation_valid"
DEMO_TASK = "binfa_lm"

# overrides of the demo preset (full run) and of the tiny preset (quick run): study 1's setup
_FULL = {
    "data.segments": "uniform:2:6",
    "data.segment_length": "uniform:1:4",
    "data.eval_lengths": "2,4,6,8,10,12,15,18",
    "data.n_train": "20000",
    "data.n_eval": "200",
    "train.steps": "1000",
    "model.compute_dtype": "float32",
}  # the study's precision, on every CPU
_QUICK = {
    "train.steps": "12",
    "data.n_train": "128",
    "data.n_eval": "4",
    "data.eval_lengths": "1,2,4",
    "train.checkpoint_every": "6",
}


def demo_configs(
    *, quick: bool = False, encodings=DEMO_ENCODINGS, seeds: int | None = None
) -> list[RunConfig]:
    """The demo's runs (``out`` = folder name inside ``OUT/runs``)."""
    if len(encodings) < 2:
        raise ValueError(f"the demo compares at least two encodings, got {list(encodings)}")
    n_seeds = seeds if seeds is not None else (3 if quick else DEMO_SEEDS)
    if n_seeds < 1:
        raise ValueError(f"--seeds must be >= 1, got {n_seeds}")
    return [
        build_config(
            "tiny" if quick else "demo",
            task=DEMO_TASK,
            pe=pe,
            overrides={**(_QUICK if quick else _FULL), "init_seed": str(seed)},
            out=f"{DEMO_TASK}-{pe}-seed{seed}",
        )
        for pe in encodings
        for seed in range(n_seeds)
    ]


def run_demo(
    out: str | Path = "bipe-demo",
    *,
    quick: bool = False,
    jobs: int = 2,
    progress: bool = True,
    encodings=DEMO_ENCODINGS,
    seeds: int | None = None,
) -> Path:
    """Train, evaluate, print the table and the conclusion, write the report."""
    from bipe.analysis.report import write_report  # noqa: PLC0415

    out = Path(out)
    configs = demo_configs(quick=quick, encodings=encodings, seeds=seeds)
    start = time.perf_counter()
    rows = run_sweep(configs, out / "runs", jobs=jobs, progress=progress)  # bar: terminal only
    failed = [r for r in rows if r["status"] == "failed"]
    if failed:
        raise ValueError(f"demo run {failed[0]['name']} failed: {failed[0].get('error', '?')}")
    minutes = (time.perf_counter() - start) / 60
    title = "bipe demo" + (" (quick mode: numbers mean nothing)" if quick else "")
    report = write_report([out / "runs" / c.out for c in configs], out, title=title)
    results = {c.out: read_json(out / "runs" / c.out / "eval.json") for c in configs}
    print(summary_table(configs, results))
    for line in conclusions(configs, results, encodings):
        print(line)
    print(f"trained and evaluated {len(rows)} runs in {minutes:.1f} min")
    return report


def _by_encoding(configs, results, metric=DEMO_METRIC) -> dict[str, dict[int, dict]]:
    """encoding -> init seed -> eval.json."""
    out: dict[str, dict[int, dict]] = {}
    for c in configs:
        out.setdefault(c.model.pe, {})[c.init_seed] = results[c.out]
    return out


def _per_length(result: dict, metric: str) -> dict[int, float]:
    return {int(r["length"]): float(r.get(metric, math.nan)) for r in result["per_length"]}


def summary_table(configs, results, metric: str = DEMO_METRIC) -> str:
    """Markdown: per encoding and length, mean ``metric`` over seeds [95% bootstrap]."""
    from bipe.analysis.stats import bootstrap_ci  # noqa: PLC0415

    rng = np.random.default_rng(0)
    groups = _by_encoding(configs, results)
    lengths = sorted(
        {x for g in groups.values() for r in g.values() for x in _per_length(r, metric)}
    )
    lo, hi = next(iter(results.values()))["train_range"]
    head = [f"{x}{'*' if lo <= x <= hi else ''}" for x in lengths]
    lines = [
        f"{metric} by number of segments (* = inside the training range {lo}-{hi}; "
        "mean over seeds [95% bootstrap interval])",
        "",
        "| encoding | seeds | " + " | ".join(head) + " |",
        "| --- | --- | " + " | ".join("---" for _ in lengths) + " |",
    ]
    for pe, by_seed in groups.items():
        cells = [
            bootstrap_ci(rng, [_per_length(r, metric)[x] for r in by_seed.values()]).format(2)
            for x in lengths
        ]
        lines.append(f"| {pe} | {len(by_seed)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def conclusions(configs, results, encodings, metric: str = DEMO_METRIC) -> list[str]:
    """One sentence per comparison of the first encoding with each other one: the paired
    difference above the training range with its 95% t interval, and what it supports."""
    from bipe.analysis.stats import t_interval, verdict  # noqa: PLC0415

    groups = _by_encoding(configs, results)
    first, lines = encodings[0], []
    for other in encodings[1:]:
        seeds = sorted(set(groups[first]) & set(groups[other]))
        diffs = [_above(groups[first][s], metric) - _above(groups[other][s], metric) for s in seeds]
        iv = t_interval(diffs)
        lines.append(
            f"Conclusion: {first} - {other}, {metric} above the training range, "
            f"paired by seed: {iv.format(3)} (95% t interval); "
            f"{verdict(first, other, iv)}."
        )
    return lines


def _above(result: dict, metric: str) -> float:
    hi = result["train_range"][1]
    vals = [v for x, v in _per_length(result, metric).items() if x > hi]
    return float(np.mean(vals))
