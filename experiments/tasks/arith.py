"""Arithmetic tasks: chain-of-thought or direct arithmetic over Z_p.

``arith`` (chain-of-thought arithmetic over Z_p, Feng et al.; docs/method.md#arithmetic)
    inputs  ``( 2 + 7 ) * 6 = 9 * 6 = 10`` as ids, without the final ``<eos>``
    targets the next token, scored only after the first ``=`` (the prompt is masked)::

        tokens : (  2  +  7  )  *  6  =  9  *  6  =  10 <eos>
        target : .  .  .  .  .  .  .  9  *  6  =  10 <eos>      (. = not scored)

    metrics ``accuracy``: greedy decoding (KV cache) from the prompt ``... =``; correct iff the
    token before the first generated ``<eos>`` is the answer (the reference metric);
    ``chain_accuracy``: the whole generated chain up to ``<eos>`` equals the reference.
``arith_direct``: the same with ``question = answer`` (no chain; ``--data.fmt`` is ignored).

Examples are built straight from the sampler's concatenated arrays
(:class:`bipe.synthetic.arithmetic.ArithBatch`); a saved dataset's records are concatenated into
the same batch first, so both go through one constructor.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bipe.experiments.tasks.base import IGNORE, Examples, Task
from bipe.synthetic.distributions import parse_length_spec

__all__ = ["ArithTask"]


def _arith_module():
    from bipe.synthetic import arithmetic  # lands with the arithmetic helper

    return arithmetic


class ArithTask(Task):
    """Chain-of-thought (or direct) arithmetic over Z_p; see the module docstring."""

    family = "arithmetic"
    generators = ("arith",)
    unit = "operators"
    length_field = "operators"
    metric_names = ("accuracy", "chain_accuracy")
    multilevel_rules = "equals or operators"

    def __init__(self, name: str, fmt: str | None) -> None:
        self.name = name
        self._fmt = fmt

    def fmt(self, data: Any) -> str:
        return self._fmt or data.fmt

    def vocab_size(self, data: Any, world: Any = None) -> int:
        return len(_arith_module().vocab(data.modulus))

    def token_words(self, data: Any) -> tuple[str, ...]:
        """``( 2 + 7 ) * 6 =``: the reference vocabulary's words."""
        return tuple(_arith_module().vocab(data.modulus))

    def level_separators(self, data: Any, world: Any = None) -> tuple[tuple[int, ...], ...]:
        """Separator ids per level of ``data.separator_rule``, innermost first."""
        return _arith_module().separator_levels(data.separator_rule)

    def separators(self, data: Any, world: Any = None) -> tuple[int, ...]:
        """Every level's separators as one level, innermost first (``(9, 2)`` for ``equals``)."""
        return tuple(int(s) for level in self.level_separators(data) for s in level)

    def train_range(self, data: Any) -> tuple[int, int]:
        spec = parse_length_spec(data.operators)
        if spec.hi is None:
            raise ValueError(f"data.operators {data.operators!r} must be bounded")
        return int(spec.lo), int(spec.hi)

    def generate(self, rng, data, world, n, setting):
        from bipe.synthetic.arith_data import check_request

        spec = data.operators if setting is None else f"fixed:{int(setting)}"
        check_request(n, spec, self.fmt(data), f"task {self.name}")
        batch = _arith_module().sample_arithmetic(
            rng, n, operators=spec, modulus=data.modulus, fmt=self.fmt(data)
        )
        return self._examples(batch)

    def load(self, path, data, world):
        from bipe.synthetic.dataset import load_dataset

        self.dataset_meta(path)
        dataset = load_dataset(path)
        fmt = dataset.meta.get("arith_format")
        if fmt is not None and fmt != self.fmt(data):
            raise ValueError(
                f"{path}: arithmetic format {fmt!r} but the run has data.fmt={self.fmt(data)!r}"
            )
        modulus = dataset.meta.get("modulus")
        if modulus is not None and modulus != data.modulus:
            raise ValueError(
                f"{path}: modulus {modulus} but the run has data.modulus={data.modulus}"
            )
        return self._examples(_arith_module().ArithBatch.of_records(dataset.records, data.modulus))

    def _examples(self, batch: Any) -> Examples:
        """Examples of the chains of ``batch`` (an :class:`~bipe.synthetic.arithmetic.
        ArithBatch`): one split of its flat arrays per row, each row's last token dropped."""
        starts, lengths = batch.offsets[:-1], batch.lengths  # (N,) each
        local = np.arange(len(batch.tokens)) - np.repeat(starts, lengths)  # (M,) index in row
        prompt = np.repeat(batch.prompt_len, lengths)  # (M,)
        nxt = np.append(batch.tokens[1:], IGNORE)  # (M,) token t+1 is predicted at t
        target = np.where(local < prompt - 1, IGNORE, nxt)  # (M,) masked through the first '='
        seg, intra = batch.positions()  # (M,) each
        cuts = batch.offsets[1:-1]  # (N-1,)
        rows = [np.split(a, cuts) if batch.n else [] for a in (batch.tokens, target, seg, intra)]
        tokens, targets, segs, intras = rows
        return Examples(
            inputs=tuple(t[:-1] for t in tokens),
            targets=tuple(t[:-1] for t in targets),
            setting=batch.n_operators,
            oracle=tuple((s[:-1], p[:-1]) for s, p in zip(segs, intras, strict=True)),
            extra={"prompt_len": batch.prompt_len, "tokens": tokens},
        )

    def metrics(self, examples, world, data, forward, decode, batch_size):
        prompt_len = examples.extra["prompt_len"]
        refs = examples.extra["tokens"]
        answer_ok = np.zeros(len(examples), dtype=bool)
        chain_ok = np.zeros(len(examples), dtype=bool)
        eos = _arith_module().EOS
        order = np.argsort(prompt_len, kind="stable")  # similar prompt lengths share a batch
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            prompts = [refs[i][: prompt_len[i]] for i in chunk]
            max_new = max(len(refs[i]) - prompt_len[i] for i in chunk) + 2
            out = decode(prompts, int(max_new), eos)  # (B, max_new)
            for row, gen in zip(chunk, out, strict=True):
                answer_ok[row], chain_ok[row] = _score_chain(gen, refs[row][prompt_len[row] :], eos)
        return {"accuracy": float(answer_ok.mean()), "chain_accuracy": float(chain_ok.mean())}


def _score_chain(gen: np.ndarray, ref: np.ndarray, eos: int) -> tuple[bool, bool]:
    """(final answer right, whole chain right) of one generated continuation."""
    stops = np.flatnonzero(gen == eos)
    if not len(stops) or stops[0] == 0:
        return False, False
    end = int(stops[0])
    answer = bool(gen[end - 1] == ref[-2])  # ref ends '... answer <eos>'
    chain = end + 1 == len(ref) and bool(np.array_equal(gen[: end + 1], ref))
    return answer, chain
