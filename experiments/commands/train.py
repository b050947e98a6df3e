"""``bipe train``: train a model on a task and write a run folder (see experiments/train.py).

Any config field can be set with a dotted option parsed by the field's type
(``--model.d_model 64``, ``--train.steps 400``, ``--data.operators uniform:1:6``,
``--segment_eval.method fixed:4``, ``--init_seed 3``); an unknown key is an error listing the
valid ones. ``--resume RUN`` continues an interrupted run (Ctrl-C included) to the same result
as an uninterrupted one.
"""

from __future__ import annotations

import argparse
import sys

HELP = "train a model on a task; writes a run folder"
EXAMPLE = "bipe train --task arith --pe bipe_rope --preset tiny --out runs/tiny-bipe"

TOP_KEYS = ("data_seed", "init_seed")  # top-level RunConfig fields settable as --KEY
OWN_KEYS = ("task", "out")  # set by --task / --out


def override_keys() -> list[str]:
    """Every key a dotted option may set (derived model fields excluded)."""
    from bipe.experiments.config import RunConfig, valid_keys
    from bipe.experiments.presets import DERIVED_KEYS

    return [
        k
        for k in valid_keys(RunConfig)
        if k not in DERIVED_KEYS and k not in OWN_KEYS and not k.endswith(".NAME")
    ]


# help texts of override keys whose meaning is not plain from the name and type
OVERRIDE_HELP = {
    "data.separator_rule": "which tokens close a segment, per level (hbipe needs two or more "
    "levels; other encodings get the union): arithmetic equals (default: "
    "'=' < <eos>) or operators (+ - * / < '=' <eos>); text: "
    "docs/method.md#separator-rules",
}


def add_override_arguments(
    parser: argparse.ArgumentParser,
    keys: list[str] | None = None,
    title: str | None = None,
    helps: dict[str, str] | None = None,
) -> None:
    """Register ``--SECTION.FIELD VALUE`` for every key (default: every run config field);
    unknown keys list the valid ones. ``helps`` maps a key to its help text."""
    keys = override_keys() if keys is None else keys
    group = parser.add_argument_group(
        title
        or (
            "config overrides (any field, parsed by its type; model.vocab_size, model.separators "
            "and model.max_intra come from the task and the training data)"
        )
    )
    for key in keys:
        group.add_argument(
            f"--{key}",
            dest=f"override:{key}",
            default=None,
            metavar="VALUE",
            help=(OVERRIDE_HELP if helps is None else helps).get(key),
        )
    _accept_encoding_options(parser)
    original = parser.error

    def error(message: str) -> None:
        if "unrecognized arguments" in message:
            unknown = next(
                (a for a in message.split(":", 1)[1].split() if a.startswith("--")), None
            )
            if unknown is not None:
                raise ValueError(
                    f"unknown config key {unknown[2:]!r}; valid keys: {', '.join(keys)}"
                )
        original(message)

    parser.error = error  # type: ignore[method-assign]


OPTION_FLAG = "--model.opt."


def _accept_encoding_options(parser: argparse.ArgumentParser) -> None:
    """Let ``parser`` take ``--model.opt.NAME VALUE`` (or ``=VALUE``) for any NAME: an option
    of the chosen encoding, checked against its registry entry when the config is built."""
    group = parser.add_argument_group("encoding options")
    group.add_argument(
        "--model.opt.NAME",
        dest="override:model.opt.NAME",
        metavar="VALUE",
        help="an option of the chosen encoding, built-in or plug-in (see 'bipe encodings'); "
        "for a built-in it is the model field of that name (--model.opt.rope_base = "
        "--model.rope_base)",
    )
    original = parser.parse_known_args

    def parse_known_args(args=None, namespace=None):
        words = list(sys.argv[1:] if args is None else args)
        rest, options = [], {}
        i = 0
        while i < len(words):
            word = words[i]
            if word.startswith(OPTION_FLAG) and word != f"{OPTION_FLAG}NAME":
                flag, eq, value = word.partition("=")
                if not eq:
                    if i + 1 >= len(words):
                        raise ValueError(f"{flag} needs a value")
                    value, i = words[i + 1], i + 1
                if not flag[len(OPTION_FLAG) :].isidentifier():
                    raise ValueError(f"{flag}: NAME must be an option name")
                options[f"override:{flag[2:]}"] = value
            else:
                rest.append(word)
            i += 1
        parsed, extra = original(rest, namespace)
        for key, value in options.items():
            setattr(parsed, key, value)
        return parsed, extra

    parser.parse_known_args = parse_known_args  # type: ignore[method-assign]


