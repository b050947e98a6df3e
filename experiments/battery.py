"""``bipe battery``: a fixed, versioned list of tasks that measures encodings against the
baselines of the committed studies (docs/battery.md).

The tasks (``experiments/battery_tasks.py``) are committed studies' setups, exactly, in
suites: ``core`` (the default: segment-count extrapolation, study 1; hierarchy, study 5;
passkey retrieval and text bits per byte on code, study 7), ``chomsky`` (seven tasks of the
Chomsky-hierarchy suite, study 9) and ``ruler`` (four RULER tasks, study 10). Budgets:
``smoke`` shrinks every task to seconds (CI), ``cpu`` is the studies' own settings, ``full``
the same settings at more seeds (a GPU or a cluster).

The battery folder ``DIR`` is a sweep folder (``experiments/sweep.py``): ``DIR/TASK/RUN`` run
folders, ``DIR/index.json``, so a second call resumes and skips finished runs, on the local or
the submitit executor. ``DIR/battery.json`` is the plan (encodings, seeds, budget, versions,
machine and where every run came from); ``DIR/TASK/reuse.json`` is the reuse decision of a task.

Baseline reuse (``cpu`` and ``full``): a committed baseline run is reused only when its config
equals the battery's run config and it records (or was stamped with) today's training
numerics (``bipe/provenance.py``), and only after the first such run of the task was trained
again here and reproduced the committed one within ``TOLERANCE`` (every logged training loss,
every evaluation metric at every length). Otherwise the task's baselines are trained here.
"""

from __future__ import annotations

import json
import math
import os
import platform
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bipe
from bipe.experiments import rundir
from bipe.experiments.battery_tasks import (
    BATTERY_VERSION,
    BUDGETS,
    DEFAULT_BASELINES,
    DEFAULT_SEEDS,
    DEFAULT_SUITE,
    TASKS,
    BatteryTask,
)
from bipe.experiments.cluster import ClusterOptions
from bipe.experiments.config import RunConfig, config_to_dict
from bipe.experiments.presets import build_config
from bipe.experiments.sweep import run_name, run_sweep
from bipe.experiments.sweep_run import comparable
from bipe.fileio import atomic_folder
from bipe.provenance import NUMERICS, code_record, run_numerics

__all__ = [
    "BATTERY_VERSION",
    "BUDGETS",
    "DEFAULT_BASELINES",
    "TASKS",
    "TOLERANCE",
    "BatteryTask",
    "battery_runs",
    "select_tasks",
    "reproduces",
    "run_battery",
]

# A committed run counts as reproduced when every logged training loss and every evaluation
# metric at every length is within this (absolute) of the run trained here. Same numerics on
# the same kind of CPU reproduce bit for bit; one evaluation example changing moves a metric
# by at least 1/n_eval (>= 1e-4 here), far above it.
TOLERANCE = 1e-6
STUDIES = Path(bipe.__file__).resolve().parent / "studies"


@dataclass(frozen=True, kw_only=True)
class PlannedRun:
    """One run of the battery: its task, encoding, role (``plugin`` or ``baseline``), seed,
    folder (relative to the battery folder) and config."""

    task: BatteryTask
    pe: str
    role: str
    seed: int
    dir: str
    config: RunConfig


def select_tasks(names: Sequence[str] | None) -> tuple[BatteryTask, ...]:
    """The battery's tasks named, in the battery's order. A name is a task, a suite (every
    task of it) or ``all``; None is the default suite."""
    suites = {t.suite for t in TASKS}
    if names is None:
        names = [DEFAULT_SUITE] if DEFAULT_SUITE in suites else ["all"]
    known = [t.name for t in TASKS]
    unknown = [n for n in names if n not in {*known, *suites, "all"}]
    if unknown or not names:
        raise ValueError(
            f"unknown battery task {unknown}; known: {', '.join(known)}; suites: "
            f"{', '.join(sorted(suites))}, all"
        )
    wanted = set(names)
    return tuple(t for t in TASKS if {"all", t.suite, t.name} & wanted)


