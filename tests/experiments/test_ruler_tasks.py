"""The RULER tasks end to end: every ``ruler:TASK`` trains with ``--preset tiny`` and reports
RULER's recall per length and depth; ``bipe gen ruler:TASK`` writes answers the independent
reader re-derives; malformed parameters are one-line errors with nothing written."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bipe.experiments.cli import main
from bipe.experiments.tasks import get_task
from bipe.synthetic.dataset import load_dataset
from bipe.synthetic.text.ruler import RULER_TASKS
from bipe.synthetic.text.ruler_reader import read_answer

# counts that fit a 192-byte context (the tiny preset's 96 is below most tasks' needles)
SMALL_FOR = {
    "niah_single": [],
    "niah_multikey": ["--data.needles", "2"],
    "niah_multivalue": ["--data.values", "2"],
    "niah_multiquery": ["--data.needles", "2", "--data.queries", "2"],
    "variable_tracking": ["--data.hops", "2"],
    "common_words": ["--data.common_words", "1", "--data.freq_cw", "3"],
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("ruler") / "src"
    root.mkdir()
    for i in range(60):
        (root / f"m{i:02d}.py").write_text(f"def f{i}(x):\n    return x + {i}\n" * 20)
    return root


def _files(corpus):
    return [
        "--data.corpus",
        "files",
        "--data.files",
        str(corpus),
        "--data.validation",
        "0.3",
        "--data.test",
        "0.1",
    ]


@pytest.mark.parametrize("task", RULER_TASKS)
def test_every_task_trains_with_the_tiny_preset(tmp_path, corpus, task):
    out = tmp_path / task
    args = ["train", "--preset", "tiny", "--task", f"ruler:{task}", "--out", str(out)]
    args += [*_files(corpus), "--data.context", "192"]
    args += [*SMALL_FOR[task], "--train.steps", "4", "--data.eval_lengths", "192,384"]
    assert main([*args, "--data.n_eval", "5", "--no-progress"]) == 0
    ev = json.loads((out / "eval.json").read_text())
    config = json.loads((out / "config.json").read_text())["data"]
    assert {k: config[k] for k in ("needles", "values", "queries", "hops", "chains")}
    assert [r["length"] for r in ev["per_length"]] == [192, 384]
    for row in ev["per_length"]:
        assert 0.0 <= row["all_found"] <= row["accuracy"] <= 1.0
        depths = [d["depth"] for d in row.get("by_depth", [])]
        assert depths == ([] if task == "common_words" else [0.0, 0.25, 0.5, 0.75, 1.0])


class _Tok:
    """Bytes without the tiny corpus: the task's examples through a fake world."""

    def __init__(self):
        from bipe.synthetic.text.tokenizer import ByteTokenizer

        self.tokenizer = ByteTokenizer()
        self.streams = {}


def test_accuracy_is_the_share_of_answer_strings_in_the_greedy_output():
    """A decoder that writes the right answer but its second string scores 1/2 per example
    with two values, 0 examples all found; the right answer scores 1."""
    from bipe.experiments.config import config_from_dict
    from bipe.synthetic.text.data import TextDataConfig

    task = get_task("ruler:niah_multivalue")
    data = config_from_dict(TextDataConfig, {"values": 2, "context": 192}, where="data")
    world = _Tok()
    ex = task.generate(np.random.default_rng(0), data, world, 10, 300)

    def decoder(wrong):
        def decode(prompts, n, eos):
            rows = []
            for p in prompts:
                item = next(
                    e
                    for e in ex.extra["examples"]
                    if len(e.tokens) - e.n_answer == len(p)
                    and np.array_equal(e.tokens[: len(p)], p)
                )
                text = ", ".join(item.answer)
                if wrong:
                    text = text.replace(item.answer[1], "0" * len(item.answer[1]))
                rows.append(world.tokenizer.encode(text)[:n])
            return np.stack(rows)

        return decode

    right = task.metrics(ex, world, data, None, decoder(False), 4)
    wrong = task.metrics(ex, world, data, None, decoder(True), 4)
    assert right["accuracy"] == right["all_found"] == 1.0
    assert wrong["accuracy"] == 0.5 and wrong["all_found"] == 0.0
    assert [d["accuracy"] for d in wrong["by_depth"]] == [0.5] * 5


@pytest.mark.parametrize("task", RULER_TASKS)
def test_gen_writes_answers_the_reader_rederives(tmp_path, task):
    out = tmp_path / "d"
    args = ["gen", f"ruler:{task}", "--data.context", "256", "--data.n_eval", "10", "--seed", "3"]
    assert main([*args, *SMALL_FOR[task], "--out", str(out)]) == 0
    ds = load_dataset(out)
    assert len(ds) == 50 and ds.meta["generator"] == f"ruler:{task}"
    assert sorted({r["length"] for r in ds.records}) == [256, 512, 1024, 2048, 4096]
    assert {r["depth"] is None for r in ds.records} == {task == "common_words"}
    for r in ds.records:
        assert read_answer(task, r["text"]) == r["answer"]
    assert main(["verify", str(out)]) == 0
    again = tmp_path / "e"
    assert main([*args, *SMALL_FOR[task], "--out", str(again)]) == 0
    assert (out / "data.jsonl").read_bytes() == (again / "data.jsonl").read_bytes()


