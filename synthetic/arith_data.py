"""The arithmetic data family's config: what ``arith`` and ``arith_direct`` train on.

:class:`ArithmeticData` adds to the shared :class:`~bipe.synthetic.family.DataConfig` the
operator-count law (``operators``, a length spec; settings are operator counts), the chain
format (``fmt``: ``feng``, ``direct`` or ``steps``, see :mod:`bipe.synthetic.arithmetic`), the
prime ``modulus`` and the run's ``separator_rule`` (which tokens close a unit, per level, for
``hbipe``; every other encoding gets their union as one level: ``equals``, the default, ``=``
then ``<eos>``; ``operators``, each of ``+ - * /`` closing an inner unit inside the ``=``
segments; the chains are the same either way and ``bipe gen arith`` does not take it).
:func:`chain_tokens` estimates a chain's length so that absurd requests (``fixed:100000``
operators: about 10^10 tokens per ``feng`` chain) are refused up front.

:func:`generate_dataset` is the family's dataset writer input (what ``bipe gen arith`` calls
through the registry :mod:`bipe.synthetic.families`): ``n_train`` chains of the config, with
the reference's options (``under`` quotas, deduplication, questions of other datasets excluded,
worker processes that do not change the output).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bipe.synthetic.arithmetic import FORMATS, separator_levels
from bipe.synthetic.distributions import LengthDist, parse_length_spec
from bipe.synthetic.family import DataConfig, check_positive, check_size, expected

__all__ = [
    "ArithmeticData",
    "chain_tokens",
    "check_request",
    "excluded_questions",
    "generate_dataset",
]


@dataclass(frozen=True, kw_only=True)
class ArithmeticData(DataConfig):
    """Arithmetic chains over Z_p: operator counts, format and modulus (module docstring)."""

    operators: str = "uniform:1:4"
    fmt: str = "feng"
    modulus: int = 11
    separator_rule: str = "equals"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive(self, "modulus")
        if self.fmt not in FORMATS:
            raise ValueError(f"data.fmt {self.fmt!r} unknown; known: {', '.join(FORMATS)}")
        separator_levels(self.separator_rule)  # an unknown rule fails here
        check_request(self.n_train, self.operators, self.fmt, "data.n_train")


def chain_tokens(n_operators: Any, fmt: str) -> Any:
    """About how many tokens one chain of ``n_operators`` operators has in format ``fmt``.

    Measured means (seed 0, 20 chains): ``feng`` 49 / 608 / 2272 tokens at 5 / 20 / 40
    operators (quadratic: every step rewrites the rest of the expression), ``direct`` 17 / 59 /
    112, ``steps`` 41 / 158 / 311 (linear). The formulas stay at or below those means.
    """
    k = n_operators
    if fmt == "feng":
        return 1.3 * k * k + 3 * k + 3
    if fmt == "steps":
        return 7.5 * k + 3
    return 2.5 * k + 4


def check_request(n: int, operators: LengthDist | str, fmt: str, what: str) -> None:
    """Refuse ``n`` chains of ``operators`` (a spec or law) whose total size is absurd.

    The generator builds every intermediate expression whatever the format, so the estimate is
    the ``feng`` size (the largest), counted over all ``n`` chains.
    """
    dist = parse_length_spec(operators) if isinstance(operators, str) else operators
    mean = expected(dist, lambda k: chain_tokens(k, "feng"))
    check_size(n * mean, f"{what}: {n} {fmt} chains with {dist} operators")


def excluded_questions(paths: Sequence[str | os.PathLike], modulus: int) -> set[str]:
    """The questions of every arithmetic dataset under ``paths`` (mod ``modulus``)."""
    from bipe.synthetic.arithmetic import question_of
    from bipe.synthetic.dataset import dataset_dirs, load_dataset

    questions: set[str] = set()
    for path in paths:
        for folder in dataset_dirs(path):
            ds = load_dataset(folder)
            if ds.meta.get("generator") != "arith" or ds.meta.get("modulus") != modulus:
                raise ValueError(f"exclude {folder}: not an arithmetic dataset mod {modulus}")
            questions.update(question_of(t) for t in ds.column("text"))
    return questions


def _as_arrays(record: dict) -> dict:
    """The list fields as int64 arrays: write_dataset serialises those in C (about 10x faster
    than walking Python lists element by element); the file is the same."""
    return {
        k: np.asarray(v, dtype=np.int64) if isinstance(v, list) else v for k, v in record.items()
    }


def _checked(
    data: ArithmeticData, seed: int, *, under: bool, workers: int
) -> tuple[int, LengthDist]:
    """The checked modulus and operator-count law; ``ValueError`` names a bad setting."""
    from bipe.synthetic.arithmetic import check_modulus, operator_dist

    modulus = check_modulus(data.modulus)
    dist = operator_dist(data.operators)
    if under and dist.lo != dist.hi:
        raise ValueError(f"under needs a fixed operator count L, got operators {dist}")
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    return modulus, dist


def generate_dataset(
    data: ArithmeticData,
    seed: int,
    *,
    under: bool = False,
    dedup: bool = True,
    exclude: Sequence[str | os.PathLike] = (),
    workers: int = 1,
) -> tuple[Iterator[dict[str, Any]], dict[str, Any]]:
    """``(records, meta)`` for :func:`bipe.synthetic.dataset.write_dataset`: ``n_train``
    chains drawn from ``SeedSequence(seed)``. ``under``: the reference's quotas (needs a fixed
    operator count); ``dedup``: drop repeated chains; ``exclude``: dataset folders whose
    questions are dropped; ``workers``: processes (the output does not depend on it). Every
    setting is checked before any chain is drawn."""
    from bipe.synthetic.arithmetic import SEPARATORS, iter_arithmetic, vocab

    modulus, dist = _checked(data, seed, under=under, workers=workers)
    questions = excluded_questions(exclude, modulus)
    config = {
        "format": data.fmt,
        "operators": str(dist),
        "under": under,
        "modulus": modulus,
        "n": data.n_train,
        "seed": seed,
        "dedup": dedup,
        "exclude": [str(Path(p).resolve()) for p in exclude],
    }
    meta = {
        "generator": "arith",
        "arith_format": data.fmt,
        "modulus": modulus,
        "vocab": list(vocab(modulus)),
        "separators": list(SEPARATORS),
        "config": config,
        "seed": seed,
    }
    records = iter_arithmetic(
        np.random.default_rng(np.random.SeedSequence(seed)),
        data.n_train,
        operators=dist,
        modulus=modulus,
        fmt=data.fmt,
        under=under,
        dedup=dedup,
        exclude=questions,
        workers=workers,
    )
    return map(_as_arrays, records), meta
