"""`bipe demo --quick`: the whole pipeline in seconds (table, conclusion, report, plot), both
demo tasks; the conclusion's wording; plain progress lines when stderr is not a terminal."""

import re
import subprocess
import sys
import time

from bipe.experiments.cli import main
from bipe.experiments.demo import DEMOS, conclusions, demo_configs


def test_text_demo_pairs_bipe_with_its_flat_form_over_seeds_beyond_training():
    configs = demo_configs("text")
    assert {c.model.pe for c in configs} == {"bipe_rope", "rope"}
    seeds = sorted(c.init_seed for c in configs if c.model.pe == "rope")
    assert seeds == list(range(DEMOS["text"].seeds)) and len(seeds) >= 4
    assert len({c.out for c in configs}) == len(configs)
    assert len({c.data_seed for c in configs}) == 1  # same data: the pairing is by init seed
    for c in configs:  # pinned: float32, one thread; evaluated to 8x the training context
        assert c.model.compute_dtype == "float32" and c.train.n_threads == 1
        assert max(c.data.eval_lengths) >= 8 * c.data.context


def test_binfa_demo_keeps_study_one_setup():
    configs = demo_configs("binfa")
    assert {c.model.pe for c in configs} == {"bipe_alibi", "bipe_rope"}
    for c in configs:  # evaluated to 3x the training range's top
        assert max(c.data.eval_lengths) >= 3 * int(c.data.segments.split(":")[2])


def _result(values):
    return {
        "train_range": [1, 2],
        "per_length": [{"length": x, "n": 5, "m": v} for x, v in zip((1, 4), values, strict=True)],
    }


class _Config:  # the three fields conclusions() reads
    def __init__(self, pe, seed):
        self.model, self.init_seed, self.out = type("M", (), {"pe": pe}), seed, f"{pe}{seed}"


_CONFIGS = [_Config(pe, s) for pe in ("x", "y") for s in range(4)]


def test_conclusion_states_a_difference_only_when_the_interval_excludes_zero():
    clear = {
        **{f"x{s}": _result([1, 0.9 + s / 100]) for s in range(4)},
        **{f"y{s}": _result([1, 0.5 - s / 100]) for s in range(4)},
    }
    said = conclusions(_CONFIGS, clear, ("x", "y"), "m")[0]
    assert "x higher than y (4 seeds): x extrapolates better" in said
    noisy = {
        **{f"x{s}": _result([1, 0.5 + (-1) ** s * 0.2]) for s in range(4)},
        **{f"y{s}": _result([1, 0.5]) for s in range(4)},
    }
    said = conclusions(_CONFIGS, noisy, ("x", "y"), "m")[0]
    assert "no difference" in said and "better" not in said.split(";")[1]


def test_conclusion_reads_lower_is_better_metrics_the_right_way_round():
    results = {
        **{f"x{s}": _result([2, 2.0 + s / 100]) for s in range(4)},
        **{f"y{s}": _result([2, 3.0 - s / 100]) for s in range(4)},
    }
    said = conclusions(_CONFIGS, results, ("x", "y"), "m", higher_is_better=False)[0]
    assert "(lower is better)" in said and "x lower than y" in said
    assert said.endswith("x extrapolates better.")


def test_quick_demo_prints_table_and_conclusion_and_writes_a_report(tmp_path, capsys):
    task, pair = "text", ("bipe_rope", "rope")
    out = tmp_path / "demo"
    args = ["demo", "--task", task, "--quick", "--out", str(out), "--jobs", "1", "--seeds", "3"]
    assert main(args) == 0
    text = (out / "report.md").read_text()
    assert DEMOS[task].task in text and pair[0] in text
    assert any(DEMOS[task].metric in p.name for p in out.glob("*.png"))
    printed = capsys.readouterr().out
    assert str(out / "report.md") in printed
    for pe in pair:
        assert re.search(rf"\| {pe} \| 3 \| ", printed)
    assert f"Conclusion: {pair[0]} - {pair[1]}" in printed
    assert "inside / beyond the training range" in printed


def test_demo_refuses_bad_arguments(tmp_path):
    out = str(tmp_path / "demo")
    assert main(["demo", "--quick", "--out", out, "--pe", "rope"]) == 2
    assert main(["demo", "--quick", "--out", out, "--seeds", "0"]) == 2
    assert main(["demo", "--task", "nope", "--out", out]) == 2


def test_binfa_demo_through_a_pipe_prints_progress_lines_before_the_end(tmp_path):
    """``bipe demo --task binfa --quick`` with stdout and stderr a pipe (as `bipe demo 2>&1 |
    tee log`): plain progress lines appear while the runs train, not only at the end."""
    code = (
        "import sys; from bipe.experiments.cli import main; "
        f"sys.exit(main(['demo', '--task', 'binfa', '--quick', '--out', {str(tmp_path)!r}, "
        "'--jobs', '1', '--seeds', '3']))"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    arrivals = []
    start = time.perf_counter()
    for line in proc.stdout:
        arrivals.append((time.perf_counter() - start, line.rstrip()))
    assert proc.wait(timeout=300) == 0
    ended = [
        (t, line) for t, line in arrivals if line.startswith("[bipe] runs ") and "ended" in line
    ]
    assert [line.split(" done")[0] for _, line in ended] == [
        f"[bipe] runs {i}/6" for i in range(1, 7)
    ]  # one line per finished run, with the count
    table_at = next(t for t, line in arrivals if line.startswith("| encoding |"))
    assert ended[0][0] < table_at  # streamed while working, not buffered to the end
    printed = "\n".join(line for _, line in arrivals)
    assert re.search(r"\| bipe_alibi \| 3 \| ", printed)
    assert "Conclusion: bipe_alibi - bipe_rope" in printed
