"""``bipe demo``: BiPE against its flat counterpart past the training context, with paired
intervals (experiments/demo.py). At most 10 minutes on 2 CPU cores; ``--task binfa`` is the
Bi-NFA segment-count comparison."""

from __future__ import annotations

import argparse

HELP = "the main job: bipe_rope vs rope on text past the training context, with intervals"
EXAMPLE = "bipe demo            # prints the table and conclusion, writes ./bipe-demo/report.md"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from bipe.experiments.demo import DEMOS

    parser.add_argument(
        "--task",
        default="text",
        choices=sorted(DEMOS),
        help="text (default): bipe_rope vs rope, bits per byte at 1x-8x the training context; "
        "binfa: bipe_alibi vs bipe_rope, Bi-NFA segment-count extrapolation",
    )
    parser.add_argument(
        "--out", default="bipe-demo", metavar="DIR", help="output folder (default: ./bipe-demo)"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a seconds-long smoke version (tiny models; numbers mean nothing)",
    )
    parser.add_argument("--jobs", type=int, default=2, help="runs in parallel (default 2)")
    parser.add_argument(
        "--pe",
        default=None,
        metavar="A,B,...",
        help="encodings; the first is compared with each other one (default: the task's pair)",
    )
    parser.add_argument(
        "--seeds",
        type=int,
        default=None,
        metavar="N",
        help="init seeds per encoding (default: 4 for text, 8 for binfa; 3 with --quick)",
    )


def run(args: argparse.Namespace) -> int:
    from bipe.experiments.demo import run_demo

    if args.jobs < 1:
        raise ValueError(f"--jobs must be >= 1, got {args.jobs}")
    encodings = tuple(p for p in (args.pe or "").split(",") if p) or None
    report = run_demo(
        args.out,
        args.task,
        quick=args.quick,
        jobs=args.jobs,
        encodings=encodings,
        seeds=args.seeds,
    )
    print(f"report: {report}")
    return 0
