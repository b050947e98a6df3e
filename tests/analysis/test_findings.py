"""The findings table, study discovery by `order`, and the correction for multiplicity across
the lengths of a pair (Holm) in docs/results.md."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import sympy
from hypothesis import given
from hypothesis import strategies as st
from sympy.stats import StudentT, cdf

from bipe.analysis.findings import END, START, findings_table, readme_block, replace_block
from bipe.analysis.results import find_studies, load_study, write_results
from bipe.analysis.stats import holm, t_pvalue
from bipe.experiments.cli import main


@pytest.mark.parametrize("values", [[0.1, 0.3, 0.2], [1.0, -0.2, 0.4, 0.9, 0.3], [-2, -1, -1.5]])
def test_t_pvalue_matches_the_student_t_distribution(values):
    x = np.asarray(values, dtype=float)
    t = abs(x.mean()) / (x.std(ddof=1) / np.sqrt(x.size))
    tail = 1 - cdf(StudentT("t", x.size - 1))(sympy.Float(t))
    assert t_pvalue(x) == pytest.approx(2 * float(tail), abs=1e-7)


def test_t_pvalue_degenerate_cases():
    assert t_pvalue([0.5]) == 1.0
    assert t_pvalue([0.2, 0.2, 0.2]) == 0.0
    assert t_pvalue([0.0, 0.0, 0.0]) == 1.0


@given(st.lists(st.floats(-5, 5), min_size=2, max_size=8), st.floats(0.1, 10))
def test_t_pvalue_ignores_sign_and_scale(values, scale):
    x = np.asarray(values)
    p = t_pvalue(x)
    assert 0.0 <= p <= 1.0
    assert t_pvalue(-x) == pytest.approx(p, abs=1e-9)
    if x.std() > 1e-6:
        assert t_pvalue(x * scale) == pytest.approx(p, abs=1e-6)


def holm_by_definition(p: list[float]) -> list[float]:
    """Adjusted p_i = max over the hypotheses ranked at or below i of min(1, (m - rank) p)."""
    m = len(p)
    ranked = sorted(range(m), key=lambda i: (p[i], i))
    out = [0.0] * m
    for r, i in enumerate(ranked):
        out[i] = max(min(1.0, (m - k) * p[ranked[k]]) for k in range(r + 1))
    return out


@given(st.lists(st.floats(0, 1), min_size=1, max_size=10))
def test_holm_equals_its_definition_and_lies_between_raw_and_bonferroni(p):
    adjusted = holm(p)
    assert adjusted == pytest.approx(holm_by_definition(p))
    for raw, adj in zip(p, adjusted, strict=True):
        assert raw - 1e-12 <= adj <= min(1.0, len(p) * raw) + 1e-12


def _run(folder: Path, pe: str, seed: int, values: list[float], lengths=(2, 4, 6, 8, 10, 12)):
    folder.mkdir(parents=True)
    config = {"task": "binfa_lm", "model": {"pe": pe}, "init_seed": seed, "data_seed": 0}
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "metrics.jsonl").write_text(json.dumps({"step": 1, "loss": 1.0}) + "\n")
    rows = [{"length": x, "n": 10, "acc": v} for x, v in zip(lengths, values, strict=True)]
    evaluation = {"task": "binfa_lm", "train_range": [2, 4], "per_length": rows, "summary": {}}
    (folder / "eval.json").write_text(json.dumps(evaluation))


def _study(folder: Path, order: int | None, title: str, extra: str = "") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    line = "" if order is None else f"order = {order}\n"
    (folder / "study.toml").write_text(
        f'title = "{title}"\n{line}question = "Q?"\nmetrics = ["acc"]\n'
        f'pairs = [["a", "b"], ["c", "b"]]\n{extra}'
    )


def test_per_length_marks_only_what_survives_holm(tmp_path):
    # at length 8 a modest, noisy gap (t-test p about 0.02: significant alone, not after
    # correcting for six lengths); at length 12 a large consistent one (survives)
    study = tmp_path / "s"
    gaps8 = [0.05, 0.09, 0.03, 0.07, 0.02]
    gaps12 = [0.30, 0.31, 0.29, 0.30, 0.32]
    for seed in range(5):
        base = [1, 1, 0.5, 0.5, 0.5, 0.5]
        a = [1, 1, 0.5, 0.5 + gaps8[seed], 0.5 + 0.01 * (seed - 2), 0.5 + gaps12[seed]]
        _run(study / f"a{seed}", "a", seed, a)
        _run(study / f"b{seed}", "b", seed, base)
    _study(study, None, "T")
    assert 0.01 < t_pvalue(gaps8) < 0.05 and holm([t_pvalue(gaps8)] + [0.5] * 5)[0] > 0.05
    text = write_results([study], tmp_path / "results.md").read_text()
    row = next(line for line in text.splitlines() if line.startswith("| a - b | 0.000"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert not cells[4].endswith("*"), cells  # length 8
    assert cells[6].endswith("*"), cells  # length 12
    assert "Holm's correction" in text and "exploratory" in text


def test_find_studies_orders_by_the_order_key(tmp_path):
    for name, order in (("zeta", 1), ("alpha", 3), ("mid", 2)):
        _study(tmp_path / "studies" / name, order, name)
    found = find_studies([tmp_path / "studies"])
    assert [p.name for p in found] == ["zeta", "mid", "alpha"]
    assert find_studies([tmp_path / "studies" / "alpha"]) == [tmp_path / "studies" / "alpha"]
    _study(tmp_path / "studies" / "loose", None, "loose")
    with pytest.raises(ValueError, match="loose/study.toml: no `order` key"):
        find_studies([tmp_path / "studies"])
    with pytest.raises(OSError, match="no such study folder"):
        find_studies([tmp_path / "nowhere"])


def test_study_toml_order_and_headline_are_checked(tmp_path):
    _study(tmp_path, None, "T", 'headline = ["x", "b"]\n')
    with pytest.raises(ValueError, match="headline"):
        load_study(tmp_path)
    (tmp_path / "study.toml").write_text(
        'title = "T"\norder = "first"\nquestion = "Q"\nmetrics = ["a"]\n'
    )
    with pytest.raises(ValueError, match="order must be a number"):
        load_study(tmp_path)


def _two_studies(root: Path) -> None:
    rng = np.random.default_rng(0)
    for name, order, extra in (
        ("one", 2, 'headline = ["c", "b"]\n[labels]\n"c" = "the C variant"\n'),
        ("two", 1, ""),
    ):
        for seed in range(4):
            noise = rng.normal(0, 0.01, 6)
            _run(root / name / f"a{seed}", "a", seed, list(0.9 + noise))
            _run(root / name / f"b{seed}", "b", seed, list(0.5 + noise[::-1]))
            _run(root / name / f"c{seed}", "c", seed, list(0.5 + rng.normal(0, 0.1, 6)))
        _study(root / name, order, f"Study {name}", extra)


def test_findings_table_one_row_per_study_with_its_headline(tmp_path):
    _two_studies(tmp_path / "studies")
    specs = [load_study(p) for p in find_studies([tmp_path / "studies"])]
    table = findings_table(specs, link="docs/results.md").splitlines()
    assert len(table) == 4  # header, rule, two studies in order
    assert table[2].startswith("| [Study two](docs/results.md#study-two) | a higher than b (4 ")
    assert "no difference between the C variant and b detectable" in table[3]
    assert table[3].endswith("|") and "`acc`, mean past training" in table[3]


def test_a_study_whose_grid_is_not_all_in_is_marked_partial(tmp_path):
    _two_studies(tmp_path / "studies")
    study = tmp_path / "studies" / "two"
    grid = '[grid]\n"model.pe" = ["a", "b", "c"]\n"init_seed" = [0, 1, 2, 3]\n'
    (study / "grid.toml").write_text(grid)  # 12 runs, all in
    spec = load_study(study)
    assert "partial" not in findings_table([spec], link="r.md")
    (study / "grid.toml").write_text(grid.replace('"c"]', '"c", "d"]'))  # 16 planned
    row = findings_table([spec], link="r.md").splitlines()[2]
    assert "`acc`, mean past training (partial: 12 of the grid's 16 runs) |" in row
    assert "a higher than b (4 seeds)" in row  # the claim itself is unchanged


def test_pending_says_why_a_study_has_no_runs_until_one_is_in(tmp_path):
    study = tmp_path / "s"
    _study(study, 1, "S", 'pending = "not run: no budget found yet (NOTES.md)"\n')
    spec = load_study(study)
    row = findings_table([spec], link="r.md").splitlines()[2]
    assert "| not run: no budget found yet (NOTES.md) | - | - |" in row
    text = write_results([study], tmp_path / "results.md").read_text()
    assert "**Status.** Not run: no budget found yet (NOTES.md)." in text
    _study(tmp_path / "plain", 2, "P")
    plain = load_study(tmp_path / "plain")
    assert "| not run yet: the grid is committed" in findings_table([plain], link="r.md")
    for seed in range(3):  # once the headline pair is in, the runs speak, not `pending`
        _run(study / f"a{seed}", "a", seed, [1, 1, 0.9, 0.8, 0.9, 0.85])
        _run(study / f"b{seed}", "b", seed, [1, 1, 0.1 * seed, 0.0, 0.1, 0.0])
    row = findings_table([load_study(study)], link="r.md").splitlines()[2]
    assert "no budget" not in row and "a higher than b (3 seeds)" in row


@pytest.mark.parametrize("value", ['""', '"two\\nlines"', '"a | b"', "3"])
def test_pending_must_be_one_line_of_text(tmp_path, value):
    _study(tmp_path, 1, "S", f"pending = {value}\n")
    with pytest.raises(ValueError, match="pending must be one line of text"):
        load_study(tmp_path)


def test_a_run_added_to_one_study_leaves_the_other_studies_numbers_alone(tmp_path):
    # every study bootstraps from its own stream: with one shared stream, a run added to the
    # first study would shift every interval of the studies after it
    _two_studies(tmp_path / "studies")
    out = tmp_path / "results.md"
    before = write_results([tmp_path / "studies"], out).read_text()
    for seed in range(4):
        _run(
            tmp_path / "studies" / "two" / f"d{seed}",
            "d",
            seed,
            [1, 1, 0.7, 0.6, 0.5, 0.4 + seed / 10],
        )
    after = write_results([tmp_path / "studies"], out).read_text()
    first, second = "## Study two", "## Study one"
    assert before.split(first)[1].split(second)[0] != after.split(first)[1].split(second)[0]
    assert "[" in before.split(second)[1]  # it has bootstrap intervals to shift
    assert before.split(second)[1] == after.split(second)[1]


def test_readme_block_is_rewritten_and_stale_blocks_detected(tmp_path):
    text = f"# R\n\nintro\n\n{START}\nold\n{END}\n\nrest\n"
    new = replace_block(text, "| t |")
    assert readme_block(new) == "| t |" and new.endswith("\n\nrest\n") and "old" not in new
    assert replace_block(new, "| t |") == new
    with pytest.raises(ValueError, match="findings:start"):
        readme_block("no markers")


def test_cli_writes_results_and_readme_and_refuses_a_readme_without_markers(tmp_path, capsys):
    _two_studies(tmp_path / "studies")
    readme = tmp_path / "README.md"
    readme.write_text("# R\n")
    out = tmp_path / "docs" / "results.md"
    args = ["results", str(tmp_path / "studies"), "--out", str(out), "--readme", str(readme)]
    assert main(args) == 2
    assert "findings:start" in capsys.readouterr().err and not out.exists()
    readme.write_text(f"# R\n{START}\n{END}\n")
    assert main(args) == 0
    block = readme_block(readme.read_text())
    assert "(docs/results.md#study-two)" in block and block in out.read_text().replace(
        "](#", "](docs/results.md#"
    )
    assert out.read_text().index("## Study two") < out.read_text().index("## Study one")
