"""``bipe gen KIND``: generate a dataset folder (``data.jsonl`` or ``data.npz`` + ``meta.json``).

Kinds are the dataset generators of the registered data families
(:mod:`bipe.synthetic.families`): ``binfa`` (Bi-NFA sequences), ``nfa`` (words of the flattened
Bi-NFA, for baselines) and ``binfa3`` (3-level sequences) of the automaton family, ``arith``
(chain-of-thought arithmetic) of the arithmetic family, ``ruler:TASK`` (RULER evaluation sets,
:mod:`bipe.synthetic.text.ruler_data`) of the text family, ``chomsky:TASK`` (the 15 tasks of the
Chomsky-hierarchy suite, :mod:`bipe.synthetic.chomsky`, records ``input``/``output``/``length``;
``--data.lengths`` sets the input-length law) of the chomsky family. The family's registered
``generate_dataset(config, seed, **options)`` draws the records (see
:mod:`bipe.synthetic.sequences` and :mod:`bipe.synthetic.arith_data` for the sampling rules and
record fields).

Settings follow ``bipe train``'s convention: ``--data.FIELD VALUE`` for each field of the
family's config dataclass that shapes a dataset (``--data.n_symbols 3``, ``--data.segments
uniform:4:8``, ``--data.n_train 10000`` examples), parsed by the field's type with the same code
(:func:`bipe.experiments.config.parse_value`), so the same settings describe the same data as
``bipe train --task binfa_lm --data.n_symbols 3 ...``: with ``--seed S`` and ``--data_seed S``,
exactly that run's training set (docs/method.md#bi-nfa). Defaults are the family's, except
``data.n_train`` (1000 here) and arith's ``data.operators`` (``fixed:3``). Options of the
dataset only: ``--seed``,
``--out``, ``--force``; sequence kinds: ``--automaton``, ``--deterministic``, ``--sub-segments``
(binfa3), ``--length`` (nfa), ``--format jsonl|npz``, ``--no-progress``; arith:
:mod:`bipe.experiments.commands.gen_arith`.

Same options, same seed: same bytes. Every setting is checked before anything is drawn; a bad
option, a malformed length spec or an impossible setting is one line on stderr, exit status 2,
and nothing is written (the folder appears only when complete).

Example::

    bipe gen binfa --data.n_train 10000 --data.segments uniform:4:8 --out data/tr
    bipe gen binfa --automaton data/tr/meta.json --data.segments uniform:16:32 --out data/te
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from pathlib import Path
from typing import Any

HELP = "generate a dataset (binfa, nfa, binfa3, arith, ruler:TASK, chomsky:TASK)"
EXAMPLE = (
    "bipe gen binfa --data.n_train 10000 --seed 0 --data.segments uniform:4:8 "
    "--data.segment_length uniform:1:6 --out data/binfa"
)

_KIND_HELP = {
    "binfa": "Bi-NFA sequences: segments of random types, each closed by a separator",
    "nfa": "words of the flattened Bi-NFA (same language, no segment structure used)",
    "binfa3": "3-level sequences: sentences ('#') in paragraphs ('$')",
    "arith": "chain-of-thought arithmetic over Z_p (formats feng, direct, steps)",
    "ruler:niah_single": "RULER niah_single (the passkey): prompts and answers per length, depth",
    "ruler:niah_multikey": "RULER niah_multikey: data.needles keys, one asked",
    "ruler:niah_multivalue": "RULER niah_multivalue: one key with data.values values",
    "ruler:niah_multiquery": "RULER niah_multiquery: data.queries of data.needles keys asked",
    "ruler:variable_tracking": "RULER variable tracking: data.chains chains of data.hops hops",
    "ruler:common_words": "RULER common-words extraction: the most frequent words of a list",
}
# a RULER kind's example: its counts at a 256-byte context (bipe gen ruler:TASK ...)
_RULER_EXAMPLE = {
    "niah_single": "",
    "niah_multikey": "--data.needles 4 ",
    "niah_multivalue": "--data.values 4 ",
    "niah_multiquery": "--data.needles 4 --data.queries 2 ",
    "variable_tracking": "--data.hops 2 --data.chains 2 ",
    "common_words": "--data.common_words 2 --data.freq_cw 4 ",
}
_KIND_EXAMPLE = {
    "binfa": EXAMPLE,
    "nfa": "bipe gen nfa --automaton data/binfa/meta.json --length uniform:16:64 --out data/flat",
    "binfa3": (
        "bipe gen binfa3 --data.segments uniform:2:4 --sub-segments uniform:2:4 "
        "--data.segment_length uniform:1:6 --out data/three"
    ),
    "arith": (
        "bipe gen arith --data.fmt feng --data.operators fixed:15 --under "
        "--data.n_train 100000 --out data/arith15"
    ),
    **{
        f"ruler:{t}": f"bipe gen ruler:{t} {counts}--data.context 256 --data.n_eval 50 --out "
        f"data/{t}"
        for t, counts in _RULER_EXAMPLE.items()
    },
}
# bipe gen's defaults where they differ from the family config's (kept from earlier versions)
_GEN_DEFAULTS: dict[str, dict[str, Any]] = {
    "chomsky": {"n_train": 1000},
    "automaton": {"n_train": 1000},
    "arithmetic": {"n_train": 1000, "operators": "fixed:3"},
}
# fields fixed by a loaded automaton (--automaton refuses them)
_STRUCTURE = (
    "n_symbols",
    "n_types",
    "inner_states",
    "outer_states",
    "out_degree",
    "eval_lengths",
    "eval_segment_length",
)


def _data_arguments(parser: argparse.ArgumentParser, family: Any) -> None:
    """``--data.FIELD`` for the family's dataset fields (bipe train's derivation)."""
    from bipe.experiments.commands.train import add_override_arguments
    from bipe.experiments.config import valid_keys

    defaults = {f.name: f.default for f in dataclasses.fields(family.config)}
    defaults.update(_GEN_DEFAULTS.get(family.name, {}))
    keys = [
        k for k in valid_keys(family.config, "data") if k.split(".", 1)[1] in family.dataset_keys
    ]
    helps = {k: f"default {defaults[k.split('.', 1)[1]]!r}" for k in keys}
    add_override_arguments(
        parser,
        keys,
        helps=helps,
        title=(f"dataset settings: the {family.name} family config's fields (as in bipe train)"),
    )


def _sequence_arguments(parser: argparse.ArgumentParser, kind: str) -> None:
    """The automaton family's dataset-only options."""
    from bipe.synthetic.sequence_data import DATASET_KINDS
    from bipe.synthetic.sequences import SequenceConfig

    d = SequenceConfig()
    add = parser.add_argument
    add(
        "--automaton",
        metavar="FILE",
        help="reuse a saved Bi-NFA: a dataset's meta.json (or "
        "folder) or a bare automaton JSON; the automaton settings are then not allowed",
    )
    add(
        "--deterministic",
        action="store_true",
        default=None,
        help="deterministic inner and outer automata",
    )
    shape = DATASET_KINDS[kind]
    if "sub_segments" in shape.laws:
        add(
            "--sub-segments",
            metavar="SPEC",
            default=d.sub_segments,
            help=f"sentences per paragraph (default {d.sub_segments}; data.segments counts "
            f"paragraphs)",
        )
    if shape.flat:
        add(
            "--length",
            metavar="SPEC",
            default=d.length,
            help=f"tokens per sequence (default {d.length})",
        )
    add(
        "--format",
        dest="file_format",
        choices=("jsonl", "npz"),
        default="jsonl",
        help="data file format",
    )
    add("--no-progress", action="store_true", help="never show a progress bar")


