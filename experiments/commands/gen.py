"""``bipe gen KIND``: generate a dataset folder (``data.jsonl`` or ``data.npz`` + ``meta.json``).

Kinds: ``binfa`` (Bi-NFA sequences), ``nfa`` (words of the flattened Bi-NFA, for baselines),
``binfa3`` (3-level sequences, one position stream per level) and ``arith`` (chain-of-thought
arithmetic, delegated to :mod:`bipe.experiments.commands.gen_arith`). The sequence kinds call
:func:`bipe.synthetic.sequences.generate_dataset`; see :mod:`bipe.synthetic.sequences` for the
sampling rules and record fields.

Same options, same seed: same bytes. Every setting is checked before anything is drawn; a bad
option, a malformed length spec or an impossible setting is one line on stderr, exit status 2,
and nothing is written (the folder appears only when complete).

Example::

    bipe gen binfa --n 10000 --segments uniform:4:8 --segment-length uniform:1:6 --out data/tr
    bipe gen binfa --automaton data/tr/meta.json --segments uniform:16:32 --out data/te
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "generate a dataset (binfa, nfa, binfa3, arith)"
EXAMPLE = ("bipe gen binfa --n 10000 --seed 0 --segments uniform:4:8 "
           "--segment-length uniform:1:6 --out data/binfa")

_KIND_HELP = {
    "binfa": "Bi-NFA sequences: segments of random types, each closed by a separator",
    "nfa": "words of the flattened Bi-NFA (same language, no segment structure used)",
    "binfa3": "3-level sequences: sentences ('#') in paragraphs ('$')",
}
_KIND_EXAMPLE = {
    "binfa": EXAMPLE,
    "nfa": "bipe gen nfa --automaton data/binfa/meta.json --length uniform:16:64 --out data/flat",
    "binfa3": ("bipe gen binfa3 --segments uniform:2:4 --sub-segments uniform:2:4 "
               "--segment-length uniform:1:6 --out data/three"),
}
_STRUCTURE = ("n_symbols", "n_types", "inner_states", "outer_states", "out_degree",
              "deterministic")


def _sequence_arguments(parser: argparse.ArgumentParser, kind: str) -> None:
    from bipe.synthetic.sequences import SequenceConfig

    d = SequenceConfig()
    add = parser.add_argument
    add("--out", required=True, help="output dataset folder")
    add("--n", type=int, default=d.n, help=f"number of sequences (default {d.n})")
    add("--seed", type=int, default=0, help="random seed (default 0)")
    add("--automaton", metavar="FILE", help="reuse a saved Bi-NFA: a dataset's meta.json (or "
        "folder) or a bare automaton JSON; the automaton options below are then not allowed")
    add("--n-symbols", type=int, help=f"symbols A, separators excluded (default {d.n_symbols})")
    add("--n-types", type=int, help=f"segment types K (default {d.n_types}; binfa3: at each "
        "level)" if kind == "binfa3" else f"segment types K (default {d.n_types})")
    add("--inner-states", type=int, help=f"states per type (default {d.inner_states})")
    add("--outer-states", type=int, help=f"outer states (default {d.outer_states})")
    add("--out-degree", type=int, help=f"edges per state (default {d.out_degree})")
    add("--deterministic", action="store_true", default=None,
        help="deterministic inner and outer automata")
    top = "paragraphs per sequence" if kind == "binfa3" else "segments per sequence"
    add("--segments", metavar="SPEC", default=d.segments, help=f"{top} (default {d.segments})")
    if kind == "binfa3":
        add("--sub-segments", metavar="SPEC", default=d.sub_segments,
            help=f"sentences per paragraph (default {d.sub_segments})")
    add("--segment-length", metavar="SPEC", default=d.segment_length,
        help=f"tokens per segment, separator excluded (default {d.segment_length})")
    if kind == "nfa":
        add("--length", metavar="SPEC", default=d.length,
            help=f"tokens per sequence (default {d.length})")
    add("--format", choices=("jsonl", "npz"), default="jsonl", help="data file format")
    add("--force", action="store_true", help="replace an existing --out")
    add("--no-progress", action="store_true", help="never show a progress bar")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One sub-parser per kind; ``arith`` takes the arithmetic helper's options."""
    kinds = parser.add_subparsers(dest="kind", metavar="KIND", required=True,
                                  help="binfa, nfa, binfa3 or arith")
    for kind, text in _KIND_HELP.items():
        sub = kinds.add_parser(kind, help=text, description=text,
                               formatter_class=argparse.RawDescriptionHelpFormatter,
                               epilog=f"example:\n  {_KIND_EXAMPLE[kind]}")
        _sequence_arguments(sub, kind)
    arith = kinds.add_parser("arith", help="chain-of-thought arithmetic over Z_p",
                             description="chain-of-thought arithmetic over Z_p")
    try:
        from bipe.experiments.commands import gen_arith
    except ImportError:
        arith.add_argument("rest", nargs=argparse.REMAINDER)
    else:
        gen_arith.add_arguments(arith)


def config_from_args(args: argparse.Namespace):
    """The :class:`~bipe.synthetic.sequences.SequenceConfig` and loaded automaton (or None)."""
    from bipe.synthetic.sequence_data import check_request
    from bipe.synthetic.sequences import SequenceConfig, load_automaton

    given = {name: getattr(args, name) for name in _STRUCTURE if getattr(args, name) is not None}
    specs = {name: getattr(args, name) for name in ("segments", "segment_length",
                                                     "sub_segments", "length")
             if hasattr(args, name)}
    if args.n < 1:
        raise ValueError(f"--n must be at least 1, got {args.n}")
    automaton = None
    if args.automaton is not None:
        if given:
            flags = ", ".join("--" + name.replace("_", "-") for name in given)
            raise ValueError(f"{flags} cannot be combined with --automaton (the automaton "
                             f"fixes its structure)")
        if not Path(args.automaton).exists():
            raise ValueError(f"--automaton {args.automaton}: no such file")
        automaton = load_automaton(args.automaton)
        given = {"n_symbols": automaton.n_symbols, "n_types": automaton.n_types,
                 "outer_states": automaton.outer.n_states}
    config = SequenceConfig(kind=args.kind, n=args.n, automaton_file=args.automaton,
                            **given, **specs)
    top = config.length if config.kind == "nfa" else config.segments
    length = "fixed:0" if config.kind == "nfa" else config.segment_length
    if config.kind == "binfa3":
        check_request(args.n, config.segments, config.sub_segments, f"bipe gen {args.kind}")
    check_request(args.n, top, length, f"bipe gen {args.kind}")
    return config, automaton


def run(args: argparse.Namespace) -> int:
    """Generate and write one dataset; prints one summary line."""
    if args.kind == "arith":
        try:
            from bipe.experiments.commands import gen_arith
        except ImportError:
            raise ValueError("bipe gen arith is unavailable in this build") from None
        return int(gen_arith.run(args) or 0)
    from bipe.synthetic.dataset import write_dataset
    from bipe.synthetic.sequences import generate_dataset

    out = Path(args.out)
    if out.exists() and not args.force:
        raise ValueError(f"{out} already exists; use --force to replace it")
    if args.seed < 0:
        raise ValueError(f"--seed must be a non-negative int, got {args.seed}")
    config, automaton = config_from_args(args)
    records, meta = generate_dataset(config, args.seed, automaton=automaton,
                                     progress=not args.no_progress)
    write_dataset(out, records, meta, fmt=args.format, overwrite=args.force)
    print(f"wrote {config.n} {config.kind} sequences ({meta['levels']} levels, vocabulary "
          f"{len(meta['vocab'])}) to {out}")
    return 0
