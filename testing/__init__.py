"""Property tests for segmenters, yours included: Hypothesis strategies and :func:`check_segmenter`.

A **segmenter** is any function ``fn(tokens, lengths=None) -> (seg, intra)`` mapping an ``(N, T)``
int array of token ids (rows padded past ``lengths``) to two ``(N, T)`` int arrays following the
BiPE convention (docs/method.md#positions): ``seg`` counts the segments closed before each
token, ``intra`` is the 0-based position inside the token's segment, a separator is the last token
of the segment it closes, rows are independent. It is called as ``fn(tokens, lengths=lengths)``; a
function without a ``lengths`` parameter is called as ``fn(tokens)`` on unpadded batches only. A
**streaming form** is ``step(state, token) -> (state, seg, intra)`` fed one int at a time from
an initial state, as decoding does.

Use it from a test file (needs the ``test`` extra: hypothesis, pytest)::

    import numpy as np
    from bipe.testing import check_segmenter

    def my_segmenter(tokens, lengths=None):   # separators 10 and 11
        seg, intra = np.zeros_like(tokens), np.zeros_like(tokens)
        for n, row in enumerate(tokens):
            s = i = 0
            for t, tok in enumerate(row):
                seg[n, t], intra[n, t] = s, i
                s, i = (s + 1, 0) if tok in (10, 11) else (s, i + 1)
        return seg, intra

    def test_my_segmenter():
        check_segmenter(my_segmenter, separators=[10, 11])

:func:`check_segmenter` draws token streams with the given separators (including separators at
the start, at the end and back to back), checks the worked example of
docs/method.md#positions, and asserts, for every batch: shapes; ``seg`` starts at 0 and steps by 0
or 1; ``intra`` restarts at 0 exactly where
``seg`` steps and counts up by one otherwise; concatenating the segments returns the input and
segment starts strictly increase; ``seg`` steps exactly after separators (when ``separators`` is
given); rows are independent (each row alone, the batch permuted, the batch split in two: same
answers); padding content never matters; a prefix gets the prefix's positions (decoding sees only
prefixes); and the streaming form, if given, agrees with the batch form token by token. A failure
is an ``AssertionError`` naming the property, with Hypothesis's smallest failing input.

:func:`check_segmenter_on` runs the same checks on one batch you supply (use it inside your own
``@given`` tests); :func:`reference_positions` is the slow loop every position test compares
against. Strategies: :func:`token_streams`, :func:`nfas`, :func:`binfas`,
:func:`binfa_sequences`.

This package imports hypothesis at the top: it is meant for tests, and no other part of bipe
imports it. Modules: :mod:`~bipe.testing.strategies` (the strategies) and
:mod:`~bipe.testing.checks` (the segmenter checks); every name above is importable from here.
"""

from bipe.testing.checks import (
    WORKED_EXAMPLE,
    check_segmenter,
    check_segmenter_on,
    reference_positions,
)
from bipe.testing.strategies import binfa_sequences, binfas, nfas, scaled_examples, token_streams

__all__ = [
    "WORKED_EXAMPLE",
    "binfa_sequences",
    "binfas",
    "check_segmenter",
    "check_segmenter_on",
    "nfas",
    "reference_positions",
    "scaled_examples",
    "token_streams",
]
