"""Bi-NFA, flat NFA and 3-level datasets: configs, generation, records and verification.

The sampling itself (feasibility-conditioned length laws, uniform type sequences and segments,
per-token labels) is in :mod:`bipe.synthetic.sequence_sampling`; its public names
(:func:`sample_binfa_sequences`, :func:`sample_nfa_sequences`, :class:`SequenceBatch`,
:class:`BinfaSequenceSampler`, :class:`NfaSequenceSampler`, :func:`draw_batches`,
:func:`draw_sequences`) are re-exported here.

- :class:`SequenceConfig` -- kind (``binfa``, ``nfa``, ``binfa3``), the random automaton's sizes
  and the length specs; :func:`build_automaton` draws the automaton, :func:`load_automaton` reads
  a saved one (a dataset's ``meta.json`` or a bare automaton JSON).
  :meth:`SequenceConfig.from_data` makes one from the family's run config
  (:class:`~bipe.synthetic.sequence_data.AutomatonData`, what ``bipe train`` parses), so the
  same ``--data.*`` settings and seed draw the same automaton and sequences in ``bipe gen`` and
  in training.
- :func:`build_sampler` -- the sampler of a dataset config's laws for an automaton; with
  :func:`draw_batches` (chunks of ``DRAW_CHUNK`` sequences) the one path by which ``bipe gen``
  and the automaton tasks (training and evaluation sets) draw sequences: a task's draw is the
  dataset config ``AutomatonTask.dataset_config`` gives, so a run with data seed S trains on
  exactly the records ``generate_dataset`` writes for seed S (docs/method.md#bi-nfa).
- :func:`generate_dataset` -- ``(records, meta)`` for
  :func:`bipe.synthetic.dataset.write_dataset`: seeds become generators here, records are drawn
  lazily chunk by chunk. :func:`family_dataset` is the automaton family's entry in the registry
  (:mod:`bipe.synthetic.families`; what ``bipe gen binfa/nfa/binfa3`` calls): the same from an
  ``AutomatonData``.
- :func:`verify_record` -- why a record is invalid (used by ``bipe verify``; in
  :mod:`bipe.synthetic.sequence_verify`, re-exported here).

Record fields: ``tokens``, ``seg`` (``seg2`` for the second level of 3-level data), ``intra``;
for ``binfa`` also ``types`` (each segment's type), ``inner_state`` and ``outer_state`` (see
:mod:`bipe.synthetic.sequence_sampling`); for ``binfa3`` ``types`` (sentences) and ``types2``
(paragraphs).

Worked example (``bipe gen binfa --data.n_symbols 2 ...``, vocabulary ``a b #``): the record
``{"tokens": [0, 0, 2, 1, 2], "seg": [0, 0, 0, 1, 1], "intra": [0, 1, 2, 0, 1], "types": [0, 1],
...}`` is the text ``a a # b #``: two segments, of types 0 and 1.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from bipe.automata import BiNFA
from bipe.synthetic import sequence_sampling
from bipe.synthetic.distributions import LengthDist, parse_length_spec
from bipe.synthetic.sequence_data import DATASET_KINDS, KINDS, AutomatonData, check_request
from bipe.synthetic.sequence_data import build_automaton as build_data_automaton
from bipe.synthetic.sequence_sampling import (
    BinfaSequenceSampler,
    NfaSequenceSampler,
    SequenceBatch,
    draw_batches,
    draw_sequences,
    sample_binfa_sequences,
    sample_nfa_sequences,
)
from bipe.synthetic.sequence_verify import verify_record

__all__ = [
    "KINDS",
    "BinfaSequenceSampler",
    "NfaSequenceSampler",
    "SequenceBatch",
    "SequenceConfig",
    "automaton_data",
    "batch_records",
    "build_automaton",
    "build_sampler",
    "check_dataset_size",
    "draw_batches",
    "draw_sequences",
    "family_dataset",
    "generate_dataset",
    "load_automaton",
    "sample_binfa_sequences",
    "sample_nfa_sequences",
    "verify_record",
    "vocab",
]


# ---------------------------------------------------------------------------- datasets

_DEFAULT = AutomatonData()  # one default automaton for bipe gen and the tasks


@dataclass(frozen=True, kw_only=True)
class SequenceConfig:
    """A Bi-NFA / flat NFA / 3-level dataset: the random automaton and the length laws.

    ``kind`` is ``binfa`` (2 levels), ``nfa`` (words of the flattened 2-level automaton, total
    length from ``length``) or ``binfa3`` (3 levels: ``segments`` paragraphs per sequence,
    ``sub_segments`` sentences per paragraph, ``segment_length`` tokens per sentence). Automaton
    fields are ``random_binfa``'s (``inner_states`` states per type, ``outer_states`` outer
    states, ``out_degree`` edges per state; every length in the supports is made realisable).
    ``eval_lengths`` / ``eval_segment_length`` are the run config's evaluation settings, which
    the random automaton also realises (empty: the defaults, as in training). ``automaton_file``
    records that the automaton was loaded instead (the automaton fields are then not used).
    Specs follow :mod:`bipe.synthetic.distributions`.
    """

    kind: str = "binfa"
    n: int = 1000
    n_symbols: int = _DEFAULT.n_symbols
    n_types: int = _DEFAULT.n_types
    inner_states: int = _DEFAULT.inner_states
    outer_states: int = _DEFAULT.outer_states
    out_degree: int = _DEFAULT.out_degree
    deterministic: bool = False
    segments: str = _DEFAULT.segments
    segment_length: str = _DEFAULT.segment_length
    sub_segments: str = "uniform:2:4"
    length: str = "uniform:16:64"
    eval_lengths: tuple[int, ...] = ()
    eval_segment_length: str = ""
    automaton_file: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown sequence kind {self.kind!r}; known: {', '.join(KINDS)}")
        for name in ("n_symbols", "n_types", "inner_states", "outer_states", "out_degree"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if not isinstance(self.n, int) or isinstance(self.n, bool) or self.n < 0:
            raise ValueError(f"n must be a non-negative int, got {self.n!r}")
        for name in self.spec_fields():
            parse_length_spec(getattr(self, name))  # raises naming the spec and the grammar
        if self.eval_segment_length:
            parse_length_spec(self.eval_segment_length)

    def spec_fields(self) -> tuple[str, ...]:
        """The length-spec fields this kind uses (``length`` for nfa, ...)."""
        kind = DATASET_KINDS[self.kind]
        return (*kind.laws, "length") if kind.flat else kind.laws

    def dists(self) -> list[LengthDist]:
        """The per-level laws, outermost first (for ``nfa``: those of the automaton)."""
        return [parse_length_spec(getattr(self, name)) for name in DATASET_KINDS[self.kind].laws]

    def to_dict(self) -> dict[str, Any]:
        """The resolved config (specs in canonical form; only the fields this kind uses)."""
        structure = (
            ("n_symbols", "n_types", "inner_states", "outer_states", "out_degree", "deterministic")
            if self.automaton_file is None
            else ("automaton_file",)
        )
        keep = ("kind", "n", *structure, *self.spec_fields())
        out = {name: getattr(self, name) for name in keep}
        for name in self.spec_fields():
            out[name] = str(parse_length_spec(out[name]))
        if self.automaton_file is None and self.eval_lengths:  # set only: older metas lack it
            out["eval_lengths"] = list(self.eval_lengths)
        if self.automaton_file is None and self.eval_segment_length:
            out["eval_segment_length"] = str(parse_length_spec(self.eval_segment_length))
        return out

    @classmethod
    def from_data(
        cls, data: AutomatonData, *, kind: str = "binfa", **options: Any
    ) -> SequenceConfig:
        """The dataset config of the family's run config ``data`` (``n_train`` sequences);
        ``options`` set the dataset-only fields (``deterministic``, ``sub_segments``,
        ``length``, ``automaton_file``)."""
        unknown = sorted(set(options) - _DATASET_ONLY)
        if unknown:
            raise ValueError(
                f"unknown dataset option {unknown[0]!r}; known: {', '.join(sorted(_DATASET_ONLY))}"
            )
        shared = {
            name: getattr(data, name)
            for name in (
                "n_symbols",
                "n_types",
                "inner_states",
                "outer_states",
                "out_degree",
                "segments",
                "segment_length",
                "eval_lengths",
                "eval_segment_length",
            )
        }
        return cls(kind=kind, n=data.n_train, **shared, **options)


_DATASET_ONLY = {"deterministic", "sub_segments", "length", "automaton_file"}


def automaton_data(config: SequenceConfig) -> AutomatonData:
    """The automaton settings of a dataset config, as the tasks' :class:`AutomatonData`."""
    return AutomatonData(
        n_train=max(1, config.n),
        n_symbols=config.n_symbols,
        n_types=config.n_types,
        inner_states=config.inner_states,
        outer_states=config.outer_states,
        out_degree=config.out_degree,
        segments=config.segments,
        segment_length=config.segment_length,
        eval_lengths=tuple(config.eval_lengths),
        eval_segment_length=config.eval_segment_length,
    )


