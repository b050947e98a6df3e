"""``bipe export-hf`` / ``bipe import-hf`` on run folders: the files, the model card, the
tokenizers, the round trip back to a run, bad input, and an export loaded and re-saved in a
fresh interpreter that has torch and transformers but cannot import bipe."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

pytest.importorskip("transformers", minversion="4.56")  # older loaders loop on cycles
pytest.importorskip("safetensors")
pytest.importorskip("tokenizers")

from bipe.experiments.cli import main
from bipe.experiments.hf_tokenizer import byte_tokenizer
from bipe.experiments.presets import build_config
from bipe.experiments.rundir import write_json_atomic, write_run_config
from bipe.models import Transformer, load, save
from bipe.synthetic.text.tokenizer import ByteTokenizer

TEXTS = ["héllo wörld, 日本語 🙂.\n\nNext paragraph!", "a\n\n\nb", "plain ascii ?", ""]


def _make_run(folder, task, pe, **overrides):
    """A run folder as training leaves it (config.json, model.pt, eval.json), untrained."""
    config = build_config("tiny", task=task, pe=pe, overrides=overrides, out=str(folder))
    torch.manual_seed(0)
    model = Transformer(config.model).eval()
    folder.mkdir(parents=True)
    write_run_config(folder, config, ["bipe", "train", "--task", task])
    save(model, folder / "model.pt")
    row = {"length": 3, "n": 16, "accuracy": 0.25}
    write_json_atomic(
        folder / "eval.json",
        {"task": task, "pe": pe, "train_range": [1, 2], "per_length": [row], "summary": {}},
    )
    return folder


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    arith = _make_run(root / "arith", "arith", "bipe_rope")
    text = _make_run(root / "text", "text_lm", "hbipe", **{"data.separator_rule": "paragraphs"})
    out = {}
    for name, run in (("arith", arith), ("text", text)):
        assert main(["export-hf", str(run), "--out", str(root / f"hf_{name}")]) == 0
        out[name] = (run, root / f"hf_{name}")
    return out


def test_export_writes_a_complete_folder_and_card(runs):
    run, hf = runs["arith"]
    names = {p.name for p in hf.iterdir()}
    assert {
        "config.json",
        "configuration_bipe.py",
        "modeling_bipe.py",
        "model.safetensors",
        "generation_config.json",
        "tokenizer.json",
        "README.md",
        "bipe_run",
    } <= names
    cfg = json.loads((hf / "config.json").read_text())
    assert cfg["model_type"] == "bipe" and set(cfg["auto_map"]) == {
        "AutoConfig",
        "AutoModelForCausalLM",
    }
    assert json.loads((hf / "generation_config.json").read_text())["eos_token_id"] == 2
    card = (hf / "README.md").read_text()
    assert "`bipe_rope` on `arith`" in card and "| 3 | 16 | 0.25 |" in card
    assert "'=' (id 9)" in card and "@inproceedings{he2024bipe" in card
    assert (hf / "bipe_run" / "config.json").read_bytes() == (run / "config.json").read_bytes()


def test_import_rebuilds_the_run_exactly(runs, tmp_path):
    run, hf = runs["text"]
    back = tmp_path / "back"
    assert main(["import-hf", str(hf), "--out", str(back)]) == 0
    a, b = load(run / "model.pt"), load(back / "model.pt")
    assert a.config == b.config
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert torch.equal(x, y), name
    for name in ("config.json", "eval.json"):
        assert (back / name).read_bytes() == (run / name).read_bytes()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["export-hf", "{tmp}/nothing", "--out", "{tmp}/o"], "not a run folder"),
        (["export-hf", "{run}", "--out", "{hf}"], "exists"),
        (["import-hf", "{run}", "--out", "{tmp}/o"], "not a Hugging Face model folder"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(runs, tmp_path, capsys, argv, message):
    run, hf = runs["arith"]
    argv = [a.format(tmp=tmp_path, run=run, hf=hf) for a in argv]
    before = sorted(p.name for p in hf.parent.iterdir())
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()
    assert sorted(p.name for p in hf.parent.iterdir()) == before


def test_byte_tokenizer_equals_bipe_byte_for_byte():
    for blank_lines in (False, True):
        ours, theirs = (
            byte_tokenizer(blank_lines=blank_lines),
            ByteTokenizer(blank_lines=blank_lines),
        )
        for text in TEXTS:
            ids = ours(text, add_special_tokens=False)["input_ids"]
            assert ids == theirs.encode(text).tolist()
            assert ours.decode(ids) == theirs.decode(ids) == text
        odd = [104, 195, 40, 255, 256, 10, 257, 98]  # invalid UTF-8, <eod>, <blank>
        assert ours.decode(odd, skip_special_tokens=True) == theirs.decode(odd)


FRESH = """
import json, sys
sys.path[:0] = {paths!r}
try:
    import bipe
