"""Progress from the runs' metrics.jsonl: a bar on a terminal, plain lines in a log or pipe."""

import io
import json
import time

from bipe.experiments.progress import StepLines, SweepProgress, format_seconds


class FakeTty(io.StringIO):
    def isatty(self):
        return True


def _runs(tmp_path, steps):
    runs = []
    for name, logged in steps.items():
        run = tmp_path / name
        run.mkdir()
        (run / "metrics.jsonl").write_text(
            "".join(json.dumps({"step": s, "loss": 1.0}) + "\n" for s in logged)
        )
        runs.append((name, run, 8))
    return runs


def test_bar_shows_runs_done_steps_and_current_runs_on_a_terminal(tmp_path):
    runs = _runs(tmp_path, {"pe-rope": [2, 4, 6, 8], "pe-alibi": [2, 4], "pe-nope": []})
    stream = FakeTty()
    with SweepProgress(runs, done=["pe-rope"], stream=stream, interval_s=3600) as bar:
        bar.refresh()
        assert "runs 1/3" in stream.getvalue() and "12/24" in stream.getvalue()
        assert "pe-alibi 4/8" in stream.getvalue() and "pe-nope" not in stream.getvalue()
        bar.finished("pe-alibi")
        assert "runs 2/3" in stream.getvalue() and "16/24" in stream.getvalue()


def test_plain_lines_when_not_a_terminal_and_silent_when_disabled(tmp_path):
    runs = _runs(tmp_path, {"a": [2], "b": [2]})
    stream = io.StringIO()
    with SweepProgress(runs, stream=stream, interval_s=0.001, heartbeat_s=3600) as bar:
        bar.refresh()
        bar.finished("a")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1 and "\r" not in stream.getvalue()  # no bar, one line per finished run
    assert lines[0].startswith("[bipe] runs 1/2 done (a ended), steps ")
    assert "elapsed" in lines[0] and "left" in lines[0]
    with SweepProgress(runs, stream=io.StringIO(), enabled=False) as bar:
        bar.finished("a")
        assert bar.stream.getvalue() == ""
    with SweepProgress(runs, stream=FakeTty(), enabled=False) as bar:
        bar.finished("a")
        assert bar.stream.getvalue() == ""


def test_a_heartbeat_line_while_runs_go_on(tmp_path):
    runs = _runs(tmp_path, {"a": [2, 4]})
    stream = io.StringIO()
    with SweepProgress(runs, stream=stream, heartbeat_s=0.05):
        deadline = time.perf_counter() + 10
        while "running: a" not in stream.getvalue() and time.perf_counter() < deadline:
            time.sleep(0.02)
    assert "[bipe] runs 0/1 done, steps " in stream.getvalue()
    assert "running: a" in stream.getvalue()


def test_step_lines_are_throttled_and_end_with_the_last_step():
    stream = io.StringIO()
    lines = StepLines("run", 10, stream=stream, interval_s=3600)
    for step in range(1, 11):
        lines.update(step, 1.0 / step)
    out = stream.getvalue().splitlines()
    assert len(out) == 2  # the first step, then the last (the rest fall inside the interval)
    assert out[0].startswith("[bipe] run step 1/10, loss 1.000, ")
    assert out[1].startswith("[bipe] run step 10/10, loss 0.100, ")
    assert format_seconds(3725) == "1h02m05s" and format_seconds(75.2) == "1m15s"


def test_a_torn_or_corrupt_metrics_file_counts_as_no_progress(tmp_path):
    run = tmp_path / "r"
    run.mkdir()
    (run / "metrics.jsonl").write_text('not json\n{"step": 4}\n')
    stream = FakeTty()
    with SweepProgress([("r", run, 8)], stream=stream, interval_s=3600) as bar:
        bar.refresh()
    assert "0/8" in stream.getvalue()


def test_time_left_counts_from_the_fewest_steps_seen():
    """A resumed run drops the steps logged after its checkpoint; the rate then counts from
    there, not from the sweep's start."""
    from bipe.experiments.progress import _eta, rate_origin

    origin = (700, 0.0)  # steps logged when the sweep started
    origin = rate_origin(origin, 500, 10.0)  # resumed: back to its checkpoint at step 500
    assert origin == (500, 10.0)
    assert rate_origin(origin, 600, 20.0) == origin  # progress keeps the origin
    assert _eta(600, 1600, origin[0], 20.0 - origin[1]) == "~1m40s left"  # 10 steps/s
    assert _eta(600, 1600, 700, 20.0) == "time left unknown"  # from the start: no progress
