"""The battery's scorecard: ``DIR/scorecard.md``, ``.html``, ``.json`` and one figure per task,
from a battery folder (``DIR/battery.json`` and its run folders; ``bipe battery`` writes both).

For every task and metric: the per-length mean over seeds of every encoding (lengths in the
training range marked), and the paired difference of each measured encoding against each
baseline: per seed, the metric's mean over the lengths beyond the training range, then the
difference's mean over seeds with its 95% Student-t interval. The verdict is the project's
(:func:`bipe.analysis.stats.verdict`): a difference only where the interval excludes zero,
"too few seeds" below three. A summary table of the leading metric of every task comes first;
a table says where every baseline run came from (trained here, or a committed run reused).
Built once as :class:`~bipe.analysis.report.Block` values and rendered as Markdown and HTML,
so both say the same; the same folder gives byte-identical files.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from bipe.fileio import write_text_atomic

from .plots import plot_series_ci
from .report import Block, render_html, render_markdown
from .runs import Run, as_float, load_run
from .stats import Interval, bootstrap_ci, named_rng, t_interval, verdict

__all__ = ["scorecard", "write_scorecard"]


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"{path.parent}: not a battery folder (no {path.name})") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err.msg})") from None


def _per_length(run: Run, metric: str) -> dict[float, float]:
    """The run's metric at the lengths of its own config (a run evaluated at more lengths
    afterwards, as a reused committed run may be, is compared on the battery's lengths)."""
    data = run.config.get("data") if isinstance(run.config.get("data"), dict) else {}
    lengths = {float(x) for x in data.get("eval_lengths") or ()}
    rows = (run.evaluation or {}).get("per_length", [])
    return {
        float(r["length"]): as_float(r.get(metric))
        for r in rows
        if not lengths or float(r["length"]) in lengths
    }


def _beyond(run: Run, metric: str, hi: float) -> float:
    vals = [v for x, v in _per_length(run, metric).items() if x > hi and not math.isnan(v)]
    return float(np.mean(vals)) if vals else math.nan


def _fmt(x: float) -> str:
    return "-" if math.isnan(x) else f"{round(x, 3) + 0.0:.3f}"


def _task_runs(folder: Path, plan: dict, task: str) -> dict[str, dict[int, Run]]:
    """pe -> seed -> evaluated run of one task (in the plan's order of encodings)."""
    out: dict[str, dict[int, Run]] = defaultdict(dict)
    for entry in plan["runs"]:
        path = folder / entry["dir"]
        if entry["task"] == task and (path / "eval.json").is_file():
            out[entry["pe"]][int(entry["seed"])] = load_run(path)
    return out


def _pair(runs, a: str, b: str, metric: str, hi: float) -> dict[str, Any]:
    seeds = sorted(set(runs.get(a, {})) & set(runs.get(b, {})))
    diffs = [_beyond(runs[a][s], metric, hi) - _beyond(runs[b][s], metric, hi) for s in seeds]
    diffs = [d for d in diffs if not math.isnan(d)]
    if not diffs:
        return {"plugin": a, "baseline": b, "seeds": 0, "verdict": "no paired runs evaluated"}
    iv = t_interval(diffs)
    return {
        "plugin": a,
        "baseline": b,
        "seeds": iv.n,
        "difference": iv.estimate,
        "lo": iv.lo if iv.n > 1 else None,
        "hi": iv.hi if iv.n > 1 else None,
        "verdict": verdict(a, b, iv),
    }


def _interval_text(pair: dict) -> str:
    if not pair["seeds"]:
        return "-"
    iv = Interval(
        estimate=pair["difference"],
        lo=-math.inf if pair["lo"] is None else pair["lo"],
        hi=math.inf if pair["hi"] is None else pair["hi"],
        n=pair["seeds"],
    )
    return iv.format(3)


def _metric_result(runs, encodings, plan, metric: str, train) -> dict[str, Any]:
    hi = train[1] if train else math.inf
    means = {
        pe: {
            x: float(np.nanmean(vals)) if not np.all(np.isnan(vals)) else math.nan
            for x, vals in _by_length(runs[pe], metric).items()
        }
        for pe in encodings
        if pe in runs
    }
    pairs = [_pair(runs, a, b, metric, hi) for a in plan["pes"] for b in plan["baselines"]]
    return {"per_length": means, "pairs": pairs}


def _by_length(by_seed: dict[int, Run], metric: str) -> dict[float, np.ndarray]:
    pts: dict[float, list[float]] = defaultdict(list)
    for run in by_seed.values():
        for x, v in _per_length(run, metric).items():
            pts[x].append(v)
    return {x: np.array(v) for x, v in sorted(pts.items())}


def scorecard(folder: str | Path, *, seed: int = 0) -> tuple[list[Block], dict[str, Any]]:
    """The scorecard's blocks (figures written into ``folder``) and its JSON content."""
    folder = Path(folder)
    plan = _read_json(folder / "battery.json")
    encodings = [*plan["pes"], *plan["baselines"]]
    result: dict[str, Any] = {
        key: plan.get(key)
        for key in ("bipe_version", "battery_version", "budget", "seeds", "machine", "code")
    }
    result.update(pes=plan["pes"], baselines=plan["baselines"], tasks={})
    sections: list[Block] = []
    for task in plan["tasks"]:
        runs = _task_runs(folder, plan, task["name"])
        some = next((r for by in runs.values() for r in by.values()), None)
        train = tuple((some.evaluation or {}).get("train_range") or ()) if some else ()
        entry = {"title": task["title"], "train_range": list(train) or None, "metrics": {}}
        for metric in task["metrics"]:
            entry["metrics"][metric] = _metric_result(runs, encodings, plan, metric, train)
        result["tasks"][task["name"]] = entry
        rng = named_rng(seed, task["name"])  # a stream per task: see named_rng
        sections += _task_blocks(rng, folder, task, runs, encodings, entry, train)
    blocks = [*_head_blocks(plan, result), *sections, *_source_blocks(plan)]
    return blocks, result