def battery_runs(
    pes: Sequence[str],
    baselines: Sequence[str],
    seeds: int,
    budget: str,
    tasks: Sequence[str] | None = None,
) -> list[PlannedRun]:
    """Every run of the battery (of ``tasks``, None: all), configs validated (a bad encoding
    is a ``ValueError``)."""
    check_plan(pes, baselines, seeds, budget)
    runs = []
    for task in select_tasks(tasks):
        overrides = task.overrides(budget)
        for role, names in (("plugin", pes), ("baseline", baselines)):
            for pe in names:
                for seed in range(seeds):
                    name = run_name({"model.pe": pe, "init_seed": str(seed)})
                    config = build_config(
                        task.preset,
                        task=task.task,
                        pe=pe,
                        overrides={**overrides, "init_seed": str(seed)},
                        out=f"{task.name}/{name}",
                    )
                    runs.append(
                        PlannedRun(
                            task=task, pe=pe, role=role, seed=seed, dir=config.out, config=config
                        )
                    )
    return runs


def check_plan(pes: Sequence[str], baselines: Sequence[str], seeds: int, budget: str) -> None:
    """One clear ``ValueError`` for a plan that cannot run."""
    if budget not in BUDGETS:
        raise ValueError(f"unknown budget {budget!r}; known: {', '.join(BUDGETS)}")
    if not pes:
        raise ValueError("name at least one encoding to measure with --pe")
    if not baselines:
        raise ValueError("--baselines must name at least one encoding to compare against")
    if seeds < 1:
        raise ValueError(f"--seeds must be >= 1, got {seeds}")
    for names, flag in ((pes, "--pe"), (baselines, "--baselines")):
        if len(set(names)) != len(names):
            raise ValueError(f"{flag} names an encoding twice: {', '.join(names)}")
    both = sorted(set(pes) & set(baselines))
    if both:
        raise ValueError(
            f"{', '.join(both)} is both measured (--pe) and a baseline; drop it from --baselines"
        )


def _values_close(a: Any, b: Any, tol: float) -> bool:
    if isinstance(a, bool) or isinstance(b, bool) or not isinstance(a, (int, float)):
        return a == b
    if not isinstance(b, (int, float)):
        return False
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= tol


def reproduces(here: Path, committed: Path, tol: float = TOLERANCE) -> tuple[bool, str]:
    """Whether the run in ``here`` reproduces the one in ``committed`` within ``tol``: the same
    logged steps with losses within ``tol``, and at every length evaluated here the same
    metrics within ``tol`` (a committed run evaluated at more lengths afterwards, as study 7's
    text runs were, may have more rows; the scorecard reads only the task's lengths).
    Returns ``(ok, what differs first or "")``."""
    mine = {r["step"]: r.get("loss") for r in rundir.read_metrics(here)}
    theirs = {r["step"]: r.get("loss") for r in rundir.read_metrics(committed)}
    if set(mine) != set(theirs):
        return False, "different logged steps"
    for step, loss in theirs.items():
        if not _values_close(mine[step], loss, tol):
            return False, f"training loss at step {step}: {mine[step]} here, {loss} committed"
    rows = {r["length"]: r for r in rundir.read_json(committed / "eval.json")["per_length"]}
    for row in rundir.read_json(here / "eval.json")["per_length"]:
        other = rows.get(row["length"])
        if other is None or set(other) != set(row):
            return False, f"evaluation at length {row['length']} missing or with other metrics"
        for key, value in row.items():
            if not _values_close(value, other[key], tol):
                return False, (
                    f"{key} at length {row['length']}: {value} here, {other[key]} committed"
                )
    return True, ""


