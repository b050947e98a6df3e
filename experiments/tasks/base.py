"""What every task shares: :class:`Task` (the interface), :class:`Examples` and ``IGNORE``.

A task names its data family (``family``, a key of :data:`bipe.synthetic.families.FAMILIES`;
the run's ``data`` section is that family's config) and the dataset generators it can train on
(``generators``, ``meta.json``'s ``generator``). It turns its data config into :class:`Examples`
(model inputs, per-position targets, the generator's own position labels) and scores a model on
a batch of examples of one length setting. Length settings are operator counts for arithmetic,
segment counts for the automata tasks and token counts for text. Every task reports
``accuracy`` (its reference metric) first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from bipe.models.registry import is_multi_level

__all__ = ["IGNORE", "Decoder", "Examples", "Forward", "Task"]

IGNORE = -100  # target value that no loss or metric counts

# decode(prompts: list of (P_i,) int64 arrays, max_new, eos) -> (B, max_new) int64 greedy tokens
Decoder = Callable[[list, int, "int | None"], np.ndarray]
# forward(rows (B,) example indices) -> logits (B, T, V) of those examples' inputs, right-padded
Forward = Callable[[np.ndarray], torch.Tensor]


@dataclass(frozen=True, eq=False)
class Examples:
    """N variable-length examples of one task (numpy, one array per example).

    ``inputs[i]`` (T_i,) int64 model input; ``targets[i]`` (T_i,) or (T_i, C) int64 with
    ``IGNORE`` where nothing is scored; ``setting[i]`` the example's length setting;
    ``oracle[i]`` the generator's ``(seg, intra)`` for the inputs (None when it has none);
    ``extra`` per-example task data used by metrics (answers, words, ...).
    """

    inputs: tuple[np.ndarray, ...]
    targets: tuple[np.ndarray, ...]
    setting: np.ndarray
    oracle: tuple[tuple[np.ndarray, np.ndarray], ...] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.inputs)


class Task:
    """Base of all tasks; subclasses fill in the data and the scoring (see module docstring)."""

    name: str = ""
    family: str = ""
    generators: tuple[str, ...] = ()
    unit: str = "length"
    length_field: str = ""  # the data-config field holding the training length law
    metric_names: tuple[str, ...] = ("accuracy",)
    # fields of the family's data config this task never reads: refused unless at the default
    ignored_data: tuple[str, ...] = ()

    def check_data(self, data: Any) -> None:
        """Refuse a non-default value of a data field this task never reads."""
        for name in self.ignored_data:
            if getattr(data, name) != type(data).__dataclass_fields__[name].default:
                raise ValueError(
                    f"data.{name} has no effect on task {self.name!r}; leave it at its default"
                )

    def setup(self, rng: np.random.Generator, data: Any) -> Any:
        """The task's fixed world (e.g. an automaton), shared by training and evaluation."""
        return None

    def vocab_size(self, data: Any, world: Any = None) -> int:
        raise NotImplementedError

    def separators(self, data: Any, world: Any = None) -> tuple[int, ...]:
        raise NotImplementedError

    # the task's data.separator_rule values with two or more levels, as a phrase ("" when the
    # task has no separator rule); such a task defines level_separators(data, world=None)
    multilevel_rules: str = ""

    def model_separators(self, data: Any, pe: str) -> tuple:
        """``model.separators`` for encoding ``pe``: :meth:`separators`; a task with separator
        rules (``multilevel_rules``) gives a multi-level encoding (``hbipe``) one tuple per
        level of its ``data.separator_rule``, which must have two or more."""
        if not is_multi_level(pe) or not self.multilevel_rules:
            return self.separators(data)
        levels = self.level_separators(data)
        if len(levels) < 2:
            raise ValueError(
                f"pe={pe} needs a multi-level separator rule; data.separator_rule="
                f"{data.separator_rule!r} has one level (use "
                f"{self.multilevel_rules})"
            )
        return levels

    def token_words(self, data: Any) -> tuple[str, ...] | None:
        """The word of each token id where the task has words (exported tokenizers), else
        None."""
        return None

    def train_range(self, data: Any) -> tuple[int, int]:
        """``(lo, hi)`` of the training distribution's length setting."""
        raise NotImplementedError

    def default_eval_lengths(self, data: Any) -> tuple[int, ...]:
        """Evaluation settings when ``data.eval_lengths`` is empty: lo..2*hi (at least hi+3)."""
        from bipe.synthetic.family import default_eval_lengths

        return default_eval_lengths(*self.train_range(data))

    def generate(
        self, rng: np.random.Generator, data: Any, world: Any, n: int, setting: int | None
    ) -> Examples:
        """``n`` examples from the training distribution (``setting=None``) or at one setting."""
        raise NotImplementedError

    def write_files(self, world: Any, out: Path) -> None:
        """Write what a run folder should keep of the world (e.g. a corpus manifest); none."""

    def load(self, path: str, data: Any, world: Any) -> Examples:
        """A saved training set (``bipe gen ... --out DIR``) as examples."""
        raise ValueError(f"task {self.name!r} cannot load saved datasets (data.path)")

    def dataset_meta(self, path: str) -> dict[str, Any]:
        """``meta.json`` of a saved dataset this task can train on, else a ``ValueError``."""
        from bipe.synthetic.families import dataset_meta

        return dataset_meta(path, self.generators, f"task {self.name!r}")

    def batch_rows(
        self, examples: Examples, data_seed: int, step: int, batch_size: int
    ) -> np.ndarray | None:
        """(B,) training rows of step ``step`` when the task groups its batches (a pure function
        of ``(data_seed, step)``); None: the run's shuffled epochs (the default)."""
        return None

    def causal(self, data: Any) -> bool | None:
        """The ``model.causal`` the task's data needs (None: either works)."""
        return None

    def loss(self, logits: torch.Tensor, targets: torch.Tensor, data: Any) -> torch.Tensor:
        """Mean cross-entropy of logits (B, T, V) against next-token targets (B, T)."""
        b, t, v = logits.shape
        return F.cross_entropy(
            logits.reshape(b * t, v), targets.reshape(b * t), ignore_index=IGNORE
        )

    def metrics(
        self,
        examples: Examples,
        world: Any,
        data: Any,
        forward: Forward,
        decode: Decoder,
        batch_size: int,
    ) -> dict[str, float]:
        """Metric name -> value averaged over ``examples`` (all of one length setting)."""
        raise NotImplementedError
