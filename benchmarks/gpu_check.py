"""The Python parts of ``benchmarks/gpu_check.sh``: demo Bi-NFA runs, cached decoding, tokens/s.

On ``--device cuda`` (the default):

1. trains the demo's Bi-NFA runs (``bipe demo``'s configs: its encodings, ``--seeds`` seeds,
   4 by default to stay under 5 minutes; the demo itself uses 8) on the device and prints each
   run's time and summary;
2. checks cached decoding against recomputation in float32 on the device (greedy tokens equal,
   for every encoding of the demo);
3. prints training tokens/s of bipe ``rope`` and ``bipe_rope`` beside transformers' Llama
   (eager, SDPA) at the demo shape on the same device, float32, and bipe with
   ``compute_dtype=auto`` (bf16 autocast where supported).

``--device cpu --quick`` runs the same code in seconds-to-minutes on a CPU (tiny runs, few
steps; the numbers mean nothing): it checks the script itself where no GPU is lent.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_small import bipe_tokens_per_s, hf_tokens_per_s, small_config

from bipe.experiments.demo import demo_configs
from bipe.experiments.rundir import read_json
from bipe.experiments.train import train
from bipe.models import ModelConfig, Transformer

DECODE_ENCODINGS = ("rope", "bipe_rope", "alibi", "bipe_alibi", "t5")


def demo_binfa_runs(device: str, quick: bool, seeds: int) -> None:
    """Train the demo's Bi-NFA runs on ``device`` and print their summaries."""
    configs = demo_configs("binfa", quick=quick, seeds=seeds)
    with tempfile.TemporaryDirectory() as tmp:
        for config in configs:
            config = dataclasses.replace(
                config,
                out=str(Path(tmp) / config.out),
                train=dataclasses.replace(config.train, device=device),
            )
            start = time.perf_counter()
            out = train(config, progress=False)
            summary = read_json(Path(out) / "eval.json")["summary"]
            acc = ", ".join(
                f"{k}: " + " ".join(f"{m} {x:.2f}" for m, x in v.items() if isinstance(x, float))
                for k, v in summary.items()
                if v
            )
            print(f"  {config.out}: {time.perf_counter() - start:.1f} s; {acc}")


def cached_decoding_matches(device: str) -> bool:
    """Greedy decoding with the KV cache equals recomputation (float32, on ``device``)."""
    ok = True
    gen = torch.Generator().manual_seed(0)
    prompt = torch.randint(0, 10, (4, 12), generator=gen)
    prompt[:, 3::4] = 10  # separators
    for pe in DECODE_ENCODINGS:
        torch.manual_seed(0)
        cfg = ModelConfig(
            12, 64, 2, 4, pe=pe, separators=(10,), max_intra=64, compute_dtype="float32"
        )
        model = Transformer(cfg).to(device).eval()
        x = prompt.to(device)
        with torch.no_grad():
            cached = model.generate(x, 24)
            recomputed = model.generate(x, 24, use_cache=False)
        same = torch.equal(cached, recomputed)
        ok &= same
        print(f"  {pe}: cached decoding {'equals' if same else 'DIFFERS FROM'} recomputation")
    return ok


def throughput(device: str, steps: int) -> None:
    """bipe rope / bipe_rope vs HF Llama tokens/s at the demo shape on ``device``."""
    hf = hf_tokens_per_s(small_config("demo", steps, device=device), steps)
    print(f"  HF Llama eager (SDPA) fp32: {hf:,.0f} tok/s")
    for pe in ("rope", "bipe_rope"):
        for dtype in ("float32", "auto"):
            cfg = small_config(
                "demo", steps, pe=pe, device=device, **{"model.compute_dtype": dtype}
            )
            tps, _ = bipe_tokens_per_s(cfg)
            print(f"  bipe {pe} {dtype}: {tps:,.0f} tok/s ({tps / hf:.2f}x HF fp32)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--quick", action="store_true", help="tiny runs (a check of the script)")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--seeds", type=int, default=4, help="demo seeds per encoding")
    args = parser.parse_args()
    if args.device.startswith("cuda"):
        if not torch.cuda.is_available():
            print("gpu_check: no CUDA device here (use --device cpu --quick to check the script)")
            return 2
        print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}")
    print("1. demo Bi-NFA runs")
    demo_binfa_runs(args.device, args.quick, 1 if args.quick else args.seeds)
    print("2. cached decoding vs recomputation (float32)")
    ok = cached_decoding_matches(args.device)
    steps = 20 if args.quick else args.steps
    print(f"3. training tokens/s at the demo shape ({steps} steps)")
    throughput(args.device, steps)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
