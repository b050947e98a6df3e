"""``bipe demo``: the workbench's main job in one command (at most 10 minutes on 2 CPU cores).

The default demo (``text``) shows BiPE's own claim against its flat counterpart on the probe
where bipe's studies found the clearest paired difference, real text (``studies/text``): byte-
level language models of the Python standard library, trained at a context of 128 bytes, are
evaluated at 1x-8x that context, ``bipe_rope`` (RoPE over segment indices, newline segments)
against ``rope`` (RoPE over token indices) over four init seeds (8 runs of 2 layers, width 64,
600 steps). It prints the per-length table of ``bits_per_byte`` (mean over seeds, 95% bootstrap
interval), each encoding's in-distribution score beside its score beyond the training context
(so the flat model is seen to learn the task at this budget), the paired difference beyond the
training context with its 95% Student-t interval across seeds, and one sentence: a difference
is stated only when that interval excludes zero. ``bipe demo --task binfa`` is the Bi-NFA
comparison of segment-count extrapolation (study 1's setup): ``bipe_alibi`` against
``bipe_rope`` over eight seeds, ``continuation_valid`` up to 18 segments. Both write
``report.md`` (+ ``report.html`` and PNG plots, from ``bipe.analysis.report``).

The runs live in ``OUT/runs`` as ordinary run folders (a sweep), so running the demo again
reuses finished runs and resumes interrupted ones. What decides the numbers is pinned (float32,
one thread per run, seeded data and initialisation), so the same command gives the same
numbers on the same machine, and the conclusion holds on another CPU (see the README).

``quick=True`` is a seconds-long version for tests and CI (tiny models, few steps); its numbers
mean nothing.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bipe.experiments.config import RunConfig
from bipe.experiments.presets import build_config
from bipe.experiments.rundir import read_json
from bipe.experiments.sweep import run_sweep

__all__ = ["DEMOS", "DemoSpec", "demo_configs", "run_demo"]


@dataclass(frozen=True, kw_only=True)
class DemoSpec:
    """One demo: a task at a fixed budget, the encodings compared (the first against each of
    the others), the metric, and the overrides of the full and quick runs."""

    name: str
    preset: str
    task: str
    encodings: tuple[str, ...]
    metric: str
    higher_is_better: bool
    seeds: int
    unit: str  # what the evaluation lengths count
    full: dict[str, str]
    quick: dict[str, str]


_PINNED = {"model.compute_dtype": "float32", "train.n_threads": "1"}  # the same on every CPU

DEMOS: dict[str, DemoSpec] = {
    "text": DemoSpec(
        name="text",
        preset="cpu_text",
        task="text_lm",
        encodings=("bipe_rope", "rope"),
        metric="bits_per_byte",
        higher_is_better=False,
        seeds=4,
        unit="bytes",
        full={
            **_PINNED,
            "model.d_model": "64",
            "model.n_layers": "2",
            "train.steps": "600",
            "train.checkpoint_every": "200",
            "data.eval_lengths": "128,256,512,1024",
            "data.eval_tokens": "16384",
        },
        quick={
            "model.d_model": "32",
            "model.n_layers": "1",
            "train.steps": "8",
            "train.batch_size": "4",
            "train.checkpoint_every": "4",
            "data.eval_lengths": "128,256",
            "data.eval_tokens": "1024",
        },
    ),
    "binfa": DemoSpec(
        name="binfa",
        preset="demo",
        task="binfa_lm",
        encodings=("bipe_alibi", "bipe_rope"),
        metric="continuation_valid",
        higher_is_better=True,
        seeds=8,
        unit="segments",
        full={  # study 1's setup
            **_PINNED,
            "data.segments": "uniform:2:6",
            "data.segment_length": "uniform:1:4",
            "data.eval_lengths": "2,4,6,8,10,12,15,18",
            "data.n_train": "20000",
            "data.n_eval": "200",
            "train.steps": "1000",
        },
        quick={
            "train.steps": "12",
            "data.n_train": "128",
            "data.n_eval": "4",
            "data.eval_lengths": "1,2,4",
            "train.checkpoint_every": "6",
        },
    ),
}


def demo_configs(
    spec: DemoSpec | str = "text",
    *,
    quick: bool = False,
    encodings: tuple[str, ...] | None = None,
    seeds: int | None = None,
) -> list[RunConfig]:
    """The demo's runs (``out`` = folder name inside ``OUT/runs``)."""
    spec = _spec(spec)
    encodings = encodings or spec.encodings
    if len(encodings) < 2:
        raise ValueError(f"the demo compares at least two encodings, got {list(encodings)}")
    n_seeds = seeds if seeds is not None else (3 if quick else spec.seeds)
    if n_seeds < 1:
        raise ValueError(f"--seeds must be >= 1, got {n_seeds}")
    return [
        build_config(
            "tiny" if quick else spec.preset,
            task=spec.task,
            pe=pe,
            overrides={**(spec.quick if quick else spec.full), "init_seed": str(seed)},
            out=f"{spec.task}-{pe}-seed{seed}",
        )
        for pe in encodings
        for seed in range(n_seeds)
    ]


