"""A study folder's question and runs: ``study.toml`` parsed into a :class:`StudySpec`, the
folders found under a root, and the study's evaluated runs grouped by variant and seed
(:mod:`bipe.analysis.results` writes the sections, :mod:`bipe.analysis.findings` the headline
table). The ``study.toml`` keys are documented in :mod:`bipe.analysis.results`.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from .runs import Run, as_float, load_runs
from .stats import Interval, t_interval
from .width_results import WidthSpec

__all__ = [
    "StudySpec",
    "above_train_interval",
    "config_value",
    "evaluated_runs",
    "find_studies",
    "grid_files",
    "load_study",
    "per_length_values",
    "run_counts",
    "study_runs",
]


@dataclass(frozen=True, kw_only=True)
class StudySpec:
    """What one study asks (``study.toml``) and where its runs are."""

    path: Path
    title: str
    question: str
    metrics: tuple[str, ...]
    group: tuple[str, ...] = ("model.pe",)
    pairs: tuple[tuple[str, str], ...] = ()
    runs: tuple[str, ...] = (".",)
    where: tuple[tuple[str, tuple[str, ...]], ...] = ()
    width: WidthSpec | None = None  # a width study (``[width]`` table): see width_results
    order: float | None = None  # place among the studies that ``bipe results studies/`` finds
    headline: tuple[str, str] | None = None  # the pair of the findings table (default: first)
    labels: tuple[tuple[str, str], ...] = ()  # variant -> readable name in the findings table
    average: tuple[str, ...] = ()  # config keys whose runs are averaged per variant and seed
    pending: str | None = None  # why no run is in yet: the findings table's claim until one is

    def __post_init__(self) -> None:
        if not self.metrics:
            raise ValueError(f"{self.path}: study.toml needs at least one metric")
        if any(len(p) != 2 for p in self.pairs):
            raise ValueError(f"{self.path}: every pair must name two variants")
        if self.headline is not None and self.headline not in self.pairs:
            raise ValueError(f"{self.path}: headline {list(self.headline)} is not one of its pairs")

    def label(self, variant: str) -> str:
        """The readable name of a variant (``[labels]`` in study.toml), else the variant."""
        return dict(self.labels).get(variant, variant)

    @property
    def headline_pair(self) -> tuple[str, str] | None:
        """The pair that answers the study's question: ``headline``, else the first pair."""
        return self.headline or (self.pairs[0] if self.pairs else None)


def load_study(folder: str | Path) -> StudySpec:
    """The :class:`StudySpec` of ``folder/study.toml``."""
    folder = Path(folder)
    try:
        raw = tomllib.loads((folder / "study.toml").read_text())
    except FileNotFoundError:
        raise OSError(f"{folder}: no study.toml") from None
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"{folder}/study.toml: malformed ({err})") from None
    known = {"title", "question", "metrics", "group", "pairs", "runs", "where", "width"}
    known |= {"order", "headline", "labels", "average", "pending"}
    if unknown := set(raw) - known:
        raise ValueError(
            f"{folder}/study.toml: unknown keys {sorted(unknown)}; "
            f"valid: {', '.join(sorted(known))}"
        )
    missing = {"title", "question", "metrics"} - set(raw)
    if missing:
        raise ValueError(f"{folder}/study.toml: missing {sorted(missing)}")
    return StudySpec(
        path=folder,
        title=raw["title"],
        question=raw["question"],
        metrics=tuple(raw["metrics"]),
        group=tuple(raw.get("group", ["model.pe"])),
        pairs=tuple(tuple(p) for p in raw.get("pairs", [])),
        runs=tuple(raw.get("runs", ["."])),
        where=tuple((k, tuple(str(x) for x in v)) for k, v in raw.get("where", {}).items()),
        width=WidthSpec.from_table(folder, raw["width"]) if "width" in raw else None,
        order=_order(folder, raw.get("order")),
        headline=tuple(raw["headline"]) if "headline" in raw else None,
        labels=tuple((str(k), str(v)) for k, v in raw.get("labels", {}).items()),
        average=tuple(raw.get("average", [])),
        pending=_pending(folder, raw.get("pending")),
    )


