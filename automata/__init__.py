"""bipe.automata: immutable NFAs, batched simulation, counting, uniform sampling, random
automata and bilevel / multi-level (Bi-NFA) automata.

Public API: :class:`NFA` (a DFA is the deterministic case), :class:`WordSampler`,
:func:`count_words`, :func:`random_nfa`, :func:`random_dfa`, :func:`missing_lengths`,
:class:`BiNFA`, :class:`BiLabels`, :class:`MemberSampler` (the one sampler of NFA words and
Bi-NFA sequences, under finite :class:`LengthLaw` laws; returns :class:`Ragged`),
:func:`random_binfa`, :func:`automaton_from_dict`, :func:`segment_labels`.
"""

from bipe.automata.binfa import BiNFA, automaton_from_dict
from bipe.automata.bisample import LengthLaw, MemberSampler, Ragged
from bipe.automata.bisimulate import BiLabels, segment_labels
from bipe.automata.counting import WordSampler, count_words
from bipe.automata.generate import missing_lengths, random_binfa, random_dfa, random_nfa
from bipe.automata.nfa import NFA

__all__ = [
    "NFA",
    "BiLabels",
    "BiNFA",
    "LengthLaw",
    "MemberSampler",
    "Ragged",
    "WordSampler",
    "automaton_from_dict",
    "count_words",
    "missing_lengths",
    "random_binfa",
    "random_dfa",
    "random_nfa",
    "segment_labels",
]