def _head_blocks(plan: dict, result: dict) -> list[Block]:
    code = plan.get("code") or {}
    rows = []
    for name, task in result["tasks"].items():
        metric = next(iter(task["metrics"]))
        for pair in task["metrics"][metric]["pairs"]:
            rows.append(
                (
                    name,
                    metric,
                    f"{pair['plugin']} - {pair['baseline']}",
                    str(pair["seeds"]),
                    _interval_text(pair),
                    pair["verdict"],
                )
            )
    return [
        Block(kind="h1", text=f"Battery scorecard: {', '.join(plan['pes'])}"),
        Block(
            kind="p",
            text=f"bipe {plan['bipe_version']} (commit {code.get('commit', 'unknown')}, "
            f"numerics {code.get('numerics', 'unknown')}), battery version "
            f"{plan['battery_version']}, budget `{plan['budget']}`, {plan['seeds']} "
            f"seed{'' if plan['seeds'] == 1 else 's'}; machine: {plan['machine']}.",
        ),
        Block(kind="h2", text="Summary"),
        Block(
            kind="p",
            text="Leading metric of each task: the paired difference (measured encoding minus "
            "baseline) of the per-seed mean over the lengths beyond the training range, mean "
            "over seeds [95% Student-t interval]. A difference is named only where the "
            "interval excludes zero.",
        ),
        Block(
            kind="table",
            header=("task", "metric", "pair", "seeds", "difference", "verdict"),
            rows=tuple(rows),
        ),
    ]


def _task_blocks(rng, folder, task, runs, encodings, entry, train) -> list[Block]:
    blocks = [Block(kind="h2", text=task["title"])]
    if not runs:
        return [*blocks, Block(kind="p", text="No evaluated run yet.")]
    for i, (metric, res) in enumerate(entry["metrics"].items()):
        blocks.append(Block(kind="h3", text=metric))
        if i == 0:
            name = f"{task['name']}_{metric}.png"
            series = {
                pe: [
                    (x, bootstrap_ci(rng, v[~np.isnan(v)]))
                    for x, v in _by_length(runs[pe], metric).items()
                    if np.any(~np.isnan(v))
                ]
                for pe in encodings
                if pe in runs
            }
            plot_series_ci(
                folder / name,
                series,
                xlabel="length",
                ylabel=metric,
                shade=train or None,
                title=f"{task['title']}: {metric}",
            )
            blocks.append(Block(kind="img", text=name))
        lengths = sorted({x for m in res["per_length"].values() for x in m})
        marked = [
            f"{x:g}" + (" (train)" if train and train[0] <= x <= train[1] else "") for x in lengths
        ]
        blocks += [
            Block(
                kind="p",
                text=f"`{metric}` per length, mean over seeds; lengths marked (train) lie in the "
                "training range" + _range_text(train),
            ),
            Block(
                kind="table",
                header=("encoding", "seeds", *marked),
                rows=tuple(
                    (pe, str(len(runs[pe])), *[_fmt(m.get(x, math.nan)) for x in lengths])
                    for pe, m in res["per_length"].items()
                ),
            ),
            Block(
                kind="table",
                header=("pair", "seeds", "difference beyond training", "verdict"),
                rows=tuple(
                    (
                        f"{p['plugin']} - {p['baseline']}",
                        str(p["seeds"]),
                        _interval_text(p),
                        p["verdict"],
                    )
                    for p in res["pairs"]
                ),
            ),
        ]
    return blocks


def _range_text(train: tuple) -> str:
    if not train:
        return "."
    return f" {train[0]:g}." if train[0] == train[1] else f" {train[0]:g}-{train[1]:g}."


def _source_blocks(plan: dict) -> list[Block]:
    rows = tuple(
        (r["task"], r["pe"], str(r["seed"]), r.get("status", "-"), r["source"])
        for r in plan["runs"]
        if r["role"] == "baseline"
    )
    return [
        Block(kind="h2", text="Where the baselines came from"),
        Block(
            kind="p",
            text="A committed baseline run is reused only when its config and training numerics "
            "match this battery's and one run per task trained here reproduced its committed "
            f"run within {plan.get('tolerance', 'the stated tolerance')} (every logged loss and "
            "every evaluation metric at every length); otherwise the baseline is trained here.",
        ),
        Block(kind="table", header=("task", "baseline", "seed", "status", "source"), rows=rows),
    ]


def write_scorecard(folder: str | Path, *, seed: int = 0) -> Path:
    """Write ``scorecard.md``, ``scorecard.html``, ``scorecard.json`` and the figures into the
    battery folder; returns the Markdown path."""
    folder = Path(folder)
    blocks, result = scorecard(folder, seed=seed)
    title = blocks[0].text
    write_text_atomic(folder / "scorecard.html", render_html(blocks, title))
    write_text_atomic(
        folder / "scorecard.json", json.dumps(_jsonable(result), indent=1, sort_keys=True) + "\n"
    )
    return write_text_atomic(folder / "scorecard.md", render_markdown(blocks))


def _jsonable(tree: Any) -> Any:
    """NaN and infinities as null, float keys as text (JSON has neither)."""
    if isinstance(tree, dict):
        return {(f"{k:g}" if isinstance(k, float) else k): _jsonable(v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return [_jsonable(v) for v in tree]
    if isinstance(tree, float) and not math.isfinite(tree):
        return None
    return tree
