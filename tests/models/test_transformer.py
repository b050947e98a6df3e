"""The Transformer across every registry entry: positions, invariance, causality, cached
decoding, attention maps; plus the BiPE special cases."""

from __future__ import annotations

from functools import cache

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from model_helpers import (
    SEP,
    VARIANT_IDS,
    VARIANTS,
    VOCAB,
    tiny_config,
    tiny_model,
    tokens,
)

from bipe.models import ModelConfig, Positions, Transformer, generate
from bipe.models.transformer import KVCache
from bipe.testing import reference_positions

each_variant = pytest.mark.parametrize(("pe", "extra"), VARIANTS, ids=VARIANT_IDS)

# The stream each relative encoding must ignore a uniform shift of (checked against the
# declared invariant_streams so the invariance test can never be vacuous).
RELATIVE_STREAM = {
    "rope": "index",
    "alibi": "index",
    "xpos": "index",
    "t5": "index",
    "randomized_rope": "index",
    "bipe_rope": "seg",
    "bipe_alibi": "seg",
    "bipe": "seg",
    "hbipe": "seg",
    "resonance_rope": "index",
    "p_rope": "index",
    "hirope": "seg",
    "cope": "index",
    "fox": "index",
    "bipe_cope": "seg",
    "pope": "index",
    "bipe_pope": "seg",
    "path": "index",
    "bipe_path": "seg",
    "rfs_rope": "index",
    "rfs_alibi": "index",
    "bipe_rfs_rope": "seg",
    "bipe_rfs_alibi": "seg",
    "intra_rope": "intra",
    "seg_rope": "seg",
}
ABSOLUTE_STREAM = {
    "sinusoidal": "index",
    "learned": "index",
    "fire": "index",
    "bipe_rope": "intra",
    "bipe_alibi": "intra",
    "bipe": "intra",
    "hbipe": "intra",
    "bipe_cope": "intra",
    "bipe_pope": "intra",
    "bipe_path": "intra",
    "rfs_sinusoidal": "index",
    "bipe_rfs_rope": "intra",
    "bipe_rfs_alibi": "intra",
}


@each_variant
def test_explicit_default_positions_equal_implicit(pe, extra):
    model = tiny_model(pe, **extra)
    x = tokens(0)
    B, T = x.shape
    seps = set(model.config.level_separators()[0]) | {
        s for lv in model.config.level_separators() for s in lv
    }
    ref = [reference_positions(row, seps) for row in x.tolist()]
    seg = torch.tensor([r[0] for r in ref])
    intra = torch.tensor([r[1] for r in ref])
    outer = ()
    if pe == "hbipe":
        outer = (torch.tensor([reference_positions(row, {11})[0] for row in x.tolist()]),)
    explicit = Positions(torch.arange(T).repeat(B, 1), seg, intra, outer)
    assert torch.equal(model(x), model(x, positions=explicit))


@each_variant
def test_shift_invariance(pe, extra):
    model = tiny_model(pe, **extra)
    x = tokens(1)
    pos = model.positions(x)
    base = model(x, positions=pos)
    invariant = model.invariant_streams
    absolute_scale = extra.get("bipe_inter") == "fire" or any(
        k in extra for k in ("log_scale", "global_log_scale_len")
    )  # query-scaled by an absolute position
    if pe in RELATIVE_STREAM and not absolute_scale:
        assert RELATIVE_STREAM[pe] in invariant
    if "log_scale" in extra or "global_log_scale_len" in extra:
        assert RELATIVE_STREAM[pe] not in invariant
    if pe in ABSOLUTE_STREAM:
        assert ABSOLUTE_STREAM[pe] not in invariant
    for stream in invariant:
        if stream == "outer" and not pos.outer:
            continue
        shifted = model(x, positions=pos.shifted(stream, 7))
        assert torch.allclose(shifted, base, atol=1e-9), stream
    if pe in ABSOLUTE_STREAM:  # the test has teeth: absolute streams do matter
        moved = model(x, positions=pos.shifted(ABSOLUTE_STREAM[pe], 3))
        assert not torch.allclose(moved, base)


@each_variant
def test_causality(pe, extra):
    model = tiny_model(pe, **extra)
    x = tokens(2)
    base = model(x)
    for t in (0, 7, 19):
        changed = x.clone()
        changed[:, t] = (changed[:, t] + 1) % VOCAB  # may turn a token into a separator
        out = model(changed)
        assert torch.equal(out[:, :t], base[:, :t])
        assert not torch.allclose(out[:, t], base[:, t])


@each_variant
def test_cached_step_logits_equal_full_forward(pe, extra):
    model = tiny_model(pe, **extra)
    x = tokens(3, length=16)
    full = model(x)
    pos = model.positions(x)
    cache = KVCache.empty(
        model.config, 3, 16, len(pos.outer), x.device, torch.float64, model.encoding.key_state_width
    )
    with torch.no_grad():
        got = [model.run(x[:, :6], pos.select(0, 6), cache=cache, start=0)]
        got += [
            model.run(x[:, t : t + 1], pos.select(t, t + 1), cache=cache, start=t)
            for t in range(6, 16)
        ]
    assert torch.allclose(torch.cat(got, dim=1), full, atol=1e-10)


