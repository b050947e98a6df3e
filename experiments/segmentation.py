"""Segmentation as an experimental variable: which ``(seg, intra)`` a BiPE model receives.

A :class:`~bipe.experiments.config.SegmentationConfig` picks the boundary marks (the
separator rule, fixed length K, the generator's oracle labels, or the entropy rule of an n-gram
model fitted on the run's training split) and perturbs them (drop,
insert, shift; ``bipe.synthetic.perturb``). Tokens never change. Marks become positions through
``bipe.synthetic.segment.positions_from_boundaries``, the one conversion every segmenter uses.

Worked example (``S`` the separator, ``fixed:2``)::

    tokens : a  b  S  c  d  S
    separator: seg 0 0 0 1 1 1, intra 0 1 2 0 1 2
    fixed:2  : seg 0 0 1 1 2 2, intra 0 1 0 1 0 1

Entropy segmentation (docs/method.md#entropy-segmentation) needs its fitted segmenter: a run
fits one per entropy config (``segment_train``, ``segment_eval``) on its training inputs at
prepare time (:func:`fit_run_segmenters`), saves them in the run folder as
``RUN/segmenter_train.npz`` / ``RUN/segmenter_eval.npz`` (:func:`save_run_segmenters`), and
evaluation and resume read them back (:func:`load_run_segmenters`) instead of refitting.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bipe.synthetic.arrays import pad_rows  # re-exported (public name of this module)
from bipe.synthetic.entropy import (
    EntropySegmenter,
    entropy_boundaries,
    fit_entropy_segmenter,
    load_entropy_segmenter,
    save_entropy_segmenter,
)
from bipe.synthetic.perturb import drop_boundaries, insert_boundaries, shift_boundaries
from bipe.synthetic.segment import (
    boundaries_from_positions,
    fixed_length_boundaries,
    positions_from_boundaries,
)

__all__ = [
    "batch_positions",
    "example_positions",
    "fit_run_segmenters",
    "knobs_match",
    "load_run_segmenters",
    "pad_rows",
    "save_run_segmenters",
    "segmenter_path",
]


def batch_positions(
    rng: np.random.Generator | None,
    tokens: np.ndarray,
    lengths: np.ndarray,
    config,
    separators: Sequence[int],
    oracle_seg: np.ndarray | None = None,
    entropy: EntropySegmenter | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``(seg, intra)`` ``(N, T)`` of right-padded ``tokens`` ``(N, T)`` under ``config``.

    ``separators``: token ids, or one tuple of ids per level (hbipe; all of them close a
    segment). ``oracle_seg`` ``(N, T)`` is the generator's segment index (needed for ``oracle``;
    when absent, oracle falls back to the separator rule). ``entropy`` is the run's fitted
    segmenter (required for ``entropy``). ``rng`` draws the perturbations (it may be None when
    there are none). Padding gets position 0.
    """
    n, t = tokens.shape
    valid = np.arange(t)[None, :] < lengths[:, None]  # (N, T)
    separators = [
        s
        for level in separators  # hbipe: one tuple per level; any level closes
        for s in (level if isinstance(level, (tuple, list)) else (level,))
    ]
    if config.method == "oracle" and oracle_seg is not None:
        marks = boundaries_from_positions(oracle_seg, lengths)  # (N, T)
        # the oracle's last token closes a segment iff it is a separator (as in the data)
        last = np.isin(tokens[np.arange(n), np.maximum(lengths - 1, 0)], list(separators))
        marks[np.arange(n), np.maximum(lengths - 1, 0)] |= last & (lengths > 0)
    elif config.method == "entropy":
        if entropy is None:
            raise ValueError(
                "entropy segmentation needs the run's fitted segmenter "
                "(fit_run_segmenters / load_run_segmenters)"
            )
        marks = entropy_boundaries(tokens, entropy, lengths)  # (N, T)
    elif config.method.startswith("fixed:"):
        marks = fixed_length_boundaries((n, t), int(config.method.split(":")[1]))  # (N, T)
    else:
        marks = np.isin(tokens, list(separators))  # (N, T)
    marks = marks & valid
    if config.drop or config.insert or config.shift:
        if rng is None:
            raise ValueError("segmentation perturbations need a random generator")
        marks = drop_boundaries(rng, marks, config.drop, lengths)
        marks = insert_boundaries(rng, marks, config.insert, lengths)
        marks = shift_boundaries(rng, marks, int(config.shift), lengths)
    return positions_from_boundaries(marks, lengths)


