"""Arithmetic CoT data: generation speed, and the time to write a reference-sized training set.

Run: ``.venv/bin/python benchmarks/bench_arithmetic.py`` (``--full`` writes the whole 1e6-chain
set instead of a 1e5 subset extrapolated x10).

Figures:
- chains/s and tokens/s of :func:`generate_arithmetic` (format feng) at 6 and 15 operators,
  against a **peer**: a straightforward per-draw implementation of the same process written
  here (scalar ``rng`` calls inside the reference's rejection loop, a Python loop for the
  positions), measured in the same run;
- the time ``bipe gen arith --data.operators fixed:15 --under`` takes to write N chains (data.jsonl,
  meta.json, dedup on), extrapolated to the reference's 1e6 when N is smaller;
- ``bipe verify`` throughput (records/s) on the written set.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from bipe.experiments.cli import main as bipe_main
from bipe.experiments.commands.verify import first_problem
from bipe.synthetic.arithmetic import (
    EOS,
    EQUALS,
    NUM0,
    apply,
    expand,
    generate_arithmetic,
    make_record,
)


def peer_chain(rng: np.random.Generator, n_ops: int, p: int = 11) -> dict:
    """The peer: one chain with one scalar draw at a time, as the reference generator does."""
    expr = [NUM0 + int(rng.integers(p))]
    history = [expr]
    for _ in range(n_ops):
        numbers = [j for j, t in enumerate(expr) if t >= NUM0]
        item = numbers[int(rng.integers(len(numbers)))]
        x = expr[item] - NUM0
        while True:  # the reference's rejection loop
            n1, op = int(rng.integers(p)), int(rng.integers(4)) + 3
            sols = [n2 for n2 in range(p) if (op != 6 or n2) and apply(op, n1, n2, p) == x]
            if not sols or (op == 6 and n1 == 0 and int(rng.integers(p)) == 0):
                continue
            n2 = sols[int(rng.integers(len(sols)))] if len(sols) > 1 else sols[0]
            break
        expr = expand(expr, item, n1, op, n2)
        history.append(expr)
    ids = [t for e in reversed(history) for t in (*e, EQUALS)]
    ids[-1] = EOS
    return make_record(ids, p)


def rate(fn, n: int) -> tuple[float, int]:
    """CPU seconds (this process; robust to a busy machine) and tokens of ``fn(n)``."""
    start = time.process_time()
    records = fn(n)
    seconds = time.process_time() - start
    return seconds, sum(len(r["tokens"]) for r in records)


def bench_generation(n: int) -> None:
    print(f"generation, format feng, {n} chains per row (1 process, per CPU second)")
    print(
        f"{'ops':>4} {'bipe chains/s':>14} {'bipe tokens/s':>14} {'peer chains/s':>14} {'ratio':>6}"
    )
    for n_ops in (6, 15):
        rng = np.random.default_rng(0)
        s_bipe, tok = rate(lambda m, k=n_ops, g=rng: generate_arithmetic(g, m, operators=k), n)
        n_peer = max(n // 4, 100)
        s_peer, _ = rate(lambda m, k=n_ops, g=rng: [peer_chain(g, k) for _ in range(m)], n_peer)
        ours, peer = n / s_bipe, n_peer / s_peer
        print(
            f"{n_ops:>4} {ours:>14,.0f} {tok / s_bipe:>14,.0f} {peer:>14,.0f} {ours / peer:>5.1f}x"
        )


def bench_write(n: int, target: int = 1_000_000) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench-arith-"))
    try:
        for workers in (1, 2):
            argv = [
                "gen",
                "arith",
                "--data.operators",
                "fixed:15",
                "--under",
                "--data.n_train",
                str(n),
                "--seed",
                "0",
                "--workers",
                str(workers),
                "--out",
                str(tmp / "t"),
                "--force",
            ]
            wall, cpu = time.perf_counter(), time.process_time()
            assert bipe_main(argv) == 0
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            size = (tmp / "t" / "data.jsonl").stat().st_size
            scale = target / n
            print(
                f"write {n:,} chains (15 ops, --under, dedup), {workers} worker(s): "
                f"{wall:.1f} s wall, {cpu:.1f} s CPU in the main process, {size / 2**20:,.0f} "
                f"MiB; x{scale:g} -> {wall * scale / 60:.1f} min wall for {target:,}"
            )
        wall, cpu = time.perf_counter(), time.process_time()
        count, problem, _, _ = first_problem(tmp / "t")
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        assert not problem, problem
        print(
            f"verify {count:,} records: {wall:.1f} s wall, {cpu:.1f} s CPU, "
            f"{count / cpu:,.0f} records per CPU second"
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-gen", type=int, default=20_000, help="chains per generation row")
    parser.add_argument("--n-write", type=int, default=100_000, help="chains to write")
    parser.add_argument("--full", action="store_true", help="write all 1e6 chains")
    args = parser.parse_args()
    bench_generation(args.n_gen)
    bench_write(1_000_000 if args.full else args.n_write)


if __name__ == "__main__":
    main()
