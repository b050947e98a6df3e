"""Sweeps: a grid of training runs, in local processes or submitit jobs, resumable.

A sweep folder holds one run folder per grid point plus ``index.json``::

    SWEEP/index.json                {"runs": [{"name", "dir", "status", ...job fields}, ...]}
    SWEEP/pe-rope__init_seed-0/     an ordinary run folder (config.json, eval.json, ...)
    SWEEP/pe-bipe_rope__init_seed-0/
    SWEEP/.submitit/                submitit's job files (``--executor submitit`` only)
    SWEEP/.index.lock               the lock sweeps take to update index.json (POSIX)

Running a sweep again skips finished runs (``eval.json`` present, or ``model.pt`` when the run
does not evaluate at the end), resumes interrupted ones from their checkpoints, waits for the
submitit jobs of an earlier call that are still alive, and refuses a folder that holds a run
with a different config (nothing is overwritten). Several sweeps may run into one folder at
once on different parts of a grid (say, one per seed); each keeps the others' rows in the index.
A grid is given on the command line (``--grid model.pe=rope,bipe_rope --grid init_seed=0,1``)
or in a small JSON/TOML file, which may also choose the executor and its Slurm parameters
(docs/guide.md#sweeps-on-a-cluster)::

    preset = "tiny"
    task = "arith"
    executor = "submitit"          # optional; "local" (the default) or "submitit"
    [set]
    "train.steps" = "200"
    [grid]
    "model.pe" = ["rope", "bipe_rope"]
    "init_seed" = [0, 1]
    [slurm]                        # optional; keys of experiments/cluster.py SLURM_KEYS
    partition = "gpu"
    time = 120                     # minutes
    gpus = 1

:func:`run_sweep` takes ready configs (their ``out`` is the run's folder name inside the sweep
folder) so other tools (``bipe study``, ``bipe demo``) can build grids of their own;
:func:`status_table` reads a sweep folder without starting anything.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser as the `tomli` package (a dependency there)
    import tomli as tomllib

from bipe.experiments import cluster as cluster_jobs
from bipe.experiments import rundir
from bipe.experiments.cluster import ClusterOptions
from bipe.experiments.config import RunConfig, config_to_dict
from bipe.experiments.ensemble_sweep import run_unit, sweep_units
from bipe.experiments.prepare import resolve_device
from bipe.experiments.presets import build_config
from bipe.experiments.progress import SweepProgress
from bipe.experiments.sweep_run import run_one, run_status

__all__ = [
    "GridSpec",
    "expand_grid",
    "load_grid_file",
    "run_one",
    "run_status",
    "run_sweep",
    "status_table",
]

EXECUTORS = ("local", "submitit")
FILE_KEYS = ("preset", "task", "set", "grid", "executor", "slurm")
JOB_FIELDS = ("executor", "cluster", "job_id", "job_state")  # kept across calls (reattach)


@dataclass(frozen=True, kw_only=True)
class GridSpec:
    """A preset, a task, fixed overrides and a grid of overrides (key -> values); a sweep
    file may also name the ``executor`` and its ``[slurm]`` table (key, value pairs)."""

    preset: str = "tiny"
    task: str | None = None
    fixed: tuple[tuple[str, str], ...] = ()
    grid: tuple[tuple[str, tuple[str, ...]], ...] = ()
    executor: str | None = None
    slurm: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:
        keys = [k for k, _ in self.grid]
        if len(set(keys)) != len(keys):
            raise ValueError(f"a grid key appears twice: {keys}")
        for key, values in self.grid:
            if not values:
                raise ValueError(f"grid key {key!r} has no values")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return ",".join(_text(v) for v in value)
    return str(value)


def parse_grid_option(text: str) -> tuple[str, tuple[str, ...]]:
    """``"model.pe=rope,bipe_rope"`` -> ``("model.pe", ("rope", "bipe_rope"))``."""
    key, sep, values = text.partition("=")
    if not sep or not key or not values:
        raise ValueError(f"grid option {text!r} must look like KEY=V1,V2,...")
    return key.strip(), tuple(v.strip() for v in values.split(",") if v.strip())


def load_grid_file(path: str | os.PathLike) -> GridSpec:
    """A :class:`GridSpec` from a ``.json`` or ``.toml`` file (keys: ``FILE_KEYS``)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
        data = tomllib.loads(raw.decode()) if path.suffix == ".toml" else json.loads(raw)
    except FileNotFoundError:
        raise OSError(f"{path}: no such grid file") from None
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: malformed grid file ({err})") from None
    unknown = set(data) - set(FILE_KEYS)
    if unknown:
        raise ValueError(
            f"{path}: unknown grid file keys {sorted(unknown)}; valid: {', '.join(FILE_KEYS)}"
        )
    grid, slurm = data.get("grid", {}), data.get("slurm", {})
    if not isinstance(slurm, dict):
        raise ValueError(f"{path}: slurm must be a table of job parameters")
    return GridSpec(
        preset=data.get("preset", "tiny"),
        task=data.get("task"),
        executor=data.get("executor"),
        slurm=tuple(slurm.items()),
        fixed=tuple((k, _text(v)) for k, v in data.get("set", {}).items()),
        grid=tuple(
            (k, tuple(_text(x) for x in (v if isinstance(v, list) else [v])))
            for k, v in grid.items()
        ),
    )


