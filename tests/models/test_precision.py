"""compute_dtype="auto": detection from injected CPU flag sets, resolution, the printed note."""

from __future__ import annotations

import pytest
import torch

from bipe.models import ModelConfig, Transformer
from bipe.models.precision import has_native_bf16, precision_note, resolve_compute_dtype

AVX2 = {"fpu", "sse2", "avx", "avx2", "fma"}
SAPPHIRE = AVX2 | {"avx512f", "avx512_bf16", "amx_bf16", "amx_tile"}


@pytest.mark.parametrize(("flags", "native"), [
    (AVX2, False), (AVX2 | {"avx512f", "avx512bw"}, False), (AVX2 | {"avx512_bf16"}, True),
    (AVX2 | {"amx_bf16"}, True), (SAPPHIRE, True), (set(), False)])
def test_cpu_detection_reads_the_flags(flags, native):
    assert has_native_bf16("cpu", flags) is native
    assert resolve_compute_dtype("auto", "cpu", flags) == ("bfloat16" if native else "float32")


def test_explicit_dtypes_are_kept_whatever_the_hardware():
    for flags in (AVX2, SAPPHIRE):
        assert resolve_compute_dtype("float32", "cpu", flags) == "float32"
        assert resolve_compute_dtype("bfloat16", "cpu", flags) == "bfloat16"


def test_only_emulated_bf16_warns_and_the_warning_names_the_slowdown():
    warn = precision_note("bfloat16", "cpu", AVX2)
    assert warn.startswith("warning:") and "slower" in warn and "\n" not in warn
    assert not precision_note("bfloat16", "cpu", SAPPHIRE).startswith("warning")
    assert precision_note("auto", "cpu", AVX2) == \
        "compute dtype: float32 (auto, no native bf16 on cpu)"
    assert "bfloat16 (auto, native bf16" in precision_note("auto", "cpu", SAPPHIRE)


def test_auto_is_the_default_and_the_model_follows_its_resolution():
    cfg = ModelConfig(12, 16, 1, 2)
    assert cfg.compute_dtype == "auto"
    model = Transformer(cfg)
    expected = torch.bfloat16 if has_native_bf16("cpu") else torch.float32
    assert model.compute_dtype() == expected
    with pytest.raises(ValueError, match="compute_dtype"):
        ModelConfig(12, 16, 1, 2, compute_dtype="float16")
