"""``bipe sweep``: a grid of training runs in local processes or submitit jobs, resumable."""

from __future__ import annotations

import argparse
import sys

DEFAULT_ENSEMBLE_SIZE = 8  # runs per ensemble process, local executor (docs/guide.md#ensembles)
HELP = "run a grid of training runs (parallel, resumable; one folder per run plus index.json)"
EXAMPLE = (
    "bipe sweep --preset tiny --task arith --grid model.pe=rope,bipe_rope "
    "--grid init_seed=0,1 --set train.steps=100 --jobs 2 --out sweeps/tiny"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default=None, metavar="SWEEP", help="sweep folder")
    parser.add_argument(
        "--status",
        default=None,
        metavar="SWEEP",
        help="print the runs of a sweep folder and their states; start nothing",
    )
    parser.add_argument(
        "--file",
        default=None,
        metavar="GRID",
        help="grid file (.json or .toml: preset, task, set, grid, executor, slurm)",
    )
    parser.add_argument("--preset", default=None, help="preset (default: tiny or the file's)")
    parser.add_argument("--task", default=None, help="task (default: the preset's)")
    parser.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="KEY=V1,V2",
        help="a grid axis; repeat for more axes (pe or model.pe, init_seed, ...)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a fixed override for every run; repeatable",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=None,
        help="runs in parallel (local: processes, default 1; submitit: jobs "
        "in flight, default all)",
    )
    parser.add_argument("--dry-run", action="store_true", help="list the runs and stop")
    add_executor_arguments(parser)
    add_ensemble_arguments(parser)


def add_ensemble_arguments(parser: argparse.ArgumentParser) -> None:
    """``--ensemble-size K`` and ``--no-ensemble`` (shared with ``bipe study``)."""
    parser.add_argument(
        "--ensemble-size",
        type=int,
        default=None,
        metavar="K",
        help="train runs that differ only in seeds or encoding as ensembles "
        f"of up to K in one process (local executor; default "
        f"{DEFAULT_ENSEMBLE_SIZE})",
    )
    parser.add_argument(
        "--no-ensemble",
        action="store_true",
        help="train every run in its own process (same as --ensemble-size 1)",
    )


def ensemble_size(args: argparse.Namespace, executor: str) -> int:
    """The ensemble size a command line asks for (1: no ensembles; submitit runs one job per
    run, so ensembles there are an error when asked for and off by default)."""
    size = args.ensemble_size
    if size is not None and size < 1:
        raise ValueError(f"--ensemble-size must be >= 1, got {size}")
    if args.no_ensemble:
        return 1
    if executor != "local":
        if size is not None and size > 1:
            raise ValueError(
                "--ensemble-size needs the local executor (submitit runs one job "
                "per run); drop it or use --no-ensemble"
            )
        return 1
    return DEFAULT_ENSEMBLE_SIZE if size is None else size


def add_executor_arguments(parser: argparse.ArgumentParser) -> None:
    """``--executor`` and the Slurm flags (shared with ``bipe study``)."""
    group = parser.add_argument_group("executor (docs/guide.md#sweeps-on-a-cluster)")
    group.add_argument(
        "--executor",
        choices=("local", "submitit"),
        default=None,
        help="local processes (default) or one submitit job per run (Slurm "
        "where present, else local processes); needs bipe-workbench[cluster]",
    )
    group.add_argument(
        "--submitit-cluster",
        choices=("slurm", "local"),
        default=None,
        help="force submitit's Slurm or local executor (default: auto-detect)",
    )
    group.add_argument("--slurm-partition", default=None, metavar="NAME", help="partition")
    group.add_argument(
        "--slurm-time",
        type=int,
        default=None,
        metavar="MIN",
        help="time limit per job in minutes (requeued from checkpoint after)",
    )
    group.add_argument("--slurm-cpus", type=int, default=None, metavar="N", help="CPUs per job")
    group.add_argument("--slurm-gpus", type=int, default=None, metavar="N", help="GPUs per job")
    group.add_argument(
        "--slurm-mem-gb", type=float, default=None, metavar="GB", help="memory per job"
    )
    group.add_argument("--slurm-account", default=None, metavar="NAME", help="account")
    group.add_argument(
        "--slurm-extra",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="another sbatch parameter (constraint=a100 -> --constraint=a100); repeatable",
    )


