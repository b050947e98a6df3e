"""Benchmark: where does bfloat16 autocast pay on this CPU? (issue 13, the ``auto`` rule)

One training step (forward, backward, AdamW) of a bipe ``rope`` Transformer in float32 and
under bfloat16 autocast, at a grid of widths and sequence lengths, the two precisions
interleaved step by step (so a shared machine slows both alike) and the median step time of
each kept. Prints the CPU, its bf16 support and, per shape, bf16 speed / float32 speed: above
1 bf16 pays. ``compute_dtype="auto"`` picks bf16 on a native-bf16 CPU only for training steps of
at least ``B * T * D = CPU_BF16_MIN_WORK`` (``bipe.models.precision``), chosen from this table.

Run: ``.venv/bin/python benchmarks/bench_precision.py [--steps 12] [--threads 1]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from bipe.models import ModelConfig, Transformer
from bipe.models.precision import CPU_BF16_MIN_WORK, cpu_model, has_native_bf16

WIDTHS = (64, 128, 256)
LENGTHS = (64, 256)
BATCH = 32
VOCAB = 64


def step_times(width: int, length: int, steps: int) -> dict[str, float]:
    """Median seconds per training step in each precision, interleaved."""
    gen = torch.Generator().manual_seed(0)
    tokens = torch.randint(0, VOCAB, (BATCH, length), generator=gen)
    models, opts = {}, {}
    for dtype in ("float32", "bfloat16"):
        torch.manual_seed(0)
        models[dtype] = Transformer(
            ModelConfig(VOCAB, width, 2, max(1, width // 32), pe="rope", compute_dtype=dtype)
        )
        opts[dtype] = torch.optim.AdamW(models[dtype].parameters(), lr=1e-3)
    times: dict[str, list[float]] = {"float32": [], "bfloat16": []}
    for i in range(steps + 2):  # two warm-up steps each
        for dtype, model in models.items():
            start = time.perf_counter()
            logits = model(tokens)  # (B, T, V)
            loss = torch.nn.functional.cross_entropy(
                logits.reshape(-1, VOCAB), tokens.roll(-1, 1).reshape(-1)
            )
            loss.backward()
            opts[dtype].step()
            opts[dtype].zero_grad(set_to_none=True)
            if i >= 2:
                times[dtype].append(time.perf_counter() - start)
    return {k: statistics.median(v) for k, v in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"CPU: {cpu_model()}; native bf16: {has_native_bf16('cpu')}; threads {args.threads}; "
        f"auto picks bf16 from B*T*D = {CPU_BF16_MIN_WORK:,} on a native-bf16 CPU"
    )
    print(
        f"{'width':>6} {'length':>6} {'B*T*D':>10} {'fp32 ms':>9} {'bf16 ms':>9} "
        f"{'bf16 speed-up':>14}"
    )
    for width in WIDTHS:
        for length in LENGTHS:
            t = step_times(width, length, args.steps)
            print(
                f"{width:>6} {length:>6} {BATCH * length * width:>10,} "
                f"{1e3 * t['float32']:>9.1f} "
                f"{1e3 * t['bfloat16']:>9.1f} {t['float32'] / t['bfloat16']:>13.2f}x"
            )


if __name__ == "__main__":
    main()
