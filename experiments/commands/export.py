"""``bipe export feng DIR --out PATH``: bipe split datasets back to the reference layout.

``DIR`` holds split datasets as ``bipe import feng`` writes them (``chain_train`` in format
``feng``, the others ``direct``); each present split becomes its reference file(s), byte for
byte what the reference generator writes. Every record is verified first.
"""

from __future__ import annotations

import argparse

HELP = "export a bipe dataset to a reference format"
EXAMPLE = "bipe export feng data/feng --out Data/"
TARGETS = ("feng",)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``bipe export``."""
    parser.add_argument("target", choices=TARGETS, help="the reference format (feng)")
    parser.add_argument("dir", help="folder of split datasets (chain_train, chain_test, ...)")
    parser.add_argument("--out", required=True, help="the reference folder to write")
    parser.add_argument("--force", action="store_true", help="replace an existing --out")


def run(args: argparse.Namespace) -> int:
    """Export; prints one summary line."""
    from bipe.synthetic.feng import export_feng

    counts = export_feng(args.dir, args.out, overwrite=args.force)
    listing = ", ".join(f"{split} {n}" for split, n in counts.items())
    print(f"exported {listing} to {args.out}")
    return 0
