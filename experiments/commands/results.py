"""``bipe results``: docs/results.md and its figures from committed study folders."""

from __future__ import annotations

import argparse

HELP = "results.md from study folders (study.toml + runs), with paired intervals"
EXAMPLE = "bipe results studies/ --out docs/results.md --readme README.md"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "studies",
        nargs="+",
        metavar="STUDY",
        help="study folders (each with a study.toml and its run folders), or folders in which "
        "every study.toml below is found and ordered by its `order` key",
    )
    parser.add_argument(
        "--out",
        required=True,
        metavar="FILE.md",
        help="output Markdown file; figures go into a folder of the same name",
    )
    parser.add_argument(
        "--readme",
        metavar="FILE.md",
        help="also rewrite the headline-findings block of FILE.md (between "
        "<!-- findings:start --> and <!-- findings:end -->)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap intervals")


def run(args: argparse.Namespace) -> int:
    from bipe.analysis.results import write_results

    path = write_results(args.studies, args.out, seed=args.seed, readme=args.readme)
    print(f"wrote {path} (figures in {path.with_suffix('')})")
    if args.readme:
        print(f"wrote the findings block of {args.readme}")
    return 0
