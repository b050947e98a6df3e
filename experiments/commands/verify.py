"""``bipe verify DIR``: check every record of a bipe dataset (or of each dataset in DIR).

The record verifier is the one registered for the family of ``meta["generator"]``
(:mod:`bipe.synthetic.families`: :func:`bipe.synthetic.arithmetic.verify_record` for ``arith``,
:func:`bipe.synthetic.sequences.verify_record` for ``binfa``, ``nfa`` and ``binfa3``). Prints
the first failing record and why (exit 2), or one summary line (exit 0). A folder without
``meta.json`` is checked dataset by dataset (e.g. the split folders ``bipe import feng``
writes).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

HELP = "check every record of a bipe dataset"
EXAMPLE = "bipe verify data/arith15"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``bipe verify``."""
    parser.add_argument("dir", help="a dataset folder, or a folder of dataset folders")


def verifier(meta: dict) -> Callable[[dict, dict], str | None]:
    """The record verifier registered for the family of a dataset's generator."""
    from bipe.synthetic.families import FAMILIES, generator_family

    family = generator_family(meta.get("generator"))
    if family is None or family.verify_record is None:
        known = ", ".join(g for f in FAMILIES.values() for g in f.generators)
        raise ValueError(f"no verifier for generator {meta.get('generator')!r}; known: {known}")
    return family.verify_record


def first_problem(path: Path) -> tuple[int, str, dict | None, dict]:
    """``(n_records, reason, record, meta)`` of the first invalid record (reason '' if none)."""
    from bipe.synthetic.dataset import load_dataset

    ds = load_dataset(path)
    check = verifier(ds.meta)
    for i, record in enumerate(ds.records):
        problem = check(record, ds.meta)
        if problem:
            return i, problem, record, ds.meta
    return len(ds), "", None, ds.meta


def _shown(record: dict) -> str:
    if "text" in record:
        return f"text: {record['text']}"
    tokens = record.get("tokens", [])
    more = " ..." if len(tokens) > 60 else ""
    return f"tokens: {' '.join(map(str, tokens[:60]))}{more}"


def run(args: argparse.Namespace) -> int:
    """Verify; exit 0 with one summary line, or 2 after printing the first failure."""
    from bipe.synthetic.dataset import dataset_dirs

    folders = dataset_dirs(args.dir)
    total, generators = 0, set()
    for folder in folders:
        count, problem, record, meta = first_problem(folder)
        if problem:
            print(f"bipe verify: {folder}: record {count} is invalid: {problem}", file=sys.stderr)
            print(f"  {_shown(record)}", file=sys.stderr)
            return 2
        total += count
        generators.add(str(meta.get("generator")))
    names = ", ".join(sorted(generators))
    print(f"ok: all {total} records valid in {len(folders)} dataset(s) under {args.dir} ({names})")
    return 0
