"""Benchmark bipe.models against transformers' Llama, side by side in one run.

Shape legend: B batch, T length, D width, F feed-forward width, V vocabulary, L layers.

    .venv/bin/python benchmarks/bench_models.py            # about 3 minutes on 2 quiet cores
    .venv/bin/python benchmarks/bench_models.py --threads 1 --compile --decode-batches 8

Prints, for vocab 32, width 128, 3 layers, 4 heads, FFN 512, batch 32 x 256 tokens:

1. matmul peak (GFLOP/s) in float32 and bfloat16, measured here;
2. training-step throughput (forward, backward, AdamW; tokens/s from the best of interleaved
   rounds, the least disturbed on a shared machine; median wall and CPU seconds beside it)
   of LlamaForCausalLM (SDPA) and of our pe="rope", each in float32 and under bfloat16
   autocast (our ``compute_dtype="bfloat16"``), plus pe="bipe_rope" and pe="bipe_alibi";
   ratios against the Llama reference and against rope, and FLOP utilisation (model FLOPs
   6N + 12 L D T per token, full attention counted) against the peak of the same dtype;
3. greedy decoding of 512 tokens after a 16-token prompt (batch 1; ``--decode-batches 8``
   adds larger batches for rope; float32; best of ``--decode-repeats``) with the KV cache
   against full recomputation per token, checking both give the same tokens.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from contextlib import nullcontext

import torch

from bipe.models import ModelConfig, Transformer, to_hf_llama

V, D, L, H, F_FF = 32, 128, 3, 4, 512
B, T = 32, 256
SEP = V - 1


def matmul_peak(dtype: torch.dtype, n: int = 1024, repeats: int = 10) -> float:
    """Best GFLOP/s of an n x n x n matmul."""
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    for _ in range(3):
        a @ b
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def training_step(model: torch.nn.Module, forward: Callable, bf16: bool) -> Callable:
    """One closure: forward (autocast if bf16), cross-entropy, backward, AdamW step."""
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)

    def step(tokens: torch.Tensor) -> None:
        context = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else nullcontext()
        with context:
            logits = forward(model, tokens)  # (B, T, V)
        loss = torch.nn.functional.cross_entropy(logits.float().flatten(0, 1), tokens.flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def model_flops_per_token(cfg: ModelConfig) -> float:
    """6 N (matmul weights incl. the output head) + 12 L D T (attention scores and mixing)."""
    n = cfg.n_layers * (4 * cfg.d_model**2 + 3 * cfg.d_model * cfg.ff_width)
    n += cfg.d_model * cfg.vocab_size
    return 6 * n + 12 * cfg.n_layers * cfg.d_model * T


def ours(pe: str, dtype: str = "float32") -> Transformer:
    torch.manual_seed(0)
    return Transformer(
        ModelConfig(
            V, D, L, H, d_ff=F_FF, pe=pe, separators=(SEP,), max_intra=T, compute_dtype=dtype
        )
    ).train()


def bench_training(rounds: int, use_compile: bool) -> None:
    g = torch.Generator().manual_seed(0)
    tokens = torch.randint(0, V - 1, (B, T), generator=g)
    tokens = torch.where(torch.rand(B, T, generator=g) < 0.1, SEP, tokens)  # ~25-token segments
    rope32 = ours("rope")
    llama = to_hf_llama(rope32).train()
    hf_forward = lambda m, x: m(input_ids=x).logits  # noqa: E731
    our_forward = lambda m, x: m(x)  # noqa: E731
    steps = {
        "llama fp32 (reference)": training_step(llama, hf_forward, False),
        "llama bf16 autocast": training_step(to_hf_llama(ours("rope")).train(), hf_forward, True),
        "rope fp32": training_step(rope32, our_forward, False),
        "rope bf16": training_step(ours("rope", "bfloat16"), our_forward, False),
        "bipe_rope bf16": training_step(ours("bipe_rope", "bfloat16"), our_forward, False),
        "bipe_alibi bf16": training_step(ours("bipe_alibi", "bfloat16"), our_forward, False),
        "bipe_rope fp32": training_step(ours("bipe_rope"), our_forward, False),
        "bipe_alibi fp32": training_step(ours("bipe_alibi"), our_forward, False),
    }
    if use_compile:
        compiled = torch.compile(ours("rope", "bfloat16"))
        start = time.perf_counter()
        steps["rope bf16 compiled"] = training_step(compiled, our_forward, False)
        steps["rope bf16 compiled"](tokens)
        print(f"torch.compile warm-up: {time.perf_counter() - start:.1f} s")
    wall: dict[str, list[float]] = {name: [] for name in steps}
    cpu: dict[str, list[float]] = {name: [] for name in steps}
    for step in steps.values():
        step(tokens)  # warm-up
    for _ in range(rounds):
        for name, step in steps.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            step(tokens)
            wall[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
    best = {name: min(ts) for name, ts in wall.items()}
    flops = model_flops_per_token(rope32.config) * B * T
    peak = {"fp32": matmul_peak(torch.float32), "bf16": matmul_peak(torch.bfloat16)}
    print(
        f"matmul peak: fp32 {peak['fp32']:.0f} GFLOP/s, bf16 {peak['bf16']:.0f} GFLOP/s "
        f"(1024^3, best of 10, {torch.get_num_threads()} threads)"
    )
    print(
        f"model FLOPs per step: {flops / 1e9:.1f} GFLOP ({B} x {T} tokens); {rounds} "
        "interleaved rounds; 'best' is the least disturbed round (the machine is shared)"
    )
    print(
        f"{'training step':<24}{'best s':>8}{'median s':>10}{'cpu s':>8}{'tokens/s':>10}"
        f"{'vs llama fp32':>15}{'FLOP util':>11}"
    )
    ref = best["llama fp32 (reference)"]
    for name in steps:
        util = flops / best[name] / 1e9 / peak["bf16" if "bf16" in name else "fp32"]
        print(
            f"{name:<24}{best[name]:>8.3f}{statistics.median(wall[name]):>10.3f}"
            f"{statistics.median(cpu[name]):>8.3f}{B * T / best[name]:>10.0f}"
            f"{ref / best[name]:>14.2f}x{util:>10.0%}"
        )
    print("ratios (best step time; targets: ours >= 1.5x llama fp32, bipe <= 1.05x rope):")
    print(f"  rope bf16 vs llama fp32 speed-up: {ref / best['rope bf16']:.2f}x")
    print(f"  rope fp32 vs llama fp32 speed-up: {ref / best['rope fp32']:.2f}x")
    print(
        f"  rope bf16 vs llama bf16 speed-up: "
        f"{best['llama bf16 autocast'] / best['rope bf16']:.2f}x"
    )
    for dt in ("bf16", "fp32"):
        for pe in ("bipe_rope", "bipe_alibi"):
            ratio = best[f"{pe} {dt}"] / best[f"rope {dt}"]
            print(f"  {pe} {dt} / rope {dt} step time: {ratio:.3f}x")


def bench_decoding(n_new: int, batches: tuple[int, ...], repeats: int) -> None:
    cases = [("rope", 1), ("bipe_rope", 1)] + [("rope", b) for b in batches if b != 1]
    for pe, batch in cases:
        model = ours(pe).eval()
        prompt = torch.randint(0, V, (batch, 16), generator=torch.Generator().manual_seed(1))
        model.generate(prompt, 8)  # warm-up
        best, outs = {True: float("inf"), False: float("inf")}, {}
        for _ in range(repeats):
            for use_cache in (True, False):
                start = time.perf_counter()
                outs[use_cache] = model.generate(prompt, n_new, use_cache=use_cache)
                best[use_cache] = min(best[use_cache], time.perf_counter() - start)
        print(
            f"greedy decoding {pe}, batch {batch}, {n_new} tokens (best of {repeats}): "
            f"cached {best[True]:.2f} s ({batch * n_new / best[True]:.0f} tok/s), "
            f"recomputation {best[False]:.2f} s; speed-up {best[False] / best[True]:.1f}x; "
            f"identical tokens: {torch.equal(outs[True], outs[False])}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="interleaved timing rounds")
    parser.add_argument("--decode-tokens", type=int, default=512)
    parser.add_argument(
        "--decode-batches",
        type=int,
        nargs="*",
        default=[],
        help="extra decoding batch sizes for rope (batch 1 always runs)",
    )
    parser.add_argument("--decode-repeats", type=int, default=2)
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's choice)"
    )
    parser.add_argument("--compile", action="store_true", help="also time torch.compile")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    import transformers

    print(
        f"torch {torch.__version__}, transformers {transformers.__version__}, "
        f"{torch.get_num_threads()} threads, cpu capability "
        f"{torch.backends.cpu.get_cpu_capability()}"
    )
    bench_training(args.rounds, args.compile)
    bench_decoding(args.decode_tokens, tuple(args.decode_batches), args.decode_repeats)


if __name__ == "__main__":
    main()
