"""The task registry: what a model is trained on and how it is scored.

A task turns a :class:`~bipe.experiments.config.DataConfig` into :class:`Examples` (model inputs,
per-position targets, the generator's own position labels) and scores a model on a batch of
examples of one length setting. Length settings are operator counts for arithmetic and segment
counts for the automata tasks. Every task reports ``accuracy`` (its reference metric) first.

``arith`` (chain-of-thought arithmetic over Z_p, Feng et al.; docs/method.md#arithmetic)
    inputs  ``( 2 + 7 ) * 6 = 9 * 6 = 10`` as ids, without the final ``<eos>``
    targets the next token, scored only after the first ``=`` (the prompt is masked)::

        tokens : (  2  +  7  )  *  6  =  9  *  6  =  10 <eos>
        target : .  .  .  .  .  .  .  9  *  6  =  10 <eos>      (. = not scored)

    metrics ``accuracy``: greedy decoding (KV cache) from the prompt ``... =``; correct iff the
    token before the first generated ``<eos>`` is the answer (the reference metric);
    ``chain_accuracy``: the whole generated chain up to ``<eos>`` equals the reference.
``arith_direct``: the same with ``question = answer`` (no chain; ``--data.fmt`` is ignored).
``binfa_lm`` (next-token language modelling on Bi-NFA sequences; see ``bipe.synthetic``)
    inputs  ``a b # c #`` (symbols, separators ``#``) without the last token; targets the next
    token everywhere (metrics: docs/method.md#evaluation). ``accuracy``: the fraction of
    positions whose argmax is a legal next token by the automaton oracle
    (``NFA.legal_next_mask`` of the flattened automaton; with ``#`` the separator, after
    ``a b #`` any first symbol of a segment type the outer automaton allows is legal);
    ``continuation_valid``: per sequence, greedy continuation of the first
    ``data.continuation_prefix`` of the tokens for the remaining length is still a viable
    prefix of the language; ``legal_mass`` / ``legal_logprob``: the mean probability (and mean
    log-probability) the model puts on the legal next tokens, which do not saturate.
``binfa_state``: the same sequences from a deterministic Bi-NFA; inputs all tokens; two
    targets per token, the state after reading it: inner = (segment type k, state q of type k's
    DFA) as class ``k * Q + q`` and the outer DFA's state (the generator's labels,
    ``bipe.synthetic.sequences``). They are read from two logit slices after the token ids
    (``vocab_size = (A + 1) + K * Q + Q_outer``), each trained with its own cross-entropy::

        tokens : a    b    #    c    #
        inner  : 0,1  0,2  0,2  1,1  1,1    (type, state); at '#' the closed segment's state
        outer  : 0    0    2    2    1      changes right at each separator

    ``accuracy``: both right; ``inner_accuracy``, ``outer_accuracy``. Where two types accept
    the same prefix the type is not determined by the tokens, so 1.0 may be out of reach.
``nfa_lm``: ``binfa_lm`` on sequences sampled from the flattened automaton directly (length =
    segment count times the mean segment length), i.e. the same language without the
    generator's bilevel structure.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from bipe.experiments.metrics import legal_logprob
from bipe.synthetic.distributions import parse_length_spec

__all__ = ["IGNORE", "TASKS", "Examples", "Task", "get_task"]

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
    unit: str = "length"
    metric_names: tuple[str, ...] = ("accuracy",)

    def setup(self, rng: np.random.Generator, data: Any) -> Any:
        """The task's fixed world (e.g. an automaton), shared by training and evaluation."""
        return None

    def vocab_size(self, data: Any, world: Any = None) -> int:
        raise NotImplementedError

    def separators(self, data: Any, world: Any = None) -> tuple[int, ...]:
        raise NotImplementedError

    def train_range(self, data: Any) -> tuple[int, int]:
        """``(lo, hi)`` of the training distribution's length setting."""
        raise NotImplementedError

    def default_eval_lengths(self, data: Any) -> tuple[int, ...]:
        """Evaluation settings when ``data.eval_lengths`` is empty: lo..2*hi (at least hi+3)."""
        lo, hi = self.train_range(data)
        return tuple(range(max(1, lo), max(2 * hi, hi + 3) + 1))

    def generate(
        self, rng: np.random.Generator, data: Any, world: Any, n: int, setting: int | None
    ) -> Examples:
        """``n`` examples from the training distribution (``setting=None``) or at one setting."""
        raise NotImplementedError

    def load(self, path: str, data: Any, world: Any) -> Examples:
        """A saved training set (``bipe gen ... --out DIR``) as examples."""
        raise ValueError(f"task {self.name!r} cannot load saved datasets (data.path)")

    def loss(self, logits: torch.Tensor, targets: torch.Tensor, data: Any) -> torch.Tensor:
        """Mean cross-entropy of logits (B, T, V) against next-token targets (B, T)."""
        b, t, v = logits.shape
        return F.cross_entropy(logits.reshape(b * t, v), targets.reshape(b * t),
                               ignore_index=IGNORE)

    def metrics(
        self, examples: Examples, world: Any, data: Any, forward: Forward, decode: Decoder,
        batch_size: int,
    ) -> dict[str, float]:
        """Metric name -> value averaged over ``examples`` (all of one length setting)."""
        raise NotImplementedError