def committed_matches(task: BatteryTask, runs: Sequence[PlannedRun], studies: Path) -> dict:
    """Baseline run folder (relative) -> the committed run of the task's study with the same
    config and today's numerics (trained alone, not as an ensemble member)."""
    folder = studies / task.study
    if not folder.is_dir():
        return {}
    index: dict[str, Path] = {}
    for path in sorted(folder.rglob("config.json")):
        try:
            config, raw = rundir.read_run_config(path.parent)
        except ValueError:
            continue
        code = raw.get("code") if isinstance(raw.get("code"), dict) else {}
        if run_numerics(raw) != NUMERICS or code.get("ensemble"):
            continue
        if not (path.parent / "eval.json").is_file():
            continue
        index.setdefault(
            json.dumps(comparable(config_to_dict(config)), sort_keys=True), path.parent
        )
    out = {}
    for run in runs:
        if run.role == "baseline" and run.task is task:
            key = json.dumps(comparable(config_to_dict(run.config)), sort_keys=True)
            if key in index:
                out[run.dir] = index[key]
    return out


def machine() -> str:
    """This machine in words: CPU model, core count, GPU if torch sees one."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    words = f"{cpu}, {os.cpu_count()} cores, {platform.system()}"
    import torch

    if torch.cuda.is_available():
        words += f", GPU {torch.cuda.get_device_name(0)}"
    return words


def _shown(path: Path) -> str:
    root = STUDIES.parent
    path = path.resolve()
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)


def _copy_run(src: Path, dst: Path) -> None:
    """Copy a committed run's files (not its weights or checkpoint) into ``dst`` atomically."""
    with atomic_folder(dst) as tmp:
        for item in src.iterdir():
            if item.is_file() and item.name not in ("checkpoint.pt", "model.pt"):
                shutil.copy2(item, tmp / item.name)


def _reuse_task(task, runs, out: Path, studies: Path, matches: dict, log) -> dict:
    """Decide a task's reuse after its verification run: ``DIR/TASK/reuse.json``'s content."""
    first = next(r.dir for r in runs if r.dir in matches)
    here, theirs = out / first, matches[first]
    decision: dict[str, Any] = {
        "numerics": NUMERICS,
        "tolerance": TOLERANCE,
        "verified_with": first,
        "committed_run": _shown(theirs),
        "candidates": len(matches),
    }
    if not (here / "eval.json").is_file():
        decision.update(reproduced=False, why="the verification run did not finish")
        return {**decision, "reused": {}}
    ok, why = reproduces(here, theirs)
    decision.update(reproduced=ok, why=why)
    old = out / task.name / "reuse.json"
    reused = dict(rundir.read_json(old).get("reused", {})) if old.is_file() else {}
    if ok:
        for run_dir, src in matches.items():
            if run_dir != first and not (out / run_dir).exists():
                _copy_run(src, out / run_dir)
                reused[run_dir] = _shown(src)
    else:
        reused = {}
    log(
        f"battery: {task.name}: {first} "
        + (
            f"reproduces {_shown(theirs)}; {len(reused)} committed baseline runs reused"
            if ok
            else f"does not reproduce {_shown(theirs)} ({why}); baselines trained here"
        )
    )
    return {**decision, "reused": reused}


def _source(run: PlannedRun, decisions: dict, matches: dict) -> str:
    decision = decisions.get(run.task.name)
    if run.role == "plugin":
        return "trained here"
    if decision and run.dir in decision["reused"]:
        return (
            f"committed {decision['reused'][run.dir]} (config and numerics {NUMERICS} match; "
            f"{decision['verified_with'].split('/')[-1]} re-run here reproduced its committed "
            f"run within {TOLERANCE:g})"
        )
    if decision and run.dir == decision["verified_with"]:
        verdict = "reproduced it" if decision["reproduced"] else f"did not ({decision['why']})"
        return f"trained here to verify committed {decision['committed_run']}: {verdict}"
    if decision and not decision["reproduced"]:
        return "trained here (the task's verification run did not reproduce its committed run)"
    if matches is None:
        return "trained here (reuse off: smoke budget or no committed studies)"
    return "trained here (no committed run with this config and today's numerics)"


