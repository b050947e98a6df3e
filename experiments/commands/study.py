"""``bipe study width``: smallest d_model reaching a target accuracy, and how it scales.

See :mod:`bipe.experiments.width_search`. Any other config field can be fixed with a dotted option
(``--train.steps 400``); the study itself sets ``model.pe``, ``model.d_model``, ``init_seed``
and the size keys. The runs go through ``bipe sweep``'s executors (``--executor submitit`` and
the ``--slurm-*`` flags, docs/guide.md#sweeps-on-a-cluster).
"""

from __future__ import annotations

import argparse
import functools

HELP = "parameter-efficiency studies: smallest width reaching a target accuracy per size"
EXAMPLE = (
    "bipe study width --preset tiny --task arith --pes rope,bipe_rope "
    "--size-key data.operators --size-format uniform:1:{} --sizes 1,2 "
    "--widths 16,32,64 --seeds 0,1 --target 0.5 --out studies/w1"
)


def _ints(text: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers like 16,32,64: {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError(f"expected at least one integer: {text!r}")
    return values


def _names(text: str) -> list[str]:
    values = [x.strip() for x in text.split(",") if x.strip()]
    if not values:
        raise argparse.ArgumentTypeError(f"expected names like rope,bipe_rope: {text!r}")
    return values


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from bipe.experiments.commands.sweep import add_ensemble_arguments, add_executor_arguments
    from bipe.experiments.commands.train import add_override_arguments

    parser.add_argument("kind", choices=("width",), help="the study to run (width)")
    parser.add_argument("--pes", type=_names, required=True, help="encodings, comma-separated")
    parser.add_argument("--sizes", type=_ints, required=True, help="sizes, e.g. 2,4,8")
    parser.add_argument("--widths", type=_ints, required=True, help="d_model grid, e.g. 16,32")
    parser.add_argument("--seeds", type=_ints, default=[0], help="init seeds (default 0)")
    parser.add_argument(
        "--size-key",
        action="append",
        default=None,
        metavar="KEY",
        help="config key(s) set to each size (repeatable; default data.inner_states)",
    )
    parser.add_argument(
        "--size-format",
        default="{}",
        help="template of the size value, e.g. uniform:1:{} for operators",
    )
    parser.add_argument(
        "--sizes2",
        type=_ints,
        default=None,
        help="optional second size axis (a grid with --sizes), e.g. 2,4,8",
    )
    parser.add_argument(
        "--size-key2",
        action="append",
        default=None,
        metavar="KEY",
        help="config key(s) of the second axis (e.g. data.outer_states)",
    )
    parser.add_argument("--target", type=float, default=0.9, help="target accuracy")
    parser.add_argument("--metric", default=None, help="eval.json metric (default: first)")
    parser.add_argument(
        "--setting",
        choices=("in_distribution", "above_train"),
        default="in_distribution",
        help="which summary must reach the target",
    )
    parser.add_argument("--preset", default="tiny", help="preset (default tiny)")
    parser.add_argument("--task", default=None, help="task (default: the preset's)")
    parser.add_argument(
        "--jobs",
        type=int,
        default=None,
        help="runs in parallel (local: processes, default 1; submitit: jobs in "
        "flight, default all)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap")
    parser.add_argument("--out", required=True, metavar="DIR", help="study folder")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_override_arguments(parser)
    add_executor_arguments(parser)
    add_ensemble_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from bipe.experiments.commands.sweep import ensemble_size, executor_from_args
    from bipe.experiments.commands.train import collect_overrides
    from bipe.experiments.sweep import run_sweep
    from bipe.experiments.width_search import WidthStudy, run_width_study

    study = WidthStudy(
        encodings=tuple(args.pes),
        sizes=tuple(args.sizes),
        widths=tuple(args.widths),
        seeds=tuple(args.seeds),
        size_keys=tuple(args.size_key or ("data.inner_states",)),
        size_format=args.size_format,
        target=args.target,
        metric=args.metric,
        setting=args.setting,
        preset=args.preset,
        task=args.task,
        fixed=tuple(collect_overrides(args).items()),
        sizes2=tuple(args.sizes2 or ()),
        size_keys2=tuple(args.size_key2 or ()),
    )
    executor, cluster, jobs = executor_from_args(args)
    runner = functools.partial(
        run_sweep, executor=executor, cluster=cluster, ensemble_size=ensemble_size(args, executor)
    )
    outcome = run_width_study(
        study, args.out, jobs=jobs, progress=not args.no_progress, seed=args.seed, runner=runner
    )
    print(outcome.report.read_text().split("![")[0].rstrip())
    print(f"\nwrote {outcome.report} (and study.json, width_scaling.png)")
    return 0
