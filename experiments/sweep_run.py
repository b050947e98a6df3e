"""One run of a sweep: its state on disk and running it in this process.

Shared by the local sweep (:mod:`bipe.experiments.sweep`) and the cluster jobs
(:mod:`bipe.experiments.cluster`), so that neither imports the other's runner: the sweep
imports the cluster module, never the reverse.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bipe.experiments import rundir
from bipe.experiments.config import RunConfig, config_to_dict

__all__ = ["comparable", "run_one", "run_status"]


def comparable(data: dict[str, Any]) -> dict[str, Any]:
    """What of a ``config.json`` (as a dict) makes two runs the same run: everything but the
    bookkeeping, the folder and the data-derived ``model.max_intra``."""
    body = {k: v for k, v in data.items() if k not in (*rundir.BOOKKEEPING, "out")}
    body["model"] = {k: v for k, v in body.get("model", {}).items() if k != "max_intra"}
    return body


def run_status(run_dir: Path, config: RunConfig) -> str:
    """``new``, ``partial`` (resume it), ``done``; a different run there is a ValueError."""
    if not (run_dir / "config.json").exists():
        if run_dir.exists() and any(run_dir.iterdir()):
            raise ValueError(f"{run_dir} exists and is not a bipe run folder; not touching it")
        return "new"
    saved = rundir.read_json(run_dir / "config.json")
    if isinstance(saved, dict):  # fields added since the run was written take their defaults
        saved = config_to_dict(rundir.read_run_config(run_dir)[0])
    expected = config_to_dict(config)
    if expected["model"]["compute_dtype"] == "auto" and isinstance(saved, dict):
        expected["model"]["compute_dtype"] = saved["model"]["compute_dtype"]  # the run's choice
    if not isinstance(saved, dict) or comparable(saved) != comparable(expected):
        raise ValueError(
            f"{run_dir} holds a run with a different config; move it away or "
            "use another sweep folder"
        )
    finished = "eval.json" if config.train.evaluate_at_end else "model.pt"
    return "done" if (run_dir / finished).exists() else "partial"


def run_one(
    config: RunConfig, run_dir: Path, status: str, *, stop_after: int | None = None
) -> str | None:
    """Train (status ``new``) or resume (``partial``) one run in this process, without a bar;
    returns None or the one-line error of a bad config or folder."""
    from bipe.experiments.train import resume, train  # torch only when running

    try:
        if status == "partial":
            resume(run_dir, progress=False, stop_after=stop_after)
        else:
            train(config, command=["bipe", "sweep"], progress=False, stop_after=stop_after)
    except (ValueError, OSError) as err:
        return str(err)
    return None