@each_variant
def test_generate_equals_recomputation(pe, extra):
    model = tiny_model(pe, **extra)
    prompt = tokens(4, batch=3, length=6)
    greedy = model.generate(prompt, 10)
    assert torch.equal(greedy, model.generate(prompt, 10, use_cache=False))
    assert torch.equal(greedy[:, :6], prompt)
    assert torch.equal(model(greedy)[:, 5:-1].argmax(-1), greedy[:, 6:])
    sampled = [
        generate(
            model,
            prompt,
            6,
            temperature=1.5,
            top_k=5,
            generator=torch.Generator().manual_seed(9),
            use_cache=c,
        )
        for c in (True, False)
    ]
    assert torch.equal(sampled[0], sampled[1])


@each_variant
def test_generate_left_padded_rows_match_unpadded(pe, extra):
    model = tiny_model(pe, **extra)
    prompt = tokens(5, batch=3, length=7)
    lengths = torch.tensor([7, 3, 5])
    out = model.generate(prompt, 6, prompt_lengths=lengths)
    assert torch.equal(out, model.generate(prompt, 6, prompt_lengths=lengths, use_cache=False))
    for b in range(3):
        alone = model.generate(prompt[b : b + 1, 7 - int(lengths[b]) :], 6)
        assert torch.equal(out[b, 7:], alone[0, int(lengths[b]) :])


@each_variant
def test_attention_maps(pe, extra):
    model = tiny_model(pe, **extra)
    x = tokens(6, batch=2, length=10)
    kept: list[torch.Tensor] = []
    assert torch.allclose(model.run(x, keep_weights=kept), model(x), atol=1e-10)
    maps = model.attention_maps(x)
    assert len(maps) == 2 and all(m.shape == (2, 4, 10, 10) for m in maps)
    for m in maps:
        assert torch.allclose(m.sum(-1), torch.ones(2, 4, 10, dtype=m.dtype))
        assert (m.triu(1) == 0).all()


@each_variant
def test_training_step_reaches_every_parameter(pe, extra):
    model = tiny_model(pe, dtype=torch.float32, **extra).train()
    x = tokens(7, batch=4, length=12)
    loss = torch.nn.functional.cross_entropy(
        model(x, generator=torch.Generator().manual_seed(0)).flatten(0, 1), x.flatten()
    )
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing


def test_bipe_rope_with_one_token_segments_equals_rope():
    every = tuple(range(VOCAB))  # every token a separator: seg = index, intra = 0
    bipe = tiny_model("bipe_rope", separators=every)
    rope = tiny_model("rope", seed=1)
    state = {k: v for k, v in bipe.state_dict().items() if not k.startswith("encoding")}
    state["embed.weight"] = state["embed.weight"] + bipe.encoding.parts[0].table.weight[0]
    rope.load_state_dict(state)
    x = tokens(8)
    pos = bipe.positions(x)
    assert torch.equal(pos.seg, pos.index) and (pos.intra == 0).all()
    assert torch.allclose(bipe(x), rope(x), atol=1e-12)
    assert torch.equal(bipe.generate(x[:, :4], 8), rope.generate(x[:, :4], 8))