def run_name(point: dict[str, str]) -> str:
    """Folder name of one grid point: ``pe-rope__init_seed-0`` (last key part, safe chars)."""
    if not point:
        return "run"
    parts = [f"{k.split('.')[-1]}-{v}" for k, v in point.items()]
    return re.sub(r"[^A-Za-z0-9_.,=+-]", "_", "__".join(parts))


def expand_grid(spec: GridSpec) -> list[tuple[str, RunConfig, dict[str, str]]]:
    """Every grid point as ``(name, config, point overrides)``, configs validated up front."""
    keys = [k for k, _ in spec.grid]
    out = []
    for values in itertools.product(*(v for _, v in spec.grid)):
        point = dict(zip(keys, values, strict=True))
        name = run_name(point)
        overrides = {**dict(spec.fixed), **point}
        pe = overrides.pop("pe", None)
        task = overrides.pop("task", spec.task)
        out.append(
            (
                name,
                build_config(spec.preset, task=task, pe=pe, overrides=overrides, out=name),
                point,
            )
        )
    names = [n for n, _, _ in out]
    if len(set(names)) != len(names):
        raise ValueError("two grid points map to the same folder name; use distinct values")
    return out


def run_sweep(
    configs: Sequence[RunConfig],
    out_dir: str | os.PathLike,
    *,
    jobs: int | None = 1,
    progress: bool = False,
    names: Sequence[str] | None = None,
    executor: str = "local",
    cluster: ClusterOptions | None = None,
    ensemble_size: int = 1,
) -> list[dict]:
    """Run every config into ``out_dir`` (``config.out`` = the run's folder name there).

    ``executor="local"``: ``jobs > 1`` runs that many ``bipe train`` processes at once, each
    with ``cpu_count // jobs`` threads; ``ensemble_size > 1`` trains runs that differ only in
    seeds or encoding as ensembles of up to that many, one process each
    (``docs/guide.md#ensembles``). ``executor="submitit"``: one submitit job per run
    (``cluster`` says where; ``jobs`` caps the jobs in flight, None: all), see
    :mod:`bipe.experiments.cluster`. Finished runs are skipped, interrupted ones resumed, live
    jobs of an earlier call waited for. ``progress`` draws a bar on a terminal
    (:mod:`bipe.experiments.progress`). Returns the index rows (``name``, ``dir``, ``status``:
    done or failed, ``error``; job fields with submitit); ``index.json`` is rewritten
    atomically as runs finish, keeping the rows of other runs in the folder.
    """
    out = Path(out_dir)
    if executor not in EXECUTORS:
        raise ValueError(f"unknown executor {executor!r}; known: {', '.join(EXECUTORS)}")
    if executor == "local":  # cluster jobs find their devices where they run
        for config in configs:
            resolve_device(config.train.device)
    out.mkdir(parents=True, exist_ok=True)
    if jobs is not None and jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    plan = _plan(configs, out)
    statuses = [run_status(Path(c.out), c) for c in plan]  # validates every folder
    index = _Index(out, plan, statuses)
    todo = [i for i, s in enumerate(statuses) if s != "done"]
    # progress keys: the folders relative to out (a battery's tasks share run names)
    runs = [(_relative(Path(c.out), out), Path(c.out), c.train.steps) for c in plan]
    done = [runs[i][0] for i, s in enumerate(statuses) if s == "done"]
    with SweepProgress(runs, done=done, enabled=progress) as bar:

        def finish(i: int, error: str | None) -> None:
            index.finish(i, error)
            bar.finished(runs[i][0])

        if executor == "submitit":
            cluster_jobs.run_jobs(
                todo,
                plan,
                index.rows,
                out,
                cluster or ClusterOptions(),
                finish,
                index.save,
                jobs=jobs,
            )
        else:
            units = sweep_units(
                plan, [Path(c.out) for c in plan], statuses, todo, ensemble_size, jobs or 1
            )
            _run_local(units, plan, statuses, finish, jobs or 1)
    return index.rows


