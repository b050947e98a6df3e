"""``bipe params``: parameter counts per component, as formulas and numbers.

The config is described exactly as for ``bipe train`` (the same options, derived from the
dataclasses by the same code): ``--preset``, ``--task``, ``--pe``, ``--config FILE`` and any
dotted ``--SECTION.FIELD VALUE`` (``--model.d_model 48``, ``--data.modulus 13``), so a command
line that trains a model also counts its parameters. Every option ``bipe params`` had before
(``--preset``, ``--task``, ``--pe``, ``--budget``, ``--model.FIELD``) keeps its spelling and
meaning; ``--model.max_intra`` is refused as in ``bipe train`` (it comes from the training
data).
"""

from __future__ import annotations

import argparse

HELP = "parameter counts per component (formula and number) of a preset's model"
EXAMPLE = "bipe params --preset cpu_arith --pe bipe_rope --model.d_model 48 --budget 100000"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from bipe.experiments.commands.train import add_config_arguments

    parser.add_argument(
        "--budget",
        type=int,
        default=None,
        metavar="N",
        help="also show the largest d_model whose total is at most N",
    )
    add_config_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from bipe.analysis.params import fit_width, params_table
    from bipe.experiments.commands.train import config_from_args

    config = config_from_args(args)
    model = config.model
    # Everything that can fail runs before the first line is printed.
    fitted = fit_width(model, args.budget) if args.budget is not None else None
    source = f"config {args.config}" if args.config else f"preset {args.preset or 'tiny'}"
    print(
        f"{source}, task {config.task}, pe {model.pe}: V={model.vocab_size} "
        f"D={model.d_model} L={model.n_layers} H={model.n_heads} F={model.ff_width}"
    )
    print(params_table(model))
    if fitted is not None:
        print(
            f"budget {args.budget:,}: largest d_model = {fitted.d_model} "
            f"(multiple of {2 * model.n_heads})"
        )
        print(params_table(fitted))
    return 0
