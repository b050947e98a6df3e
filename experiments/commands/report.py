"""``bipe report``: report.md, report.html and PNGs from run or sweep folders."""

from __future__ import annotations

import argparse

HELP = "report.md, report.html and PNG plots from run folders or sweep folders"
EXAMPLE = "bipe report runs/sweep1 runs/extra-run --out reports/sweep1"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "runs", nargs="+", metavar="RUN_OR_SWEEP", help="run folders, or folders containing runs"
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    parser.add_argument("--title", default="bipe report", help="report title")
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap intervals")
    parser.add_argument(
        "--attention",
        default=None,
        metavar="DATASET",
        help="add attention diagnostics of runs with a model.pt, on this bipe "
        "dataset's tokens (e.g. from 'bipe gen')",
    )
    parser.add_argument(
        "--attention-records",
        type=int,
        default=32,
        metavar="N",
        help="records of the dataset to use (default 32)",
    )


def run(args: argparse.Namespace) -> int:
    from bipe.analysis.report import write_report

    path = write_report(
        args.runs,
        args.out,
        title=args.title,
        seed=args.seed,
        attention_data=args.attention,
        attention_records=args.attention_records,
    )
    print(f"wrote {path} (and report.html, PNGs) in {path.parent}")
    return 0
