"""``bipe gen arith``: chain-of-thought arithmetic datasets over Z_p (Feng et al.).

``bipe gen`` delegates ``bipe gen arith ...`` here (``add_arguments`` / ``run``). Formats,
token ids and the record fields are documented in :mod:`bipe.synthetic.arithmetic`.

Choices: ``--under`` follows the reference exactly (quotas ``floor(n k / sum(1..L))`` of k-operator
chains, the rest L-operator chains; order shuffled), which is ``linear:1:L`` in distribution;
``--operators linear:1:L`` draws counts independently instead. Deduplication (on by default, as
in the reference, which keeps its chains in a set) drops repeated texts; ``--exclude DIR``
drops chains whose question occurs in the dataset(s) under DIR, so a test set can be made
disjoint from a training set by question (stricter than the reference, which compares whole
chains). Dropped draws are replaced, so the output always holds ``--n`` records.
``--workers K`` generates chunks in K processes; every chunk has its own seed stream, so the
data are byte-identical for any K.

A reference-style train/test pair::

    bipe gen arith --operators 15 --under --n 1000000 --out data/a15/chain_train
    bipe gen arith --operators 15 --format direct --n 100000 --seed 1 \
        --exclude data/a15/chain_train --out data/a15/chain_test
    bipe verify data/a15 && bipe export feng data/a15 --out Data/   # the reference's files
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

HELP = "chain-of-thought arithmetic over Z_p (formats feng, direct, steps)"
EXAMPLE = "bipe gen arith --format feng --operators 15 --under --n 100000 --out data/arith15"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``bipe gen arith``."""
    parser.add_argument("--format", default="feng", help="feng (reference chain), direct "
                        "(question = answer) or steps (bounded segments); default feng")
    parser.add_argument("--operators", default="3", help="operators per chain: an integer L or "
                        "a length spec such as uniform:1:6 (default 3)")
    parser.add_argument("--under", action="store_true", help="the reference's --under: counts "
                        "1..L weighted by k (needs a fixed L)")
    parser.add_argument("--modulus", type=int, default=11, help="a prime p (default 11)")
    parser.add_argument("--n", type=int, default=1000, help="number of chains (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--dedup", action=argparse.BooleanOptionalAction, default=True,
                        help="drop repeated chains (default on, as in the reference)")
    parser.add_argument("--exclude", action="append", default=[], metavar="DIR",
                        help="drop chains whose question is in the dataset(s) under DIR")
    parser.add_argument("--workers", type=int, default=1, help="processes generating chunks "
                        "(default 1; the output does not depend on it)")
    parser.add_argument("--out", required=True, help="output dataset folder")
    parser.add_argument("--force", action="store_true", help="replace an existing --out")


def dataset_dirs(path: str | Path) -> list[Path]:
    """A dataset folder itself, or the dataset folders directly inside ``path``."""
    path = Path(path)
    if (path / "meta.json").is_file():
        return [path]
    children = sorted(path.iterdir()) if path.is_dir() else []
    found = [p for p in children if (p / "meta.json").is_file()]
    if not found:
        raise ValueError(f"{path} is not a bipe dataset nor a folder of datasets")
    return found


def excluded_questions(paths: list[str], modulus: int) -> set[str]:
    """The questions of every arithmetic dataset under ``paths``."""
    from bipe.synthetic.arithmetic import question_of
    from bipe.synthetic.dataset import load_dataset

    questions: set[str] = set()
    for path in paths:
        for folder in dataset_dirs(path):
            ds = load_dataset(folder)
            if ds.meta.get("generator") != "arith" or ds.meta.get("modulus") != modulus:
                raise ValueError(f"--exclude {folder}: not an arithmetic dataset mod {modulus}")
            questions.update(question_of(t) for t in ds.column("text"))
    return questions


def _as_arrays(record: dict) -> dict:
    """The list fields as int64 arrays: write_dataset serialises those in C (about 10x faster
    than walking Python lists element by element); the file is the same."""
    return {k: np.asarray(v, dtype=np.int64) if isinstance(v, list) else v
            for k, v in record.items()}


def run(args: argparse.Namespace) -> int:
    """Generate and write the dataset; prints one summary line."""
    from bipe.synthetic.arith_data import check_request
    from bipe.synthetic.arithmetic import (
        FORMATS,
        SEPARATORS,
        check_modulus,
        iter_arithmetic,
        operator_dist,
        vocab,
    )
    from bipe.synthetic.dataset import write_dataset

    modulus = check_modulus(args.modulus)
    if args.format not in FORMATS:
        raise ValueError(f"unknown format {args.format!r}; known: {', '.join(FORMATS)}")
    dist = operator_dist(args.operators)
    if args.under and dist.lo != dist.hi:
        raise ValueError(f"--under needs a fixed operator count L, got --operators {dist}")
    if args.workers < 1:
        raise ValueError(f"--workers must be at least 1, got {args.workers}")
    if args.n < 1:
        raise ValueError(f"--n must be at least 1, got {args.n}")
    check_request(args.n, dist, args.format, "bipe gen arith")
    out = Path(args.out)
    if out.exists() and not args.force:
        raise ValueError(f"{out} already exists; use --force to replace it")
    exclude = excluded_questions(args.exclude, modulus)
    config = {
        "format": args.format, "operators": str(dist), "under": args.under, "modulus": modulus,
        "n": args.n, "seed": args.seed, "dedup": args.dedup,
        "exclude": [str(Path(p).resolve()) for p in args.exclude],
    }
    meta = {
        "generator": "arith", "arith_format": args.format, "modulus": modulus,
        "vocab": list(vocab(modulus)), "separators": list(SEPARATORS), "config": config,
        "seed": args.seed,
    }
    rng = np.random.default_rng(np.random.SeedSequence(args.seed))
    records = iter_arithmetic(
        rng, args.n, operators=dist, modulus=modulus, fmt=args.format, under=args.under,
        dedup=args.dedup, exclude=exclude, workers=args.workers,
    )
    write_dataset(out, map(_as_arrays, records), meta, overwrite=args.force)
    under = " (--under)" if args.under else ""
    print(f"wrote {args.n} {args.format} chains, operators {dist}{under}, mod {modulus} to {out}")
    return 0
