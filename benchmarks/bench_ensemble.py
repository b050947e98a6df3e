"""Benchmark: K seeds as one ensemble process against the same K runs under ``--jobs 2``.

At the demo preset's shape (width 64, 2 layers, 4 heads, batch 32 of 1-4 operator chains), K
runs differing only in ``init_seed`` are trained twice, side by side in one benchmark run:

- **jobs 2**: :func:`bipe.experiments.sweep.run_sweep` with ``jobs=2, ensemble_size=1``: K
  ``bipe train`` processes, two at a time, each with ``cpu_count // 2`` threads;
- **jobs 2 + ensembles**: the same sweep with ``jobs=2, ensemble_size=K``, what ``bipe sweep
  --jobs 2`` does by default: two ensemble processes of K/2 members, one thread each;
- **one ensemble**: ``jobs=1, ensemble_size=K``: one process of K members, all threads.

Throughput is aggregate tokens per second of wall time over the training loops (the sum over
runs of the tokens in logged windows after the first, over the wall time those windows span:
per run for separate processes, two running at once; the members' shared time for the
ensemble), so process start-up, data generation and the first window (warm-up) are excluded
for both. The CPU target: ensemble / jobs-2 >= 1.

On a GPU (``--device cuda``) the comparison is the issue's GPU target instead: the K runs one
after another (``jobs=1, ensemble_size=1``) against one ensemble of K; target >= 4x at K=8.

Run: ``.venv/bin/python benchmarks/bench_ensemble.py [--k 4] [--steps 150]``;
on a GPU: ``.venv/bin/python benchmarks/bench_ensemble.py --device cuda --k 8 --steps 300``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from bipe.experiments.presets import build_config
from bipe.experiments.rundir import read_metrics
from bipe.experiments.sweep import run_sweep
from bipe.models.precision import cpu_model


def configs(k: int, steps: int, log_every: int, device: str = "cpu"):
    """K demo-shape runs differing in init_seed, no evaluation."""
    overrides = {
        "train.steps": str(steps),
        "train.log_every": str(log_every),
        "train.device": device,
        "train.checkpoint_every": str(steps),
        "train.evaluate_at_end": "false",
        "data.n_train": "4096",
    }
    return [
        build_config(
            "demo", pe="rope", overrides={**overrides, "init_seed": str(s)}, out=f"seed-{s}"
        )
        for s in range(k)
    ]


def run_tokens_per_s(run_dir: Path) -> tuple[float, float]:
    """(tokens, seconds) of a run's logged windows after the first."""
    rows = read_metrics(run_dir)[1:]
    return (sum(r["tokens/s"] * r["elapsed_s"] for r in rows), sum(r["elapsed_s"] for r in rows))


def aggregate(sweep: Path, k: int, concurrent: int) -> float:
    """Aggregate tokens/s: each run's rate, ``concurrent`` runs at once."""
    rates = [t / s for t, s in (run_tokens_per_s(sweep / f"seed-{i}") for i in range(k))]
    return sum(rates) / len(rates) * concurrent


def gpu(runs, k: int) -> None:
    """The GPU figure: K runs one after another against one ensemble of K."""
    import torch

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        run_sweep(runs, root / "sequential", jobs=1, ensemble_size=1)
        run_sweep(runs, root / "ensemble", jobs=1, ensemble_size=k)
        sequential = aggregate(root / "sequential", k, concurrent=1)
        ensemble = aggregate(root / "ensemble", k, concurrent=k)
    print(f"GPU: {torch.cuda.get_device_name()}; demo shape, K={k} seeds; aggregate tokens/s")
    print(f"one after another: {sequential:12,.0f}")
    print(
        f"ensemble of {k}:     {ensemble:12,.0f}  ratio {ensemble / sequential:.2f}x "
        "(target >= 4x at K=8)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--k", type=int, default=4, help="runs (ensemble members)")
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--log-every", type=int, default=25)
    parser.add_argument("--device", default="cpu", help="cpu, or cuda for the GPU target")
    args = parser.parse_args()
    runs = configs(args.k, args.steps, args.log_every, args.device)
    if args.device != "cpu":
        gpu(runs, args.k)
        return
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        run_sweep(runs, root / "jobs2", jobs=2, ensemble_size=1)
        run_sweep(runs, root / "jobs2_ensembles", jobs=2, ensemble_size=args.k)
        run_sweep(runs, root / "ensemble", jobs=1, ensemble_size=args.k)
        jobs2 = aggregate(root / "jobs2", args.k, concurrent=min(2, args.k))
        split = aggregate(root / "jobs2_ensembles", args.k, concurrent=args.k)
        one = aggregate(root / "ensemble", args.k, concurrent=args.k)
    print(
        f"CPU: {cpu_model()}, {os.cpu_count()} logical cores, load average {os.getloadavg()[0]:.1f}"
    )
    print(f"demo shape, K={args.k} seeds, {args.steps} steps each; aggregate tokens/s")
    print(f"jobs 2, separate processes:         {jobs2:10,.0f}")
    print(
        f"jobs 2, two ensembles of {args.k // 2}:        {split:10,.0f}  ratio {split / jobs2:.2f}x"
    )
    print(f"one ensemble of {args.k}, all threads:     {one:10,.0f}  ratio {one / jobs2:.2f}x")


if __name__ == "__main__":
    main()
