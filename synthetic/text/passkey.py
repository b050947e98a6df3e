"""The passkey retrieval probe (Mohtashami and Jaggi 2023): find a number hidden in filler.

An example of ``length`` tokens is filler text with the line ``The pass key is NNNNN.
Remember it.`` inserted at relative ``depth`` (0: the start of the filler, 1: its end), then
the question; the target is the key's digits, the last tokens of the example::

    <filler ...>\\nThe pass key is 40213. Remember it.\\n<... filler>\\nWhat is the pass key?
    The pass key is 40213

Filler is the literature's repeated sentences (:data:`FILLER`) or a random stretch of a corpus
token stream. Token counts are exact: the filler is cut to make the example exactly ``length``
tokens. Worked example (bytes)::

    >>> from bipe.synthetic.text.tokenizer import ByteTokenizer
    >>> ex = passkey_example(np.random.default_rng(0), ByteTokenizer(), 120, 0.5)
    >>> len(ex.tokens), ex.key, ByteTokenizer().decode(ex.tokens[-ex.n_answer:]) == ex.key
    (120, '86523', True)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["FILLER", "PasskeyExample", "min_passkey_length", "passkey_example"]

FILLER = (
    "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again. "
)
KEY_LINE = "\nThe pass key is {key}. Remember it.\n"
QUESTION = "\nWhat is the pass key? The pass key is "


@dataclass(frozen=True)
class PasskeyExample:
    """``tokens`` (T,) int64 ending with the answer; ``n_answer`` its last tokens are the key's
    digits ``key``; ``depth`` where the key line sits in the filler."""

    tokens: np.ndarray
    n_answer: int
    key: str
    depth: float


def _key(rng: np.random.Generator, digits: int) -> str:
    return "".join(str(d) for d in rng.integers(0, 10, size=digits))


def min_passkey_length(tokenizer, digits: int = 5) -> int:
    """Tokens of an example without filler (the shortest possible ``length``), for bytes exact."""
    key = "9" * digits
    return sum(len(tokenizer.encode(s)) for s in (KEY_LINE.format(key=key), QUESTION, key))


def passkey_example(
    rng: np.random.Generator,
    tokenizer,
    length: int,
    depth: float,
    filler: np.ndarray | None = None,
    digits: int = 5,
) -> PasskeyExample:
    """One example of exactly ``length`` tokens (see the module docstring).

    ``filler``: a token stream to cut filler from at a random offset (None: :data:`FILLER`
    repeated from its start).
    """
    if not 0.0 <= depth <= 1.0:
        raise ValueError(f"passkey depth must lie in [0, 1], got {depth}")
    key = _key(rng, digits)
    line = tokenizer.encode(KEY_LINE.format(key=key))
    question = tokenizer.encode(QUESTION)
    answer = tokenizer.encode(key)
    n_filler = length - len(line) - len(question) - len(answer)
    if n_filler < 0:
        raise ValueError(
            f"a passkey example needs at least {length - n_filler} tokens, got length {length}"
        )
    stuff = _filler(rng, tokenizer, filler, n_filler)  # (n_filler,)
    cut = int(round(depth * n_filler))
    tokens = np.concatenate([stuff[:cut], line, stuff[cut:], question, answer]).astype(np.int64)
    return PasskeyExample(tokens=tokens, n_answer=len(answer), key=key, depth=float(depth))


def _filler(rng: np.random.Generator, tokenizer, stream: np.ndarray | None, n: int) -> np.ndarray:
    if stream is None:
        unit = tokenizer.encode(FILLER)
        return np.tile(unit, n // max(len(unit), 1) + 1)[:n]
    if len(stream) < n:
        raise ValueError(
            f"the filler stream has {len(stream)} tokens, fewer than the {n} an example needs"
        )
    start = int(rng.integers(0, len(stream) - n + 1))
    return np.asarray(stream[start : start + n], dtype=np.int64)
