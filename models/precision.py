"""Compute precision: which dtype ``compute_dtype="auto"`` means on this machine.

``auto`` is bfloat16 where the hardware computes it natively *and* it pays, float32 elsewhere:

- CUDA devices with bf16 support: bfloat16.
- x86 CPUs with AMX-BF16 or AVX512-BF16 (read at run time from the CPU's flags): bfloat16 only
  for steps big enough that the bf16 matrix units save more than the casts cost, measured by
  the step's *work* ``B * T * D`` (tokens per step times the model width) against
  :data:`CPU_BF16_MIN_WORK`. At the presets' small shapes (``demo``: 32 x 40 tokens at width 64)
  bf16 autocast was measured 0.63x-0.9x of float32 on an AMX Xeon, and 1.25x-1.57x from
  ``B * T * D = 2**19`` (``benchmarks/bench_precision.py``, BENCHMARKS.md). A training run knows
  its step (batch size times the training set's mean length); a ``Transformer`` used directly
  assumes a step of :data:`NOMINAL_TOKENS` tokens.
- elsewhere float32. On a CPU without native bf16, autocast emulates it and training runs
  several times *slower* than float32 (6.6-8.3x measured on an AVX2 EPYC), so an explicit
  ``bfloat16`` there earns a one-line warning.

See ``docs/guide.md#precision``.
"""

from __future__ import annotations

import functools
import platform
from collections.abc import Iterable
from pathlib import Path

import torch

__all__ = [
    "CPU_BF16_MIN_WORK",
    "NATIVE_BF16_FLAGS",
    "NOMINAL_TOKENS",
    "cpu_flags",
    "cpu_model",
    "has_native_bf16",
    "precision_note",
    "resolve_compute_dtype",
]

NATIVE_BF16_FLAGS = ("amx_bf16", "avx512_bf16")
EMULATED_SLOWDOWN = "6-8x"  # measured range, BENCHMARKS.md
CPU_BF16_MIN_WORK = 2**19  # B * T * D from which bf16 autocast beat float32 on an AMX CPU
NOMINAL_TOKENS = 2048  # tokens per step assumed when the caller does not say


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


def resolve_compute_dtype(
    name: str,
    device: torch.device | str,
    flags: Iterable[str] | None = None,
    work: int | None = None,
) -> str:
    """``float32`` or ``bfloat16``: ``name`` itself unless it is ``auto`` (module docstring).

    ``work`` is a training step's ``B * T * D``; it decides on a native-bf16 CPU (``None``:
    :data:`NOMINAL_TOKENS` tokens at width 128).
    """
    if name != "auto":
        return name
    return "bfloat16" if _auto_bf16(device, flags, work)[0] else "float32"


def _auto_bf16(
    device: torch.device | str, flags: Iterable[str] | None, work: int | None
) -> tuple[bool, str]:
    """(auto picks bf16, why in a few words)."""
    device = torch.device(device)
    if not has_native_bf16(device, flags):
        return False, f"no native bf16 on {device.type}"
    if device.type != "cpu":
        return True, f"native bf16 on {device.type}"
    work = NOMINAL_TOKENS * 128 if work is None else int(work)
    if work < CPU_BF16_MIN_WORK:
        return False, (
            f"native bf16 on cpu, but a step of B*T*D={work:,} is below "
            f"{CPU_BF16_MIN_WORK:,} where bf16 pays"
        )
    return True, f"native bf16 on cpu, step B*T*D={work:,}"


def precision_note(
    name: str,
    device: torch.device | str,
    flags: Iterable[str] | None = None,
    work: int | None = None,
) -> str:
    """The one line a run prints about its precision (a warning for emulated bf16)."""
    chosen = resolve_compute_dtype(name, device, flags, work)
    native = has_native_bf16(device, flags)
    if chosen == "bfloat16" and not native:
        return (
            f"warning: compute_dtype=bfloat16 on {torch.device(device).type} without native "
            f"bf16 (no {' or '.join(NATIVE_BF16_FLAGS)}): expect training about "
            f"{EMULATED_SLOWDOWN} slower than float32; use auto or float32"
        )
    how = f"auto, {_auto_bf16(device, flags, work)[1]}" if name == "auto" else "as configured"
    return f"compute dtype: {chosen} ({how})"
