"""Verification of arithmetic chains, records and dataset metadata, independent of the
generator (see "Verification" in :mod:`bipe.synthetic.arithmetic`)."""

from __future__ import annotations

from bipe.synthetic.arithmetic.chain import steps_ids
from bipe.synthetic.arithmetic.parser import (
    _tree_value,
    apply,
    bracket_problem,
    needs_brackets,
    parse,
)
from bipe.synthetic.arithmetic.vocabulary import (
    CLOSE,
    DIVIDE,
    EOS,
    EQUALS,
    FORMATS,
    NUM0,
    OPEN,
    OPERATORS,
    PLUS,
    SEPARATORS,
    is_prime,
    vocab,
    words_to_ids,
)


def _split(ids: list[int]) -> list[list[int]]:
    parts: list[list[int]] = [[]]
    for t in ids:
        if t == EQUALS:
            parts.append([])
        else:
            parts[-1].append(t)
    return parts


def is_reduction(prev: list[int], nxt: list[int], modulus: int) -> bool:
    """Whether ``nxt`` undoes one generator expansion of ``prev`` (ids, no ``=``)."""
    d, m = len(prev) - len(nxt), len(nxt)
    if d not in (2, 4):
        return False
    # prev = nxt[:k] + span + nxt[k+1:] needs k <= common prefix, m-1-k <= common suffix
    prefix = next((i for i in range(m) if prev[i] != nxt[i]), m)
    suffix = next((i for i in range(m) if prev[-1 - i] != nxt[-1 - i]), m)
    for k in range(max(0, m - 1 - suffix), min(prefix, m - 1) + 1):
        t = nxt[k]
        if t < NUM0:
            continue
        span = prev[k : k + d + 1]
        if d == 4:
            if span[0] != OPEN or span[-1] != CLOSE:
                continue
            span = span[1:-1]
        n1, op, n2 = span
        if n1 < NUM0 or n2 < NUM0 or op not in OPERATORS:
            continue
        if op == DIVIDE and n2 == NUM0:
            continue
        if apply(op, n1 - NUM0, n2 - NUM0, modulus) != t - NUM0:
            continue
        before = nxt[k - 1] if k > 0 else None
        after = nxt[k + 1] if k + 1 < len(nxt) else None
        if needs_brackets(before, after, op) == (d == 4):
            return True
    return False


def chain_problem(ids: list[int], fmt: str, modulus: int) -> str | None:
    """Why the ids of a chain (no ``<eos>``) are not a valid ``fmt`` chain, or None."""
    if ids and min(ids) < PLUS:
        return "a special token (<pad>, <cls>, <eos>) inside the text"
    parts = _split(ids)
    if len(parts) < 2 or any(not part for part in parts):
        return "the chain needs non-empty expressions separated by '='"
    question = parts[0]
    if not any(t in OPERATORS for t in question):
        return "the question has no operator"
    try:
        tree, groups = parse(question, modulus)
        value = _tree_value(tree, modulus)
    except ValueError as err:
        return f"the question does not parse or evaluate: {err}"
    problem = bracket_problem(question, groups)
    if problem:
        return f"question: {problem}"
    if len(parts[-1]) != 1 or parts[-1][0] < NUM0:
        return "the last expression is not a single number"
    if parts[-1][0] - NUM0 != value:
        return f"the answer {parts[-1][0] - NUM0} is not the question's value {value}"
    n_ops = sum(1 for t in question if t in OPERATORS)
    if fmt == "direct":
        return None if len(parts) == 2 else "a direct chain has exactly one '='"
    if fmt == "feng":
        if len(parts) != n_ops + 1:
            return f"{len(parts) - 1} steps for a question with {n_ops} operators"
        for i in range(n_ops):
            if not is_reduction(parts[i], parts[i + 1], modulus):
                return f"step {i + 1} is not a single value-preserving reduction of step {i}"
        return None
    if fmt == "steps":
        want = steps_ids(question, modulus)[:-1]
        if ids != want:
            pairs = zip(ids, want, strict=False)
            k = next((i for i, (a, b) in enumerate(pairs) if a != b), min(len(ids), len(want)))
            return f"token {k} differs from the canonical steps"
        return None
    return f"unknown arithmetic format {fmt!r}"


def verify_text(text: str, fmt: str, modulus: int) -> str | None:
    """Why ``text`` is not a valid ``fmt`` chain mod ``modulus``, or None."""
    ids = _text_ids(text, modulus)
    return ids if isinstance(ids, str) else chain_problem(ids, fmt, modulus)


def _text_ids(text: object, modulus: int) -> list[int] | str:
    """The token ids of ``text`` (no ``<eos>``), or why it is not single-spaced known words."""
    if not isinstance(text, str) or not text:
        return "text must be a non-empty string"
    words = text.split(" ")
    if any(not w for w in words):
        return "words must be separated by single spaces"
    try:
        return words_to_ids(words, modulus)
    except ValueError as err:
        return str(err)


def _positions(tokens: list[int]) -> tuple[list[int], list[int]]:
    """``(seg, intra)`` by the plain definition (a separator closes its segment)."""
    ends = [i for i, t in enumerate(tokens) if t in SEPARATORS]
    if not ends or ends[-1] != len(tokens) - 1:
        ends.append(len(tokens) - 1)
    seg: list[int] = []
    intra: list[int] = []
    start = 0
    for s, end in enumerate(ends):
        seg += [s] * (end + 1 - start)
        intra += range(end + 1 - start)
        start = end + 1
    return seg, intra


def meta_problem(meta: dict) -> str | None:
    """Why ``meta`` is not an arithmetic dataset's meta, or None."""
    modulus = meta.get("modulus")
    if isinstance(modulus, bool) or not isinstance(modulus, int) or not is_prime(modulus):
        return f"meta modulus {modulus!r} is not a prime"
    if meta.get("arith_format") not in FORMATS:
        return f"meta arith_format {meta.get('arith_format')!r} is not one of {FORMATS}"
    if meta.get("vocab") != list(vocab(modulus)):
        return "meta vocab is not the reference vocabulary for this modulus"
    if meta.get("separators") != list(SEPARATORS):
        return f"meta separators {meta.get('separators')!r} are not {list(SEPARATORS)}"
    return None


def verify_record(record: dict, meta: dict) -> str | None:
    """Why ``record`` is not a valid record of the arithmetic dataset ``meta``, or None."""
    problem = meta_problem(meta)
    if problem:
        return problem
    modulus, fmt = meta["modulus"], meta["arith_format"]
    missing = [
        k
        for k in ("text", "tokens", "seg", "intra", "answer", "n_operators", "prompt_len")
        if k not in record
    ]
    if missing:
        return f"missing fields {', '.join(missing)}"
    ids = _text_ids(record["text"], modulus)
    if isinstance(ids, str):
        return ids
    problem = chain_problem(ids, fmt, modulus)
    if problem:
        return problem
    ids.append(EOS)
    if record["tokens"] != ids:
        return "tokens do not match the text"
    seg, intra = _positions(ids)
    if record["seg"] != seg or record["intra"] != intra:
        return "seg/intra do not match the separators '=' and '<eos>'"
    prompt_len = ids.index(EQUALS) + 1
    checks = (
        ("prompt_len", prompt_len),
        ("answer", ids[-2] - NUM0),
        ("n_operators", sum(1 for t in ids[:prompt_len] if t in OPERATORS)),
    )
    for key, want in checks:
        if record[key] != want or isinstance(record[key], bool):
            return f"{key} is {record[key]!r}, the chain says {want}"
    return None
