"""``bipe eval RUN [--lengths ...]``: evaluate a trained run across lengths (RUN/eval.json)."""

from __future__ import annotations

import argparse
import sys

HELP = "evaluate a run across lengths; writes RUN/eval.json"
EXAMPLE = (
    "bipe eval runs/tiny-bipe --lengths 1,2,4,8; "
    "bipe eval runs/tiny-bipe --set segment_eval.drop=0.2 --out runs/tiny-bipe-drop0.2"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN", help="a run folder written by bipe train")
    parser.add_argument(
        "--lengths",
        default=None,
        metavar="K1,K2,...",
        help="length settings (operators or segments); default: the run's",
    )
    parser.add_argument(
        "--n", type=int, default=None, help="examples per length (default: the run's data.n_eval)"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="evaluation-only override (segment_eval.*, eval_positions, data.eval_lengths, "
        "data.n_eval); repeatable; needs --out",
    )
    parser.add_argument(
        "--out",
        default=None,
        metavar="DIR",
        help="write config.json and eval.json here instead of RUN/eval.json",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def parse_lengths(text: str | None) -> tuple[int, ...] | None:
    """``"1,2,4"`` -> (1, 2, 4); ``LO:HI`` ranges allowed (``1:8``)."""
    if text is None:
        return None
    out: list[int] = []
    for part in text.replace(" ", ",").split(","):
        if not part:
            continue
        try:
            if ":" in part:
                lo, hi = (int(x) for x in part.split(":"))
                out.extend(range(lo, hi + 1))
            else:
                out.append(int(part))
        except ValueError:
            raise ValueError(f"--lengths: {part!r} is not an int or LO:HI range") from None
    if not out or min(out) < 0:
        raise ValueError(f"--lengths must list non-negative ints, got {text!r}")
    return tuple(out)


def run(args: argparse.Namespace) -> int:
    from bipe.experiments.evaluate import evaluate_run, metric_columns

    if args.n is not None and args.n < 1:
        raise ValueError(f"--n must be >= 1, got {args.n}")
    overrides = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set {item!r} must look like KEY=VALUE")
        overrides[key.strip()] = value.strip()
    result = evaluate_run(
        args.run_dir,
        lengths=parse_lengths(args.lengths),
        n=args.n,
        progress=not args.no_progress and sys.stderr.isatty(),
        overrides=overrides,
        out=args.out,
    )
    names = metric_columns(result["per_length"])

    def cell(value) -> str:  # a metric undefined at a length (null) prints as "-"
        return f"{value:>16.3f}" if isinstance(value, (int, float)) else f"{'-':>16}"

    print(f"{'length':>6} {'n':>6} " + " ".join(f"{k:>16}" for k in names))
    for row in result["per_length"]:
        print(f"{row['length']:>6} {row['n']:>6} " + " ".join(cell(row.get(k)) for k in names))
    print(f"wrote {args.out or args.run_dir}/eval.json")
    return 0
