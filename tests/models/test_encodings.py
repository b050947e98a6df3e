"""Positional math: pure functions and every hook against slow loop references."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from model_helpers import SEP, VARIANT_IDS, VARIANTS, ref_rotate, tiny_model, tokens

from bipe.models import Positions, alibi_slopes, rope_frequencies, t5_buckets
from bipe.models.absolute import LearnedAbsolute, Sinusoidal, sinusoidal_encoding
from bipe.models.bias import Alibi, Fire, T5Bias
from bipe.models.content import SegmentCope
from bipe.models.encoding import Combined, Encoding, apply_rotation, read_stream
from bipe.models.rope import HiRope, RandomizedRope, Rope, XPos, randomized_positions


def press_slopes(n: int) -> list[float]:
    """ALiBi slopes exactly as Press et al.'s reference code computes them."""

    def power_of_2(n):
        start = 2 ** (-(2 ** -(math.log2(n) - 3)))
        return [start * start**i for i in range(n)]

    if math.log2(n).is_integer():
        return power_of_2(n)
    closest = 2 ** math.floor(math.log2(n))
    return power_of_2(closest) + press_slopes(2 * closest)[0::2][: n - closest]


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 24])
def test_alibi_slopes_follow_press(n):
    assert alibi_slopes(n).tolist() == pytest.approx(press_slopes(n), rel=1e-6)


def test_alibi_slopes_literal_values():
    assert alibi_slopes(8).tolist() == [2.0**-k for k in range(1, 9)]
    assert alibi_slopes(6).tolist() == [2**-2, 2**-4, 2**-6, 2**-8, 2**-1, 2**-3]


def test_rope_scalings():
    base = rope_frequencies(16)
    assert torch.allclose(base, torch.tensor([10000 ** (-i / 16) for i in range(0, 16, 2)]))
    assert torch.allclose(rope_frequencies(16, scaling="pi", factor=4.0), base / 4)
    ntk = rope_frequencies(16, scaling="ntk", factor=4.0)
    assert ntk[0] == base[0] and torch.isclose(ntk[-1], base[-1] / 4)  # NTK: ends fixed/PI
    yarn = rope_frequencies(16, scaling="yarn", factor=4.0, original_len=1024)
    turns = 1024 * base / (2 * math.pi)
    fast, slow = turns > 32, turns < 1
    assert fast.any() and slow.any()
    assert torch.equal(yarn[fast], base[fast]) and torch.allclose(yarn[slow], base[slow] / 4)
    mid = ~fast & ~slow
    assert ((yarn[mid] < base[mid]) & (yarn[mid] > base[mid] / 4)).all()
    assert torch.equal(rope_frequencies(16, scaling="yarn", factor=1.0, original_len=1024), base)


def _positions(seed: int, B: int = 2, T: int = 7) -> Positions:
    g = torch.Generator().manual_seed(seed)

    def draw():
        return torch.randint(0, 30, (B, T), generator=g)

    return Positions(draw(), draw(), draw(), (draw(),))


@pytest.mark.parametrize("source", ["index", "seg", "levels"])
def test_rope_rotation_matches_loop(source):
    levels = torch.tensor([0, 0, 1]) if source == "levels" else None
    for scaling, kw in [("none", {}), ("yarn", {"factor": 3.0, "original_len": 20})]:
        rope = Rope(8, source=source, scaling=scaling, levels_of_heads=levels, **kw).double()
        pos = _positions(1)
        x = torch.randn(2, 7, 3, 8, dtype=torch.float64)
        rot = rope.rotation(pos)
        got = apply_rotation(x, rot.cos_q, rot.sin_q)
        want = ref_rotate(x, read_stream(pos, source, levels), rope.inv_freq.tolist()) * rope.scale
        assert torch.allclose(got, want, atol=1e-12)