def run_battery(
    pes: Sequence[str],
    out: str | os.PathLike,
    *,
    baselines: Sequence[str] = DEFAULT_BASELINES,
    seeds: int | None = None,
    budget: str = "smoke",
    executor: str = "local",
    cluster: ClusterOptions | None = None,
    jobs: int | None = 1,
    studies: Path | None = STUDIES,
    tasks: Sequence[str] | None = None,
    progress: bool = True,
    log=print,
) -> dict:
    """Run the battery into ``out`` (resumable) and return ``battery.json``'s content.

    ``studies`` is the folder of committed studies whose baseline runs may be reused (None:
    train every baseline here; the smoke budget never reuses). Runs train one per process
    (never as ensembles, whose arithmetic differs from a separate run's).
    """
    seeds = DEFAULT_SEEDS[budget] if seeds is None and budget in DEFAULT_SEEDS else seeds
    runs = battery_runs(pes, baselines, seeds, budget, tasks)
    chosen = select_tasks(tasks)
    out = Path(out)
    old = out / "battery.json"
    if old.is_file():
        before = rundir.read_json(old)
        if (before.get("budget"), before.get("battery_version")) != (budget, BATTERY_VERSION):
            raise ValueError(
                f"{out} holds a battery of budget {before.get('budget')} (version "
                f"{before.get('battery_version')}); use another --out"
            )
    out.mkdir(parents=True, exist_ok=True)
    sweep = dict(executor=executor, cluster=cluster, jobs=jobs, progress=progress)
    matches = None  # reuse off
    if studies is not None and budget != "smoke":
        matches = {t.name: committed_matches(t, runs, Path(studies)) for t in chosen}
    log(
        f"battery v{BATTERY_VERSION}, budget {budget}: {len(runs)} runs ({len(chosen)} tasks x "
        f"{len(pes) + len(baselines)} encodings x {seeds} seeds) in {out}"
        + (
            ""
            if matches is None
            else f"; {sum(map(len, matches.values()))} baseline runs have a committed match"
        )
    )
    found = [m for m in (matches or {}).values() if m]
    verify = [next(r for r in runs if r.dir in m) for m in found]
    if verify:
        log(f"battery: re-running {len(verify)} committed baseline runs to check reuse")
        run_sweep([r.config for r in verify], out, ensemble_size=1, **sweep)
    decisions = {}
    for task in chosen:
        if matches and matches.get(task.name):
            decisions[task.name] = _reuse_task(
                task, runs, out, Path(studies), matches[task.name], log
            )
            rundir.write_json_atomic(out / task.name / "reuse.json", decisions[task.name])
    plan = _plan_record(runs, chosen, decisions, matches, pes, baselines, seeds, budget)
    rundir.write_json_atomic(old, plan)
    rows = run_sweep([r.config for r in runs], out, ensemble_size=1, **sweep)
    status = {row["dir"]: row["status"] for row in rows}
    for entry in plan["runs"]:
        entry["status"] = status.get(entry["dir"], "failed")
    rundir.write_json_atomic(old, plan)
    return plan


def _plan_record(runs, tasks, decisions, matches, pes, baselines, seeds, budget) -> dict:
    return {
        "battery_version": BATTERY_VERSION,
        "bipe_version": bipe.__version__,
        "code": code_record(bipe.__version__),
        "budget": budget,
        "seeds": seeds,
        "pes": list(pes),
        "baselines": list(baselines),
        "tolerance": TOLERANCE,
        "machine": machine(),
        "tasks": [
            {
                "name": t.name,
                "title": t.title,
                "study": t.study,
                "metrics": list(t.metrics),
                "eval_lengths": next(list(r.config.data.eval_lengths) for r in runs if r.task is t),
                "reuse": decisions.get(t.name),
            }
            for t in tasks
        ],
        "runs": [
            {
                "task": r.task.name,
                "pe": r.pe,
                "role": r.role,
                "seed": r.seed,
                "dir": r.dir,
                "source": _source(r, decisions, matches),
            }
            for r in runs
        ],
    }
