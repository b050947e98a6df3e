"""The text data family: its config and the data a run builds from it (docs/method.md#text).

:class:`TextDataConfig` holds the text fields of a run's ``data`` section; :func:`load_text`
turns it into :class:`TextData`: the corpus split into train / validation / test by name
hash (with its manifest), the tokenizer (bytes; BPE trained on the training split; or a user's
``tokenizer.json``), the separator ids per level, and the token streams of the training split
and of the evaluation split. Nothing here depends on a seed: the seed only picks windows.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bipe.synthetic.family import DataConfig
from bipe.synthetic.text.corpus import (
    CORPUS_KINDS,
    SPLITS,
    corpus_documents,
    manifest,
    split_documents,
    split_rule,
)
from bipe.synthetic.text.separators import resolve_rule, separator_levels, uses_blank_lines
from bipe.synthetic.text.tokenizer import ByteTokenizer, load_bpe, train_bpe
from bipe.synthetic.text.windows import PROTOCOLS, token_stream

__all__ = [
    "LENGTH_MULTIPLES",
    "RULER_COUNTS",
    "TextData",
    "TextDataConfig",
    "corpus_kind",
    "load_text",
    "text_tokenizer",
]

FILLERS = ("repeat", "corpus")
BPE_VOCAB = 4096  # default data.bpe_vocab
LENGTH_MULTIPLES = (1, 2, 4, 8, 16)  # default evaluation lengths, times data.context
RULER_COUNTS = (
    "needles",
    "values",
    "queries",
    "hops",
    "chains",
    "common_words",
    "freq_cw",
    "freq_ucw",
)


@dataclass(frozen=True, kw_only=True)
class TextDataConfig(DataConfig):
    """The ``data`` section of the text family (tasks ``text_lm`` and ``passkey``): the shared
    fields of :class:`~bipe.synthetic.family.DataConfig` plus these (docs/method.md#text).

    Corpus: ``corpus`` (``stdlib``, ``kjv``, ``files`` with ``files``/``include``/``exclude``
    globs, or ``hf:FOLDER_OR_NAME`` with ``text_column``/``hf_split``); ``validation`` and
    ``test`` fractions of the hash split; ``train_tokens`` caps the training stream (0: all).
    Tokens: ``tokenizer`` (``bytes``, ``bpe`` with ``bpe_vocab`` tokens, or a path to a
    ``tokenizer.json``), ``separator_rule`` (a rule of ``synthetic/text/separators.py``).
    Windows: ``context`` training tokens per window; evaluation by ``protocol`` (``chunks`` or
    ``sliding`` every ``stride`` tokens, 0: ``context``) on the first ``eval_tokens`` tokens
    of ``eval_split``. Passkey: ``passkey_filler`` (``repeat`` or ``corpus``),
    ``passkey_digits``, ``passkey_depths`` evaluated at each length (the RULER tasks share
    these three). RULER (``synthetic/text/ruler.py``), each read only by the tasks it names:
    ``needles`` (keys in the haystack: ``niah_multikey``, ``niah_multiquery``), ``values``
    (per key: ``niah_multivalue``), ``queries`` (keys asked: ``niah_multiquery``), ``hops``
    and ``chains`` (``variable_tracking``), ``common_words``, ``freq_cw`` and ``freq_ucw``
    (``common_words``).
    """

    corpus: str = "stdlib"
    files: tuple[str, ...] = ()
    include: tuple[str, ...] = ("*",)
    exclude: tuple[str, ...] = ()
    text_column: str = "text"
    hf_split: str = "train"
    validation: float = 0.05
    test: float = 0.05
    train_tokens: int = 0
    tokenizer: str = "bytes"
    bpe_vocab: int = BPE_VOCAB
    separator_rule: str = "auto"
    context: int = 128
    protocol: str = "chunks"
    stride: int = 0
    eval_split: str = "validation"
    eval_tokens: int = 32768
    passkey_filler: str = "repeat"
    passkey_digits: int = 5
    passkey_depths: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)
    needles: int = 4
    values: int = 4
    queries: int = 4
    hops: int = 4
    chains: int = 2
    common_words: int = 2
    freq_cw: int = 4
    freq_ucw: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("context", "eval_tokens", "passkey_digits", "bpe_vocab", *RULER_COUNTS):
            if getattr(self, name) <= 0:
                raise ValueError(f"data.{name} must be > 0, got {getattr(self, name)}")
        for name in ("train_tokens", "stride"):
            if getattr(self, name) < 0:
                raise ValueError(f"data.{name} must be >= 0, got {getattr(self, name)}")
        if not (
            0 <= self.validation < 1 and 0 <= self.test < 1 and self.validation + self.test < 1
        ):
            raise ValueError("data.validation and data.test must be fractions summing below 1")
        self._check_corpus_options()
        _check_choice("protocol", self.protocol, PROTOCOLS)
        if self.stride and self.protocol != "sliding":
            raise ValueError("data.stride is read only with data.protocol sliding")
        if self.bpe_vocab != BPE_VOCAB and self.tokenizer != "bpe":
            raise ValueError("data.bpe_vocab is read only with data.tokenizer bpe")
        _check_choice("eval_split", self.eval_split, SPLITS)
        _check_choice("passkey_filler", self.passkey_filler, FILLERS)
        resolve_rule(self.separator_rule, "code")  # unknown rule names fail here
        if any(not 0.0 <= d <= 1.0 for d in self.passkey_depths):
            raise ValueError(f"data.passkey_depths must lie in [0, 1], got {self.passkey_depths}")

    def _check_corpus_options(self) -> None:
        """Options of one kind of corpus are refused with another (``--data.files my.txt``
        without ``--data.corpus files`` would otherwise train on the standard library)."""
        owners = {
            "files": "files",
            "include": "files",
            "exclude": "files",
            "text_column": "hf:",
            "hf_split": "hf:",
        }
        for name, kind in owners.items():
            if getattr(self, name) == TextDataConfig.__dataclass_fields__[name].default:
                continue
            if not self.corpus.startswith(kind):
                wanted = "files" if kind == "files" else "hf:FOLDER_OR_NAME"
                raise ValueError(
                    f"data.{name} is read only with data.corpus {wanted}, and data.corpus is "
                    f"{self.corpus!r}; set --data.corpus {wanted}"
                )


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"unknown data.{name} {value!r}; known: {', '.join(choices)}")


def corpus_kind(data) -> str:
    """``code``, ``kjv`` or ``prose``: what ``auto`` separator rules go by."""
    if data.corpus == "kjv":
        return "kjv"
    return CORPUS_KINDS.get(data.corpus, "prose" if data.corpus.startswith("hf:") else "code")


@dataclass(frozen=True, eq=False)
class TextData:
    """A run's text data (see the module docstring); ``streams`` maps split -> (N,) ids."""

    tokenizer: object
    rule: str
    levels: tuple[tuple[int, ...], ...]
    manifest: dict
    streams: dict[str, np.ndarray]
    token_bytes: np.ndarray


def _corpus_key(data) -> tuple:
    return (
        data.corpus,
        tuple(data.files),
        tuple(data.include),
        tuple(data.exclude),
        data.text_column,
        data.hf_split,
        data.validation,
        data.test,
    )


@functools.lru_cache(maxsize=1)
def _splits(key: tuple) -> tuple[dict, str]:
    """``({split: documents}, the split rule)`` of a corpus key."""
    corpus, files, include, exclude, column, hf_split, validation, test = key
    docs = corpus_documents(corpus, files, include, exclude, column, hf_split)
    rule = split_rule(len(docs), validation=validation, test=test)
    return split_documents(docs, validation=validation, test=test), rule


@functools.lru_cache(maxsize=1)
def _trained_bpe(key: tuple, vocab: int):
    return train_bpe((d.text for d in _splits(key)[0]["train"]), vocab)


def text_tokenizer(data):
    """The tokenizer of ``data`` (a BPE is trained on the training split, deterministically;
    the last one is kept in memory so building a config and a run train it once)."""
    rule = resolve_rule(data.separator_rule, corpus_kind(data))
    if data.tokenizer == "bytes":
        return ByteTokenizer(blank_lines=uses_blank_lines(rule))
    if data.tokenizer == "bpe":
        return _trained_bpe(_corpus_key(data), data.bpe_vocab)
    if not Path(data.tokenizer).is_file():
        raise ValueError(
            f"data.tokenizer must be bytes, bpe or a tokenizer.json file; "
            f"{data.tokenizer} is none of these"
        )
    return load_bpe(data.tokenizer)


def text_levels(data) -> tuple[tuple[int, ...], ...]:
    """Separator ids per level (innermost first) of ``data``'s rule and tokenizer."""
    rule = resolve_rule(data.separator_rule, corpus_kind(data))
    return separator_levels(text_tokenizer(data), rule)


@functools.lru_cache(maxsize=1)
def load_text(data) -> TextData:
    """Corpus, split, tokenizer, separators and the training and evaluation streams (the last
    result is kept in memory: training and the evaluation after it tokenise once)."""
    splits, how = _splits(_corpus_key(data))
    tokenizer = text_tokenizer(data)
    rule = resolve_rule(data.separator_rule, corpus_kind(data))
    limit = data.train_tokens or None
    streams = {"train": token_stream([d.text for d in splits["train"]], tokenizer, limit)}
    if data.eval_split not in streams:
        streams[data.eval_split] = token_stream(
            [d.text for d in splits[data.eval_split]], tokenizer, data.eval_tokens
        )
    return TextData(
        tokenizer=tokenizer,
        rule=rule,
        levels=separator_levels(tokenizer, rule),
        manifest=manifest(splits, how),
        streams=streams,
        token_bytes=tokenizer.token_bytes(),
    )
