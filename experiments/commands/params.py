"""``bipe params``: parameter counts per component, as formulas and numbers."""

from __future__ import annotations

import argparse
import dataclasses

HELP = "parameter counts per component (formula and number) of a preset's model"
EXAMPLE = "bipe params --preset cpu_arith --pe bipe_rope --model.d_model 48 --budget 100000"

DERIVED = ("vocab_size", "separators")  # set from the task by build_config


def _model_fields() -> list[str]:
    from bipe.models.config import ModelConfig

    return [f.name for f in dataclasses.fields(ModelConfig) if f.name not in DERIVED]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", default="tiny", help="preset name (default: tiny)")
    parser.add_argument("--task", default=None, help="task (default: the preset's)")
    parser.add_argument("--pe", default=None, help="positional encoding (default: the preset's)")
    parser.add_argument("--budget", type=int, default=None, metavar="N",
                        help="also show the largest d_model whose total is at most N")
    group = parser.add_argument_group("model overrides (vocab_size and separators come from "
                                      "the task)")
    for name in _model_fields():
        group.add_argument(f"--model.{name}", dest=f"model.{name}", default=None,
                           metavar="VALUE")


def run(args: argparse.Namespace) -> int:
    from bipe.analysis.params import fit_width, params_table
    from bipe.experiments.presets import build_config

    overrides = {key: value for key, value in vars(args).items()
                 if key.startswith("model.") and value is not None}
    config = build_config(args.preset, task=args.task, pe=args.pe, overrides=overrides)
    model = config.model
    # Everything that can fail runs before the first line is printed.
    fitted = fit_width(model, args.budget) if args.budget is not None else None
    print(f"preset {args.preset}, task {config.task}, pe {model.pe}: V={model.vocab_size} "
          f"D={model.d_model} L={model.n_layers} H={model.n_heads} F={model.ff_width}")
    print(params_table(model))
    if fitted is not None:
        print(f"budget {args.budget:,}: largest d_model = {fitted.d_model} "
              f"(multiple of {2 * model.n_heads})")
        print(params_table(fitted))
    return 0
