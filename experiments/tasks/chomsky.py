"""The Chomsky-hierarchy suite: ``chomsky:TASK`` for the 15 tasks, in two protocols.

``data.protocol = "reference"`` (Deletang et al.; Ruoss et al.): a non-causal encoder
(``model.causal=false``) reads the input followed by an empty tape of output-length slots
(token id ``input_size``, the reference's), and predicts the output on the tape; the loss is
the cross-entropy of the output logits on every tape slot, the accuracy counts the scored slots
(through the termination token for the tasks that have one)::

    reverse_string, input 0 0 1
    tokens : 0  0  1  T  T  T        (T = tape token 2)
    target : .  .  .  1  0  0        (. = not scored)

``data.protocol = "decoder"``: a causal model reads the input, a separator (id ``max(input
size, output size)``), then the output, trained on next-token prediction of the output only
and evaluated by greedy decoding from ``input SEP`` (KV cache)::

    tokens : 0  0  1  S  1  0        (S = separator 2; the last output token is not an input)
    target : .  .  .  1  0  0

Metrics per input length: ``accuracy`` (scored output tokens right, over all examples of the
length: the reference's per-token accuracy), ``sequence_accuracy`` (every scored token of an
example right). Training batches hold one input length each, drawn uniformly from the training
set's lengths (the reference draws one length per batch; here from ``data.lengths``, uniform
1-40 by default), so no batch is padded (a non-causal model would see the padding).

Segments for BiPE (``model.separators``, :data:`SEPARATORS`): the symbols that close a unit
where a task has them (the operand separator 2 of binary_addition and binary_multiplication,
``=`` of solve_equation, ``)`` of modular_arithmetic_brackets, ``+``/``-`` between the terms of
modular_arithmetic), plus the decoder protocol's separator; the other tasks (binary strings,
stack programs, ...) have none, so BiPE there is run with fixed windows
(``--segment_train.method fixed:K --segment_eval.method fixed:K``, the existing segmentation
options).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from bipe.experiments.tasks.base import IGNORE, Examples, Task
from bipe.synthetic import chomsky
from bipe.synthetic.distributions import parse_length_spec

__all__ = ["SEPARATORS", "ChomskyTask"]

# task -> input ids that close a segment (docs/method.md#the-chomsky-hierarchy-suite)
SEPARATORS: dict[str, tuple[int, ...]] = {
    "binary_addition": (2,),
    "binary_multiplication": (2,),
    "solve_equation": (10,),
    "modular_arithmetic_brackets": (chomsky.MODULUS + 4,),
    "modular_arithmetic": (chomsky.MODULUS, chomsky.MODULUS + 1),
}
_BATCH_KEY = 5  # seed stream of the one-length batches (after prepare's WORLD..SEGMENT = 0..4)


class ChomskyTask(Task):
    """One task of the suite in either protocol (see the module docstring)."""

    family = "chomsky"
    unit = "length"
    length_field = "lengths"
    metric_names = ("accuracy", "sequence_accuracy")

    def __init__(self, task: str) -> None:
        self.spec = chomsky.get_spec(task)
        self.name = f"chomsky:{task}"
        self.generators = (self.name,)

    # ---- vocabulary and model wiring --------------------------------------------------------

    def _marker(self, data: Any) -> int:
        """The tape token (reference) or the separator (decoder)."""
        spec = self.spec
        return (
            spec.input_size
            if data.protocol == "reference"
            else max(spec.input_size, spec.output_size)
        )

    def vocab_size(self, data: Any, world: Any = None) -> int:
        return max(self._marker(data) + 1, self.spec.output_size)

    def separators(self, data: Any, world: Any = None) -> tuple[int, ...]:
        own = SEPARATORS.get(self.spec.name, ())
        return own if data.protocol == "reference" else (*own, self._marker(data))

    def causal(self, data: Any) -> bool:
        """The ``model.causal`` the protocol needs."""
        return data.protocol == "decoder"

    def train_range(self, data: Any) -> tuple[int, int]:
        spec = parse_length_spec(data.lengths)
        return int(spec.lo), int(spec.hi)

    # ---- data ---------------------------------------------------------------------------------

    def generate(self, rng, data, world, n, setting):
        if setting is None:
            lengths = parse_length_spec(data.lengths).sample(rng, n)  # (N,)
        else:
            lengths = np.full(n, int(setting), dtype=np.int64)
        xs: list = [None] * n
        ys: list = [None] * n
        for length in np.unique(lengths):
            rows = np.flatnonzero(lengths == length)
            x, y = chomsky.sample(rng, self.spec.name, len(rows), int(length))
            for r, xi, yi in zip(rows, x, y, strict=True):
                xs[r], ys[r] = xi, yi
        return self._examples(xs, ys, lengths, data)

    def load(self, path, data, world):
        from bipe.synthetic.dataset import load_dataset

        self.dataset_meta(path)
        records = load_dataset(path).records
        xs = [np.asarray(r["input"], dtype=np.int64) for r in records]
        ys = [np.asarray(r["output"], dtype=np.int64) for r in records]
        lengths = np.asarray([r["length"] for r in records], dtype=np.int64)
        return self._examples(xs, ys, lengths, data)

    def _examples(self, xs: list, ys: list, lengths: np.ndarray, data: Any) -> Examples:
        marker = self._marker(data)
        inputs, targets = [], []
        for x, y in zip(xs, ys, strict=True):
            ignored = np.full(len(x), IGNORE, dtype=np.int64)  # (T_in,)
            if data.protocol == "reference":
                tape = np.full(len(y), marker, dtype=np.int64)  # (O,)
                inputs.append(np.concatenate([x, tape]))  # (T_in + O,)
            else:
                inputs.append(np.concatenate([x, [marker], y[:-1]]).astype(np.int64))
            targets.append(np.concatenate([ignored, y]))  # (T_in + O,)
        return Examples(
            inputs=tuple(inputs),
            targets=tuple(targets),
            setting=np.asarray(lengths, dtype=np.int64),
            extra={"x": tuple(xs), "y": tuple(ys)},
        )

    def batch_rows(
        self, examples: Examples, data_seed: int, step: int, batch_size: int
    ) -> np.ndarray:
        """(B,) example rows of step ``step``, all of one input length drawn uniformly from the
        lengths present (with replacement when a length has fewer than B examples)."""
        rng = np.random.default_rng(np.random.SeedSequence(data_seed, spawn_key=(_BATCH_KEY, step)))
        lengths = np.unique(examples.setting)
        pool = np.flatnonzero(examples.setting == rng.choice(lengths))
        return rng.choice(pool, size=batch_size, replace=len(pool) < batch_size)

    # ---- scoring ------------------------------------------------------------------------------

    def loss(self, logits: torch.Tensor, targets: torch.Tensor, data: Any) -> torch.Tensor:
        """Cross-entropy over the output alphabet (reference) or the vocabulary (decoder)."""
        if data.protocol == "reference":
            logits = logits[..., : self.spec.output_size]  # (B, T, O_size) as the reference
        return super().loss(logits, targets, data)

    def metrics(self, examples, world, data, forward, decode, batch_size):
        ys = examples.extra["y"]
        right = scored = whole = 0
        for start in range(0, len(examples), batch_size):
            rows = np.arange(start, min(start + batch_size, len(examples)))
            y = np.stack([ys[i] for i in rows])  # (B, O), one length per evaluation setting
            pred = self._predict(examples, rows, y.shape[1], data, forward, decode)  # (B, O)
            mask = chomsky.scored_mask(self.spec.name, y)  # (B, O)
            ok = (pred == y) & mask
            right, scored = right + int(ok.sum()), scored + int(mask.sum())
            whole += int((ok == mask).all(axis=1).sum())
        return {"accuracy": right / scored, "sequence_accuracy": whole / len(examples)}

    def _predict(self, examples, rows, width, data, forward, decode) -> np.ndarray:
        """(B, O) predicted output ids of the given rows."""
        if data.protocol == "reference":
            logits = forward(rows)[:, -width:, : self.spec.output_size]  # (B, O, O_size)
            return logits.argmax(dim=-1).cpu().numpy()
        marker = self._marker(data)
        prompts = [np.append(examples.extra["x"][i], marker) for i in rows]
        return np.asarray(decode(prompts, width, None))[:, :width]
