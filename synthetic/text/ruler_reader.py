"""An independent reader of RULER examples: re-derives the expected answer from the text alone.

It shares nothing with the generator (``synthetic/text/ruler.py``) but the surface forms a
reader of the text sees: it finds the needle lines and the question with its own patterns and
answers the question, so a generator bug (a value that never reaches the text, a chain order
lost in placement, a distractor that answers too) shows as a disagreement. ``text`` is an
example's prompt: everything before the answer.

- ``niah_single``: the value of the one ``The pass key is N. Remember it.`` line.
- ``niah_*``: the values of the asked keys (``What ... pass key(s) of a, b, and c?``) in the
  order asked, each key's values in text order.
- ``common_words``: the numbered list's most frequent words (as many as asked, strictly more
  frequent than the rest), in order of first appearance.
- ``variable_tracking``: starting from the asked value, every variable assigned it, then every
  variable assigned one of those, ..., in the order the assignments resolve.

:func:`verify_record` checks a ``bipe gen ruler:TASK`` record (``bipe verify``).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from typing import Any

__all__ = ["read_answer", "verify_record"]

_PASSKEY = re.compile(r"\nThe pass key is (\d+)\. Remember it\.\n")
_NEEDLE = re.compile(r"\nThe pass key of ([a-z]+) is (\d+)\.\n")
_ASKED = re.compile(r"\nWhat (?:is|are all) the pass keys? of ([a-z, ]+)\? (?:It is|They are) $")
_ASSIGN = re.compile(r"\nVAR ([A-Z]+) = (\d+|VAR [A-Z]+)\n")
_VT_ASKED = re.compile(r"\nFind all variables assigned (\d+): $")
_CW_ASKED = re.compile(
    r"\nWhat (?:is|are) the (\d+) most common words? in the list above\? (?:It is|They are) $"
)
_ITEM = re.compile(r"(\d+)\. ([a-z]+)")


def _only(pattern: re.Pattern, text: str, what: str) -> re.Match:
    found = list(pattern.finditer(text))
    if len(found) != 1:
        raise ValueError(f"expected one {what}, found {len(found)}")
    return found[0]


def _niah(text: str) -> list[str]:
    asked = _only(_ASKED, text, "pass key question").group(1)
    keys = [k for k in re.split(r", and |, | and ", asked) if k]
    values: dict[str, list[str]] = {}
    for m in _NEEDLE.finditer(text):
        values.setdefault(m.group(1), []).append(m.group(2))
    if any(k not in values for k in keys):
        raise ValueError(f"a key asked for ({asked}) has no needle in the text")
    return [v for k in keys for v in values[k]]


def _variables(text: str) -> list[str]:
    value = _only(_VT_ASKED, text, "variable question").group(1)
    assigned = [(m.group(1), m.group(2)) for m in _ASSIGN.finditer(text)]
    found: list[str] = []
    targets = {value}
    while True:
        new = [
            name
            for name, rhs in assigned
            if name not in found and (rhs in targets or rhs.removeprefix("VAR ") in found)
        ]
        if not new:
            return found
        found += new
        targets = set()


def _common(text: str) -> list[str]:
    n = int(_only(_CW_ASKED, text, "common-words question").group(1))
    listing = text.split("\n")[-2]  # the line before the question
    items = [(int(a), w) for a, w in _ITEM.findall(listing)]
    if [i for i, _ in items] != list(range(1, len(items) + 1)):
        raise ValueError("the word list is not numbered 1, 2, 3, ...")
    words = [w for _, w in items]
    counts = Counter(words).most_common()
    if len(counts) < n or (len(counts) > n and counts[n - 1][1] == counts[n][1]):
        raise ValueError(f"the list has no {n} most common words")
    top = {w for w, _ in counts[:n]}
    return sorted(top, key=words.index)


def read_answer(task: str, text: str) -> list[str]:
    """The answer strings to ``task``'s question in ``text`` (``ValueError`` if unreadable)."""
    if task == "niah_single":
        return [_only(_PASSKEY, text, "pass key line").group(1)]
    if task.startswith("niah_"):
        return _niah(text)
    if task == "variable_tracking":
        return _variables(text)
    if task == "common_words":
        return _common(text)
    raise ValueError(f"no reader for RULER task {task!r}")


def verify_record(record: Mapping[str, Any], meta: Mapping[str, Any]) -> str | None:
    """Why a ``bipe gen ruler:TASK`` record is invalid (None when its answer is the text's)."""
    task = str(meta.get("generator", "")).removeprefix("ruler:")
    try:
        read = read_answer(task, record["text"])
    except ValueError as err:
        return str(err)
    if read != list(record["answer"]):
        return f"the text answers {read}, the record says {record['answer']}"
    return None