def example_positions(
    rng: np.random.Generator | None,
    examples,
    config,
    separators: Sequence[int],
    entropy: EntropySegmenter | None = None,
) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """Per-example ``(seg, intra)`` for ``examples.inputs`` under ``config`` (drawn once);
    ``entropy`` as in :func:`batch_positions`."""
    if not len(examples):
        return ()
    tokens, lengths = pad_rows(examples.inputs)  # (N, T), (N,)
    oracle = None
    if examples.oracle is not None:
        oracle, _ = pad_rows([o[0] for o in examples.oracle])  # (N, T)
    seg, intra = batch_positions(rng, tokens, lengths, config, separators, oracle, entropy)
    return tuple((seg[i, :n], intra[i, :n]) for i, n in enumerate(lengths))


def max_intra(positions: Sequence[tuple[np.ndarray, np.ndarray]]) -> int:
    """The largest intra position in a list of per-example ``(seg, intra)``."""
    return max((int(intra.max()) for _, intra in positions if len(intra)), default=0)


SPLITS = ("train", "eval")


def fit_run_segmenters(config, inputs: Sequence[np.ndarray]) -> dict[str, EntropySegmenter]:
    """The run's entropy segmenters, fitted on its training ``inputs``: one per split
    (``train``, ``eval``) whose segmentation config uses ``entropy`` (one fit when the two
    configs' entropy knobs agree). ``config`` is the RunConfig; the model's vocabulary is
    the n-gram's."""
    fitted: dict[tuple, EntropySegmenter] = {}
    out = {}
    vocab = max([config.model.vocab_size] + [int(x.max()) + 1 for x in inputs if len(x)])
    for split in SPLITS:
        seg_config = getattr(config, f"segment_{split}")
        if seg_config.method != "entropy":
            continue
        knobs = (
            seg_config.entropy_length,
            seg_config.entropy_order,
            seg_config.entropy_rule,
            seg_config.entropy_smoothing,
        )
        if knobs not in fitted:
            fitted[knobs] = fit_entropy_segmenter(
                inputs,
                target_length=knobs[0],
                order=knobs[1],
                rule=knobs[2],
                smoothing=knobs[3],
                vocab_size=vocab,
            )
        out[split] = fitted[knobs]
    return out


def segmenter_path(run_dir: str | Path, split: str) -> Path:
    return Path(run_dir) / f"segmenter_{split}.npz"


def save_run_segmenters(run_dir: str | Path, segmenters: dict[str, EntropySegmenter]) -> None:
    """Write each segmenter to ``RUN/segmenter_{split}.npz`` (atomically)."""
    for split, segmenter in segmenters.items():
        save_entropy_segmenter(segmenter_path(run_dir, split), segmenter)


def load_run_segmenters(
    run_dir: str | Path, config, *, required: bool = False
) -> dict[str, EntropySegmenter] | None:
    """The segmenters saved in ``run_dir`` for ``config``'s entropy splits; None when the run
    folder has none of them (a run that has not been prepared yet) unless ``required``."""
    splits = [s for s in SPLITS if getattr(config, f"segment_{s}").method == "entropy"]
    present = [s for s in splits if segmenter_path(run_dir, s).is_file()]
    if not present and not required:
        return None
    if len(present) != len(splits):
        missing = segmenter_path(run_dir, next(s for s in splits if s not in present))
        raise ValueError(f"{missing}: missing (the run's entropy segmenter)")
    out = {s: load_entropy_segmenter(segmenter_path(run_dir, s)) for s in splits}
    for split, segmenter in out.items():
        if not knobs_match(segmenter, getattr(config, f"segment_{split}")):
            raise ValueError(
                f"{segmenter_path(run_dir, split)} was fitted with other entropy "
                f"knobs than the config's segment_{split}"
            )
    return out


def knobs_match(segmenter: EntropySegmenter, seg_config) -> bool:
    return (
        segmenter.model.order,
        segmenter.rule,
        segmenter.target_length,
        segmenter.model.smoothing,
    ) == (
        seg_config.entropy_order,
        seg_config.entropy_rule,
        seg_config.entropy_length,
        seg_config.entropy_smoothing,
    )
