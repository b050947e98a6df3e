"""``bipe gen ruler:TASK``: a RULER evaluation set as a dataset folder (``data.jsonl``).

``data.n_eval`` examples at each length of ``data.eval_lengths`` (empty: 1, 2, 4, 8 and 16
times ``data.context``, the text tasks' default), spread evenly over ``data.passkey_depths``
(``depth`` null for ``common_words``), drawn by
:func:`bipe.synthetic.text.ruler.ruler_example` with the run's tokenizer, filler and RULER
counts (``data.needles`` ...; a count the task does not read must keep its default). Each
record::

    {"task": "niah_multikey", "length": 256, "depth": 0.5,
     "text": "...\\nWhat is the pass key of mnty? It is ", "answer": ["11892"]}

``text`` is the prompt (everything before the answer), ``answer`` the expected strings; the
answer text the model is trained on is the strings joined (``", "``; ``" "`` for variable
tracking). ``meta.json`` records the generator, the config fields that shaped the set and the
RULER parameters. Every length is checked against the shortest example before anything is
drawn; ``bipe verify`` re-reads each answer from its text
(:func:`bipe.synthetic.text.ruler_reader.verify_record`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from bipe.synthetic.family import check_size
from bipe.synthetic.text.data import LENGTH_MULTIPLES, RULER_COUNTS, load_text, text_tokenizer
from bipe.synthetic.text.ruler import RULER_TASKS, min_ruler_length, ruler_example, ruler_params

__all__ = ["DATASET_KEYS", "GENERATORS", "generate_dataset"]

GENERATORS = tuple(f"ruler:{t}" for t in RULER_TASKS)
DATASET_KEYS = (
    "n_eval",
    "eval_lengths",
    "context",
    "corpus",
    "tokenizer",
    "separator_rule",
    "passkey_filler",
    "passkey_digits",
    "passkey_depths",
    *RULER_COUNTS,
)


def generate_dataset(
    config: Any, seed: int, *, kind: str, **_: Any
) -> tuple[Iterator[dict[str, Any]], dict[str, Any]]:
    """``(records, meta)`` of the evaluation set of ``kind`` (``ruler:TASK``); every setting is
    checked (``ValueError``) before the first record is drawn."""
    task = kind.removeprefix("ruler:")
    params = ruler_params(task, config)
    tokenizer = text_tokenizer(config)
    lengths = tuple(config.eval_lengths) or tuple(m * config.context for m in LENGTH_MULTIPLES)
    check_size(config.n_eval * sum(lengths), f"{kind} with these lengths")
    shortest = min_ruler_length(tokenizer, task, params)
    if min(lengths) < shortest:
        raise ValueError(
            f"{kind} needs at least {shortest} tokens per example (needles and question) "
            f"with these settings; the lengths asked for start at {min(lengths)}"
        )
    filler = load_text(config).streams["train"] if config.passkey_filler == "corpus" else None
    if filler is not None and len(filler) < max(lengths):
        raise ValueError(
            f"the corpus filler has {len(filler)} tokens, fewer than the longest length "
            f"{max(lengths)}"
        )
    meta = {
        "generator": kind,
        "seed": seed,
        "config": {k: getattr(config, k) for k in DATASET_KEYS},
        "params": dataclasses.asdict(params),
    }
    return _records(seed, task, config, tokenizer, filler, params, lengths), meta


def _records(seed, task, config, tokenizer, filler, params, lengths) -> Iterator[dict]:
    depths = config.passkey_depths
    streams = np.random.SeedSequence(seed).spawn(len(lengths))
    for length, stream in zip(lengths, streams, strict=True):
        rng = np.random.default_rng(stream)
        for i in range(config.n_eval):
            depth = float(depths[i % len(depths)])
            ex = ruler_example(rng, tokenizer, task, int(length), depth, filler, params)
            depth = None if math.isnan(ex.depth) else ex.depth  # type: ignore[assignment]
            text = tokenizer.decode(ex.tokens[: len(ex.tokens) - ex.n_answer])
            yield {
                "task": task,
                "length": int(length),
                "depth": depth,
                "text": text,
                "answer": list(ex.answer),
            }
