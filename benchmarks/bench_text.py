"""Benchmark: text corpus loading, tokenisation and windowing throughput (issue 11).

On the ``stdlib`` corpus (the running Python's standard library sources, about 12 MB):

- loading: walking the folders, reading and decoding every file (``stdlib_documents``);
- the name-hash split and its manifest (sha256 of every document);
- tokenisation to one stream (bytes; and BPE with 4096 tokens, trained on the training split,
  training time reported separately);
- windowing: 25,600 random training windows of 128 + 1 tokens (what the ``cpu_text`` preset
  draws), and the ``chunks`` and ``sliding`` (stride 128) evaluation windows at 1024 tokens;
- the separator rule applied (``np.isin`` on the stream).

Best of 3 for the fast steps; one run for BPE training. Single-threaded numpy.
Run: ``.venv/bin/python benchmarks/bench_text.py [--no-bpe]``
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
from bench_synthetic import best_of  # noqa: E402 (same folder: run as a script)

from bipe.synthetic.text.corpus import manifest, split_documents, stdlib_documents  # noqa: E402
from bipe.synthetic.text.separators import separator_levels  # noqa: E402
from bipe.synthetic.text.tokenizer import ByteTokenizer, train_bpe  # noqa: E402
from bipe.synthetic.text.windows import (  # noqa: E402
    chunk_windows,
    sample_windows,
    sliding_windows,
    token_stream,
)


def report(what: str, seconds: float, amount: float, unit: str) -> None:
    print(f"{what:<44} {seconds * 1e3:9.1f} ms  {amount / seconds / 1e6:8.2f} M{unit}/s")


def main() -> None:
    cpu = platform.processor() or platform.machine()
    print(f"python {platform.python_version()}, {cpu}, {os.cpu_count()} cores")
    t, docs = best_of(stdlib_documents)
    n_bytes = sum(len(d.text.encode()) for d in docs)
    print(f"stdlib: {len(docs)} documents, {n_bytes / 1e6:.1f} MB")
    report("load (walk, read, decode)", t, n_bytes, "B")
    t, splits = best_of(lambda: split_documents(docs, validation=0.05, test=0.05))
    report("split (name hash)", t, len(docs), "doc")
    t, _ = best_of(lambda: manifest(splits))
    report("manifest (sha256 of every document)", t, n_bytes, "B")
    train = [d.text for d in splits["train"]]
    tok = ByteTokenizer()
    t, stream = best_of(lambda: token_stream(train, tok))
    report("bytes: tokenise to one stream", t, len(stream), "tok")
    seps = np.array(separator_levels(tok, "newline")[0])
    t, _ = best_of(lambda: np.isin(stream, seps))
    report("separator rule (np.isin)", t, len(stream), "tok")
    rng = np.random.default_rng(0)
    t, _ = best_of(lambda: sample_windows(rng, stream, 25600, 128))
    report("25,600 random training windows of 129", t, 25600 * 129, "tok")
    head = stream[: 1 << 20]
    t, _ = best_of(lambda: chunk_windows(head, 1024))
    report("chunks at 1024 (1M-token stream)", t, len(head), "tok")
    t, _ = best_of(lambda: sliding_windows(head, 1024, 128))
    report("sliding at 1024, stride 128 (1M tokens)", t, len(head) * 8, "tok")
    if "--no-bpe" in sys.argv:
        return
    t0 = time.perf_counter()
    bpe = train_bpe(train, 4096)
    print(f"{'BPE 4096: train on the training split':<44} {time.perf_counter() - t0:9.1f} s")
    t, ids = best_of(lambda: token_stream(train, bpe), repeats=1)
    report("BPE 4096: tokenise to one stream", t, n_bytes, "B")
    print(f"BPE 4096: {len(ids) / 1e6:.2f} M tokens, {n_bytes / len(ids):.2f} bytes per token")


if __name__ == "__main__":
    main()
