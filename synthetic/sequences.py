"""Bi-NFA, flat NFA and 3-level datasets: configs, generation, records and verification.

The sampling itself (feasibility-conditioned length laws, uniform type sequences and segments,
per-token labels) is in :mod:`bipe.synthetic.sequence_sampling`; its public names
(:func:`sample_binfa_sequences`, :func:`sample_nfa_sequences`, :class:`SequenceBatch`,
:class:`BinfaSequenceSampler`, :class:`NfaSequenceSampler`) are re-exported here.

- :class:`SequenceConfig` -- kind (``binfa``, ``nfa``, ``binfa3``), the random automaton's sizes
  and the length specs; :func:`build_automaton` draws the automaton, :func:`load_automaton` reads
  a saved one (a dataset's ``meta.json`` or a bare automaton JSON).
- :func:`generate_dataset` -- ``(records, meta)`` for
  :func:`bipe.synthetic.dataset.write_dataset` (what ``bipe gen`` calls): seeds become
  generators here, records are drawn lazily chunk by chunk.
- :func:`verify_record` -- why a record is invalid (used by ``bipe verify``).

Record fields: ``tokens``, ``seg`` (``seg2`` for the second level of 3-level data), ``intra``;
for ``binfa`` also ``types`` (each segment's type), ``inner_state`` and ``outer_state`` (see
:mod:`bipe.synthetic.sequence_sampling`); for ``binfa3`` ``types`` (sentences) and ``types2``
(paragraphs).

Worked example (``bipe gen binfa --n-symbols 2 ...``, vocabulary ``a b #``): the record
``{"tokens": [0, 0, 2, 1, 2], "seg": [0, 0, 0, 1, 1], "intra": [0, 1, 2, 0, 1], "types": [0, 1],
...}`` is the text ``a a # b #``: two segments, of types 0 and 1.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from bipe.automata import NFA, BiNFA, random_binfa
from bipe.synthetic.distributions import LengthDist, parse_length_spec
from bipe.synthetic.segment import multilevel_positions
from bipe.synthetic.sequence_sampling import (
    BinfaSequenceSampler,
    NfaSequenceSampler,
    SequenceBatch,
    effective_support,
    sample_binfa_sequences,
    sample_nfa_sequences,
)

__all__ = [
    "KINDS",
    "BinfaSequenceSampler",
    "NfaSequenceSampler",
    "SequenceBatch",
    "SequenceConfig",
    "batch_records",
    "build_automaton",
    "generate_dataset",
    "load_automaton",
    "sample_binfa_sequences",
    "sample_nfa_sequences",
    "verify_record",
    "vocab",
]


# ---------------------------------------------------------------------------- datasets

KINDS = ("binfa", "nfa", "binfa3")
_CHUNK = 4096  # sequences drawn per call when generating a dataset (fixed: same seed, same data)


@dataclass(frozen=True, kw_only=True)
class SequenceConfig:
    """A Bi-NFA / flat NFA / 3-level dataset: the random automaton and the length laws.

    ``kind`` is ``binfa`` (2 levels), ``nfa`` (words of the flattened 2-level automaton, total
    length from ``length``) or ``binfa3`` (3 levels: ``segments`` paragraphs per sequence,
    ``sub_segments`` sentences per paragraph, ``segment_length`` tokens per sentence). Automaton
    fields are ``random_binfa``'s (``inner_states`` states per type, ``outer_states`` outer
    states, ``out_degree`` edges per state; every length in the supports is made realisable).
    ``automaton_file`` records that the automaton was loaded instead (the automaton fields are
    then not used). Specs follow :mod:`bipe.synthetic.distributions`.
    """

    kind: str = "binfa"
    n: int = 1000
    n_symbols: int = 4
    n_types: int = 3
    inner_states: int = 4
    outer_states: int = 3
    out_degree: int = 2
    deterministic: bool = False
    segments: str = "uniform:4:8"
    segment_length: str = "uniform:1:6"
    sub_segments: str = "uniform:2:4"
    length: str = "uniform:16:64"
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

    def spec_fields(self) -> tuple[str, ...]:
        """The length-spec fields this kind uses (``length`` for nfa, ...)."""
        return {"binfa": ("segments", "segment_length"),
                "nfa": ("segments", "segment_length", "length"),
                "binfa3": ("segments", "sub_segments", "segment_length")}[self.kind]

    def dists(self) -> list[LengthDist]:
        """The per-level laws, outermost first (for ``nfa``: those of the automaton)."""
        names = ("segments", "sub_segments", "segment_length") if self.kind == "binfa3" \
            else ("segments", "segment_length")
        return [parse_length_spec(getattr(self, name)) for name in names]

    def to_dict(self) -> dict[str, Any]:
        """The resolved config (specs in canonical form; only the fields this kind uses)."""
        structure = ("n_symbols", "n_types", "inner_states", "outer_states", "out_degree",
                     "deterministic") if self.automaton_file is None else ("automaton_file",)
        keep = ("kind", "n", *structure, *self.spec_fields())
        out = {name: getattr(self, name) for name in keep}
        for name in self.spec_fields():
            out[name] = str(parse_length_spec(out[name]))
        return out


def _support_values(dist: LengthDist) -> list[int]:
    return [int(v) for v in effective_support(dist)[0]]


def build_automaton(rng: np.random.Generator, config: SequenceConfig) -> BiNFA:
    """A random Bi-NFA (3 levels for ``binfa3``) realising every length the specs allow."""
    dists = config.dists()
    counts = sorted(set(_support_values(dists[0])) | (
        set(_support_values(dists[1])) if config.kind == "binfa3" else set()))
    return random_binfa(
        rng, config.n_symbols, config.n_types, config.inner_states, config.outer_states,
        out_degree=config.out_degree, deterministic=config.deterministic,
        segment_lengths=[v for v in _support_values(dists[-1]) if v > 0],
        segment_counts=counts, levels=3 if config.kind == "binfa3" else 2,
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
        raise ValueError(f"{path}: holds no Bi-NFA (expected a meta.json with an 'automaton' "
                         f"or a dict with kind 'binfa')")
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
    ``types`` (``types2``), and ``inner_state``/``outer_state`` when the batch has them.
    Values are int64 array views (``write_dataset`` serialises arrays fastest)."""
    segs, intra = batch.positions()
    columns: dict[str, tuple[np.ndarray, np.ndarray]] = {"tokens": (batch.tokens, batch.offsets)}
    for level in range(len(segs)):
        columns["seg" if level == 0 else f"seg{level + 1}"] = (segs[level], batch.offsets)
    columns["intra"] = (intra, batch.offsets)
    if kind != "nfa":
        for level, (types, offsets) in enumerate(zip(batch.types, batch.type_offsets,
                                                     strict=True)):
            columns["types" if level == 0 else f"types{level + 1}"] = (types, offsets)
    if batch.inner_state is not None:
        columns["inner_state"] = (batch.inner_state, batch.offsets)
        columns["outer_state"] = (batch.outer_state, batch.offsets)
    return [{name: values[offsets[i]:offsets[i + 1]] for name, (values, offsets)
             in columns.items()} for i in range(batch.n)]


