"""``bipe import-hf DIR --out RUN``: a folder written by ``bipe export-hf`` back as a run.

``RUN/model.pt`` gets the exact weights and config; the run's files saved in the export
(``bipe_run/``: config.json, eval.json, ...) are restored beside it. ``--model-only`` writes
``model.pt`` alone (an export re-saved elsewhere may have lost ``bipe_run/``).
"""

from __future__ import annotations

import argparse

HELP = "import a bipe Hugging Face export back into a run folder"
EXAMPLE = "bipe import-hf hf/arith --out runs/arith_back"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``bipe import-hf``."""
    parser.add_argument("dir", help="the Hugging Face folder (written by bipe export-hf)")
    parser.add_argument("--out", required=True, help="the run folder to write (new)")
    parser.add_argument(
        "--model-only", action="store_true", help="write model.pt alone (no run config needed)"
    )


def run(args: argparse.Namespace) -> int:
    """Import; prints one summary line."""
    from bipe.experiments.hf import import_run

    out = import_run(args.dir, args.out, model_only=args.model_only)
    print(f"imported {args.dir} into {out}")
    return 0
