"""``bipe study width``: early stopping over the width grid, thresholds and fitted exponents."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from bipe.experiments.width_search import WidthStudy, run_width_study, study_configs

WIDTHS = (8, 16, 24, 32, 48, 64, 96, 128, 192, 256)


def planted_threshold(pe, size):
    """rope needs width ~ 2*size^2, bipe_rope ~ 4*size (snapped up to the grid)."""
    need = 2 * size**2 if pe == "rope" else 4 * size
    return min((w for w in WIDTHS if w >= need), default=10**6)


class FakeRunner:
    """Stands in for run_sweep: writes a run folder whose eval.json carries a planted accuracy."""

    def __init__(self):
        self.calls = []

    def __call__(self, configs, out, *, jobs=1, progress=False):
        rows = []
        for c in configs:
            run = Path(out) / c.out
            run.mkdir(parents=True, exist_ok=True)
            size = c.data.inner_states
            ok = c.model.d_model >= planted_threshold(c.model.pe, size)
            acc = 0.95 if ok else 0.3 + 0.01 * c.init_seed
            data = {
                k: getattr(c.data, k)
                for k in ("n_types", "inner_states", "outer_states", "n_symbols")
            }
            (run / "config.json").write_text(
                json.dumps(
                    {
                        "task": c.task,
                        "init_seed": c.init_seed,
                        "data_seed": 0,
                        "data": data,
                        "model": {"pe": c.model.pe, "d_model": c.model.d_model},
                    }
                )
            )
            (run / "eval.json").write_text(
                json.dumps(
                    {
                        "task": c.task,
                        "pe": c.model.pe,
                        "train_range": [1, 2],
                        "per_length": [],
                        "summary": {
                            "in_distribution": {"accuracy": acc},
                            "above_train": {"accuracy": acc / 2},
                        },
                    }
                )
            )
            self.calls.append((c.model.pe, size, c.model.d_model, c.init_seed))
            rows.append({"name": c.out, "dir": c.out, "status": "done"})
        return rows


def study(**kw):
    base = dict(
        encodings=("rope", "bipe_rope"),
        sizes=(2, 4, 8),
        widths=WIDTHS,
        seeds=(0, 1),
        size_keys=("data.inner_states",),
        target=0.9,
        task="binfa_lm",
    )
    return WidthStudy(**{**base, **kw})


def test_early_stopping_finds_planted_thresholds_and_exponents(tmp_path):
    runner = FakeRunner()
    outcome = run_width_study(study(), tmp_path, runner=runner, n_boot=100)
    for pe in ("rope", "bipe_rope"):
        for size in (2, 4, 8):
            trained = sorted({w for p, s, w, _ in runner.calls if (p, s) == (pe, size)})
            t = planted_threshold(pe, size)
            assert trained == [w for w in WIDTHS if w <= t]  # nothing past the threshold
            assert dict(outcome.fits[pe].points)[size] == t
    # rope: 8, 32, 128 -> exponent 2; bipe_rope: 8, 16, 32 -> exponent 1.
    assert outcome.fits["rope"].exponent.estimate == pytest.approx(2.0)
    assert outcome.fits["bipe_rope"].exponent.estimate == pytest.approx(1.0)
    assert outcome.implied["additive"] < outcome.implied["product"]
    md = outcome.report.read_text()
    assert "| rope | 8 | 32 | 128 | 2.00" in md and "product" in md
    assert (tmp_path / "width_scaling.png").stat().st_size > 1000
    saved = json.loads((tmp_path / "study.json").read_text())
    assert len(saved["results"]) == len(runner.calls)


def test_unreached_cells_are_censored_and_grid_is_exhausted(tmp_path):
    runner = FakeRunner()
    outcome = run_width_study(
        study(encodings=("rope",), sizes=(8, 16), widths=(8, 64, 128)),
        tmp_path,
        runner=runner,
        n_boot=10,
    )
    assert outcome.fits["rope"].censored == (16.0,)  # needs 512
    assert sorted({w for _, s, w, _ in runner.calls if s == 16}) == [8, 64, 128]
    assert ">grid" in outcome.report.read_text()


def test_configs_set_study_keys_and_reject_clashes():
    s = study(size_keys=("data.inner_states", "data.outer_states"), seeds=(3,))
    (c,) = study_configs(s, [("bipe_rope", 5)], 32)
    assert (c.model.pe, c.model.d_model, c.init_seed) == ("bipe_rope", 32, 3)
    assert c.data.inner_states == c.data.outer_states == 5
    assert "inner_states-5" in c.out and "d_model-32" in c.out
    with pytest.raises(ValueError, match="study keys"):
        study(fixed=(("model.d_model", "8"),))
    with pytest.raises(ValueError, match="size_format"):
        study(size_format="uniform:1:2")


@pytest.mark.parametrize("target", ["2", "0", "-0.5", "1.01", "nan"])
def test_cli_out_of_range_target_refused_up_front(tmp_path, capsys, target):
    from bipe.experiments.cli import main

    out = tmp_path / "study"
    code = main(
        [
            "study",
            "width",
            "--pes",
            "rope",
            "--sizes",
            "2",
            "--widths",
            "8",
            "--target",
            target,
            "--out",
            str(out),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "(0, 1]" in err
    assert not out.exists()
    study(target=1.0)  # the bound itself is reachable


@pytest.mark.slow
def test_cli_study_runs_real_tiny_sweep(tmp_path):
    out = tmp_path / "study"
    cmd = [
        sys.executable,
        "-m",
        "bipe",
        "study",
        "width",
        "--preset",
        "tiny",
        "--task",
        "binfa_lm",
        "--pes",
        "rope",
        "--sizes",
        "2,3",
        "--widths",
        "8,16",
        "--target",
        "0.05",
        "--train.steps",
        "4",
        "--data.n_train",
        "64",
        "--data.n_eval",
        "4",
        "--no-progress",
        "--out",
        str(out),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    saved = json.loads((out / "study.json").read_text())
    # Next-token legality is far above 0.05 even untrained: the first width reaches the target.
    assert sorted((r["size"], r["width"]) for r in saved["results"]) == [(2, 8), (3, 8)]
    assert all(math.isfinite(r["accuracy"]) for r in saved["results"])
    assert (out / "index.json").is_file() and "rope" in proc.stdout
    # Resumable: running the same study again (real run_sweep) trains nothing.
    evals = sorted(out.glob("*/eval.json"))
    stamps = [p.stat().st_mtime_ns for p in evals]
    again = run_width_study(
        WidthStudy(
            encodings=("rope",),
            sizes=(2, 3),
            widths=(8, 16),
            target=0.05,
            preset="tiny",
            task="binfa_lm",
            fixed=(("train.steps", "4"), ("data.n_train", "64"), ("data.n_eval", "4")),
        ),
        out,
    )
    assert [p.stat().st_mtime_ns for p in evals] == stamps and len(evals) == 2
    assert sorted((r.size, r.width) for r in again.results) == [(2, 8), (3, 8)]


def test_bad_width_anywhere_in_grid_fails_before_training(tmp_path):
    runner = FakeRunner()
    with pytest.raises(ValueError, match="even"):
        run_width_study(study(widths=(16, 10)), tmp_path, runner=runner)
    assert runner.calls == []


def test_two_axis_grid_fits_both_exponents(tmp_path):
    """Planted: rope needs 2*n*m (product), bipe_rope 4*(n+m)-ish (here 4*n: no m at all)."""

    class GridRunner(FakeRunner):
        def __call__(self, configs, out, *, jobs=1, progress=False):
            rows = super().__call__(configs, out)
            for c in configs:
                n, m = c.data.inner_states, c.data.outer_states
                need = 2 * n * m if c.model.pe == "rope" else 4 * n
                acc = 0.95 if c.model.d_model >= need else 0.1
                ev = json.loads((Path(out) / c.out / "eval.json").read_text())
                ev["summary"]["in_distribution"]["accuracy"] = acc
                (Path(out) / c.out / "eval.json").write_text(json.dumps(ev))
            return rows

    s = study(
        sizes=(2, 4, 8),
        sizes2=(2, 4),
        size_keys2=("data.outer_states",),
        seeds=(0,),
        widths=(8, 16, 32, 64, 128),
    )
    outcome = run_width_study(s, tmp_path, runner=GridRunner(), n_boot=10)
    rope, bipe = outcome.fits["rope"], outcome.fits["bipe_rope"]
    assert [e.estimate for e in rope.exponents] == pytest.approx([1.0, 1.0])
    assert [e.estimate for e in bipe.exponents] == pytest.approx([1.0, 0.0], abs=1e-9)
    assert outcome.implied["product"] == pytest.approx((1.0, 1.0))
    md = outcome.report.read_text()
    assert "exponent of outer_states" in md and "size (8, 4)" in md
    with pytest.raises(ValueError, match="both sizes2 and size_keys2"):
        study(sizes2=(2,))


def _study_toml(folder, **width):
    table = {"sizes": ["data.inner_states"], "widths": list(WIDTHS), "target": 0.9, **width}
    lines = [f"{k} = {json.dumps(v)}" for k, v in table.items()]
    (folder / "study.toml").write_text(
        'title = "Width"\nquestion = "How does width scale?"\nmetrics = ["accuracy"]\n'
        'runs = ["runs"]\n[width]\n' + "\n".join(lines) + "\n"
    )


def test_results_section_reports_the_study_fits_from_the_run_folders(tmp_path):
    """bipe results (from the committed run folders) and bipe study width (from the search)
    find the same thresholds, exponents and hypotheses; a cell with a missing run is still
    searching and left out."""
    from bipe.analysis.results import load_study, write_results
    from bipe.analysis.width_results import width_results

    outcome = run_width_study(study(), tmp_path / "runs", runner=FakeRunner(), n_boot=100)
    _study_toml(tmp_path)
    out = write_results([tmp_path], tmp_path / "results.md")
    text = out.read_text()
    assert "| rope | 8 | 32 | 128 | 2.00" in text and "| bipe_rope | 8 | 16 | 32 | 1.00" in text
    assert "Cells: 6 reached, 0 beyond the grid" in text
    assert f"additive | {outcome.implied['additive']:.2f}" in text
    # planted exponents 2 (rope) and 1 (bipe_rope); over inner states alone (outer fixed at
    # the preset's) additive n + m implies 0.66 and product n * m implies 1
    assert (
        "`rope`: exponents inner_states 2.00 [2.00, 2.00]; excludes additive (0.66) and "
        "product (1.00); none of them fits"
    ) in text
    assert (
        "`bipe_rope`: exponents inner_states 1.00 [1.00, 1.00]; consistent with product "
        "(1.00); excludes additive (0.66);"
    ) in text
    # rope at size 8 lost its width-64 run of seed 1: that cell is still searching
    spec = load_study(tmp_path)
    gone = tmp_path / "runs" / "pe-rope__inner_states-8__d_model-64__init_seed-1"
    (gone / "eval.json").unlink()
    from bipe.analysis.results import evaluated_runs

    results, states = width_results(evaluated_runs(spec), spec.width, "accuracy")
    assert states[("rope", 8.0)] == "searching"
    assert states[("rope", 4.0)] == "reached"
    assert not any(r.encoding == "rope" and r.size == 8.0 for r in results)
    # ... and so is a cell one of whose seeds has no run yet at all
    for d in (tmp_path / "runs").glob("pe-bipe_rope__inner_states-2__*__init_seed-1"):
        (d / "eval.json").unlink()
    _, states = width_results(evaluated_runs(spec), spec.width, "accuracy")
    assert states[("bipe_rope", 2.0)] == "searching"
    # with the seeds named, a seed that no run has yet keeps every cell searching
    _study_toml(tmp_path, seeds=[0, 1, 2])
    spec = load_study(tmp_path)
    _, states = width_results(evaluated_runs(spec), spec.width, "accuracy")
    assert set(states.values()) == {"searching"}


def test_results_section_says_when_every_cell_sits_at_the_floor(tmp_path):
    run_width_study(study(sizes=(1, 2)), tmp_path / "runs", runner=FakeRunner(), n_boot=10)
    _study_toml(tmp_path)
    from bipe.analysis.results import write_results

    text = write_results([tmp_path], tmp_path / "results.md").read_text()
    assert "`bipe_rope`: every cell reached the target at the smallest width (8)" in text


def test_results_width_table_is_checked(tmp_path):
    from bipe.analysis.results import load_study

    _study_toml(tmp_path, setting="beyond")
    with pytest.raises(ValueError, match="setting must be one of"):
        load_study(tmp_path)
    _study_toml(tmp_path, colour="red")
    with pytest.raises(ValueError, match="unknown \\[width\\] keys"):
        load_study(tmp_path)


def test_results_compare_pairs_at_every_width_both_trained_everywhere(tmp_path):
    """Planted legal mass: bipe_rope 0.6 + 0.02 * seed, rope 0.5 + 0.01 * seed below their
    thresholds, so a - b is 0.10, 0.11, 0.12 by seed; a width where one search had stopped in
    some cell is not compared (it would pick cells by their outcome)."""

    class Planted(FakeRunner):
        def __call__(self, configs, out, *, jobs=1, progress=False):
            rows = super().__call__(configs, out)
            for c in configs:
                ok = c.model.d_model >= planted_threshold(c.model.pe, c.data.inner_states)
                base = (0.6, 0.02) if c.model.pe == "bipe_rope" else (0.5, 0.01)
                ev = json.loads((Path(out) / c.out / "eval.json").read_text())
                ev["summary"]["in_distribution"]["accuracy"] = (
                    0.95 if ok else base[0] + base[1] * c.init_seed
                )
                (Path(out) / c.out / "eval.json").write_text(json.dumps(ev))
            return rows

    from bipe.analysis.results import evaluated_runs, load_study
    from bipe.analysis.width_results import equal_width_rows

    # sizes 4 and 8: bipe_rope needs 16 and 32, rope 32 and 128; width 8 is below all of them
    run_width_study(
        study(sizes=(4, 8), seeds=(0, 1, 2)), tmp_path / "runs", runner=Planted(), n_boot=10
    )
    _study_toml(tmp_path)
    toml = tmp_path / "study.toml"
    toml.write_text(
        toml.read_text().replace(
            'runs = ["runs"]', 'runs = ["runs"]\npairs = [["bipe_rope", "rope"]]'
        )
    )
    spec = load_study(tmp_path)
    rows = equal_width_rows(evaluated_runs(spec), spec.width, "accuracy", spec.pairs)
    # t interval of (0.10, 0.11, 0.12): 0.11 +- 4.303 * 0.01 / sqrt(3)
    assert rows[0] == (
        "bipe_rope - rope",
        "8",
        "2",
        "0.110 [0.085, 0.135]",
        "bipe_rope higher than rope (3 seeds)",
    )
    # bipe_rope stopped at 32 in size 8 and at 16 in size 4: from 32 on, not every cell ran
    assert [r[1] for r in rows] == ["8", "16"]
    # at 16, bipe_rope reached (0.95) in size 4, not in size 8, rope in neither: the seed's
    # mean of (0.45 - 0.01 s) and (0.10 + 0.01 s) is 0.275 in every seed
    assert rows[1][1:4] == ("16", "2", "0.275 [0.275, 0.275]")
    from bipe.analysis.results import write_results

    md = write_results([tmp_path], tmp_path / "results.md").read_text()
    assert "### At equal width" in md and "| bipe_rope - rope | 8 | 2 | 0.110 [0.085, 0.135]" in md
