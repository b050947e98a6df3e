"""``bipe gen arith``: chain-of-thought arithmetic datasets over Z_p (Feng et al.).

``bipe gen`` (:mod:`bipe.experiments.commands.gen`) parses the arithmetic family's settings
(``--data.operators``, ``--data.fmt``, ``--data.modulus``, ``--data.n_train``) and calls
:func:`bipe.synthetic.arith_data.generate_dataset`; this module adds the dataset-only options.
Formats, token ids and the record fields are documented in :mod:`bipe.synthetic.arithmetic`.

Choices: ``--under`` follows the reference exactly (quotas ``floor(n k / sum(1..L))`` of k-operator
chains, the rest L-operator chains; order shuffled), which is ``linear:1:L`` in distribution;
``--data.operators linear:1:L`` draws counts independently instead. Deduplication (on by default,
as in the reference, which keeps its chains in a set) drops repeated texts; ``--exclude DIR``
drops chains whose question occurs in the dataset(s) under DIR, so a test set can be made
disjoint from a training set by question (stricter than the reference, which compares whole
chains). Dropped draws are replaced, so the output always holds ``n_train`` records.
``--workers K`` generates chunks in K processes; every chunk has its own seed stream, so the
data are byte-identical for any K.

A reference-style train/test pair::

    bipe gen arith --data.operators fixed:15 --under --data.n_train 1000000 \
        --out data/a15/chain_train
    bipe gen arith --data.operators fixed:15 --data.fmt direct --data.n_train 100000 --seed 1 \
        --exclude data/a15/chain_train --out data/a15/chain_test
    bipe verify data/a15 && bipe export feng data/a15 --out Data/   # the reference's files
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bipe.synthetic.arith_data import excluded_questions
from bipe.synthetic.dataset import dataset_dirs

__all__ = ["add_arguments", "dataset_dirs", "excluded_questions", "options", "summary"]

HELP = "chain-of-thought arithmetic over Z_p (formats feng, direct, steps)"
EXAMPLE = (
    "bipe gen arith --data.fmt feng --data.operators fixed:15 --under "
    "--data.n_train 100000 --out data/arith15"
)


def add_arguments(parser: argparse.ArgumentParser, kind: str = "arith") -> None:
    """The dataset-only options of ``bipe gen arith``."""
    parser.add_argument(
        "--under",
        action="store_true",
        help="the reference's --under: counts 1..L weighted by k (needs a fixed L)",
    )
    parser.add_argument(
        "--dedup",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="drop repeated chains (default on, as in the reference)",
    )
    parser.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="DIR",
        help="drop chains whose question is in the dataset(s) under DIR",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="processes generating chunks (default 1; the output does not depend on it)",
    )


def options(
    args: argparse.Namespace, data: Any, flags: dict[str, str]
) -> tuple[Any, dict[str, Any]]:
    """The options of :func:`bipe.synthetic.arith_data.generate_dataset` (``data`` as is)."""
    return data, {
        "under": args.under,
        "dedup": args.dedup,
        "exclude": list(args.exclude),
        "workers": args.workers,
    }


def summary(meta: dict[str, Any], out: Path) -> str:
    """The line printed after writing a dataset."""
    config = meta["config"]
    under = " (--under)" if config["under"] else ""
    return (
        f"wrote {config['n']} {config['format']} chains, operators {config['operators']}"
        f"{under}, mod {config['modulus']} to {out}"
    )
