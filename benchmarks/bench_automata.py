"""Benchmark: bipe's batched NFA simulation against automata-lib's ``NFA.accepts_input``.

A random NFA with 20 states and 8 symbols, the same 300 words of length 200 checked by both in
one run; prints tokens/s for each and the ratio (target: bipe >= 100x), then bipe's figure for
10,000 words, and Bi-NFA generation speed (10,000 sequences of about 30 segments).

"Out-degree 2" is read two ways, both measured: (a) 2 successors for every (state, symbol), so
state sets are large (automata-lib's cost grows with the set; bipe's does not); (b)
``random_nfa``'s meaning, 2 outgoing edges per state over all symbols, a sparse, nearly
deterministic automaton with small sets. Word sets: "uniform" (uniformly random symbols; in (b)
these die after a few symbols, which makes automata-lib's per-step work tiny) and
"members+mutants" (half uniform accepted words, half the same with one symbol changed, so state
sets stay non-empty for most of the word). Answers are asserted equal.

Run: ``.venv/bin/python benchmarks/bench_automata.py``
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

import bipe
from bipe.automata import NFA, LengthLaw, MemberSampler, random_binfa, random_nfa

SEED, N_STATES, N_SYMBOLS, OUT_DEGREE, N_WORDS, LENGTH = 0, 20, 8, 2, 300, 200


def automata_lib_nfa(nfa: NFA):
    """The same automaton in automata-lib (a fresh 'init' state with lambda moves to starts).

    The repository root is taken off ``sys.path`` for the import: its folder ``automata/`` is
    ``bipe.automata`` and would shadow automata-lib's package ``automata``.
    """
    root = Path(bipe.__file__).resolve().parent
    saved = sys.path[:]
    sys.path[:] = [p for p in saved if Path(p or ".").resolve() != root]
    try:
        from automata.fa.nfa import NFA as LibNFA
    finally:
        sys.path[:] = saved
    symbols = [chr(ord("a") + i) for i in range(nfa.n_symbols)]
    transitions: dict = {q: {} for q in range(nfa.n_states)}
    for q, a, r in nfa.transitions():
        transitions[q].setdefault(symbols[a], set()).add(r)
    transitions["init"] = {"": set(nfa.start)}
    return LibNFA(
        states=set(range(nfa.n_states)) | {"init"},
        input_symbols=set(symbols),
        transitions=transitions,
        initial_state="init",
        final_states=set(nfa.accept),
    )


def members_and_mutants(rng: np.random.Generator, nfa: NFA, n: int) -> np.ndarray:
    words = nfa.sample_words(rng, n, LENGTH)  # (n, T) accepted
    half = n // 2
    pos = rng.integers(LENGTH, size=half)
    shift = rng.integers(1, nfa.n_symbols, size=half)
    words[np.arange(half), pos] = (words[np.arange(half), pos] + shift) % nfa.n_symbols
    return words


def best_time(fn, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def compare(name: str, nfa: NFA, lib, words: np.ndarray) -> None:
    texts = ["".join(chr(ord("a") + int(x)) for x in w) for w in words]
    start = time.perf_counter()
    lib_answers = np.array([lib.accepts_input(t) for t in texts])
    lib_s = time.perf_counter() - start
    ours = nfa.accepts(words)
    assert (ours == lib_answers).all(), "bipe and automata-lib disagree"
    ours_s = best_time(lambda: nfa.accepts(words))
    tokens = words.size
    print(
        f"{name:17s} accepted {int(ours.sum()):3d}/{len(words)}  automata-lib "
        f"{tokens / lib_s:12,.0f} tok/s  bipe {tokens / ours_s:14,.0f} tok/s  "
        f"ratio {lib_s / ours_s:7.1f}x"
    )


def main() -> None:
    rng = np.random.default_rng(SEED)
    print(f"{N_WORDS} words of length {LENGTH}; bipe: best of 5 calls, automata-lib: one pass")
    dense = random_nfa(rng, N_STATES, N_SYMBOLS, OUT_DEGREE, per_symbol=True)
    print(
        f"(a) random_nfa({N_STATES}, {N_SYMBOLS}, out_degree={OUT_DEGREE}, per_symbol=True): "
        f"{OUT_DEGREE} successors per (state, symbol)"
    )
    compare(
        "uniform", dense, automata_lib_nfa(dense), rng.integers(N_SYMBOLS, size=(N_WORDS, LENGTH))
    )
    nfa = random_nfa(rng, N_STATES, N_SYMBOLS, OUT_DEGREE, lengths=[LENGTH])
    lib = automata_lib_nfa(nfa)
    print(
        f"(b) random_nfa({N_STATES}, {N_SYMBOLS}, out_degree={OUT_DEGREE}): 2 edges per "
        f"state in all"
    )
    compare("uniform", nfa, lib, rng.integers(N_SYMBOLS, size=(N_WORDS, LENGTH)))
    compare("members+mutants", nfa, lib, members_and_mutants(rng, nfa, N_WORDS))

    big = members_and_mutants(rng, nfa, 10_000)
    seconds = best_time(lambda: nfa.accepts(big), repeats=3)
    print(f"bipe accepts, 10,000 words x {LENGTH}: {big.size / seconds:,.0f} tok/s")
    seconds = best_time(lambda: nfa.legal_next_mask(big[:1000]), repeats=3)
    print(f"bipe legal_next_mask, 1,000 words x {LENGTH}: {1000 * LENGTH / seconds:,.0f} tok/s")

    binfa = random_binfa(rng, 8, 4, 6, 6, segment_counts=range(1, 41), segment_lengths=range(1, 17))
    sampler = MemberSampler.build(binfa, [LengthLaw.uniform(25, 35), LengthLaw.uniform(1, 16)])
    start = time.perf_counter()
    ragged = sampler.sample(rng, 10_000)
    seconds = time.perf_counter() - start
    lengths = ragged.lengths
    width = int(lengths[:500].max())
    tokens = np.zeros((500, width), dtype=np.int64)
    tokens[np.arange(width)[None, :] < lengths[:500, None]] = ragged.tokens[: lengths[:500].sum()]
    ok = binfa.accepts(tokens, lengths[:500])
    assert ok.all(), "a generated Bi-NFA sequence is not a member"
    print(
        f"Bi-NFA generation (8 symbols, 4 types x 6 states, 6 outer states), 10,000 "
        f"sequences of 25-35 segments: {lengths.sum() / seconds:,.0f} tok/s "
        f"({lengths.sum():,} tokens in {seconds:.2f} s)"
    )


if __name__ == "__main__":
    main()
