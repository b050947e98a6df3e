"""Sweeps on submitit: one job per run, on Slurm where present, in local processes elsewhere.

``bipe sweep --executor submitit`` hands every unfinished run of a sweep to submitit's
``AutoExecutor`` (docs/guide.md#sweeps-on-a-cluster). The job is a :class:`TrainJob`, a
picklable callable that trains or resumes one run folder and implements submitit's checkpointing
protocol: when Slurm preempts a job or its time limit is near, submitit calls
:meth:`TrainJob.checkpoint`, which returns the same job as a ``DelayedSubmission``, and requeues
it; the requeued job resumes from the run's last checkpoint (``train.checkpoint_every``), which
gives the same weights and losses as an uninterrupted run.

The run folder is the truth: a job first looks at its folder (finished runs are never trained
again; a partial one is resumed) and the sweep judges a job by the folder it leaves. Job ids and
states go into the sweep's ``index.json`` so that running the same sweep command again waits for
jobs still alive (reattaches) and resubmits the rest. submitit is the optional extra
``bipe-workbench[cluster]``, imported only here and only when used. Job logs (submitit's
pickles, stdout and stderr) are in ``SWEEP/.submitit/JOBID_*``.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bipe.experiments.config import RunConfig
from bipe.experiments.sweep_run import run_one, run_status

__all__ = ["ClusterOptions", "TrainJob", "require_submitit", "run_jobs"]

LOG_DIR = ".submitit"
# Slurm states of a job that may still run (sacct); any other state ends a reattach
LIVE_STATES = frozenset(
    {
        "PENDING",
        "RUNNING",
        "REQUEUED",
        "CONFIGURING",
        "COMPLETING",
        "RESIZING",
        "SUSPENDED",
        "REQUEUE_HOLD",
        "REQUEUE_FED",
        "SIGNALING",
        "STAGE_OUT",
    }
)
SLURM_KEYS = {
    "partition": str,
    "time": int,
    "cpus": int,
    "gpus": int,
    "mem_gb": float,
    "account": str,
    "extra": dict,
}


def require_submitit():
    """The submitit module, or an ``OSError`` naming the extra that provides it."""
    try:
        import submitit
    except ImportError:
        raise OSError(
            '--executor submitit needs submitit: pip install "bipe-workbench[cluster]"'
        ) from None
    return submitit


@dataclass(frozen=True, kw_only=True)
class ClusterOptions:
    """Where and how submitit runs jobs. ``time`` is the job time limit in minutes; ``extra``
    holds further sbatch parameters (``("constraint", "a100")`` -> ``--constraint=a100``);
    ``cluster`` None lets submitit choose (Slurm where present, else local processes)."""

    partition: str | None = None
    time: int | None = None
    cpus: int | None = None
    gpus: int | None = None
    mem_gb: float | None = None
    account: str | None = None
    extra: tuple[tuple[str, str], ...] = ()
    cluster: str | None = None
    poll_s: float = 2.0

    def __post_init__(self) -> None:
        for name in ("time", "cpus", "mem_gb"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"slurm {name} must be positive, got {value}")
        if self.gpus is not None and self.gpus < 0:
            raise ValueError(f"slurm gpus must be >= 0, got {self.gpus}")
        if self.cluster not in (None, "slurm", "local"):
            raise ValueError(f"unknown submitit cluster {self.cluster!r}; known: slurm, local")

    @classmethod
    def from_table(cls, table: dict[str, Any], **kw: Any) -> ClusterOptions:
        """Options from a sweep file's ``[slurm]`` table (keys: see ``SLURM_KEYS``)."""
        unknown = set(table) - set(SLURM_KEYS)
        if unknown:
            raise ValueError(
                f"unknown [slurm] keys {sorted(unknown)}; valid: {', '.join(SLURM_KEYS)}"
            )
        values = {}
        for key, value in table.items():
            if key == "extra":
                if not isinstance(value, dict):
                    raise ValueError("[slurm] extra must be a table of sbatch parameters")
                values[key] = tuple((str(k), str(v)) for k, v in value.items())
            else:
                try:
                    values[key] = SLURM_KEYS[key](value)
                except (TypeError, ValueError):
                    raise ValueError(
                        f"[slurm] {key} = {value!r} is not a {SLURM_KEYS[key].__name__}"
                    ) from None
        return cls(**{**values, **kw})

    def parameters(self, cluster: str) -> dict[str, Any]:
        """``AutoExecutor.update_parameters`` keywords (Slurm-only ones only on Slurm)."""
        params: dict[str, Any] = {"timeout_min": self.time or 7 * 24 * 60}
        if self.cpus:
            params["cpus_per_task"] = self.cpus
        if self.gpus is not None:
            params["gpus_per_node"] = self.gpus
        if self.mem_gb is not None:
            params["mem_gb"] = self.mem_gb
        if cluster == "slurm":
            params.update(
                {
                    f"slurm_{k}": v
                    for k, v in (("partition", self.partition), ("account", self.account))
                    if v
                }
            )
            if self.extra:
                params["slurm_additional_parameters"] = dict(self.extra)
        return params


