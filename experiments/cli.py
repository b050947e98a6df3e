"""The ``bipe`` command line.

Each sub-command lives in its own module exposing ``HELP`` (one line), ``EXAMPLE`` (a
command a user can paste), ``add_arguments(parser)`` and ``run(args) -> int``. Modules are
imported only when their command runs, so ``bipe --help`` and ``bipe gen`` never import
torch.

Bad input is reported as one line on stderr with exit status 2: library code raises
``ValueError`` (or ``OSError`` for files) with a message naming the problem, and
:func:`main` turns it into ``bipe <command>: error: <message>``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

import bipe

# name -> (module, one-line help). Order is the order ``bipe --help`` lists them in.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": (
        "bipe.experiments.commands.demo",
        "the main job: bipe_rope vs rope on text past the training context, with intervals",
    ),
    "gen": (
        "bipe.experiments.commands.gen",
        "generate a dataset (binfa, nfa, binfa3, arith, ruler:TASK, chomsky:TASK)",
    ),
    "verify": ("bipe.experiments.commands.verify", "check every record of a bipe dataset"),
    "import": ("bipe.experiments.commands.import_", "import reference data into bipe format"),
    "export": ("bipe.experiments.commands.export", "export a bipe dataset to a reference format"),
    "export-hf": (
        "bipe.experiments.commands.export_hf",
        "export a trained run as a Hugging Face model folder",
    ),
    "import-hf": (
        "bipe.experiments.commands.import_hf",
        "import a bipe Hugging Face export back into a run folder",
    ),
    "train": ("bipe.experiments.commands.train", "train a model on a task; writes a run folder"),
    "eval": ("bipe.experiments.commands.evaluate", "evaluate a run across lengths"),
    "sweep": ("bipe.experiments.commands.sweep", "run a grid of training runs"),
    "battery": (
        "bipe.experiments.commands.battery",
        "measure encodings on the standard tasks against the baselines",
    ),
    "study": ("bipe.experiments.commands.study", "parameter-efficiency studies (width search)"),
    "params": ("bipe.experiments.commands.params", "parameter counts per component"),
    "encodings": (
        "bipe.experiments.commands.encodings",
        "the positional encodings (built-in and plug-in) with their options",
    ),
    "theory": ("bipe.experiments.commands.theory", "state counts of a Bi-NFA and its flattening"),
    "report": ("bipe.experiments.commands.report", "report.md and plots from runs or sweeps"),
    "segstats": ("bipe.experiments.commands.segstats", "segment-length statistics of corpora"),
    "results": ("bipe.experiments.commands.results", "docs/results.md from study folders"),
}


class CommandError(ValueError):
    """A bad command line or bad input; reported as one line, exit status 2."""


class OneLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are a single line on stderr, exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise CommandError(f"{message} (see '{self.prog} --help')")


def _top_parser() -> argparse.ArgumentParser:
    listing = "\n".join(f"  {name:<10} {text}" for name, (_, text) in COMMANDS.items())
    parser = OneLineParser(
        prog="bipe",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="A workbench for bilevel positional encoding (BiPE).",
        epilog=f"commands:\n{listing}\n\nRun 'bipe COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"bipe {bipe.__version__}")
    parser.add_argument("command", nargs="?", help="one of the commands below")
    return parser


def command_parser(name: str) -> tuple[argparse.ArgumentParser, object]:
    """The parser and module of one sub-command."""
    module = importlib.import_module(COMMANDS[name][0])
    parser = OneLineParser(
        prog=f"bipe {name}",
        description=COMMANDS[name][1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"example:\n  {getattr(module, 'EXAMPLE', '')}",
    )
    module.add_arguments(parser)
    return parser, module


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    name = next((a for a in argv if not a.startswith("-")), None)
    try:
        if name is None or name not in COMMANDS:
            parser = _top_parser()
            args = parser.parse_args(argv[:1] if name is None else argv)
            if name is not None:
                known = ", ".join(COMMANDS)
                raise CommandError(f"unknown command {name!r}; known commands: {known}")
            parser.print_help()
            return 0
        parser, module = command_parser(name)
        rest = argv[:]
        rest.remove(name)
        args = parser.parse_args(rest)
        return int(module.run(args) or 0)
    except BrokenPipeError:  # `bipe ... | head`: the reader left; not an error of ours
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("bipe: interrupted", file=sys.stderr)
        return 130
    except (ValueError, OSError) as err:
        prog = f"bipe {name}" if name in COMMANDS else "bipe"
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 2