def _plan(configs: Sequence[RunConfig], out: Path) -> list[RunConfig]:
    """The configs with ``out`` made the absolute run folder; distinct folders checked."""
    plan = []
    for config in configs:
        run_dir = Path(config.out) if Path(config.out).is_absolute() else out / config.out
        plan.append(replace(config, out=str(run_dir)))
    dirs = [c.out for c in plan]
    if len(set(dirs)) != len(dirs):
        raise ValueError("two sweep configs share a run folder; give each a distinct out")
    return plan


def _relative(run_dir: Path, out: Path) -> str:
    """A run folder as ``index.json`` names it: relative to the sweep folder when inside it."""
    return str(run_dir.relative_to(out)) if run_dir.is_relative_to(out) else str(run_dir)


class _Index:
    """The rows of ``index.json``: this call's runs, plus rows of other runs kept as found."""

    def __init__(self, out: Path, plan: list[RunConfig], statuses: list[str]) -> None:
        self.out, self.plan, self._lock = out, plan, threading.Lock()
        old = _read_index(out)  # writes are atomic renames; save() locks its read-modify-write
        self.rows = []
        for config, status in zip(plan, statuses, strict=True):
            d = Path(config.out)
            rel = _relative(d, out)
            row = {k: v for k, v in old.get(rel, {}).items() if k in JOB_FIELDS}
            self.rows.append(
                {
                    "name": d.name,
                    "dir": rel,
                    "status": "done" if status == "done" else "pending",
                    **row,
                }
            )
        self.save()

    def finish(self, i: int, error: str | None) -> None:
        """Record run ``i`` as ended: done when its folder says so, else failed."""
        finished = run_status(Path(self.plan[i].out), self.plan[i]) == "done"
        with self._lock:
            row = self.rows[i]
            row.pop("error", None)
            row["status"] = "done" if finished and not error else "failed"
            if row["status"] == "failed":
                row["error"] = error or (
                    "the job ended before the run finished; run the sweep again to resume it"
                )
        self.save()

    def save(self) -> None:
        """Write this call's rows, and the other runs' rows as they are on disk now.

        Other runs are re-read under a lock at every save, so sweeps run at the same time
        into one folder (different grid filters, as studies split across queues do) keep
        each other's statuses instead of writing back the rows they found at their start.
        """
        with self._lock, _index_lock(self.out):
            mine = {r["dir"] for r in self.rows}
            others = [r for r in _read_index(self.out).values() if r["dir"] not in mine]
            rundir.write_json_atomic(self.out / "index.json", {"runs": others + self.rows})


