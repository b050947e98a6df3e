"""Entropy segmentation in runs: config knobs, fit at prepare time, saved in the run folder and
reused by resume and `bipe eval`, training and evaluation (decoding included) end to end."""

import json

import numpy as np
import pytest
import torch

from bipe.experiments import prepare as prepare_module
from bipe.experiments import rundir, segmentation
from bipe.experiments.cli import main
from bipe.experiments.config import SegmentationConfig
from bipe.experiments.evaluate import _decode_fn, check_feasible, segmentation_positions
from bipe.experiments.presets import build_config
from bipe.experiments.segmentation import batch_positions
from bipe.experiments.tasks import TASKS
from bipe.experiments.train import build_model, prepare, resume, train
from bipe.synthetic.arrays import pad_rows
from bipe.synthetic.entropy import entropy_positions, fit_entropy_segmenter

ENTROPY = {"segment_train.method": "entropy", "segment_eval.method": "entropy"}


def test_config_knobs_are_validated():
    SegmentationConfig(method="entropy", entropy_length=6.0, entropy_rule="rise")
    with pytest.raises(ValueError, match="entropy_length is set but method is 'separator'"):
        SegmentationConfig(entropy_length=6.0)
    with pytest.raises(ValueError, match="entropy_rule 'peak' unknown"):
        SegmentationConfig(method="entropy", entropy_rule="peak")
    with pytest.raises(ValueError, match="entropy_order must be >= 2"):
        SegmentationConfig(method="entropy", entropy_order=1)
    with pytest.raises(ValueError, match="entropy_length must be >= 1"):
        SegmentationConfig(method="entropy", entropy_length=0.5)
    with pytest.raises(ValueError, match="known: separator, fixed:K, oracle, entropy"):
        SegmentationConfig(method="entropic")


def test_batch_positions_uses_the_fitted_segmenter():
    rng = np.random.default_rng(0)
    corpus = [rng.integers(0, 5, size=20) for _ in range(30)]
    seg = fit_entropy_segmenter(corpus, target_length=3.0, order=3)
    tokens, lengths = np.stack(corpus[:4]), np.array([20, 7, 1, 0])
    config = SegmentationConfig(method="entropy")
    got = batch_positions(None, tokens, lengths, config, (), entropy=seg)
    want = entropy_positions(tokens, seg, lengths)
    assert all(np.array_equal(a, b) for a, b in zip(got, want, strict=True))
    with pytest.raises(ValueError, match="fitted segmenter"):
        batch_positions(None, tokens, lengths, config, ())


def _config(tmp_path, **extra):
    return build_config(
        "tiny",
        task="binfa_lm",
        pe="bipe_rope",
        out=str(tmp_path / "run"),
        overrides={
            "train.steps": "12",
            "data.n_train": "96",
            "data.n_eval": "6",
            **ENTROPY,
            **extra,
        },
    )


def test_prepare_fits_deterministically_and_one_fit_serves_both_splits(tmp_path):
    config = _config(tmp_path, **{"segment_train.entropy_length": "3"})
    a, b = prepare(config), prepare(config)
    assert a.segmenters["train"].threshold == b.segmenters["train"].threshold
    assert a.segmenters["eval"] is not a.segmenters["train"]  # different knobs, two fits
    same = prepare(_config(tmp_path))
    assert same.segmenters["eval"] is same.segmenters["train"]
    assert all(np.array_equal(x[0], y[0]) for x, y in zip(a.positions, b.positions, strict=True))


