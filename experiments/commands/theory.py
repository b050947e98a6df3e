"""``bipe theory``: state and transition counts of a Bi-NFA and its flattening; hypotheses."""

from __future__ import annotations

import argparse

HELP = "state/transition counts of a Bi-NFA and its flattening, and width-scaling hypotheses"
EXAMPLE = "bipe theory --types 2 --inner 2,4,8 --outer 3 --hypothesis 'n_log_m=n*log(m+1)'"


def _ints(text: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers like 2,4,8: {text!r}") from None
    if not values or min(values) <= 0:
        raise argparse.ArgumentTypeError(f"expected positive integers: {text!r}")
    return values


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--binfa",
        metavar="FILE",
        help="a Bi-NFA JSON file (BiNFA.to_dict) or a dataset folder/meta.json",
    )
    parser.add_argument("--types", type=_ints, default=[2], metavar="K", help="segment types")
    parser.add_argument(
        "--inner",
        type=_ints,
        default=[3],
        metavar="N[,N...]",
        help="inner states per type (a list varies it)",
    )
    parser.add_argument(
        "--outer",
        type=_ints,
        default=[3],
        metavar="M[,M...]",
        help="outer states (a list varies it; equal-length lists pair up)",
    )
    parser.add_argument("--symbols", type=int, default=4, metavar="A", help="symbols")
    parser.add_argument(
        "--inner-degree",
        type=int,
        default=1,
        metavar="d",
        help="inner transitions per (state, symbol)",
    )
    parser.add_argument(
        "--outer-degree",
        type=int,
        default=1,
        metavar="r",
        help="outer transitions per (state, type)",
    )
    parser.add_argument(
        "--accepting", type=int, default=1, metavar="f", help="accepting states per inner NFA"
    )
    parser.add_argument(
        "--hypothesis",
        action="append",
        default=[],
        metavar="NAME=EXPR",
        help="add a width hypothesis in the symbols K n m A d r f (repeatable)",
    )


def _points(args: argparse.Namespace) -> tuple[list[dict], list[float] | None]:
    """Family points and the size axis they vary along (None if nothing varies)."""
    ks, ns, ms = args.types, args.inner, args.outer
    if len(ks) > 1:
        raise ValueError("--types takes one value (vary --inner and/or --outer)")
    if len(ns) > 1 and len(ms) > 1 and len(ns) != len(ms):
        raise ValueError("--inner and --outer lists must have equal length to vary together")
    count = max(len(ns), len(ms))
    pairs = [
        (ns[i] if len(ns) > 1 else ns[0], ms[i] if len(ms) > 1 else ms[0]) for i in range(count)
    ]
    base = {
        "K": ks[0],
        "A": args.symbols,
        "d": args.inner_degree,
        "r": args.outer_degree,
        "f": args.accepting,
    }
    points = [{**base, "n": n_, "m": m_} for n_, m_ in pairs]
    if count < 2:
        return points, None
    sizes = [n_ if len(ns) > 1 else m_ for n_, m_ in pairs]
    return points, sizes


def run(args: argparse.Namespace) -> int:
    from bipe.analysis import theory

    hyps = dict(theory.HYPOTHESES)
    for spec in args.hypothesis:
        name, expr = theory.parse_hypothesis(spec)
        hyps[name] = expr
    if args.binfa:
        print(theory.binfa_report(theory.load_binfa(args.binfa)))
    points, sizes = _points(args)
    if sizes is not None:
        axis = "n (inner states)" if len(args.inner) > 1 else "m (outer states)"
        print(f"size axis: {axis}\n")
    print(theory.family_report(points, sizes, hyps))
    return 0
