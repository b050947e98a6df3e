"""``bipe export-hf RUN --out DIR``: a trained run as a self-contained Hugging Face folder.

``DIR`` gets the model's own code (loading needs only torch and transformers, with
``trust_remote_code=True``), ``config.json``, ``model.safetensors``,
``generation_config.json``, the tokenizer, a model card and the run's files (``bipe_run/``);
see ``docs/hf.md``. Nothing is written unless all of it is.
"""

from __future__ import annotations

import argparse

HELP = "export a trained run as a Hugging Face model folder"
EXAMPLE = "bipe export-hf runs/arith --out hf/arith"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``bipe export-hf``."""
    parser.add_argument("run", help="the run folder (with model.pt)")
    parser.add_argument("--out", required=True, help="the Hugging Face folder to write (new)")


def run(args: argparse.Namespace) -> int:
    """Export; prints one summary line."""
    from bipe.experiments.hf import export_run

    out = export_run(args.run, args.out)
    print(f"exported {args.run} to {out} (load with trust_remote_code=True)")
    return 0
