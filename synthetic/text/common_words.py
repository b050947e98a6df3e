"""RULER's common-words extraction (CWE) at byte scale: the most frequent words of a list.

A numbered list ``1. word 2. word ...`` holds ``common`` words ``freq_cw`` times each and as
many other words ``freq_ucw`` times each as the length allows, shuffled; the question asks for
the ``common`` most frequent words, answered in order of first appearance. Longer examples hold
more uncommon words (RULER's way: the common ones stay as frequent). Words are four random
lowercase letters, all distinct. Worked example (``common=1``, ``freq_cw=2``, ``freq_ucw=1``,
bytes)::

    1. kqzd 2. mnty 3. kqzd 4. abcd
    What is the 1 most common word in the list above? It is kqzd

The list (after a newline) fills the length but for a remainder shorter than one more uncommon
word's items, which is filler before it, so token counts are exact; with a BPE tokenizer the
list is sized in bytes (at least one byte per token) and filler pads the rest. There is no
needle, hence no depth.
"""

from __future__ import annotations

import numpy as np

__all__ = ["WORD_LETTERS", "list_bytes", "question", "word_list"]

WORD_LETTERS = 4
ASK_WORDS = "\nWhat are the {n} most common words in the list above? They are "
ASK_WORD = "\nWhat is the 1 most common word in the list above? It is "


def _items(words: list[str]) -> str:
    return " ".join(f"{i + 1}. {w}" for i, w in enumerate(words))


def list_bytes(n: int) -> int:
    """Bytes of a list of ``n`` items (``"\\n1. abcd 2. abcd"``)."""
    digits = sum(len(str(i + 1)) for i in range(n))
    return 1 + digits + n * (len(". ") + WORD_LETTERS) + max(n - 1, 0)


def question(n_common: int) -> str:
    """The question asking for ``n_common`` words."""
    return ASK_WORD if n_common == 1 else ASK_WORDS.format(n=n_common)


def word_list(
    rng: np.random.Generator, budget: int, common: int, freq_cw: int, freq_ucw: int
) -> tuple[str, tuple[str, ...]]:
    """``(list text of at most budget bytes, the common words in order of first appearance)``;
    ``ValueError`` if the common words alone do not fit."""
    n_items = common * freq_cw
    width = list_bytes(n_items)
    if width > budget:
        raise ValueError(
            f"{common} common words {freq_cw} times each need {width} bytes, more than the "
            f"{budget} this length leaves"
        )
    n_uncommon = 0
    while True:  # add uncommon words while their items fit
        more = sum(len(str(n_items + j + 1)) + len(" . ") + WORD_LETTERS for j in range(freq_ucw))
        if width + more > budget:
            break
        width, n_items, n_uncommon = width + more, n_items + freq_ucw, n_uncommon + 1
    if 2 * (common + n_uncommon) > 26**WORD_LETTERS:
        raise ValueError(
            f"a list of {common + n_uncommon} distinct words of {WORD_LETTERS} letters is too "
            "long to draw; use a shorter length"
        )
    drawn: dict[str, None] = {}  # distinct words in drawing order
    while len(drawn) < common + n_uncommon:
        size = (2 * (common + n_uncommon), WORD_LETTERS)
        batch = rng.integers(ord("a"), ord("z") + 1, size=size, dtype=np.uint8)  # (M, letters)
        drawn.update(dict.fromkeys(w.decode() for w in batch.view(f"S{WORD_LETTERS}")[:, 0]))
    words = list(drawn)[: common + n_uncommon]
    pool = words[:common] * freq_cw + words[common:] * freq_ucw
    shuffled = [pool[i] for i in rng.permutation(len(pool))]
    first = sorted(words[:common], key=shuffled.index)
    return "\n" + _items(shuffled), tuple(first)
