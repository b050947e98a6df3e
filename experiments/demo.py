"""``bipe demo``: the workbench's main job in one command (about 10 minutes on 2 CPU cores).

It generates bounded-step arithmetic (``fmt=steps``, 1-4 operators in training) and Bi-NFA
language-modelling data (2-6 segments in training), trains small ``rope``, ``bipe_rope``,
``alibi`` and ``bipe_alibi`` models on each (from the ``demo`` preset; two seeds for the Bi-NFA
task), evaluates them far beyond the training range (up to 8 operators, up to 16 segments) and
writes ``report.md`` (+ ``report.html`` and PNG plots of
accuracy against length per encoding, from ``bipe.analysis.report``) into the output folder.
The runs live in ``OUT/runs`` as ordinary run folders (a sweep), so running the demo again
reuses finished runs and resumes interrupted ones. Everything is seeded: the same command
gives the same numbers on the same machine.

``quick=True`` is a seconds-long version for tests and CI (tiny models, few steps); its numbers
mean nothing.
"""

from __future__ import annotations

import time
from pathlib import Path

from bipe.experiments.config import RunConfig
from bipe.experiments.presets import build_config
from bipe.experiments.rundir import read_json
from bipe.experiments.sweep import run_sweep

__all__ = ["DEMO_ENCODINGS", "demo_configs", "run_demo"]

DEMO_ENCODINGS = ("rope", "bipe_rope", "alibi", "bipe_alibi")
DEMO_SEEDS = {"arith": (0,), "binfa_lm": (0, 1)}  # init seeds per task (binfa runs are cheap)

# task -> overrides of the demo preset (full run) and of the tiny preset (quick run)
_FULL = {
    "arith": {},
    "binfa_lm": {"data.segments": "uniform:2:6", "data.segment_length": "uniform:1:4",
                 "data.eval_lengths": "2,4,6,8,10,12,16", "data.n_train": "20000",
                 "data.n_eval": "200", "train.steps": "1000"},
}
_QUICK = {
    "arith": {"train.steps": "12", "data.n_train": "128", "data.n_eval": "4",
              "data.eval_lengths": "1,2,3", "train.checkpoint_every": "6"},
    "binfa_lm": {"train.steps": "12", "data.n_train": "128", "data.n_eval": "4",
                 "data.eval_lengths": "1,2,4", "train.checkpoint_every": "6"},
}


def demo_configs(*, quick: bool = False, encodings=DEMO_ENCODINGS) -> list[RunConfig]:
    """The demo's runs (``out`` = folder name inside ``OUT/runs``)."""
    from bipe.experiments.tasks import TASKS  # noqa: PLC0415

    table = _QUICK if quick else _FULL
    configs = []
    for task, overrides in table.items():
        if task not in TASKS:
            continue
        seeds = (0,) if quick else DEMO_SEEDS[task]
        for pe in encodings:
            for seed in seeds:
                configs.append(build_config(
                    "tiny" if quick else "demo", task=task, pe=pe,
                    overrides={**overrides, "init_seed": str(seed)},
                    out=f"{task}-{pe}" + (f"-seed{seed}" if len(seeds) > 1 else "")))
    return configs


def run_demo(out: str | Path = "bipe-demo", *, quick: bool = False, jobs: int = 2,
             progress: bool = True, encodings=DEMO_ENCODINGS) -> Path:
    """Train, evaluate and report; returns the path of ``report.md``."""
    from bipe.analysis.report import write_report  # noqa: PLC0415

    out = Path(out)
    configs = demo_configs(quick=quick, encodings=encodings)
    start = time.perf_counter()
    rows = run_sweep(configs, out / "runs", jobs=jobs, progress=progress)  # bar: terminal only
    failed = [r for r in rows if r["status"] == "failed"]
    if failed:
        raise ValueError(f"demo run {failed[0]['name']} failed: {failed[0].get('error', '?')}")
    minutes = (time.perf_counter() - start) / 60
    title = "bipe demo" + (" (quick mode: numbers mean nothing)" if quick else "")
    report = write_report([out / "runs" / r["dir"] for r in rows], out, title=title)
    print(summary_table(out / "runs", [r["dir"] for r in rows]))
    print(f"trained and evaluated {len(rows)} runs in {minutes:.1f} min")
    return report


def summary_table(runs_dir: Path, names: list[str]) -> str:
    """A Markdown table: per run, each metric in distribution and above the training range."""
    lines = ["| run | train range | metric | in distribution | above training |",
             "| --- | --- | --- | --- | --- |"]
    for name in names:
        result = read_json(Path(runs_dir) / name / "eval.json")
        inside, above = result["summary"]["in_distribution"], result["summary"]["above_train"]
        lo, hi = result["train_range"]
        for metric in inside or above:
            cells = [f"{part[metric]:.3f}" if metric in part else "-" for part in (inside, above)]
            lines.append(f"| {name} | {lo}-{hi} | {metric} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines)