def test_xpos_rotation_matches_loop_and_is_relative():
    xpos = XPos(8, scale_base=16.0).double()
    pos = _positions(2)
    q, k = torch.randn(2, 2, 7, 1, 8, dtype=torch.float64).unbind(0)
    rot = xpos.rotation(pos)
    zeta = [(2 * i / 8 + 0.4) / 1.4 for i in range(4)]
    zq = [z ** (1 / 16) for z in zeta]
    zk = [z ** (-1 / 16) for z in zeta]
    got_q = apply_rotation(q, rot.cos_q, rot.sin_q)
    got_k = apply_rotation(k, rot.cos_k, rot.sin_k)
    assert torch.allclose(got_q, ref_rotate(q, pos.index, xpos.inv_freq.tolist(), zq), atol=1e-10)
    assert torch.allclose(got_k, ref_rotate(k, pos.index, xpos.inv_freq.tolist(), zk), atol=1e-10)
    shifted = xpos.rotation(pos.shifted("index", 11))
    sq = apply_rotation(q, shifted.cos_q, shifted.sin_q)
    sk = apply_rotation(k, shifted.cos_k, shifted.sin_k)
    scores = torch.einsum("bthk,bshk->bts", got_q, got_k)
    assert torch.allclose(torch.einsum("bthk,bshk->bts", sq, sk), scores, atol=1e-9)


@pytest.mark.parametrize("source", ["index", "seg", "levels"])
def test_alibi_bias_matches_loop(source):
    levels = torch.tensor([0, 1, 1, 1]) if source == "levels" else None
    alibi = Alibi(4, source=source, slope_scale=96.0, levels_of_heads=levels).double()
    q_pos, k_pos = _positions(3, T=5), _positions(4, T=9)
    got = alibi.bias(q_pos, k_pos)
    qs, ks = read_stream(q_pos, source, levels), read_stream(k_pos, source, levels)
    slopes = press_slopes(4)
    for b in range(2):
        for h in range(4):
            for i in range(5):
                for j in range(9):
                    qi = qs[b, i, h] if qs.dim() == 3 else qs[b, i]
                    kj = ks[b, j, h] if ks.dim() == 3 else ks[b, j]
                    want = -96.0 * slopes[h] * float(qi - kj)
                    assert math.isclose(float(got[b, h, i, j]), want, rel_tol=1e-6, abs_tol=1e-9)


def ref_t5_bucket(d: int, n_buckets: int, max_distance: int) -> int:
    """T5's unidirectional bucket (mesh-tensorflow / transformers) for distance d = q - k."""
    n = max(d, 0)
    exact = n_buckets // 2
    if n < exact:
        return n
    big = exact + int(math.log(n / exact) / math.log(max_distance / exact) * (n_buckets - exact))
    return min(big, n_buckets - 1)


@given(
    st.lists(st.integers(-5, 3000), min_size=1, max_size=50),
    st.sampled_from([(32, 128), (8, 20), (16, 64)]),
)
def test_t5_buckets_match_reference(ds, shape):
    nb, md = shape
    got = t5_buckets(torch.tensor(ds), nb, md).tolist()
    assert got == [ref_t5_bucket(d, nb, md) for d in ds]


def test_t5_bias_is_table_lookup():
    t5 = T5Bias(4, n_buckets=8, max_distance=20).double()
    torch.nn.init.normal_(t5.table.weight)
    q_pos, k_pos = _positions(5, T=4), _positions(6, T=6)
    got = t5.bias(q_pos, k_pos)
    for b, h, i, j in [(0, 0, 0, 0), (1, 3, 2, 5), (0, 2, 3, 1), (1, 1, 1, 4)]:
        d = int(q_pos.index[b, i] - k_pos.index[b, j])
        assert got[b, h, i, j] == t5.table.weight[ref_t5_bucket(d, 8, 20), h]


def test_fire_bias_matches_loop():
    fire = Fire(3, d_hidden=5, threshold=6.0).double()
    for p in fire.mlp.parameters():
        torch.nn.init.normal_(p)
    with torch.no_grad():
        fire.log_c.fill_(math.log(0.7))
    q_pos, k_pos = _positions(7, T=4), _positions(8, T=5)
    got = fire.bias(q_pos, k_pos)
    for b in range(2):
        for i in range(4):
            for j in range(5):
                qi, kj = int(q_pos.index[b, i]), int(k_pos.index[b, j])
                x = math.log(0.7 * max(qi - kj, 0) + 1) / math.log(0.7 * max(6.0, qi) + 1)
                want = fire.mlp(torch.tensor([[x]], dtype=torch.float64))[0]
                assert torch.allclose(got[b, :, i, j], want, atol=1e-10)


def test_sinusoidal_matches_loop():
    pos = torch.tensor([[0, 3, 17], [5, 100, 2]])
    got = sinusoidal_encoding(pos, 6)
    for b in range(2):
        for t in range(3):
            p = int(pos[b, t])
            want = []
            for i in range(3):
                w = 10000 ** (-2 * i / 6)
                want += [math.sin(p * w), math.cos(p * w)]
            assert got[b, t].tolist() == pytest.approx(want, abs=1e-5)
    enc = Sinusoidal(6, source="intra")
    assert torch.equal(enc.embed(Positions(pos * 0, pos * 0, pos)), got)


