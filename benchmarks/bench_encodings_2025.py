"""Training-step time of the 2025 encodings relative to ``rope``, measured in one run.

Shape legend: B batch, T length, D width, L layers, H heads, V vocabulary.

    .venv/bin/python benchmarks/bench_encodings_2025.py              # about 3 minutes, 2 cores
    .venv/bin/python benchmarks/bench_encodings_2025.py --batch 32 --rounds 3

The shape of ``bench_models.py`` (vocab 32, width 128, 3 layers, 4 heads, FFN 512, 256 tokens, a
separator about every 10 tokens, float32) with a smaller default batch (8) so the run fits a
few minutes on a shared machine. Every entry is timed in interleaved rounds (forward, backward,
AdamW) after a warm-up; the table reports the best round, the median, and the best-step ratio
to ``rope`` of the same run. ``pope`` and ``path`` (and their bilevel forms) leave the causal
SDPA kernel for a float-mask SDPA plus their (B, H, T, S) logit term (PaTH also solves a
T x T unit-triangular system per head); the random float entries only redraw positions.
"""

from __future__ import annotations

import argparse

import torch
from bench_encodings import time_entries

ENTRIES: dict[str, dict] = {
    "rope": {},
    "bipe_rope": {"pe": "bipe_rope"},
    "pope": {"pe": "pope"},
    "bipe_pope": {"pe": "bipe_pope"},
    "path": {"pe": "path"},
    "bipe_path": {"pe": "bipe_path"},
    "rfs_rope": {"pe": "rfs_rope"},
    "rfs_sinusoidal": {"pe": "rfs_sinusoidal"},
    "rfs_alibi": {"pe": "rfs_alibi"},
    "bipe_rfs_rope": {"pe": "bipe_rfs_rope"},
    "hirope interleaved": {"pe": "hirope", "hirope_bands": "interleaved"},
    "swan (rope/nope LLG, w 64)": {"layer_pattern": "LLG", "window": 64},
    "bipe swan (intra/seg LLG)": {
        "pe": "intra_rope",
        "layer_pattern": "LLG",
        "window": 64,
        "global_pe": "seg_rope",
    },
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="interleaved timing rounds")
    parser.add_argument("--batch", type=int, default=8, help="rows per step (length is 256)")
    parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16"))
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    time_entries(ENTRIES, args.batch, args.rounds, args.dtype, width=28)


if __name__ == "__main__":
    main()
