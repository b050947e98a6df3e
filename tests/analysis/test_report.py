"""The report builds from tiny fake run folders and shows the expected figures and numbers."""

import itertools
import json
import sys

import numpy as np
import pytest

from bipe.analysis.report import write_report
from bipe.analysis.runs import find_run_dirs, load_run

ACC = {  # (pe, seed) -> accuracy per length 2..6; training range 2..4
    ("rope", 0): [1.0, 0.9, 0.8, 0.2, 0.1],
    ("rope", 1): [1.0, 0.9, 0.8, 0.3, 0.1],
    ("bipe_rope", 0): [1.0, 1.0, 0.9, 0.7, 0.5],
    ("bipe_rope", 1): [1.0, 1.0, 0.9, 0.8, 0.6],
}


def make_run(root, pe, seed, acc, width=32, task="arith", data=None):
    run = root / (f"{task}-{pe}-d{width}-s{seed}" + (f"-n{data}" if data else ""))
    run.mkdir(parents=True)
    config = {
        "task": task,
        "data_seed": 0,
        "init_seed": seed,
        "model": {"d_model": width, "n_layers": 1, "n_heads": 2, "pe": pe},
        "data": {"inner_states": data or 3},
        "command": ["bipe", str(seed)],
    }
    (run / "config.json").write_text(json.dumps(config))
    metrics = [
        {"step": s, "loss": 2.0 / (1 + s), "lr": 1e-3, "tokens/s": 1000.0} for s in range(0, 50, 10)
    ]
    (run / "metrics.jsonl").write_text("\n".join(json.dumps(m) for m in metrics) + "\n")
    per_length = [
        {"length": n, "n": 100, "accuracy": a} for n, a in zip(range(2, 7), acc, strict=True)
    ]
    ev = {
        "task": task,
        "pe": pe,
        "train_range": [2, 4],
        "per_length": per_length,
        "summary": {
            "in_distribution": {"accuracy": sum(acc[:3]) / 3},
            "above_train": {"accuracy": sum(acc[3:]) / 2},
        },
    }
    (run / "eval.json").write_text(json.dumps(ev))
    return run


@pytest.fixture
def sweep(tmp_path):
    root = tmp_path / "sweep"
    for (pe, seed), acc in ACC.items():
        make_run(root, pe, seed, acc)
    return root


def test_report_contains_figures_numbers_and_same_content_in_html(sweep, tmp_path):
    out = tmp_path / "report"
    md_path = write_report([sweep], out, title="Tiny report")
    md = md_path.read_text()
    html = (out / "report.html").read_text()
    assert md_path == out / "report.md"
    for png in ("arith_accuracy_vs_length.png", "arith_training_loss.png"):
        assert (out / png).stat().st_size > 1000
        assert f"]({png})" in md and f'src="{png}"' in html
    # Above-train mean accuracy: rope (0.2+0.1+0.3+0.1)/4 = 0.175, bipe_rope 0.65.
    assert "0.175" in md and "0.650" in md and "0.175" in html
    # Paired difference bipe_rope - rope above train: seeds (0.6-0.15, 0.7-0.2) -> 0.475.
    assert "bipe_rope - rope" in md and "0.475" in md
    assert "Training range: lengths 2 to 4" in md
    assert md.count("|") > 20 and html.count("<table>") == md.count("\n| ---")


def test_report_is_deterministic(sweep, tmp_path):
    a = write_report([sweep], tmp_path / "a").read_text()
    b = write_report([sweep], tmp_path / "b").read_text()
    assert a == b


def test_a_run_added_to_one_task_leaves_the_other_tasks_numbers_alone(sweep, tmp_path):
    rng = np.random.default_rng(0)
    for pe, seed in itertools.product(("rope", "bipe_rope"), range(8)):
        acc = [1.0, 0.9, *rng.uniform(0, 1, 3)]  # irregular values: intervals that can move
        make_run(sweep, pe, seed, acc, task="binfa_lm")
    heading = "## Task `binfa_lm`"
    before = write_report([sweep], tmp_path / "a").read_text()
    make_run(sweep, "alibi", 0, [1.0, 0.8, 0.7, 0.1, 0.0])  # arith comes first
    make_run(sweep, "alibi", 1, [1.0, 0.9, 0.6, 0.2, 0.1])
    after = write_report([sweep], tmp_path / "b").read_text()
    assert "alibi" in after.split(heading)[0] and "[" in before.split(heading)[1]
    assert before.split(heading)[1] == after.split(heading)[1]


