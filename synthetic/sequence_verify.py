"""Checking Bi-NFA, flat NFA and 3-level records against their dataset's ``meta.json``.

:func:`verify_record` (what ``bipe verify`` runs on ``binfa``/``nfa``/``binfa3`` datasets, through
the family registry :mod:`bipe.synthetic.families`) says why a record is invalid: fields, the
vocabulary, membership (a bitset simulator of the flattened automaton, independent of the
sampler), the position streams, the config's length specs, the segment types and state labels.
Re-exported by :mod:`bipe.synthetic.sequences`.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bipe.automata import NFA, BiNFA
from bipe.synthetic.distributions import parse_length_spec
from bipe.synthetic.segment import multilevel_positions
from bipe.synthetic.sequence_data import DATASET_KINDS, KINDS

__all__ = ["verify_record"]


@dataclass(frozen=True, kw_only=True, eq=False)
class _BitNFA:
    """An NFA as Python-int bitsets, for checking one short word at a time quickly."""

    start: int
    accept: int
    succ: tuple[tuple[int, ...], ...]  # succ[a][q] = successor set of (q, a)

    @classmethod
    def of(cls, nfa: NFA) -> _BitNFA:
        weights = [1 << r for r in range(nfa.n_states)]
        succ = tuple(
            tuple(sum(w for w, on in zip(weights, row, strict=True) if on) for row in nfa.delta[a])
            for a in range(nfa.n_symbols)
        )
        return cls(
            start=sum(1 << q for q in nfa.start), accept=sum(1 << q for q in nfa.accept), succ=succ
        )

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
    return _Checker(
        binfa=binfa,
        flat=_BitNFA.of(binfa.flatten()),
        outer=_BitNFA.of(binfa.outer),
        inner=tuple(_BitNFA.of(x) if isinstance(x, NFA) else None for x in binfa.inner),
    )


def _int_list(record: Mapping[str, Any], key: str) -> list[int] | str:
    value = record.get(key)
    if not isinstance(value, list) or not all(
        isinstance(x, int) and not isinstance(x, bool) for x in value
    ):
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


def _check_specs(
    record: Mapping[str, Any], meta: Mapping[str, Any], checker: _Checker, row: np.ndarray
) -> str | None:
    """Counts/lengths against the config; types and states against the automata."""
    config = meta.get("config", {})
    kind, binfa = DATASET_KINDS[meta["generator"]], checker.binfa
    if kind.flat:
        return _within(config.get("length"), np.array([len(row)]), "length")
    top = np.flatnonzero(row == binfa.separator)
    ends = np.flatnonzero(row >= binfa.n_symbols)  # every separator closes an innermost unit
    content = (np.diff(np.r_[-1, ends]) - 1)[row[ends] == binfa.n_symbols]  # sentences only
    if kind.levels == 3:
        sentences = np.flatnonzero(row == binfa.n_symbols)
        per_paragraph = np.diff(np.r_[0, np.searchsorted(sentences, top)])
        problem = _within(config.get("sub_segments"), per_paragraph, "sentences per paragraph")
        if problem:
            return problem
    problem = _within(config.get("segments"), np.array([len(top)]), "segment count") or _within(
        config.get("segment_length"), content, "segment length"
    )
    if problem or kind.levels != 2:
        return problem
    return _check_types_and_states(record, checker, row, top)


def _check_types_and_states(
    record: Mapping[str, Any], checker: _Checker, row: np.ndarray, ends: np.ndarray
) -> str | None:
    binfa = checker.binfa
    if "types" in record:
        types = _int_list(record, "types")
        if isinstance(types, str) or len(types) != len(ends):
            return "types must list one type per segment"
        if not checker.outer.accepts(types):
            return "types are not a word of the outer automaton"
        for k, segment in zip(types, np.split(row, ends + 1)[:-1], strict=True):
            if not checker.inner[k].accepts(segment[:-1].tolist()):  # type: ignore[union-attr]
                return f"a segment is not accepted by its type {k}"
    for key, sizes in (
        ("inner_state", [x.n_states for x in binfa.inner]),  # type: ignore[union-attr]
        ("outer_state", [binfa.outer.n_states]),
    ):
        if key in record:
            values = _int_list(record, key)
            if isinstance(values, str) or len(values) != len(row):
                return f"{key} must have one int per token"
            if any(v < -1 or v >= max(sizes) for v in values):
                return f"{key} holds an impossible state id"
    return None
