"""bipe.automata: immutable NFAs, batched simulation, counting and uniform sampling.

Public API: :class:`NFA` (a DFA is the deterministic case).
"""

from bipe.automata.nfa import NFA

__all__ = ["NFA"]