# ------------------------------------------------------------------------------- arithmetic


def _arith_module():
    from bipe.synthetic import arithmetic  # noqa: PLC0415 (lands with the arithmetic helper)

    return arithmetic


class ArithTask(Task):
    """Chain-of-thought (or direct) arithmetic over Z_p; see the module docstring."""

    unit = "operators"
    metric_names = ("accuracy", "chain_accuracy")

    def __init__(self, name: str, fmt: str | None) -> None:
        self.name = name
        self._fmt = fmt

    def fmt(self, data: Any) -> str:
        return self._fmt or data.fmt

    def vocab_size(self, data: Any, world: Any = None) -> int:
        return len(_arith_module().vocab(data.modulus))

    def separators(self, data: Any, world: Any = None) -> tuple[int, ...]:
        return tuple(int(s) for s in _arith_module().SEPARATORS)

    def train_range(self, data: Any) -> tuple[int, int]:
        spec = parse_length_spec(data.operators)
        if spec.hi is None:
            raise ValueError(f"data.operators {data.operators!r} must be bounded")
        return int(spec.lo), int(spec.hi)

    def generate(self, rng, data, world, n, setting):
        spec = data.operators if setting is None else f"fixed:{int(setting)}"
        records = _arith_module().generate_arithmetic(
            rng, n, operators=spec, modulus=data.modulus, fmt=self.fmt(data)
        )
        return self._examples(records)

    def load(self, path, data, world):
        from bipe.synthetic.dataset import load_dataset  # noqa: PLC0415

        dataset = load_dataset(path)
        fmt = dataset.meta.get("arith_format")
        if fmt is not None and fmt != self.fmt(data):
            raise ValueError(f"{path}: arithmetic format {fmt!r} but the run has data.fmt="
                             f"{self.fmt(data)!r}")
        modulus = dataset.meta.get("modulus")
        if modulus is not None and modulus != data.modulus:
            raise ValueError(f"{path}: modulus {modulus} but the run has data.modulus="
                             f"{data.modulus}")
        return self._examples(dataset.records)

    def _examples(self, records: Sequence[dict]) -> Examples:
        inputs, targets, oracle = [], [], []
        for r in records:
            tokens = np.asarray(r["tokens"], dtype=np.int64)  # (T,)
            target = tokens[1:].copy()  # (T-1,) token t+1 is predicted at t
            target[: int(r["prompt_len"]) - 1] = IGNORE  # loss masked through the first '='
            inputs.append(tokens[:-1])
            targets.append(target)
            oracle.append((np.asarray(r["seg"][:-1], np.int64),
                           np.asarray(r["intra"][:-1], np.int64)))
        return Examples(
            inputs=tuple(inputs), targets=tuple(targets),
            setting=np.array([int(r["n_operators"]) for r in records], dtype=np.int64),
            oracle=tuple(oracle),
            extra={"prompt_len": np.array([int(r["prompt_len"]) for r in records], np.int64),
                   "tokens": [np.asarray(r["tokens"], np.int64) for r in records]},
        )

    def metrics(self, examples, world, data, forward, decode, batch_size):
        prompt_len = examples.extra["prompt_len"]
        refs = examples.extra["tokens"]
        answer_ok = np.zeros(len(examples), dtype=bool)
        chain_ok = np.zeros(len(examples), dtype=bool)
        eos = _arith_module().EOS
        order = np.argsort(prompt_len, kind="stable")  # similar prompt lengths share a batch
        for start in range(0, len(order), batch_size):
            chunk = order[start: start + batch_size]
            prompts = [refs[i][: prompt_len[i]] for i in chunk]
            max_new = max(len(refs[i]) - prompt_len[i] for i in chunk) + 2
            out = decode(prompts, int(max_new), eos)  # (B, max_new)
            for row, gen in zip(chunk, out, strict=True):
                answer_ok[row], chain_ok[row] = _score_chain(gen, refs[row][prompt_len[row]:], eos)
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


