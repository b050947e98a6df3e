"""The CUDA path: what runs without a GPU, and ``cuda``-marked tests that need one (they skip
where no GPU is present; ``benchmarks/gpu_check.sh`` runs them on a GPU machine)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from bipe.models import Transformer
from bipe.models.absolute import LearnedAbsolute
from bipe.models.positions import Positions

from .model_helpers import tiny_config, tokens

needs_gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
PES = ["rope", "bipe_rope", "alibi", "bipe_alibi", "t5", "hbipe"]


def on_gpu(test):
    """Mark ``test`` ``cuda`` and skip it where no CUDA device is present."""
    return pytest.mark.cuda(needs_gpu(test))


@pytest.mark.parametrize("overflow", ["clamp", "error", "sinusoidal"])
def test_sync_free_training_rows_equal_the_checked_path(overflow):
    """The GPU/compiled training path (no host sync) gives the checked path's rows and
    records the same trained rows."""
    torch.manual_seed(0)
    checked = LearnedAbsolute(16, 8, source="intra", overflow=overflow, track_trained=True)
    fast = LearnedAbsolute(16, 8, source="intra", overflow=overflow, track_trained=True)
    fast.load_state_dict(checked.state_dict())
    for top in (5, 11, 9):
        p = torch.randint(0, top + 1, (3, 7), generator=torch.Generator().manual_seed(top))
        p[0, 0] = top
        rows = checked.train().embed(Positions(p, p, p))
        assert torch.equal(fast.train().train_rows(p), rows)
        assert int(fast.n_trained) == int(checked.n_trained)
    assert int(fast.n_trained) == 12


@on_gpu
@pytest.mark.parametrize("pe", PES)
def test_cuda_forward_equals_cpu(pe):
    torch.manual_seed(0)
    model = Transformer(tiny_config(pe)).eval()
    x = tokens(1)
    expected = model(x)
    got = model.cuda()(x.cuda()).cpu()
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


@on_gpu
@pytest.mark.parametrize("pe", PES)
def test_training_step_has_no_host_synchronisation(pe):
    torch.manual_seed(0)
    model = Transformer(tiny_config(pe)).cuda().train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, fused=True)
    x = tokens(2).cuda()
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(2):
            logits = model(x)  # (B, T, V)
            loss = F.cross_entropy(logits[:, :-1].flatten(0, 1), x[:, 1:].flatten())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
    finally:
        torch.cuda.set_sync_debug_mode("default")


@on_gpu
def test_fused_attention_kernels_are_reachable():
    """Without a bias or padding, attention runs on SDPA's fused kernels (math disabled)."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    model = Transformer(tiny_config("rope", compute_dtype="bfloat16")).cuda().train()
    with sdpa_kernel([SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION]):
        model(tokens(3).cuda()).sum().backward()


@on_gpu
@pytest.mark.parametrize("pe", PES)
def test_cached_decoding_equals_recomputation_on_cuda(pe):
    torch.manual_seed(0)
    model = Transformer(tiny_config(pe)).cuda().eval()
    prompt = tokens(4, length=8).cuda()
    with torch.no_grad():
        assert torch.equal(model.generate(prompt, 12), model.generate(prompt, 12, use_cache=False))


@on_gpu
def test_auto_device_and_dtype_choose_cuda_bf16(tmp_path):
    from bipe.experiments.presets import build_config
    from bipe.experiments.train import resolve_device, resolve_precision

    assert resolve_device("auto").type == "cuda"
    config = resolve_precision(build_config("tiny", task="binfa_lm", out=str(tmp_path)))
    expected = "bfloat16" if torch.cuda.is_bf16_supported() else "float32"
    assert config.model.compute_dtype == expected
