"""TensorBoard event files beside ``metrics.jsonl`` (docs/guide.md#tensorboard-logging).

Every run writes ``RUN/tensorboard/events.out.tfevents.*`` when the optional ``tensorboard``
package is installed (``pip install "bipe-workbench[tensorboard]"``): the training scalars of
``metrics.jsonl`` (``train/loss``, ``train/lr``, ``train/tokens_per_s`` at each logged step) and,
after evaluation, one curve per metric against length (``eval/<metric>`` with the length as the
step) plus the summaries (``eval_summary/<setting>/<metric>`` at the final step), these two in
``RUN/tensorboard/eval`` so that a resumed run's purge never reaches them.
``tensorboard --logdir SWEEP`` then shows every run of a sweep. ``metrics.jsonl`` and
``eval.json`` stay the source of truth; the event files are a view, written offline.

Without the package runs train as before and say once per process that TensorBoard logging is
off; ``BIPE_TENSORBOARD=0`` in the environment turns it off without a word. On resume, events
from the step of the checkpoint on are purged, so the curves match ``metrics.jsonl``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

__all__ = ["TrainLog", "log_eval", "open_log"]

SUBDIR = "tensorboard"
EVAL_SUBDIR = "eval"  # RUN/tensorboard/eval: the evaluation scalars
TRAIN_TAGS = {"loss": "train/loss", "lr": "train/lr", "tokens/s": "train/tokens_per_s"}
_warned = False


def _writer_class():
    """torch's ``SummaryWriter``, or None (saying once why) when logging is off."""
    global _warned
    if os.environ.get("BIPE_TENSORBOARD", "1") == "0":
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        if not _warned:
            print(
                'bipe: TensorBoard logging is off (pip install "bipe-workbench[tensorboard]";'
                " BIPE_TENSORBOARD=0 silences this)",
                file=sys.stderr,
            )
            _warned = True
        return None
    return SummaryWriter


class TrainLog:
    """The training-loop hook: :meth:`log` each ``metrics.jsonl`` row, :meth:`close` at the end.

    A no-op when logging is off (``writer`` is None).
    """

    def __init__(self, writer: Any | None) -> None:
        self.writer = writer

    def log(self, row: dict[str, Any]) -> None:
        if self.writer is None:
            return
        for key, tag in TRAIN_TAGS.items():
            if key in row:
                self.writer.add_scalar(tag, float(row[key]), int(row["step"]))

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def open_log(run_dir: str | Path, step: int = 0) -> TrainLog:
    """A :class:`TrainLog` on ``RUN/tensorboard``; events at steps >= ``step`` (the step a run
    starts or resumes at) left by an earlier attempt are purged."""
    cls = _writer_class()
    if cls is None:
        return TrainLog(None)
    return TrainLog(cls(str(Path(run_dir) / SUBDIR), purge_step=step))


def log_eval(run_dir: str | Path, result: dict[str, Any], step: int) -> None:
    """Write an ``eval.json`` result: per-length curves and the summaries at ``step``."""
    cls = _writer_class()
    if cls is None:
        return
    # its own folder: event files of one folder are read in name order, and a later-named
    # training file's purge marker (a resume) would drop these events
    writer = cls(str(Path(run_dir) / SUBDIR / EVAL_SUBDIR))
    try:
        for row in result.get("per_length", []):
            for key, value in row.items():
                if key not in ("length", "n") and isinstance(value, (int, float)):  # not lists
                    writer.add_scalar(f"eval/{key}", float(value), int(row["length"]))
        for setting, metrics in result.get("summary", {}).items():
            for key, value in metrics.items():
                if value is not None:
                    writer.add_scalar(f"eval_summary/{setting}/{key}", float(value), step)
    finally:
        writer.close()
