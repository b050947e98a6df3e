"""Benchmark: bipe at the small shapes the studies train, against transformers' Llama.

Prints, in one run on this machine:

1. the CPU model and whether it computes bfloat16 natively (``bipe.models.precision``);
2. end-to-end ``bipe train`` tokens/s (from metrics.jsonl, windows after the first, so start-up
   and compilation are excluded; compile warm-up is reported separately) against a training
   loop of ``LlamaForCausalLM`` (eager, SDPA, float32, torch's default AdamW) on the *same
   batches* (same shapes, same padding), at the ``demo`` and ``cpu_arith`` preset shapes,
   float32, with ``train.compile`` off and on, ``--rounds`` times in rotating order (the
   machine may be shared; the median of the rounds' ratios is printed);
3. the bf16-vs-fp32 end-to-end ratio on this CPU (``compute_dtype`` bfloat16 vs float32);
4. :func:`bench_ensemble` (ensemble of K=4 vs ``--jobs 2`` aggregate): filled by the ensemble
   work; skipped with a note while ``bipe.experiments.ensemble`` is missing.

Run: ``.venv/bin/python benchmarks/bench_small.py [--steps 60] [--threads 2] [--rounds 3]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch

from bipe.experiments.presets import build_config
from bipe.experiments.train import batch_indices, make_batch, prepare, resolve_device, train
from bipe.models import Transformer, to_hf_llama
from bipe.models.precision import cpu_flags, cpu_model, has_native_bf16

SHAPES = ("demo", "cpu_arith")


def small_config(preset: str, steps: int, pe: str = "rope", device: str = "cpu", **train_fields):
    """The preset's shape and batch, ``steps`` steps, logging every 10, no evaluation, on
    ``device``; ``train_fields`` are TrainConfig fields or dotted keys."""
    overrides = {
        "train.steps": str(steps),
        "train.log_every": "10",
        "train.warmup": "10",
        "train.checkpoint_every": str(steps),
        "train.evaluate_at_end": "false",
        "data.n_train": "4000",
        "model.compute_dtype": "float32",
        "train.device": device,
    }
    overrides.update({k if "." in k else f"train.{k}": str(v) for k, v in train_fields.items()})
    return build_config(preset, pe=pe, overrides=overrides, out="unused")


def bipe_tokens_per_s(config) -> tuple[float, float]:
    """(tokens/s in the training loop after the first logged window, seconds of that window)."""
    with tempfile.TemporaryDirectory() as tmp:
        cfg = dataclasses.replace(config, out=str(Path(tmp) / "run"))
        train(cfg, progress=False)
        rows = [json.loads(x) for x in (Path(cfg.out) / "metrics.jsonl").read_text().splitlines()]
    later = rows[1:]
    seconds = sum(r["elapsed_s"] for r in later)
    return sum(r["tokens/s"] * r["elapsed_s"] for r in later) / seconds, rows[0]["elapsed_s"]


def hf_tokens_per_s(config, steps: int) -> float:
    """Tokens/s of an HF Llama (eager SDPA, float32) training loop on the run's own batches."""
    prepared = prepare(config)
    device = resolve_device(config.train.device)
    torch.manual_seed(0)
    model = Transformer(dataclasses.replace(prepared.config.model, pe="rope"))
    llama = to_hf_llama(model).to(device).train()
    opt = torch.optim.AdamW(llama.parameters(), lr=1e-3)
    tc, n = prepared.config.train, len(prepared.train)
    batches = [
        make_batch(
            prepared.train,
            prepared.positions,
            batch_indices(config.data_seed, s, tc.batch_size, n),
            device,
        )
        for s in range(steps)
    ]
    tokens_seen, start = 0, 0.0
    for i, (tokens, _, targets) in enumerate(batches):
        if i == 10:  # the bipe figure also skips its first window
            _sync(device)
            tokens_seen, start = 0, time.perf_counter()
        logits = llama(input_ids=tokens).logits  # (B, T, V)
        loss = prepared.task.loss(logits, targets, prepared.config.data)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(llama.parameters(), tc.grad_clip)
        opt.step()
        tokens_seen += tokens.numel()
    _sync(device)
    return tokens_seen / (time.perf_counter() - start)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_shape(preset: str, steps: int, compile_too: bool = True, rounds: int = 1) -> None:
    """HF eager vs bipe eager / compiled at one preset shape (float32), ``rounds`` times in
    rotating order; the ratios are the medians of the rounds' ratios."""
    config = small_config(preset, steps)
    compiled_config = small_config(preset, steps, compile="true")
    ratios: dict[str, list[float]] = {"eager": [], "compiled": []}
    for r in range(rounds):
        figures, warm_up = {}, 0.0
        order = ["hf", "eager", "compiled"] if compile_too else ["hf", "eager"]
        for name in order[r % len(order) :] + order[: r % len(order)]:
            if name == "hf":
                figures[name] = hf_tokens_per_s(config, steps)
            elif name == "eager":
                figures[name], _ = bipe_tokens_per_s(config)
            else:
                figures[name], warm_up = bipe_tokens_per_s(compiled_config)
        for name in order[1:]:
            ratios[name].append(figures[name] / figures["hf"])
        compiled = (
            (
                f" | bipe compiled {figures['compiled']:,.0f} "
                f"({ratios['compiled'][-1]:.2f}x; first window incl. compilation "
                f"{warm_up:.1f} s)"
            )
            if compile_too
            else " | compiled: not measured"
        )
        m = config.model
        print(
            f"{preset} (d {m.d_model}, {m.n_layers} layers, batch {config.train.batch_size}) "
            f"round {r + 1}: HF Llama eager {figures['hf']:,.0f} tok/s | bipe eager "
            f"{figures['eager']:,.0f} ({ratios['eager'][-1]:.2f}x){compiled}",
            flush=True,
        )
    if rounds > 1:
        summary = ", ".join(
            f"{name} {statistics.median(v):.2f}x" for name, v in ratios.items() if v
        )
        print(f"{preset}: median over {rounds} rounds, of HF eager: {summary}")