def build_automaton(rng: np.random.Generator, config: SequenceConfig) -> BiNFA:
    """A random Bi-NFA (3 levels for ``binfa3``) realising every length the specs allow and
    the default evaluation counts (:func:`bipe.synthetic.sequence_data.build_automaton`)."""
    return build_data_automaton(
        rng,
        automaton_data(config),
        deterministic=config.deterministic,
        sub_segments=config.sub_segments if DATASET_KINDS[config.kind].levels == 3 else None,
    )


def load_automaton(path: str | os.PathLike) -> BiNFA:
    """A Bi-NFA from a JSON file: a dataset's ``meta.json`` (its ``automaton``), a dataset
    folder, or a bare automaton dict (:meth:`BiNFA.to_dict`)."""
    path = Path(path)
    if path.is_dir():
        path = path / "meta.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err.msg})") from None
    if isinstance(data, dict) and "automaton" in data:
        data = data["automaton"]
    if not isinstance(data, dict) or data.get("kind") != "binfa":
        raise ValueError(
            f"{path}: holds no Bi-NFA (expected a meta.json with an 'automaton' "
            f"or a dict with kind 'binfa')"
        )
    try:
        return BiNFA.from_dict(data)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None


def vocab(binfa: BiNFA) -> list[str]:
    """Token strings, index = id: letters (or ``s<i>``) for symbols, then ``#``, ``$``, ..."""
    a = binfa.n_symbols
    symbols = [chr(ord("a") + i) for i in range(a)] if a <= 26 else [f"s{i}" for i in range(a)]
    marks = ["#", "$", "%", "&"]
    seps = [marks[i] if i < len(marks) else f"<sep{i}>" for i in range(len(binfa.separators))]
    return symbols + seps