# ------------------------------------------------------------------------------- automata


@dataclass(frozen=True, eq=False)
class AutomatonWorld:
    """The random Bi-NFA of a run and its flattened (trimmed) NFA, the legality oracle."""

    binfa: Any
    flat: Any


def _support(spec: str) -> list[int]:
    dist = parse_length_spec(spec)
    if dist.hi is None:
        raise ValueError(f"length spec {spec!r} must be bounded for automata tasks")
    return [int(v) for v in dist.support()[0]]


class AutomatonTask(Task):
    """Bi-NFA / flat NFA tasks; see the module docstring. Settings are segment counts."""

    unit = "segments"

    def __init__(self, name: str, *, flat: bool, states: bool) -> None:
        self.name, self._flat, self._states = name, flat, states
        self.metric_names = (("accuracy", "inner_accuracy", "outer_accuracy") if states
                             else ("accuracy", "continuation_valid", "legal_mass",
                                   "legal_logprob"))

    def n_tokens(self, data: Any) -> int:
        return data.n_symbols + 1  # symbols 0..A-1, separator A

    def vocab_size(self, data: Any, world: Any = None) -> int:
        extra = data.n_types * data.inner_states + data.outer_states if self._states else 0
        return self.n_tokens(data) + extra

    def separators(self, data: Any, world: Any = None) -> tuple[int, ...]:
        return (data.n_symbols,)

    def train_range(self, data: Any) -> tuple[int, int]:
        values = _support(data.segments)
        return min(values), max(values)

    def _segment_length(self, data: Any, setting: int | None) -> str:
        return data.segment_length if setting is None or not data.eval_segment_length \
            else data.eval_segment_length

    def setup(self, rng, data):
        from bipe.automata import random_binfa  # noqa: PLC0415

        if data.path:  # the saved dataset's own automaton (its legality oracle)
            from bipe.synthetic.sequences import load_automaton  # noqa: PLC0415

            binfa = load_automaton(data.path)
            return AutomatonWorld(binfa=binfa, flat=binfa.flatten().trim())
        counts = set(_support(data.segments)) | set(data.eval_lengths
                                                     or self.default_eval_lengths(data))
        lengths = set(_support(data.segment_length))
        if data.eval_segment_length:
            lengths |= set(_support(data.eval_segment_length))
        binfa = random_binfa(rng, data.n_symbols, data.n_types, data.inner_states,
                             data.outer_states, out_degree=data.out_degree,
                             deterministic=self._states, segment_lengths=sorted(lengths),
                             segment_counts=sorted(counts))
        return AutomatonWorld(binfa=binfa, flat=binfa.flatten().trim())

    def generate(self, rng, data, world, n, setting):
        from bipe.synthetic import sequences  # noqa: PLC0415

        seg_len = self._segment_length(data, setting)
        counts = data.segments if setting is None else f"fixed:{int(setting)}"
        if self._flat:
            batch = sequences.sample_nfa_sequences(
                rng, world.flat, n, parse_length_spec(_flat_length_spec(counts, seg_len)),
                world.binfa.separators)
        else:
            batch = sequences.sample_binfa_sequences(
                rng, world.binfa, n, [parse_length_spec(counts), parse_length_spec(seg_len)],
                state_labels=self._states)
        return self._examples(sequences.batch_records(batch, "nfa" if self._flat else "binfa"),
                              data)

    def load(self, path, data, world):
        from bipe.synthetic.dataset import load_dataset  # noqa: PLC0415

        dataset = load_dataset(path)
        vocab = dataset.meta.get("vocab")
        if vocab is not None and len(vocab) != self.n_tokens(data):
            raise ValueError(f"{path}: vocabulary of {len(vocab)} tokens, but the run's data "
                             f"config has n_symbols={data.n_symbols}; set --data.n_symbols")
        return self._examples(dataset.records, data)

    def _examples(self, records: Sequence[dict], data: Any) -> Examples:
        """Examples from sequence records (``tokens``, ``seg``, ``intra``; for the state task
        also ``types``, ``inner_state``, ``outer_state``)."""
        tokens = [np.asarray(r["tokens"], dtype=np.int64) for r in records]
        seg = [np.asarray(r["seg"], dtype=np.int64) for r in records]
        intra = [np.asarray(r["intra"], dtype=np.int64) for r in records]
        setting = np.array([int(s[-1]) + 1 if len(s) else 0 for s in seg], dtype=np.int64)
        if self._states:
            targets = [self._state_targets(r, s, data) for r, s in zip(records, seg, strict=True)]
            return Examples(inputs=tuple(tokens), targets=tuple(targets), setting=setting,
                            oracle=tuple(zip(seg, intra, strict=True)), extra={"tokens": tokens})
        return Examples(inputs=tuple(t[:-1] for t in tokens),
                        targets=tuple(t[1:] for t in tokens), setting=setting,
                        oracle=tuple((s[:-1], p[:-1]) for s, p in zip(seg, intra, strict=True)),
                        extra={"tokens": tokens})

    def _state_targets(self, record: dict, seg: np.ndarray, data: Any) -> np.ndarray:
        """(T, 2) logit indices of the (type, inner state) and outer state after each token."""
        if "inner_state" not in record or "types" not in record:
            raise ValueError("binfa_state needs records with types, inner_state and outer_state")
        a = self.n_tokens(data)
        types = np.asarray(record["types"], dtype=np.int64)  # (S,)
        inner = np.asarray(record["inner_state"], dtype=np.int64)  # (T,)
        outer = np.asarray(record["outer_state"], dtype=np.int64)  # (T,)
        token_type = types[np.minimum(seg, len(types) - 1)]  # (T,) type of each token's segment
        inner_ids = np.where(inner >= 0, a + token_type * data.inner_states + inner, IGNORE)
        outer_ids = np.where(outer >= 0, a + data.n_types * data.inner_states + outer, IGNORE)
        return np.stack([inner_ids, outer_ids], axis=1)  # (T, 2)

    def _slices(self, data: Any) -> list[slice]:
        a = self.n_tokens(data)
        b = a + data.n_types * data.inner_states
        return [slice(a, b), slice(b, b + data.outer_states)]

    def loss(self, logits, targets, data):
        if not self._states:
            return super().loss(logits, targets, data)
        total = logits.new_zeros(())
        for column, part in enumerate(self._slices(data)):
            target = targets[..., column]  # (B, T) logit index, or IGNORE
            shifted = torch.where(target == IGNORE, target, target - part.start)
            total = total + super().loss(logits[..., part], shifted, data)
        return total

    def metrics(self, examples, world, data, forward, decode, batch_size):
        if self._states:
            return self._state_metrics(examples, data, forward, batch_size)
        hits = total = 0
        logprob = []  # per scored position: log of the probability mass on legal next tokens
        valid_rows = np.zeros(len(examples), dtype=bool)
        for start in range(0, len(examples), batch_size):
            rows = np.arange(start, min(start + batch_size, len(examples)))
            logits = forward(rows)  # (B, T, V)
            pred = logits.argmax(-1).cpu().numpy()  # (B, T)
            full, lengths = _pad([examples.extra["tokens"][i] for i in rows])  # (B, T+1)
            legal = world.flat.legal_next_mask(full, lengths)  # (B, T+1, A)
            scored = np.arange(pred.shape[1])[None, :] < (lengths - 1)[:, None]  # (B, T)
            logprob.append(legal_logprob(logits, legal[:, 1:], scored))
            ok = np.zeros_like(scored)
            inside = pred < legal.shape[2]
            b, t = np.nonzero(scored & inside)
            ok[b, t] = legal[b, t + 1, pred[b, t]]
            hits += int(ok[scored].sum())
            total += int(scored.sum())
            valid_rows[rows] = self._continuations(examples, rows, world, data, decode)
        lp = np.concatenate(logprob)  # (scored positions,)
        return {"accuracy": hits / max(total, 1), "continuation_valid": float(valid_rows.mean()),
                "legal_mass": float(np.exp(lp).mean()) if lp.size else 0.0,
                "legal_logprob": float(lp.mean()) if lp.size else 0.0}

    def _continuations(self, examples, rows, world, data, decode) -> np.ndarray:
        """Per row: greedy continuation of the prefix stays a viable prefix of the language."""
        fraction = data.continuation_prefix
        tokens = [examples.extra["tokens"][i] for i in rows]
        cut = [max(1, round(fraction * len(t))) for t in tokens]
        todo = [len(t) - c for t, c in zip(tokens, cut, strict=True)]
        gen = decode([t[:c] for t, c in zip(tokens, cut, strict=True)], max(max(todo), 1), None)
        full = [np.concatenate([t[:c], g[:k]]) for t, c, g, k in zip(tokens, cut, gen, todo,
                                                                       strict=True)]
        padded, lengths = _pad(full)
        if (padded >= world.flat.n_symbols).any():
            padded = np.where(padded >= world.flat.n_symbols, 0, padded)
            bad = np.array([(f >= world.flat.n_symbols).any() for f in full])
        else:
            bad = np.zeros(len(full), dtype=bool)
        viable = world.flat.viable_prefix_mask(padded, lengths)  # (B, T+1)
        return viable[np.arange(len(full)), lengths] & ~bad

    def _state_metrics(self, examples, data, forward, batch_size):
        inner_ok = outer_ok = both_ok = total = 0
        for start in range(0, len(examples), batch_size):
            rows = np.arange(start, min(start + batch_size, len(examples)))
            logits = forward(rows)  # (B, T, V)
            targets, _ = _pad([examples.targets[i] for i in rows], pad=IGNORE)  # (B, T, 2)
            pred = []
            for part in self._slices(data):
                pred.append(logits[..., part].argmax(-1).cpu().numpy() + part.start)  # (B, T)
            scored = (targets[..., 0] != IGNORE) & (targets[..., 1] != IGNORE)  # (B, T)
            inner = pred[0] == targets[..., 0]
            outer = pred[1] == targets[..., 1]
            inner_ok += int(inner[scored].sum())
            outer_ok += int(outer[scored].sum())
            both_ok += int((inner & outer)[scored].sum())
            total += int(scored.sum())
        total = max(total, 1)
        return {"accuracy": both_ok / total, "inner_accuracy": inner_ok / total,
                "outer_accuracy": outer_ok / total}


