"""Progress of many runs on a terminal: runs done / total, time left, the current runs' steps.

``bipe demo``, ``bipe sweep`` and ``bipe study`` train their runs in other processes (``bipe
train --no-progress`` children, submitit jobs) or inline without a bar of their own, so the
honest common channel is each run's ``metrics.jsonl``: :class:`SweepProgress` polls the last
logged step of every unfinished run about once a second and draws one tqdm bar over the training
steps of all runs::

    runs 3/8:  41%|████      | 1640/4000 [01:05<01:34, 25.1step/s] pe-rope 120/500, pe-alibi 40/500

The time left is tqdm's estimate from the step rate seen so far (evaluation after training is not
counted, so it is an underestimate when evaluation is long). Steps move in ``train.log_every``
increments. Nothing is drawn when the stream is not a terminal (logs, pipes, CI).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from bipe.experiments.rundir import read_metrics

__all__ = ["SweepProgress"]


class SweepProgress:
    """A terminal progress bar over ``runs``: ``(name, run folder, training steps)`` triples.

    Use as a context manager; call :meth:`finished` when a run ends. ``stream`` defaults to
    stderr; the bar is drawn only when ``stream.isatty()`` (and ``enabled`` is not False).
    """

    def __init__(
        self,
        runs: Sequence[tuple[str, Path, int]],
        *,
        done: Sequence[str] = (),
        stream: IO[str] | None = None,
        enabled: bool = True,
        interval_s: float = 1.0,
    ) -> None:
        self.runs = list(runs)
        self.stream = sys.stderr if stream is None else stream
        self.enabled = enabled and bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval_s = interval_s
        self._done = set(done)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._bar = None

    def __enter__(self) -> SweepProgress:
        if not self.enabled:
            return self
        from tqdm.auto import tqdm  # noqa: PLC0415

        total = sum(steps for _, _, steps in self.runs)
        self._bar = tqdm(
            total=total,
            initial=self._steps_done()[0],
            file=self.stream,
            unit="step",
            dynamic_ncols=True,
            desc=self._desc(),
        )
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._bar is not None:
            self.refresh()
            self._bar.close()

    def finished(self, name: str) -> None:
        """Mark run ``name`` as ended (done or failed): its steps count in full."""
        with self._lock:
            self._done.add(name)
        self.refresh()

    def refresh(self) -> None:
        """Read the current runs' steps and redraw (a no-op when not drawing)."""
        if self._bar is None:
            return
        with self._lock:
            n, current = self._steps_done()
            self._bar.set_description_str(self._desc(), refresh=False)
            shown = [f"{name} {step}/{steps}" for name, step, steps in current if step][:3]
            more = sum(1 for _, step, _ in current if step) - len(shown)
            self._bar.set_postfix_str(
                ", ".join(shown) + (f" +{more} more" if more > 0 else ""), refresh=False
            )
            self._bar.n = n
            self._bar.refresh()

    def _desc(self) -> str:
        return f"runs {len(self._done & {name for name, _, _ in self.runs})}/{len(self.runs)}"

    def _steps_done(self) -> tuple[int, list[tuple[str, int, int]]]:
        total, current = 0, []
        for name, run_dir, steps in self.runs:
            if name in self._done:
                total += steps
                continue
            step = _last_step(run_dir, steps)
            total += step
            current.append((name, step, steps))
        return total, current

    def _poll(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.refresh()


def _last_step(run_dir: Path, steps: int) -> int:
    """The last logged step of a run folder (0 when it has none or it is unreadable)."""
    try:
        rows = read_metrics(run_dir)
    except (ValueError, OSError):
        return 0
    return min(steps, int(rows[-1].get("step", 0))) if rows else 0