def test_learned_table_lookup_and_hard_limit():
    enc = LearnedAbsolute(8, 4, source="index")
    pos = Positions(
        torch.tensor([[0, 7, 3]]),
        torch.zeros(1, 3, dtype=torch.long),
        torch.zeros(1, 3, dtype=torch.long),
    )
    assert torch.equal(enc.embed(pos), enc.table.weight[[0, 7, 3]][None])
    with pytest.raises(ValueError, match="index position 8 is past"):
        enc.embed(pos.shifted("index", 1))


def _intra_pos(values) -> Positions:
    intra = torch.tensor([values])
    return Positions(intra * 0, intra * 0, intra)


def test_intra_overflow_policies():
    for policy in ("clamp", "sinusoidal", "error"):
        enc = LearnedAbsolute(10, 4, source="intra", overflow=policy, track_trained=True)
        assert int(enc.n_trained) == 0
        enc.train()
        enc.embed(_intra_pos([0, 1, 2, 3, 4, 5]))  # rows 0..5 used in training
        assert int(enc.n_trained) == 6
        enc.eval()
        inside = enc.embed(_intra_pos([0, 5]))
        assert torch.equal(inside, enc.table.weight[[0, 5]][None])
        if policy == "error":
            with pytest.raises(ValueError, match="intra position 6 is past"):
                enc.embed(_intra_pos([2, 6]))
            continue
        out = enc.embed(_intra_pos([2, 6, 9, 30]))
        assert torch.equal(out[0, 0], enc.table.weight[2])
        if policy == "clamp":  # the last trained row, never an untrained one
            assert all(torch.equal(out[0, t], enc.table.weight[5]) for t in (1, 2, 3))
        else:
            norm = enc.table.weight[:6].norm(dim=-1).mean()
            for t, p in ((1, 6), (2, 9), (3, 30)):
                wave = sinusoidal_encoding(torch.tensor(p), 4)
                assert torch.allclose(out[0, t], wave * norm / wave.norm(), atol=1e-6)


def test_untrained_intra_table_uses_all_rows_and_training_clamps_to_table():
    enc = LearnedAbsolute(10, 4, source="intra", overflow="clamp", track_trained=True).eval()
    assert torch.equal(enc.embed(_intra_pos([9])), enc.table.weight[[9]][None])
    enc.train()
    out = enc.embed(_intra_pos([12]))
    assert torch.equal(out[0, 0], enc.table.weight[9]) and int(enc.n_trained) == 10


def test_randomized_positions_sorted_distinct_and_seeded():
    a = randomized_positions(torch.Generator().manual_seed(3), 4, 10, 50)
    b = randomized_positions(torch.Generator().manual_seed(3), 4, 10, 50)
    c = randomized_positions(torch.Generator().manual_seed(4), 4, 10, 50)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert (a[:, 1:] > a[:, :-1]).all() and a.min() >= 0 and a.max() < 50
    with pytest.raises(ValueError, match="exceeds randomized_max_pos"):
        randomized_positions(None, 1, 51, 50)
    enc = RandomizedRope(8, max_pos=50)
    pos = _positions(9, T=10)
    assert enc.eval().prepare(pos) is pos
    moved = enc.train().prepare(pos, torch.Generator().manual_seed(3))
    assert torch.equal(moved.index, a[:2]) and torch.equal(moved.seg, pos.seg)


def test_combined_sums_and_rejects_two_rotations():
    a, b = Sinusoidal(4, source="intra"), Sinusoidal(4, source="index")
    pos = _positions(10)
    assert torch.equal(Combined(a, b).embed(pos), a.embed(pos) + b.embed(pos))
    assert Combined(a, Encoding()).embed(pos) is not None
    with pytest.raises(ValueError, match="at most one part"):
        Combined(Rope(8), Rope(8, source="seg")).rotation(pos)


