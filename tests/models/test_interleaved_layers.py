"""Interleaved layers (``models/layers.py``): the layer pattern, the sliding window, the
global layers' encoding and their log-length query scaling. The per-entry suites run on
pattern variants through ``model_helpers.VARIANTS``."""

from __future__ import annotations

import math

import pytest
import torch
from model_helpers import tiny_config, tiny_model, tokens

from bipe.models import Transformer
from bipe.models.layers import layer_kinds, log_length_scale, windowed


def test_layer_kinds_repeat_the_pattern():
    assert layer_kinds("", 3) == ("L", "L", "L")
    assert layer_kinds("LLLG", 6) == ("L", "L", "L", "G", "L", "L")
    assert layer_kinds("G", 2) == ("G", "G")


def test_window_mask_equals_the_loop():
    allowed = torch.ones(1, 1, 4, 9, dtype=torch.bool).tril(5)  # queries at slots 5..8
    got = windowed(allowed, 5, 3)
    for i in range(4):
        for j in range(9):
            assert bool(got[0, 0, i, j]) == (j <= 5 + i and 5 + i - j < 3)
    assert windowed(allowed, 5, None) is allowed


def test_log_length_scale_formula():
    p = torch.tensor([[0, 3, 4, 15, 99]])
    want = [max(1.0, math.log(x + 1) / math.log(4)) for x in p[0].tolist()]
    assert torch.allclose(log_length_scale(p, 4)[0], torch.tensor(want))


def test_local_layers_attend_within_the_window_and_global_layers_everywhere():
    model = tiny_model("rope", layer_pattern="LG", window=3)
    maps = model.attention_maps(tokens(0, batch=2, length=10))
    i, j = torch.arange(10)[:, None], torch.arange(10)[None, :]
    outside = (i - j >= 3) & (j <= i)
    assert (maps[0][..., outside] == 0).all()  # local: banded
    assert (maps[1][..., outside] > 0).all()  # global (NoPE, full causal): every key


def test_a_window_longer_than_the_input_changes_nothing_and_a_short_one_does():
    x = tokens(1, length=12)
    full = tiny_model("bipe_rope")(x)
    assert torch.equal(tiny_model("bipe_rope", window=12)(x), full)
    assert not torch.allclose(tiny_model("bipe_rope", window=2)(x), full)


def test_global_layers_use_global_pe_and_scale_only_past_the_training_length():
    x = tokens(2, length=16)
    plain = tiny_model("rope", layer_pattern="LG")
    assert plain.global_encoding is not None and plain.layer_kinds == ("L", "G")
    assert type(plain.global_encoding).__name__ == "Encoding"  # nope
    within = tiny_model("rope", layer_pattern="LG", global_log_scale_len=16)
    assert torch.equal(within(x), plain(x))  # log(p + 1) / log(16) <= 1 for p < 16
    past = tiny_model("rope", layer_pattern="LG", global_log_scale_len=4)
    assert torch.equal(past(x)[:, :3], plain(x)[:, :3])  # p + 1 <= 4: factor 1
    assert not torch.allclose(past(x)[:, 3:], plain(x)[:, 3:])
    seg = tiny_model("intra_rope", layer_pattern="LG", global_pe="seg_rope")
    assert seg.global_encoding.source == "seg" and seg.encoding.source == "intra"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"layer_pattern": "LX"}, "layer_pattern must be a string of L"),
        ({"window": 0}, "window must be a positive int"),
        ({"global_pe": "seg_rope"}, "has no G"),
        ({"layer_pattern": "LG", "global_log_scale_len": 1}, ">= 2"),
        ({"layer_pattern": "LG", "global_pe": "fox"}, "unknown global_pe"),
    ],
)
def test_layer_options_are_validated(kwargs, message):
    with pytest.raises(ValueError, match=message):
        tiny_config("rope", **kwargs)


def test_content_encodings_refuse_global_layers():
    with pytest.raises(ValueError, match="per-layer modules"):
        Transformer(tiny_config("pope", layer_pattern="LG"))


def test_llama_export_refuses_interleaved_layers():
    pytest.importorskip("transformers")
    from bipe.models import to_hf_llama

    for kwargs in ({"layer_pattern": "LG"}, {"window": 4}):
        with pytest.raises(ValueError, match="cannot express"):
            to_hf_llama(Transformer(tiny_config("rope", **kwargs)))


def test_content_hooks_see_every_earlier_token_and_the_window_masks_their_term():
    """PaTH under a window: a key inside the window is transformed by every token between it
    and the query (all inside the window), so the windowed model equals the full model with
    the far keys masked; in particular a window as long as the input changes nothing."""
    x = tokens(3, length=12)
    full = tiny_model("path")
    assert torch.equal(tiny_model("path", window=12)(x), full(x))
    maps = tiny_model("path", window=3).attention_maps(x)
    i, j = torch.arange(12)[:, None], torch.arange(12)[None, :]
    assert all((m[..., (i - j >= 3) & (j <= i)] == 0).all() for m in maps)
    # layer 0 sees the same input: its windowed weights are the full ones renormalised
    inside = ((i - j < 3) & (j <= i)).to(torch.float64)
    ref = full.attention_maps(x)[0] * inside
    assert torch.allclose(maps[0], ref / ref.sum(-1, keepdim=True), atol=1e-12)
