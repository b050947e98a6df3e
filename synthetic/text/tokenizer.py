"""Tokenisers of text: bytes (the default) or BPE (HF ``tokenizers``), one interface.

Both map text to int64 ids and back, know each token's byte count (for bits per byte) and the
text each token stands for (for the separator rules of ``synthetic/text/separators.py``). The
end-of-document token ``<eod>`` joins documents; it decodes to nothing and counts as one byte.

- :class:`ByteTokenizer`: ids 0-255 are the UTF-8 bytes, 256 ``<eod>``, 257 ``<blank>``: a
  newline that ends a blank line (the second ``\\n`` of ``\\n\\n``), emitted only when
  ``blank_lines`` is set (for rules with a blank-line level); it decodes to ``\\n``.
  Vocabulary 258 either way.
- :class:`BpeTokenizer`: a byte-level BPE (GPT-2 pre-tokenisation, so any text round-trips)
  trained locally on the training split (:func:`train_bpe`) or read from a user's
  ``tokenizer.json`` (:func:`load_bpe`); ``<eod>`` is a special token. Never downloads.

Worked example::

    >>> tok = ByteTokenizer(blank_lines=True)
    >>> tok.encode("a\\n\\nb").tolist()
    [97, 10, 257, 98]
    >>> tok.decode(tok.encode("a\\n\\nb"))
    'a\\n\\nb'
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

__all__ = ["EOD", "ByteTokenizer", "BpeTokenizer", "load_bpe", "train_bpe"]

EOD = "<eod>"
BLANK = "\n\n"  # what the <blank> token closes (its text for the separator rules)
NEWLINE = 10


class ByteTokenizer:
    """UTF-8 bytes plus ``<eod>`` (256) and ``<blank>`` (257); see the module docstring."""

    kind = "bytes"
    eod = 256
    blank = 257
    vocab_size = 258

    def __init__(self, *, blank_lines: bool = False) -> None:
        self.blank_lines = blank_lines

    def encode(self, text: str) -> np.ndarray:
        """(T,) int64 ids of ``text`` (no ``<eod>``)."""
        ids = np.frombuffer(text.encode("utf-8"), dtype=np.uint8).astype(np.int64)  # (T,)
        if self.blank_lines and len(ids) > 1:
            second = (ids[1:] == NEWLINE) & (ids[:-1] == NEWLINE)  # (T-1,)
            ids[1:][second] = self.blank
        return ids

    def encode_batch(self, texts: Sequence[str]) -> list[np.ndarray]:
        """:meth:`encode` of each text."""
        return [self.encode(t) for t in texts]

    def decode(self, ids: Iterable[int]) -> str:
        """Text of ``ids``: ``<eod>`` dropped, ``<blank>`` as a newline."""
        raw = bytes(NEWLINE if i == self.blank else int(i) for i in ids if i != self.eod)
        return raw.decode("utf-8", errors="replace")

    def token_bytes(self) -> np.ndarray:
        """(V,) bytes each token stands for (``<eod>``: 1)."""
        return np.ones(self.vocab_size, dtype=np.int64)

    def token_texts(self) -> list[str]:
        """Per id, the text the separator rules match (``<blank>``: ``\\n\\n``)."""
        texts = [chr(b) if b < 128 else "" for b in range(256)]  # a lone byte >= 128: no text
        return [*texts, EOD, BLANK if self.blank_lines else ""]

    def to_json(self) -> str | None:
        """Nothing to save: the byte tokenizer is fixed."""
        return None


class BpeTokenizer:
    """A byte-level BPE from HF ``tokenizers``; see the module docstring."""

    kind = "bpe"

    def __init__(self, tokenizer) -> None:
        self._tok = tokenizer
        eod = tokenizer.token_to_id(EOD)
        if eod is None:
            raise ValueError(f"the BPE tokenizer has no {EOD} special token; add it")
        self.eod = int(eod)
        self.vocab_size = int(tokenizer.get_vocab_size())

    def encode(self, text: str) -> np.ndarray:
        """(T,) int64 ids of ``text`` (no ``<eod>``)."""
        return np.asarray(self._tok.encode(text, add_special_tokens=False).ids, dtype=np.int64)

    def encode_batch(self, texts: Sequence[str]) -> list[np.ndarray]:
        """:meth:`encode` of each text (in parallel threads)."""
        out = self._tok.encode_batch(list(texts), add_special_tokens=False)
        return [np.asarray(e.ids, dtype=np.int64) for e in out]

    def decode(self, ids: Iterable[int]) -> str:
        """Text of ``ids`` (special tokens dropped)."""
        return self._tok.decode([int(i) for i in ids], skip_special_tokens=True)

    def token_texts(self) -> list[str]:
        """Per id, the text it decodes to (``<eod>``: its own name)."""
        return [EOD if i == self.eod else self._tok.decode([i]) for i in range(self.vocab_size)]

    def token_bytes(self) -> np.ndarray:
        """(V,) bytes each token stands for: exact for byte-level BPE (GPT-2's byte alphabet),
        else the UTF-8 length of its decoded text; ``<eod>``: 1."""
        table = _byte_level_table()
        counts = np.ones(self.vocab_size, dtype=np.int64)
        for i in range(self.vocab_size):
            token = self._tok.id_to_token(i) or ""
            if i == self.eod or not token:
                continue
            if all(c in table for c in token):
                counts[i] = len(token)  # one character per byte
            else:
                counts[i] = max(1, len(self._tok.decode([i]).encode("utf-8")))
        return counts

    def to_json(self) -> str | None:
        """The tokenizer as ``tokenizer.json`` text."""
        return self._tok.to_str()


def _byte_level_table() -> set[str]:
    """The 256 characters of GPT-2's byte-level alphabet (one per byte)."""
    return set(_tokenizers().pre_tokenizers.ByteLevel.alphabet())


def _tokenizers():
    try:
        import tokenizers
    except ModuleNotFoundError:
        raise ValueError(
            "BPE needs the optional extra: pip install 'bipe-workbench[text]' (package tokenizers)"
        ) from None
    return tokenizers


def train_bpe(texts: Iterable[str], vocab_size: int) -> BpeTokenizer:
    """A byte-level BPE of ``vocab_size`` tokens trained on ``texts`` (deterministic)."""
    tk = _tokenizers()
    if vocab_size < 256 + 1:
        raise ValueError(f"data.bpe_vocab must be >= 257 (256 bytes + {EOD}), got {vocab_size}")
    tokenizer = tk.Tokenizer(tk.models.BPE())
    tokenizer.pre_tokenizer = tk.pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = tk.decoders.ByteLevel()
    trainer = tk.trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOD],
        show_progress=False,
        initial_alphabet=tk.pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return BpeTokenizer(tokenizer)


def load_bpe(path: str | Path) -> BpeTokenizer:
    """A user's ``tokenizer.json`` (it must have an ``<eod>`` special token)."""
    tk = _tokenizers()
    try:
        tokenizer = tk.Tokenizer.from_file(str(path))
    except Exception as err:  # tokenizers raises a bare Exception on bad files
        raise ValueError(f"{path}: not a tokenizer.json ({str(err).splitlines()[0]})") from None
    return BpeTokenizer(tokenizer)
