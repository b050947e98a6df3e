"""bipe.automata: immutable NFAs, batched simulation, counting, uniform sampling, random
automata and bilevel (Bi-NFA) automata.

Public API: :class:`NFA` (a DFA is the deterministic case), :class:`WordSampler`,
:func:`count_words`, :func:`random_nfa`, :func:`random_dfa`, :func:`missing_lengths`.
"""

from bipe.automata.counting import WordSampler, count_words
from bipe.automata.generate import missing_lengths, random_dfa, random_nfa
from bipe.automata.nfa import NFA

__all__ = ["NFA", "WordSampler", "count_words", "missing_lengths", "random_dfa", "random_nfa"]