def test_train_resume_and_eval_with_entropy_segmentation(tmp_path, monkeypatch, capsys):
    config = _config(tmp_path, **{"segment_eval.entropy_length": "5"})
    run = tmp_path / "run"
    train(config, progress=False, stop_after=6)
    assert (run / "segmenter_train.npz").is_file() and (run / "segmenter_eval.npz").is_file()

    def refit(*_args, **_kwargs):
        raise AssertionError("resume refitted the entropy segmenter")

    monkeypatch.setattr(prepare_module, "fit_run_segmenters", refit)
    resume(run, progress=False)
    result = json.loads((run / "eval.json").read_text())
    assert {"accuracy", "continuation_valid"} <= set(result["per_length"][0])  # decoding ran
    assert main(["eval", str(run), "--lengths", "1,5", "--n", "4", "--no-progress"]) == 0
    assert [r["length"] for r in json.loads((run / "eval.json").read_text())["per_length"]] == [
        1,
        5,
    ]
    (run / "segmenter_eval.npz").unlink()
    capsys.readouterr()
    assert main(["eval", str(run), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert "segmenter_eval.npz: missing" in err and "\n" not in err


def test_cli_train_end_to_end(tmp_path):
    out = tmp_path / "cli"
    assert (
        main(
            [
                "train",
                "--preset",
                "tiny",
                "--task",
                "binfa_lm",
                "--pe",
                "bipe_rope",
                "--segment_train.method",
                "entropy",
                "--segment_eval.method",
                "entropy",
                "--segment_train.entropy_rule",
                "rise",
                "--train.steps",
                "8",
                "--data.n_train",
                "64",
                "--data.n_eval",
                "4",
                "--out",
                str(out),
                "--no-progress",
            ]
        )
        == 0
    )
    saved = json.loads((out / "config.json").read_text())
    assert saved["segment_train"]["entropy_rule"] == "rise"
    trained = segmentation.load_run_segmenters(out, rundir.read_run_config(out)[0])
    assert trained["train"].rule == "rise" and trained["eval"].rule == "threshold"
    with pytest.raises(ValueError, match="other entropy knobs"):
        segmentation.load_run_segmenters(out, prepare(_config(tmp_path)).config)
    assert all(
        0.0 <= r["accuracy"] <= 1.0
        for r in json.loads((out / "eval.json").read_text())["per_length"]
    )


def test_eval_set_entropy_on_a_separator_run_equals_training_with_it(tmp_path):
    """`bipe eval --set segment_eval.method=entropy` fits the segmenter on the run's training
    split, saves it in --out, and scores as a run trained with that evaluation setting."""
    base = {"train.steps": "8", "data.n_eval": "4", "data.n_train": "64"}
    extra = {"segment_eval.method": "entropy", "segment_eval.entropy_length": "3"}
    for name, over in (("clean", {}), ("ent", extra)):
        train(
            build_config(
                "tiny",
                task="binfa_lm",
                pe="bipe_rope",
                out=str(tmp_path / name),
                overrides={**base, **over},
            ),
            progress=False,
        )
    args = ["eval", str(tmp_path / "clean"), "--no-progress", "--out", str(tmp_path / "e")]
    for key, value in extra.items():
        args += ["--set", f"{key}={value}"]
    assert main(args) == 0
    assert json.loads((tmp_path / "e" / "eval.json").read_text()) == json.loads(
        (tmp_path / "ent" / "eval.json").read_text()
    )
    assert (tmp_path / "e" / "segmenter_eval.npz").read_bytes() == (
        tmp_path / "ent" / "segmenter_eval.npz"
    ).read_bytes()
    assert not (tmp_path / "clean" / "segmenter_eval.npz").exists()


@pytest.mark.parametrize("pe", ["bipe_rope", "bipe_alibi"])
def test_online_cached_decoding_equals_recomputation(tmp_path, pe):
    """The KV-cached decoder with streaming entropy segments gives the tokens of recomputing
    every prefix with the batch segmenter (evaluation's recompute path)."""
    config = build_config(
        "tiny",
        task="binfa_lm",
        pe=pe,
        out=str(tmp_path / "r"),
        overrides={"data.n_train": "64", **ENTROPY, "segment_eval.entropy_length": "1.5"},
    )
    prepared = prepare(config)
    model = build_model(prepared.config, torch.device("cpu")).eval()
    segmenter = prepared.segmenters["eval"]
    rng = np.random.default_rng(0)
    vocab = prepared.config.model.vocab_size
    prompts = [rng.integers(0, vocab, size=k) for k in (3, 7, 1, 9)]
    runs = []
    padded = torch.from_numpy(pad_rows(prompts, left=True)[0])  # (B, 9)
    lengths = torch.tensor([len(p) for p in prompts])
    for eos in (None, int(rng.integers(0, vocab))):
        with torch.no_grad():
            cached = _decode_fn(model, prepared.config, 1, torch.device("cpu"), segmenter)(
                prompts, 10, eos
            )
            slow = model.generate(
                padded,
                10,
                eos=eos,
                prompt_lengths=lengths,
                use_cache=False,
                positions=segmentation_positions(prepared.config, 1, segmenter),
            )[:, 9:].numpy()
        assert np.array_equal(cached, slow)
        runs.append(cached)
    seg, _ = entropy_positions(np.concatenate([prompts[3], runs[0][3]]), segmenter)
    assert seg[-1] > seg[len(prompts[3]) - 1]  # segments were closed while decoding


@pytest.mark.parametrize("task", sorted(TASKS))
def test_every_task_prepares_with_entropy_segmentation(tmp_path, task):
    config = build_config(
        "tiny",
        task=task,
        pe="bipe_rope",
        out=str(tmp_path / "r"),
        overrides={"data.n_train": "48", **ENTROPY},
    )
    prepared = prepare(config)
    check_feasible(prepared, [1])
    segmenter = prepared.segmenters["train"]
    for tokens, (seg, intra) in zip(prepared.train.inputs, prepared.positions, strict=True):
        want = entropy_positions(tokens, segmenter)
        assert np.array_equal(seg, want[0]) and np.array_equal(intra, want[1])


def test_arithmetic_chains_decode_under_entropy_segmentation(tmp_path):
    config = build_config(
        "tiny",
        task="arith",
        pe="bipe_alibi",
        out=str(tmp_path / "a"),
        overrides={"train.steps": "6", "data.n_train": "64", "data.n_eval": "4", **ENTROPY},
    )
    train(config, progress=False)
    rows = json.loads((tmp_path / "a" / "eval.json").read_text())["per_length"]
    assert [r["n"] for r in rows] == [4, 4, 4]
    assert all(0.0 <= r["chain_accuracy"] <= 1.0 for r in rows)


def test_streaming_entropy_positions_advance_one_token_per_call(tmp_path):
    from bipe.experiments.online_decode import EntropyPositions

    config = build_config(
        "tiny",
        task="binfa_lm",
        out=str(tmp_path / "r"),
        overrides={"data.n_train": "32", **ENTROPY},
    )
    segmenter = prepare(config).segmenters["train"]
    tokens = torch.tensor([[0, 1, 2, 0, 1], [9, 9, 0, 2, 1]])  # row 1: 3 tokens, left-padded
    lengths = torch.tensor([5, 3])
    source = EntropyPositions(segmenter)
    first = source(tokens, lengths)
    grown = source(torch.cat([tokens, tokens[:, :1]], dim=1), lengths + 1)
    want = entropy_positions(np.array([0, 1, 2, 0, 1, 0]), segmenter)
    assert grown.seg[0].tolist() == want[0].tolist() and grown.intra[0].tolist() == want[1].tolist()
    assert first.index[1].tolist() == [0, 0, 0, 1, 2] and grown.index[1, -1] == 3
    with pytest.raises(ValueError, match="one token per call"):
        source(tokens, lengths)
