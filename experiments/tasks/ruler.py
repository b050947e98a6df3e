"""RULER tasks of the text family: ``ruler:niah_single`` ... ``ruler:variable_tracking``.

Examples come from ``synthetic/text/ruler.py`` (``niah_single`` is the passkey generator) on
the text family's tokenizer and filler (``data.passkey_filler``, ``data.passkey_digits``); the
RULER counts are ``data.needles``, ``data.values``, ``data.queries``, ``data.hops`` and
``data.chains``, each read only by the tasks it names (docs/method.md#ruler-tasks). Like
``passkey``: trained on lengths from a quarter of ``data.context`` (never below the shortest
example) to ``data.context``, at uniform depths, scored only on the answer's tokens; evaluated
at 1-16x ``data.context`` by default, ``data.n_eval`` examples per length spread evenly over
``data.passkey_depths``. A worked example (``ruler:niah_multikey``, bytes, ``needles=2``)::

    inputs  ...filler\\nThe pass key of kqzd is 40213.\\nfiller...\\nThe pass key of mnty
            is 11892.\\n...filler\\nWhat is the pass key of mnty? It is 1189
    target  IGNORE everywhere but the last five positions: 1 1 8 9 2

Metrics: ``accuracy`` is RULER's ``string_match_all``: per example the share of the expected
strings (``answer``) found in the greedy continuation of as many tokens as the answer text,
averaged; ``all_found`` the share of examples with every string found; ``by_depth`` the
accuracy per depth of the queried line (the heatmap of ``bipe report`` and ``bipe results``;
none for ``ruler:common_words``, which has no needle).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bipe.experiments.tasks.text import _TextTask, scored_answers
from bipe.synthetic.text import ruler

__all__ = ["RULER_TASK_NAMES", "RulerTask"]

PREFIX = "ruler:"


class RulerTask(_TextTask):
    """One RULER task (``ruler:`` + a name of ``synthetic.text.ruler.RULER_TASKS``)."""

    metric_names = ("accuracy", "all_found")
    uses_ruler_counts = True
    ignored_data = ("protocol", "stride")  # examples are drawn, not windows of a stream

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.name = PREFIX + kind

    def _shortest(self, data: Any, world: Any = None) -> int:
        tokenizer = world.tokenizer if world is not None else _text_tokenizer(data)
        return ruler.min_ruler_length(tokenizer, self.kind, ruler.ruler_params(self.kind, data))

    def train_range(self, data: Any) -> tuple[int, int]:
        """A quarter of the context up (never below the shortest example) to the context."""
        return max(self._shortest(data), data.context // 4), data.context

    def setup(self, rng, data):
        world = super().setup(rng, data)
        shortest = self._shortest(data, world)
        lengths = [data.context, *data.eval_lengths]
        if min(lengths) < shortest:
            raise ValueError(
                f"{self.name} needs at least {shortest} tokens per example (needles and "
                f"question) with these settings; data.context and data.eval_lengths have "
                f"{min(lengths)}"
            )
        return world

    def generate(self, rng, data, world, n, setting):
        params = ruler.ruler_params(self.kind, data)
        filler = world.streams["train"] if data.passkey_filler == "corpus" else None
        if setting is None:
            lo, hi = max(self._shortest(data, world), data.context // 4), data.context
            lengths = rng.integers(lo, hi + 1, size=n)
            depths = rng.uniform(0.0, 1.0, size=n)
        else:
            lengths = np.full(n, int(setting))
            grid = np.asarray(data.passkey_depths, dtype=np.float64)
            depths = grid[np.arange(n) % len(grid)]
        examples = [
            ruler.ruler_example(rng, world.tokenizer, self.kind, int(k), float(d), filler, params)
            for k, d in zip(lengths, depths, strict=True)
        ]
        return scored_answers(examples)

    def metrics(self, examples, world, data, forward, decode, batch_size):
        items = examples.extra["examples"]
        scores = np.zeros(len(items))
        for start in range(0, len(items), batch_size):
            chunk = items[start : start + batch_size]
            prompts = [ex.tokens[: len(ex.tokens) - ex.n_answer] for ex in chunk]
            out = decode(prompts, max(ex.n_answer for ex in chunk), None)  # (B, n_answer)
            for j, (ex, gen) in enumerate(zip(chunk, out, strict=True)):
                scores[start + j] = ruler.recall(
                    world.tokenizer.decode(gen[: ex.n_answer]), ex.answer
                )
        depths = np.array([ex.depth for ex in items])
        out = {"accuracy": float(scores.mean()), "all_found": float((scores == 1.0).mean())}
        if not np.isnan(depths).all():  # common_words has no depth
            out["by_depth"] = [
                {"depth": float(d), "accuracy": float(scores[depths == d].mean())}
                for d in sorted(set(depths.tolist()))
            ]
        return out


def _text_tokenizer(data):
    from bipe.synthetic.text.data import text_tokenizer

    return text_tokenizer(data)


RULER_TASK_NAMES = tuple(PREFIX + k for k in ruler.RULER_TASKS)