def _pending(folder: Path, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or "\n" in value.strip() or "|" in value:
        raise ValueError(
            f"{folder}/study.toml: pending must be one line of text without '|' "
            f"(a table cell), got {value!r}"
        )
    return value.strip()


def _order(folder: Path, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{folder}/study.toml: order must be a number, got {value!r}")
    return float(value)


def find_studies(paths: Sequence[str | Path]) -> list[Path]:
    """The study folders named by ``paths``: a folder with a ``study.toml`` is itself; any
    other folder stands for every ``study.toml`` below it, ordered by their ``order`` key
    (which each of them must have) and then by path."""
    out: list[Path] = []
    for path in map(Path, paths):
        if (path / "study.toml").is_file():
            out.append(path)
            continue
        if not path.is_dir():
            raise OSError(f"{path}: no such study folder")
        found = sorted(p.parent for p in path.rglob("study.toml"))
        if not found:
            raise OSError(f"{path}: no study.toml in it or below it")
        keyed = []
        for folder in found:
            order = load_study(folder).order
            if order is None:
                raise ValueError(
                    f"{folder}/study.toml: no `order` key (a number placing it among the "
                    f"studies of {path})"
                )
            keyed.append((order, folder.as_posix(), folder))
        out += [folder for *_, folder in sorted(keyed)]
    return out


def config_value(config: Mapping[str, Any], dotted: str) -> str:
    """The value at a dotted key of a run config, as text (``-`` when absent)."""
    node: Any = config
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return "-"
        node = node[part]
    return str(node)


def _variant(spec: StudySpec, run: Run) -> str:
    return " ".join(config_value(run.config, key) for key in spec.group)


def _pair_key(run: Run) -> tuple[str, str]:
    return (config_value(run.config, "data_seed"), config_value(run.config, "init_seed"))


def evaluated_runs(spec: StudySpec) -> list[tuple[str, Run]]:
    """(variant, run) of every evaluated run of the study that its ``where`` admits."""
    folders = [spec.path / sub for sub in spec.runs]
    found = [f for f in folders if f.is_dir() and any(f.rglob("config.json"))]
    runs = [r for r in load_runs(found) if r.evaluation] if found else []
    return [
        (_variant(spec, r), r)
        for r in runs
        if all(config_value(r.config, k) in allowed for k, allowed in spec.where)
    ]


def study_runs(spec: StudySpec) -> dict[str, dict[tuple[str, str], Run]]:
    """Evaluated runs of the study: variant -> pair key -> run. With ``average`` (config keys,
    e.g. ``["task"]``), the runs of one variant and seed that differ in those keys become one
    run whose per-length metrics are their mean (at the lengths they all have), so pairs
    compare the average over, say, the tasks of a suite."""
    if not spec.average:
        out: dict[str, dict[tuple[str, str], Run]] = defaultdict(dict)
        for variant, r in evaluated_runs(spec):
            out[variant][_pair_key(r)] = r
        return dict(sorted(out.items()))
    pooled: dict[str, dict[tuple[str, str], list[Run]]] = defaultdict(lambda: defaultdict(list))
    for variant, r in evaluated_runs(spec):
        pooled[variant][_pair_key(r)].append(r)
    return {
        variant: {key: _mean_run(runs) for key, runs in by_key.items()}
        for variant, by_key in sorted(pooled.items())
    }


def grid_files(spec: StudySpec) -> list[Path]:
    """The sweep grid files in the study's folder (every ``*.toml`` but ``study.toml``)."""
    return [g for g in sorted(spec.path.glob("*.toml")) if g.name != "study.toml"]


def _grid_size(path: Path) -> int:
    """Runs a sweep grid file expands to (product of its grid axes' lengths)."""
    grid = tomllib.loads(path.read_text()).get("grid", {})
    return int(np.prod([len(v) if isinstance(v, list) else 1 for v in grid.values()]))


def run_counts(spec: StudySpec, runs: Mapping[str, Mapping[Any, Run]]) -> tuple[int, int]:
    """(evaluated runs of ``runs`` inside the study's own folder, runs its grid files plan)."""
    here = spec.path.resolve()
    own = sum(here in r.path.resolve().parents for v in runs.values() for r in v.values())
    return own, sum(_grid_size(g) for g in grid_files(spec))


def _mean_run(runs: Sequence[Run]) -> Run:
    """One run whose ``eval.json`` rows are the mean of ``runs``' rows at their common lengths
    (every numeric metric; ``n`` summed); config and folder of the first run."""
    lengths = set.intersection(*(set(per_length_values(r, "length")) for r in runs))
    rows = []
    for length in sorted(lengths):
        found = [
            next(row for row in r.evaluation["per_length"] if float(row["length"]) == length)
            for r in runs
        ]
        keys = set.intersection(*(set(row) for row in found)) - {"length", "n"}
        row = {"length": found[0]["length"], "n": sum(int(row.get("n", 0)) for row in found)}
        for key in sorted(keys):
            values = [as_float(row_[key]) for row_ in found]
            row[key] = float(np.mean(values))
        rows.append(row)
    highs = [(r.evaluation.get("train_range") or [math.inf, math.inf])[1] for r in runs]
    first = runs[0]
    evaluation = {**first.evaluation, "per_length": rows}
    evaluation["train_range"] = [(first.evaluation.get("train_range") or [0, 0])[0], max(highs)]
    return Run(path=first.path, config=first.config, evaluation=evaluation)


def per_length_values(run: Run, metric: str) -> dict[float, float]:
    return {
        float(row["length"]): as_float(row.get(metric))
        for row in run.evaluation.get("per_length", [])
    }


def _above_train(run: Run, metric: str) -> float:
    hi = (run.evaluation.get("train_range") or [math.inf, math.inf])[1]
    vals = [v for x, v in per_length_values(run, metric).items() if x > hi and not math.isnan(v)]
    return float(np.mean(vals)) if vals else math.nan


def above_train_interval(runs, a: str, b: str, metric: str) -> Interval | None:
    """``a - b`` in ``metric`` averaged over the lengths above the training range, paired by
    seed, with its 95% t interval across seeds (None when the two share no evaluated seed)."""
    if a not in runs or b not in runs:
        return None
    keys = sorted(set(runs[a]) & set(runs[b]))
    diffs = [_above_train(runs[a][k], metric) - _above_train(runs[b][k], metric) for k in keys]
    diffs = [d for d in diffs if not math.isnan(d)]
    return t_interval(diffs) if diffs else None
