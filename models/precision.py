"""Compute precision: which dtype ``compute_dtype="auto"`` means on this machine.

``auto`` is bfloat16 where the hardware computes it natively (CUDA devices with bf16 support;
x86 CPUs with AMX-BF16 or AVX512-BF16, read at run time from the CPU's flags) and float32
elsewhere. On a CPU without native bf16, autocast emulates it and training runs several times
*slower* than float32 (6.6-8.3x measured on an AVX2 EPYC), so an explicit ``bfloat16`` there
earns a one-line warning. See ``docs/method.md#precision``.
"""

from __future__ import annotations

import functools
import platform
from collections.abc import Iterable
from pathlib import Path

import torch

__all__ = ["NATIVE_BF16_FLAGS", "cpu_flags", "cpu_model", "has_native_bf16", "precision_note",
           "resolve_compute_dtype"]

NATIVE_BF16_FLAGS = ("amx_bf16", "avx512_bf16")
EMULATED_SLOWDOWN = "6-8x"  # measured range, BENCHMARKS.md


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags from ``/proc/cpuinfo`` (empty where it is not readable)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else the platform's processor string."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def has_native_bf16(device: torch.device | str, flags: Iterable[str] | None = None) -> bool:
    """True where ``device`` computes bfloat16 natively; ``flags`` replaces the CPU's own
    flags (tests inject flag sets)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device.type != "cpu":
        return False
    found = cpu_flags() if flags is None else frozenset(flags)
    return any(f in found for f in NATIVE_BF16_FLAGS)


def resolve_compute_dtype(name: str, device: torch.device | str,
                          flags: Iterable[str] | None = None) -> str:
    """``float32`` or ``bfloat16``: ``name`` itself unless it is ``auto``."""
    if name != "auto":
        return name
    return "bfloat16" if has_native_bf16(device, flags) else "float32"


def precision_note(name: str, device: torch.device | str,
                   flags: Iterable[str] | None = None) -> str:
    """The one line a run prints about its precision (a warning for emulated bf16)."""
    chosen = resolve_compute_dtype(name, device, flags)
    native = has_native_bf16(device, flags)
    if chosen == "bfloat16" and not native:
        return (f"warning: compute_dtype=bfloat16 on {torch.device(device).type} without native "
                f"bf16 (no {' or '.join(NATIVE_BF16_FLAGS)}): expect training about "
                f"{EMULATED_SLOWDOWN} slower than float32; use auto or float32")
    why = "native bf16" if native else "no native bf16"
    how = f"auto, {why}" if name == "auto" else "as configured"
    return f"compute dtype: {chosen} ({how} on {torch.device(device).type})"
