"""``binfa3_lm``: next-token language modelling on 3-level Bi-NFA sequences.

A sequence is paragraphs closed by ``$`` (= A + 1), each a run of sentences closed by ``#``
(= A), each sentence a word of its type's inner automaton (``bipe gen binfa3``'s data; see
:mod:`bipe.synthetic.sequence_sampling`). The length setting is the number of paragraphs
(``data.segments``; evaluation extrapolates in it); ``data.sub_segments`` is the
sentences-per-paragraph law (empty: ``uniform:2:4``, ``bipe gen binfa3 --sub-segments``'s
default) and ``data.segment_length`` the tokens per sentence. Metrics are ``binfa_lm``'s
(:class:`~bipe.experiments.tasks.automaton.AutomatonTask`; the oracle is the flattened 3-level
automaton, ``binfa.flatten().trim()``, which flattens the paragraph automata recursively).

Separators: ``hbipe`` gets one level per separator, innermost first: ``((A,), (A + 1,))``.
Every other encoding sees one level, ``(A, A + 1)``: both ``#`` and ``$`` close a segment, so a
paragraph's closing ``$`` (always right after a ``#``) is a one-token segment of its own, as in
the generator's innermost position stream (``seg``/``intra``, the examples' oracle).

Worked example (A = 2, vocabulary ``a b # $``), the 2-paragraph sequence ``a # b a # $ b # $``::

    tokens  : a  #  b  a  #  $  b  #  $      ids 0 2 1 0 2 3 1 2 3
    inputs  : a  #  b  a  #  $  b  #         (all tokens but the last)
    targets : #  b  a  #  $  b  #  $         (the next token)
    seg     : 0  0  1  1  1  2  3  3         (one level: '#' and '$' close a segment)
    intra   : 0  1  0  1  2  0  0  1
    para    : 0  0  0  0  0  0  1  1         (hbipe's outer level: '$' closes a paragraph)
    setting : 2                              (paragraphs)
"""

from __future__ import annotations

from typing import Any

from bipe.experiments.tasks.automaton import AutomatonTask
from bipe.models.registry import is_multi_level

__all__ = ["Binfa3Task", "DEFAULT_SUB_SEGMENTS"]

DEFAULT_SUB_SEGMENTS = "uniform:2:4"  # sentences per paragraph when data.sub_segments is empty


class Binfa3Task(AutomatonTask):
    """``binfa3_lm`` (module docstring). Settings are paragraph counts."""

    unit = "paragraphs"
    levels = 3

    def __init__(self, name: str = "binfa3_lm") -> None:
        super().__init__(name, flat=False, states=False)
        self.generators = ("binfa3",)

    def sub_segments(self, data: Any) -> str:
        """``data.sub_segments``, or ``uniform:2:4`` when empty."""
        return data.sub_segments or DEFAULT_SUB_SEGMENTS

    def setup(self, rng, data):
        """As for ``binfa_lm``; a saved dataset's sentences-per-paragraph law must be the run's
        (evaluation draws with the run's)."""
        if data.path:
            from bipe.synthetic.distributions import parse_length_spec

            saved = self.dataset_meta(data.path).get("config", {}).get("sub_segments")
            mine = str(parse_length_spec(self.sub_segments(data)))
            if saved is not None and saved != mine:
                raise ValueError(
                    f"{data.path}: paragraphs of {saved} sentences, but the run has "
                    f"data.sub_segments {mine}; set --data.sub_segments {saved}"
                )
        return super().setup(rng, data)

    def n_tokens(self, data: Any) -> int:
        return data.n_symbols + 2  # symbols 0..A-1, '#' = A, '$' = A + 1

    def separators(self, data: Any, world: Any = None) -> tuple[int, ...]:
        return (data.n_symbols, data.n_symbols + 1)

    def model_separators(self, data: Any, pe: str) -> tuple:
        """``((A,), (A + 1,))`` for a multi-level encoding (``hbipe``: sentences, paragraphs),
        else ``(A, A + 1)``."""
        if is_multi_level(pe):
            return tuple((s,) for s in self.separators(data))
        return self.separators(data)
