"""EnsembleTransformer: every registry encoding as a member gives its separate model's logits
and gradients; members round-trip as ordinary Transformers; bad ensembles are refused."""

import pytest
import torch
from model_helpers import VARIANT_IDS, VARIANTS, VOCAB, tiny_config

from bipe.models import Transformer
from bipe.models.ensemble import EnsembleTransformer


def _members(configs, seeds):
    out = []
    for config, seed in zip(configs, seeds, strict=True):
        torch.manual_seed(seed)
        out.append(Transformer(config).train())
    return out


def _batches(lengths, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randint(0, VOCAB, (3, t), generator=g) for t in lengths]


@pytest.mark.parametrize(("pe", "extra"), VARIANTS, ids=VARIANT_IDS)
def test_member_of_every_encoding_equals_its_model(pe, extra):
    """Beside a rotary and a biased member, with three different batch lengths."""
    configs = [tiny_config("rope"), tiny_config(pe, **extra), tiny_config("bipe_alibi")]
    members = _members(configs, (0, 1, 2))
    if "layer_pattern" in extra or "window" in extra:
        with pytest.raises(ValueError, match="layer_pattern/window"):
            EnsembleTransformer(members)
        return
    if members[1].encoding.uses_content:
        with pytest.raises(ValueError, match="reads attention content"):
            EnsembleTransformer(members)
        return
    ensemble = EnsembleTransformer(members).train()
    tokens = _batches((9, 14, 6))
    gens = [torch.Generator().manual_seed(i) for i in range(3)]
    logits = ensemble(tokens, None, gens)
    sum(x.square().mean() for x in logits).backward()
    gens = [torch.Generator().manual_seed(i) for i in range(3)]
    for m, (model, t, g) in enumerate(zip(members, tokens, gens, strict=True)):
        ref = model(t, generator=g)
        torch.testing.assert_close(logits[m], ref, atol=1e-6, rtol=1e-5)
        ref.square().mean().backward()
        for name, p in model.named_parameters():
            tensor, index = ensemble.locate(m, name)
            grad = tensor.grad if index is None else tensor.grad[index]
            torch.testing.assert_close(grad, p.grad, atol=1e-7, rtol=1e-4, msg=name)


@pytest.mark.parametrize("native", [False, True])
def test_auto_precision_resolves_as_a_transformer(native, monkeypatch):
    """compute_dtype="auto" means what it means for a Transformer on the same device: float32
    logits equal to an explicit float32 ensemble's where the CPU lacks native bf16, bfloat16
    ones where it has it (and the step-size rule is lifted)."""
    monkeypatch.setattr(
        "bipe.models.precision.cpu_flags", lambda: frozenset({"amx_bf16"} if native else set())
    )
    monkeypatch.setattr("bipe.models.precision.CPU_BF16_MIN_WORK", 0)  # any step pays here
    tokens = _batches((9, 6))
    logits = {}
    for dtype in ("auto", "float32", "bfloat16"):
        members = _members(
            [
                tiny_config("bipe_rope", compute_dtype=dtype),
                tiny_config("rope", compute_dtype=dtype),
            ],
            (0, 1),
        )
        ensemble = EnsembleTransformer(members).eval()
        assert ensemble.compute_dtype() == members[0].compute_dtype()
        logits[dtype] = ensemble(tokens)
    same = logits["bfloat16" if native else "float32"]
    for ours, theirs in zip(logits["auto"], same, strict=True):
        assert torch.equal(ours, theirs)


@pytest.mark.parametrize("tie", [False, True])
def test_members_round_trip(tie):
    configs = [tiny_config("bipe_rope", tie_embeddings=tie), tiny_config("t5", tie_embeddings=tie)]
    members = _members(configs, (3, 4))
    ensemble = EnsembleTransformer(members)
    for m, model in enumerate(members):
        back = ensemble.member(m).state_dict()
        assert set(back) == set(model.state_dict())
        for name, value in model.state_dict().items():
            assert torch.equal(back[name], value), name
    ensemble.load_member_state_dict(1, members[1].state_dict())
    assert torch.equal(
        ensemble.member(1).state_dict()["head.weight"], members[1].state_dict()["head.weight"]
    )
    with pytest.raises(ValueError, match="keys do not match"):
        ensemble.load_member_state_dict(0, members[1].state_dict())


def test_incompatible_members_are_refused():
    with pytest.raises(ValueError, match="differs from member 0 in d_ff"):
        EnsembleTransformer(_members([tiny_config("rope"), tiny_config("rope", d_ff=64)], (0, 1)))
    with pytest.raises(ValueError, match="do not support dropout"):
        EnsembleTransformer(_members([tiny_config("rope", dropout=0.1)] * 2, (0, 1)))
    with pytest.raises(ValueError, match="at least one member"):
        EnsembleTransformer([])
