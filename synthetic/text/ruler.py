"""RULER's synthetic long-context tasks (Hsieh et al. 2024) on bipe's haystacks, byte-exact.

Every example is filler (the passkey's repeated sentences or a stretch of a corpus stream) with
needle lines inserted at token cuts, then a question; the target is the answer text, the last
``n_answer`` tokens. The answer is a list of strings (``answer``) joined into that text; RULER's
score of a model output is the share of those strings it contains (:func:`recall`).

``niah_single``
    The passkey (``synthetic/text/passkey.py``), one needle, one value: answer ``[key]``.
``niah_multikey`` (``needles`` keys), ``niah_multivalue`` (``values`` per key),
``niah_multiquery`` (``queries`` keys asked at once, of ``needles``)
    Needle lines ``The pass key of KEY is VALUE.`` with four-letter keys and ``digits``-digit
    values, all distinct; the answer lists the queried keys' values (query order; a key's
    values in text order), joined by ``", "``.
``variable_tracking`` (``chains`` chains of ``hops`` hops, chain 0 asked)
    ``VAR ABCDE = 12345`` then ``VAR FGHIJ = VAR ABCDE`` ... (hop lines in chain order), the
    other chains distractors with their own values; the answer is every variable name of the
    queried chain, in chain order, joined by ``" "``.
``common_words`` (``common_words`` words ``freq_cw`` times each among words ``freq_ucw`` times)
    RULER's CWE (``synthetic/text/common_words.py``): the most frequent words of a numbered
    list, in order of first appearance, joined by ``", "``; no needle, no depth.

``depth`` places the first line of the queried group (the queried needle; the first value of a
multivalue key; the first queried key; the value line of the queried chain) at relative depth
``depth`` of the filler, as the passkey does; the rest of that group follows it at uniform cuts
after it (in order), every other line at a uniform cut anywhere (at an equal cut the queried
group comes first up to depth 0.5 and last above it, other groups in random order). Worked
example (bytes, ``variable_tracking``, one chain of one hop, no filler)::

    \\nVAR QWERT = 40213\\n\\nVAR ASDFG = VAR QWERT\\n
    \\nFind all variables assigned 40213: QWERT ASDFG

with ``answer == ("QWERT", "ASDFG")`` and ``n_answer == 11``.
"""

from __future__ import annotations

import dataclasses
import math
import string
from dataclasses import dataclass

import numpy as np

from bipe.synthetic.text import common_words
from bipe.synthetic.text.passkey import _filler, passkey_example

__all__ = [
    "RULER_TASKS",
    "RulerExample",
    "RulerParams",
    "min_ruler_length",
    "recall",
    "ruler_example",
    "ruler_params",
]

RULER_TASKS = (
    "niah_single",
    "niah_multikey",
    "niah_multivalue",
    "niah_multiquery",
    "variable_tracking",
    "common_words",
)
NEEDLE = "\nThe pass key of {key} is {value}.\n"
ASK_ONE = "\nWhat is the pass key of {keys}? It is "
ASK_ALL = "\nWhat are all the pass keys of {keys}? They are "
VAR_VALUE = "\nVAR {name} = {value}\n"
VAR_HOP = "\nVAR {name} = VAR {prev}\n"
ASK_VARS = "\nFind all variables assigned {value}: "
# the RULER counts (fields of the text data config) each task reads; the others must keep
# their defaults (a setting without effect is refused, not ignored)
READS = {
    "niah_single": (),
    "niah_multikey": ("needles",),
    "niah_multivalue": ("values",),
    "niah_multiquery": ("needles", "queries"),
    "variable_tracking": ("hops", "chains"),
    "common_words": ("common_words", "freq_cw", "freq_ucw"),
}
COUNTS = ("needles", "values", "queries", "hops", "chains", "common_words", "freq_cw", "freq_ucw")
KEY_LETTERS = 4
VAR_LETTERS = 5


@dataclass(frozen=True, kw_only=True)
class RulerParams:
    """RULER's complexity parameters (its ``num_needle_k``, ``num_needle_v``, ``num_needle_q``,
    ``num_hops``, ``num_chains``; CWE's ``num_cw``, ``freq_cw``, ``freq_ucw``) and the digits
    of a value."""

    needles: int = 1
    values: int = 1
    queries: int = 1
    hops: int = 1
    chains: int = 1
    common_words: int = 1
    freq_cw: int = 2
    freq_ucw: int = 1
    digits: int = 5

    def __post_init__(self) -> None:
        for name in (*COUNTS, "digits"):
            if getattr(self, name) < 1:
                raise ValueError(f"data.{name} must be >= 1, got {getattr(self, name)}")
        if self.queries > self.needles:
            raise ValueError(
                f"data.queries={self.queries} asks more keys than data.needles={self.needles}"
            )
        needed = max(self.needles * self.values, self.chains)  # distinct values, at most
        if 2 * needed > 9 * 10 ** (self.digits - 1):
            raise ValueError(
                f"{needed} distinct values of data.passkey_digits={self.digits} digits are too "
                "many to draw (at most half of them); use more digits"
            )
        if self.freq_cw <= self.freq_ucw:
            raise ValueError(
                f"data.freq_cw={self.freq_cw} must exceed data.freq_ucw={self.freq_ucw} (the "
                "common words must be the most frequent)"
            )


