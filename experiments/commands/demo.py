"""``bipe demo``: data, small rope/bipe_rope/alibi/bipe_alibi models, evaluation past the
training range, a report with plots (experiments/demo.py). Minutes on 2 CPU cores."""

from __future__ import annotations

import argparse
import sys

HELP = "the main job: data, rope vs bipe_rope, evaluation past the training range, a report"
EXAMPLE = "bipe demo            # writes ./bipe-demo/report.md"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="bipe-demo", metavar="DIR",
                        help="output folder (default: ./bipe-demo)")
    parser.add_argument("--quick", action="store_true",
                        help="a seconds-long smoke version (tiny models; numbers mean nothing)")
    parser.add_argument("--jobs", type=int, default=2, help="runs in parallel (default 2)")
    parser.add_argument("--pe", default=None, metavar="A,B,...",
                        help="encodings to compare (default: rope,bipe_rope,alibi,bipe_alibi)")


def run(args: argparse.Namespace) -> int:
    from bipe.experiments.demo import DEMO_ENCODINGS, run_demo

    encodings = tuple(p for p in (args.pe or "").split(",") if p) or DEMO_ENCODINGS
    report = run_demo(args.out, quick=args.quick, jobs=args.jobs, encodings=encodings,
                      progress=sys.stderr.isatty())
    print(f"report: {report}")
    return 0
