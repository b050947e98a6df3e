"""Input that used to be accepted without effect, or to hang, is refused with one line (exit 2,
nothing written) or takes effect: corpus options of another corpus, non-finite floats, length
laws too long to tabulate, partial config files, devices the machine lacks, single-file
corpora, and a sweep whose runs all fail alike."""

import argparse
import dataclasses
import json

import pytest
import torch

from bipe.experiments.cli import main
from bipe.experiments.commands.sweep import failure_lines
from bipe.experiments.commands.train import config_from_args
from bipe.experiments.config import check_finite
from bipe.experiments.presets import build_config
from bipe.synthetic.text.corpus import BLOCK_RULE, HASH_RULE, Document, manifest, split_documents

TINY = ["--preset", "tiny", "--train.steps", "2", "--train.n_threads", "1"]


def _refused(capsys, argv, *words):
    """``bipe ARGV`` exits 2 with one stderr line holding ``words``."""
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    for word in words:
        assert word in err, err
    return err


def test_files_without_the_files_corpus_is_refused(capsys, tmp_path):
    book = tmp_path / "my.txt"
    book.write_text("some text\n" * 50)
    argv = ["train", "--task", "text_lm", *TINY, "--data.files", str(book)]
    _refused(capsys, [*argv, "--out", str(tmp_path / "run")], "data.files", "data.corpus files")
    assert not (tmp_path / "run").exists()
    with pytest.raises(ValueError, match="data.hf_split"):
        build_config("tiny", task="text_lm", overrides={"data.hf_split": "test"})


@pytest.mark.parametrize(
    ("key", "value"),
    [("train.lr", "inf"), ("train.grad_clip", "inf"), ("train.weight_decay", "nan")],
)
def test_non_finite_floats_are_refused(capsys, tmp_path, key, value):
    out = tmp_path / "run"
    _refused(capsys, ["train", *TINY, f"--{key}", value, "--out", str(out)], key)
    assert not out.exists()


def test_non_finite_floats_in_tuples_and_model_are_refused():
    @dataclasses.dataclass(frozen=True)
    class Section:
        depths: tuple[float, ...] = (0.0, 1.0)

    @dataclasses.dataclass(frozen=True)
    class Outer:
        data: Section

    check_finite(Outer(Section()))
    with pytest.raises(ValueError, match="data.depths must be finite"):
        check_finite(Outer(Section((0.5, float("nan")))))
    with pytest.raises(ValueError, match="model.rope_scaling_factor must be finite"):
        build_config("tiny", overrides={"model.rope_scaling_factor": "inf"})


def test_training_applies_the_size_check_to_length_laws(capsys, tmp_path):
    """Tabulating a sampler for 200000 sentences per paragraph took minutes; the law is
    refused as ``bipe gen`` refuses it, before any work."""
    with pytest.raises(ValueError, match="sub_segments uniform:100000:200000 draws up to"):
        build_config(
            "tiny", task="binfa3_lm", overrides={"data.sub_segments": "uniform:100000:200000"}
        )
    argv = ["train", "--task", "binfa3_lm", "--pe", "hbipe", *TINY]
    argv += ["--data.sub_segments", "uniform:100000:200000", "--out", str(tmp_path / "r")]
    _refused(capsys, argv, "sub_segments")
    gen = ["gen", "binfa3", "--data.n_train", "10", "--sub-segments", "uniform:100000:200000"]
    _refused(capsys, [*gen, "--out", str(tmp_path / "g")], "sub_segments")
    assert not (tmp_path / "r").exists() and not (tmp_path / "g").exists()


def test_partial_config_is_filled_from_the_preset(tmp_path):
    """``bipe train --config`` with only task and model.pe ended in a TypeError."""
    path = tmp_path / "partial.json"
    path.write_text(json.dumps({"task": "binfa_lm", "model": {"pe": "alibi"}}))
    args = argparse.Namespace(config=str(path), preset=None, task=None, pe=None, out="r")
    config = config_from_args(args)
    assert config == build_config("tiny", task="binfa_lm", pe="alibi", out="r")


def test_partial_config_takes_the_named_preset(tmp_path):
    from bipe.experiments.presets import PRESETS

    base = {"task": "arith", "model": {"pe": "rope"}}
    config = build_config("demo", base=base)
    assert config.model.d_model == PRESETS["demo"]["model"]["d_model"]
    assert config.model.pe == "rope"


@pytest.mark.parametrize("device", ["cuda", "cuda:1", "mps"])
def test_missing_device_is_refused_before_anything_is_written(
    capsys, tmp_path, monkeypatch, device
):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    out = tmp_path / "run"
    argv = ["train", *TINY, "--train.device", device, "--out", str(out)]
    err = _refused(capsys, argv, f"train.device={device}", "this machine has no such device")
    assert err.endswith("it has cpu")
    assert not out.exists()
    sweep = ["sweep", "--preset", "tiny", "--grid", "pe=rope,alibi", "--set"]
    _refused(capsys, [*sweep, f"train.device={device}", "--out", str(out)], "it has cpu")
    assert not out.exists()


def test_one_document_is_split_into_contiguous_blocks():
    text = "".join(f"line {i}\n" for i in range(1000))
    splits = split_documents([Document("book.txt", text)], validation=0.1, test=0.05)
    assert "".join(splits[s][0].text for s in ("train", "validation", "test")) == text
    n = len(text)
    assert len(splits["train"][0].text) == int(n * 0.85)
    assert len(splits["test"][0].text) == n - int(n * 0.95)
    assert manifest(splits, BLOCK_RULE)["train"]["split_rule"] == BLOCK_RULE
    many = [Document(f"d{i}", text) for i in range(20)]
    assert manifest(split_documents(many, validation=0.2, test=0.2))["test"]["split_rule"] == (
        HASH_RULE
    )


def test_a_single_text_file_trains(tmp_path, capsys):
    book = tmp_path / "book.txt"
    book.write_text("".join(f"verse {i} of the book.\n" for i in range(400)))
    out = tmp_path / "run"
    argv = ["train", "--task", "text_lm", *TINY, "--data.corpus", "files"]
    argv += ["--data.files", str(book), "--data.context", "32", "--data.eval_tokens", "256"]
    assert main([*argv, "--train.evaluate_at_end", "false", "--out", str(out)]) == 0
    written = json.loads((out / "manifest.json").read_text())
    assert written["validation"]["split_rule"] == BLOCK_RULE
    assert written["train"]["documents"][0]["name"].endswith(f"{book.name}#train")


def test_a_sweep_says_a_shared_error_once():
    rows = [{"name": f"run{i}", "error": "data.files: no such file"} for i in range(5)]
    rows.append({"name": "other", "error": "out of memory"})
    lines = failure_lines(rows)
    assert lines == [
        "failed 5 runs (run0, run1, run2, ...): data.files: no such file",
        "failed other: out of memory",
    ]
