"""Benchmark: end-to-end ``bipe train`` throughput against the model-only training step.

Both are measured in the same run at the same shape (the models issue's benchmark shape: vocab
32, width 128, 3 layers, 4 heads, FFN 512, batch 32 x 255 input tokens):

- **model-only**: forward, backward, gradient clipping and AdamW on random tokens of that shape,
  nothing else (the models issue's figure);
- **end-to-end**: :func:`bipe.experiments.train.train` on ``binfa_lm`` sequences of exactly 64
  segments of 3 symbols + separator (256 tokens, so every batch has the same shape), including
  batch assembly, position streams, learning-rate schedule, metric logging and checkpoints
  (every 10 steps, more often than any preset); its tokens/s is read from ``metrics.jsonl``
  (logged windows after the first, so start-up is excluded as it is for the model-only loop).

The overhead is ``1 - end_to_end / model_only``; the target is <= 10%.

Run: ``.venv/bin/python benchmarks/bench_train.py [--steps 40] [--threads 2] [--pe rope]``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from bipe.experiments.presets import build_config
from bipe.experiments.train import build_model, make_optimizer, prepare, train

SHAPE = {
    "model.d_model": "128",
    "model.n_layers": "3",
    "model.n_heads": "4",
    "model.d_ff": "512",
    "data.n_symbols": "31",
    "data.segments": "fixed:64",
    "data.segment_length": "fixed:3",
    "data.n_types": "2",
    "data.inner_states": "3",
    "data.outer_states": "2",
    "data.eval_lengths": "64",
    "train.batch_size": "32",
    "train.evaluate_at_end": "false",
    "train.warmup": "0",
    "train.log_every": "5",
    "train.checkpoint_every": "10",
    "data.n_train": "2048",
}


def model_only(config, steps: int, warmup: int = 3) -> float:
    """Tokens/s of bare training steps on random tokens of the run's shape."""
    model = build_model(config, torch.device("cpu"))
    optimizer = make_optimizer(model, config.train)
    gen = torch.Generator().manual_seed(0)
    b, t = config.train.batch_size, 255
    tokens = torch.randint(0, config.model.vocab_size, (b, t + 1), generator=gen)
    x, y = tokens[:, :-1], tokens[:, 1:]
    model.train()
    for i in range(warmup + steps):
        if i == warmup:
            start = time.perf_counter()
        logits = model(x)  # (B, T, V)
        loss = torch.nn.functional.cross_entropy(logits.reshape(b * t, -1), y.reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.train.grad_clip)
        optimizer.step()
    return steps * b * t / (time.perf_counter() - start)


def end_to_end(config, steps: int) -> tuple[float, float]:
    """(tokens/s inside the loop after the first window, wall seconds of the whole call)."""
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        cfg = config.__class__(**{**config.__dict__, "out": str(run)})
        cfg = cfg.__class__(
            **{
                **cfg.__dict__,
                "train": cfg.train.__class__(**{**cfg.train.__dict__, "steps": steps}),
            }
        )
        start = time.perf_counter()
        train(cfg, progress=False)
        wall = time.perf_counter() - start
        rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    later = rows[1:]  # the first window includes start-up
    tokens = sum(r["tokens/s"] * r["elapsed_s"] for r in later)
    return tokens / sum(r["elapsed_s"] for r in later), wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--pe", default="rope")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = build_config("tiny", task="binfa_lm", pe=args.pe, overrides=SHAPE, out="unused")
    prepared = prepare(config)
    print(
        f"shape: batch 32 x 255 tokens, vocab {config.model.vocab_size}, d_model 128, "
        f"3 layers, 4 heads, FFN 512, pe {args.pe}, {args.threads} threads, "
        f"{args.steps} steps"
    )
    bare = model_only(prepared.config, args.steps)
    e2e, wall = end_to_end(config, args.steps)
    bare_again = model_only(prepared.config, args.steps)  # bracket e2e: the machine is shared
    reference = (bare + bare_again) / 2
    print(f"model-only  : {bare:10,.0f} tokens/s (before), {bare_again:,.0f} (after)")
    print(
        f"end-to-end  : {e2e:10,.0f} tokens/s in the training loop "
        f"(whole call incl. data generation and set-up: {wall:.1f} s)"
    )
    print(
        f"ratio       : {e2e / reference:.3f} (overhead {100 * (1 - e2e / reference):.1f}%, "
        "target <= 10%)"
    )


if __name__ == "__main__":
    main()