def test_width_curves_appear_when_widths_vary(tmp_path):
    root = tmp_path / "widths"
    for w, base in [(16, 0.3), (32, 0.6), (64, 0.9)]:
        for seed in (0, 1):
            make_run(root, "rope", seed, [base] * 5, width=w)
    out = tmp_path / "r"
    md = write_report([root], out).read_text()
    assert "arith_accuracy_vs_width_above_train.png" in md
    assert (out / "arith_accuracy_vs_width_in_distribution.png").is_file()
    assert "rope d=16" in md and "rope d=64" in md


def test_runs_without_eval_and_truncated_metrics_are_tolerated(tmp_path):
    run = make_run(tmp_path, "rope", 0, [1.0] * 5)
    (run / "eval.json").unlink()
    with open(run / "metrics.jsonl", "a") as f:
        f.write('{"step": 60, "lo')  # a run killed mid-write
    loaded = load_run(run)
    assert len(loaded.metrics) == 5 and loaded.evaluation is None
    md = write_report([run], tmp_path / "out").read_text()
    assert "| no |" in md


def test_bad_folders_are_value_errors(tmp_path):
    with pytest.raises(ValueError, match="no config.json"):
        find_run_dirs([tmp_path])
    with pytest.raises(OSError, match="no such"):
        find_run_dirs([tmp_path / "missing"])
    run = make_run(tmp_path, "rope", 0, [1.0] * 5)
    (run / "eval.json").write_text("{not json")
    with pytest.raises(ValueError, match="eval.json"):
        load_run(run)


def test_cli_report_writes_files_and_reports_errors_in_one_line(sweep, tmp_path, bipe_cli):
    out = tmp_path / "cli"
    proc = bipe_cli(
        [sys.executable, "-m", "bipe", "report", str(sweep), "--out", str(out)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert (out / "report.md").is_file() and str(out / "report.md") in proc.stdout
    bad = bipe_cli(
        [sys.executable, "-m", "bipe", "report", str(tmp_path / "nope"), "--out", str(out)],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1


def test_report_with_attention_diagnostics(sweep, tmp_path):
    import torch

    from bipe.models import ModelConfig, Transformer, save
    from bipe.synthetic.dataset import write_dataset

    for run in sorted(sweep.iterdir())[:3]:  # the fourth run has no model: skipped
        pe = load_run(run).pe
        torch.manual_seed(0)
        save(Transformer(ModelConfig(12, 16, 1, 2, pe=pe, separators=(11,))), run / "model.pt")
    records = [{"tokens": [1, 2, 11, 3, 4, 11, 5]}, {"tokens": [6, 11, 7, 8, 9, 10, 11, 2]}]
    write_dataset(tmp_path / "ds", records, {"generator": "test"})
    out = tmp_path / "att"
    md = write_report([sweep], out, attention_data=tmp_path / "ds").read_text()
    assert "## Attention diagnostics" in md and "Skipped: arith-rope-d32-s1" in md
    assert "| bipe_rope | 2 |" in md and "| rope | 1 |" in md
    assert (out / "attention_segment_distance.png").stat().st_size > 1000
    assert 'src="attention_intra_distance.png"' in (out / "report.html").read_text()


def test_runs_differing_in_data_config_are_conditions_not_replicates(tmp_path):
    root = tmp_path / "grid"
    for n, base in [(2, 0.9), (5, 0.4)]:
        for seed in (0, 1):
            make_run(root, "rope", seed, [base] * 5, data=n)
            make_run(root, "bipe_rope", seed, [base + 0.05] * 5, data=n)
    md = write_report([root], tmp_path / "out").read_text()
    assert "| rope inner_states=2 | 2 | 0.900" in md and "| rope inner_states=5 | 2 | 0.400" in md
    assert "| bipe_rope - rope | d=32 inner_states=5 | accuracy | above train | 2 | 0.050" in md
