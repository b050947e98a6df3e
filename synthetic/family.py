"""What every data family shares: the base data config and the family record.

A *data family* (arithmetic, automaton sequences, ...) is one frozen keyword-only config
dataclass derived from :class:`DataConfig`, kept next to its generator code, plus the names its
datasets carry on disk (``meta.json``'s ``generator``). The families are registered in one place,
:mod:`bipe.synthetic.families`; a run's ``data`` section is the config of its task's family.

The fields here are shared by every family: where a saved training set lives (``path``), how
many examples are drawn for training (``n_train``) and per evaluation setting (``n_eval``), which
settings are evaluated (``eval_lengths``, in the family's length unit) and how many tokens one
evaluation batch holds (``eval_tokens_per_batch``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "MAX_TOKENS",
    "DataConfig",
    "DataFamily",
    "check_positive",
    "check_size",
    "default_eval_lengths",
    "expected",
]

MAX_TOKENS = 2 * 10**9  # a request estimated above this many tokens is refused up front


@dataclass(frozen=True, kw_only=True)
class DataConfig:
    """The fields of a run's ``data`` section that every family has (see the module docstring).

    Everything is generated in memory from the run's ``data_seed``; ``path`` instead loads a
    saved training set (``bipe gen ... --out DIR``). An empty ``eval_lengths`` means the task's
    default (from below the training range to several times above it).
    """

    path: str | None = None
    n_train: int = 20000
    n_eval: int = 200
    eval_lengths: tuple[int, ...] = ()
    eval_tokens_per_batch: int = 16384

    def __post_init__(self) -> None:
        check_positive(self, "n_train", "n_eval", "eval_tokens_per_batch")
        if any(k < 0 for k in self.eval_lengths):
            raise ValueError(f"data.eval_lengths must be >= 0, got {self.eval_lengths}")


@dataclass(frozen=True, kw_only=True)
class DataFamily:
    """One registered data family: its name, config class and on-disk generator names.

    ``generate_dataset(config, seed, **options) -> (records, meta)`` writes its datasets (what
    ``bipe gen`` calls; ``options`` are the dataset-only settings, such as the kind);
    ``verify_record(record, meta)`` says why a saved record is invalid (``bipe verify``);
    ``dataset_keys`` are the config fields that shape a generated dataset (``bipe gen``'s
    ``--data.*`` options). A family without saved datasets (text) has none of them.
    """

    name: str
    config: type[DataConfig]
    generators: tuple[str, ...]
    generate_dataset: Callable[..., tuple[Iterator[dict[str, Any]], dict[str, Any]]] | None = None
    verify_record: Callable[[Mapping[str, Any], Mapping[str, Any]], str | None] | None = None
    dataset_keys: tuple[str, ...] = ()


def default_eval_lengths(lo: int, hi: int) -> tuple[int, ...]:
    """The evaluation settings of a training range ``lo..hi`` when none are given: from below
    the range to twice its top (at least ``hi + 3``), in the family's length unit."""
    return tuple(range(max(1, lo), max(2 * hi, hi + 3) + 1))


def check_positive(config: Any, *names: str) -> None:
    """``ValueError`` naming ``data.NAME`` unless every named field is > 0."""
    for name in names:
        if getattr(config, name) <= 0:
            raise ValueError(f"data.{name} must be > 0, got {getattr(config, name)}")


def check_size(tokens: float, what: str, limit: int = MAX_TOKENS) -> None:
    """Refuse a request estimated at ``tokens`` tokens (more than ``limit``) before any work."""
    if tokens > limit:
        raise ValueError(
            f"{what} would hold about {tokens:.1e} tokens (more than {limit:.0e}); "
            f"ask for fewer or shorter examples"
        )


def expected(dist: Any, cost: Any) -> float:
    """E[cost(k)] for k drawn from a bounded :class:`~bipe.synthetic.distributions.LengthDist`
    (huge ranges: the cost at the upper bound, an over-estimate that never enumerates them)."""
    import numpy as np

    if dist.hi is None:
        raise ValueError(f"length spec {dist} must be bounded")
    if dist.hi - dist.lo > 10**6:
        return float(cost(np.float64(dist.hi)))
    values, probs = dist.support()
    return float(np.dot(probs, cost(values.astype(np.float64))))
