"""The Hugging Face export (``models/hf_export.py``): for every registry entry the exported model,
run by its own copied code, gives bipe's logits (float32, separators, inside and beyond the
training length, intra overflow) and bipe's greedy tokens, cached or not, padded or not."""

from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path

import pytest
import torch

pytest.importorskip("transformers", minversion="4.56")  # older loaders loop on cycles
pytest.importorskip("safetensors")

from bipe.models import Transformer
from bipe.models.hf_export import (
    load_exported_code,
    read_hf_folder,
    source_files,
    write_hf_folder,
)

from .model_helpers import SEP, VARIANT_IDS, VARIANTS, tiny_config, tiny_model, tokens

EXTRA = [("bipe_rope", {"intra_overflow": "sinusoidal"}), ("bipe_alibi", {"tie_embeddings": True})]
ALL_VARIANTS = VARIANTS + EXTRA
ALL_IDS = VARIANT_IDS + ["bipe_rope-sinusoidal-overflow", "bipe_alibi-tied"]
TRAINED_INTRA = 4  # rows of learned intra tables that count as trained: longer segments overflow
ATOL = 2e-5


def _model(pe: str, extra: dict) -> Transformer:
    model = tiny_model(pe, dtype=torch.float32, **extra)
    for module in model.modules():
        if hasattr(module, "n_trained") and getattr(module, "track_trained", False):
            module.n_trained.fill_(TRAINED_INTRA)
    return model


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """``(pe, extra) -> (bipe model, exported model)``, each exported once."""
    made = {}

    def get(index: int):
        if index not in made:
            pe, extra = ALL_VARIANTS[index]
            model = _model(pe, extra)
            out = tmp_path_factory.mktemp("hf") / "export"
            write_hf_folder(model, out, header="# test export\n")
            hf = load_exported_code(out).BipeForCausalLM.from_pretrained(out).eval()
            made[index] = model, hf, out
        return made[index]

    return get


@pytest.mark.parametrize("index", range(len(ALL_VARIANTS)), ids=ALL_IDS)
def test_logits_inside_and_beyond_training_length(exports, index):
    model, hf, _ = exports(index)
    for length in (12, 50):  # training rows of intra: 4, so both lengths overflow some segments
        x = tokens(index, batch=2, length=length)
        with torch.no_grad():
            want, got = model(x), hf(x).logits
        torch.testing.assert_close(got, want, atol=ATOL, rtol=0)


@pytest.mark.parametrize("index", range(len(ALL_VARIANTS)), ids=ALL_IDS)
def test_greedy_generate_equals_bipe_cached_or_not(exports, index):
    model, hf, _ = exports(index)
    prompt = tokens(100 + index, batch=2, length=7)
    want = model.generate(prompt, 14)
    for use_cache in (True, False):
        got = hf.generate(prompt, max_new_tokens=14, do_sample=False, use_cache=use_cache)
        assert torch.equal(got, want), f"use_cache={use_cache}"


@pytest.mark.parametrize("name", ["hbipe", "fox", "bipe_alibi"])
def test_beam_search_with_the_cache_equals_without(exports, name):
    _, hf, _ = exports(ALL_IDS.index(name))
    prompt = tokens(300, batch=2, length=6)
    runs = [
        hf.generate(prompt, max_new_tokens=8, num_beams=3, do_sample=False, use_cache=use_cache)
        for use_cache in (True, False)
    ]
    assert torch.equal(runs[0], runs[1])


@pytest.mark.parametrize("index", range(len(ALL_VARIANTS)), ids=ALL_IDS)
def test_left_padded_batch_equals_rows_one_by_one(exports, index):
    model, hf, _ = exports(index)
    rows = [tokens(200 + index, batch=1, length=n)[0] for n in (9, 4, 6)]
    T0 = max(len(r) for r in rows)
    batch = torch.zeros(len(rows), T0, dtype=torch.long)
    mask = torch.zeros(len(rows), T0, dtype=torch.long)
    for b, row in enumerate(rows):
        batch[b, T0 - len(row) :], mask[b, T0 - len(row) :] = row, 1
    got = hf.generate(batch, attention_mask=mask, max_new_tokens=10, do_sample=False)
    for b, row in enumerate(rows):
        alone = model.generate(row[None], 10)[0, len(row) :]
        assert torch.equal(got[b, T0:], alone), f"row {b}"
        with torch.no_grad():
            want = model(row[None])[0]
            padded = hf(batch[b : b + 1], attention_mask=mask[b : b + 1]).logits[0, T0 - len(row) :]
        torch.testing.assert_close(padded, want, atol=ATOL, rtol=0)