def batch_records(batch: SequenceBatch, kind: str) -> list[dict[str, Any]]:
    """One dict per sequence: ``tokens``, ``seg`` (``seg2`` for the second level), ``intra``;
    ``types`` (``types2``), and ``inner_state``/``outer_state`` when the batch has them (a
    flat ``nfa`` batch has no types). ``kind`` names the batch's dataset kind (checked).
    Values are int64 array views (``write_dataset`` serialises arrays fastest)."""
    if kind not in KINDS:
        raise ValueError(f"unknown sequence kind {kind!r}; known: {', '.join(KINDS)}")
    segs, intra = batch.positions()
    columns: dict[str, tuple[np.ndarray, np.ndarray]] = {"tokens": (batch.tokens, batch.offsets)}
    for level in range(len(segs)):
        columns["seg" if level == 0 else f"seg{level + 1}"] = (segs[level], batch.offsets)
    columns["intra"] = (intra, batch.offsets)
    for level, (types, offsets) in enumerate(zip(batch.types, batch.type_offsets, strict=True)):
        columns["types" if level == 0 else f"types{level + 1}"] = (types, offsets)
    if batch.inner_state is not None:
        columns["inner_state"] = (batch.inner_state, batch.offsets)
        columns["outer_state"] = (batch.outer_state, batch.offsets)  # type: ignore[assignment]
    return [
        {name: values[offsets[i] : offsets[i + 1]] for name, (values, offsets) in columns.items()}
        for i in range(batch.n)
    ]


