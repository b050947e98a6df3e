"""``bipe battery``: measure encodings on a fixed task list against the baselines; scorecard."""

from __future__ import annotations

import argparse
import time

HELP = "measure encodings on the standard task battery against the baselines; a scorecard"
EXAMPLE = "bipe battery --pe my_encoding.py:ENTRY --budget smoke --out battery/mine"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from bipe.experiments.commands.sweep import add_executor_arguments

    parser.add_argument(
        "--pe",
        action="append",
        required=True,
        metavar="ENCODING",
        help="an encoding to measure (a registry name or a plug-in spec); repeatable",
    )
    parser.add_argument(
        "--baselines",
        default="rope,bipe_rope,alibi,bipe_alibi",
        metavar="A,B,...",
        help="encodings to compare against (default rope,bipe_rope,alibi,bipe_alibi)",
    )
    parser.add_argument(
        "--seeds",
        type=int,
        default=None,
        metavar="N",
        help="init seeds 0..N-1 (default: smoke 1, cpu 3, full 10)",
    )
    parser.add_argument(
        "--budget",
        choices=("smoke", "cpu", "full"),
        default="smoke",
        help="smoke: seconds per run (CI); cpu: the committed studies' settings; full: the "
        "same at more seeds, for a GPU or a cluster (default smoke)",
    )
    parser.add_argument(
        "--tasks",
        default=None,
        metavar="A,B,...",
        help="tasks or suites to run: core (segment_count, hierarchy, passkey, text; the "
        "default), chomsky (chomsky_TASK for seven tasks), ruler (ruler_niah_multikey, "
        "ruler_niah_multivalue, ruler_vt_2hops, ruler_vt_4hops), or all",
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="battery folder")
    parser.add_argument(
        "--committed",
        default=None,
        metavar="STUDIES",
        help="folder of committed studies whose baseline runs may be reused (default: the "
        "repository's studies/)",
    )
    parser.add_argument(
        "--no-reuse", action="store_true", help="train every baseline here (reuse nothing)"
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=None,
        help="runs in parallel (local: processes, default 1; submitit: jobs in flight)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="list the runs per task and the committed baseline runs that could be reused "
        "(after verification); train nothing",
    )
    add_executor_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from bipe.analysis.scorecard import write_scorecard
    from bipe.experiments.battery import STUDIES, run_battery
    from bipe.experiments.commands.sweep import executor_from_args

    if args.no_reuse and args.committed:
        raise ValueError("--no-reuse and --committed contradict each other; give one")
    if args.committed and not Path(args.committed).is_dir():
        raise ValueError(f"--committed {args.committed}: no such folder")
    executor, cluster, jobs = executor_from_args(args)
    baselines = [b.strip() for b in args.baselines.split(",") if b.strip()]
    studies = None if args.no_reuse else Path(args.committed) if args.committed else STUDIES
    tasks = None if args.tasks is None else [t.strip() for t in args.tasks.split(",")]
    if args.dry_run:
        return _dry_run(args, baselines, studies, tasks)
    start = time.perf_counter()
    plan = run_battery(
        args.pe,
        args.out,
        baselines=baselines,
        seeds=args.seeds,
        budget=args.budget,
        executor=executor,
        cluster=cluster,
        jobs=jobs,
        studies=studies,
        tasks=tasks,
        progress=not args.no_progress,
    )
    path = write_scorecard(args.out)
    failed = [r for r in plan["runs"] if r["status"] != "done"]
    reused = sum(r["source"].startswith("committed") for r in plan["runs"])
    print(
        f"{args.out}: {len(plan['runs']) - len(failed)} of {len(plan['runs'])} runs done "
        f"({reused} reused from committed studies) in {time.perf_counter() - start:.0f} s; "
        f"wrote {path} (and .html, .json, figures)"
    )
    for row in failed:
        print(f"not done: {row['dir']} (run the same command again to resume)")
    return 1 if failed else 0


def _dry_run(args: argparse.Namespace, baselines, studies, tasks) -> int:
    from bipe.experiments.battery import (
        DEFAULT_SEEDS,
        battery_runs,
        committed_matches,
        select_tasks,
    )

    seeds = DEFAULT_SEEDS[args.budget] if args.seeds is None else args.seeds
    runs = battery_runs(args.pe, baselines, seeds, args.budget, tasks)
    for task in select_tasks(tasks):
        mine = [r for r in runs if r.task is task]
        found = {}
        if studies is not None and args.budget != "smoke":
            found = committed_matches(task, runs, studies)
        print(
            f"{task.name}: {len(mine)} runs; {len(found)} baseline runs have a committed run "
            "of the same config and numerics (reused only if one re-run here reproduces it)"
        )
    return 0
