"""Text tasks: language modelling on a corpus (``text_lm``) and passkey retrieval (``passkey``).

Data, tokenisation, separators and windows come from ``bipe.synthetic.text``
(docs/method.md#text). Length settings are context lengths in tokens; the default evaluation
lengths are 1, 2, 4, 8 and 16 times the training context ``data.context``.

``text_lm``
    inputs  ``data.context`` tokens of the training stream (documents joined by ``<eod>``) at a
    random offset; targets the next token at every position::

        tokens : d  e  f  \\n g  h   (bytes; a window of 6 from "def\\ngh...")
        target : e  f  \\n g  h  i

    Evaluation windows of each length are cut from the first ``data.eval_tokens`` tokens of
    ``data.eval_split`` by ``data.protocol`` (``chunks`` or ``sliding`` every ``data.stride``
    tokens; ``synthetic/text/windows.py``); ``data.n_eval`` is not used. Metrics: ``accuracy``
    (next-token argmax), ``loss`` (nats per scored token), ``perplexity``, ``bits_per_byte``
    (nats / ln 2 over the UTF-8 bytes of the scored tokens, ``<eod>`` one byte), plus
    ``loss_by_position`` (per block of ``data.context`` positions within the window: where an
    encoding breaks) and ``loss_by_segment`` (by the segment index of the predicting token,
    buckets 0, 1, 2-3, 4-7, ...).
``passkey``
    inputs  filler with ``The pass key is NNNNN. Remember it.`` at a random depth, the
    question, the key (``synthetic/text/passkey.py``), trained on lengths from a quarter of
    ``data.context`` to ``data.context`` and scored only on the key's tokens. ``accuracy``:
    greedy decoding after the question reproduces the key's digits exactly, over
    ``data.n_eval`` examples per length spread evenly over ``data.passkey_depths``;
    ``by_depth`` lists the accuracy per depth (the heatmap of ``bipe report``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bipe.experiments.tasks.base import IGNORE, Examples, Task
from bipe.fileio import write_text_atomic
from bipe.synthetic.text.data import LENGTH_MULTIPLES, RULER_COUNTS

__all__ = ["PasskeyTask", "TextLMTask", "position_profile", "segment_profile", "token_scores"]


def _text():
    from bipe.synthetic.text import data  # reads a corpus; only for text tasks

    return data


class _TextTask(Task):
    """What both text tasks share: corpus, tokenizer, separators, files, lengths."""

    unit = "tokens"
    family = "text"
    multilevel_rules = "auto_levels, blocks, paragraphs or verses"

    uses_ruler_counts = False  # the RULER tasks read data.needles ... (and check them)

    def setup(self, rng, data):
        if data.path:
            raise ValueError(
                f"{data.path}: task {self.name!r} reads a corpus (data.corpus), "
                "not a saved dataset (data.path)"
            )
        if not self.uses_ruler_counts:
            defaults = {f.name: f.default for f in dataclasses.fields(data)}
            for name in RULER_COUNTS:
                if getattr(data, name) != defaults[name]:
                    raise ValueError(
                        f"data.{name} has no effect on task {self.name!r} (it is a count of "
                        "the ruler:* tasks)"
                    )
        return _text().load_text(data)

    def vocab_size(self, data: Any, world: Any = None) -> int:
        tokenizer = world.tokenizer if world is not None else _text().text_tokenizer(data)
        return int(tokenizer.vocab_size)

    def level_separators(self, data: Any, world: Any = None) -> tuple[tuple[int, ...], ...]:
        """Separator ids per level, innermost first (for ``hbipe``)."""
        return world.levels if world is not None else _text().text_levels(data)

    def separators(self, data: Any, world: Any = None) -> tuple[int, ...]:
        return tuple(sorted({s for level in self.level_separators(data, world) for s in level}))

    def default_eval_lengths(self, data: Any) -> tuple[int, ...]:
        return tuple(m * data.context for m in LENGTH_MULTIPLES)

    def write_files(self, world: Any, out: Path) -> None:
        """``manifest.json`` (documents per split with sizes and sha256) and, for BPE,
        ``tokenizer.json`` into the run folder."""
        import json

        write_text_atomic(out / "manifest.json", json.dumps(world.manifest, indent=1) + "\n")
        saved = world.tokenizer.to_json()
        if saved is not None:
            write_text_atomic(out / "tokenizer.json", saved)


class TextLMTask(_TextTask):
    """Next-token language modelling on a text corpus; see the module docstring."""

    name = "text_lm"
    ignored_data = ("passkey_filler", "passkey_digits", "passkey_depths")
    metric_names = ("accuracy", "loss", "perplexity", "bits_per_byte")

    def train_range(self, data: Any) -> tuple[int, int]:
        return data.context, data.context

    def generate(self, rng, data, world, n, setting):
        from bipe.synthetic.text.windows import (
            chunk_windows,
            sample_windows,
            sliding_windows,
        )

        if setting is None:
            inputs, targets = sample_windows(rng, world.streams["train"], n, data.context)
            starts = None
        elif data.protocol == "chunks":
            inputs, targets, starts = chunk_windows(world.streams[data.eval_split], int(setting))
        else:
            stride = min(data.stride or data.context, int(setting))
            inputs, targets, starts = sliding_windows(
                world.streams[data.eval_split], int(setting), stride
            )
        length = inputs.shape[1]
        return Examples(
            inputs=tuple(inputs),
            targets=tuple(targets),
            setting=np.full(len(inputs), length, dtype=np.int64),
            extra={} if starts is None else {"start": starts},
        )

    def metrics(self, examples, world, data, forward, decode, batch_size):
        nll, correct = token_scores(forward, examples.targets, batch_size)  # (N, T) each
        targets = np.stack(examples.targets)  # (N, T)
        scored = targets != IGNORE
        n_tokens = max(int(scored.sum()), 1)
        total = float(nll[scored].sum())
        n_bytes = int(world.token_bytes[targets[scored]].sum())
        seps = self.separators(data, world)
        return {
            "accuracy": float(correct[scored].mean()) if scored.any() else 0.0,
            "loss": total / n_tokens,
            "perplexity": math.exp(min(total / n_tokens, 700.0)),
            "bits_per_byte": total / math.log(2) / max(n_bytes, 1),
            "loss_by_position": position_profile(nll, scored, data.context),
            "loss_by_segment": segment_profile(nll, scored, np.stack(examples.inputs), seps),
        }


def token_scores(
    forward, targets: Sequence[np.ndarray], batch_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """``(nll, correct)`` (N, T): the negative log-likelihood of every target token and whether
    the argmax predicted it (0 and False where the target is ``IGNORE``).

    ``forward(rows)`` returns logits (B, T, V) of those rows' inputs (``experiments/evaluate``).
    """
    n, t = len(targets), len(targets[0])
    nll = np.zeros((n, t), dtype=np.float64)
    correct = np.zeros((n, t), dtype=bool)
    for start in range(0, n, batch_size):
        rows = np.arange(start, min(start + batch_size, n))
        with torch.no_grad():
            logits = forward(rows).float()  # (B, T, V)
        target = torch.from_numpy(np.stack([targets[i] for i in rows])).to(logits.device)
        safe = target.clamp_min(0)  # (B, T) IGNORE -> 0, masked below
        logp = torch.log_softmax(logits, dim=-1)  # (B, T, V)
        picked = -logp.gather(-1, safe[..., None])[..., 0]  # (B, T)
        keep = target != IGNORE
        nll[rows] = torch.where(keep, picked, 0.0).double().cpu().numpy()
        correct[rows] = ((logits.argmax(-1) == target) & keep).cpu().numpy()
    return nll, correct


def position_profile(nll: np.ndarray, scored: np.ndarray, block: int) -> list[dict]:
    """Mean loss per block of ``block`` window positions: ``[{from, to, loss, tokens}]``."""
    t = nll.shape[1]
    out = []
    for lo in range(0, t, block):
        mask = scored[:, lo : lo + block]
        count = int(mask.sum())
        loss = float(nll[:, lo : lo + block][mask].mean()) if count else None
        out.append({"from": lo, "to": min(lo + block, t) - 1, "loss": loss, "tokens": count})
    return out


def segment_profile(
    nll: np.ndarray, scored: np.ndarray, inputs: np.ndarray, separators: Sequence[int]
) -> list[dict]:
    """Mean loss by segment index of the predicting token (buckets 0, 1, 2-3, 4-7, ...)."""
    is_sep = np.isin(inputs, np.asarray(separators, dtype=np.int64))  # (N, T)
    seg = np.cumsum(is_sep, axis=1) - is_sep  # (N, T) separators strictly before t
    bucket = np.floor(np.log2(seg + 1)).astype(np.int64)  # (N, T)
    out = []
    for b in range(int(bucket.max(initial=0)) + 1):
        mask = scored & (bucket == b)
        count = int(mask.sum())
        if count:
            out.append(
                {
                    "from": 2**b - 1,
                    "to": 2 ** (b + 1) - 2,
                    "loss": float(nll[mask].mean()),
                    "tokens": count,
                }
            )
    return out


class PasskeyTask(_TextTask):
    """Passkey retrieval; see the module docstring."""

    name = "passkey"
    ignored_data = ("protocol", "stride")
    metric_names = ("accuracy",)

    def _shortest(self, data: Any, world: Any = None) -> int:
        from bipe.synthetic.text.passkey import min_passkey_length

        tokenizer = world.tokenizer if world is not None else _text().text_tokenizer(data)
        return min_passkey_length(tokenizer, data.passkey_digits)

    def train_range(self, data: Any) -> tuple[int, int]:
        """Training lengths: a quarter of the context up, but never below the shortest example
        (no filler at all), up to the context."""
        return max(self._shortest(data), data.context // 4), data.context

    def generate(self, rng, data, world, n, setting):
        from bipe.synthetic.text.passkey import passkey_example

        filler = world.streams["train"] if data.passkey_filler == "corpus" else None
        shortest = self._shortest(data, world)
        if setting is None:
            lo = max(shortest, data.context // 4)  # train_range's, with the run's tokenizer
            if lo > data.context:
                raise ValueError(
                    f"data.context={data.context} is shorter than the shortest "
                    f"passkey example ({shortest} tokens)"
                )
            lengths = rng.integers(lo, data.context + 1, size=n)
            depths = rng.uniform(0.0, 1.0, size=n)
        else:
            if setting < shortest:
                raise ValueError(
                    f"passkey length {setting} is shorter than the shortest "
                    f"example ({shortest} tokens)"
                )
            lengths = np.full(n, int(setting))
            grid = np.asarray(data.passkey_depths, dtype=np.float64)
            depths = grid[np.arange(n) % len(grid)]
        examples = [
            passkey_example(rng, world.tokenizer, int(k), float(d), filler, data.passkey_digits)
            for k, d in zip(lengths, depths, strict=True)
        ]
        return self._examples(examples)

    def _examples(self, examples) -> Examples:
        return scored_answers(examples)

    def metrics(self, examples, world, data, forward, decode, batch_size):
        found = np.zeros(len(examples), dtype=bool)
        items = examples.extra["examples"]
        for start in range(0, len(items), batch_size):
            chunk = items[start : start + batch_size]
            prompts = [ex.tokens[: len(ex.tokens) - ex.n_answer] for ex in chunk]
            out = decode(prompts, max(ex.n_answer for ex in chunk), None)  # (B, n_answer)
            for j, (ex, gen) in enumerate(zip(chunk, out, strict=True)):
                found[start + j] = world.tokenizer.decode(gen[: ex.n_answer]) == ex.key
        depths = np.array([ex.depth for ex in items])
        by_depth = [
            {"depth": float(d), "accuracy": float(found[depths == d].mean())}
            for d in sorted(set(depths.tolist()))
        ]
        return {"accuracy": float(found.mean()), "by_depth": by_depth}


def scored_answers(examples) -> Examples:
    """Next-token examples of retrieval prompts (``tokens`` ending in an answer of ``n_answer``
    tokens): only the answer's tokens are scored; ``setting`` is each example's length."""
    inputs, targets = [], []
    for ex in examples:
        target = ex.tokens[1:].copy()  # (T-1,)
        target[: len(target) - ex.n_answer] = IGNORE  # only the answer's tokens are scored
        inputs.append(ex.tokens[:-1])
        targets.append(target)
    return Examples(
        inputs=tuple(inputs),
        targets=tuple(targets),
        setting=np.array([len(ex.tokens) for ex in examples], dtype=np.int64),
        extra={"examples": list(examples)},
    )
