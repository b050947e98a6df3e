"""Sweeps: a grid of training runs, in parallel local processes, resumable.

A sweep folder holds one run folder per grid point plus ``index.json``::

    SWEEP/index.json                {"runs": [{"name", "dir", "status", "overrides"}, ...]}
    SWEEP/pe-rope__init_seed-0/     an ordinary run folder (config.json, eval.json, ...)
    SWEEP/pe-bipe_rope__init_seed-0/

Running a sweep again skips finished runs (``eval.json`` present, or ``model.pt`` when the run
does not evaluate at the end), resumes interrupted ones from their checkpoints, and refuses a
folder that holds a run with a different config (nothing is overwritten). A grid is given on the
command line (``--grid model.pe=rope,bipe_rope --grid init_seed=0,1``) or in a small JSON/TOML
file::

    preset = "tiny"
    task = "arith"
    [set]
    "train.steps" = "200"
    [grid]
    "model.pe" = ["rope", "bipe_rope"]
    "init_seed" = [0, 1]

:func:`run_sweep` takes ready configs (their ``out`` is the run's folder name inside the sweep
folder) so other tools (``bipe study``) can build grids of their own.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import tomllib

from bipe.experiments import rundir
from bipe.experiments.config import RunConfig, config_to_dict
from bipe.experiments.ensemble_sweep import run_unit, sweep_units
from bipe.experiments.presets import build_config

__all__ = ["GridSpec", "expand_grid", "load_grid_file", "run_status", "run_sweep"]


@dataclass(frozen=True, kw_only=True)
class GridSpec:
    """A preset, a task, fixed overrides and a grid of overrides (key -> values)."""

    preset: str = "tiny"
    task: str | None = None
    fixed: tuple[tuple[str, str], ...] = ()
    grid: tuple[tuple[str, tuple[str, ...]], ...] = ()

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
    """A :class:`GridSpec` from a ``.json`` or ``.toml`` file (keys: preset, task, set, grid)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
        data = tomllib.loads(raw.decode()) if path.suffix == ".toml" else json.loads(raw)
    except FileNotFoundError:
        raise OSError(f"{path}: no such grid file") from None
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: malformed grid file ({err})") from None
    unknown = set(data) - {"preset", "task", "set", "grid"}
    if unknown:
        raise ValueError(f"{path}: unknown grid file keys {sorted(unknown)}; "
                         "valid: preset, task, set, grid")
    grid = data.get("grid", {})
    return GridSpec(
        preset=data.get("preset", "tiny"), task=data.get("task"),
        fixed=tuple((k, _text(v)) for k, v in data.get("set", {}).items()),
        grid=tuple((k, tuple(_text(x) for x in (v if isinstance(v, list) else [v])))
                   for k, v in grid.items()),
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
        out.append((name, build_config(spec.preset, task=task, pe=pe, overrides=overrides,
                                       out=name), point))
    names = [n for n, _, _ in out]
    if len(set(names)) != len(names):
        raise ValueError("two grid points map to the same folder name; use distinct values")
    return out


def _comparable(data: dict[str, Any]) -> dict[str, Any]:
    body = {k: v for k, v in data.items() if k not in ("command", "version", "out")}
    body["model"] = {k: v for k, v in body.get("model", {}).items() if k != "max_intra"}
    return body


def run_status(run_dir: Path, config: RunConfig) -> str:
    """``new``, ``partial`` (resume it), ``done``; a different run there is a ValueError."""
    if not (run_dir / "config.json").exists():
        if run_dir.exists() and any(run_dir.iterdir()):
            raise ValueError(f"{run_dir} exists and is not a bipe run folder; not touching it")
        return "new"
    saved = rundir.read_json(run_dir / "config.json")
    if not isinstance(saved, dict) or _comparable(saved) != _comparable(config_to_dict(config)):
        raise ValueError(f"{run_dir} holds a run with a different config; move it away or "
                         "use another sweep folder")
    finished = "eval.json" if config.train.evaluate_at_end else "model.pt"
    return "done" if (run_dir / finished).exists() else "partial"


def run_sweep(configs: Sequence[RunConfig], out_dir: str | os.PathLike, *, jobs: int = 1,
              progress: bool = False, names: Sequence[str] | None = None,
              ensemble_size: int = 1) -> list[dict]:
    """Run every config into ``out_dir`` (``config.out`` = the run's folder name there).

    ``jobs > 1`` runs that many ``bipe train`` processes at once, each with
    ``cpu_count // jobs`` threads. ``ensemble_size > 1`` trains runs that differ only in
    seeds or encoding as ensembles of up to that many (one process each;
    ``docs/method.md#ensembles``). Finished runs are skipped, interrupted ones resumed. Returns
    the index rows (``name``, ``dir``, ``status``: done or failed, ``error``); ``index.json``
    is rewritten atomically as runs finish.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    plan = []
    for config in configs:
        run_dir = Path(config.out) if Path(config.out).is_absolute() else out / config.out
        plan.append((replace(config, out=str(run_dir)), run_dir))
    dirs = [d for _, d in plan]
    if len(set(dirs)) != len(dirs):
        raise ValueError("two sweep configs share a run folder; give each a distinct out")
    statuses = [run_status(d, c) for c, d in plan]  # validates every folder before any work
    rows = [{"name": d.name, "dir": str(d.relative_to(out)) if d.is_relative_to(out) else str(d),
             "status": "done" if s == "done" else "pending"}
            for (_, d), s in zip(plan, statuses, strict=True)]
    _write_index(out, rows)
    todo = [i for i, s in enumerate(statuses) if s != "done"]
    threads = max(1, (os.cpu_count() or 1) // jobs)

    units = sweep_units([c for c, _ in plan], dirs, statuses, todo, ensemble_size, jobs)

    def work(unit: list[int]) -> None:
        errors = _run_unit([plan[i] for i in unit], statuses[unit[0]], jobs, threads, progress)
        for i, error in zip(unit, errors, strict=True):
            rows[i]["status"] = "failed" if error else "done"
            if error:
                rows[i]["error"] = error
        _write_index(out, rows)

    if jobs == 1:
        for unit in units:
            work(unit)
    else:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            list(pool.map(work, units))
    return rows


def _run_unit(plan: list[tuple[RunConfig, Path]], status: str, jobs: int, threads: int,
              progress: bool) -> list[str | None]:
    """One unit of work (one run, or several as an ensemble); an error or None per run."""
    if len(plan) > 1:
        return run_unit([c for c, _ in plan], [d for _, d in plan], status == "partial",
                        inline=jobs == 1, threads=threads, progress=progress)
    config, run_dir = plan[0]
    return [_run_inline(config, run_dir, status, progress) if jobs == 1
            else _run_process(config, run_dir, status, threads)]


def _write_index(out: Path, rows: list[dict]) -> None:
    rundir.write_json_atomic(out / "index.json", {"runs": rows})


def _run_inline(config: RunConfig, run_dir: Path, status: str, progress: bool) -> str | None:
    from bipe.experiments.train import resume, train  # noqa: PLC0415 (torch only when running)

    try:
        if status == "partial":
            resume(run_dir, progress=progress)
        else:
            train(config, command=["bipe", "sweep"], progress=progress)
    except (ValueError, OSError) as err:
        return str(err)
    return None


def _run_process(config: RunConfig, run_dir: Path, status: str, threads: int) -> str | None:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    cmd = [sys.executable, "-m", "bipe", "train", "--no-progress"]
    tmp = None
    if status == "partial":
        cmd += ["--resume", str(run_dir)]
    else:
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
