"""The ``docs/results.md`` section of a width study (``bipe study width``), from its run folders.

A width study's ``study.toml`` has a ``[width]`` table besides the usual keys::

    metrics = ["legal_mass"]                 # the one metric the search thresholds
    runs = ["runs"]
    [width]
    sizes = ["data.inner_states", "data.outer_states"]   # one config key per size axis
    widths = [4, 8, 12, 16, 24, 32, 48]      # the study's width grid (to tell a finished
    target = 0.99                            # search from one still running)
    setting = "in_distribution"
    seeds = [0, 1, 2]                        # optional (default: every seed found)

Every evaluated run gives a :class:`~bipe.analysis.efficiency.Result` (variant from the study's
``group`` keys, size from the ``sizes`` keys, seed ``init_seed``, width ``model.d_model``). A
cell (variant, size) is *finished* when its seed-mean reached the target at some width with
every smaller width of the grid trained, or when every width of the grid was trained; other
cells are still searching and are counted, not fitted. A cell lacking one of the study's seeds
at a width has not finished that width. The fit, its bootstrap intervals and the
hypotheses' implied exponents are those of :mod:`bipe.analysis.efficiency` and
:mod:`bipe.analysis.theory`, so ``bipe results`` and ``bipe study width`` report the same
numbers.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .efficiency import (
    Result,
    fit_scaling,
    hypothesis_verdict,
    scaling_series,
    scaling_table,
)
from .plots import plot_scaling
from .report import Block
from .runs import Run
from .stats import Interval, t_interval, verdict
from .theory import THEORY_KEYS, implied_exponents

SETTINGS = ("in_distribution", "above_train")


@dataclass(frozen=True, kw_only=True)
class WidthSpec:
    """The ``[width]`` table of a width study's ``study.toml``."""

    sizes: tuple[str, ...]
    widths: tuple[int, ...]
    target: float
    setting: str = "in_distribution"
    seeds: tuple[int, ...] = ()  # empty: every seed found among the runs

    @classmethod
    def from_table(cls, where: Path, table: Mapping[str, Any]) -> WidthSpec:
        known = {"sizes", "widths", "target", "setting", "seeds"}
        if unknown := set(table) - known:
            raise ValueError(
                f"{where}/study.toml: unknown [width] keys {sorted(unknown)}; "
                f"valid: {', '.join(sorted(known))}"
            )
        if missing := {"sizes", "widths", "target"} - set(table):
            raise ValueError(f"{where}/study.toml: [width] is missing {sorted(missing)}")
        spec = cls(
            sizes=tuple(table["sizes"]),
            widths=tuple(int(w) for w in table["widths"]),
            target=float(table["target"]),
            setting=table.get("setting", SETTINGS[0]),
            seeds=tuple(int(x) for x in table.get("seeds", ())),
        )
        if not spec.sizes or not 1 <= len(spec.sizes) <= 2:
            raise ValueError(f"{where}/study.toml: [width] sizes names one or two config keys")
        if not spec.widths or min(spec.widths) <= 0:
            raise ValueError(f"{where}/study.toml: [width] widths must be positive")
        if not 0.0 < spec.target <= 1.0:
            raise ValueError(f"{where}/study.toml: [width] target must be in (0, 1]")
        if spec.setting not in SETTINGS:
            raise ValueError(
                f"{where}/study.toml: [width] setting must be one of {', '.join(SETTINGS)}"
            )
        return spec


def _value(config: Mapping[str, Any], dotted: str) -> Any:
    node: Any = config
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            raise ValueError(f"run config has no {dotted}")
        node = node[part]
    return node


def _size(config: Mapping[str, Any], spec: WidthSpec) -> float | tuple[float, ...]:
    values = tuple(float(_value(config, k)) for k in spec.sizes)
    return values if len(values) > 1 else values[0]


def _metric(run: Run, spec: WidthSpec, metric: str) -> float | None:
    value = run.evaluation.get("summary", {}).get(spec.setting, {}).get(metric)
    return None if value is None or not math.isfinite(float(value)) else float(value)


