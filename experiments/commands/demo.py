"""``bipe demo``: Bi-NFA data, bipe_alibi vs bipe_rope over eight seeds, evaluation past the
training range, a table with intervals, one sentence of conclusion and a report
(experiments/demo.py). About 5-10 minutes on 2 CPU cores."""

from __future__ import annotations

import argparse
import sys

HELP = "the main job: bipe_alibi vs bipe_rope, 8 seeds, past the training range, with intervals"
EXAMPLE = "bipe demo            # prints the table and conclusion, writes ./bipe-demo/report.md"


def add_arguments(parser: argparse.ArgumentParser) -> None:
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
        help="encodings; the first is compared with each other one (default: bipe_alibi,bipe_rope)",
    )
    parser.add_argument(
        "--seeds",
        type=int,
        default=None,
        metavar="N",
        help="init seeds per encoding (default 8; 3 with --quick)",
    )


def run(args: argparse.Namespace) -> int:
    from bipe.experiments.demo import DEMO_ENCODINGS, run_demo

    if args.jobs < 1:
        raise ValueError(f"--jobs must be >= 1, got {args.jobs}")
    encodings = tuple(p for p in (args.pe or "").split(",") if p) or DEMO_ENCODINGS
    report = run_demo(
        args.out,
        quick=args.quick,
        jobs=args.jobs,
        encodings=encodings,
        seeds=args.seeds,
        progress=sys.stderr.isatty(),
    )
    print(f"report: {report}")
    return 0
