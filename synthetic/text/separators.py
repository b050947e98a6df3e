"""Separator rules of text: which token ids close a segment, per level (docs/method.md#text).

A rule is a list of levels, innermost first; each level lists the texts that close a unit of
that level. A token is a level-k separator when the text it stands for *contains* one of level
k's texts; when it contains texts of several levels the highest level wins (a BPE token
``".\\n\\n"`` closes a block, not just a line). The end-of-document token always joins the top
level. Rules:

======================  =======================================================  ===========
name                    levels (innermost first)                                 for
======================  =======================================================  ===========
``newline``             ``\\n``                                                   code
``sentence``            ``. ! ? \\n``                                             prose
``blocks``              ``\\n`` < blank line (``\\n\\n``)                            code, hbipe
``paragraphs``          ``. ! ? \\n`` < blank line                                  prose, hbipe
``verses``              ``\\n`` (verse) < blank line (chapter) < ``<eod>`` (book)  kjv, hbipe
======================  =======================================================  ===========

``auto`` picks ``newline`` for code corpora and ``sentence`` for prose; ``auto_levels`` picks
``blocks`` for code, ``verses`` for ``kjv`` and ``paragraphs`` for other prose. A blank line is
two newlines, so with bytes it cannot be one token: the byte tokenizer then emits its
``<blank>`` token for the second newline (``synthetic/text/tokenizer.py``). With BPE a blank
line is a level-1 separator only where BPE merged ``\\n\\n`` into one token (frequent in code and
prose, so nearly always); a lone ``\\n`` token stays level 0.

Worked example (bytes, ``blocks``): ``\\n`` = 10 is level 0, ``<blank>`` = 257 and ``<eod>`` =
256 are level 1::

    >>> from bipe.synthetic.text.tokenizer import ByteTokenizer
    >>> separator_levels(ByteTokenizer(blank_lines=True), "blocks")
    ((10,), (256, 257))
"""

from __future__ import annotations

from collections.abc import Sequence

from bipe.synthetic.text.tokenizer import BLANK, EOD

__all__ = ["RULES", "resolve_rule", "separator_levels", "uses_blank_lines"]

_SENTENCE = (".", "!", "?", "\n")
RULES: dict[str, tuple[tuple[str, ...], ...]] = {
    "newline": (("\n",),),
    "sentence": (_SENTENCE,),
    "blocks": (("\n",), (BLANK,)),
    "paragraphs": (_SENTENCE, (BLANK,)),
    "verses": (("\n",), (BLANK,), (EOD,)),
}
AUTO = {
    ("auto", "code"): "newline",
    ("auto", "prose"): "sentence",
    ("auto", "kjv"): "sentence",
    ("auto_levels", "code"): "blocks",
    ("auto_levels", "prose"): "paragraphs",
    ("auto_levels", "kjv"): "verses",
}


def resolve_rule(rule: str, kind: str) -> str:
    """The concrete rule name of ``rule`` (``auto``/``auto_levels`` by corpus ``kind``: code,
    prose or kjv); unknown names are a ``ValueError`` listing the known ones."""
    if (rule, kind) in AUTO:
        return AUTO[(rule, kind)]
    if rule not in RULES:
        raise ValueError(
            f"unknown separator rule {rule!r}; known: auto, auto_levels, {', '.join(RULES)}"
        )
    return rule


def uses_blank_lines(rule: str) -> bool:
    """True when the (concrete) rule has a blank-line level."""
    return any(BLANK in level for level in RULES[rule])


def separator_levels(tokenizer, rule: str) -> tuple[tuple[int, ...], ...]:
    """Token ids per level (innermost first) of the concrete ``rule`` for ``tokenizer``.

    Each id lands in the highest level one of whose texts it contains; ``<eod>`` in the top one.
    """
    levels: Sequence[tuple[str, ...]] = RULES[rule]
    out: list[list[int]] = [[] for _ in levels]
    for i, text in enumerate(tokenizer.token_texts()):
        if i == tokenizer.eod:
            out[-1].append(i)
            continue
        hits = [k for k, texts in enumerate(levels) if any(t in text for t in texts if t != EOD)]
        if hits:
            out[max(hits)].append(i)
    return tuple(tuple(sorted(ids)) for ids in out)