def executor_from_args(
    args: argparse.Namespace, file_executor: str | None = None, file_slurm=()
) -> tuple[str, object, int | None]:
    """``(executor, ClusterOptions, jobs)`` of the flags over the sweep file's values; jobs
    None (submitit: no cap) unless ``--jobs`` is given, 1 for local by default."""
    from bipe.experiments.cluster import ClusterOptions

    executor = args.executor or file_executor or "local"
    if executor not in ("local", "submitit"):
        raise ValueError(f"unknown executor {executor!r} in the sweep file; known: local, submitit")
    table = dict(file_slurm)
    flags = {
        "partition": args.slurm_partition,
        "time": args.slurm_time,
        "cpus": args.slurm_cpus,
        "gpus": args.slurm_gpus,
        "mem_gb": args.slurm_mem_gb,
        "account": args.slurm_account,
    }
    table.update({k: v for k, v in flags.items() if v is not None})
    extra = dict(table.get("extra", {}))
    for item in args.slurm_extra:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--slurm-extra {item!r} must look like KEY=VALUE")
        extra[key.strip().lstrip("-")] = value.strip()
    if extra:
        table["extra"] = extra
    if executor == "local" and (table or args.submitit_cluster):
        raise ValueError("Slurm parameters and --submitit-cluster need --executor submitit")
    jobs = getattr(args, "jobs", None)
    if jobs is None and executor == "local":
        jobs = 1
    return executor, ClusterOptions.from_table(table, cluster=args.submitit_cluster), jobs


def spec_from_args(args: argparse.Namespace):
    """The GridSpec of a command line (file first, then command-line additions)."""
    from bipe.experiments.sweep import GridSpec, load_grid_file, parse_grid_option

    spec = load_grid_file(args.file) if args.file else GridSpec()
    fixed = dict(spec.fixed)
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--set {item!r} must look like KEY=VALUE")
        fixed[key.strip()] = value.strip()
    grid = dict(spec.grid)
    for item in args.grid:
        key, values = parse_grid_option(item)
        grid[key] = values
    return GridSpec(
        preset=args.preset or spec.preset,
        task=args.task or spec.task,
        fixed=tuple(fixed.items()),
        grid=tuple(grid.items()),
        executor=spec.executor,
        slurm=spec.slurm,
    )


def run(args: argparse.Namespace) -> int:
    from bipe.experiments.sweep import expand_grid, run_sweep, status_table

    if args.status is not None:
        given = [
            f"--{k.replace('_', '-')}"
            for k, v in vars(args).items()
            if k != "status" and v not in (None, False, [])
        ]
        if given:
            raise ValueError(
                f"--status starts nothing and takes no other options: {', '.join(given)}"
            )
        print(status_table(args.status))
        return 0
    if args.out is None:
        raise ValueError("--out SWEEP is required (or --status SWEEP to look at one)")
    spec = spec_from_args(args)
    executor, cluster, jobs = executor_from_args(args, spec.executor, spec.slurm)
    size = ensemble_size(args, executor)
    points = expand_grid(spec)
    if args.dry_run:
        for name, config, _ in points:
            print(f"{name}: task {config.task}, pe {config.model.pe}")
        return 0
    rows = run_sweep(
        [c for _, c, _ in points],
        args.out,
        jobs=jobs,
        progress=True,
        executor=executor,
        cluster=cluster,
        ensemble_size=size,
    )
    failed = [r for r in rows if r["status"] == "failed"]
    print(
        f"{args.out}: {len(rows) - len(failed)} of {len(rows)} runs done "
        f"(index: {args.out}/index.json)"
    )
    for line in failure_lines(failed):
        print(line, file=sys.stderr)
    return 1 if failed else 0


def failure_lines(failed: list[dict]) -> list[str]:
    """One line per distinct error of the failed runs (a config error every run shares is
    said once, naming how many runs it stopped)."""
    by_error: dict[str, list[str]] = {}
    for row in failed:
        by_error.setdefault(row.get("error", ""), []).append(row["name"])
    lines = []
    for error, names in by_error.items():
        if len(names) == 1:
            lines.append(f"failed {names[0]}: {error}")
        else:
            shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
            lines.append(f"failed {len(names)} runs ({shown}): {error}")
    return lines