@dataclasses.dataclass(frozen=True)
class FamilyCommand:
    """A family's part of ``bipe gen``: its dataset-only options, how they become
    ``generate_dataset`` options, and the summary line of a written dataset."""

    add_arguments: Any  # (parser, kind) -> None
    options: Any  # (args, config, flags) -> (config, options)
    summary: Any  # (meta, out) -> str


def _command(family_name: str) -> FamilyCommand:
    """The ``bipe gen`` part of a registered family (one table, by family name)."""
    from bipe.experiments.commands import gen_arith

    return {
        "automaton": FamilyCommand(
            add_arguments=_sequence_arguments, options=_sequence_options, summary=_sequence_summary
        ),
        "arithmetic": FamilyCommand(
            add_arguments=gen_arith.add_arguments,
            options=gen_arith.options,
            summary=gen_arith.summary,
        ),
        "text": FamilyCommand(
            add_arguments=lambda parser, kind: None,
            options=lambda args, data, flags: (data, {"kind": args.kind}),
            summary=_ruler_summary,
        ),
        "chomsky": FamilyCommand(
            add_arguments=lambda parser, kind: None,
            options=lambda args, data, flags: (data, {"task": args.kind.split(":", 1)[1]}),
            summary=_chomsky_summary,
        ),
    }[family_name]


def _ruler_summary(meta: dict[str, Any], out: Path) -> str:
    import json

    written = json.loads((out / "meta.json").read_text())
    config = meta["config"]
    lengths = ", ".join(map(str, config["eval_lengths"])) or f"1-16x {config['context']}"
    return f"wrote {written['n_records']} {meta['generator']} examples (lengths {lengths}) to {out}"


def _chomsky_example(kind: str) -> str:
    return (
        f"bipe gen {kind} --data.n_train 1000 --data.lengths uniform:41:500 --out data/{kind[8:]}"
    )


