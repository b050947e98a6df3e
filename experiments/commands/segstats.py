"""``bipe segstats``: tokens per segment and segments per sequence of corpora."""

from __future__ import annotations

import argparse

HELP = "segment-length statistics (tokens per segment, segments per sequence) of corpora"
EXAMPLE = (
    "bipe segstats /usr/lib/python3.12 --glob '*.py' --sep '\\n' --unit word "
    "--lengths 256,1024,4096 --method separator --method fixed:8 --method entropy "
    "--out segstats-stdlib"
)


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
    parser.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="bipe dataset folders, text files, or folders of text files",
    )
    parser.add_argument(
        "--sep",
        action="append",
        default=[],
        metavar="SEP",
        help="separator (repeatable): a string for text (escapes like \\n "
        "decoded; default newline), a token id for datasets (default: "
        "the dataset's seg column or meta separators)",
    )
    parser.add_argument(
        "--unit",
        choices=("word", "char"),
        default="word",
        help="text tokens: whitespace-separated words or characters",
    )
    parser.add_argument(
        "--lengths",
        type=_lengths,
        default=[256, 1024, 4096],
        help="comma-separated sequence lengths for segments per sequence",
    )
    parser.add_argument("--glob", default="*", help="file pattern inside folders of text")
    parser.add_argument(
        "--method",
        action="append",
        default=None,
        metavar="METHOD",
        help="segmentation to measure (repeatable, one row set each): separator "
        "(the corpus's own; default), fixed:K, entropy (an n-gram model "
        "fitted on each source, calibrated to its natural mean segment "
        "length) or entropy:L (calibrated to mean L)",
    )
    parser.add_argument(
        "--entropy-order",
        type=int,
        default=None,
        metavar="N",
        help="n-gram order of entropy methods (default 3)",
    )
    parser.add_argument(
        "--entropy-rule",
        default=None,
        metavar="RULE",
        help="threshold (entropy above it; default) or rise (rise above it)",
    )
    parser.add_argument(
        "--entropy-smoothing",
        type=float,
        default=None,
        metavar="K",
        help="add-k smoothing of the n-gram model (default 0.1)",
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")


def _entropy_knobs(args: argparse.Namespace, methods: list[str]):
    """The entropy knobs given; an error when one is given but no entropy method is."""
    from bipe.analysis.segmethods import EntropyKnobs

    given = {
        k: v
        for k, v in (
            ("order", args.entropy_order),
            ("rule", args.entropy_rule),
            ("smoothing", args.entropy_smoothing),
        )
        if v is not None
    }
    if given and not any(m.partition(":")[0] == "entropy" for m in methods):
        raise ValueError(f"--entropy-{next(iter(given))} is set but no --method entropy is")
    return EntropyKnobs(**given)


def run(args: argparse.Namespace) -> int:
    from bipe.analysis.segstats import write_segstats

    methods = args.method or ["separator"]
    path = write_segstats(
        args.files,
        args.out,
        separators=args.sep,
        unit=args.unit,
        lengths=args.lengths,
        glob=args.glob,
        methods=methods,
        entropy=_entropy_knobs(args, methods),
    )
    print(path.read_text().split("\n![")[0].rstrip())
    print(f"\nwrote {path} (and segstats.json, PNGs)")
    return 0