@dataclass(frozen=True)
class TrainJob:
    """One run as a submitit job: train (new folder) or resume (partial) or nothing (done).

    ``threads`` sets torch's thread count in the job; ``stop_after`` ends the run after that
    many steps as if the job had been killed (tests use it).
    """

    config: RunConfig
    threads: int | None = None
    stop_after: int | None = None

    def __call__(self) -> str | None:
        """Run it; returns None, or the one-line error of a bad config or folder."""
        if self.threads:
            import torch

            torch.set_num_threads(self.threads)
        run_dir = Path(self.config.out)
        try:
            status = run_status(run_dir, self.config)
        except ValueError as err:
            return str(err)
        if status == "done":
            return None
        return run_one(self.config, run_dir, status, stop_after=self.stop_after)

    def checkpoint(self):
        """submitit's hook on preemption or time-out: requeue this job (it resumes the run
        from its last checkpoint)."""
        submitit = require_submitit()
        return submitit.helpers.DelayedSubmission(replace(self, stop_after=None))


class _LocalPid:
    """A job of submitit's local executor seen from another process: alive while its pid is."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        self.state = "RUNNING"

    def done(self) -> bool:
        try:
            os.kill(int(self.job_id), 0)
        except ProcessLookupError:
            self.state = "FINISHED"
            return True
        except (PermissionError, ValueError):
            pass
        return False

    def result(self) -> None:
        return None


def _reattach(submitit, row: dict, folder: Path, cluster: str):
    """A handle on the row's recorded job if it may still run, else None."""
    job_id = row.get("job_id")
    if not job_id or row.get("executor") != "submitit":
        return None
    if row.get("cluster", cluster) == "local":
        handle = _LocalPid(str(job_id))
        return None if handle.done() else handle
    job = submitit.SlurmJob(folder=folder / "%j", job_id=str(job_id))
    return job if job.state in LIVE_STATES else None


def _error(job) -> str | None:
    try:
        return job.result()
    except Exception as err:  # submitit re-raises the job's failure
        lines = [x for x in str(err).strip().splitlines() if x.strip()]
        return lines[-1] if lines else type(err).__name__


def run_jobs(
    todo: Sequence[int],
    configs: Sequence[RunConfig],
    rows: list[dict],
    out: Path,
    options: ClusterOptions,
    finish: Callable[[int, str | None], None],
    save: Callable[[], None],
    *,
    jobs: int | None = None,
    make_job: Callable[[RunConfig], TrainJob] | None = None,
) -> None:
    """Submit (or reattach to) one job per ``todo`` index, at most ``jobs`` at once, and wait.

    ``rows`` are the sweep's index rows (updated in place with ``executor``, ``cluster``,
    ``job_id`` and ``job_state``; ``save`` writes them); ``finish(i, error)`` is called as each
    job ends. ``make_job`` builds the job of a config (default :class:`TrainJob`).
    """
    submitit = require_submitit()
    folder = out / LOG_DIR
    executor = submitit.AutoExecutor(folder=folder / "%j", cluster=options.cluster)
    executor.update_parameters(name="bipe", **options.parameters(executor.cluster))
    cap = jobs or len(todo) or 1
    # local jobs share this machine's cores; a Slurm job gets the CPUs it asked for
    threads = max(1, (os.cpu_count() or 1) // cap) if executor.cluster == "local" else options.cpus
    live = {}
    for i in todo:
        handle = _reattach(submitit, rows[i], folder, executor.cluster)
        if handle is not None:
            live[i] = handle
    queue = [i for i in todo if i not in live]
    make_job = make_job or (lambda config: TrainJob(config, threads=threads))
    try:
        while queue or live:
            while queue and len(live) < cap:
                i = queue.pop(0)
                live[i] = executor.submit(make_job(configs[i]))
                rows[i].update(
                    executor="submitit", cluster=executor.cluster, job_id=str(live[i].job_id)
                )
            _poll(live, rows, finish)
            save()
            if live:
                time.sleep(options.poll_s)
    except KeyboardInterrupt:
        save()
        if executor.cluster != "local":
            print(
                "bipe: the jobs keep running; run the same sweep command again to wait for "
                "them (--status to look)",
                file=sys.stderr,
            )
        raise


def _poll(live: dict, rows: list[dict], finish: Callable[[int, str | None], None]) -> None:
    """Record the state of each live job; hand the ended ones to ``finish``."""
    for i, job in list(live.items()):
        ended = job.done()
        rows[i]["job_state"] = str(job.state)
        if ended:
            del live[i]
            finish(i, _error(job))
