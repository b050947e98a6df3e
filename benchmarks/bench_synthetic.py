"""Benchmark: Bi-NFA sequence generation throughput (target >= 1M tokens/s on one core).

10,000 sequences of about 30 segments (segments uniform:25:35, tokens per segment uniform:1:12,
so about 7.5 tokens per segment with its separator, about 2.25M tokens) from a random Bi-NFA
(4 symbols, 3 types, 6 inner states, 4 outer states, out-degree 2). Figures, best of 3 runs:

- ``synthetic.sequences`` sampling to arrays (feasibility-conditioned laws, types, marks), with
  and without the per-token inner/outer state labels;
- the bare draw measured in the same run: ``bipe.automata.MemberSampler`` (the automata
  layer's one member sampler, which ``synthetic.sequences`` wraps: ragged tokens, marks and
  types, no position streams or labels), so the ratio is the wrapper's overhead;
- the whole dataset path: sampling + records + ``write_dataset`` to jsonl (what ``bipe gen``
  does);
- a cProfile of one sampling call (top functions by own time), to show what dominates.

Single-threaded numpy (set before import). Run: ``.venv/bin/python benchmarks/bench_synthetic.py``
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import cProfile  # noqa: E402
import io  # noqa: E402
import pstats  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from bipe.automata import random_binfa  # noqa: E402
from bipe.synthetic.dataset import write_dataset  # noqa: E402
from bipe.synthetic.distributions import parse_length_spec  # noqa: E402
from bipe.synthetic.sequences import (  # noqa: E402
    BinfaSequenceSampler,
    SequenceConfig,
    generate_dataset,
)

N, SEGMENTS, LENGTHS = 10_000, "uniform:25:35", "uniform:1:12"


def best_of(fn, repeats: int = 3) -> tuple[float, object]:
    """Fastest wall time of ``repeats`` calls and the last result."""
    best, out = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def main() -> None:
    dists = [parse_length_spec(SEGMENTS), parse_length_spec(LENGTHS)]
    binfa = random_binfa(
        np.random.default_rng(0),
        4,
        3,
        6,
        4,
        segment_lengths=range(1, 13),
        segment_counts=range(25, 36),
    )
    build_s, sampler = best_of(lambda: BinfaSequenceSampler.build(binfa, dists))
    ours_s, batch = best_of(lambda: sampler.sample(np.random.default_rng(1), N))
    bare_s, _ = best_of(lambda: sampler.sample(np.random.default_rng(1), N, state_labels=False))
    tokens = len(batch.tokens)
    peer = sampler.members
    peer_s, ragged = best_of(lambda: peer.sample(np.random.default_rng(1), N))
    peer_count = int(ragged.lengths.sum())
    assert binfa.accepts(*batch.padded()[:2]).all()

    def whole() -> None:
        config = SequenceConfig(
            n=N,
            n_symbols=4,
            n_types=3,
            inner_states=6,
            outer_states=4,
            segments=SEGMENTS,
            segment_length=LENGTHS,
        )
        with tempfile.TemporaryDirectory() as tmp:
            records, meta = generate_dataset(config, 0, automaton=binfa)
            write_dataset(Path(tmp) / "d", records, meta)

    whole_s, _ = best_of(whole, repeats=1)
    print(
        f"Bi-NFA generation, {N} sequences, {tokens} tokens "
        f"({tokens / N:.0f} per sequence, {len(batch.types[0]) / N:.1f} segments)"
    )
    print(f"  sampler build (tables, feasibility) : {build_s * 1e3:8.1f} ms")
    print(
        f"  synthetic.sequences, with labels    : {tokens / ours_s / 1e6:8.2f} M tokens/s "
        f"({ours_s * 1e3:.0f} ms)"
    )
    print(
        f"  synthetic.sequences, no labels      : {tokens / bare_s / 1e6:8.2f} M tokens/s "
        f"({bare_s * 1e3:.0f} ms)"
    )
    print(
        f"  bare automata.MemberSampler draw    : {peer_count / peer_s / 1e6:8.2f} M tokens/s "
        f"({peer_s * 1e3:.0f} ms)"
    )
    ratio = (tokens / bare_s) / (peer_count / peer_s)
    print(f"  ratio ours (no labels) / bare draw  : {ratio:8.2f}")
    print(
        f"  whole dataset to jsonl (bipe gen)   : {tokens / whole_s / 1e6:8.2f} M tokens/s "
        f"({whole_s:.2f} s)"
    )
    profile = cProfile.Profile()
    profile.enable()
    sampler.sample(np.random.default_rng(1), N)
    profile.disable()
    text = io.StringIO()
    pstats.Stats(profile, stream=text).sort_stats("tottime").print_stats(8)
    lines = [ln for ln in text.getvalue().splitlines() if ln.strip()]
    start = next(i for i, ln in enumerate(lines) if "tottime" in ln)
    print("profile of one sampling call (top by own time):")
    for line in lines[start : start + 9]:
        print("  " + line)


if __name__ == "__main__":
    main()
