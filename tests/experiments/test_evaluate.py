"""The length-extrapolation protocol: summaries, scoring, decoding paths, batching, segmentation
variants, and `bipe eval`."""

import dataclasses
import json

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from bipe.experiments.cli import main
from bipe.experiments.config import SegmentationConfig
from bipe.experiments.evaluate import (
    _decode_fn,
    evaluate_model,
    segmentation_positions,
    summarize,
)
from bipe.experiments.presets import build_config
from bipe.experiments.segmentation import batch_positions
from bipe.experiments.tasks.arith import _score_chain
from bipe.experiments.train import build_model, prepare, train
from bipe.models.positions import Positions
from bipe.synthetic.arrays import pad_rows
from bipe.synthetic.segment import separator_positions

torch.set_num_threads(1)


def test_summary_means_inside_and_above_the_training_range():
    rows = [
        {"length": k, "n": 10, "accuracy": a}
        for k, a in [(1, 1.0), (2, 0.8), (3, 0.6), (4, 0.2), (6, 0.0)]
    ]
    s = summarize(rows, (2, 3))
    assert s["in_distribution"] == {"accuracy": pytest.approx(0.7)}
    assert s["above_train"] == {"accuracy": pytest.approx(0.1)}
    assert summarize(rows[:2], (1, 2))["above_train"] == {}


EOS = 2


@pytest.mark.parametrize(
    "gen,ref,expected",
    [
        ([12, 9, 13, EOS, EOS], [12, 9, 13, EOS], (True, True)),
        ([14, 9, 13, EOS, EOS], [12, 9, 13, EOS], (True, False)),  # right answer, wrong chain
        ([12, 9, 15, EOS, EOS], [12, 9, 13, EOS], (False, False)),
        ([12, 9, 13, 13, 13], [12, 9, 13, EOS], (False, False)),  # never stops
        ([EOS, EOS, EOS], [13, EOS], (False, False)),
    ],
)
def test_chain_scoring(gen, ref, expected):
    assert _score_chain(np.array(gen), np.array(ref), EOS) == expected


@pytest.fixture(scope="module")
def tiny_model():
    config = build_config("tiny", pe="bipe_rope", overrides={"data.n_eval": "12"})
    prepared = prepare(config)
    return prepared, build_model(prepared.config, torch.device("cpu")).eval()


def reference_decode(model, prompts, max_new, eos, positions_of) -> np.ndarray:
    """Slow obviously-correct greedy decoding: right-padded rows, the whole prefix recomputed
    with ``positions_of(tokens (B, T), lengths (B,)) -> (seg, intra)`` at every step."""
    rows = [list(p) for p in prompts]
    done = np.zeros(len(rows), dtype=bool)
    for _ in range(max_new):
        tokens, lengths = pad_rows([np.asarray(r) for r in rows])  # (B, T), (B,)
        seg, intra = positions_of(tokens, lengths)
        b, t = tokens.shape
        pos = Positions(
            torch.arange(t).expand(b, t), torch.from_numpy(seg), torch.from_numpy(intra)
        )
        logits = model(torch.from_numpy(tokens), pos)  # (B, T, V)
        nxt = logits[torch.arange(b), torch.from_numpy(lengths - 1)].argmax(-1).numpy()
        nxt = np.where(done, eos, nxt)
        done |= nxt == eos
        for r, token in zip(rows, nxt, strict=True):
            r.append(int(token))
    return np.array([r[len(p) :] for r, p in zip(rows, prompts, strict=True)])


