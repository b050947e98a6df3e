"""Reading run folders (the format of the experiments issue) for analysis.

A run folder holds ``config.json`` (the full resolved config: ``task``, ``pe``, a ``model``
section with ``d_model``, seeds), ``metrics.jsonl`` (one JSON object per logged step: ``step``,
``loss``, ``lr``, ``tokens/s``) and, once evaluated, ``eval.json``::

    {"task": "arith", "pe": "rope", "train_range": [1, 4],
     "per_length": [{"length": 4, "n": 500, "accuracy": 0.91}, ...],
     "summary": {"in_distribution": {"accuracy": 0.9}, "above_train": {"accuracy": 0.2}}}

A sweep folder is any folder containing run folders (at any depth); :func:`find_run_dirs`
expands it. Nothing here writes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RESERVED = ("length", "n")
SEED_KEYS = ("init_seed", "seed", "model_seed", "train_seed")


@dataclass(frozen=True, kw_only=True)
class Run:
    """One run folder's contents (read-only view)."""

    path: Path
    config: Mapping[str, Any]
    metrics: tuple[Mapping[str, Any], ...] = ()
    evaluation: Mapping[str, Any] | None = field(default=None)

    @property
    def name(self) -> str:
        """The folder name."""
        return self.path.name

    @property
    def task(self) -> str:
        """Task name (eval.json first, then config)."""
        value = (self.evaluation or {}).get("task") or find_key(self.config, ("task",))
        return str(value.get("name") if isinstance(value, Mapping) else value)

    @property
    def pe(self) -> str:
        """Encoding name (eval.json first, then config's ``pe`` or ``model.pe``)."""
        value = (self.evaluation or {}).get("pe") or find_key(self.config, ("pe",))
        return str(value)

    @property
    def seed(self) -> int:
        """The initialisation seed (falls back to the data seed, then 0)."""
        value = find_key(self.config, SEED_KEYS)
        if isinstance(value, Mapping):  # e.g. {"seeds": {"init": 1, "data": 0}}
            value = value.get("init", value.get("model", 0))
        if value is None:
            seeds = find_key(self.config, ("seeds",))
            value = seeds.get("init", 0) if isinstance(seeds, Mapping) else 0
        return int(value)

    @property
    def width(self) -> int | None:
        """``d_model`` from the config's model section."""
        value = find_key(self.config, ("d_model",))
        return None if value is None else int(value)


def find_key(tree: Any, names: Iterable[str]) -> Any:
    """First value under any of ``names``, searching top level first, then nested dicts."""
    names = tuple(names)
    if not isinstance(tree, Mapping):
        return None
    for name in names:
        if name in tree:
            return tree[name]
    for value in tree.values():
        if isinstance(value, Mapping):
            found = find_key(value, names)
            if found is not None:
                return found
    return None


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err.msg} at line {err.lineno})") from None


def read_metrics(path: Path) -> tuple[dict, ...]:
    """Rows of a ``metrics.jsonl`` (a truncated last line, from a killed run, is skipped)."""
    rows = []
    lines = path.read_text().splitlines()
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            if i == len(lines) - 1:
                break
            raise ValueError(f"{path}: line {i + 1} is not valid JSON") from None
    return tuple(rows)


def load_run(path: str | Path) -> Run:
    """Read one run folder; ``config.json`` is required, the rest optional."""
    path = Path(path)
    config_path = path / "config.json"
    if not config_path.is_file():
        raise ValueError(f"{path}: not a run folder (no config.json)")
    config = _read_json(config_path)
    metrics_path = path / "metrics.jsonl"
    metrics = read_metrics(metrics_path) if metrics_path.is_file() else ()
    eval_path = path / "eval.json"
    evaluation = _read_json(eval_path) if eval_path.is_file() else None
    if evaluation is not None:
        _check_eval(eval_path, evaluation)
    return Run(path=path, config=config, metrics=metrics, evaluation=evaluation)


def _check_eval(path: Path, ev: Any) -> None:
    if not isinstance(ev, Mapping) or not isinstance(ev.get("per_length"), list):
        raise ValueError(f"{path}: eval.json has no 'per_length' list")
    for row in ev["per_length"]:
        if not isinstance(row, Mapping) or "length" not in row:
            raise ValueError(f"{path}: a per_length entry lacks 'length'")


def find_run_dirs(paths: Iterable[str | Path]) -> list[Path]:
    """Run folders named directly, or found (sorted) anywhere below sweep folders."""
    found: list[Path] = []
    for p in map(Path, paths):
        if not p.exists():
            raise OSError(f"{p}: no such file or folder")
        if (p / "config.json").is_file():
            found.append(p)
            continue
        below = sorted(c.parent for c in p.rglob("config.json"))
        if not below:
            raise ValueError(f"{p}: neither a run folder nor a folder of runs (no config.json)")
        found.extend(below)
    unique = list(dict.fromkeys(found))
    return unique


def load_runs(paths: Iterable[str | Path]) -> list[Run]:
    """:func:`load_run` over :func:`find_run_dirs`."""
    return [load_run(p) for p in find_run_dirs(paths)]


def metric_names(run: Run) -> list[str]:
    """Numeric metric names of a run's ``per_length`` rows, in first-seen order."""
    names: dict[str, None] = {}
    for row in (run.evaluation or {}).get("per_length", []):
        for key, value in row.items():
            if (
                key not in RESERVED
                and isinstance(value, (int, float))
                and not isinstance(value, bool)
            ):
                names.setdefault(key, None)
    return list(names)


def as_float(value: Any) -> float:
    """A metric value as float; None/non-numbers become NaN."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return math.nan
    return float(value)
