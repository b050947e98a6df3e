"""model.causal=false: every registry entry runs bidirectionally or is refused in one line.

A non-causal model's output at a position depends on later tokens (a causal one's never does);
ALiBi and T5 use their bidirectional forms, checked against plain loops; KV-cache decoding and
ensembles refuse non-causal models.
"""

import math

import pytest
import torch

from bipe.models import Transformer
from bipe.models.bias import alibi_slopes
from bipe.models.positions import default_positions

from .model_helpers import SEP, VARIANT_IDS, VARIANTS, tiny_config, tiny_model, tokens

# entries (and bipe_inter parts) whose form is defined only for keys at or before the query
REFUSED = {"xpos", "fire", "cope", "fox", "bipe_cope"}


def _refused(pe: str, extra: dict) -> bool:
    return pe in REFUSED or (pe in ("bipe", "hbipe") and extra.get("bipe_inter") in REFUSED)


@pytest.mark.parametrize(("pe", "extra"), VARIANTS, ids=VARIANT_IDS)
def test_every_entry_runs_bidirectionally_or_refuses(pe, extra):
    if _refused(pe, extra):
        with pytest.raises(ValueError, match=r"cannot run with causal=false: \w+") as err:
            tiny_config(pe, causal=False, **extra)
        assert "\n" not in str(err.value)
        return
    model = tiny_model(pe, causal=False, **extra)
    causal = tiny_model(pe, **extra)
    x = tokens(3, batch=2, length=14)
    y = x.clone()
    y[:, -1] = (x[:, -1] + 1) % SEP  # change only the last token (never a separator)
    with torch.no_grad():
        a, b = model(x), model(y)
        ca, cb = causal(x), causal(y)
    assert torch.isfinite(a).all()
    assert not torch.equal(a[:, 0], b[:, 0])  # position 0 sees the last token (float64)
    torch.testing.assert_close(ca[:, :-1], cb[:, :-1])  # the causal twin never does


def _biases(pe: str, T: int) -> torch.Tensor:
    model = tiny_model(pe, causal=False)
    pos = default_positions(torch.zeros(1, T, dtype=torch.long), model.config.level_separators())
    with torch.no_grad():
        return model.encoding.bias(pos, pos)[0]  # (H, T, S)


def test_bidirectional_alibi_is_the_distance_with_a_half_step_towards_the_past():
    bias, slopes = _biases("alibi", 6), alibi_slopes(4)
    for h in range(4):
        for i in range(6):
            for j in range(6):
                want = -slopes[h] * (abs(i - j) - (0.5 if j < i else 0.0))
                assert math.isclose(bias[h, i, j].item(), want.item(), rel_tol=1e-6)


def test_bidirectional_t5_puts_later_keys_in_their_own_half_of_the_buckets():
    model = tiny_model("t5", causal=False)
    n = model.config.t5_n_buckets
    bias = _biases("t5", 9)
    table = model.encoding.table.weight.detach()  # (N, H)
    for i in range(9):
        for j in range(9):
            bucket = abs(i - j) + (n // 2 if j > i else 0)  # exact buckets below n/4
            torch.testing.assert_close(bias[:, i, j], table[bucket].to(bias.dtype))


def test_sdpa_and_explicit_attention_agree_without_the_causal_mask():
    model = tiny_model("rope", causal=False)
    x = tokens(1, batch=2, length=10)
    with torch.no_grad():
        fast = model(x)
        model.attention_maps(x)  # explicit softmax path runs too
        maps = model.attention_maps(x)
    assert (maps[0][:, :, 0, 1:] > 0).all()  # position 0 attends to later keys
    assert fast.shape == (2, 10, 12)


def test_kv_cache_decoding_and_ensembles_refuse_non_causal_models():
    from bipe.models.ensemble import EnsembleTransformer as Ensemble

    model = tiny_model("rope", causal=False)
    prompt = tokens(2, batch=1, length=5)
    with pytest.raises(ValueError, match="cannot decode with a KV cache"):
        model.generate(prompt, 3)
    out = model.generate(prompt, 3, use_cache=False)
    assert out.shape == (1, 8)
    with pytest.raises(ValueError, match="non-causal"):
        Ensemble([model])


def test_causal_must_be_a_bool():
    with pytest.raises(ValueError, match="causal must be true or false"):
        tiny_config("rope", causal="no")
    assert Transformer(tiny_config("nope", causal=False)).config.causal is False


def test_checking_a_non_causal_config_leaves_the_global_generator_alone():
    torch.manual_seed(5)
    tiny_config("learned", causal=False)
    after_config = torch.rand(1)
    torch.manual_seed(5)
    assert torch.equal(torch.rand(1), after_config)