def test_randomized_rope_training_is_seeded():
    model = tiny_model("randomized_rope").train()
    x = tokens(9)
    a = model(x, generator=torch.Generator().manual_seed(1))
    b = model(x, generator=torch.Generator().manual_seed(1))
    c = model(x, generator=torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and not torch.allclose(a, c)
    assert not torch.allclose(model.eval()(x), a)


@pytest.mark.parametrize("pe", ["bipe_rope", "bipe_alibi"])
def test_intra_trained_rows_are_recorded(pe):
    model = tiny_model(pe).train()
    x = tokens(10, length=12)
    model(x)
    assert int(model.encoding.parts[0].n_trained) == int(model.positions(x).intra.max()) + 1
    assert (x == SEP).any()


def test_tied_embeddings_and_config_kept():
    cfg = ModelConfig(VOCAB, 32, 1, 4, tie_embeddings=True)
    model = Transformer(cfg)
    assert model.head.weight is model.embed.weight and model.config is cfg


def test_explicit_positions_are_checked():
    model = tiny_model("hbipe")
    x = tokens(11)
    pos = model.positions(x)
    with pytest.raises(ValueError, match="needs positions.outer with 1 level"):
        model(x, Positions(pos.index, pos.seg, pos.intra))
    with pytest.raises(ValueError, match=r"positions.seg has shape \(3, 19\)"):
        model(x, Positions(pos.index, pos.seg[:, 1:], pos.intra, pos.outer))


@cache
def _variant_model(i: int):
    pe, extra = VARIANTS[i]
    return tiny_model(pe, seed=i, **extra)


@given(st.integers(0, len(VARIANTS) - 1), st.integers(0, 2**16), st.integers(1, 30), st.data())
def test_cached_decoding_property(i, seed, length, data):
    """Any prefix split: prefill then one token at a time equals the full forward."""
    model = _variant_model(i)
    split = data.draw(st.integers(1, length))
    x = tokens(seed, batch=2, length=length)
    full = model(x)
    pos = model.positions(x)
    cache_ = KVCache.empty(
        model.config,
        2,
        length,
        len(pos.outer),
        x.device,
        torch.float64,
        model.encoding.key_state_width,
    )
    with torch.no_grad():
        got = [model.run(x[:, :split], pos.select(0, split), cache=cache_, start=0)]
        got += [
            model.run(x[:, t : t + 1], pos.select(t, t + 1), cache=cache_, start=t)
            for t in range(split, length)
        ]
    assert torch.allclose(torch.cat(got, dim=1), full, atol=1e-10)


@pytest.mark.parametrize("pe", ["rope", "bipe_alibi"])
def test_loss_falls_on_a_counting_task(pe):
    """Next token = previous + 1 (mod 10), separators every few tokens: learnable quickly."""
    torch.manual_seed(0)
    model = Transformer(ModelConfig(VOCAB, 32, 2, 4, pe=pe, separators=(SEP,), max_intra=32))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(120):
        start = torch.randint(0, 10, (16, 1), generator=g)
        x = (start + torch.arange(24)) % 10  # (16, 24)
        x = torch.where(torch.arange(24) % 6 == 5, torch.full_like(x, SEP), x)
        logits = model(x[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), x[:, 1:].flatten())
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert sum(losses[-10:]) / 10 < 0.25 * sum(losses[:10]) / 10


@pytest.mark.parametrize(
    "pe", ["rope", "bipe_alibi", "t5", "cope", "fox", "bipe_cope", "pope", "bipe_path"]
)
def test_bfloat16_compute_is_close_to_float32(pe):
    full = tiny_model(pe, dtype=torch.float32)
    half = Transformer(tiny_config(pe, compute_dtype="bfloat16")).eval()
    half.load_state_dict(full.state_dict())
    x = tokens(12)
    ref, got = full(x), half(x)
    assert got.dtype == torch.float32
    assert (got - ref).abs().max() < 0.05 * ref.abs().max()
    out = half.generate(x[:, :5], 6)
    assert out.shape == (3, 11) and torch.equal(out[:, :5], x[:, :5])
    half.train()
    loss = torch.nn.functional.cross_entropy(half(x).flatten(0, 1), x.flatten())
    loss.backward()
    assert all(p.grad is not None and p.grad.dtype == torch.float32 for p in half.parameters())


def test_length_limits_and_overflow_policies_at_model_level():
    learned = tiny_model("learned", max_len=16)
    with pytest.raises(ValueError, match="index position 16 is past the learned table's 16"):
        learned(tokens(13, length=17))
    strict = tiny_model("bipe_rope", intra_overflow="error").train()
    short = torch.full((2, 6), 3)  # one segment, intra 0..5
    strict(short)
    strict.eval()
    assert strict(short).shape == (2, 6, VOCAB)
    with pytest.raises(ValueError, match="intra position 6 is past the learned table's 6 trained"):
        strict(torch.full((2, 7), 3))
    clamped = tiny_model("bipe_rope", intra_overflow="clamp").train()
    clamped(short)
    clamped.eval()
    longer = torch.full((1, 9), 3)
    assert torch.allclose(clamped(longer)[:, :6], clamped(short[:1]))


@pytest.mark.parametrize("pe", ["bipe_rope", "bipe_alibi"])
def test_generate_with_external_positions(pe):
    """``positions``: the separator rule supplied from outside gives the model's own tokens; a
    causal rule of its own (segments of 2 tokens) gives the same tokens cached and recomputed,
    and different ones from the separator rule."""
    from bipe.models.positions import left_padded_positions

    model = tiny_model(pe)
    prompt = tokens(5, batch=3, length=7)
    lengths = torch.tensor([7, 3, 5])
    seps = model.config.level_separators()

    def own(x, n):
        return left_padded_positions(x, n, seps)

    widths = []

    def pairs(x, n):
        widths.append(x.shape[1])
        assert torch.equal(n, lengths + x.shape[1] - 7)
        index = (torch.arange(x.shape[1])[None, :] - (x.shape[1] - n)[:, None]).clamp_min(0)
        return Positions(index, index // 2, index % 2)

    out = model.generate(prompt, 6, prompt_lengths=lengths)
    assert torch.equal(out, model.generate(prompt, 6, prompt_lengths=lengths, positions=own))
    paired = model.generate(prompt, 6, prompt_lengths=lengths, positions=pairs)
    assert widths == [7, 8, 9, 10, 11, 12]  # the prompt, then one token longer per step
    assert torch.equal(
        paired, model.generate(prompt, 6, prompt_lengths=lengths, positions=pairs, use_cache=False)
    )