def ruler_params(task: str, data) -> RulerParams:
    """The :class:`RulerParams` of ``task`` from a text data config: the counts it reads
    (:data:`READS`), ``passkey_digits``; a count it does not read set away from its default is a
    ``ValueError``."""
    if task not in READS:
        raise ValueError(f"unknown RULER task {task!r}; known: {', '.join(RULER_TASKS)}")
    defaults = {f.name: f.default for f in dataclasses.fields(data)}
    for name in COUNTS:
        if name not in READS[task] and getattr(data, name) != defaults[name]:
            reads = ", ".join(f"data.{x}" for x in READS[task]) or "none of them"
            raise ValueError(
                f"data.{name}={getattr(data, name)} has no effect on ruler:{task} (it reads "
                f"{reads})"
            )
    if task == "common_words" and data.passkey_depths != defaults["passkey_depths"]:
        raise ValueError("data.passkey_depths has no effect on ruler:common_words (no needle)")
    return RulerParams(digits=data.passkey_digits, **{k: getattr(data, k) for k in READS[task]})


@dataclass(frozen=True)
class RulerExample:
    """``tokens`` (T,) int64 ending with the answer text (its last ``n_answer`` tokens);
    ``answer`` the expected strings; ``depth`` of the queried group's first line (NaN for
    ``common_words``, which has no needle)."""

    tokens: np.ndarray
    n_answer: int
    answer: tuple[str, ...]
    depth: float


@dataclass(frozen=True)
class _Needles:
    """What one example inserts: ``groups`` of lines (each kept in order, group 0 anchored at
    the depth), the question and the answer strings with their joiner."""

    groups: list[list[str]]
    question: str
    answer: tuple[str, ...]
    joiner: str


def _distinct(rng: np.random.Generator, n: int, draw) -> list[str]:
    out: list[str] = []
    while len(out) < n:
        word = draw()
        if word not in out:
            out.append(word)
    return out


def _letters(rng: np.random.Generator, k: int, alphabet: str) -> str:
    return "".join(alphabet[i] for i in rng.integers(0, len(alphabet), size=k))


def _digits(rng: np.random.Generator, k: int) -> str:
    return str(int(rng.integers(1, 10))) + "".join(str(d) for d in rng.integers(0, 10, size=k - 1))


def _listing(words: list[str]) -> str:
    """``a``, ``a and b``, ``a, b, and c`` (RULER's query list)."""
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + ", and " + words[-1]


def _niah(rng: np.random.Generator, task: str, p: RulerParams) -> _Needles:
    n_keys = p.needles if task != "niah_multivalue" else 1
    n_values = p.values if task == "niah_multivalue" else 1
    n_queries = p.queries if task == "niah_multiquery" else 1
    keys = _distinct(rng, n_keys, lambda: _letters(rng, KEY_LETTERS, string.ascii_lowercase))
    values = _distinct(rng, n_keys * n_values, lambda: _digits(rng, p.digits))
    asked = [int(i) for i in rng.permutation(n_keys)[:n_queries]]
    lines = [
        [NEEDLE.format(key=keys[k], value=values[k * n_values + j]) for j in range(n_values)]
        for k in range(n_keys)
    ]
    groups = [lines[asked[0]]] + [[x] for k in range(n_keys) if k != asked[0] for x in lines[k]]
    answer = tuple(values[k * n_values + j] for k in asked for j in range(n_values))
    ask = ASK_ONE if len(answer) == 1 else ASK_ALL
    return _Needles(groups, ask.format(keys=_listing([keys[k] for k in asked])), answer, ", ")


def _variable_tracking(rng: np.random.Generator, p: RulerParams) -> _Needles:
    n = p.hops + 1
    names = _distinct(rng, p.chains * n, lambda: _letters(rng, VAR_LETTERS, string.ascii_uppercase))
    values = _distinct(rng, p.chains, lambda: _digits(rng, p.digits))
    groups = []
    for c in range(p.chains):
        chain = names[c * n : (c + 1) * n]
        hops = [VAR_HOP.format(name=b, prev=a) for a, b in zip(chain, chain[1:], strict=False)]
        groups.append([VAR_VALUE.format(name=chain[0], value=values[c]), *hops])
    return _Needles(groups, ASK_VARS.format(value=values[0]), tuple(names[:n]), " ")


def _needles(rng: np.random.Generator, task: str, p: RulerParams) -> _Needles:
    if task == "variable_tracking":
        return _variable_tracking(rng, p)
    if task in RULER_TASKS:
        return _niah(rng, task, p)
    raise ValueError(f"unknown RULER task {task!r}; known: {', '.join(RULER_TASKS)}")


