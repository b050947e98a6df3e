"""``bipe results``: docs/results.md and its figures from committed study folders."""

from __future__ import annotations

import argparse

HELP = "results.md from study folders (study.toml + runs), with paired intervals"
EXAMPLE = "bipe results studies/segment_count studies/segment_count_slopes --out docs/results.md"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "studies",
        nargs="+",
        metavar="STUDY",
        help="study folders, each with a study.toml and its run folders",
    )
    parser.add_argument(
        "--out",
        required=True,
        metavar="FILE.md",
        help="output Markdown file; figures go into a folder of the same name",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap intervals")


def run(args: argparse.Namespace) -> int:
    from bipe.analysis.results import write_results

    path = write_results(args.studies, args.out, seed=args.seed)
    print(f"wrote {path} (figures in {path.with_suffix('')})")
    return 0
