"""Ensembles inside sweeps: which pending runs share a process, and running such a group.

:func:`sweep_units` splits a sweep's pending runs into units of work: groups of
:func:`~bipe.experiments.ensemble.ensemble_groups` that are also alike in state (all new, or
all interrupted at the same checkpoint step), at most ``size`` runs each; anything else is a
unit of one, run as before. :func:`run_unit` trains a unit of several runs as one ensemble,
inline or (``jobs > 1``) in a child process (``python -m bipe.experiments.ensemble_sweep``),
and returns one error (or None) per run. See ``docs/guide.md#ensembles``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from bipe.experiments.config import RunConfig, config_from_dict, config_to_dict
from bipe.experiments.ensemble import ensemble_groups

__all__ = ["main", "run_unit", "sweep_units"]


def _state(run_dir: Path, status: str) -> tuple:
    """``("new",)`` or ``("partial", checkpoint step | None)``."""
    if status != "partial":
        return ("new",)
    from bipe.experiments.rundir import load_checkpoint  # torch only here

    try:
        state = load_checkpoint(run_dir)
    except ValueError:
        return ("partial", "unreadable", str(run_dir))  # alone: its own resume reports it
    return ("partial", None if state is None else int(state["step"]))


def sweep_units(
    configs: Sequence[RunConfig],
    dirs: Sequence[Path],
    statuses: Sequence[str],
    todo: Sequence[int],
    size: int,
    jobs: int = 1,
) -> list[list[int]]:
    """Indices of ``todo`` grouped into units of work of at most ``size`` runs, and small
    enough that ``jobs`` processes all get work (on a CPU, K runs in one single-thread
    process are about as fast as K separate ones, so idle processes would be lost)."""
    if size <= 1:
        return [[i] for i in todo]
    by_state: dict[tuple, list[int]] = {}
    for i in todo:
        by_state.setdefault(_state(dirs[i], statuses[i]), []).append(i)
    units = []
    for members in by_state.values():
        cap = max(1, min(size, -(-len(members) // max(1, jobs))))
        groups = ensemble_groups([configs[i] for i in members], cap)
        units += [[members[j] for j in group] for group in groups]
    return sorted(units)


def run_unit(
    configs: Sequence[RunConfig],
    dirs: Sequence[Path],
    partial: bool,
    *,
    inline: bool,
    threads: int,
    progress: bool,
) -> list[str | None]:
    """Train one ensemble unit; one error message (or None) per run."""
    if inline:
        from bipe.experiments.ensemble import resume_ensemble, train_ensemble

        try:
            if partial:
                resume_ensemble(dirs, progress=progress)
            else:
                train_ensemble(configs, dirs, command=["bipe", "sweep"], progress=progress)
        except (ValueError, OSError) as err:
            return [str(err)] * len(dirs)
        return [None] * len(dirs)
    return [_run_process(configs, dirs, partial, threads)] * len(dirs)


def _run_process(configs, dirs, partial: bool, threads: int) -> str | None:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    cmd = [sys.executable, "-m", "bipe.experiments.ensemble_sweep", "--outs", *map(str, dirs)]
    fd, tmp = tempfile.mkstemp(prefix=".ensemble-", suffix=".json", dir=Path(dirs[0]).parent)
    with os.fdopen(fd, "w") as handle:
        json.dump([config_to_dict(c) for c in configs], handle)
    cmd += ["--resume"] if partial else ["--configs", tmp]
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    finally:
        Path(tmp).unlink(missing_ok=True)
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        return lines[-1] if lines else f"exit status {proc.returncode}"
    return None


def main(argv: list[str] | None = None) -> int:
    """Child-process entry of :func:`run_unit`: ``--outs D1 D2 ... (--configs FILE |
    --resume)``; a bad run is one line on stderr and status 2."""
    parser = argparse.ArgumentParser(prog="python -m bipe.experiments.ensemble_sweep")
    parser.add_argument("--outs", nargs="+", required=True)
    parser.add_argument("--configs", default=None, help="JSON list of run configs")
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args(argv)
    dirs = [Path(d) for d in args.outs]
    try:
        configs = (
            []
            if args.resume
            else [
                config_from_dict(RunConfig, c) for c in json.loads(Path(args.configs).read_text())
            ]
        )
        errors = run_unit(configs, dirs, args.resume, inline=True, threads=0, progress=False)
    except (ValueError, OSError, TypeError) as err:
        errors = [str(err)]
    if errors[0] is not None:
        print(f"error: {errors[0]}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
