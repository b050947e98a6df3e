"""The 2025 encodings against their authors' reference code and their defining formulas: PoPE
(lucidrains/PoPE-pytorch, the ``pope-pytorch`` package as an oracle), PaTH (fla-org's
``naive_path_attn``, re-stated below), random float positions (the sampling law) and HiRoPE's
frequency bands. The per-entry suites (causality, shift invariance, cached = full, ...) run
on these entries through ``model_helpers.VARIANTS``."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from model_helpers import SEP, tiny_config, tiny_model, tokens

from bipe.models import ModelConfig, Transformer
from bipe.models.encoding import AttentionContext
from bipe.models.path import Path, path_scores
from bipe.models.polar import Pope, pope_scores
from bipe.models.random_float import random_float_positions, random_float_stream
from bipe.models.rope import segment_pairs
from bipe.models.transformer import allowed_keys


def _context(layer, q, k, h, pos, start=0, state=None):
    T, S = q.shape[2], k.shape[2]
    return AttentionContext(
        layer,
        q,
        k,
        h,
        pos.select(start, S),
        pos.select(0, S),
        allowed_keys(T, start, None, "cpu"),
        start,
        state,
    )


# ---- PoPE -------------------------------------------------------------------------------


@pytest.mark.parametrize("source", ["index", "seg"])
def test_pope_equals_the_reference_package(source):
    """lucidrains/PoPE-pytorch ``PoPE_pytorch/pope.py`` (package pope-pytorch 0.2.1; repository
    file ``PoPE_pytorch/PoPE.py`` at commit 1f3ca54e6008b3ca637a4f6188a3df1144cd6522): the dot
    products of its ``apply_pope_to_qk`` outputs equal our PoPE scores on the same q, k,
    positions and phase bias (including biases outside [-2 pi, 0], which both clamp)."""
    pope_pytorch = pytest.importorskip(
        "PoPE_pytorch", reason="the oracle is the test extra's pope-pytorch: pip install .[test]"
    )
    B, H, T, K = 2, 3, 7, 8
    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(B, H, T, K, generator=g), torch.randn(B, H, T, K, generator=g)
    ours = Pope(K, H, 2, source=source, base=10000.0)
    with torch.no_grad():
        ours.phase.copy_(torch.rand(2, H, K, generator=g) * 10 - 8)  # some outside the clamp
    ref = pope_pytorch.PoPE(K, heads=H, theta=10000)
    with torch.no_grad():
        ref.bias.copy_(ours.phase[1])
    assert torch.allclose(ref.inv_freqs, ours.inv_freq)
    pos = tiny_model("bipe_pope").positions(tokens(3, batch=B, length=T))
    p = (pos.index if source == "index" else pos.seg).float()  # (B, T)
    rq, rk = pope_pytorch.apply_pope_to_qk(ref(p), q, k)  # (B, H, T, 2K) each
    want = rq @ rk.transpose(-1, -2)  # (B, H, T, T)
    got = pope_scores(q, k, p, p, ours.inv_freq, ours.delta(1))
    assert torch.allclose(got, want, atol=1e-5)
    # the content hook adds exactly the difference to SDPA's q . k / sqrt(K)
    ctx = _context(1, q, k, torch.zeros(B, T, H * K), pos)
    total = q @ k.transpose(-1, -2) / math.sqrt(K) + ours.content(ctx)
    allowed = torch.ones(T, T, dtype=torch.bool).tril()
    assert torch.allclose(total[..., allowed], want[..., allowed] / math.sqrt(K), atol=1e-5)
    assert (total[..., ~allowed] == float("-inf")).all()


def test_pope_is_relative_and_bipe_pope_reads_the_segment_index():
    B, H, T, K = 1, 2, 6, 8
    g = torch.Generator().manual_seed(1)
    q, k = torch.randn(B, H, T, K, generator=g), torch.randn(B, H, T, K, generator=g)
    pope = Pope(K, H, 1)
    p = torch.tensor([[0.0, 1, 1, 2, 5, 6]])
    base = pope_scores(q, k, p, p, pope.inv_freq, pope.delta(0))
    shifted = pope_scores(q, k, p + 37, p + 37, pope.inv_freq, pope.delta(0))
    assert torch.allclose(shifted, base, atol=1e-5)
    m = tiny_model("bipe_pope")
    assert m.encoding.parts[1].source == "seg" and m.encoding.parts[0].source == "intra"


# ---- PaTH -------------------------------------------------------------------------------


def naive_path_attn(q, k, v, w, beta, g, scale, BT=64):
    """Re-stated from fla-org/flash-linear-attention ``tests/ops/test_path_attn.py``
    (``naive_path_attn``, commit 0675f1375be8fe103cebebaef9c96c68c8ba4743), the reference
    PaTH attention: chunked UT transform of the Householder products, equal heads (H = HQ).
    Inputs (B, T, H, K) (beta, g (B, T, H)); returns (B, T, H, K)."""
    q, k, v, w, beta, g = (x.to(torch.float64).transpose(1, 2) for x in (q, k, v, w, beta, g))
    g_cumsum = g.cumsum(-1)
    b, h, n, d = q.shape
    pad = (BT - n % BT) % BT
    q, k, w = (F.pad(x, (0, 0, 0, pad)) for x in (q, k, w))
    beta = F.pad(beta, (0, pad))
    length = q.shape[2]
    w_beta = w * beta[..., None]

    def chunks(x):
        return x.view(b, h, length // BT, BT, d)

    q, k, w, w_beta = chunks(q), chunks(k), chunks(w), chunks(w_beta)
    upper = torch.triu(torch.ones(BT, BT, dtype=torch.bool), diagonal=0)
    t = -(w_beta @ w.transpose(-1, -2)).masked_fill(upper, 0)
    for i in range(1, BT):
        t[..., i, :i] = t[..., i, :i].clone() + (t[..., i, :, None].clone() * t[..., :, :i]).sum(-2)
    t = t + torch.eye(BT, dtype=q.dtype)
    twbk = t @ (w_beta @ k.transpose(-1, -2)).masked_fill(upper, 0)
    qw = (q @ w.transpose(-1, -2)).tril()
    twb = t @ w_beta
    a_local = (q @ k.transpose(-1, -2)).tril() - qw @ twbk
    q = q - qw @ twb
    k = k - twbk.transpose(-1, -2) @ w
    hh = w.transpose(-1, -2) @ twb
    a = torch.zeros(b, h, length, length, dtype=q.dtype)
    q, k = q.reshape(b, h, length, d), k.reshape(b, h, length, d)
    for i in range(0, length, BT):
        q_i = q[:, :, i : i + BT].clone()
        for j in range(i - BT, -BT, -BT):
            a[:, :, i : i + BT, j : j + BT] = q_i @ k[:, :, j : j + BT].transpose(-1, -2)
            q_i = q_i - q_i @ hh[:, :, j // BT]
    for i in range(length // BT):
        a[:, :, i * BT : (i + 1) * BT, i * BT : (i + 1) * BT] = a_local[:, :, i]
    causal = torch.tril(torch.ones(length, length, dtype=torch.bool))
    a = a.masked_fill(~causal, float("-inf"))[:, :, :n, :n]
    a = a + g_cumsum[..., None] - g_cumsum[..., None, :]
    return ((a * scale).softmax(-1) @ v).transpose(1, 2)


def _loop_scores(q, k, w, beta):
    """``q_i^T H_i ... H_{j+1} k_j`` with explicit K x K matrices, one (i, j) at a time."""
    B, H, T, K = q.shape
    out = torch.full((B, H, T, T), float("nan"), dtype=q.dtype)
    eye = torch.eye(K, dtype=q.dtype)
    for b in range(B):
        for h in range(H):
            for i in range(T):
                for j in range(i + 1):
                    key = k[b, h, j]
                    for s in range(j + 1, i + 1):
                        ws = w[b, h, s]
                        key = (eye - beta[b, h, s] * torch.outer(ws, ws)) @ key
                    out[b, h, i, j] = q[b, h, i] @ key
    return out


@pytest.mark.parametrize("chunk", [2, 3, 64])
def test_path_scores_equal_the_householder_loop(chunk):
    """Blocks of any size give the explicit product of K x K matrices; a second call on the
    last tokens with the first ones' carried keys (decoding's state) gives the same rows."""
    B, H, T, K = 1, 2, 7, 4
    g = torch.Generator().manual_seed(2)
    q, k = torch.randn(B, H, T, K, generator=g), torch.randn(B, H, T, K, generator=g)
    w = F.normalize(torch.randn(B, H, T, K, generator=g), dim=-1)
    beta = 2 * torch.rand(B, H, T, generator=g)
    q, k, w, beta = (x.double() for x in (q, k, w, beta))
    got, carried = path_scores(q, k, w, beta, 0, chunk)
    want = _loop_scores(q, k, w, beta)
    low = torch.ones(T, T, dtype=torch.bool).tril()
    assert torch.allclose(got[..., low], want[..., low], atol=1e-10)
    # carried keys: every later transform applied, H_{T-1} ... H_{j+1} k_j
    assert torch.allclose(carried, _carried_loop(k, w, beta), atol=1e-10)
    n = 3  # the first n tokens as cached keys, carried through their own transforms
    old = _carried_loop(k[:, :, :n], w[:, :, :n], beta[:, :, :n])
    keys = torch.cat((old, k[:, :, n:]), dim=2)
    rest, carried_rest = path_scores(q[:, :, n:], keys, w[:, :, n:], beta[:, :, n:], n, chunk)
    assert torch.allclose(rest[..., low[n:]], want[:, :, n:][..., low[n:]], atol=1e-10)
    assert torch.allclose(carried_rest, carried, atol=1e-10)


def _carried_loop(k, w, beta):
    """(B, H, S, K) each key j after the rank-one updates of every later token, in turn."""
    out = k.clone()
    for j in range(k.shape[2]):
        for s in range(j + 1, k.shape[2]):
            ws = w[:, :, s]  # (B, H, K)
            proj = (ws * out[:, :, j]).sum(-1, keepdim=True)  # (B, H, 1)
            out[:, :, j] = out[:, :, j] - beta[:, :, s, None] * proj * ws
    return out


@pytest.mark.parametrize(("T", "BT"), [(11, 4), (9, 64), (10, 3)])
def test_path_layer_equals_naive_path_attn(T, BT):
    """Our model's PaTH layer (content hook + SDPA) equals the re-stated reference on identical
    q, k, v and the layer's own w and beta, across several reference chunks."""
    B, H, K = 2, 4, 8
    model = tiny_model("path")
    enc = model.encoding
    enc.chunk = BT  # our blocks as the reference's chunks (several when T > BT)
    g = torch.Generator().manual_seed(3)
    q, k, v = (torch.randn(B, H, T, K, generator=g, dtype=torch.float64) for _ in range(3))
    h = torch.randn(B, T, H * K, generator=g, dtype=torch.float64)
    pos = model.positions(tokens(4, batch=B, length=T))
    ctx = _context(1, q, k, h, pos)
    mask = enc.content(ctx)
    ours = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # (B, H, T, K)
    zeros = torch.zeros(B, 2, H * K, dtype=torch.float64)
    valid = torch.ones(1, T, dtype=torch.bool)
    w, beta, _ = enc.transforms(1, h, zeros, valid, torch.ones(1, T))
    assert (beta > 0).all() and (beta < 2).all()
    assert torch.allclose(w.norm(dim=-1), torch.ones(B, H, T, dtype=torch.float64))
    ref = naive_path_attn(
        *(x.transpose(1, 2) for x in (q, k, v, w)),
        beta.transpose(1, 2),
        torch.zeros(B, T, H, dtype=torch.float64),
        K**-0.5,
        BT=BT,
    )
    assert torch.allclose(ours.transpose(1, 2), ref, atol=1e-10)


