"""``bipe import feng PATH --out DIR``: a reference arithmetic folder as bipe datasets.

Reads ``chain/train_data.txt``, ``chain/test_data.txt`` + ``chain/test_ans.txt`` and
``decoder/*`` strictly, verifies every line, and writes one dataset per split
(``DIR/chain_train``, ``DIR/chain_test``, ``DIR/decoder_train``, ``DIR/decoder_test``; see
:mod:`bipe.synthetic.feng`). Nothing is written if any line is malformed or invalid.
"""

from __future__ import annotations

import argparse

HELP = "import reference data into bipe format"
EXAMPLE = "bipe import feng Data/ --out data/feng"
SOURCES = ("feng",)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``bipe import``."""
    parser.add_argument("source", choices=SOURCES, help="the reference format (feng)")
    parser.add_argument("path", help="the reference data folder (holding chain/ and decoder/)")
    parser.add_argument("--out", required=True, help="output folder (one dataset per split)")
    parser.add_argument("--modulus", type=int, default=11, help="the prime p (default 11)")
    parser.add_argument("--force", action="store_true", help="replace an existing --out")


def run(args: argparse.Namespace) -> int:
    """Import; prints one summary line."""
    from bipe.synthetic.feng import import_feng

    counts = import_feng(args.path, args.out, modulus=args.modulus, overwrite=args.force)
    listing = ", ".join(f"{split} {n}" for split, n in counts.items())
    print(f"imported {listing} (verified) into {args.out}")
    return 0