def _sampler(config: SequenceConfig, binfa: BiNFA) -> Any:
    if config.kind == "binfa3" and binfa.levels != 3:
        raise ValueError(f"bipe gen binfa3 needs a 3-level automaton, got {binfa.levels} levels")
    if config.kind == "binfa" and binfa.levels != 2:
        raise ValueError(f"bipe gen binfa needs a 2-level automaton, got {binfa.levels} levels "
                         f"(use binfa3 for 3 levels)")
    if config.kind == "nfa":
        return NfaSequenceSampler.build(binfa.flatten(), parse_length_spec(config.length),
                                        binfa.separators)
    return BinfaSequenceSampler.build(binfa, config.dists())


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
    the same data), the other the sequences, chunk by chunk. Every setting is validated here,
    before any record is drawn; ``records`` is a lazy iterator (memory stays bounded) and
    ``progress`` shows a tqdm bar on a terminal for large ``n``.
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    automaton_seq, data_seq = np.random.SeedSequence(seed).spawn(2)
    binfa = automaton if automaton is not None \
        else build_automaton(np.random.default_rng(automaton_seq), config)
    sampler = _sampler(config, binfa)
    meta = {
        "generator": config.kind, "config": config.to_dict(), "seed": seed,
        "vocab": vocab(binfa), "separators": list(binfa.separators),
        "levels": binfa.levels, "automaton": binfa.to_dict(),
    }

    def records() -> Iterator[dict[str, Any]]:
        rng = np.random.default_rng(data_seq)
        show = progress and config.n >= 8 * _CHUNK and sys.stderr.isatty()
        with tqdm(total=config.n, disable=not show, unit="seq", desc=f"gen {config.kind}",
                  file=sys.stderr) as bar:
            for start in range(0, config.n, _CHUNK):
                batch = sampler.sample(rng, min(_CHUNK, config.n - start))
                yield from batch_records(batch, config.kind)
                bar.update(batch.n)

    return records(), meta


