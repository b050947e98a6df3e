"""``bipe train`` end to end on the text tasks (``--preset tiny``, CPU, seconds), the run-folder
files they write (manifest, tokenizer), ``bipe report``'s passkey heatmap, and their errors."""

from __future__ import annotations

import json

import pytest

from bipe.experiments.cli import main


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("text") / "src"
    root.mkdir()
    for i in range(60):
        body = "".join(f"    y{j} = x + {i * j}  # step {j}\n" for j in range(i % 7 + 12))
        (root / f"m{i:02d}.py").write_text(f"def f{i}(x):\n{body}    return y0\n\n\nz = {i}\n")
    return root


def _train(tmp_path, name, *args):
    out = tmp_path / name
    assert main(["train", "--preset", "tiny", "--out", str(out), "--no-progress", *args]) == 0
    return out, json.loads((out / "eval.json").read_text())


def test_text_lm_tiny_on_the_stdlib(tmp_path):
    out, ev = _train(tmp_path, "lm", "--task", "text_lm", "--pe", "bipe_rope")
    context = json.loads((out / "config.json").read_text())["data"]["context"]
    assert set(ev) == {"task", "pe", "train_range", "per_length", "summary"}
    assert ev["train_range"] == [context, context]
    assert [r["length"] for r in ev["per_length"]][:2] == [context, 2 * context]
    row = ev["per_length"][1]
    assert {
        "accuracy",
        "loss",
        "perplexity",
        "bits_per_byte",
        "loss_by_position",
        "loss_by_segment",
    } <= set(row)
    assert len(row["loss_by_position"]) == 2 and row["bits_per_byte"] == pytest.approx(
        row["loss"] / 0.6931471805599453
    )  # bytes: one byte per token
    assert set(ev["summary"]["above_train"]) >= {"loss", "bits_per_byte"}
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["train"]["n_documents"] > 100 and not (out / "tokenizer.json").exists()


def test_text_lm_runs_are_deterministic_and_learn(tmp_path, corpus):
    args = [
        "--task",
        "text_lm",
        "--data.corpus",
        "files",
        "--data.files",
        str(corpus),
        "--data.validation",
        "0.3",
        "--data.test",
        "0.1",
    ]
    _, a = _train(tmp_path, "a", *args)
    _, b = _train(tmp_path, "b", *args)
    _, c = _train(tmp_path, "c", *args, "--data_seed", "1")
    assert a == b and a != c
    assert (tmp_path / "a" / "manifest.json").read_text() == (
        tmp_path / "c" / "manifest.json"
    ).read_text()  # the split ignores the seed
    losses = [
        json.loads(line)["loss"]
        for line in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()
    ]
    assert losses[-1] < losses[0] - 1.0  # from ~ln(258) = 5.5 nats towards the corpus' entropy


def test_bpe_hbipe_and_sliding(tmp_path, corpus):
    out, ev = _train(
        tmp_path,
        "bpe",
        "--task",
        "text_lm",
        "--data.corpus",
        "files",
        "--data.files",
        str(corpus),
        "--data.tokenizer",
        "bpe",
        "--data.bpe_vocab",
        "300",
        "--data.separator_rule",
        "auto_levels",
        "--pe",
        "hbipe",
        "--data.protocol",
        "sliding",
        "--data.stride",
        "8",
        "--data.validation",
        "0.3",
        "--data.test",
        "0.1",
    )
    config = json.loads((out / "config.json").read_text())
    assert config["model"]["vocab_size"] == 300 and len(config["model"]["separators"]) == 2
    assert (out / "tokenizer.json").exists()
    assert all(r["bits_per_byte"] < r["loss"] / 0.69 for r in ev["per_length"])  # > 1 B/token


def test_passkey_tiny_and_report_heatmap(tmp_path):
    out, ev = _train(tmp_path, "pk", "--task", "passkey", "--pe", "rope")
    row = ev["per_length"][0]
    assert [d["depth"] for d in row["by_depth"]] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert 0.0 <= row["accuracy"] <= 1.0
    assert main(["report", str(out), "--out", str(tmp_path / "rep")]) == 0
    assert (tmp_path / "rep" / "passkey_accuracy_by_depth.png").exists()
    assert "Accuracy by depth" in (tmp_path / "rep" / "report.md").read_text()


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--data.corpus", "gutenberg"], "unknown corpus"),
        (["--data.corpus", "files", "--data.files", "/no/such/dir"], "does not exist"),
        (["--data.separator_rule", "commas"], "unknown separator rule"),
        (["--pe", "hbipe"], "multi-level"),
        (["--data.protocol", "strided"], "chunks, sliding"),
        (["--data.tokenizer", "nope.json"], "tokenizer.json"),
    ],
)
def test_bad_text_settings_are_one_line_errors(tmp_path, capsys, args, needle):
    out = tmp_path / "bad"
    assert main(["train", "--preset", "tiny", "--task", "text_lm", "--out", str(out), *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and needle in err
    assert not out.exists()


def test_cpu_text_is_the_calibration_shape():
    from bipe.experiments.presets import build_config

    c = build_config("cpu_text", pe="bipe_rope")
    assert (c.task, c.data.corpus, c.data.tokenizer) == ("text_lm", "stdlib", "bytes")
    assert (c.model.n_layers, c.model.d_model, c.model.n_heads) == (4, 128, 4)
    assert (c.train.steps, c.train.batch_size, c.data.context) == (800, 32, 128)
    assert max(c.data.eval_lengths) == 8 * c.data.context
    assert c.model.separators == (10, 256)  # newline and <eod>: the stdlib is code
