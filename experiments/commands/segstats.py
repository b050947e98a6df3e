"""``bipe segstats``: tokens per segment and segments per sequence of corpora."""

from __future__ import annotations

import argparse

HELP = "segment-length statistics (tokens per segment, segments per sequence) of corpora"
EXAMPLE = ("bipe segstats /usr/lib/python3.12 --glob '*.py' --sep '\\n' --unit word "
           "--lengths 256,1024,4096 --out segstats-stdlib")


def _lengths(text: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        msg = f"--lengths must be integers like 256,1024: {text!r}"
        raise argparse.ArgumentTypeError(msg) from None
    if not values or min(values) <= 0:
        raise argparse.ArgumentTypeError(f"--lengths must be positive integers: {text!r}")
    return values


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE",
                        help="bipe dataset folders, text files, or folders of text files")
    parser.add_argument("--sep", action="append", default=[], metavar="SEP",
                        help="separator (repeatable): a string for text (escapes like \\n "
                             "decoded; default newline), a token id for datasets (default: "
                             "the dataset's seg column or meta separators)")
    parser.add_argument("--unit", choices=("word", "char"), default="word",
                        help="text tokens: whitespace-separated words or characters")
    parser.add_argument("--lengths", type=_lengths, default=[256, 1024, 4096],
                        help="comma-separated sequence lengths for segments per sequence")
    parser.add_argument("--glob", default="*", help="file pattern inside folders of text")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")


def run(args: argparse.Namespace) -> int:
    from bipe.analysis.segstats import write_segstats

    path = write_segstats(args.files, args.out, separators=args.sep, unit=args.unit,
                          lengths=args.lengths, glob=args.glob)
    print(path.read_text().split("\n![")[0].rstrip())
    print(f"\nwrote {path} (and segstats.json, PNGs)")
    return 0
