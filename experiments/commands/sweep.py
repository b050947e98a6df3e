"""``bipe sweep``: a grid of training runs in parallel processes, resumable."""

from __future__ import annotations

import argparse
import sys

DEFAULT_ENSEMBLE_SIZE = 8  # runs per ensemble process (docs/method.md#ensembles)
HELP = "run a grid of training runs (parallel, resumable; one folder per run plus index.json)"
EXAMPLE = ("bipe sweep --preset tiny --task arith --grid model.pe=rope,bipe_rope "
           "--grid init_seed=0,1 --set train.steps=100 --jobs 2 --out sweeps/tiny")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, metavar="SWEEP", help="sweep folder")
    parser.add_argument("--file", default=None, metavar="GRID",
                        help="grid file (.json or .toml: preset, task, set, grid)")
    parser.add_argument("--preset", default=None, help="preset (default: tiny or the file's)")
    parser.add_argument("--task", default=None, help="task (default: the preset's)")
    parser.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2",
                        help="a grid axis; repeat for more axes (pe or model.pe, init_seed, ...)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a fixed override for every run; repeatable")
    parser.add_argument("--jobs", type=int, default=1, help="runs in parallel (processes)")
    parser.add_argument("--dry-run", action="store_true", help="list the runs and stop")
    add_ensemble_arguments(parser)


def add_ensemble_arguments(parser: argparse.ArgumentParser) -> None:
    """``--ensemble-size K`` and ``--no-ensemble`` (shared with ``bipe study``)."""
    parser.add_argument("--ensemble-size", type=int, default=DEFAULT_ENSEMBLE_SIZE, metavar="K",
                        help="train runs that differ only in seeds or encoding as ensembles "
                             f"of up to K in one process (default {DEFAULT_ENSEMBLE_SIZE})")
    parser.add_argument("--no-ensemble", action="store_true",
                        help="train every run in its own process (same as --ensemble-size 1)")


def ensemble_size(args: argparse.Namespace) -> int:
    """The ensemble size a command line asks for (1: no ensembles)."""
    if args.ensemble_size < 1:
        raise ValueError(f"--ensemble-size must be >= 1, got {args.ensemble_size}")
    return 1 if args.no_ensemble else args.ensemble_size


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
    return GridSpec(preset=args.preset or spec.preset, task=args.task or spec.task,
                    fixed=tuple(fixed.items()), grid=tuple(grid.items()))


def run(args: argparse.Namespace) -> int:
    from bipe.experiments.sweep import expand_grid, run_sweep

    size = ensemble_size(args)
    points = expand_grid(spec_from_args(args))
    if args.dry_run:
        for name, config, _ in points:
            print(f"{name}: task {config.task}, pe {config.model.pe}")
        return 0
    rows = run_sweep([c for _, c, _ in points], args.out, jobs=args.jobs,
                     progress=args.jobs == 1 and sys.stderr.isatty(), ensemble_size=size)
    failed = [r for r in rows if r["status"] == "failed"]
    print(f"{args.out}: {len(rows) - len(failed)} of {len(rows)} runs done "
          f"(index: {args.out}/index.json)")
    for row in failed:
        print(f"failed {row['name']}: {row.get('error', '')}", file=sys.stderr)
    return 1 if failed else 0