@pytest.mark.parametrize("method,drop", [("separator", 0.0), ("fixed:3", 0.0), ("separator", 0.3)])
def test_one_decoder_equals_recomputation(tiny_model, method, drop):
    """Evaluation decodes with models.generate (cached, or recomputing under perturbations);
    its tokens equal a slow right-padded recomputation of every prefix."""
    prepared, model = tiny_model
    seg_config = SegmentationConfig(method=method, drop=drop)
    config = dataclasses.replace(prepared.config, segment_eval=seg_config)
    rng = np.random.default_rng(0)
    prompts = [rng.integers(3, 21, size=k) for k in (3, 7, 5, 9)]

    def positions_of(tokens, lengths):
        draw = np.random.default_rng(np.random.SeedSequence(config.data_seed, spawn_key=(4, 2, 1)))
        return batch_positions(draw, tokens, lengths, seg_config, prepared.config.model.separators)

    with torch.no_grad():
        fast = _decode_fn(model, config, 1, torch.device("cpu"))(prompts, 12, EOS)
        slow = reference_decode(model, prompts, 12, EOS, positions_of)
        recomputed = model.generate(
            torch.from_numpy(pad_rows(prompts, left=True)[0]),
            12,
            eos=EOS,
            use_cache=False,
            prompt_lengths=torch.tensor([len(p) for p in prompts]),
            positions=segmentation_positions(config, 1),
        )[:, 9:].numpy()
    assert np.array_equal(fast, slow) and np.array_equal(recomputed, slow)


@pytest.mark.parametrize("task", ["arith", "binfa_lm", "binfa_state"])
def test_results_do_not_depend_on_batching(task):
    overrides = {"data.n_eval": "10", "data.eval_lengths": "1,3"}
    small = build_config(
        "tiny", task=task, overrides={**overrides, "data.eval_tokens_per_batch": "20"}
    )
    big = build_config("tiny", task=task, overrides=overrides)
    results = []
    for config in (small, big):
        p = prepare(config)
        model = build_model(p.config, torch.device("cpu"))
        results.append(evaluate_model(model, p.config, p.task, p.world, (1, 3)))
    assert results[0] == results[1]
    assert [r["n"] for r in results[0]["per_length"]] == [10, 10]


def test_positions_under_each_segmentation():
    tokens = np.array([[5, 6, 9, 7, 8, 9, 4, 2]])
    lengths = np.array([8])
    seps = (9, 2)
    sep = batch_positions(None, tokens, lengths, SegmentationConfig(), seps)
    assert [a.tolist() for a in sep] == [a.tolist() for a in separator_positions(tokens, seps)]
    seg, intra = batch_positions(None, tokens, lengths, SegmentationConfig(method="fixed:3"), seps)
    assert seg.tolist() == [[0, 0, 0, 1, 1, 1, 2, 2]] and intra.tolist() == [[0, 1, 2] * 2 + [0, 1]]
    rng = np.random.default_rng(0)
    _, intra = batch_positions(rng, tokens, lengths, SegmentationConfig(drop=1.0), seps)
    assert intra.tolist() == [list(range(8))]
    seg, intra = batch_positions(rng, tokens, lengths, SegmentationConfig(insert=1.0), seps)
    assert intra.tolist() == [[0] * 8] and seg.tolist() == [list(range(8))]
    oracle = np.array([[0, 0, 0, 1, 1, 1, 2, 2]])
    seg, intra = batch_positions(
        None, tokens, lengths, SegmentationConfig(method="oracle"), seps, oracle
    )
    assert seg.tolist() == oracle.tolist() and intra.tolist() == [[0, 1, 2, 0, 1, 2, 0, 1]]


@given(st.integers(1, 30), st.integers(0, 3), st.integers(0, 2**32 - 1))
def test_perturbed_positions_are_well_formed(t, shift, seed):
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, 4, size=(3, t))
    lengths = rng.integers(1, t + 1, size=3)
    config = SegmentationConfig(drop=0.3, insert=0.2, shift=shift)
    seg, intra = batch_positions(rng, tokens, lengths, config, (3,))
    for row in range(3):
        n = lengths[row]
        s, i = seg[row, :n], intra[row, :n]
        assert s[0] == 0 and i[0] == 0
        steps = np.diff(s)
        assert set(steps.tolist()) <= {0, 1}
        assert np.all(i[1:][steps == 1] == 0)
        assert np.all(i[1:][steps == 0] == i[:-1][steps == 0] + 1)


