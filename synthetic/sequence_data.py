"""The automaton data family's config: what the tasks ``binfa_lm``, ``binfa_state``, ``nfa_lm``
and ``binfa3_lm`` use.

:class:`AutomatonData` adds to the shared :class:`~bipe.synthetic.family.DataConfig` the random
Bi-NFA's sizes (``n_symbols`` symbols, ``n_types`` segment types of ``inner_states`` states
each, ``outer_states`` outer states, ``out_degree`` edges per state; see
:func:`bipe.automata.random_binfa`) and the length laws: ``segments`` per sequence (the length
setting of these tasks) and ``segment_length`` tokens per segment, separator excluded
(``eval_segment_length``, when set, replaces it at evaluation). ``sub_segments`` is the
sentences-per-paragraph law of 3-level data (``binfa3_lm``; there ``segments`` counts
paragraphs); empty means a 2-level task, which refuses any other value.
``continuation_prefix`` is the fraction of a sequence given as the prompt of the
``continuation_valid`` metric. :func:`check_request` refuses absurd sizes up front.

:func:`build_automaton` is the one place a random Bi-NFA is drawn from these settings, by
``bipe gen binfa`` / ``nfa`` / ``binfa3`` and by the tasks alike, so the same settings and seed
give the same automaton everywhere. It realises every segment count of ``segments`` and of the
evaluation settings (``eval_lengths``, or by default up to twice the largest training count)
and every length of ``segment_length`` and ``eval_segment_length``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bipe.automata import BiNFA, random_binfa
from bipe.synthetic.distributions import parse_length_spec
from bipe.synthetic.family import (
    DataConfig,
    check_positive,
    check_size,
    default_eval_lengths,
    expected,
)
from bipe.synthetic.sequence_sampling import effective_support

__all__ = [
    "DATASET_KINDS",
    "KINDS",
    "MAX_UNIT",
    "AutomatonData",
    "DatasetKind",
    "build_automaton",
    "check_request",
    "eval_settings",
    "flat_length_spec",
    "support",
]

# the largest count a length law may draw: exact-count sampler tables take seconds at 2**14
# and grow quadratically past it (minutes at 2e5)
MAX_UNIT = 2**14


@dataclass(frozen=True, kw_only=True)
class DatasetKind:
    """What a dataset kind of this family draws: from an automaton of ``levels`` levels (None:
    any), under the per-level length specs ``laws`` (outermost first); ``flat``: words of the
    flattening, of a total length drawn from the ``length`` spec."""

    levels: int | None
    laws: tuple[str, ...]
    flat: bool = False


DATASET_KINDS = {  # meta.json "generator" -> its shape (bipe gen KIND)
    "binfa": DatasetKind(levels=2, laws=("segments", "segment_length")),
    "nfa": DatasetKind(levels=None, laws=("segments", "segment_length"), flat=True),
    "binfa3": DatasetKind(levels=3, laws=("segments", "sub_segments", "segment_length")),
}
KINDS = tuple(DATASET_KINDS)  # this family's dataset kinds


@dataclass(frozen=True, kw_only=True)
class AutomatonData(DataConfig):
    """A random Bi-NFA and the length laws of its sequences (module docstring)."""

    n_symbols: int = 4
    n_types: int = 2
    inner_states: int = 3
    outer_states: int = 3
    out_degree: int = 2
    segments: str = "uniform:2:8"
    segment_length: str = "uniform:1:4"
    eval_segment_length: str = ""
    sub_segments: str = ""
    continuation_prefix: float = 0.5

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive(self, "n_symbols", "n_types", "inner_states", "outer_states", "out_degree")
        if not 0.0 < self.continuation_prefix < 1.0:
            raise ValueError(
                f"data.continuation_prefix must lie in (0, 1), got {self.continuation_prefix}"
            )
        if self.sub_segments:
            try:
                parse_length_spec(self.sub_segments)
            except ValueError as err:
                raise ValueError(f"data.sub_segments: {err}") from None
        check_request(
            self.n_train, self.segments, self.segment_length, "data.n_train", self.sub_segments
        )


def check_request(
    n: int, segments: str, segment_length: str, what: str, sub_segments: str = ""
) -> None:
    """Refuse ``n`` sequences of ``segments`` segments of ``segment_length`` tokens (+ the
    separator) whose estimated total size is absurd; with ``sub_segments`` each segment is a
    paragraph of that many such sentences (+ its closing ``$``)."""
    mean_len = expected(parse_length_spec(segment_length), lambda k: k + 1.0)
    if sub_segments:
        sentence = mean_len
        mean_len = expected(parse_length_spec(sub_segments), lambda k: k * sentence + 1.0)
    mean = expected(parse_length_spec(segments), lambda k: k * mean_len)
    unit = f"paragraphs of {sub_segments} sentences" if sub_segments else "segments"
    check_size(n * mean, f"{what}: {n} sequences of {segments} {unit} of {segment_length} tokens")
    laws = {"segments": segments, "segment_length": segment_length, "sub_segments": sub_segments}
    for name, spec in laws.items():
        longest = parse_length_spec(spec).hi if spec else None
        if longest is not None and longest > MAX_UNIT:
            raise ValueError(
                f"{what}: {name} {spec} draws up to {longest} per unit; the exact-count "
                f"sampler grows quadratically in it and is refused above {MAX_UNIT}"
            )


def flat_length_spec(segments: str, segment_length: str) -> str:
    """The total-length spec of flat NFA words standing for ``segments`` segments of
    ``segment_length`` tokens (``nfa_lm``'s law; ``bipe gen nfa --length`` takes it): each
    count times the mean segment length plus one (the separator), rounded, as
    ``uniform:LO:HI`` (``fixed:L`` when LO = HI). Both specs must be bounded."""
    for spec in (segments, segment_length):
        if parse_length_spec(spec).hi is None:
            raise ValueError(f"length spec {spec!r} must be bounded for automata tasks")
    mean = float(np.mean(support(segment_length))) + 1.0
    values = support(segments)
    lo, hi = round(min(values) * mean), round(max(values) * mean)
    return f"fixed:{lo}" if lo == hi else f"uniform:{lo}:{hi}"


def support(spec: str) -> list[int]:
    """The values a length spec can draw (unbounded laws cut where the tail is below 1e-15)."""
    return [int(v) for v in effective_support(parse_length_spec(spec))[0]]


def eval_settings(data: AutomatonData) -> tuple[int, ...]:
    """The segment counts evaluated: ``eval_lengths``, or the default range of the training
    counts (:func:`~bipe.synthetic.family.default_eval_lengths`)."""
    counts = support(data.segments)
    return tuple(data.eval_lengths) or default_eval_lengths(min(counts), max(counts))


def build_automaton(
    rng: np.random.Generator,
    data: AutomatonData,
    *,
    deterministic: bool = False,
    sub_segments: str | None = None,
) -> BiNFA:
    """The random Bi-NFA of ``data`` (3 levels when ``sub_segments``, the sentences per
    paragraph, is given), realising every count and length the settings can ask for."""
    counts = set(support(data.segments)) | set(eval_settings(data))
    if sub_segments is not None:
        counts |= set(support(sub_segments))
    lengths = set(support(data.segment_length))
    if data.eval_segment_length:
        lengths |= set(support(data.eval_segment_length))
    return random_binfa(
        rng,
        data.n_symbols,
        data.n_types,
        data.inner_states,
        data.outer_states,
        out_degree=data.out_degree,
        deterministic=deterministic,
        segment_lengths=sorted(v for v in lengths if v > 0),
        segment_counts=sorted(counts),
        levels=2 if sub_segments is None else 3,
    )