def _spec(spec: DemoSpec | str) -> DemoSpec:
    if isinstance(spec, DemoSpec):
        return spec
    if spec not in DEMOS:
        raise ValueError(f"unknown demo task {spec!r}; known: {', '.join(DEMOS)}")
    return DEMOS[spec]


def run_demo(
    out: str | Path = "bipe-demo",
    spec: DemoSpec | str = "text",
    *,
    quick: bool = False,
    jobs: int = 2,
    progress: bool = True,
    encodings: tuple[str, ...] | None = None,
    seeds: int | None = None,
) -> Path:
    """Train, evaluate, print the table and the conclusion, write the report. ``progress``:
    a bar on a terminal, plain lines (a heartbeat at least every 30 s) in a log or pipe."""
    from bipe.analysis.report import write_report

    spec, out = _spec(spec), Path(out)
    encodings = encodings or spec.encodings
    configs = demo_configs(spec, quick=quick, encodings=encodings, seeds=seeds)
    start = time.perf_counter()
    rows = run_sweep(configs, out / "runs", jobs=jobs, progress=progress)
    failed = [r for r in rows if r["status"] == "failed"]
    if failed:
        raise ValueError(f"demo run {failed[0]['name']} failed: {failed[0].get('error', '?')}")
    minutes = (time.perf_counter() - start) / 60
    title = f"bipe demo ({spec.name})" + (" (quick mode: numbers mean nothing)" if quick else "")
    report = write_report([out / "runs" / c.out for c in configs], out, title=title)
    results = {c.out: read_json(out / "runs" / c.out / "eval.json") for c in configs}
    print(summary_table(configs, results, spec.metric, spec.unit))
    print(in_distribution(configs, results, spec.metric))
    for line in conclusions(configs, results, encodings, spec.metric, spec.higher_is_better):
        print(line)
    print(f"trained and evaluated {len(rows)} runs in {minutes:.1f} min")
    return report


def _by_encoding(configs, results) -> dict[str, dict[int, dict]]:
    """encoding -> init seed -> eval.json."""
    out: dict[str, dict[int, dict]] = {}
    for c in configs:
        out.setdefault(c.model.pe, {})[c.init_seed] = results[c.out]
    return out


def _per_length(result: dict, metric: str) -> dict[int, float]:
    return {int(r["length"]): float(r.get(metric, math.nan)) for r in result["per_length"]}


def summary_table(configs, results, metric: str, unit: str = "segments") -> str:
    """Markdown: per encoding and length, mean ``metric`` over seeds [95% bootstrap]."""
    from bipe.analysis.stats import bootstrap_ci

    rng = np.random.default_rng(0)
    groups = _by_encoding(configs, results)
    lengths = sorted(
        {x for g in groups.values() for r in g.values() for x in _per_length(r, metric)}
    )
    lo, hi = next(iter(results.values()))["train_range"]
    head = [f"{x}{'*' if lo <= x <= hi else ''}" for x in lengths]
    lines = [
        f"{metric} by length in {unit} (* = inside the training range {lo}-{hi}; "
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


def in_distribution(configs, results, metric: str) -> str:
    """One line: each encoding's mean ``metric`` inside the training range and beyond it (so a
    difference beyond training is not read as a failure to learn the task)."""
    parts = []
    for pe, by_seed in _by_encoding(configs, results).items():
        inside = np.mean([_mean_where(r, metric, beyond=False) for r in by_seed.values()])
        beyond = np.mean([_mean_where(r, metric, beyond=True) for r in by_seed.values()])
        parts.append(f"{pe} {inside:.3f} inside, {beyond:.3f} beyond")
    return f"{metric}, mean over seeds, inside / beyond the training range: " + "; ".join(parts)


def conclusions(
    configs, results, encodings, metric: str, higher_is_better: bool = True
) -> list[str]:
    """One sentence per comparison of the first encoding with each other one: the paired
    difference beyond the training range with its 95% t interval, and what it supports."""
    from bipe.analysis.stats import t_interval, verdict

    groups = _by_encoding(configs, results)
    first, lines = encodings[0], []
    for other in encodings[1:]:
        seeds = sorted(set(groups[first]) & set(groups[other]))
        diffs = [
            _mean_where(groups[first][s], metric, beyond=True)
            - _mean_where(groups[other][s], metric, beyond=True)
            for s in seeds
        ]
        iv = t_interval(diffs)
        said = verdict(first, other, iv)
        if iv.n >= 3 and (iv.lo > 0 or iv.hi < 0):
            better = (iv.lo > 0) == higher_is_better
            said += f": {first if better else other} extrapolates better"
        lines.append(
            f"Conclusion: {first} - {other}, {metric} beyond the training range "
            f"({'higher' if higher_is_better else 'lower'} is better), paired by seed: "
            f"{iv.format(3)} (95% t interval); {said}."
        )
    return lines


def _mean_where(result: dict, metric: str, *, beyond: bool) -> float:
    """Mean ``metric`` over the lengths beyond the training range (or inside it)."""
    lo, hi = result["train_range"]
    per_length = _per_length(result, metric).items()
    vals = [v for x, v in per_length if (x > hi if beyond else lo <= x <= hi)]
    return float(np.mean(vals)) if vals else math.nan