@pytest.mark.parametrize(
    "args,needle",
    [
        (["ruler:niah_multikey", "--data.needles", "0"], "data.needles must be > 0"),
        (["ruler:variable_tracking", "--data.hops", "40"], "needs at least"),
        (["ruler:niah_multikey", "--data.passkey_depths", "0,1.5"], "must lie in [0, 1]"),
        (["ruler:niah_multikey", "--data.eval_lengths", "100"], "needs at least"),
        (["ruler:niah_multikey", "--data.hops", "3"], "no effect on ruler:niah_multikey"),
        (["ruler:niah_multiquery", "--data.queries", "5"], "asks more keys"),
        (["ruler:common_words", "--data.passkey_depths", "0.5"], "no effect"),
        (["ruler:common_words", "--data.freq_ucw", "4"], "must exceed"),
        (["ruler:niah_multikey", "--data.eval_lengths", "4000000000"], "ask for fewer"),
    ],
)
def test_gen_malformed_parameters_are_one_line_errors(tmp_path, capsys, args, needle):
    out = tmp_path / "bad"
    assert main(["gen", *args, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and needle in err
    assert not out.exists()


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--data.needles", "0"], "data.needles must be > 0"),
        (["--data.hops", "40"], "needs at least"),
        (["--data.passkey_depths", "-0.5"], "must lie in [0, 1]"),
    ],
)
def test_train_malformed_parameters_are_one_line_errors(tmp_path, capsys, corpus, args, needle):
    out = tmp_path / "bad"
    base = ["train", "--preset", "tiny", "--task", "ruler:variable_tracking", "--out", str(out)]
    base += [*_files(corpus), "--data.context", "256"]
    assert main([*base, *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and needle in err
    assert not out.exists()


def test_the_study_grids_build_and_fit_their_context():
    """studies/ruler: every grid expands to 15 runs (5 encodings x 3 seeds) whose examples fit
    the training context with filler to spare; every study.toml loads, with pairs and order."""
    from pathlib import Path

    from bipe.analysis.results import load_study
    from bipe.experiments.sweep import expand_grid, load_grid_file

    root = Path(__file__).resolve().parents[2] / "studies" / "ruler"
    folders = sorted(p.parent for p in root.glob("*/grid.toml"))
    assert [f.name for f in folders] == ["niah_multikey", "niah_multivalue", "vt_2hops", "vt_4hops"]
    for folder in folders:
        runs = expand_grid(load_grid_file(folder / "grid.toml"))
        assert len(runs) == 15 and {c.model.pe for _, c, _ in runs} >= {"rope", "bipe_alibi"}
        config = runs[0][1]
        task = get_task(config.task)
        lo, hi = task.train_range(config.data)
        assert lo < hi == config.data.context
        assert list(config.data.eval_lengths) == [m * hi for m in (1, 2, 4, 8, 16)]
        spec = load_study(folder)
        assert spec.pairs == (("bipe_rope", "rope"), ("bipe_alibi", "alibi"))


def test_results_and_report_have_the_heatmap_and_effective_lengths(tmp_path, corpus):
    from bipe.analysis.results import write_results

    study = tmp_path / "study"
    args = ["train", "--preset", "tiny", "--task", "ruler:niah_multikey", *_files(corpus)]
    args += ["--data.context", "192", "--data.needles", "2", "--train.steps", "4"]
    args += ["--data.eval_lengths", "192,384", "--data.n_eval", "5", "--no-progress"]
    assert main([*args, "--out", str(study / "pe-rope__init_seed-0")]) == 0
    (study / "study.toml").write_text(
        'title = "R"\nquestion = "Q?"\norder = 95\nmetrics = ["accuracy"]\n'
    )
    text = write_results([study], tmp_path / "results.md").read_text()
    assert "Effective length" in text and "| rope | 1 |" in text
    assert (tmp_path / "results" / "study_accuracy_by_depth.png").exists()
    assert main(["report", str(study), "--out", str(tmp_path / "rep")]) == 0
    assert "Effective length" in (tmp_path / "rep" / "report.md").read_text()


def test_niah_single_trains_on_the_passkey_examples():
    """ruler:niah_single is the passkey task's generator, not a fork: same data config and
    seed, the same training and evaluation examples."""
    from bipe.experiments.config import config_from_dict
    from bipe.synthetic.text.data import TextDataConfig

    data = config_from_dict(TextDataConfig, {"context": 160}, where="data")
    world = _Tok()
    for setting in (None, 320):
        a, b = (
            get_task(name).generate(np.random.default_rng(5), data, world, 12, setting)
            for name in ("passkey", "ruler:niah_single")
        )
        assert all(np.array_equal(x, y) for x, y in zip(a.inputs, b.inputs, strict=True))
        assert all(np.array_equal(x, y) for x, y in zip(a.targets, b.targets, strict=True))


@pytest.mark.parametrize("task", ["passkey", "text_lm"])
def test_ruler_counts_are_refused_by_the_other_text_tasks(tmp_path, capsys, corpus, task):
    out = tmp_path / "bad"
    args = ["train", "--preset", "tiny", "--task", task, *_files(corpus), "--data.hops", "3"]
    assert main([*args, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "data.hops has no effect on task" in err
    assert not out.exists()


def test_loss_on_the_answer_falls(tmp_path, corpus):
    """40 tiny steps on variable tracking: the answer's loss falls from about ln(258) (a byte
    in 258) by over a nat (the answer's alphabet is learned first)."""
    out = tmp_path / "vt"
    args = ["train", "--preset", "tiny", "--task", "ruler:variable_tracking", *_files(corpus)]
    args += ["--data.context", "192", "--data.hops", "2", "--train.steps", "40"]
    args += ["--data.eval_lengths", "192", "--data.n_eval", "5", "--no-progress"]
    assert main([*args, "--out", str(out)]) == 0
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in rows if "loss" in r]
    assert losses[0] > 4.0 and losses[-1] < losses[0] - 1.0