def width_results(
    runs: Sequence[tuple[str, Run]], spec: WidthSpec, metric: str
) -> tuple[list[Result], dict[tuple[str, Any], str]]:
    """Results of the finished cells, and every cell's state (``reached`` at some width,
    ``beyond grid`` when no width of the grid reached the target, ``searching``)."""
    by_cell: dict[tuple[str, Any], list[Result]] = defaultdict(list)
    for variant, run in runs:
        value = _metric(run, spec, metric)
        if value is None:
            continue
        size = _size(run.config, spec)
        by_cell[(variant, size)].append(
            Result(
                encoding=variant,
                size=size,
                seed=int(run.config["init_seed"]),
                width=int(_value(run.config, "model.d_model")),
                accuracy=value,
            )
        )
    results: list[Result] = []
    states: dict[tuple[str, Any], str] = {}
    grid = sorted(set(spec.widths))
    seeds = spec.seeds or sorted({r.seed for rows in by_cell.values() for r in rows})
    for cell, rows in sorted(by_cell.items(), key=lambda kv: repr(kv[0])):
        acc = {(r.seed, r.width): r.accuracy for r in rows}
        state = "searching"
        for w in grid:
            if not all((s, w) in acc for s in seeds):
                break
            if np.mean([acc[(s, w)] for s in seeds]) >= spec.target:
                state = "reached"
                break
        else:
            state = "beyond grid"
        states[cell] = state
        if state != "searching":
            results += rows
    return results, states


def equal_width_rows(
    runs: Sequence[tuple[str, Run]], spec: WidthSpec, metric: str, pairs: Sequence[tuple[str, str]]
) -> list[tuple[str, ...]]:
    """Rows of :func:`equal_width_intervals`: pair, width, sizes, difference [95% t interval
    across seeds], the sentence it supports."""
    return [
        (f"{a} - {b}", str(w), str(n_sizes), iv.format(3), verdict(a, b, iv))
        for a, b, w, n_sizes, iv in equal_width_intervals(runs, spec, metric, pairs)
    ]


def equal_width_intervals(
    runs: Sequence[tuple[str, Run]], spec: WidthSpec, metric: str, pairs: Sequence[tuple[str, str]]
) -> list[tuple[str, str, int, int, Interval]]:
    """Per pair (a, b) and width: ``a - b`` in ``metric``, averaged over sizes, paired by seed.

    A width counts only where both variants trained every size and seed the study has (for
    either of them): a search stops where a cell reaches the target, so comparing at a width
    only some cells reached would select cells by their outcome. Items: a, b, width, number
    of sizes, the 95% t interval across seeds; widths ascending within a pair.
    """
    value: dict[tuple[str, Any, int, int], float] = {}
    for variant, run in runs:
        v = _metric(run, spec, metric)
        if v is not None:
            value[
                (
                    variant,
                    _size(run.config, spec),
                    int(run.config["init_seed"]),
                    int(_value(run.config, "model.d_model")),
                )
            ] = v
    seeds = spec.seeds or sorted({k[2] for k in value})
    out = []
    for a, b in pairs:
        sizes = sorted({k[1] for k in value if k[0] in (a, b)}, key=repr)
        keys = [(size, s) for size in sizes for s in seeds]
        for w in sorted(set(spec.widths)):
            if not sizes or any((x, size, s, w) not in value for x in (a, b) for size, s in keys):
                continue
            per_seed = [
                np.mean([value[(a, size, s, w)] - value[(b, size, s, w)] for size in sizes])
                for s in seeds
            ]
            out.append((a, b, w, len(sizes), t_interval(per_seed)))
    return out


def _theory(results: list[Result], runs: Sequence[tuple[str, Run]], spec: WidthSpec):
    """Family symbol values per distinct size (None unless every size key is a theory key)."""
    if not set(spec.sizes) <= set(THEORY_KEYS):
        return None
    configs = {}
    for _, run in runs:
        configs.setdefault(_size(run.config, spec), run.config)
    sizes = sorted({r.size for r in results}, key=lambda s: s if isinstance(s, tuple) else (s,))
    points = []
    for size in sizes:
        config = configs[size]
        points.append({sym: float(_value(config, key)) for key, sym in THEORY_KEYS.items()})
    try:
        return implied_exponents(points, sizes)
    except ValueError:  # too few sizes to determine an exponent
        return None


