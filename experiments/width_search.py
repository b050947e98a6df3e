"""The parameter-efficiency study (``bipe study width``): smallest width reaching a target.

For every encoding and size (an automaton size such as ``data.inner_states``, or an operator
count through a template like ``data.operators=uniform:1:{}``) the study trains the width grid in
increasing order, ``seeds`` runs per width, and stops growing a cell's width as soon as its
seed-mean accuracy reaches ``target`` (early stopping: larger widths of that cell are never
trained). Each width level is one :func:`bipe.experiments.sweep.run_sweep` call over the cells
still searching, so the study resumes (finished runs are skipped), parallelises (``jobs``) and
runs on the sweep's executors (``runner`` = ``run_sweep`` with ``executor="submitit"``: one
cluster job per run; docs/guide.md#sweeps-on-a-cluster).

At the end :mod:`bipe.analysis.efficiency` finds the threshold widths and fits
``width ~ size^b`` per encoding with a bootstrap interval on ``b``; for automaton tasks the
hypotheses of :mod:`bipe.analysis.theory` give the exponents they imply over the same sizes.
Outputs in the study folder: ``study.json`` (every result and fit), ``study.md`` (tables) and
``width_scaling.png`` (log-log plot), plus the run folders and the sweep's ``index.json``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bipe.analysis.efficiency import (
    Result,
    ScalingFit,
    fit_scaling,
    hypothesis_guides,
    hypothesis_verdict,
    scaling_series,
    scaling_table,
)
from bipe.analysis.plots import plot_scaling
from bipe.analysis.runs import load_run
from bipe.analysis.theory import HYPOTHESES, THEORY_KEYS, implied_exponents
from bipe.experiments.config import RunConfig
from bipe.experiments.presets import build_config
from bipe.experiments.sweep import run_name, run_sweep
from bipe.fileio import write_text_atomic

__all__ = ["WidthStudy", "StudyOutcome", "study_configs", "run_width_study"]

SETTINGS = ("in_distribution", "above_train")
Runner = Callable[..., list[dict]]


@dataclass(frozen=True, kw_only=True)
class WidthStudy:
    """What ``bipe study width`` runs.

    ``size_keys`` are set to ``size_format.format(size)`` for each size (several keys grow
    together, e.g. inner and outer states). An optional second axis (``sizes2`` with its own
    ``size_keys2``) makes the sizes a grid, e.g. inner states x outer states, fitted as
    ``width ~ size^b1 * size2^b2``. ``metric`` is read from ``eval.json``'s summary under
    ``setting`` (None: the task's first metric).
    """

    encodings: tuple[str, ...]
    sizes: tuple[int, ...]
    widths: tuple[int, ...]
    seeds: tuple[int, ...] = (0,)
    size_keys: tuple[str, ...] = ("data.inner_states",)
    size_format: str = "{}"
    target: float = 0.9
    metric: str | None = None
    setting: str = "in_distribution"
    preset: str = "tiny"
    task: str | None = None
    fixed: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    sizes2: tuple[int, ...] = ()
    size_keys2: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if bool(self.sizes2) != bool(self.size_keys2):
            raise ValueError("a second size axis needs both sizes2 and size_keys2")
        if self.sizes2 and min(self.sizes2) <= 0:
            raise ValueError("study sizes2 must be positive")
        if set(self.size_keys) & set(self.size_keys2):
            raise ValueError("size_keys and size_keys2 must be different keys")
        for name in ("encodings", "sizes", "widths", "seeds", "size_keys"):
            if not getattr(self, name):
                raise ValueError(f"study {name} must not be empty")
        if min(self.sizes) <= 0 or min(self.widths) <= 0:
            raise ValueError("study sizes and widths must be positive")
        if not 0.0 < self.target <= 1.0:  # also refuses NaN
            raise ValueError(f"study target must be an accuracy in (0, 1], got {self.target}")
        if self.setting not in SETTINGS:
            raise ValueError(f"unknown setting {self.setting!r}; known: {', '.join(SETTINGS)}")
        if "{}" not in self.size_format:
            raise ValueError(f"size_format must contain '{{}}', got {self.size_format!r}")
        clash = {k for k, _ in self.fixed} & {
            *self.size_keys,
            *self.size_keys2,
            "model.d_model",
            "init_seed",
            "model.pe",
        }
        if clash:
            raise ValueError(f"fixed overrides may not set study keys: {sorted(clash)}")

    def cells(self) -> list[tuple[str, int | tuple[int, int]]]:
        """Every (encoding, size) cell; size is ``(size, size2)`` with a second axis."""
        sizes = (
            [(a, b) for a in self.sizes for b in self.sizes2] if self.sizes2 else list(self.sizes)
        )
        return [(pe, size) for pe in self.encodings for size in sizes]


@dataclass(frozen=True, kw_only=True)
class StudyOutcome:
    """Results of every trained run, the fits per encoding, the hypotheses' exponents."""

    results: tuple[Result, ...]
    fits: dict[str, ScalingFit]
    implied: dict[str, float]
    report: Path


def _point(study: WidthStudy, pe: str, size, width: int, seed: int) -> dict[str, str]:
    point = {"model.pe": pe}
    first = size[0] if isinstance(size, tuple) else size
    point.update({k: study.size_format.format(first) for k in study.size_keys})
    if isinstance(size, tuple):
        point.update({k: str(size[1]) for k in study.size_keys2})
    point.update({"model.d_model": str(width), "init_seed": str(seed)})
    return point


def study_configs(
    study: WidthStudy, cells: Sequence[tuple[str, Any]], width: int
) -> list[RunConfig]:
    """Run configs of the given (encoding, size) cells at one width, every seed."""
    configs = []
    for pe, size in cells:
        for seed in study.seeds:
            point = _point(study, pe, size, width, seed)
            overrides = {**dict(study.fixed), **point}
            overrides.pop("model.pe")
            configs.append(
                build_config(
                    study.preset, task=study.task, pe=pe, overrides=overrides, out=run_name(point)
                )
            )
    return configs


def _accuracy(run_dir: Path, study: WidthStudy) -> float | None:
    if not (run_dir / "eval.json").is_file():
        return None
    ev = load_run(run_dir).evaluation or {}
    summary = ev.get("summary", {}).get(study.setting, {})
    metric = study.metric or next(iter(summary), None)
    if metric is None or metric not in summary:
        raise ValueError(
            f"{run_dir}/eval.json has no {study.setting} metric {study.metric or '(any)'}"
        )
    value = summary[metric]
    return None if value is None or not math.isfinite(float(value)) else float(value)


def run_width_study(
    study: WidthStudy,
    out_dir: str | Path,
    *,
    jobs: int | None = 1,
    progress: bool = False,
    runner: Runner = run_sweep,
    seed: int = 0,
    n_boot: int = 2000,
) -> StudyOutcome:
    """Run the study into ``out_dir`` (resumable) and write its report; see the module doc."""
    out = Path(out_dir)
    active = study.cells()
    for width in study.widths:  # validate the whole grid before training anything
        study_configs(study, active, width)
    results: list[Result] = []
    failed: list[str] = []
    for width in sorted(set(study.widths)):
        if not active:
            break
        configs = study_configs(study, active, width)
        rows = runner(configs, out, jobs=jobs, progress=progress)
        failed += [f"{r['name']}: {r.get('error', '')}" for r in rows if r["status"] == "failed"]
        reached = []
        for pe, size in active:
            accs = []
            for s in study.seeds:
                run_dir = out / run_name(_point(study, pe, size, width, s))
                acc = _accuracy(run_dir, study)
                if acc is not None:
                    accs.append(acc)
                    results.append(
                        Result(encoding=pe, size=size, seed=s, width=width, accuracy=acc)
                    )
            if accs and float(np.mean(accs)) >= study.target:
                reached.append((pe, size))
        active = [c for c in active if c not in reached]
    return _finish(study, out, results, failed, seed=seed, n_boot=n_boot)


def theory_points(study: WidthStudy) -> tuple[list[dict[str, float]], list] | None:
    """Family symbol values and sizes of every distinct size (automaton tasks), or None when a
    size is not an automaton size (e.g. operator counts)."""
    keys = set(study.size_keys) | set(study.size_keys2)
    if not keys <= set(THEORY_KEYS) or study.size_format != "{}":
        return None
    base = build_config(study.preset, task=study.task, overrides=dict(study.fixed)).data
    sizes = list(dict.fromkeys(size for _, size in study.cells()))
    points = []
    for size in sizes:
        first, second = size if isinstance(size, tuple) else (size, None)
        p = {sym: float(getattr(base, key.split(".")[1])) for key, sym in THEORY_KEYS.items()}
        p.update({THEORY_KEYS[k]: float(first) for k in study.size_keys})
        p.update({THEORY_KEYS[k]: float(second) for k in study.size_keys2})
        points.append(p)
    return points, sizes


def _finish(
    study: WidthStudy,
    out: Path,
    results: list[Result],
    failed: list[str],
    *,
    seed: int,
    n_boot: int,
) -> StudyOutcome:
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    fits = fit_scaling(rng, results, study.target, n_boot=n_boot)
    theory = theory_points(study)
    implied = {}
    if theory is not None:
        try:
            implied = implied_exponents(theory[0], theory[1], HYPOTHESES)
        except ValueError:  # too few sizes to determine an exponent
            implied = {}
    axis = ", ".join(study.size_keys)
    names = _axis_names(study)
    series, fitted = scaling_series(fits, study.sizes2, names[1] if study.sizes2 else "")
    plot_scaling(
        out / "width_scaling.png",
        series,
        fitted,
        xlabel=f"size ({axis})",
        title=f"smallest d_model reaching {study.metric or 'accuracy'} >= "
        f"{study.target} ({study.setting})",
        guides={} if study.sizes2 or theory is None else hypothesis_guides(*theory, fits),
    )
    data = {
        "study": _study_dict(study),
        "results": [r.__dict__ for r in results],
        "fits": {
            e: {
                "exponents": [x.__dict__ for x in f.exponents],
                "prefactor": f.prefactor,
                "points": f.points,
                "censored": f.censored,
            }
            for e, f in fits.items()
        },
        "implied_exponents": implied,
        "failed": failed,
    }
    write_text_atomic(out / "study.json", json.dumps(data, indent=1) + "\n")
    md = [
        f"# Width study: {', '.join(study.encodings)}",
        "",
        f"Smallest `d_model` in {list(sorted(study.widths))} whose mean {study.setting} "
        f"{study.metric or 'accuracy'} over seeds {list(study.seeds)} reaches "
        f"{study.target}, per size of "
        f"{' x '.join(names)}; `>grid` = never reached. Exponents: "
        "least-squares slopes of log width against log size [95% interval: the wider of a "
        "bootstrap over seeds and the regression's t interval].",
        "",
        scaling_table(fits, implied, axes=names),
        "![width_scaling.png](width_scaling.png)",
        "",
        *[f"- {hypothesis_verdict(f, implied, names)}." for f in fits.values()],
        "",
    ]
    if failed:
        md += ["Failed runs:", "", *[f"- {f}" for f in failed], ""]
    report = write_text_atomic(out / "study.md", "\n".join(md))
    return StudyOutcome(results=tuple(results), fits=fits, implied=implied, report=report)


def _axis_names(study: WidthStudy) -> list[str]:
    names = ["+".join(k.split(".")[-1] for k in study.size_keys)]
    if study.sizes2:
        names.append("+".join(k.split(".")[-1] for k in study.size_keys2))
    return names


def _study_dict(study: WidthStudy) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in study.__dict__.items()}