@pytest.mark.parametrize(("pe", "extra"), VARIANTS, ids=VARIANT_IDS)
def test_registry_hooks_match_their_references(pe, extra):
    """Each registry entry's combined hooks equal the sum of its parts' reference math."""
    model = tiny_model(pe, **extra)
    x = tokens(0, batch=2, length=9)
    pos = model.positions(x)
    enc = model.encoding
    parts = list(enc.parts) if isinstance(enc, Combined) else [enc]
    embeds = [p.embed(pos) for p in parts if p.embed(pos) is not None]
    if embeds:
        assert torch.allclose(enc.embed(pos), sum(embeds))
    biases = [p.bias(pos, pos) for p in parts if p.bias(pos, pos) is not None]
    if biases:
        assert torch.allclose(enc.bias(pos, pos), sum(biases))
    for part in parts:
        if isinstance(part, LearnedAbsolute):
            idx = read_stream(pos, part.source)
            assert torch.equal(part.embed(pos), part.table.weight[idx])
        if isinstance(part, Sinusoidal):
            assert torch.equal(
                part.embed(pos),
                sinusoidal_encoding(
                    read_stream(pos, "intra" if pe.startswith(("bipe", "hbipe")) else "index"), 32
                ),
            )
        if isinstance(part, Rope):
            q = torch.randn(2, 9, 4, 8, dtype=torch.float64)
            rot = part.rotation(pos)
            want = _ref_rope_query(part, pos, q)
            assert torch.allclose(apply_rotation(q, rot.cos_q, rot.sin_q), want, atol=1e-10)
        if isinstance(part, XPos):
            q = torch.randn(2, 9, 1, 8, dtype=torch.float64)
            rot = part.rotation(pos)
            zeta = [((2 * i / 8 + 0.4) / 1.4) ** (1 / part.scale_base) for i in range(4)]
            want = ref_rotate(q, read_stream(pos, part.source), part.inv_freq.tolist(), zeta)
            assert torch.allclose(apply_rotation(q, rot.cos_q, rot.sin_q), want, atol=1e-10)
        if isinstance(part, (Alibi, T5Bias, Fire)):
            got = part.bias(pos, pos).detach()
            entries = [(0, 0, 8, 0), (1, 3, 8, 2), (0, 1, 5, 5), (1, 2, 7, 1), (0, 3, 3, 0)]
            for b, h, i, j in entries:
                want = _ref_bias(part, pos, b, h, i, j)
                assert math.isclose(float(got[b, h, i, j]), want, rel_tol=1e-9, abs_tol=1e-12)
            allowed = torch.ones(9, 9, dtype=torch.bool).tril()[None, None]
            masked = part.bias(pos, pos, allowed)
            assert torch.equal(masked[allowed.expand_as(masked)], got[allowed.expand_as(got)])
            assert (masked[~allowed.expand_as(masked)] == float("-inf")).all()
    expected_sources = {"bipe_rope": "seg", "bipe_alibi": "seg", "bipe": "seg", "hbipe": "levels"}
    relative = [p for p in parts if isinstance(p, (Rope, XPos, Alibi, T5Bias, Fire, SegmentCope))]
    if pe in expected_sources:
        assert [p.source for p in relative] == [expected_sources[pe]]
        assert any(getattr(p, "source", None) == "intra" for p in parts)


def _ref_rope_query(part: Rope, pos: Positions, q: torch.Tensor) -> torch.Tensor:
    """A rotated query by the per-pair loop: HiRoPE's slow pairs turn by seg, the rest by the
    source stream; log_scale multiplies by ``log(p + 1) / log(len)`` (clamped at 1)."""
    B, T, H, _ = q.shape
    stream = read_stream(pos, part.source, part.levels_of_heads)
    if stream.dim() == 2:
        stream = stream[:, :, None].expand(B, T, H)
    inv = part.inv_freq.tolist()
    if isinstance(part, HiRope):
        on_seg = part.on_seg.tolist()
        pairs = list(zip(on_seg, inv, strict=True))
        inner = ref_rotate(q, stream, [0.0 if s else f for s, f in pairs])
        outer = ref_rotate(q, pos.seg, [f if s else 0.0 for s, f in pairs])
        mask = torch.tensor(on_seg * 2)  # (K,) dims i and i + K/2 of pair i
        want = torch.where(mask, outer, inner)
    else:
        want = ref_rotate(q, stream, inv)
    if part.log_scale != "none":
        factor = [
            [
                [
                    math.log(float(stream[b, t, h]) + 1) / math.log(part.log_scale_len)
                    for h in range(H)
                ]
                for t in range(T)
            ]
            for b in range(B)
        ]
        factor = torch.tensor(factor, dtype=q.dtype)[..., None]  # (B, T, H, 1)
        want = want * (factor.clamp(min=1) if part.log_scale == "clamped" else factor)
    return want * part.scale