def build_sampler(
    config: SequenceConfig, binfa: BiNFA
) -> BinfaSequenceSampler | NfaSequenceSampler:
    """The sampler of ``config``'s kind and laws for ``binfa`` (``nfa``: words of its trimmed
    flattening under ``config.length``); ``ValueError`` when the automaton's levels do not fit
    the kind or no sequence can be drawn."""
    kind = DATASET_KINDS[config.kind]
    if kind.levels is not None and binfa.levels != kind.levels:
        others = ", ".join(f"{name} {k.levels}" for name, k in DATASET_KINDS.items() if k.levels)
        raise ValueError(
            f"bipe gen {config.kind} needs a {kind.levels}-level automaton, got "
            f"{binfa.levels} levels (levels per kind: {others})"
        )
    if kind.flat:
        return NfaSequenceSampler.build(
            binfa.flatten().trim(), parse_length_spec(config.length), binfa.separators
        )
    return BinfaSequenceSampler.build(binfa, config.dists())


def check_dataset_size(config: SequenceConfig, what: str) -> None:
    """Refuse a draw of ``config`` whose estimated size is absurd, before anything is built
    (``what`` names the request in the message); the one check of ``bipe gen`` and the tasks."""
    if DATASET_KINDS[config.kind].flat:
        check_request(config.n, config.length, "fixed:0", what)
    elif DATASET_KINDS[config.kind].levels == 3:
        check_request(config.n, config.segments, config.segment_length, what, config.sub_segments)
    else:
        check_request(config.n, config.segments, config.segment_length, what)


def generate_dataset(
    config: SequenceConfig,
    seed: int,
    *,
    automaton: BiNFA | None = None,
    progress: bool = False,
) -> tuple[Iterator[dict[str, Any]], dict[str, Any]]:
    """``(records, meta)`` for :func:`bipe.synthetic.dataset.write_dataset`.

    Independent streams come from ``SeedSequence(seed).spawn(2)``: one draws the random
    automaton (unused when ``automaton`` is given, so a reused automaton and the same seed give
    the same data), the other the sequences, by :func:`draw_batches` (as the automaton tasks
    draw theirs). Every setting is validated here, before any record is drawn; ``records`` is a
    lazy iterator (memory stays bounded) and ``progress`` shows a tqdm bar on a terminal for
    large ``n``.
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    check_dataset_size(config, f"bipe gen {config.kind}")
    automaton_seq, data_seq = np.random.SeedSequence(seed).spawn(2)
    binfa = (
        automaton
        if automaton is not None
        else build_automaton(np.random.default_rng(automaton_seq), config)
    )
    sampler = build_sampler(config, binfa)
    meta = {
        "generator": config.kind,
        "config": config.to_dict(),
        "seed": seed,
        "vocab": vocab(binfa),
        "separators": list(binfa.separators),
        "levels": binfa.levels,
        "automaton": binfa.to_dict(),
    }

    def records() -> Iterator[dict[str, Any]]:
        rng = np.random.default_rng(data_seq)
        show = progress and config.n > sequence_sampling.DRAW_CHUNK and sys.stderr.isatty()
        with tqdm(
            total=config.n, disable=not show, unit="seq", desc=f"gen {config.kind}", file=sys.stderr
        ) as bar:
            for batch in draw_batches(sampler, rng, config.n):
                yield from batch_records(batch, config.kind)
                bar.update(batch.n)

    return records(), meta


def family_dataset(
    data: AutomatonData,
    seed: int,
    *,
    kind: str = "binfa",
    automaton: BiNFA | None = None,
    progress: bool = False,
    **options: Any,
) -> tuple[Iterator[dict[str, Any]], dict[str, Any]]:
    """The automaton family's ``generate_dataset(config, seed)``: :func:`generate_dataset` of
    :meth:`SequenceConfig.from_data` (``kind`` and ``options`` as there)."""
    config = SequenceConfig.from_data(data, kind=kind, **options)
    return generate_dataset(config, seed, automaton=automaton, progress=progress)
