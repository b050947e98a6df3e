"""The content hook and the newer encodings against slow per-element references."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from model_helpers import ref_rotate, tiny_config, tiny_model, tokens

from bipe.models import ENCODINGS, ModelConfig, Positions, Transformer
from bipe.models.content import Cope, Fox, SegmentCope, cope_positions
from bipe.models.encoding import AttentionContext, Encoding, apply_rotation
from bipe.models.rope import HiRope, Rope
from bipe.models.rope_variants import log_scale_factor, pose_offsets, variant_frequencies
from bipe.models.transformer import KVCache, allowed_keys

NEW = ("cope", "fox", "bipe_cope", "hirope", "resonance_rope", "p_rope")
B, H, T, K, D, LAYERS = 2, 3, 7, 4, 6, 2


def _sig(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def _context(
    seed: int,
    layer: int = 1,
    seg: torch.Tensor | None = None,
    state=None,
    start: int = 0,
    n_new: int = T,
) -> AttentionContext:
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(B, H, n_new, K, generator=g, dtype=torch.float64) * 1.5
    k = torch.randn(B, H, start + n_new, K, generator=g, dtype=torch.float64) * 1.5
    h = torch.randn(B, n_new, D, generator=g, dtype=torch.float64)
    S = start + n_new
    seg = seg if seg is not None else torch.randint(0, 2, (B, S), generator=g).cumsum(1)
    k_pos = Positions(torch.arange(S).expand(B, S), seg, seg * 0)
    q_pos = k_pos.select(start, S)
    allowed = allowed_keys(n_new, start, None, q.device)
    return AttentionContext(layer, q, k, h, q_pos, k_pos, allowed, start, state)


def _interp(table: torch.Tensor, q: torch.Tensor, p: float) -> float:
    """q . e[p] with e linearly interpolated between its integer rows (columns of table)."""
    lo, hi = math.floor(p), math.ceil(p)
    w = p - lo
    return float(q @ table[:, lo]) * (1 - w) + float(q @ table[:, hi]) * w


@pytest.mark.parametrize("segmented", [False, True])
def test_cope_and_bipe_cope_match_loop(segmented):
    enc = (SegmentCope if segmented else Cope)(K, LAYERS, 5).double()
    torch.nn.init.normal_(enc.table)
    ctx = _context(0)
    got = enc.content(ctx).detach()
    seg = ctx.k_pos.seg
    for b in range(B):
        for h in range(H):
            for i in range(T):
                q = ctx.q[b, h, i]
                for j in range(T):
                    if j > i:
                        assert got[b, h, i, j] == float("-inf")
                        continue
                    if segmented:  # gates at separators t (seg_{t+1} > seg_t), j <= t < i
                        p = sum(
                            _sig(float(q @ ctx.k[b, h, t])) * float(seg[b, t + 1] - seg[b, t])
                            for t in range(j, i)
                        )
                    else:
                        p = sum(_sig(float(q @ ctx.k[b, h, t])) for t in range(j, i + 1))
                    want = _interp(enc.table[1].detach(), q, min(p, 4.0)) / math.sqrt(K)
                    assert math.isclose(float(got[b, h, i, j]), want, rel_tol=1e-9, abs_tol=1e-12)


def test_bipe_cope_with_saturated_gates_counts_segments():
    enc = SegmentCope(K, LAYERS, 50)
    ctx = _context(1)
    p = cope_positions(enc.counted_gates(ctx, torch.ones(B, H, T, T, dtype=torch.float64)))
    seg = ctx.k_pos.seg.double()
    want = (seg[:, :, None] - seg[:, None, :])[:, None].expand(B, H, T, T)
    allowed = ctx.allowed.expand(B, H, T, T)
    assert torch.equal(p[allowed], want[allowed])
    assert (seg[:, 1:] > seg[:, :-1]).any() and (seg[:, 1:] == seg[:, :-1]).any()


def test_fox_matches_loop_and_keeps_state_in_the_cache():
    enc = Fox(D, H, LAYERS).double()
    for p in enc.parameters():
        torch.nn.init.normal_(p)
    ctx = _context(2)
    got = enc.content(ctx).detach()
    w, bias = enc.gate[1].weight.detach(), enc.gate[1].bias.detach()
    for b in range(B):
        for h in range(H):
            logf = [math.log(_sig(float(w[h] @ ctx.h[b, t]) + float(bias[h]))) for t in range(T)]
            for i in range(T):
                for j in range(i + 1):
                    want = sum(logf[j + 1 : i + 1])
                    assert math.isclose(float(got[b, h, i, j]), want, abs_tol=1e-12)
    state = torch.zeros(B, H, T, 1, dtype=torch.float64)  # prefill 4, then one at a time
    steps = [
        enc.content(
            AttentionContext(
                1,
                ctx.q[:, :, :4],
                ctx.k[:, :, :4],
                ctx.h[:, :4],
                ctx.q_pos.select(0, 4),
                ctx.k_pos.select(0, 4),
                ctx.allowed[..., :4, :4],
                0,
                state,
            )
        )
    ]
    for t in range(4, T):
        steps.append(
            enc.content(
                AttentionContext(
                    1,
                    ctx.q[:, :, t : t + 1],
                    ctx.k[:, :, : t + 1],
                    ctx.h[:, t : t + 1],
                    ctx.q_pos.select(t, t + 1),
                    ctx.k_pos.select(0, t + 1),
                    ctx.allowed[..., t : t + 1, : t + 1],
                    t,
                    state,
                )
            )
        )
    for t in range(4, T):
        assert torch.allclose(steps[t - 3][:, :, 0], got[:, :, t, : t + 1], atol=1e-12)


def test_content_hook_is_a_no_op_by_default_and_only_new_entries_use_it():
    ctx = _context(3)
    assert Encoding().content(ctx) is None
    for name, build in ENCODINGS.items():
        enc = build(tiny_config(name))
        content = ("cope", "fox", "bipe_cope", "pope", "bipe_pope", "path", "bipe_path")
        assert enc.uses_content == (name in content), name
        width = {"fox": 1, "path": 16, "bipe_path": 16}.get(name, 0)  # PaTH: 2 K, K = 8
        assert enc.key_state_width == width, name


def test_stateful_encoding_needs_cache_state():
    model = tiny_model("fox")
    x = tokens(0, length=5)
    cache = KVCache.empty(model.config, 3, 5, 0, x.device, torch.float64)
    with pytest.raises(ValueError, match="state_width=1"):
        model.run(x, cache=cache)


def test_resonance_and_p_rope_frequencies():
    base = torch.tensor([10000 ** (-i / 16) for i in range(0, 16, 2)], dtype=torch.float64)
    res = variant_frequencies(base, "resonance")
    wavelengths = 2 * math.pi / res
    assert torch.allclose(wavelengths, wavelengths.round(), atol=1e-9)
    assert ((wavelengths - 2 * math.pi / base).abs() <= 0.5 + 1e-9).all()
    p = variant_frequencies(base, "p_rope", 0.25)
    assert torch.equal(p[:6], base[:6]) and (p[6:] == 0).all()
    assert torch.equal(variant_frequencies(base, "p_rope", 0.0), base)
    assert (variant_frequencies(base, "p_rope", 1.0) == 0).all()
    with pytest.raises(ValueError, match="unknown rope_variant"):
        variant_frequencies(base, "spiral")


def test_hirope_rotation_matches_per_pair_loop():
    for inner in ("intra", "index"):
        enc = HiRope(8, seg_share=0.5, inner=inner).double()
        g = torch.Generator().manual_seed(4)
        pos = Positions(*(torch.randint(0, 30, (2, 5), generator=g) for _ in range(3)))
        x = torch.randn(2, 5, 3, 8, dtype=torch.float64)
        rot = enc.rotation(pos)
        got = apply_rotation(x, rot.cos_q, rot.sin_q)
        inv = enc.inv_freq.tolist()
        inner_pos = getattr(pos, inner)
        fast = ref_rotate(x, inner_pos, inv[:2] + [0.0, 0.0])  # pairs 0, 1: inner stream
        slow = ref_rotate(x, pos.seg, [0.0, 0.0] + inv[2:])  # pairs 2, 3: segment index
        want = torch.cat(
            [fast[..., [0, 1]], slow[..., [2, 3]], fast[..., [4, 5]], slow[..., [6, 7]]], dim=-1
        )
        assert torch.allclose(got, want, atol=1e-12)


@given(st.integers(0, 2**16), st.integers(1, 40), st.integers(0, 30), st.integers(1, 5))
def test_pose_offsets_properties(seed, length, extra, chunks):
    target = length + extra
    a = pose_offsets(torch.Generator().manual_seed(seed), 3, length, target, chunks)
    b = pose_offsets(torch.Generator().manual_seed(seed), 3, length, target, chunks)
    assert torch.equal(a, b)
    pos = torch.arange(length) + a  # (B, T)
    assert (a[:, 0] == 0).all() and (a[:, 1:] >= a[:, :-1]).all()
    assert (pos[:, 1:] > pos[:, :-1]).all() and int(pos.max()) < target
    assert all(len(set(row.tolist())) <= chunks for row in a)


def test_pose_prepare_is_training_only_and_seeded():
    enc = Rope(8, pose_target_len=100, pose_chunks=3)
    g = torch.Generator().manual_seed(0)
    pos = Positions(*(torch.arange(20).expand(2, 20) for _ in range(3)))
    assert enc.eval().prepare(pos) is pos
    moved = enc.train().prepare(pos, torch.Generator().manual_seed(5))
    again = enc.prepare(pos, torch.Generator().manual_seed(5))
    assert torch.equal(moved.index, again.index) and torch.equal(moved.seg, pos.seg)
    assert int(moved.index.max()) < 100 and not torch.equal(moved.index, pos.index)
    with pytest.raises(ValueError, match="exceeds pose_target_len"):
        Rope(8, pose_target_len=10).train().prepare(pos, g)


def test_log_scale_factor_and_rotation():
    p = torch.tensor([[0, 1, 3, 15, 63]])
    official = log_scale_factor(p, 16, "official")
    for t, v in enumerate(p[0].tolist()):
        assert math.isclose(float(official[0, t]), math.log(v + 1) / math.log(16), rel_tol=1e-12)
    assert torch.equal(log_scale_factor(p, 16, "clamped"), official.clamp(min=1))
    enc = Rope(8, source="seg", log_scale="clamped", log_scale_len=4).double()
    pos = Positions(p, p, p)
    rot, plain = enc.rotation(pos), Rope(8, source="seg").double().rotation(pos)
    s = (torch.log(p.double() + 1) / math.log(4)).clamp(min=1)[..., None, None]
    assert torch.allclose(rot.cos_q, plain.cos_q * s) and torch.equal(rot.cos_k, plain.cos_k)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("cope_max_pos", 0, "cope_max_pos must be a positive int"),
        ("hirope_seg_share", 1.5, "hirope_seg_share must be a number in"),
        ("p_rope_share", -0.1, "p_rope_share must be a number in"),
        ("rope_variant", "spiral", "unknown rope_variant"),
        ("log_scale", "log2", "unknown log_scale"),
        ("hirope_inner", "seg", "unknown hirope_inner"),
        ("pose_chunks", 0, "pose_chunks must be a positive int"),
        ("pose_target_len", -3, "pose_target_len must be a positive int"),
    ],
)
def test_new_config_fields_are_validated(field, value, message):
    with pytest.raises(ValueError, match=message):
        ModelConfig(12, 32, 1, 4, **{field: value})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"pe": "alibi", "rope_variant": "resonance"}, "does not read option rope_variant"),
        (
            {"pe": "p_rope", "rope_variant": "resonance"},
            "p_rope' does not read option rope_variant",
        ),
        ({"pe": "cope", "pose_target_len": 64}, "does not read option pose_target_len"),
        ({"pe": "randomized_rope", "pose_target_len": 64}, "does not read option pose_target_len"),
        (
            {"pe": "bipe", "bipe_inter": "alibi", "log_scale": "official", "log_scale_len": 8},
            "does not read option log_scale",
        ),
        ({"pe": "rope", "log_scale": "official"}, "log_scale needs log_scale_len"),
        ({"pe": "rope", "log_scale": "official", "log_scale_len": 1}, "log_scale_len must be >= 2"),
        ({"pe": "hbipe", "bipe_inter": "cope", "separators": (1, 2)}, "hbipe' supports bipe_inter"),
    ],
)
def test_new_options_refuse_encodings_they_do_not_apply_to(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ModelConfig(12, 32, 1, 4, **kwargs)


def test_registry_names_and_round_trip():
    for name in NEW:
        assert name in ENCODINGS
        cfg = tiny_config(name)
        assert ModelConfig.from_dict(cfg.to_dict()) == cfg
        Transformer(cfg)
    cfg = tiny_config(
        "bipe_rope",
        rope_variant="p_rope",
        p_rope_share=0.5,
        pose_target_len=128,
        log_scale="official",
        log_scale_len=16,
    )
    rope = Transformer(cfg).encoding.parts[1]
    assert rope.source == "seg" and (rope.inv_freq[2:] == 0).all() and rope.inv_freq[1] > 0
    assert rope.pose_target_len == 128 and rope.log_scale == "official"


def test_bipe_cope_entry_equals_bipe_with_cope_inter():
    a = tiny_model("bipe_cope")
    b = tiny_model("bipe", bipe_inter="cope")
    b.load_state_dict(a.state_dict())
    x = tokens(5)
    assert torch.equal(a(x), b(x))


@pytest.mark.parametrize("pe", ["rope", "hirope", "p_rope", "cope", "fox"])
def test_sdpa_keeps_the_causal_kernel_unless_the_content_hook_is_used(pe, monkeypatch):
    """Encodings without the content hook still call SDPA with is_causal and no mask."""
    import torch.nn.functional as F

    seen, sdpa = [], F.scaled_dot_product_attention

    def spy(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False):
        seen.append((attn_mask is None, is_causal))
        return sdpa(q, k, v, attn_mask=attn_mask, dropout_p=dropout_p, is_causal=is_causal)

    monkeypatch.setattr(F, "scaled_dot_product_attention", spy)
    tiny_model(pe)(tokens(6, length=8))
    plain = pe not in ("cope", "fox")
    assert seen == [(plain, plain)] * 2