# ---------------------------------------------------------------------------- verification


@dataclass(frozen=True, kw_only=True, eq=False)
class _BitNFA:
    """An NFA as Python-int bitsets, for checking one short word at a time quickly."""

    start: int
    accept: int
    succ: tuple[tuple[int, ...], ...]  # succ[a][q] = successor set of (q, a)

    @classmethod
    def of(cls, nfa: NFA) -> _BitNFA:
        weights = [1 << r for r in range(nfa.n_states)]
        succ = tuple(tuple(sum(w for w, on in zip(weights, row, strict=True) if on)
                           for row in nfa.delta[a]) for a in range(nfa.n_symbols))
        return cls(start=sum(1 << q for q in nfa.start), accept=sum(1 << q for q in nfa.accept),
                   succ=succ)

    def accepts(self, word: Sequence[int]) -> bool:
        states = self.start
        for a in word:
            if not 0 <= a < len(self.succ):
                return False
            row, nxt = self.succ[a], 0
            while states:
                low = states & -states
                nxt |= row[low.bit_length() - 1]
                states ^= low
            states = nxt
            if not states:
                return False
        return bool(states & self.accept)


@dataclass(frozen=True, kw_only=True, eq=False)
class _Checker:
    binfa: BiNFA
    flat: _BitNFA
    outer: _BitNFA
    inner: tuple[_BitNFA | None, ...]


@functools.lru_cache(maxsize=8)
def _parsed(automaton_json: str) -> _Checker:
    """A meta's Bi-NFA with bitset forms of its flattening, outer and (NFA) inner automata,
    parsed once per distinct automaton."""
    binfa = BiNFA.from_dict(json.loads(automaton_json))
    return _Checker(binfa=binfa, flat=_BitNFA.of(binfa.flatten()),
                    outer=_BitNFA.of(binfa.outer),
                    inner=tuple(_BitNFA.of(x) if isinstance(x, NFA) else None
                                for x in binfa.inner))


def _int_list(record: Mapping[str, Any], key: str) -> list[int] | str:
    value = record.get(key)
    if not isinstance(value, list) or not all(
            isinstance(x, int) and not isinstance(x, bool) for x in value):
        return f"field {key!r} must be a list of ints"
    return value


def _within(dist_spec: str | None, values: np.ndarray, what: str) -> str | None:
    """Why some value lies outside the spec's bounds (None if all inside or no spec)."""
    if dist_spec is None:
        return None
    try:
        dist = parse_length_spec(dist_spec)
    except ValueError:
        return f"meta config has a malformed {what} spec {dist_spec!r}"
    bad = values[(values < dist.lo) | ((values > dist.hi) if dist.hi is not None else False)]
    return f"{what} {int(bad[0])} outside {dist}" if bad.size else None