def collect_overrides(args: argparse.Namespace) -> dict[str, str]:
    """``{dotted key: text}`` of the override options given on the command line."""
    return {
        k.split(":", 1)[1]: v
        for k, v in vars(args).items()
        if k.startswith("override:") and v is not None
    }


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that describe a RunConfig (read by :func:`config_from_args`): ``--task``,
    ``--pe``, ``--preset``, ``--config`` and every dotted ``--SECTION.FIELD`` override."""
    parser.add_argument(
        "--task",
        default=None,
        help="task (arith, arith_direct, binfa_lm, binfa_state, nfa_lm, binfa3_lm, text_lm, "
        "passkey, ruler:niah_single, ruler:niah_multikey, ruler:niah_multivalue, "
        "ruler:niah_multiquery, ruler:variable_tracking, ruler:common_words; default: the "
        "preset's)",
    )
    parser.add_argument(
        "--pe",
        default=None,
        help="positional encoding: a registry name, or a plug-in: FILE.py:NAME, "
        "package.module:NAME or an installed 'bipe.encodings' entry point "
        "(list them with 'bipe encodings'; docs/extending.md)",
    )
    parser.add_argument(
        "--preset",
        default=None,
        help="tiny, demo, paper_arith, cpu_arith or cpu_text (default: tiny)",
    )
    parser.add_argument(
        "--config",
        default=None,
        metavar="FILE",
        help="start from a saved config.json (keys it leaves out come from --preset)",
    )
    add_override_arguments(parser)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)
    parser.add_argument("--out", default=None, metavar="RUN", help="run folder to create")
    parser.add_argument(
        "--resume",
        default=None,
        metavar="RUN",
        help="continue the run in RUN under its own config; with it, only "
        "--train.steps, the log/checkpoint cadence and evaluation "
        "settings may change (anything else is refused)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="with --resume: continue even though the run's plug-in encoding's source "
        "changed since it began (config.json records its sha256)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def config_from_args(args: argparse.Namespace):
    """The RunConfig a ``bipe train``-style command line describes."""
    from bipe.experiments.presets import build_config
    from bipe.experiments.rundir import BOOKKEEPING, read_json

    base = None
    if args.config:
        base = read_json(args.config)
        if not isinstance(base, dict):
            raise ValueError(f"{args.config}: not a config object")
        base = {k: v for k, v in base.items() if k not in BOOKKEEPING}
    return build_config(
        args.preset or "tiny",
        task=args.task,
        pe=args.pe,
        out=getattr(args, "out", None),
        overrides=collect_overrides(args),
        base=base,
    )


def command_line(args: argparse.Namespace) -> list[str]:
    """The command line as given (options in a canonical order), for config.json."""
    words = ["bipe", "train"]
    for name in ("task", "pe", "preset", "config", "out", "resume"):
        if getattr(args, name, None) is not None:
            words += [f"--{name}", str(getattr(args, name))]
    for key, value in collect_overrides(args).items():
        words += [f"--{key}", value]
    return words


def run(args: argparse.Namespace) -> int:
    from bipe.experiments.train import resume, train

    progress = not args.no_progress  # a bar on a terminal, plain lines in a log or pipe
    if args.resume:
        given = [
            f"--{name}"
            for name in ("task", "pe", "preset", "config", "out")
            if getattr(args, name) is not None
        ]
        if given:
            raise ValueError(
                f"{given[0]} cannot be combined with --resume (the run keeps its "
                "own config; only safe --KEY overrides may change)"
            )
        out = resume(
            args.resume,
            progress=progress,
            overrides=collect_overrides(args),
            command=command_line(args),
            force=args.force,
        )
    else:
        if args.force:
            raise ValueError("--force applies only with --resume RUN")
        if not args.out:
            raise ValueError("--out RUN is required (or --resume RUN)")
        config = config_from_args(args)
        out = train(config, command=command_line(args), progress=progress)
    _print_summary(out)
    return 0


def _print_summary(out) -> None:
    from pathlib import Path

    from bipe.experiments.rundir import read_json

    path = Path(out) / "eval.json"
    if not path.exists():
        print(f"trained: {out} (not evaluated; bipe eval {out})")
        return
    result = read_json(path)
    summary = result["summary"]
    parts = [
        f"{name} {metrics.get('accuracy', float('nan')):.3f}"
        for name, metrics in summary.items()
        if metrics
    ]
    print(f"{out}: {result['task']} {result['pe']} accuracy " + ", ".join(parts))