@contextlib.contextmanager
def _index_lock(out: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``out``'s index across processes (POSIX ``flock`` on
    ``out/.index.lock``; without ``fcntl``, as on Windows, only this process's own lock)."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    with open(out / ".index.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _read_index(out: Path) -> dict[str, dict]:
    """Rows of an existing ``index.json`` by ``dir`` (empty when there is none)."""
    if not (out / "index.json").exists():
        return {}
    data = rundir.read_json(out / "index.json")
    rows = data.get("runs") if isinstance(data, dict) else None
    if not isinstance(rows, list) or not all(isinstance(r, dict) and "dir" in r for r in rows):
        raise ValueError(f"{out}/index.json: corrupt sweep index")
    return {r["dir"]: r for r in rows}


def _run_local(
    units: list[list[int]], plan: list[RunConfig], statuses: list[str], finish, jobs: int
) -> None:
    """Run each unit (a list of plan indices: one run, or several as one ensemble) inline or in
    processes."""
    threads = max(1, (os.cpu_count() or 1) // jobs)

    def work(unit: list[int]) -> None:
        if len(unit) > 1:
            errors = run_unit(
                [plan[i] for i in unit],
                [Path(plan[i].out) for i in unit],
                statuses[unit[0]] == "partial",
                inline=jobs == 1,
                threads=threads,
                progress=False,
            )
            for i, error in zip(unit, errors, strict=True):
                finish(i, error)
            return
        for i in unit:
            run_dir = Path(plan[i].out)
            finish(
                i,
                run_one(plan[i], run_dir, statuses[i])
                if jobs == 1
                else _run_process(plan[i], run_dir, statuses[i], threads),
            )

    if jobs == 1:
        for unit in units:
            work(unit)
    else:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            list(pool.map(work, units))


def _run_process(config: RunConfig, run_dir: Path, status: str, threads: int) -> str | None:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    cmd = [sys.executable, "-m", "bipe", "train", "--no-progress"]
    tmp = None
    if status == "partial":
        cmd += ["--resume", str(run_dir)]
    else:
        run_dir.parent.mkdir(parents=True, exist_ok=True)  # TASK/RUN names (bipe battery)
        fd, tmp = tempfile.mkstemp(prefix=".sweep-", suffix=".json", dir=run_dir.parent)
        with os.fdopen(fd, "w") as handle:
            json.dump(config_to_dict(config), handle)
        cmd += ["--config", tmp, "--out", str(run_dir)]
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        return lines[-1] if lines else f"exit status {proc.returncode}"
    return None


def status_table(out_dir: str | os.PathLike) -> str:
    """A table of a sweep's runs: index status, job id and state, steps logged (reads only)."""
    out = Path(out_dir)
    if not (out / "index.json").is_file():
        raise ValueError(f"{out}: not a sweep folder (no index.json)")
    rows = list(_read_index(out).values())
    lines = ["| run | status | job | job state | step |", "| --- | --- | --- | --- | --- |"]
    for row in rows:
        step = "-"
        run_dir = out / row["dir"]
        if (run_dir / "config.json").is_file():
            config, _ = rundir.read_run_config(run_dir)
            logged = rundir.read_metrics(run_dir)
            step = f"{logged[-1]['step'] if logged else 0}/{config.train.steps}"
            if run_status(run_dir, config) == "done":
                row["status"] = "done"  # the folder is the truth (index may be stale)
        lines.append(
            f"| {row['name']} | {row['status']} | {row.get('job_id', '-')} | "
            f"{row.get('job_state', '-')} | {step} |"
        )
    counts = {}
    for row in rows:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    lines.append("")
    lines.append(f"{len(rows)} runs: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    return "\n".join(lines)