def verify_record(record: Mapping[str, Any], meta: Mapping[str, Any]) -> str | None:
    """Why a ``binfa``/``nfa``/``binfa3`` record is invalid, or ``None`` if it is valid.

    Checks: fields are int lists of equal length; tokens lie in the vocabulary; the Bi-NFA's
    reference simulator (and for ``nfa`` the flattened automaton) accepts the tokens; the
    position streams equal :func:`~bipe.synthetic.segment.multilevel_positions`; counts and
    lengths respect the config's specs; ``types`` give an outer word whose types accept the
    segments; ``inner_state``/``outer_state`` are states of the right automata.
    """
    kind = meta.get("generator")
    if kind not in KINDS:
        return f"generator {kind!r} is not one of {', '.join(KINDS)}"
    try:
        checker = _parsed(json.dumps(meta["automaton"], sort_keys=True))
    except (KeyError, ValueError, TypeError) as err:
        return f"meta has no valid automaton ({err})"
    binfa = checker.binfa
    tokens = _int_list(record, "tokens")
    if isinstance(tokens, str):
        return tokens
    stream_names = ["seg"] + [f"seg{level + 1}" for level in range(1, binfa.levels - 1)]
    for key in [*stream_names, "intra"]:
        values = _int_list(record, key)
        if isinstance(values, str):
            return values
        if len(values) != len(tokens):
            return f"{key} has {len(values)} entries, tokens have {len(tokens)}"
    row = np.asarray(tokens, dtype=np.int64)
    if row.size and (row.min() < 0 or row.max() >= binfa.vocab_size):
        return f"token ids must lie in 0..{binfa.vocab_size - 1}"
    if not checker.flat.accepts(tokens):  # the flattening has the Bi-NFA's language
        return "tokens are not in the automaton's language"
    levels = [[s] for s in binfa.separators]
    segs, intra = multilevel_positions(row, levels)
    for level, key in enumerate(stream_names):
        if record[key] != segs[level].tolist():
            return f"{key} differs from the separator positions (docs/method.md#positions)"
    if record["intra"] != intra.tolist():
        return "intra differs from the separator positions (docs/method.md#positions)"
    return _check_specs(record, meta, checker, row)


def _check_specs(record: Mapping[str, Any], meta: Mapping[str, Any], checker: _Checker,
                 row: np.ndarray) -> str | None:
    """Counts/lengths against the config; types and states against the automata."""
    config = meta.get("config", {})
    kind, binfa = meta["generator"], checker.binfa
    if kind == "nfa":
        return _within(config.get("length"), np.array([len(row)]), "length")
    top = np.flatnonzero(row == binfa.separator)
    ends = np.flatnonzero(row >= binfa.n_symbols)  # every separator closes an innermost unit
    content = (np.diff(np.r_[-1, ends]) - 1)[row[ends] == binfa.n_symbols]  # sentences only
    if kind == "binfa3":
        sentences = np.flatnonzero(row == binfa.n_symbols)
        per_paragraph = np.diff(np.r_[0, np.searchsorted(sentences, top)])
        problem = _within(config.get("sub_segments"), per_paragraph, "sentences per paragraph")
        if problem:
            return problem
    problem = _within(config.get("segments"), np.array([len(top)]), "segment count") or \
        _within(config.get("segment_length"), content, "segment length")
    if problem or kind != "binfa":
        return problem
    return _check_types_and_states(record, checker, row, top)


def _check_types_and_states(record: Mapping[str, Any], checker: _Checker, row: np.ndarray,
                            ends: np.ndarray) -> str | None:
    binfa = checker.binfa
    if "types" in record:
        types = _int_list(record, "types")
        if isinstance(types, str) or len(types) != len(ends):
            return "types must list one type per segment"
        if not checker.outer.accepts(types):
            return "types are not a word of the outer automaton"
        for k, segment in zip(types, np.split(row, ends + 1)[:-1], strict=True):
            if not checker.inner[k].accepts(segment[:-1].tolist()):
                return f"a segment is not accepted by its type {k}"
    for key, sizes in (("inner_state", [x.n_states for x in binfa.inner]),
                       ("outer_state", [binfa.outer.n_states])):
        if key in record:
            values = _int_list(record, key)
            if isinstance(values, str) or len(values) != len(row):
                return f"{key} must have one int per token"
            if any(v < -1 or v >= max(sizes) for v in values):
                return f"{key} holds an impossible state id"
    return None