def test_path_decoding_keeps_keys_transformed_by_every_later_token():
    """The paper's decoding rule: after token t, cached key j holds H_t ... H_{j+1} k_j."""
    model = tiny_model("path")
    enc = model.encoding
    B, H, T, K = 1, 4, 6, 8
    g = torch.Generator().manual_seed(5)
    q, k = (torch.randn(B, H, T, K, generator=g, dtype=torch.float64) for _ in range(2))
    h = torch.randn(B, T, H * K, generator=g, dtype=torch.float64)
    pos = model.positions(tokens(6, batch=B, length=T))
    state = torch.zeros(B, H, T, 2 * K, dtype=torch.float64)
    for t in range(T):  # one token at a time
        enc.content(
            _context(0, q[:, :, t : t + 1], k[:, :, : t + 1], h[:, t : t + 1], pos, t, state)
        )
    zeros = torch.zeros(B, 2, H * K, dtype=torch.float64)
    w, beta, _ = enc.transforms(0, h, zeros, torch.ones(1, T, dtype=torch.bool), torch.ones(1, T))
    assert torch.allclose(state[..., :K], _carried_loop(k, w, beta), atol=1e-10)
    assert not torch.allclose(state[..., :K], k)  # the keys did move


def test_bipe_path_transforms_only_where_a_segment_begins():
    """Inside one segment bipe_path is plain q . k (no transform); across segments the
    number of transforms between key j and query i is seg_i - seg_j."""
    model = tiny_model("bipe_path")
    enc = model.encoding.parts[1]
    B, H, T, K = 1, 4, 8, 8
    g = torch.Generator().manual_seed(7)
    q, k = (torch.randn(B, H, T, K, generator=g, dtype=torch.float64) for _ in range(2))
    h = torch.randn(B, T, H * K, generator=g, dtype=torch.float64)
    x = torch.tensor([[1, 2, 3, 4, 5, 6, 7, 8]])
    one_segment = model.positions(x)
    term = enc.content(_context(0, q, k, h, one_segment))
    low = torch.ones(T, T, dtype=torch.bool).tril()
    assert torch.allclose(term[..., low], torch.zeros_like(term[..., low]), atol=1e-12)
    x[0, [1, 4]] = SEP  # segments start at 2 and 5
    pos = model.positions(x)
    gate = enc.gate(_context(0, q, k, h, pos))
    assert gate.tolist() == [[0, 0, 1, 0, 0, 1, 0, 0]]
    zeros = torch.zeros(B, 2, H * K, dtype=torch.float64)
    w, beta, _ = enc.transforms(0, h, zeros, torch.ones(1, T, dtype=torch.bool), gate)
    assert int((beta[0, 0] != 0).sum()) == 2
    got = q @ k.transpose(-1, -2) / math.sqrt(K) + enc.content(_context(0, q, k, h, pos))
    want = _loop_scores(q, k, w, beta) / math.sqrt(K)
    assert torch.allclose(got[..., low], want[..., low], atol=1e-10)