def _chomsky_summary(meta: dict[str, Any], out: Path) -> str:
    config = meta["config"]
    return (
        f"wrote {config['n']} {meta['generator']} records (lengths {config['lengths']}, "
        f"input ids 0..{meta['input_size'] - 1}, output ids 0..{meta['output_size'] - 1}) to {out}"
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One sub-parser per generator of every family that writes datasets."""
    from bipe.synthetic.families import FAMILIES

    kinds = parser.add_subparsers(
        dest="kind",
        metavar="KIND",
        required=True,
        help=", ".join(k for f in FAMILIES.values() for k in f.generators),
    )
    for family in FAMILIES.values():
        for kind in family.generators:
            text = _KIND_HELP.get(kind, f"{family.name} task {kind.split(':')[-1]}")
            sub = kinds.add_parser(
                kind,
                help=text,
                description=text,
                formatter_class=argparse.RawDescriptionHelpFormatter,
                epilog=f"example:\n  {_KIND_EXAMPLE.get(kind, _chomsky_example(kind))}",
            )
            sub.add_argument("--out", required=True, help="output dataset folder")
            sub.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
            sub.add_argument("--force", action="store_true", help="replace an existing --out")
            _data_arguments(sub, family)
            _command(family.name).add_arguments(sub, kind)
    _name_unknown_data_keys(parser, FAMILIES)


def _name_unknown_data_keys(parser: argparse.ArgumentParser, families: dict) -> None:
    """Report an unknown ``--data.KEY`` (argparse reports it on the top parser) as an unknown
    config key, with the keys each family takes."""
    original = parser.error

    def error(message: str) -> None:
        if "unrecognized arguments" in message:
            unknown = next(
                (a for a in message.split(":", 1)[1].split() if a.startswith("--data.")), None
            )
            if unknown is not None:
                valid = "; ".join(
                    f"{'/'.join(f.generators)}: {', '.join('data.' + k for k in f.dataset_keys)}"
                    for f in families.values()
                    if f.generators
                )
                raise ValueError(
                    f"unknown config key {unknown[2:]!r} for bipe gen; the dataset "
                    f"settings per kind: {valid}"
                )
        original(message)

    parser.error = error  # type: ignore[method-assign]


def _given(args: argparse.Namespace, family: Any) -> dict[str, tuple[str, str]]:
    """``{field: (flag as typed, text)}`` from the ``--data.*`` options."""
    from bipe.experiments.commands.train import collect_overrides

    given = {
        key.split(".", 1)[1]: (f"--{key}", text) for key, text in collect_overrides(args).items()
    }
    return given


def family_config(args: argparse.Namespace, family: Any) -> tuple[Any, dict[str, str]]:
    """The family config the command line describes, and the flag that set each field."""
    from bipe.experiments.config import parse_value

    given = _given(args, family)
    hints = typing.get_type_hints(family.config)
    values = {
        name: parse_value(hints[name], text, f"data.{name}") for name, (_, text) in given.items()
    }
    if "n_train" in values and values["n_train"] < 1:
        raise ValueError(f"{given['n_train'][0]} must be at least 1, got {values['n_train']}")
    config = family.config(**{**_GEN_DEFAULTS.get(family.name, {}), **values})
    return config, {name: flag for name, (flag, _) in given.items()}


def _sequence_options(
    args: argparse.Namespace, data: Any, flags: dict[str, str]
) -> tuple[Any, dict[str, Any]]:
    """The automaton family's ``generate_dataset`` options (and ``data`` with the structure of
    a loaded automaton)."""
    from bipe.synthetic.sequences import load_automaton

    options: dict[str, Any] = {"kind": args.kind, "progress": not args.no_progress}
    options.update(
        {name: getattr(args, name) for name in ("sub_segments", "length") if hasattr(args, name)}
    )
    if args.automaton is None:
        if args.deterministic:
            options["deterministic"] = True
        return data, options
    fixed = [flags[name] for name in _STRUCTURE if name in flags]
    fixed += ["--deterministic"] if args.deterministic else []
    if fixed:
        raise ValueError(
            f"{', '.join(fixed)} cannot be combined with --automaton (the "
            f"automaton fixes its structure)"
        )
    if not Path(args.automaton).exists():
        raise ValueError(f"--automaton {args.automaton}: no such file")
    automaton = load_automaton(args.automaton)
    data = dataclasses.replace(
        data,
        n_symbols=automaton.n_symbols,
        n_types=automaton.n_types,
        outer_states=automaton.outer.n_states,
    )
    options.update(automaton=automaton, automaton_file=args.automaton)
    return data, options


def _sequence_summary(meta: dict[str, Any], out: Path) -> str:
    config = meta["config"]
    return (
        f"wrote {config['n']} {config['kind']} sequences ({meta['levels']} levels, "
        f"vocabulary {len(meta['vocab'])}) to {out}"
    )


def run(args: argparse.Namespace) -> int:
    """Generate and write one dataset; prints one summary line."""
    from bipe.synthetic.dataset import write_dataset
    from bipe.synthetic.families import generator_family

    family = generator_family(args.kind)
    data, flags = family_config(args, family)
    out = Path(args.out)
    if out.exists() and not args.force:
        raise ValueError(f"{out} already exists; use --force to replace it")
    if args.seed < 0:
        raise ValueError(f"--seed must be a non-negative int, got {args.seed}")
    command = _command(family.name)
    data, options = command.options(args, data, flags)
    records, meta = family.generate_dataset(data, args.seed, **options)
    write_dataset(
        out, records, meta, fmt=getattr(args, "file_format", "jsonl"), overwrite=args.force
    )
    print(command.summary(meta, out))
    return 0
