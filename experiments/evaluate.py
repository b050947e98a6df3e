"""The length-extrapolation protocol: score a run at each length setting, write ``eval.json``.

For each evaluation setting (operator count for arithmetic, segment count for automata tasks)
an evaluation set of ``data.n_eval`` examples is drawn from its own seed stream (so a setting's
examples do not depend on which other settings are evaluated), split into batches of at most
``data.eval_tokens_per_batch`` tokens (so lengths many times the training length fit in
memory), and scored by the task (``experiments/tasks/``). Greedy decoding is
``model.generate`` (``bipe.models.generate``, the one decoder) with the KV cache; under another
evaluation segmentation the positions come from that segmentation
(:func:`segmentation_positions`), and perturbed segmentations (redrawn from the same seed for
every prefix, so not causal) recompute the prefix each step instead of using the cache. Entropy
segmentation reads the run's fitted segmenter (``RUN/segmenter_eval.npz``; fitted on the run's
training split and saved in ``--out`` when ``--set`` changes it) and, unperturbed, computes
segments online by its streaming form (``experiments/online_decode.py``; equal to recomputing
because the segmenter is causal).

With ``eval_positions=sampled``, an entry that samples positions in training (randomized_*,
rfs_*) draws them for every evaluated row as training did (``bipe.models.sampled_positions``;
for decoding, once at the prompt for the longest sequence it can reach), from the length's own
seed stream, instead of reading the plain integers.

``eval.json``::

    {"task": "arith", "pe": "bipe_rope", "train_range": [1, 4],
     "per_length": [{"length": 1, "n": 200, "accuracy": 1.0, "chain_accuracy": 0.99}, ...],
     "summary": {"in_distribution": {"accuracy": ...}, "above_train": {"accuracy": ...}}}

``in_distribution`` is the mean over settings inside the training range, ``above_train`` the
mean over settings above it (each an unweighted mean over settings; ``{}`` when there are none).
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bipe.experiments import rundir
from bipe.experiments.config import (
    RunConfig,
    SegmentationConfig,
    apply_overrides,
    config_from_dict,
    config_to_dict,
)
from bipe.experiments.online_decode import EntropyPositions
from bipe.experiments.prepare import (
    EVAL,
    POSITIONS,
    SEGMENT,
    WORLD,
    Prepared,
    apply_threads,
    prepare,
    resolve_device,
    stream,
)
from bipe.experiments.segmentation import (
    batch_positions,
    example_positions,
    knobs_match,
    load_run_segmenters,
    segmenter_path,
)
from bipe.experiments.tasks import Examples, get_task
from bipe.models.absolute import LearnedAbsolute
from bipe.models.checkpoint import load as load_model
from bipe.models.plugins import resolve_encoding
from bipe.models.positions import Positions, default_positions
from bipe.models.sampled_positions import SampledPositions, sample_positions, sampling_parts
from bipe.synthetic.arrays import pad_rows
from bipe.synthetic.entropy import (
    EntropySegmenter,
    load_entropy_segmenter,
    save_entropy_segmenter,
)

__all__ = [
    "check_feasible",
    "eval_lengths",
    "evaluate_model",
    "evaluate_run",
    "metric_columns",
    "segmentation_positions",
    "summarize",
]


def eval_lengths(config, task) -> tuple[int, ...]:
    """The run's evaluation settings: ``data.eval_lengths`` or the task's default."""
    return tuple(config.data.eval_lengths) or task.default_eval_lengths(config.data)


def eval_set(config, task, world, length: int, n: int | None = None) -> Examples:
    """The evaluation examples of one setting (own seed stream per setting)."""
    return task.generate(
        stream(config.data_seed, EVAL, int(length)),
        config.data,
        world,
        n or config.data.n_eval,
        int(length),
    )


def check_feasible(prepared: Prepared, lengths: Sequence[int] | None = None) -> None:
    """Fail before training (one line) when the evaluation could not run.

    An absolute table over token indices (``learned``) must cover the longest evaluation
    sequence; an intra table with overflow policy ``error`` must cover every intra position
    of the evaluation sets under the evaluation segmentation; under ``eval_positions=sampled``
    an ordered random subset (``randomized_*``) must have room for every evaluated row.
    """
    config, task, world = prepared.config, prepared.task, prepared.world
    if len(config.model.level_separators()) > 1 and not (
        config.segment_train.is_default and config.segment_eval.is_default
    ):
        raise ValueError(
            f"pe={config.model.pe} reads every level from the separators; it "
            "supports only the separator segmentation without perturbations"
        )
    encoding = resolve_encoding(config.model.pe).build(config.model)
    tables = [m for m in encoding.modules() if isinstance(m, LearnedAbsolute)]
    index_limit = min((m.table.num_embeddings for m in tables if m.source == "index"), default=None)
    intra_error = any(m.source == "intra" and m.overflow == "error" for m in tables)
    sampled = sampling_parts(encoding) if config.eval_positions == "sampled" else []
    if index_limit is None and not intra_error and not sampled:
        return
    for length in lengths or eval_lengths(config, task):
        examples = eval_set(config, task, world, length)
        longest = max(len(x) for x in examples.inputs) + 1
        if index_limit is not None and longest > index_limit:
            raise ValueError(
                f"pe={config.model.pe} has {index_limit} positions but evaluation at length "
                f"{length} needs {longest}; raise model.max_len or drop that length"
            )
        if not (intra_error or sampled):
            continue
        pos = example_positions(
            stream(config.data_seed, SEGMENT, 1, int(length)),
            examples,
            config.segment_eval,
            config.model.separators,
            prepared.segmenters.get("eval"),
        )
        if intra_error:
            top = max(int(p[1].max()) for p in pos)
            if top >= config.model.max_intra:
                raise ValueError(
                    f"intra position {top} at evaluation length {length} exceeds the trained "
                    f"intra table ({config.model.max_intra} rows) and model.intra_overflow is "
                    "'error'; use clamp or sinusoidal, or train on longer segments"
                )
        counts = {"index": longest, "seg": max(int(p[0].max()) + 1 for p in pos)}
        for part in sampled:
            _check_draw(part, counts[part.sampled_stream], length)


def _check_draw(part, n: int, length: int) -> None:
    """A dry draw of ``n`` sampled positions (the most a row at ``length`` needs)."""
    try:
        part.draw_table(torch.Generator().manual_seed(0), torch.tensor([n]), n)
    except ValueError as err:
        raise ValueError(f"eval_positions=sampled at evaluation length {length}: {err}") from None


def metric_columns(per_length: list[dict]) -> list[str]:
    """Names of the numeric metrics of ``per_length`` rows, first seen first (a metric that is
    null at some length still counts; lists, e.g. profiles, do not)."""
    return list(
        dict.fromkeys(
            k
            for r in per_length
            for k, v in r.items()
            if k not in ("length", "n") and isinstance(v, (int, float))
        )
    )


def summarize(per_length: list[dict], train_range: tuple[int, int]) -> dict[str, dict]:
    """In-distribution and above-training means of every metric over settings (a setting
    whose value is null, e.g. a metric undefined at one segment, is left out of its mean)."""
    lo, hi = train_range
    names = metric_columns(per_length)

    def mean(rows):
        values = {k: [r[k] for r in rows if isinstance(r.get(k), (int, float))] for k in names}
        return {k: float(np.mean(v)) for k, v in values.items() if v}

    return {
        "in_distribution": mean([r for r in per_length if lo <= r["length"] <= hi]),
        "above_train": mean([r for r in per_length if r["length"] > hi]),
    }


def evaluate_model(
    model,
    config,
    task,
    world,
    lengths: Sequence[int],
    *,
    progress: bool = False,
    n: int | None = None,
    segmenters: dict | None = None,
) -> dict[str, Any]:
    """The ``eval.json`` content of ``model`` trained under ``config`` (``segmenters``: the
    run's fitted entropy segmenters, needed when ``segment_eval`` uses ``entropy``)."""
    entropy = (segmenters or {}).get("eval")
    from tqdm.auto import tqdm

    device = next(model.parameters()).device
    model.eval()
    rows = []
    no_bar = not progress or not sys.stderr.isatty()  # no bar into a log or pipe
    for length in tqdm(lengths, disable=no_bar, desc="eval", leave=False):
        examples = eval_set(config, task, world, length, n)
        longest = max(len(x) for x in examples.inputs) + 1
        batch = max(1, config.data.eval_tokens_per_batch // longest)
        sampler = position_sampler(model, config, length)
        forward = _forward_fn(model, config, examples, length, device, entropy, sampler)
        decode = _decode_fn(model, config, length, device, entropy, sampler)
        with torch.no_grad():
            values = task.metrics(examples, world, config.data, forward, decode, batch)
        rows.append({"length": int(length), "n": len(examples), **values})
    train_range = task.train_range(config.data)
    return {
        "task": config.task,
        "pe": config.model.pe,
        "train_range": list(train_range),
        "per_length": rows,
        "summary": summarize(rows, train_range),
    }


EVAL_KEYS = (
    "segment_eval.",
    "eval_positions",
    "data.eval_lengths",
    "data.n_eval",
    "data.eval_tokens_per_batch",
)


def evaluation_config(run_dir: str | Path, overrides: dict[str, str]) -> tuple[RunConfig, dict]:
    """The run's config with evaluation-only overrides (``segment_eval.*``, ``data.eval_*``,
    ``data.n_eval``) applied, and the raw dict to record; any other key is a ``ValueError``."""
    config, raw = rundir.read_run_config(run_dir)
    bad = [k for k in overrides if not k.startswith(EVAL_KEYS)]
    if bad:
        raise ValueError(
            f"{bad[0]} cannot change at evaluation (allowed: segment_eval.*, eval_positions, "
            "data.eval_lengths, data.n_eval, data.eval_tokens_per_batch)"
        )
    tree = apply_overrides(config_to_dict(config), overrides, RunConfig)
    return config_from_dict(RunConfig, tree), {
        **raw,
        **tree,
        "evaluated_from": str(run_dir),
        "eval_overrides": overrides,
    }


def evaluate_run(
    run_dir: str | Path,
    *,
    lengths: Sequence[int] | None = None,
    model=None,
    progress: bool = True,
    n: int | None = None,
    overrides: dict[str, str] | None = None,
    out: str | Path | None = None,
) -> dict[str, Any]:
    """Evaluate the trained run in ``run_dir`` and write ``run_dir/eval.json``.

    With ``overrides`` (evaluation-only keys, e.g. ``{"segment_eval.drop": "0.2"}``) the model
    is evaluated under the changed settings; ``out`` (required then) is a new folder that gets
    the changed ``config.json`` (with ``evaluated_from``) and ``eval.json``, so the run's own
    evaluation is never overwritten and analysis reads the folder like a run.
    """
    if overrides and out is None:
        raise ValueError(
            "evaluation overrides need an output folder (--out DIR), so the "
            "run's own eval.json is kept"
        )
    config, raw = evaluation_config(run_dir, overrides or {})
    rundir.check_run_encoding(run_dir, raw)  # a changed plug-in source: a warning
    apply_threads(config)
    task = get_task(config.task)
    world = task.setup(stream(config.data_seed, WORLD), config.data)
    if model is None:
        path = Path(run_dir) / "model.pt"
        if not path.exists():
            raise ValueError(
                f"{run_dir}: no model.pt (training has not finished; bipe train --resume {run_dir})"
            )
        model = load_model(path, map_location=resolve_device(config.train.device))
    result = evaluate_model(
        model,
        config,
        task,
        world,
        tuple(lengths) if lengths else eval_lengths(config, task),
        progress=progress,
        n=n,
        segmenters=evaluation_segmenters(run_dir, config, out),
    )
    if out is not None:
        Path(out).mkdir(parents=True, exist_ok=True)
        rundir.write_json_atomic(Path(out) / "config.json", raw)
    rundir.write_json_atomic(Path(out or run_dir) / "eval.json", result)
    return result


class PositionSampler:
    """What ``eval_positions=sampled`` needs at one evaluation length: the model's sampling
    parts and the length's generator (``POSITIONS`` stream), shared by its forward and decode
    calls in the order the task makes them."""

    def __init__(self, parts, generator: torch.Generator) -> None:
        self.parts, self.generator = parts, generator

    def rows(self, pos: Positions, lengths: np.ndarray) -> Positions:
        """Whole right-padded rows (B, T) with their true ``lengths`` (B,)."""
        T = pos.index.shape[1]
        n = torch.from_numpy(lengths).to(pos.index.device)
        valid = torch.arange(T, device=pos.index.device)[None, :] < n[:, None]  # (B, T)
        return sample_positions(self.parts, pos, valid, self.generator)

    def decoding(self, model, n_new: int, inner=None) -> SampledPositions:
        seps = model.config.level_separators()
        return SampledPositions(self.parts, seps, n_new, self.generator, inner)


def position_sampler(model, config, length: int) -> PositionSampler | None:
    """The length's :class:`PositionSampler` under ``eval_positions=sampled``, else None."""
    if config.eval_positions != "sampled":
        return None
    parts = sampling_parts(model.encoding)
    if not parts:
        raise ValueError(f"eval_positions=sampled: pe={config.model.pe!r} has no sampling part")
    if any(p.samples_in_eval for p in parts):
        raise ValueError(
            f"eval_positions=sampled: pe={config.model.pe!r} already samples positions at "
            "evaluation (model.causal=false)"
        )
    seed = int(stream(config.data_seed, POSITIONS, int(length)).integers(2**62))
    return PositionSampler(parts, torch.Generator().manual_seed(seed))


def _forward_fn(model, config, examples: Examples, length: int, device, entropy=None, sampler=None):
    """forward(rows) -> logits (B, T, V) of ``examples.inputs[rows]`` under eval positions
    (computed only when the evaluation segmentation is not the model's own, or ``sampler``
    draws them)."""
    positions = None
    if not config.segment_eval.is_default:
        positions = example_positions(
            stream(config.data_seed, SEGMENT, 1, int(length)),
            examples,
            config.segment_eval,
            config.model.separators,
            entropy,
        )

    def forward(rows: np.ndarray) -> torch.Tensor:
        tokens, lengths = pad_rows([examples.inputs[i] for i in rows])  # (B, T), (B,)
        x = torch.from_numpy(tokens).to(device)
        if positions is None and sampler is None:
            return model(x)  # the model's own streams
        if positions is None:
            pos = default_positions(x, model.config.level_separators())
        else:
            seg, _ = pad_rows([positions[i][0] for i in rows])  # (B, T)
            intra, _ = pad_rows([positions[i][1] for i in rows])  # (B, T)
            b, t = tokens.shape
            pos = Positions(
                torch.arange(t, device=device).expand(b, t),
                torch.from_numpy(seg).to(device),
                torch.from_numpy(intra).to(device),
            )
        return model(x, pos if sampler is None else sampler.rows(pos, lengths))

    return forward


def _decode_fn(model, config, length: int, device, entropy=None, sampler=None):
    """decode(prompts, max_new, eos) -> (B, max_new) greedy continuations of 1-D prompts, by
    ``model.generate`` (``bipe.models.generate``): with the KV cache, except under perturbed
    segmentations (redrawn for every prefix, so not causal), which recompute each prefix;
    ``sampler`` draws the sampled streams once per call."""
    seg_config = config.segment_eval
    perturbed = bool(seg_config.drop or seg_config.insert or seg_config.shift)

    def decode(prompts: list[np.ndarray], max_new: int, eos: int | None) -> np.ndarray:
        padded, lengths = pad_rows(prompts, left=True)  # (B, P), (B,)
        positions = None
        if seg_config.method == "entropy" and not perturbed:
            positions = EntropyPositions(entropy)  # streaming: one step per token
        elif not seg_config.is_default:
            positions = segmentation_positions(config, length, entropy)
        if sampler is not None:
            positions = sampler.decoding(model, max_new, positions)
        uniform = bool((lengths == padded.shape[1]).all())
        out = model.generate(
            torch.from_numpy(padded).to(device),
            max_new,
            eos=eos,
            prompt_lengths=None if uniform else torch.from_numpy(lengths).to(device),
            positions=positions,
            use_cache=not perturbed,
        )
        return out[:, padded.shape[1] :].cpu().numpy()  # (B, max_new)

    return decode


def segmentation_positions(config, length: int, entropy=None):
    """``positions(tokens (B, S), lengths (B,)) -> Positions (B, S)`` of right-aligned rows
    under ``config.segment_eval`` (the ``positions`` of ``bipe.models.generate``), with
    perturbations redrawn from the same seed at every call."""
    seg_config, separators = config.segment_eval, config.model.separators

    def positions(tokens: torch.Tensor, lengths: torch.Tensor) -> Positions:
        aligned, n = tokens.cpu().numpy(), lengths.cpu().numpy()  # (B, S), (B,)
        s = aligned.shape[1]
        rows, _ = pad_rows([row[s - k :] for row, k in zip(aligned, n, strict=True)])  # (B, S)
        rng = stream(config.data_seed, SEGMENT, 2, int(length))
        seg, intra = batch_positions(rng, rows, n, seg_config, separators, entropy=entropy)
        seg, _ = pad_rows([x[:k] for x, k in zip(seg, n, strict=True)], left=True)  # (B, S)
        intra, _ = pad_rows([x[:k] for x, k in zip(intra, n, strict=True)], left=True)
        index = np.maximum(np.arange(s)[None, :] - (s - n)[:, None], 0)  # (B, S) pad -> 0

        def tensor(x: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(x).to(tokens.device)

        return Positions(tensor(index), tensor(seg), tensor(intra))

    return positions


def evaluation_segmenters(
    run_dir: str | Path, config, out: str | Path | None = None
) -> dict[str, EntropySegmenter]:
    """``{"eval": segmenter}`` for ``config.segment_eval`` (``{}`` unless it uses entropy):
    the run's saved one; with evaluation overrides (``out`` given) that changed the entropy
    knobs or introduced entropy, one fitted now on the run's regenerated training split and
    saved in ``out``."""
    if config.segment_eval.method != "entropy":
        return {}
    if out is None:
        return load_run_segmenters(run_dir, config, required=True)
    path = segmenter_path(run_dir, "eval")
    if path.is_file():
        saved = load_entropy_segmenter(path)
        if knobs_match(saved, config.segment_eval):
            return {"eval": saved}
    plain = dataclasses.replace(config, segment_train=SegmentationConfig())
    fitted = prepare(plain).segmenters["eval"]
    save_entropy_segmenter(segmenter_path(out, "eval"), fitted)
    return {"eval": fitted}