def test_path_parameter_rank_and_validation():
    cfg = tiny_config("path", path_w_rank=5)
    enc = Transformer(cfg).encoding
    assert enc.w_down[0].weight.shape == (5, 32)
    with pytest.raises(ValueError, match="path_w_rank"):
        tiny_config("path", path_w_rank=0)
    assert isinstance(enc, Path)


# ---- random float positions -------------------------------------------------------------


@given(st.integers(0, 2**16), st.integers(1, 40), st.floats(1.0, 5000.0))
def test_random_float_positions_sorted_in_range_and_seeded(seed, length, max_pos):
    def draw(s):
        return random_float_positions(torch.Generator().manual_seed(s), 3, length, max_pos)

    p = draw(seed)
    assert p.shape == (3, length) and p.dtype == torch.float32
    assert (p >= 0).all() and (p < max_pos).all() and (p.diff(dim=-1) >= 0).all()
    assert torch.equal(p, draw(seed))


def test_random_float_positions_follow_the_uniform_order_statistics():
    """Pooled draws are Uniform[0, M) (Kolmogorov-Smirnov distance far below the 1e-6 level
    ~ 2.7 / sqrt(N)); the k-th sorted position has mean M (k + 1) / (T + 1)."""
    M, B, T = 100.0, 4000, 9
    p = random_float_positions(torch.Generator().manual_seed(0), B, T, M).double()
    x = p.flatten().sort().values / M
    n = x.numel()
    ecdf_hi = torch.arange(1, n + 1, dtype=torch.float64) / n
    ks = torch.maximum(ecdf_hi - x, x - (ecdf_hi - 1 / n)).max()
    assert ks < 2.7 / math.sqrt(n)
    mean = p.mean(0)  # (T,)
    want = M * torch.arange(1, T + 1, dtype=torch.float64) / (T + 1)
    sd = M * math.sqrt(0.25 / (T + 2)) / math.sqrt(B)  # order-statistic sd <= M/(2 sqrt(T+2))
    assert (mean - want).abs().max() < 6 * sd
    assert not torch.allclose(mean, M * torch.arange(T, dtype=torch.float64) / T, atol=1.0)


