"""Profile: where a training step's time goes at a preset's shape (issue 13's "why").

Trains a few warm-up steps of the preset's model on its own batches (float32, eager, or with
``--compile`` the forward through ``compile_forward`` as ``train.compile`` does), then profiles
``--steps`` more with ``torch.profiler`` and prints the operators by self CPU time (compiled:
inductor's kernels by name).
At the ``demo`` shape this is what BENCHMARKS.md cites (matmuls against the elementwise work of
RMSNorm, RoPE and SwiGLU).

Run: ``.venv/bin/python benchmarks/profile_step.py [--preset demo] [--steps 15] [--threads 1]
[--compile]``.
"""

from __future__ import annotations

import argparse

import torch
from torch.profiler import ProfilerActivity, profile

from bipe.experiments.compiled import compile_forward, train_step
from bipe.experiments.presets import build_config
from bipe.experiments.train import batch_indices, build_model, make_batch, prepare

WARMUP = 5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="demo")
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rows", type=int, default=30, help="operators to print")
    parser.add_argument("--compile", action="store_true", help="profile the compiled step")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = build_config(
        args.preset,
        pe="rope",
        out="unused",
        overrides={"data.n_train": "2000", "model.compute_dtype": "float32"},
    )
    prepared = prepare(config)
    device = torch.device("cpu")
    model = build_model(prepared.config, device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, fused=True)
    tc = prepared.config.train
    batches = [
        make_batch(
            prepared.train,
            None,
            batch_indices(config.data_seed, s, tc.batch_size, len(prepared.train)),
            device,
        )
        for s in range(WARMUP + args.steps)
    ]

    def loss_fn(logits, targets):
        return prepared.task.loss(logits, targets, prepared.config.data)

    if args.compile:
        torch._inductor.config.cpp.enable_kernel_profile = True  # kernels by name
    forward = compile_forward(model) if args.compile else model
    for batch in batches[:WARMUP]:
        train_step(model, optimizer, forward, loss_fn, batch, tc.grad_clip)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for batch in batches[WARMUP:]:
            train_step(model, optimizer, forward, loss_fn, batch, tc.grad_clip)
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.rows))


if __name__ == "__main__":
    main()
