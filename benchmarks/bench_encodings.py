"""Training-step time of the newer encodings relative to ``rope``, measured in one run.

Shape legend: B batch, T length, D width, L layers, H heads, V vocabulary.

    .venv/bin/python benchmarks/bench_encodings.py              # about 2-4 minutes on 2 cores
    .venv/bin/python benchmarks/bench_encodings.py --rounds 5 --dtype bfloat16

The shape of ``bench_models.py``: vocab 32, width 128, 3 layers, 4 heads, FFN 512, batch
32 x 256 tokens (a separator about every 10 tokens), float32 by default. Every entry is timed
in interleaved rounds (forward, backward, AdamW); the table reports the best round (the least
disturbed on a shared machine), the median, and the best-step ratio to ``rope`` of the same run.
Content-aware entries (``cope``, ``bipe_cope``, ``fox``) leave the plain causal SDPA kernel for
a float-mask SDPA plus their (B, H, T, S) logit term; the others keep the causal kernel.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from bench_models import F_FF, SEP, B, D, H, L, T, V, training_step

from bipe.models import ModelConfig, Transformer

ENTRIES: dict[str, dict] = {
    "rope": {},
    "bipe_rope": {"pe": "bipe_rope"},
    "hirope": {"pe": "hirope"},
    "resonance_rope": {"pe": "resonance_rope"},
    "p_rope": {"pe": "p_rope"},
    "rope + pose": {"pose_target_len": 4 * T},
    "rope + log_scale": {"log_scale": "clamped", "log_scale_len": T},
    "fox": {"pe": "fox"},
    "cope": {"pe": "cope"},
    "bipe_cope": {"pe": "bipe_cope"},
}


def build(options: dict, dtype: str) -> Transformer:
    """A fresh training-mode model of the benchmark shape with ``options`` (pe defaults rope)."""
    torch.manual_seed(0)
    options = {"pe": "rope", **options}
    return Transformer(
        ModelConfig(
            V, D, L, H, d_ff=F_FF, separators=(SEP,), max_intra=T, compute_dtype=dtype, **options
        )
    ).train()


def time_entries(entries: dict[str, dict], batch: int, rounds: int, dtype: str, width=18) -> None:
    """Time one training step of every entry (interleaved rounds after a warm-up) on one batch
    of ``batch`` x T tokens and print best, median, tokens/s and the ratio to ``rope``."""
    g = torch.Generator().manual_seed(0)
    tokens = torch.randint(0, V - 1, (batch, T), generator=g)
    tokens = torch.where(torch.rand(batch, T, generator=g) < 0.1, SEP, tokens)
    forward = lambda m, x: m(x, generator=torch.Generator().manual_seed(1))  # noqa: E731
    steps = {
        name: training_step(build(opts, dtype), forward, False) for name, opts in entries.items()
    }
    wall: dict[str, list[float]] = {name: [] for name in steps}
    for step in steps.values():
        step(tokens)  # warm-up
    for _ in range(rounds):
        for name, step in steps.items():
            start = time.perf_counter()
            step(tokens)
            wall[name].append(time.perf_counter() - start)
    best = {name: min(ts) for name, ts in wall.items()}
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {dtype}, "
        f"batch {batch} x {T}, d_model {D}, {L} layers, {H} heads; {rounds} rounds"
    )
    print(f"{'entry':<{width}}{'best s':>8}{'median s':>10}{'tokens/s':>10}{'vs rope':>9}")
    for name in steps:
        print(
            f"{name:<{width}}{best[name]:>8.3f}{statistics.median(wall[name]):>10.3f}"
            f"{batch * T / best[name]:>10.0f}{best[name] / best['rope']:>8.2f}x"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds")
    parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16"))
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    time_entries(ENTRIES, B, args.rounds, args.dtype)


if __name__ == "__main__":
    main()
