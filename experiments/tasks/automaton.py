"""Automaton tasks: language modelling and state prediction on Bi-NFA / flat NFA sequences.

``binfa_lm`` (next-token language modelling on Bi-NFA sequences; see ``bipe.synthetic``)
    inputs  ``a b # c #`` (symbols, separators ``#``) without the last token; targets the next
    token everywhere (metrics: docs/method.md#evaluation). ``accuracy``: the fraction of
    positions whose argmax is a legal next token by the automaton oracle
    (``NFA.legal_next_mask`` of the flattened automaton; with ``#`` the separator, after
    ``a b #`` any first symbol of a segment type the outer automaton allows is legal);
    ``continuation_valid``: per sequence, greedy continuation of the first
    ``data.continuation_prefix`` of the tokens for the remaining length is still a viable
    prefix of the language; ``legal_mass`` / ``legal_logprob``: the mean probability (and mean
    log-probability) the model puts on the legal next tokens, which do not saturate;
    ``legal_mass_after_first``: the same mean over the positions from the first separator on
    (null for one-segment sequences). Inside the first segment no separator marks where the
    segment began, and a purely relative encoding has no other anchor for it.
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
    segment count times the mean segment length + 1,
    :func:`bipe.synthetic.sequence_data.flat_length_spec`), i.e. the same language without the
    generator's bilevel structure.

Every draw (the world's automaton, the training set, each evaluation set) is that of the
``bipe gen`` dataset config :meth:`AutomatonTask.dataset_config` gives, through the same
functions (:func:`bipe.synthetic.sequences.build_automaton`, ``build_sampler``,
``draw_sequences``): a run with data seed S trains on exactly the records ``bipe gen KIND --seed
S`` writes with the same data settings. Examples are built straight from the sampler's
concatenated arrays (:class:`bipe.synthetic.sequences.SequenceBatch`); a saved dataset's records
are concatenated into the same arrays first (:class:`Ragged`), so both go through one
constructor.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from bipe.experiments.metrics import legal_logprob
from bipe.experiments.tasks.base import IGNORE, Examples, Task
from bipe.synthetic.arrays import pad_rows
from bipe.synthetic.distributions import parse_length_spec

if TYPE_CHECKING:
    from bipe.synthetic.sequences import SequenceConfig

__all__ = ["AutomatonTask", "AutomatonWorld", "Ragged"]


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

    family = "automaton"
    unit = "segments"
    length_field = "segments"
    levels = 2  # levels of the task's automaton (binfa3_lm: 3)

    def __init__(self, name: str, *, flat: bool, states: bool) -> None:
        self.name, self._flat, self._states = name, flat, states
        self.generators = ("nfa",) if flat else ("binfa",)
        self.metric_names = (
            ("accuracy", "inner_accuracy", "outer_accuracy")
            if states
            else (
                "accuracy",
                "continuation_valid",
                "legal_mass",
                "legal_logprob",
                "legal_mass_after_first",
            )
        )

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
        return (
            data.segment_length
            if setting is None or not data.eval_segment_length
            else data.eval_segment_length
        )

    def sub_segments(self, data: Any) -> str | None:
        """The sentences-per-paragraph law (None: a 2-level task, which refuses
        ``data.sub_segments``)."""
        if data.sub_segments:
            raise ValueError(
                f"data.sub_segments={data.sub_segments!r} is for 3-level data; "
                f"task {self.name!r} is 2-level (use binfa3_lm or leave it empty)"
            )
        return None

    def dataset_config(self, data: Any, n: int, setting: int | None = None) -> SequenceConfig:
        """The ``bipe gen`` dataset config of one draw of ``n`` sequences: the training set
        (``setting`` None: ``data.segments``) or the evaluation set of ``setting`` segments
        (``fixed:SETTING``, with ``data.eval_segment_length`` when set). Its kind is the task's
        generator; ``deterministic`` for state targets; ``sub_segments`` for 3-level data;
        ``length`` for flat words (:func:`~bipe.synthetic.sequence_data.flat_length_spec`)."""
        from bipe.synthetic.sequence_data import flat_length_spec
        from bipe.synthetic.sequences import SequenceConfig

        seg_len = self._segment_length(data, setting)
        counts = data.segments if setting is None else f"fixed:{int(setting)}"
        options: dict[str, Any] = {"deterministic": self._states}
        sub = self.sub_segments(data)
        if sub is not None:
            options["sub_segments"] = sub
        if self._flat:
            options["length"] = flat_length_spec(counts, seg_len)
        config = SequenceConfig.from_data(data, kind=self.generators[0], **options)
        return dataclasses.replace(config, n=n, segments=counts, segment_length=seg_len)

    def setup(self, rng, data):
        from bipe.synthetic import sequences

        self.sub_segments(data)  # a 2-level task refuses data.sub_segments up front
        if data.path:  # the saved dataset's own automaton (its legality oracle)
            self.dataset_meta(data.path)
            binfa = sequences.load_automaton(data.path)
            if binfa.levels != self.levels:
                raise ValueError(
                    f"data.path {data.path} holds a {binfa.levels}-level automaton;"
                    f" task {self.name!r} needs {self.levels} levels"
                )
            if self._states and not all(x.is_deterministic for x in (*binfa.inner, binfa.outer)):
                raise ValueError(
                    f"data.path {data.path} holds a nondeterministic Bi-NFA; task "
                    f"{self.name!r} needs one made with bipe gen binfa "
                    f"--deterministic (its states are the targets)"
                )
            return AutomatonWorld(binfa=binfa, flat=binfa.flatten().trim())
        binfa = sequences.build_automaton(rng, self.dataset_config(data, data.n_train))
        return AutomatonWorld(binfa=binfa, flat=binfa.flatten().trim())

    def generate(self, rng, data, world, n, setting):
        from bipe.synthetic import sequences

        config = self.dataset_config(data, n, setting)
        sequences.check_dataset_size(config, f"task {self.name}")
        sampler = sequences.build_sampler(config, world.binfa)
        labels = {} if self._flat else {"state_labels": self._states}  # labels draw nothing
        batch = sequences.draw_sequences(sampler, rng, n, **labels)
        return self._examples(Ragged.of_batch(batch), data)

    def load(self, path, data, world):
        from bipe.synthetic.dataset import load_dataset

        self.dataset_meta(path)
        dataset = load_dataset(path)
        vocab = dataset.meta.get("vocab")
        if vocab is not None and len(vocab) != self.n_tokens(data):
            raise ValueError(
                f"{path}: vocabulary of {len(vocab)} tokens, but the run's data "
                f"config has n_symbols={data.n_symbols}; set --data.n_symbols"
            )
        return self._examples(Ragged.of_records(dataset.records, self._states), data)

    def _examples(self, ragged: Ragged, data: Any) -> Examples:
        """Examples of the sequences in ``ragged`` (one split of its flat arrays per row)."""
        cuts = ragged.offsets[1:-1]  # (N-1,) row boundaries in the flat arrays
        tokens = np.split(ragged.tokens, cuts)
        seg, intra = np.split(ragged.seg, cuts), np.split(ragged.intra, cuts)
        lengths = np.diff(ragged.offsets)  # (N,)
        last = np.maximum(ragged.offsets[1:] - 1, 0)  # (N,) each row's last token
        top = ragged.seg if ragged.top is None else ragged.top  # (M,) outermost unit index
        setting = np.where(lengths > 0, top[last] + 1 if len(top) else 0, 0)  # (N,)
        if self._states:
            targets = np.split(self._state_targets(ragged, data), cuts)
            return Examples(
                inputs=tuple(tokens),
                targets=tuple(targets),
                setting=setting,
                oracle=tuple(zip(seg, intra, strict=True)),
                extra={"tokens": tokens},
            )
        return Examples(
            inputs=tuple(t[:-1] for t in tokens),
            targets=tuple(t[1:] for t in tokens),
            setting=setting,
            oracle=tuple((s[:-1], p[:-1]) for s, p in zip(seg, intra, strict=True)),
            extra={"tokens": tokens},
        )

    def _state_targets(self, ragged: Ragged, data: Any) -> np.ndarray:
        """(M, 2) logit indices of the (type, inner state) and outer state after each token."""
        if ragged.inner_state is None or ragged.types is None:
            raise ValueError("binfa_state needs records with types, inner_state and outer_state")
        a = self.n_tokens(data)
        lengths = np.diff(ragged.offsets)  # (N,)
        row = np.repeat(np.arange(len(lengths)), lengths)  # (M,) each token's row
        n_segments = np.diff(ragged.type_offsets)  # (N,)
        unit = ragged.type_offsets[row] + np.minimum(ragged.seg, n_segments[row] - 1)  # (M,)
        token_type = ragged.types[unit]  # (M,) type of each token's segment
        inner, outer = ragged.inner_state, ragged.outer_state  # (M,) each
        inner_ids = np.where(inner >= 0, a + token_type * data.inner_states + inner, IGNORE)
        outer_ids = np.where(outer >= 0, a + data.n_types * data.inner_states + outer, IGNORE)
        return np.stack([inner_ids, outer_ids], axis=1)  # (M, 2)

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
        later = []  # the same, at positions from the first separator on
        seps = np.asarray(self.separators(data, world))
        valid_rows = np.zeros(len(examples), dtype=bool)
        for start in range(0, len(examples), batch_size):
            rows = np.arange(start, min(start + batch_size, len(examples)))
            logits = forward(rows)  # (B, T, V)
            pred = logits.argmax(-1).cpu().numpy()  # (B, T)
            full, lengths = pad_rows([examples.extra["tokens"][i] for i in rows])  # (B, T+1)
            legal = world.flat.legal_next_mask(full, lengths)  # (B, T+1, A)
            scored = np.arange(pred.shape[1])[None, :] < (lengths - 1)[:, None]  # (B, T)
            logprob.append(legal_logprob(logits, legal[:, 1:], scored))
            seen = np.cumsum(np.isin(full[:, :-1], seps), axis=1) > 0  # (B, T) a separator read
            later.append(logprob[-1][seen[scored]])  # the same positions, in the same order
            ok = np.zeros_like(scored)
            inside = pred < legal.shape[2]
            b, t = np.nonzero(scored & inside)
            ok[b, t] = legal[b, t + 1, pred[b, t]]
            hits += int(ok[scored].sum())
            total += int(scored.sum())
            valid_rows[rows] = self._continuations(examples, rows, world, data, decode)
        lp = np.concatenate(logprob)  # (scored positions,)
        lp_later = np.concatenate(later)  # (scored positions past the first segment,)
        return {
            "accuracy": hits / max(total, 1),
            "continuation_valid": float(valid_rows.mean()),
            "legal_mass": float(np.exp(lp).mean()) if lp.size else 0.0,
            "legal_logprob": float(lp.mean()) if lp.size else 0.0,
            "legal_mass_after_first": (float(np.exp(lp_later).mean()) if lp_later.size else None),
        }

    def _continuations(self, examples, rows, world, data, decode) -> np.ndarray:
        """Per row: greedy continuation of the prefix stays a viable prefix of the language."""
        fraction = data.continuation_prefix
        tokens = [examples.extra["tokens"][i] for i in rows]
        cut = [max(1, round(fraction * len(t))) for t in tokens]
        todo = [len(t) - c for t, c in zip(tokens, cut, strict=True)]
        gen = decode([t[:c] for t, c in zip(tokens, cut, strict=True)], max(max(todo), 1), None)
        full = [
            np.concatenate([t[:c], g[:k]])
            for t, c, g, k in zip(tokens, cut, gen, todo, strict=True)
        ]
        padded, lengths = pad_rows(full)
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
            targets, _ = pad_rows([examples.targets[i] for i in rows], pad=IGNORE)  # (B, T, 2)
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
        return {
            "accuracy": both_ok / total,
            "inner_accuracy": inner_ok / total,
            "outer_accuracy": outer_ok / total,
        }


@dataclass(frozen=True, kw_only=True, eq=False)
class Ragged:
    """N sequences concatenated (M tokens): ``offsets`` (N+1,) row boundaries; ``tokens``,
    ``seg``, ``intra`` (M,) int64; for state labels ``types`` (U,) each segment's type with
    ``type_offsets`` (N+1,), and ``inner_state``/``outer_state`` (M,) (None when absent);
    ``top`` (M,) the outermost level's unit index when it is not ``seg`` (3-level data)."""

    tokens: np.ndarray
    offsets: np.ndarray
    seg: np.ndarray
    intra: np.ndarray
    types: np.ndarray | None = None
    type_offsets: np.ndarray | None = None
    inner_state: np.ndarray | None = None
    outer_state: np.ndarray | None = None
    top: np.ndarray | None = None

    @classmethod
    def of_batch(cls, batch: Any) -> Ragged:
        """The arrays of a sampler batch (:class:`bipe.synthetic.sequences.SequenceBatch`)."""
        segs, intra = batch.positions()  # (L, M), (M,)
        has_types = len(batch.types) > 0
        return cls(
            tokens=batch.tokens,
            offsets=batch.offsets,
            seg=segs[0],
            intra=intra,
            types=batch.types[0] if has_types else None,
            type_offsets=batch.type_offsets[0] if has_types else None,
            inner_state=batch.inner_state,
            outer_state=batch.outer_state,
            top=segs[-1] if len(segs) > 1 else None,
        )

    @classmethod
    def of_records(cls, records: Sequence[dict], states: bool) -> Ragged:
        """Saved sequence records (``tokens``, ``seg``, ``intra``; with ``states`` also
        ``types``, ``inner_state``, ``outer_state`` when every record has them; the outermost
        level's ``seg2`` of 3-level records when every record has it)."""

        def flat(key: str) -> tuple[np.ndarray, np.ndarray]:
            parts = [np.asarray(r[key], dtype=np.int64) for r in records]
            offsets = np.concatenate([[0], np.cumsum([len(x) for x in parts])]).astype(np.int64)
            return (np.concatenate(parts) if parts else np.zeros(0, np.int64)), offsets

        tokens, offsets = flat("tokens")
        labelled = states and all(
            k in r for r in records for k in ("types", "inner_state", "outer_state")
        )
        types, type_offsets = flat("types") if labelled else (None, None)
        return cls(
            tokens=tokens,
            offsets=offsets,
            seg=flat("seg")[0],
            intra=flat("intra")[0],
            types=types,
            type_offsets=type_offsets,
            inner_state=flat("inner_state")[0] if labelled else None,
            outer_state=flat("outer_state")[0] if labelled else None,
            top=flat("seg2")[0] if records and all("seg2" in r for r in records) else None,
        )