def _flat_length_spec(counts: str, segment_length: str) -> str:
    """Total-length spec of flat NFA words: segment counts x (mean segment length + 1)."""
    mean = float(np.mean(_support(segment_length))) + 1.0
    values = _support(counts)
    lo, hi = round(min(values) * mean), round(max(values) * mean)
    return f"fixed:{lo}" if lo == hi else f"uniform:{lo}:{hi}"


def _pad(rows, pad: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Right-padded stack of arrays (T_i, ...) and their lengths."""
    lengths = np.array([len(r) for r in rows], dtype=np.int64)
    shape = (len(rows), int(lengths.max(initial=0)), *np.asarray(rows[0]).shape[1:])
    out = np.full(shape, pad, dtype=np.int64)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    return out, lengths


TASKS: dict[str, Task] = {
    "arith": ArithTask("arith", None),
    "arith_direct": ArithTask("arith_direct", "direct"),
    "binfa_lm": AutomatonTask("binfa_lm", flat=False, states=False),
    "binfa_state": AutomatonTask("binfa_state", flat=False, states=True),
    "nfa_lm": AutomatonTask("nfa_lm", flat=True, states=False),
}


def get_task(name: str) -> Task:
    """The registered task ``name``; unknown -> ``ValueError`` listing the known ones."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; known tasks: {', '.join(TASKS)}")
    return TASKS[name]