except ImportError:
    pass
else:
    raise SystemExit("bipe is importable: " + bipe.__file__)
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
out = {{}}
for name, folder, prompt in {jobs!r}:
    tok = AutoTokenizer.from_pretrained(folder, trust_remote_code=True)
    model = AutoModelForCausalLM.from_pretrained(folder, trust_remote_code=True).eval()
    ids = tok(prompt, return_tensors="pt", add_special_tokens=False)["input_ids"]
    gen = model.generate(ids, max_new_tokens=12, do_sample=False)
    model.save_pretrained(folder + "_resaved")
    out[name] = {{
        "prompt": ids[0].tolist(),
        "tokens": gen[0].tolist(),
        "text": tok.decode(gen[0, ids.shape[1]:], skip_special_tokens=True),
    }}
    if name == "text":
        encoded = [tok(t, add_special_tokens=False)["input_ids"] for t in {texts!r}]
        out[name]["round_trip"] = [tok.decode(ids) for ids in encoded]
print(json.dumps(out))
"""


def test_fresh_interpreter_without_bipe_loads_generates_and_resaves(runs, tmp_path):
    jobs = [
        ("arith", str(runs["arith"][1]), "( 2 + 7 ) * 6 ="),
        ("text", str(runs["text"][1]), "Héllo\n\nwörld"),
    ]
    # this interpreter's paths (torch, transformers) except those holding bipe; -S skips the
    # site hooks, so an editable install of bipe is not found either
    paths = [p for p in sys.path if p and not (Path(p) / "bipe").exists()]
    script = FRESH.format(paths=paths, jobs=jobs, texts=TEXTS)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HF_HOME": str(tmp_path / "hf_home"),
        "HF_MODULES_CACHE": str(tmp_path / "modules"),
        "HF_HUB_OFFLINE": "1",
        "OMP_NUM_THREADS": "1",
    }
    empty = tmp_path / "cwd"
    empty.mkdir()
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", textwrap.dedent(script)],
        cwd=empty,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    for name, (run, hf) in runs.items():
        resaved = hf.parent / f"{hf.name}_resaved"
        assert {"config.json", "model.safetensors", "modeling_bipe.py", "bipe_rope.py"} <= {
            p.name for p in resaved.iterdir()
        }
        for path in resaved.iterdir():
            assert path.read_bytes() == (hf / path.name).read_bytes(), path.name
        model, got = load(run / "model.pt"), result[name]
        prompt = torch.tensor([got["prompt"]])
        eos = json.loads((hf / "generation_config.json").read_text()).get("eos_token_id")
        want = model.generate(prompt, 12, eos=eos)[0].tolist()
        assert got["tokens"] == want[: len(got["tokens"])]
    text = result["text"]
    assert text["text"] == ByteTokenizer(blank_lines=True).decode(
        text["tokens"][len(text["prompt"]) :]
    )
    assert text["round_trip"] == TEXTS
