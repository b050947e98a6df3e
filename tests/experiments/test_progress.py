"""The sweep progress bar: drawn on a terminal only, from the runs' metrics.jsonl."""

import io
import json

from bipe.experiments.progress import SweepProgress


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


def test_silent_when_not_a_terminal(tmp_path):
    runs = _runs(tmp_path, {"a": [2]})
    stream = io.StringIO()
    with SweepProgress(runs, stream=stream, interval_s=0.001) as bar:
        bar.refresh()
        bar.finished("a")
    assert stream.getvalue() == ""
    with SweepProgress(runs, stream=FakeTty(), enabled=False) as bar:
        bar.finished("a")
        assert bar.stream.getvalue() == ""


def test_a_torn_or_corrupt_metrics_file_counts_as_no_progress(tmp_path):
    run = tmp_path / "r"
    run.mkdir()
    (run / "metrics.jsonl").write_text('not json\n{"step": 4}\n')
    stream = FakeTty()
    with SweepProgress([("r", run, 8)], stream=stream, interval_s=3600) as bar:
        bar.refresh()
    assert "0/8" in stream.getvalue()