def width_blocks(
    rng: np.random.Generator,
    path: Path,
    spec: WidthSpec,
    metric: str,
    runs: Sequence[tuple[str, Run]],
    out_dir: Path,
    pairs: Sequence[tuple[str, str]] = (),
) -> list[Block]:
    """Threshold widths, fitted exponents with intervals, the hypotheses, one sentence each;
    then, for the study's pairs, the paired difference at equal width."""
    results, states = width_results(runs, spec, metric)
    axes = [k.split(".")[-1] for k in spec.sizes]
    counts = {
        s: sum(v == s for v in states.values()) for s in ("reached", "beyond grid", "searching")
    }
    blocks = [
        Block(kind="h3", text="Threshold width against size"),
        Block(
            kind="p",
            text=(
                f"Smallest `d_model` of {sorted(set(spec.widths))} whose mean {spec.setting} "
                f"`{metric}` over seeds reaches {spec.target:g}, per size of "
                f"{' x '.join(axes)}. Cells: {counts['reached']} reached, "
                f"{counts['beyond grid']} beyond the grid (`>grid`, left out of the fit), "
                f"{counts['searching']} still searching (not shown)."
            ),
        ),
    ]
    if not results:
        return [*blocks, Block(kind="p", text="**Status.** No finished cell yet.")]
    fits = fit_scaling(rng, results, spec.target)
    implied = _theory(results, runs, spec) or {}
    floor = min(spec.widths)
    floored = sorted({enc for enc, f in fits.items() for _, w in f.points if w == floor})
    second = sorted({r.size[1] for r in results}) if len(axes) == 2 else []
    series, fitted = scaling_series(fits, second, axes[1] if second else "")
    name = f"{path.name}_width_scaling.png"
    plot_scaling(
        out_dir / name,
        series,
        fitted,
        xlabel=f"size ({axes[0]})",
        title=f"smallest d_model reaching {metric} >= {spec.target:g}",
    )
    blocks += [
        Block(kind="p", text=scaling_table(fits, implied, axes=axes).strip()),
        Block(kind="img", text=f"{out_dir.name}/{name}"),
        Block(
            kind="p",
            text="Exponents are least-squares slopes of log width against "
            "log size [95% interval: the wider of a bootstrap over "
            "seeds within cells and the regression's t interval from "
            "the fit's residuals]; a hypothesis's implied exponents are "
            "the same fit of its formula over the same sizes.",
        ),
    ]
    if floored:
        blocks.append(
            Block(
                kind="p",
                text=(
                    f"At the floor: some cells of {', '.join(f'`{e}`' for e in floored)} "
                    f"reached the target at the smallest width of the grid ({floor}), so their "
                    "threshold is an upper bound and the exponents lean toward zero."
                ),
            )
        )
    sentences = [
        f"`{enc}`: every cell reached the target at the smallest width ({floor}), "
        "so the exponents are not measured (lower the grid's floor)"
        if f.points and all(w == floor for _, w in f.points)
        else hypothesis_verdict(f, implied, axes, lean_low=enc in floored)
        for enc, f in fits.items()
    ]
    blocks.append(Block(kind="p", text="**Conclusion.** " + "; ".join(sentences) + "."))
    return blocks + _equal_width_blocks(runs, spec, metric, pairs)


def _equal_width_blocks(runs, spec: WidthSpec, metric: str, pairs) -> list[Block]:
    rows = equal_width_rows(runs, spec, metric, pairs)
    if not rows:
        return []
    return [
        Block(kind="h3", text="At equal width"),
        Block(
            kind="p",
            text=(
                f"Paired by seed, the difference in {spec.setting} `{metric}` averaged over "
                "every size [95% t interval across seeds], at each width both variants trained "
                "in every size and seed (a search stops where its cell reaches the target, so "
                "wider widths cover only the cells that had not, and are left out)."
            ),
        ),
        Block(
            kind="table",
            header=("pair", "d_model", "sizes", "difference", "what it supports"),
            rows=tuple(rows),
        ),
    ]