def min_ruler_length(tokenizer, task: str, params: RulerParams) -> int:
    """Tokens of the longest example without filler of ``task`` (the shortest ``length`` that
    always fits), for bytes exact; every key, name and value has a fixed width."""
    if task == "niah_single":
        from bipe.synthetic.text.passkey import min_passkey_length

        return min_passkey_length(tokenizer, params.digits)
    if task == "common_words":
        p = params
        return common_words.list_bytes(p.common_words * p.freq_cw) + _cwe_fixed(tokenizer, p)
    ex = _needles(np.random.default_rng(0), task, params)
    pieces = [x for g in ex.groups for x in g] + [ex.question, ex.joiner.join(ex.answer)]
    return sum(len(tokenizer.encode(s)) for s in pieces)


def _cwe_fixed(tokenizer, p: RulerParams) -> int:
    """Tokens of the question and (bytes, an upper bound) of the answer of a CWE example."""
    answer = ", ".join(["a" * common_words.WORD_LETTERS] * p.common_words)
    return len(tokenizer.encode(common_words.question(p.common_words))) + len(answer.encode())


def _common_words(rng, tokenizer, length: int, filler, p: RulerParams) -> RulerExample:
    budget = length - _cwe_fixed(tokenizer, p)
    text, words = common_words.word_list(rng, budget, p.common_words, p.freq_cw, p.freq_ucw)
    items = tokenizer.encode(text)
    question = tokenizer.encode(common_words.question(p.common_words))
    answer = tokenizer.encode(", ".join(words))
    n_filler = length - len(items) - len(question) - len(answer)  # >= 0: a token is >= a byte
    stuff = _filler(rng, tokenizer, filler, n_filler)  # (n_filler,)
    tokens = np.concatenate([stuff, items, question, answer]).astype(np.int64)  # (length,)
    return RulerExample(tokens, len(answer), words, math.nan)


def _cuts(rng: np.random.Generator, groups: list[list[str]], depth: float, n: int) -> np.ndarray:
    """Filler cut of every line, groups flattened: group 0's first line at ``depth``, the rest
    of group 0 after it, each other group anywhere; each group's cuts ascending."""
    first = int(round(depth * n))
    cuts = [np.sort(np.concatenate([[first], rng.integers(first, n + 1, len(groups[0]) - 1)]))]
    cuts += [np.sort(rng.integers(0, n + 1, len(g))) for g in groups[1:]]
    return np.concatenate(cuts)  # (lines,)


def ruler_example(
    rng: np.random.Generator,
    tokenizer,
    task: str,
    length: int,
    depth: float,
    filler: np.ndarray | None = None,
    params: RulerParams | None = None,
) -> RulerExample:
    """One example of ``task`` of exactly ``length`` tokens (see the module docstring).

    ``filler``: a token stream to cut filler from at a random offset (None: the passkey's
    repeated sentences).
    """
    p = params or RulerParams()
    if not 0.0 <= depth <= 1.0:
        raise ValueError(f"the needle depth must lie in [0, 1], got {depth}")
    if task == "niah_single":
        if (p.needles, p.values, p.queries) != (1, 1, 1):
            raise ValueError("niah_single is the passkey: one needle, one value, one query")
        ex = passkey_example(rng, tokenizer, length, depth, filler, p.digits)
        return RulerExample(ex.tokens, ex.n_answer, (ex.key,), ex.depth)
    if task == "common_words":
        return _common_words(rng, tokenizer, length, filler, p)
    spec = _needles(rng, task, p)
    lines = [tokenizer.encode(x) for g in spec.groups for x in g]
    question = tokenizer.encode(spec.question)
    answer = tokenizer.encode(spec.joiner.join(spec.answer))
    n_filler = length - sum(map(len, lines)) - len(question) - len(answer)
    if n_filler < 0:
        raise ValueError(
            f"a {task} example with these parameters needs at least {length - n_filler} "
            f"tokens, got length {length}"
        )
    stuff = _filler(rng, tokenizer, filler, n_filler)  # (n_filler,)
    cuts = _cuts(rng, spec.groups, depth, n_filler)  # (lines,)
    group = np.concatenate([np.full(len(g), i) for i, g in enumerate(spec.groups)])
    tie = np.concatenate([[-1 if depth <= 0.5 else len(lines)], rng.permutation(len(lines))])
    tie = tie[group]  # (lines,) ties: the queried group first up to depth 0.5, last above
    order = np.lexsort((np.arange(len(lines)), tie, cuts))  # by cut, then group, then line
    parts, at = [], 0
    for i in order:
        parts += [stuff[at : cuts[i]], lines[i]]
        at = int(cuts[i])
    parts += [stuff[at:], question, answer]
    tokens = np.concatenate(parts).astype(np.int64)  # (length,)
    return RulerExample(tokens, len(answer), spec.answer, float(depth))


def recall(output: str, answer: tuple[str, ...] | list[str]) -> float:
    """RULER's ``string_match_all`` for one example: the share of the expected strings that
    occur in ``output`` (case-insensitive)."""
    low = output.lower()
    return sum(a.lower() in low for a in answer) / len(answer)
