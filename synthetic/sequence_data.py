"""The automaton data family's config: what ``binfa_lm``, ``binfa_state`` and ``nfa_lm`` use.

:class:`AutomatonData` adds to the shared :class:`~bipe.synthetic.family.DataConfig` the random
Bi-NFA's sizes (``n_symbols`` symbols, ``n_types`` segment types of ``inner_states`` states
each, ``outer_states`` outer states, ``out_degree`` edges per state; see
:func:`bipe.automata.random_binfa`) and the length laws: ``segments`` per sequence (the length
setting of these tasks) and ``segment_length`` tokens per segment, separator excluded
(``eval_segment_length``, when set, replaces it at evaluation).
``continuation_prefix`` is the fraction of a sequence given as the prompt of the
``continuation_valid`` metric. :func:`check_request` refuses absurd sizes up front.
"""

from __future__ import annotations

from dataclasses import dataclass

from bipe.synthetic.distributions import parse_length_spec
from bipe.synthetic.family import DataConfig, check_positive, check_size, expected

__all__ = ["AutomatonData", "check_request"]


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
    continuation_prefix: float = 0.5

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive(self, "n_symbols", "n_types", "inner_states", "outer_states",
                       "out_degree")
        if not 0.0 < self.continuation_prefix < 1.0:
            raise ValueError(
                f"data.continuation_prefix must lie in (0, 1), got {self.continuation_prefix}"
            )
        check_request(self.n_train, self.segments, self.segment_length, "data.n_train")


def check_request(n: int, segments: str, segment_length: str, what: str) -> None:
    """Refuse ``n`` sequences of ``segments`` segments of ``segment_length`` tokens (+ the
    separator) whose estimated total size is absurd."""
    mean_len = expected(parse_length_spec(segment_length), lambda k: k + 1.0)
    mean = expected(parse_length_spec(segments), lambda k: k * mean_len)
    check_size(n * mean, f"{what}: {n} sequences of {segments} segments of {segment_length} "
               f"tokens")