@pytest.mark.parametrize(
    "task,train_seg,eval_seg",
    [
        ("arith", {"segment_train.method": "fixed:2"}, {"segment_eval.method": "fixed:2"}),
        ("arith", {}, {"segment_eval.drop": "0.5", "segment_eval.shift": "1"}),
        ("binfa_lm", {"segment_train.method": "oracle"}, {"segment_eval.insert": "0.3"}),
    ],
)
def test_segmentation_is_an_experimental_variable(tmp_path, task, train_seg, eval_seg):
    config = build_config(
        "tiny",
        task=task,
        pe="bipe_rope",
        out=str(tmp_path / "r"),
        overrides={
            "train.steps": "10",
            "data.n_eval": "6",
            "data.n_train": "64",
            **train_seg,
            **eval_seg,
        },
    )
    train(config, progress=False)
    saved = json.loads((tmp_path / "r" / "config.json").read_text())
    if train_seg.get("segment_train.method") == "fixed:2":
        assert saved["model"]["max_intra"] == 2  # intra 0..1 under fixed-length 2
    result = json.loads((tmp_path / "r" / "eval.json").read_text())
    for row in result["per_length"]:
        assert 0.0 <= row["accuracy"] <= 1.0 and row["n"] == 6


def test_bipe_eval_far_beyond_training(tmp_path, capsys):
    run = tmp_path / "run"
    train(
        build_config("tiny", task="binfa_lm", overrides={"train.steps": "10"}, out=str(run)),
        progress=False,
    )
    assert main(["eval", str(run), "--lengths", "1,12", "--n", "5", "--no-progress"]) == 0
    result = json.loads((run / "eval.json").read_text())
    assert [r["length"] for r in result["per_length"]] == [1, 12]  # 12 = 4x the training max
    assert all(r["n"] == 5 for r in result["per_length"])
    assert result["summary"]["above_train"] and "eval.json" in capsys.readouterr().out
    assert main(["eval", str(tmp_path / "nothing")]) == 2


def test_eval_overrides_write_a_separate_folder_and_equal_training_with_them(tmp_path):
    """Evaluating a clean-trained run under perturbed boundaries (``bipe eval --set``) gives
    the numbers of a run trained identically and evaluated with those settings, and leaves
    the run's own eval.json alone."""
    base = {"train.steps": "10", "data.n_eval": "6", "data.n_train": "64"}
    noisy = {"segment_eval.drop": "0.5", "segment_eval.insert": "0.2"}
    for name, extra in (("clean", {}), ("noisy", noisy)):
        train(
            build_config(
                "tiny",
                task="binfa_lm",
                pe="bipe_rope",
                out=str(tmp_path / name),
                overrides={**base, **extra},
            ),
            progress=False,
        )
    before = (tmp_path / "clean" / "eval.json").read_bytes()
    args = ["eval", str(tmp_path / "clean"), "--no-progress", "--out", str(tmp_path / "e")]
    for key, value in noisy.items():
        args += ["--set", f"{key}={value}"]
    assert main(args) == 0
    assert (tmp_path / "clean" / "eval.json").read_bytes() == before
    got = json.loads((tmp_path / "e" / "eval.json").read_text())
    want = json.loads((tmp_path / "noisy" / "eval.json").read_text())
    assert got == want
    saved = json.loads((tmp_path / "e" / "config.json").read_text())
    assert saved["segment_eval"]["drop"] == 0.5 and saved["evaluated_from"].endswith("clean")
    assert (
        main(
            [
                "eval",
                str(tmp_path / "clean"),
                "--set",
                "model.d_model=8",
                "--out",
                str(tmp_path / "x"),
            ]
        )
        == 2
    )
    assert main(["eval", str(tmp_path / "clean"), "--set", "segment_eval.drop=0.1"]) == 2
    assert not (tmp_path / "x").exists()
