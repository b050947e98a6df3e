"""The task registry: what a model is trained on and how it is scored.

One module per task family, each documenting its tasks with a worked input -> target example:

- :mod:`~bipe.experiments.tasks.base` -- :class:`Task` (the interface), :class:`Examples`,
  ``IGNORE``;
- :mod:`~bipe.experiments.tasks.arith` -- ``arith``, ``arith_direct``;
- :mod:`~bipe.experiments.tasks.automaton` -- ``binfa_lm``, ``binfa_state``, ``nfa_lm``;
- :mod:`~bipe.experiments.tasks.automaton3` -- ``binfa3_lm`` (3-level Bi-NFA);
- :mod:`~bipe.experiments.tasks.text` -- ``text_lm``, ``passkey``;
- :mod:`~bipe.experiments.tasks.ruler` -- ``ruler:niah_single``, ``ruler:niah_multikey``,
  ``ruler:niah_multivalue``, ``ruler:niah_multiquery``, ``ruler:variable_tracking``.
- :mod:`~bipe.experiments.tasks.chomsky` -- ``chomsky:TASK``, the 15 tasks of the
  Chomsky-hierarchy suite (reference and decoder protocols).

:data:`TASKS` maps each name to its task object; :func:`get_task` looks one up by exact name.
"""

from __future__ import annotations

from bipe.experiments.tasks.arith import ArithTask
from bipe.experiments.tasks.automaton import AutomatonTask
from bipe.experiments.tasks.automaton3 import Binfa3Task
from bipe.experiments.tasks.base import IGNORE, Examples, Task
from bipe.experiments.tasks.chomsky import ChomskyTask
from bipe.experiments.tasks.ruler import RULER_TASK_NAMES, RulerTask
from bipe.experiments.tasks.text import PasskeyTask, TextLMTask
from bipe.synthetic.chomsky import TASKS as CHOMSKY_TASKS

__all__ = ["IGNORE", "TASKS", "Examples", "Task", "get_task"]

TASKS: dict[str, Task] = {
    "arith": ArithTask("arith", None),
    "arith_direct": ArithTask("arith_direct", "direct"),
    "binfa_lm": AutomatonTask("binfa_lm", flat=False, states=False),
    "binfa_state": AutomatonTask("binfa_state", flat=False, states=True),
    "nfa_lm": AutomatonTask("nfa_lm", flat=True, states=False),
    "binfa3_lm": Binfa3Task(),
    "text_lm": TextLMTask(),
    "passkey": PasskeyTask(),
    **{name: RulerTask(name.removeprefix("ruler:")) for name in RULER_TASK_NAMES},
    **{f"chomsky:{name}": ChomskyTask(name) for name in CHOMSKY_TASKS},
}


def get_task(name: str) -> Task:
    """The registered task ``name``; unknown -> ``ValueError`` listing the known ones."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; known tasks: {', '.join(TASKS)}")
    return TASKS[name]