def test_cache_continues_positions_over_several_calls(exports):
    """Prefill, then chunks of 1 and 3 tokens against the cache, equals the full forward."""
    model, hf, _ = exports(ALL_IDS.index("hbipe"))
    x = tokens(7, batch=2, length=16)
    with torch.no_grad():
        want = model(x)
        first = hf(x[:, :8], use_cache=True)
        state = getattr(first, "cache", None) or first.past_key_values
        one = hf(x[:, 8:9], cache=state, past_key_values=state, use_cache=True)
        rest = hf(x[:, 9:], cache=state, past_key_values=state, use_cache=True)
    got = torch.cat([first.logits, one.logits, rest.logits], dim=1)
    torch.testing.assert_close(got, want, atol=ATOL, rtol=0)


def test_labels_give_the_shifted_loss_and_gradients(exports):
    model, hf, _ = exports(ALL_IDS.index("bipe_rope"))
    x = tokens(3, batch=2, length=10)
    labels = x.clone()
    labels[0, :3] = -100
    out = hf.train()(x, labels=labels)
    hf.eval()
    with torch.no_grad():
        logits = model(x)
    want = torch.nn.functional.cross_entropy(
        logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1), ignore_index=-100
    )
    torch.testing.assert_close(out.loss.detach(), want, atol=ATOL, rtol=0)
    out.loss.backward()
    assert hf.model.embed.weight.grad is not None
    hf.zero_grad()


def test_import_gives_the_exact_model_back(exports):
    model, _, out = exports(ALL_IDS.index("bipe_alibi-tied"))
    back = read_hf_folder(out)
    assert back.config == model.config
    for (name, a), (_, b) in zip(
        model.state_dict().items(), back.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name
    assert back.head.weight is back.embed.weight


def test_config_names_the_model_type_and_auto_map(exports):
    _, _, out = exports(0)
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["model_type"] == "bipe"
    assert cfg["auto_map"]["AutoModelForCausalLM"] == "modeling_bipe.BipeForCausalLM"
    assert cfg["bipe_model"]["separators"] == [SEP]


def _absolute_imports(text: str) -> set[str]:
    """Top-level packages ``text`` imports absolutely."""
    return {
        ((node.module or "") if isinstance(node, ast.ImportFrom) else a.name).split(".")[0]
        for node in ast.walk(ast.parse(text))
        if isinstance(node, (ast.Import, ast.ImportFrom)) and not getattr(node, "level", 0)
        for a in node.names
    }


def test_exported_code_never_imports_bipe():
    for name, text in source_files("# h\n").items():
        assert "bipe" not in _absolute_imports(text), name
        assert text.startswith("# h\n")


def test_existing_folder_is_refused_and_left_alone(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "keep").write_text("1")
    with pytest.raises(ValueError, match="exists"):
        write_hf_folder(_model("rope", {}), tmp_path / "x", header="")
    assert [p.name for p in tmp_path.iterdir()] == ["x"]
    assert [p.name for p in (tmp_path / "x").iterdir()] == ["keep"]


PLUGIN = Path(__file__).resolve().parents[1] / "fixtures" / "plugins" / "seg_decay.py"


def test_a_plugin_encoding_exports_with_its_source(tmp_path):
    plugin = tmp_path / "my_encodings.py"
    shutil.copy(PLUGIN, plugin)
    torch.manual_seed(0)
    model = Transformer(tiny_config(f"{plugin}:SEG_DECAY")).eval()
    x, prompt = tokens(5, batch=2, length=30), tokens(6, batch=2, length=6)
    with torch.no_grad():
        want_logits, want_tokens = model(x), model.generate(prompt, 8)
    out = tmp_path / "export"
    write_hf_folder(model, out, header="# test\n")
    plugin.unlink()  # the export needs only its own copy
    assert "bipe" not in _absolute_imports((out / "bipe_plugin.py").read_text())
    hf = load_exported_code(out).BipeForCausalLM.from_pretrained(out).eval()
    with torch.no_grad():
        torch.testing.assert_close(hf(x).logits, want_logits, atol=ATOL, rtol=0)
    assert torch.equal(hf.generate(prompt, max_new_tokens=8, do_sample=False), want_tokens)


def test_a_plugin_importing_other_packages_is_refused(tmp_path):
    plugin = tmp_path / "bad.py"
    plugin.write_text(
        PLUGIN.read_text().replace("import torch\n", "import torch\nimport numpy\n", 1)
    )
    torch.manual_seed(0)
    model = Transformer(tiny_config(f"{plugin}:SEG_DECAY")).eval()
    with pytest.raises(ValueError, match="imports numpy"):
        write_hf_folder(model, tmp_path / "export", header="")
    assert not (tmp_path / "export").exists()
