"""Interop with transformers' LlamaForCausalLM (float32, atol 1e-5)."""

from __future__ import annotations

import pytest
import torch
from model_helpers import SEP, tiny_model, tokens

from bipe.models import from_hf_llama, to_hf_llama

pytest.importorskip("transformers")


@pytest.mark.parametrize("tie", [False, True])
@pytest.mark.parametrize("scaling", [{}, {"rope_scaling": "pi", "rope_scaling_factor": 2.0}])
def test_rope_equals_llama(tie, scaling):
    model = tiny_model("rope", dtype=torch.float32, tie_embeddings=tie, **scaling)
    llama = to_hf_llama(model)
    x = tokens(0, length=24)
    with torch.no_grad():
        ours, theirs = model(x), llama(input_ids=x).logits
    assert torch.allclose(ours, theirs, atol=1e-5)
    back = from_hf_llama(llama)
    fields = (
        "vocab_size",
        "d_model",
        "n_layers",
        "n_heads",
        "ff_width",
        "tie_embeddings",
        "norm_eps",
        "rope_base",
        "rope_scaling",
        "rope_scaling_factor",
        "pe",
    )
    assert [getattr(back.config, f) for f in fields] == [getattr(model.config, f) for f in fields]
    assert torch.equal(back.eval()(x), ours)


def test_bipe_rope_equals_llama_with_intra_table():
    model = tiny_model("bipe_rope", dtype=torch.float32)
    llama, intra_table = to_hf_llama(model)
    x = tokens(1, length=24)
    pos = model.positions(x)
    assert (x == SEP).any() and int(pos.seg.max()) > 2
    with torch.no_grad():
        embeds = llama.get_input_embeddings()(x) + intra_table(pos.intra)
        theirs = llama(inputs_embeds=embeds, position_ids=pos.seg).logits
        ours = model(x)
    assert torch.allclose(ours, theirs, atol=1e-5)
    back = from_hf_llama((llama, intra_table), separators=(SEP,))
    assert back.config.pe == "bipe_rope" and back.config.max_intra == 40
    assert torch.equal(back.eval()(x), ours)


def test_unsupported_models_are_rejected():
    with pytest.raises(ValueError, match="supports pe 'rope' and 'bipe_rope'"):
        to_hf_llama(tiny_model("alibi", dtype=torch.float32))
    model = tiny_model(
        "rope",
        dtype=torch.float32,
        rope_scaling="yarn",
        rope_scaling_factor=2.0,
        rope_original_len=16,
    )
    with pytest.raises(ValueError, match="rope_scaling"):
        to_hf_llama(model)


@pytest.mark.parametrize(
    ("pe", "extra"),
    [
        ("cope", {}),
        ("fox", {}),
        ("bipe_cope", {}),
        ("hirope", {}),
        ("resonance_rope", {}),
        ("p_rope", {}),
        ("rope", {"rope_variant": "resonance"}),
        ("bipe_rope", {"log_scale": "official", "log_scale_len": 16}),
        ("rope", {"pose_target_len": 128}),
    ],
)
def test_newer_encodings_are_refused_clearly(pe, extra):
    with pytest.raises(ValueError, match="supports pe 'rope' and 'bipe_rope'|cannot express"):
        to_hf_llama(tiny_model(pe, dtype=torch.float32, **extra))