@torch.no_grad()
def _ref_bias(part, pos: Positions, b: int, h: int, i: int, j: int) -> float:
    """One bias entry by scalar arithmetic, from the papers' formulas."""
    stream = read_stream(pos, part.source, getattr(part, "levels_of_heads", None))
    qi, kj = (int(stream[b, t, h] if stream.dim() == 3 else stream[b, t]) for t in (i, j))
    if isinstance(part, Alibi):
        return -part.slope_scale * press_slopes(4)[h] * (qi - kj)
    if isinstance(part, T5Bias):
        return float(
            part.table.weight[ref_t5_bucket(qi - kj, part.n_buckets, part.max_distance), h]
        )
    c, threshold = math.exp(float(part.log_c)), math.exp(float(part.log_threshold))
    x = math.log(c * max(qi - kj, 0) + 1) / math.log(c * max(threshold, qi) + 1)
    return float(part.mlp(torch.tensor([[x]], dtype=torch.float64))[0, h])


def test_bipe_alibi_bias_is_zero_inside_a_segment():
    model = tiny_model("bipe_alibi")
    x = tokens(1, batch=2, length=16)
    pos = model.positions(x)
    bias = model.encoding.bias(pos, pos)  # (B, H, T, S)
    same = pos.seg[:, None, :, None] == pos.seg[:, None, None, :]
    assert same.sum() > 2 * 16 and (~same).any()
    assert (bias[same.expand_as(bias)] == 0).all()
    slopes = 96.0 * alibi_slopes(4).double()
    dist = (pos.seg[:, :, None] - pos.seg[:, None, :]).double()  # (B, T, S)
    assert torch.allclose(bias, -slopes[None, :, None, None] * dist[:, None])
    assert model.encoding.parts[1].slope_scale == 96.0
    assert (x == SEP).any()


@pytest.mark.parametrize("start", [10**5, 10**6])
@pytest.mark.parametrize(
    "pe, overrides",
    [("xpos", {}), ("xpos", {"xpos_scale_base": 64.0}), ("bipe", {"bipe_inter": "xpos"})],
)
def test_xpos_logits_stay_finite_at_any_position(start, pe, overrides):
    """float32, as trained: positions 1e5 and 1e6 used to give inf and NaN scores."""
    model = tiny_model(pe, dtype=torch.float32, **overrides)
    x = tokens(1, batch=2, length=12)
    B, T = x.shape
    offsets = torch.arange(T).expand(B, T) + start
    pos = Positions(offsets, offsets, torch.arange(T).expand(B, T) % 4)
    with torch.no_grad():
        logits = model(x, pos)  # (B, T, V)
    assert torch.isfinite(logits).all()
    xpos = XPos(8, scale_base=overrides.get("xpos_scale_base", 512.0))
    rot = xpos.rotation(Positions(offsets, offsets, offsets))
    for factor in (rot.cos_q, rot.sin_q, rot.cos_k, rot.sin_k):
        assert torch.isfinite(factor).all()


def test_xpos_exact_and_shift_invariant_below_the_clamp():
    """At positions near 10,000 (scale_base 512) no factor is clamped: exact and relative."""
    xpos = XPos(8, scale_base=512.0).double()
    pos = _positions(3).shifted("index", 10_000)
    q, k = torch.randn(2, 2, 7, 1, 8, dtype=torch.float64).unbind(0)
    zeta = [(2 * i / 8 + 0.4) / 1.4 for i in range(4)]
    rot = xpos.rotation(pos)
    got_k = apply_rotation(k, rot.cos_k, rot.sin_k)
    want_k = ref_rotate(k, pos.index, xpos.inv_freq.tolist(), [z ** (-1 / 512) for z in zeta])
    scale = want_k.abs().amax()
    assert torch.allclose(got_k / scale, want_k / scale, atol=1e-9)
    scores = torch.einsum("bthk,bshk->bts", apply_rotation(q, rot.cos_q, rot.sin_q), got_k)
    back = xpos.rotation(pos.shifted("index", -10_000))
    near_zero = torch.einsum(
        "bthk,bshk->bts",
        apply_rotation(q, back.cos_q, back.sin_q),
        apply_rotation(k, back.cos_k, back.sin_k),
    )
    assert torch.allclose(scores, near_zero, atol=1e-6 * near_zero.abs().amax())
