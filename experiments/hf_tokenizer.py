"""Hugging Face tokenizers for exported runs (``bipe export-hf``), built with ``tokenizers``.

- text runs with bytes: ids 0-255 are the UTF-8 bytes (a byte-level BPE without merges), 256
  ``<eod>`` (special: dropped when decoding with ``skip_special_tokens``), 257 ``<blank>``
  (decodes to a newline). With a blank-line separator rule a normaliser marks every newline
  that follows a newline (the text may then not contain U+FFFF, the mark). Encoding and
  decoding equal :class:`bipe.synthetic.text.tokenizer.ByteTokenizer` byte for byte;
- text runs with BPE: the run's ``tokenizer.json`` as is, ``<eod>`` as end of sequence;
- synthetic runs: a word-level tokenizer over the task's vocabulary, one word per token split
  on whitespace (``"( 2 + 7 ) * 6 ="``): the task's own words where it has them (arithmetic),
  else ``t<id>`` with separators named ``<sep>`` (or ``<sep0>``, ``<sep1>``, ... innermost
  level first).
"""

from __future__ import annotations

from collections.abc import Sequence

from bipe.synthetic.text.tokenizer import EOD

BLANK_MARK = "\uffff"  # what a blank-line newline is normalised to before byte encoding
NEWLINE = 10


def _byte_alphabet() -> dict[int, str]:
    """GPT-2's byte -> printable character table (the ``ByteLevel`` pre-tokenizer's)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    table, extra = {b: chr(b) for b in printable}, 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def _fast(tokenizer, **special: str):
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, **special)


def byte_tokenizer(*, blank_lines: bool):
    """The byte tokenizer (258 ids) as a ``PreTrainedTokenizerFast``; see the module docstring."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers
    from tokenizers import pre_tokenizers as pre

    table = _byte_alphabet()
    vocab = {table[b]: b for b in range(256)}
    vocab[EOD], vocab[BLANK_MARK] = 256, 257
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    if blank_lines:
        tok.normalizer = normalizers.Replace(Regex("(?<=\n)\n"), BLANK_MARK)
    tok.pre_tokenizer = pre.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.Sequence(
        [decoders.Replace(BLANK_MARK, table[NEWLINE]), decoders.ByteLevel()]
    )
    tok.add_special_tokens([AddedToken(EOD, special=True)])
    tok.add_tokens([AddedToken(BLANK_MARK, normalized=True, special=False)])
    return _fast(tok, eos_token=EOD)


def bpe_tokenizer(json_text: str):
    """A run's BPE ``tokenizer.json`` as a ``PreTrainedTokenizerFast`` (``<eod>``: eos)."""
    from tokenizers import Tokenizer

    return _fast(Tokenizer.from_str(json_text), eos_token=EOD)


def token_names(vocab_size: int, level_separators: Sequence[Sequence[int]]) -> list[str]:
    """``t<id>`` per id, separators ``<sep>`` (one) or ``<sep0>``, ``<sep1>``, ..."""
    seps = [int(s) for level in level_separators for s in level]
    names = [f"t{i}" for i in range(vocab_size)]
    for k, s in enumerate(seps):
        names[s] = "<sep>" if len(seps) == 1 else f"<sep{k}>"
    return names


def word_tokenizer(words: Sequence[str], **special: str):
    """A word-level tokenizer where id i is ``words[i]`` (whitespace-split input)."""
    from tokenizers import Tokenizer, models
    from tokenizers import pre_tokenizers as pre

    if len(set(words)) != len(words) or any(not w or w.split() != [w] for w in words):
        raise ValueError("token words must be distinct and free of whitespace")
    tok = Tokenizer(models.WordLevel(vocab={w: i for i, w in enumerate(words)}, unk_token=None))
    tok.pre_tokenizer = pre.WhitespaceSplit()
    return _fast(tok, **special)