def test_random_float_segment_stream_shares_a_value_per_segment():
    seg = torch.tensor([[3, 3, 4, 4, 4, 5, 7], [0, 0, 0, 0, 1, 1, 2]])
    v = random_float_stream(torch.Generator().manual_seed(1), seg, 10.0)
    assert v.dtype == torch.float32 and (v >= 0).all() and (v < 10).all()
    same = seg[:, 1:] == seg[:, :-1]
    assert torch.equal(v[:, 1:][same], v[:, :-1][same])
    assert (v[:, 1:][~same] > v[:, :-1][~same]).all()


@pytest.mark.parametrize(("pe", "flat"), [("rfs_rope", "rope"), ("bipe_rfs_alibi", "bipe_alibi")])
def test_rfs_entries_sample_in_training_and_equal_their_base_in_eval(pe, flat):
    model = tiny_model(pe, dtype=torch.float32)
    base = tiny_model(flat, dtype=torch.float32)
    base.load_state_dict({_unshift(k): v for k, v in model.state_dict().items()})
    x = tokens(2)
    assert torch.equal(model(x), base(x))
    model.train()
    a = model(x, generator=torch.Generator().manual_seed(1))
    b = model(x, generator=torch.Generator().manual_seed(1))
    c = model(x, generator=torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and not torch.allclose(a, c)
    assert not torch.allclose(a, base.train()(x))


def _unshift(key: str) -> str:
    """``encoding.parts.{i}.`` -> ``encoding.parts.{i - 1}.``: the rfs entries' first part
    is the positions-only RandomFloat."""
    head, _, rest = key.partition("encoding.parts.")
    if not rest:
        return key
    i, _, tail = rest.partition(".")
    return f"{head}encoding.parts.{int(i) - 1}.{tail}"


def test_rfs_alibi_keeps_the_plain_slopes():
    assert ModelConfig(12, 32, 1, 4, pe="rfs_alibi").resolved_alibi_slope_scale() == 1.0
    assert ModelConfig(12, 32, 1, 4, pe="bipe_rfs_alibi").resolved_alibi_slope_scale() == 96.0


# ---- HiRoPE frequency bands -------------------------------------------------------------


@given(st.integers(1, 32), st.data())
def test_hirope_bands_choose_exactly_n_pairs(n_pairs, data):
    n_seg = data.draw(st.integers(0, n_pairs))
    low, high, inter = (segment_pairs(n_pairs, n_seg, b) for b in ("low", "high", "interleaved"))
    for mask in (low, high, inter):
        assert int(mask.sum()) == n_seg
    assert torch.equal(low, high.flip(0))
    if n_seg:
        idx = inter.nonzero().flatten()
        gaps = torch.cat((idx[:1] + 1, idx.diff()))  # spread evenly: gaps differ by <= 1
        assert int(gaps.max() - gaps.min()) <= 1


def test_hirope_bands_literal_and_config():
    assert segment_pairs(8, 4, "interleaved").tolist() == [False, True] * 4
    assert segment_pairs(6, 2, "high").tolist() == [True, True] + [False] * 4
    enc = tiny_model("hirope", hirope_bands="high").encoding
    assert enc.on_seg.tolist() == [True, True, False, False]
    with pytest.raises(ValueError, match="hirope_bands"):
        tiny_config("hirope", hirope_bands="middle")


# ---- bilevel forms reduce to their flat forms -------------------------------------------


@pytest.mark.parametrize(("bilevel", "flat"), [("bipe_pope", "pope"), ("bipe_path", "path")])
def test_bilevel_form_with_one_token_segments_equals_the_flat_form(bilevel, flat):
    """Every token a separator: seg = index and intra = 0, so bipe_pope is pope (the intra
    table's row 0 folded into the token embedding) and bipe_path transforms at every token but
    the first, whose transform acts on no key: it is path."""
    every = tuple(range(12))
    bi = tiny_model(bilevel, separators=every)
    plain = tiny_model(flat, seed=1)
    state = {k.replace("encoding.parts.1.", "encoding."): v for k, v in bi.state_dict().items()}
    state = {k: v for k, v in state.items() if not k.startswith("encoding.parts.0.")}
    state["embed.weight"] = state["embed.weight"] + bi.encoding.parts[0].table.weight[0]
    plain.load_state_dict(state)
    x = tokens(8)
    assert torch.allclose(bi(x), plain(x), atol=1e-10)
    assert torch.equal(bi.generate(x[:, :4], 6), plain.generate(x[:, :4], 6))
