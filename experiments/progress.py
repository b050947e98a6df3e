"""Progress of many runs on a terminal: runs done / total, time left, the current runs' steps.

``bipe demo``, ``bipe sweep`` and ``bipe study`` train their runs in other processes (``bipe
train --no-progress`` children, submitit jobs) or inline without a bar of their own, so the
honest common channel is each run's ``metrics.jsonl``: :class:`SweepProgress` polls the last
logged step of every unfinished run about once a second and draws one tqdm bar over the training
steps of all runs::

    runs 3/8:  41%|████      | 1640/4000 [01:05<01:34, 25.1step/s] pe-rope 120/500, pe-alibi 40/500

The time left is tqdm's estimate from the step rate seen so far (evaluation after training is not
counted, so it is an underestimate when evaluation is long). Steps move in ``train.log_every``
increments.

When the stream is not a terminal (a log, a pipe, CI) no bar is drawn; plain lines are printed
instead, so a log shows that work goes on: one per finished run and a heartbeat at least every
``heartbeat_s`` seconds (30 by default). Their time left is the rate since the fewest steps
seen: a resumed run first drops the steps it logged after its last checkpoint, and counting
the rate from the sweep's start would take that re-done work for slowness::

    [bipe] runs 3/8 done (pe-rope__init_seed-2 done), steps 1640/4000, 2m05s elapsed, ~3m01s left

:class:`StepLines` does the same for the steps of one run (``bipe train`` into a log).
"""

from __future__ import annotations

import math
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from bipe.experiments.rundir import read_metrics

__all__ = ["StepLines", "SweepProgress", "format_seconds"]


def format_seconds(seconds: float) -> str:
    """``75.2`` -> ``1m15s``; ``3725`` -> ``1h02m05s``."""
    s = max(0, int(round(seconds)))
    h, m, s = s // 3600, s % 3600 // 60, s % 60
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s"


def _eta(done: int, total: int, start_done: int, elapsed: float) -> str:
    """Time left from the rate since ``start_done`` steps, ``elapsed`` seconds ago."""
    rate = (done - start_done) / elapsed if elapsed > 0 else 0.0
    return f"~{format_seconds((total - done) / rate)} left" if rate > 0 else "time left unknown"


def rate_origin(origin: tuple[int, float], steps: int, now: float) -> tuple[int, float]:
    """The (steps, time) the rate counts from: ``origin``, or (``steps``, ``now``) when fewer
    steps are logged than at the origin (a resumed run dropped steps past its checkpoint)."""
    return (steps, now) if steps < origin[0] else origin


class StepLines:
    """Plain progress lines for one run's training steps (for streams that are not terminals):
    ``[bipe] NAME step 120/400, loss 1.234, 0m45s elapsed, ~1m45s left``, at most one line per
    ``interval_s`` seconds, and always the last step. ``enabled=False`` prints nothing."""

    def __init__(
        self,
        name: str,
        total: int,
        start: int = 0,
        *,
        stream: IO[str] | None = None,
        enabled: bool = True,
        interval_s: float = 20.0,
    ) -> None:
        self.name, self.total, self.start = name, total, start
        self.stream = sys.stderr if stream is None else stream
        self.enabled, self.interval_s = enabled, interval_s
        self._t0 = time.perf_counter()
        self._last = -math.inf

    def update(self, step: int, loss: float) -> None:
        """Report ``step`` (a line when due or at the last step)."""
        now = time.perf_counter()
        if not self.enabled or (now - self._last < self.interval_s and step < self.total):
            return
        self._last, elapsed = now, now - self._t0
        eta = _eta(step, self.total, self.start, elapsed)
        print(
            f"[bipe] {self.name} step {step}/{self.total}, loss {loss:.3f}, "
            f"{format_seconds(elapsed)} elapsed, {eta}",
            file=self.stream,
            flush=True,
        )


class SweepProgress:
    """A terminal progress bar over ``runs``: ``(name, run folder, training steps)`` triples.

    Use as a context manager; call :meth:`finished` when a run ends. ``stream`` defaults to
    stderr; the bar is drawn when ``stream.isatty()``, plain lines otherwise (a line per
    finished run and a heartbeat every ``heartbeat_s``); ``enabled=False`` shows nothing.
    """

    def __init__(
        self,
        runs: Sequence[tuple[str, Path, int]],
        *,
        done: Sequence[str] = (),
        stream: IO[str] | None = None,
        enabled: bool = True,
        interval_s: float = 1.0,
        heartbeat_s: float = 30.0,
    ) -> None:
        self.runs = list(runs)
        self.stream = sys.stderr if stream is None else stream
        is_terminal = bool(getattr(self.stream, "isatty", lambda: False)())
        self.enabled = enabled and is_terminal
        self.plain = enabled and not is_terminal and bool(self.runs)
        self.interval_s, self.heartbeat_s = interval_s, heartbeat_s
        self._done = set(done)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._bar = None

    def __enter__(self) -> SweepProgress:
        if self.plain:
            self._t0 = time.perf_counter()
            self._origin = (self._steps_done()[0], self._t0)
            self._thread = threading.Thread(target=self._beat, daemon=True)
            self._thread.start()
            return self
        if not self.enabled:
            return self
        from tqdm.auto import tqdm

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
        if self.plain:
            self._line(f"{name} ended")
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

    def _line(self, event: str = "") -> None:
        """One plain progress line (runs done, steps, elapsed, time left)."""
        with self._lock:
            steps, current = self._steps_done()
            n_done = len(self._done & {name for name, _, _ in self.runs})
        total = sum(s for _, _, s in self.runs)
        now = time.perf_counter()
        elapsed = now - self._t0
        self._origin = rate_origin(self._origin, steps, now)
        running = ", ".join(f"{name} {step}/{n}" for name, step, n in current if step)[:120]
        print(
            f"[bipe] runs {n_done}/{len(self.runs)} done"
            + (f" ({event})" if event else "")
            + f", steps {steps}/{total}, {format_seconds(elapsed)} elapsed, "
            + _eta(steps, total, self._origin[0], now - self._origin[1])
            + (f"; running: {running}" if running and not event else ""),
            file=self.stream,
            flush=True,
        )

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            self._line()

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
