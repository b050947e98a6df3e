"""docs/results.md builder: study specs, paired verdicts, the t interval."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import sympy
from sympy.stats import StudentT, cdf

from bipe.analysis.results import load_study, write_results
from bipe.analysis.stats import _T975, Interval, t_interval, verdict


def test_t_table_matches_the_student_t_distribution():
    for df in (1, 2, 5, 10, 30):
        p = cdf(StudentT("t", df))(sympy.Float(_T975[df - 1]))
        assert abs(float(p) - 0.975) < 2e-4


def test_t_interval_against_formula_and_degenerate_cases():
    x = np.array([0.1, 0.3, 0.2, 0.5])
    iv = t_interval(x)
    half = 3.182 * x.std(ddof=1) / 2.0
    assert iv.estimate == pytest.approx(0.275)
    assert (iv.lo, iv.hi) == pytest.approx((0.275 - half, 0.275 + half))
    assert np.isinf(t_interval([1.0]).hi)
    with pytest.raises(ValueError):
        t_interval([])


def test_verdict_needs_three_seeds_and_an_interval_off_zero():
    assert "higher" in verdict("a", "b", Interval(estimate=1, lo=0.5, hi=1.5, n=5))
    assert "lower" in verdict("a", "b", Interval(estimate=-1, lo=-1.5, hi=-0.5, n=5))
    assert "no difference" in verdict("a", "b", Interval(estimate=1, lo=-0.1, hi=2, n=5))
    two = verdict("a", "b", Interval(estimate=1, lo=0.5, hi=1.5, n=2))
    assert "too few seeds" in two and "(2 seeds;" in two
    assert "(1 seed;" in verdict("a", "b", Interval(estimate=1, lo=1, hi=1, n=1))
    # every seed's difference exactly zero: the settings gave the same results, said as such
    assert "identical in every seed" in verdict("a", "b", Interval(estimate=0, lo=0, hi=0, n=5))
    assert "no difference" in verdict("a", "b", Interval(estimate=0, lo=-0.1, hi=0.1, n=5))


def _write_run(folder: Path, pe: str, seed: int, values: list[float]) -> None:
    folder.mkdir(parents=True)
    config = {
        "task": "binfa_lm",
        "model": {"pe": pe, "d_model": 8},
        "init_seed": seed,
        "data_seed": 0,
    }
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "metrics.jsonl").write_text(json.dumps({"step": 1, "loss": 1.0}) + "\n")
    rows = [{"length": x, "n": 10, "acc": v} for x, v in zip((2, 4, 8, 12), values, strict=True)]
    (folder / "eval.json").write_text(
        json.dumps(
            {"task": "binfa_lm", "pe": pe, "train_range": [2, 4], "per_length": rows, "summary": {}}
        )
    )


def test_results_state_only_what_the_intervals_support(tmp_path):
    study = tmp_path / "s"
    rng = np.random.default_rng(0)
    for seed in range(5):
        noise = rng.normal(0, 0.01, size=2)
        _write_run(study / f"good{seed}", "good", seed, [1, 1, *(0.8 + noise)])
        _write_run(study / f"base{seed}", "base", seed, [1, 1, *(0.5 + noise[::-1])])
        _write_run(study / f"same{seed}", "same", seed, [1, 1, *(0.5 + rng.normal(0, 0.1, 2))])
    (study / "study.toml").write_text(
        'title = "T"\nquestion = "Q?"\nmetrics = ["acc"]\n'
        'pairs = [["good", "base"], ["same", "base"], ["missing", "base"]]\n'
    )
    out = write_results([study], tmp_path / "docs" / "results.md")
    text = out.read_text()
    assert "good higher than base (5 seeds)" in text
    assert "no difference between same and base detectable at this budget (5 seeds)" in text
    assert "missing" not in text.split("**Conclusion**")[1]
    assert (tmp_path / "docs" / "results" / "s_acc.png").stat().st_size > 0
    assert write_results([study], tmp_path / "docs" / "results.md").read_text() == text


def test_per_length_differences_show_the_digits_that_made_them_significant(tmp_path):
    # a small, perfectly consistent gap (-0.002 in every seed) must not print as 0.00 *
    study = tmp_path / "s"
    for seed in range(3):
        _write_run(study / f"a{seed}", "a", seed, [1, 0.998 + seed * 1e-4, 0.5, 0.5])
        _write_run(study / f"b{seed}", "b", seed, [1, 1 + seed * 1e-4, 0.5, 0.5])
    (study / "study.toml").write_text(
        'title = "T"\nquestion = "Q?"\nmetrics = ["acc"]\npairs = [["a", "b"]]\n'
    )
    text = write_results([study], tmp_path / "results.md").read_text()
    row = next(line for line in text.splitlines() if line.startswith("| a - b | 0.000"))
    assert "| -0.002 [-0.002, -0.002] * |" in row


def test_study_spec_errors(tmp_path):
    with pytest.raises(OSError, match="no study.toml"):
        load_study(tmp_path)
    (tmp_path / "study.toml").write_text('title = "T"\nquestion = "Q"\nmetrics = ["a"]\nx = 1\n')
    with pytest.raises(ValueError, match="unknown keys"):
        load_study(tmp_path)
    (tmp_path / "study.toml").write_text('title = "T"\n')
    with pytest.raises(ValueError, match="missing"):
        load_study(tmp_path)


def test_setup_shows_the_first_grid_and_only_what_the_others_change(tmp_path):
    from bipe.analysis.results import _setup_text

    body = (
        '# comment\npreset = "demo"\n[set]\n"train.steps" = "10"\n"segment_train.method" = "{m}"\n'
    )
    paths = []
    for name, method in (("a.toml", "fixed:2"), ("b.toml", "fixed:4"), ("c.toml", "fixed:2")):
        paths.append(tmp_path / name)
        paths[-1].write_text(body.format(m=method))
    text = _setup_text(paths)
    assert text.count('"train.steps" = "10"') == 1  # shared lines once
    assert '-"segment_train.method" = "fixed:2"' in text
    assert '+"segment_train.method" = "fixed:4"' in text
    assert "c.toml" not in text  # identical to the first: nothing to show
    assert "```diff" not in _setup_text(paths[:1])


def _write_passkey_run(folder: Path, pe: str, seed: int, acc: float) -> None:
    folder.mkdir(parents=True)
    config = {"task": "passkey", "model": {"pe": pe}, "init_seed": seed, "data_seed": 0}
    (folder / "config.json").write_text(json.dumps(config))
    rows = [
        {
            "length": n,
            "n": 4,
            "accuracy": acc,
            "by_depth": [{"depth": d, "n": 2, "accuracy": acc * d / n * 64} for d in (0.0, 1.0)],
        }
        for n in (64, 128)
    ]
    (folder / "eval.json").write_text(
        json.dumps(
            {
                "task": "passkey",
                "pe": pe,
                "train_range": [16, 64],
                "per_length": rows,
                "summary": {},
            }
        )
    )


def test_passkey_studies_get_a_depth_heatmap_averaged_over_seeds(tmp_path, monkeypatch):
    import bipe.analysis.report as report

    drawn = {}
    real = report.plot_heatmaps
    monkeypatch.setattr(
        report,
        "plot_heatmaps",
        lambda path, panels, **kw: (drawn.update(panels), real(path, panels, **kw))[1],
    )
    study = tmp_path / "pk"
    for seed, acc in enumerate((0.2, 0.6)):
        _write_passkey_run(study / f"rope{seed}", "rope", seed, acc)
        _write_passkey_run(study / f"bipe{seed}", "bipe_rope", seed, acc / 2)
    (study / "study.toml").write_text(
        'title = "P"\nquestion = "Q?"\nmetrics = ["accuracy"]\npairs = [["bipe_rope", "rope"]]\n'
    )
    text = write_results([study], tmp_path / "r.md").read_text()
    assert "(r/pk_accuracy_by_depth.png)" in text
    assert (tmp_path / "r" / "pk_accuracy_by_depth.png").stat().st_size > 0
    # rows: depths 0, 1; columns: lengths 64, 128; mean of acc over the two seeds (0.4)
    np.testing.assert_allclose(drawn["rope"], [[0.0, 0.0], [0.4, 0.2]])
    np.testing.assert_allclose(drawn["bipe_rope"], [[0.0, 0.0], [0.2, 0.1]])


def test_studies_without_depths_get_no_heatmap(tmp_path):
    study = tmp_path / "s"
    _write_run(study / "a0", "a", 0, [1, 1, 0.5, 0.5])
    (study / "study.toml").write_text('title = "T"\nquestion = "Q?"\nmetrics = ["acc"]\n')
    text = write_results([study], tmp_path / "r.md").read_text()
    assert "Accuracy by depth" not in text
    assert not (tmp_path / "r" / "s_accuracy_by_depth.png").exists()


def test_results_name_the_studies_whose_runs_predate_the_current_numerics(tmp_path):
    from bipe.provenance import NUMERICS

    for name in ("new", "old"):
        for seed in range(2):
            _write_run(tmp_path / name / f"r{seed}", "a", seed, [1, 1, 0.5, 0.5])
        (tmp_path / name / "study.toml").write_text(
            f'title = "Study {name}: T"\nquestion = "Q?"\nmetrics = ["acc"]\n'
        )
    for seed in range(2):  # every run of "new" records today's numerics; "old" only one of two
        for name, numerics in (("new", NUMERICS), ("old", NUMERICS - seed)):
            path = tmp_path / name / f"r{seed}" / "config.json"
            path.write_text(
                json.dumps({**json.loads(path.read_text()), "code": {"numerics": numerics}})
            )
    text = write_results([tmp_path / "new", tmp_path / "old"], tmp_path / "r.md").read_text()
    line = next(x for x in text.splitlines() if x.startswith("**Training numerics.**"))
    assert f"Study old (1 of 2 runs; numerics {NUMERICS - 1})" in line
    assert "Study new" not in line
    text = write_results([tmp_path / "new"], tmp_path / "r.md").read_text()
    assert f"under the current training numerics (version {NUMERICS})" in text


def test_average_pools_the_runs_of_a_variant_and_seed_before_pairing(tmp_path):
    from bipe.analysis.studies import load_study, study_runs

    study = tmp_path / "s"
    for seed in range(3):
        for task, (hi, lo) in {"t1": (0.9, 0.5), "t2": (0.7, 0.7)}.items():
            for pe, value in (("good", hi), ("base", lo)):
                _write_run(study / f"{task}{pe}{seed}", pe, seed, [1, 1, value, value + seed / 100])
                config = json.loads((study / f"{task}{pe}{seed}" / "config.json").read_text())
                config["task"] = task
                (study / f"{task}{pe}{seed}" / "config.json").write_text(json.dumps(config))
    (study / "study.toml").write_text(
        'title = "T"\nquestion = "Q?"\nmetrics = ["acc"]\naverage = ["task"]\n'
        'pairs = [["good", "base"]]\n'
    )
    runs = study_runs(load_study(study))
    assert set(runs) == {"good", "base"} and all(len(v) == 3 for v in runs.values())
    rows = runs["good"][("0", "1")].evaluation["per_length"]
    assert [r["acc"] for r in rows] == pytest.approx([1, 1, 0.8, 0.81])  # mean of 0.9 and 0.7
    assert rows[2]["n"] == 20
    text = write_results([study], tmp_path / "docs" / "results.md").read_text()
    assert "good higher than base (3 seeds)" in text  # +0.2 on average over the two tasks