def bench_bf16(steps: int) -> None:
    """End-to-end bf16 / fp32 tokens/s at the demo shape on this CPU."""
    fp32, _ = bipe_tokens_per_s(small_config("demo", steps))
    bf16, _ = bipe_tokens_per_s(small_config("demo", steps, **{"model.compute_dtype": "bfloat16"}))
    print(
        f"bf16 vs fp32 end-to-end at the demo shape: {bf16 / fp32:.2f}x "
        f"({bf16:,.0f} vs {fp32:,.0f} tok/s)"
    )


def bench_ensemble(steps: int) -> None:
    """Ensemble of K=4 seeds in one process vs ``bipe sweep --jobs 2`` aggregate tokens/s."""
    if importlib.util.find_spec("bipe.experiments.ensemble") is None:
        print("ensemble: skipped (bipe.experiments.ensemble is not in this checkout)")
        return
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).with_name("bench_ensemble.py")  # the full comparison lives there
    subprocess.run([sys.executable, str(script), "--k", "4", "--steps", str(steps)], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--shapes", default=",".join(SHAPES))
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="repeat each shape's figures in rotating order (a loaded machine)",
    )
    parser.add_argument(
        "--no-compile",
        action="store_true",
        help="skip the compiled figures (their warm-up dominates short runs)",
    )
    parser.add_argument("--skip", default="", help="comma list of parts to skip: bf16,ensemble")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    flags = sorted(f for f in cpu_flags() if "bf16" in f or f.startswith("amx"))
    print(
        f"CPU: {cpu_model()}; native bf16: {has_native_bf16('cpu')} "
        f"(flags: {', '.join(flags) or 'none'}); torch {torch.__version__}, "
        f"{args.threads} threads, {args.steps} steps per figure, float32 unless stated"
    )
    for preset in args.shapes.split(","):
        bench_shape(preset, args.steps, not args.no_compile, args.rounds)
    if "bf16" not in args.skip.split(","):
        bench_bf16(args.steps)
    if "ensemble" not in args.skip.split(","):
        bench_ensemble(args.steps)


if __name__ == "__main__":
    main()
