"""Token ids and words of the arithmetic vocabulary (see :mod:`bipe.synthetic.arithmetic`)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

PAD, CLS, EOS = 0, 1, 2
PLUS, MINUS, TIMES, DIVIDE, OPEN, CLOSE, EQUALS = 3, 4, 5, 6, 7, 8, 9
NUM0 = 10
OPERATORS = (PLUS, MINUS, TIMES, DIVIDE)
LOW = (PLUS, MINUS)
SEPARATORS = (EQUALS, EOS)
FORMATS = ("feng", "direct", "steps")
# data.separator_rule -> separator ids per level, innermost first (docs/method.md#arithmetic):
# "equals": '=' closes a segment, '<eos>' the whole chain; "operators": each of '+ - * /'
# closes an inner unit ("( 2 +" | "7 ) *" | "6 -" | "3 =") inside the '=' segments. hbipe reads
# the levels; every other encoding gets their union as one level.
SEPARATOR_RULES = {"equals": ((EQUALS,), (EOS,)), "operators": (OPERATORS, SEPARATORS)}
_SYMBOLS = ("<pad>", "<cls>", "<eos>", "+", "-", "*", "/", "(", ")", "=")


def separator_levels(rule: str) -> tuple[tuple[int, ...], ...]:
    """The separator ids per level of ``rule`` (a key of ``SEPARATOR_RULES``), innermost first;
    an unknown rule is a ``ValueError`` listing the known ones."""
    if rule not in SEPARATOR_RULES:
        raise ValueError(
            f"data.separator_rule {rule!r} unknown; known: {', '.join(SEPARATOR_RULES)}"
        )
    return SEPARATOR_RULES[rule]


def is_prime(p: int) -> bool:
    """Whether ``p`` is a prime number."""
    return p >= 2 and all(p % d for d in range(2, int(p**0.5) + 1))


def check_modulus(modulus: int) -> int:
    """``modulus`` if it is a prime, else a ``ValueError`` naming it."""
    if (
        isinstance(modulus, bool)
        or not isinstance(modulus, int | np.integer)
        or not is_prime(int(modulus))
    ):
        raise ValueError(f"modulus must be a prime number, got {modulus!r}")
    return int(modulus)


def vocab(modulus: int = 11) -> tuple[str, ...]:
    """The reference vocabulary: ``vocab(p)[id]`` is the word of token ``id``."""
    return _SYMBOLS + tuple(str(v) for v in range(check_modulus(modulus)))


ARITH_VOCAB = vocab(11)


@lru_cache(maxsize=64)
def _vocab_words(modulus: int) -> tuple[str, ...]:
    return vocab(modulus)


@lru_cache(maxsize=64)
def _word_ids(modulus: int) -> dict[str, int]:
    return {w: i for i, w in enumerate(vocab(modulus))}


def words_to_ids(words: list[str], modulus: int) -> list[int]:
    """Token ids of ``words`` (no ``<eos>`` added); an unknown word is a ``ValueError``."""
    table = _word_ids(int(modulus))
    try:
        return [table[w] for w in words]
    except KeyError as err:
        raise ValueError(f"unknown word {err.args[0]!r} for modulus {modulus}") from None


def ids_to_text(ids: list[int], modulus: int) -> str:
    """The text of ``ids``: words joined by single spaces (a trailing ``<eos>`` dropped)."""
    words = _vocab_words(modulus)
    if ids and ids[-1] == EOS:
        ids = ids[:-1]
    return " ".join(words[i] for i in ids)
