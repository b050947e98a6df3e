"""compute_dtype="auto": detection from injected CPU flag sets, resolution, the printed note."""

from __future__ import annotations

import pytest
import torch

from bipe.models import ModelConfig, Transformer
from bipe.models.precision import (
    CPU_BF16_MIN_WORK,
    NOMINAL_TOKENS,
    has_native_bf16,
    precision_note,
    resolve_compute_dtype,
)

AVX2 = {"fpu", "sse2", "avx", "avx2", "fma"}
SAPPHIRE = AVX2 | {"avx512f", "avx512_bf16", "amx_bf16", "amx_tile"}


@pytest.mark.parametrize(
    ("flags", "native"),
    [
        (AVX2, False),
        (AVX2 | {"avx512f", "avx512bw"}, False),
        (AVX2 | {"avx512_bf16"}, True),
        (AVX2 | {"amx_bf16"}, True),
        (SAPPHIRE, True),
        (set(), False),
    ],
)
def test_cpu_detection_reads_the_flags(flags, native):
    assert has_native_bf16("cpu", flags) is native
    big = CPU_BF16_MIN_WORK
    assert resolve_compute_dtype("auto", "cpu", flags, big) == ("bfloat16" if native else "float32")


def test_auto_on_a_native_cpu_weighs_the_step_and_says_why():
    small = 32 * 40 * 64  # the demo preset's step: bf16 measured slower than float32 there
    assert resolve_compute_dtype("auto", "cpu", SAPPHIRE, small) == "float32"
    assert resolve_compute_dtype("auto", "cpu", SAPPHIRE, CPU_BF16_MIN_WORK - 1) == "float32"
    assert resolve_compute_dtype("auto", "cpu", SAPPHIRE, CPU_BF16_MIN_WORK) == "bfloat16"
    note = precision_note("auto", "cpu", SAPPHIRE, small)
    assert note.startswith("compute dtype: float32 (auto, native bf16 on cpu, but a step of")
    assert "81,920" in note and "\n" not in note
    # an explicit choice is never second-guessed by the size rule
    assert resolve_compute_dtype("bfloat16", "cpu", SAPPHIRE, small) == "bfloat16"


def test_explicit_dtypes_are_kept_whatever_the_hardware():
    for flags in (AVX2, SAPPHIRE):
        assert resolve_compute_dtype("float32", "cpu", flags) == "float32"
        assert resolve_compute_dtype("bfloat16", "cpu", flags) == "bfloat16"


def test_only_emulated_bf16_warns_and_the_warning_names_the_slowdown():
    warn = precision_note("bfloat16", "cpu", AVX2)
    assert warn.startswith("warning:") and "slower" in warn and "\n" not in warn
    assert not precision_note("bfloat16", "cpu", SAPPHIRE).startswith("warning")
    assert (
        precision_note("auto", "cpu", AVX2)
        == "compute dtype: float32 (auto, no native bf16 on cpu)"
    )
    assert "bfloat16 (auto, native bf16" in precision_note(
        "auto", "cpu", SAPPHIRE, CPU_BF16_MIN_WORK
    )


def test_auto_is_the_default_and_the_model_follows_its_resolution():
    cfg = ModelConfig(12, 16, 1, 2)
    assert cfg.compute_dtype == "auto"
    model = Transformer(cfg)
    chosen = resolve_compute_dtype("auto", "cpu", work=NOMINAL_TOKENS * cfg.d_model)
    expected = torch.bfloat16 if chosen == "bfloat16" else torch.float32
    assert model.compute_dtype() == expected
    with pytest.raises(ValueError, match="compute_dtype"):
        ModelConfig(12, 16, 1, 2, compute_dtype="float16")
