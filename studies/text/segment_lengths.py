"""Segment lengths of study 7's corpora in bytes, and the share of bytes at deep intra positions.

Usage: python studies/text/segment_lengths.py [DEPTH]   (default 128, the training context)

Splits each corpus the way study 7's runs did (data.separator_rule auto: newline for the
standard library's code, sentence for the King James Bible, each separator the last byte of
its segment) and prints the count, median, 90th and 99th percentiles and maximum of the
segment lengths, and the share of bytes whose intra position is DEPTH or more (positions a
model trained on DEPTH-byte windows never sees). Needs the text extra for the Bible.
"""

import re
import sys

import numpy as np

from bipe.synthetic.text.corpus import kjv_documents, stdlib_documents

RULES = {
    "code (stdlib, newline)": (stdlib_documents, rb"\n"),
    "prose (kjv, sentence)": (kjv_documents, rb"[.!?\n]"),
}

if __name__ == "__main__":
    depth = int(sys.argv[1]) if len(sys.argv) > 1 else 128
    for name, (documents, closes) in RULES.items():
        lengths = np.array(
            [len(part) + 1 for doc in documents() for part in re.split(closes, doc.text.encode())]
        )  # (segments,)
        deep = np.maximum(lengths - depth, 0).sum() / lengths.sum()
        p50, p90, p99 = np.percentile(lengths, [50, 90, 99])
        print(
            f"{name}: {len(lengths)} segments, median {p50:g}, p90 {p90:g}, p99 {p99:g}, "
            f"max {lengths.max()}; bytes at intra >= {depth}: {deep:.1%}"
        )
