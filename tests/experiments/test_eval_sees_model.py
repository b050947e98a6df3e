"""Evaluation scores the trained weights: perturbing model.pt, another init seed or no training
at all must change the non-saturating metrics of ``bipe eval``."""

import json
import math

import numpy as np
import pytest
import torch

from bipe.experiments.cli import main
from bipe.experiments.evaluate import evaluate_model
from bipe.experiments.presets import build_config
from bipe.experiments.train import build_model, prepare
from bipe.models.checkpoint import load, save

ARGS = [
    "--task",
    "binfa_lm",
    "--pe",
    "bipe_alibi",
    "--preset",
    "tiny",
    "--data.n_train",
    "64",
    "--data.n_eval",
    "8",
    "--data.eval_lengths",
    "2,4",
    "--train.steps",
    "20",
    "--no-progress",
]


def _eval(run) -> dict:
    assert main(["eval", str(run), "--no-progress"]) == 0
    result = json.loads((run / "eval.json").read_text())
    return {r["length"]: r for r in result["per_length"]}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("seeds")
    for seed in (0, 1):
        out = str(root / f"s{seed}")
        assert main(["train", *ARGS, "--init_seed", str(seed), "--out", out]) == 0
    return root


def test_eval_json_has_non_saturating_lm_metrics(runs):
    rows = _eval(runs / "s0")
    for row in rows.values():
        assert {"accuracy", "continuation_valid", "legal_mass", "legal_logprob"} <= set(row)
        assert 0.0 < row["legal_mass"] <= 1.0 and row["legal_logprob"] <= 0.0
        assert math.isfinite(row["legal_logprob"])
    summary = json.loads((runs / "s0" / "eval.json").read_text())["summary"]
    assert "legal_logprob" in summary["in_distribution"]


def test_perturbed_weights_change_the_evaluation(runs, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(runs / "s0", run)
    before = _eval(run)
    model = load(run / "model.pt")
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=torch.Generator().manual_seed(0)))
    save(model, run / "model.pt")
    after = _eval(run)
    for length in before:
        assert before[length]["legal_logprob"] != after[length]["legal_logprob"]


def test_two_init_seeds_are_told_apart(runs):
    a, b = _eval(runs / "s0"), _eval(runs / "s1")
    assert all(a[k]["legal_logprob"] != b[k]["legal_logprob"] for k in a)
    assert all(a[k]["n"] == b[k]["n"] for k in a)  # same evaluation sets


def test_trained_model_differs_from_untrained(runs):
    trained = _eval(runs / "s0")
    config = build_config(
        "tiny",
        task="binfa_lm",
        pe="bipe_alibi",
        overrides={
            "data.n_train": "64",
            "data.n_eval": "8",
            "data.eval_lengths": "2,4",
            "train.steps": "20",
        },
    )
    prepared = prepare(config)
    fresh = build_model(prepared.config, torch.device("cpu"))
    result = evaluate_model(fresh, prepared.config, prepared.task, prepared.world, (2, 4))
    untrained = {r["length"]: r for r in result["per_length"]}
    assert all(untrained[k]["legal_logprob"] < trained[k]["legal_logprob"] for k in trained)
    assert not np.isclose(untrained[2]["legal_mass"], trained[2]["legal_mass"])


def test_legal_mass_after_first_matches_a_per_position_reference():
    """The mass on legal next tokens over the positions from the first separator on, against a
    loop over tokens; one-segment sequences have no such position (null, left out of means)."""
    from bipe.experiments.evaluate import eval_set, summarize

    config = build_config(
        "tiny", task="binfa_lm", pe="rope", overrides={"data.n_train": "8", "data.n_eval": "6"}
    )
    prepared = prepare(config)
    task, world, data = prepared.task, prepared.world, prepared.config.data
    sep = task.separators(data, world)[0]
    vocab = task.vocab_size(data, world)
    gen = torch.Generator().manual_seed(0)
    for length in (1, 3):
        examples = eval_set(prepared.config, task, world, length)
        table = {}

        def forward(rows, examples=examples, table=table):
            longest = max(len(examples.inputs[i]) for i in rows)
            out = torch.full((len(rows), longest, vocab), -1e9)
            for b, i in enumerate(rows):
                n = len(examples.inputs[i])
                table.setdefault(int(i), torch.randn(n, vocab, generator=gen))
                out[b, :n] = table[int(i)]
            return out

        def decode(prefixes, n, _):
            return [np.zeros(n, dtype=np.int64) for _ in prefixes]

        row = task.metrics(examples, world, data, forward, decode, batch_size=4)
        masses = []
        for i in range(len(examples)):
            tokens = list(examples.extra["tokens"][i])
            for t in range(len(tokens) - 1):
                if sep not in tokens[: t + 1]:
                    continue
                legal = world.flat.legal_next_mask(np.array([tokens]), np.array([len(tokens)]))
                p = table[i][t].softmax(-1)[: legal.shape[2]]
                masses.append(float(p[torch.from_numpy(legal[0, t + 1])].sum()))
        if length == 1:
            assert masses == [] and row["legal_mass_after_first"] is None
        else:
            assert row["legal_mass_after_first"] == pytest.approx(np.mean(masses), rel=1e-5)
    summary = summarize(
        [
            {"length": 1, "n": 6, "m": None},
            {"length": 2, "n": 6, "m": 0.5},
            {"length": 3, "n": 6, "m": 0.7},
        ],
        (1, 2),
    )
    assert summary == {"in_distribution": {"m": 0.5}, "above_train": {"m": 0.7}}


def test_eval_table_prints_a_metric_undefined_at_one_length_as_a_dash(runs, tmp_path, capsys):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(runs / "s0", run)
    assert main(["eval", str(run), "--lengths", "2,1", "--no-progress"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = lines[0].split()
    column = header.index("legal_mass_after_first")
    by_length = {line.split()[0]: line.split() for line in lines[1:3]}
    assert by_length["1"][column] == "-" and float(by_length["2"][column]) > 0
