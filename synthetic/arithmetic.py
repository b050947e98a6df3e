"""Chain-of-thought arithmetic over Z_p (Feng et al. 2023; docs/method.md#arithmetic).

An expression over ``Z_p`` (``p`` prime, default 11) uses the numbers ``0..p-1`` and the
operators ``+ - * /`` (``a / b`` is the ``c`` with ``b * c = a mod p``) with the usual precedence
and brackets. ``L`` is the number of operators.

**Generation** (the reference's process, written afresh): start from a uniform answer; ``L``
times, pick a uniform number token ``x`` of the current expression and replace it by a binary
expression ``n1 op n2`` with value ``x`` (``op`` and ``n1`` uniform, ``n2`` solved for, drawn from
exactly the law of the reference's rejection loop, see :func:`expansion_table`), adding brackets
only where the reference's rule says precedence needs them (:func:`needs_brackets`, which looks at
the tokens on either side of ``x``). The chain of thought is that history reversed, so each step
undoes one expansion: it evaluates one operation on two numbers (the reference sometimes reduces
``1 + 3`` inside ``10 + 1 + 3``, valid because ``+`` associates).

**Formats** (``fmt``); words are joined by single spaces, tokens end with ``<eos>``:

- ``feng`` (the reference chain)::

      ( 2 + 7 ) * 6 - 3 = 9 * 6 - 3 = 10 - 3 = 7

  segments ``( 2 + 7 ) * 6 - 3 =`` | ``9 * 6 - 3 =`` | ``10 - 3 =`` | ``7 <eos>``: each expression
  closed by ``=``, the answer closed by ``<eos>``. Segment lengths grow with ``L`` (the question
  has about 2L+1 tokens plus brackets), total length about L^2.
- ``direct``: ``( 2 + 7 ) * 6 - 3 = 7`` (question, ``=``, answer).
- ``steps`` (bipe's bounded-segment chain): the question, then one segment per operation in the
  canonical order, each writing only that operation, and the value of the previous operation
  opening the next segment::

      ( 2 + 7 ) * 6 - 3 = 2 + 7 = 9 9 * 6 = 10 10 - 3 = 7

  segments ``( 2 + 7 ) * 6 - 3 =`` | ``2 + 7 =`` | ``9 9 * 6 =`` | ``10 10 - 3 =`` | ``7 <eos>``.
  The canonical order is the post-order of the question's standard parse tree (``* /`` bind
  tighter than ``+ -``, all left-associative), which is also "the leftmost operation whose
  operands are both numbers and that precedence allows next". Operands are numbers of the
  question or values of earlier steps. Every step segment has at most 5 tokens whatever ``L``;
  the number of segments is ``L + 2``; only the question segment grows with ``L``. The answer is
  the token before ``<eos>``, as in ``feng``, and the prompt ends at the first ``=``.

**Token ids** (the reference's): ``<pad>``=0, ``<cls>``=1, ``<eos>``=2, ``+ - * / ( ) =`` = 3..9,
numbers ``0..p-1`` = ``10..10+p-1`` (:func:`vocab`, ``ARITH_VOCAB`` for p=11). Separators are
``=`` (9) and ``<eos>`` (2).

**Records** (dicts): ``text`` (words, no ``<eos>``), ``tokens`` (ids + ``<eos>``), ``seg``,
``intra`` (docs/method.md#positions over the separators), ``answer`` (int), ``n_operators`` (of the
question), ``prompt_len`` (tokens up to and including the first ``=``)::

    >>> rec = make_record([7, 12, 3, 17, 8, 5, 16, 4, 13, 9, 19, 5, 16, 4, 13, 9,
    ...                    20, 4, 13, 9, 17, 2], 11)
    >>> rec["text"]
    '( 2 + 7 ) * 6 - 3 = 9 * 6 - 3 = 10 - 3 = 7'
    >>> rec["seg"][:11], rec["prompt_len"], rec["answer"], rec["n_operators"]
    ([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], 10, 7, 3)

A dataset's ``meta.json`` (written by ``bipe gen arith``) holds ``generator`` ("arith"),
``arith_format`` (the format above; ``format`` is taken by the dataset layer for jsonl/npz),
``modulus``, ``vocab``, ``separators`` ([9, 2]), ``config`` and ``seed``.

**Verification** (:func:`verify_record`): the text is single-spaced known words and the tokens,
``seg``, ``intra``, ``prompt_len``, ``answer`` and ``n_operators`` follow from it; the question
parses, has at least one operator and only the brackets the generator writes; the answer is the
question's value (evaluated independently of the chain); ``feng``: exactly L steps, each undoing
one generator expansion (a single value-preserving reduction with the bracket rule); ``steps``:
equal to the canonical steps re-derived from the question; ``direct``: one ``=``.

**API**: :func:`generate_arithmetic` (list of records) and :func:`iter_arithmetic` (a stream,
with the reference's ``--under`` quotas, deduplication and exclusion), :func:`vocab`,
:func:`parse`, :func:`evaluate`, :func:`canonical_steps`, :func:`make_record`,
:func:`verify_record` (``None`` or the reason a record is invalid) and :func:`verify_text`.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Collection, Iterator
from fractions import Fraction
from functools import lru_cache

import numpy as np

from bipe.synthetic.distributions import LengthDist, parse_length_spec
from bipe.synthetic.segment import separator_positions

PAD, CLS, EOS = 0, 1, 2
PLUS, MINUS, TIMES, DIVIDE, OPEN, CLOSE, EQUALS = 3, 4, 5, 6, 7, 8, 9
NUM0 = 10
OPERATORS = (PLUS, MINUS, TIMES, DIVIDE)
LOW = (PLUS, MINUS)
SEPARATORS = (EQUALS, EOS)
FORMATS = ("feng", "direct", "steps")
_SYMBOLS = ("<pad>", "<cls>", "<eos>", "+", "-", "*", "/", "(", ")", "=")
_CHUNK = 2048


def is_prime(p: int) -> bool:
    """Whether ``p`` is a prime number."""
    return p >= 2 and all(p % d for d in range(2, int(p**0.5) + 1))


def check_modulus(modulus: int) -> int:
    """``modulus`` if it is a prime, else a ``ValueError`` naming it."""
    if isinstance(modulus, bool) or not isinstance(modulus, int | np.integer) or not is_prime(
        int(modulus)
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


# ----------------------------------------------------------------------------- arithmetic


def apply(op: int, a: int, b: int, modulus: int) -> int:
    """``a op b`` in Z_p; division by zero is a ``ValueError``."""
    if op == PLUS:
        return (a + b) % modulus
    if op == MINUS:
        return (a - b) % modulus
    if op == TIMES:
        return a * b % modulus
    if op == DIVIDE:
        if b % modulus == 0:
            raise ValueError("division by zero")
        return a * pow(b, modulus - 2, modulus) % modulus
    raise ValueError(f"{op} is not an operator id")


def parse(ids: list[int], modulus: int) -> tuple[object, list[tuple[int, int, int | None]]]:
    """Parse an expression (token ids, no ``=``) into ``(tree, groups)``.

    ``tree`` is a number value (int) or ``(op, left, right)``; ``+ -`` and ``* /`` are
    left-associative with ``* /`` binding tighter. ``groups`` lists each bracket pair as
    ``(open_index, close_index, root_op)`` where ``root_op`` is the operator at the top of the
    bracketed expression (None for a lone number). Malformed input is a ``ValueError``.
    """
    groups: list[tuple[int, int, int | None]] = []
    top = NUM0 + modulus

    def atom(i: int) -> tuple[object, int]:
        if i < len(ids) and NUM0 <= ids[i] < top:
            return ids[i] - NUM0, i + 1
        if i < len(ids) and ids[i] == OPEN:
            tree, j = expr(i + 1)
            if j >= len(ids) or ids[j] != CLOSE:
                raise ValueError(f"unclosed bracket at token {i}")
            groups.append((i, j, tree[0] if isinstance(tree, tuple) else None))
            return tree, j + 1
        raise ValueError(f"expected a number or '(' at token {i}")

    def chain(i: int, ops: tuple[int, int], sub) -> tuple[object, int]:
        tree, i = sub(i)
        while i < len(ids) and ids[i] in ops:
            right, j = sub(i + 1)
            tree, i = (ids[i], tree, right), j
        return tree, i

    def term(i: int) -> tuple[object, int]:
        return chain(i, (TIMES, DIVIDE), atom)

    def expr(i: int) -> tuple[object, int]:
        return chain(i, LOW, term)

    tree, end = expr(0)
    if end != len(ids):
        raise ValueError(f"unexpected token at {end}")
    return tree, groups


def evaluate(ids: list[int], modulus: int) -> int:
    """The value of an expression (token ids) in Z_p."""
    return _tree_value(parse(ids, modulus)[0], modulus)


def _tree_value(tree: object, modulus: int) -> int:
    if isinstance(tree, int):
        return tree
    op, left, right = tree
    return apply(op, _tree_value(left, modulus), _tree_value(right, modulus), modulus)


def canonical_steps(ids: list[int], modulus: int) -> list[tuple[int, int, int, int]]:
    """``(a, op, b, value)`` for each operation of the question, in post-order (see module doc)."""
    steps: list[tuple[int, int, int, int]] = []

    def walk(tree: object) -> int:
        if isinstance(tree, int):
            return tree
        op, left, right = tree
        a, b = walk(left), walk(right)
        steps.append((a, op, b, apply(op, a, b, modulus)))
        return steps[-1][3]

    walk(parse(ids, modulus)[0])
    return steps


def needs_brackets(before: int | None, after: int | None, op: int) -> bool:
    """The reference's bracket rule for ``n1 op n2`` replacing a number between two tokens."""
    if before == DIVIDE:
        return True
    if before == TIMES or after in (TIMES, DIVIDE):
        return op in LOW
    return before == MINUS and op in LOW


def bracket_problem(ids: list[int], groups: list[tuple[int, int, int | None]]) -> str | None:
    """Why the brackets of a parsed expression are not the generator's, or None if they are.

    The tokens around a bracket pair never change once it is written, so a pair is the
    generator's iff :func:`needs_brackets` demands it from those tokens and its top operator.
    """
    for i, j, op in groups:
        before = ids[i - 1] if i > 0 else None
        after = ids[j + 1] if j + 1 < len(ids) else None
        if op is None or not needs_brackets(before, after, op):
            return f"brackets at tokens {i}..{j} are not needed"
    return None


@lru_cache(maxsize=64)
def expansion_table(modulus: int) -> tuple[tuple[tuple[tuple[int, int, int], ...], ...], tuple]:
    """For each value x: the expansions ``(n1, op, n2)`` and their cumulative probabilities.

    The law of the reference's rejection loop: ``n1`` uniform, ``op`` uniform; ``n2`` solves
    ``n1 op n2 = x``; ``0 * n2 = 0`` takes a uniform ``n2``; ``0 / n2 = 0`` a uniform non-zero
    ``n2``; impossible pairs (``0 * n2 = x != 0``, ``n1 / n2 = 0`` with ``n1 != 0``, ``0 / n2 = x
    != 0``) are redrawn.
    """
    p = check_modulus(modulus)
    outcomes, cdfs = [], []
    for x in range(p):
        weights: dict[tuple[int, int, int], Fraction] = {}
        for n1 in range(p):
            for op in OPERATORS:
                for n2, w in _solutions(x, n1, op, p):
                    weights[(n1, op, n2)] = weights.get((n1, op, n2), 0) + w
        keys = sorted(weights)
        total = sum(weights.values())
        cum = np.cumsum([float(weights[k] / total) for k in keys])
        cum[-1] = 1.0
        outcomes.append(tuple(keys))
        cdfs.append(tuple(cum.tolist()))
    return tuple(outcomes), tuple(cdfs)


def _solutions(x: int, n1: int, op: int, p: int) -> list[tuple[int, Fraction]]:
    if op == PLUS:
        return [((x - n1) % p, Fraction(1))]
    if op == MINUS:
        return [((n1 - x) % p, Fraction(1))]
    if op == TIMES:
        if n1 == 0:
            return [(n2, Fraction(1, p)) for n2 in range(p)] if x == 0 else []
        return [(apply(DIVIDE, x, n1, p), Fraction(1))]
    if n1 == 0:
        return [(n2, Fraction(1, p)) for n2 in range(1, p)] if x == 0 else []
    return [] if x == 0 else [(apply(DIVIDE, n1, x, p), Fraction(1))]


def expand(expr: list[int], item: int, n1: int, op: int, n2: int) -> list[int]:
    """The generator's step: replace the number at ``item`` by ``n1 op n2`` (ids, values)."""
    before = expr[item - 1] if item > 0 else None
    after = expr[item + 1] if item + 1 < len(expr) else None
    mid = [NUM0 + n1, op, NUM0 + n2]
    if needs_brackets(before, after, op):
        mid = [OPEN, *mid, CLOSE]
    return expr[:item] + mid + expr[item + 1 :]


def _history(u: np.ndarray, n_ops: int, modulus: int) -> list[list[int]]:
    """Expressions from the answer to the question, driven by uniforms ``u`` (1 + 2*n_ops,)."""
    outcomes, cdfs = expansion_table(modulus)
    expr = [NUM0 + int(u[0] * modulus)]
    history = [expr]
    for i in range(n_ops):
        numbers = [j for j, t in enumerate(expr) if t >= NUM0]
        item = numbers[int(u[1 + i] * (i + 1))]
        x = expr[item] - NUM0
        n1, op, n2 = outcomes[x][bisect.bisect_right(cdfs[x], u[1 + n_ops + i])]
        expr = expand(expr, item, n1, op, n2)
        history.append(expr)
    return history


# ----------------------------------------------------------------------------- formats


def format_ids(history: list[list[int]], fmt: str, modulus: int) -> list[int]:
    """The token ids (ending in ``<eos>``) of a generation history in format ``fmt``."""
    question, answer = history[-1], history[0][0]
    if fmt == "feng":
        ids: list[int] = []
        for expr in reversed(history):
            ids += expr
            ids.append(EQUALS)
        ids[-1] = EOS
        return ids
    if fmt == "direct":
        return [*question, EQUALS, answer, EOS]
    if fmt == "steps":
        return steps_ids(question, modulus)
    raise ValueError(f"unknown arithmetic format {fmt!r}; known: {', '.join(FORMATS)}")


def steps_ids(question: list[int], modulus: int) -> list[int]:
    """The ``steps`` chain of a question (ids ending in ``<eos>``)."""
    ids = [*question, EQUALS]
    steps = canonical_steps(question, modulus)
    for k, (a, op, b, _) in enumerate(steps):
        if k:
            ids.append(NUM0 + steps[k - 1][3])
        ids += [NUM0 + a, op, NUM0 + b, EQUALS]
    ids += [NUM0 + (steps[-1][3] if steps else question[0] - NUM0), EOS]
    return ids


def make_record(ids: list[int], modulus: int, seg=None, intra=None) -> dict:
    """A record from token ids ending in ``<eos>`` (positions computed unless given as lists)."""
    if seg is None:
        seg, intra = separator_positions(np.asarray(ids, dtype=np.int64), SEPARATORS)
        seg, intra = seg.tolist(), intra.tolist()
    prompt_len = ids.index(EQUALS) + 1
    words = _vocab_words(modulus)
    return {
        "text": " ".join([words[t] for t in ids[:-1]]),
        "tokens": list(ids),
        "seg": seg,
        "intra": intra,
        "answer": ids[-2] - NUM0,
        "n_operators": sum(1 for t in ids[:prompt_len] if PLUS <= t <= DIVIDE),
        "prompt_len": prompt_len,
    }


def _records(rows: list[list[int]], modulus: int) -> list[dict]:
    """Records of many id rows, positions computed in one padded batch."""
    width = max(len(r) for r in rows)
    batch = np.zeros((len(rows), width), dtype=np.int64)  # (N, T), padded with <pad>
    for i, r in enumerate(rows):
        batch[i, : len(r)] = r
    seg, intra = separator_positions(batch, SEPARATORS)  # (N, T) each
    seg, intra = seg.tolist(), intra.tolist()
    return [
        make_record(r, modulus, seg[i][: len(r)], intra[i][: len(r)]) for i, r in enumerate(rows)
    ]


# ----------------------------------------------------------------------------- generation


def operator_dist(operators: LengthDist | str | int) -> LengthDist:
    """Operator counts as a :class:`LengthDist`: a spec, a distribution, or K (= ``fixed:K``)."""
    if isinstance(operators, int | np.integer) and not isinstance(operators, bool):
        operators = f"fixed:{int(operators)}"
    if isinstance(operators, str) and operators.strip().isdigit():
        operators = f"fixed:{int(operators)}"
    dist = parse_length_spec(operators)
    if dist.lo < 1:
        raise ValueError(f"operator counts must be at least 1, got {dist}")
    return dist


def under_quotas(n: int, n_operators: int) -> np.ndarray:
    """The reference's ``--under`` quotas: ``floor(n * k / sum(1..L))`` chains of k operators."""
    ks = np.arange(n_operators, dtype=np.float64) + 1
    return (ks / ks.sum() * n).astype(np.int64)


def n_distinct_chains(n_operators: int, modulus: int) -> int | None:
    """How many distinct chains with ``n_operators`` operators exist (None: not computed)."""
    if n_operators != 1:
        return None
    return sum(len(o) for o in expansion_table(modulus)[0])


def _chunk_records(
    seed: np.random.SeedSequence, counts: np.ndarray | None, size: int, dist: LengthDist,
    fmt: str, modulus: int,
) -> list[dict]:
    """One chunk of records from its own stream: ``counts`` given, or ``size`` draws of dist."""
    rng = np.random.Generator(np.random.PCG64(seed))
    if counts is None:
        counts = dist.sample(rng, size)
    u = rng.random((len(counts), 1 + 2 * int(counts.max())))  # (N, 1 + 2 * L_max) uniforms
    rows = [format_ids(_history(u[i], int(c), modulus), fmt, modulus) for i, c in enumerate(counts)]
    return _records(rows, modulus)


def _chunk_tasks(root: np.random.SeedSequence, n: int, dist: LengthDist, under: bool, fmt: str,
                 modulus: int) -> Iterator[tuple]:
    """The endless, result-independent sequence of chunk jobs (chunk j has stream j + 1)."""
    size = min(_CHUNK, n)
    if under:
        plan_rng = np.random.Generator(np.random.PCG64(root.spawn(1)[0]))
        quotas = under_quotas(n, dist.lo)
        plan = plan_rng.permutation(np.repeat(np.arange(1, dist.lo + 1), quotas))
        for start in range(0, len(plan), size):
            yield root.spawn(1)[0], plan[start : start + size], size, dist, fmt, modulus
    fill = np.full(size, dist.lo, dtype=np.int64) if under else None
    while True:
        yield root.spawn(1)[0], fill, size, dist, fmt, modulus


def _chunks(tasks: Iterator[tuple], workers: int) -> Iterator[list[dict]]:
    """The tasks' results in order, computed by ``workers`` processes (1: in this process)."""
    if workers <= 1:
        for task in tasks:
            yield _chunk_records(*task)
        return
    import concurrent.futures as cf
    import multiprocessing

    context = multiprocessing.get_context("fork" if "fork" in
                                          multiprocessing.get_all_start_methods() else None)
    with cf.ProcessPoolExecutor(workers, mp_context=context) as pool:
        pending = [pool.submit(_chunk_records, *next(tasks)) for _ in range(2 * workers)]
        try:
            while True:
                result = pending.pop(0).result()
                pending.append(pool.submit(_chunk_records, *next(tasks)))
                yield result
        finally:
            for future in pending:
                future.cancel()


def question_of(text: str) -> str:
    """The question part of a record's text (before the first `` = ``)."""
    return text.partition(" =")[0]


def iter_arithmetic(
    rng: np.random.Generator,
    n: int,
    *,
    operators: LengthDist | str | int,
    modulus: int = 11,
    fmt: str = "feng",
    under: bool = False,
    dedup: bool = False,
    exclude: Collection[str] = (),
    max_stale: int = 50_000,
    workers: int = 1,
) -> Iterator[dict]:
    """Yield ``n`` records (see the module docstring), streaming in chunks.

    ``operators`` is a :class:`LengthDist` (or spec, or an int K = ``fixed:K``) drawn per chain.
    ``under=True`` needs a fixed count L and follows the reference's ``--under``: the quotas of
    :func:`under_quotas` (in shuffled order), then chains of L operators until ``n`` are kept.
    Chains of L operators that replace dropped ones come after the shuffled quotas.
    ``dedup`` drops a chain whose text was already kept; ``exclude`` drops chains whose
    question (:func:`question_of`) it contains; dropped draws are replaced by new ones (from L
    with ``under``, as the reference does; else from ``operators``). After ``max_stale``
    consecutive dropped draws it gives up with a ``ValueError``.

    Randomness: one draw from ``rng`` seeds a ``SeedSequence``; chunk j of up to 2048 chains
    uses its j-th spawned stream, so ``workers`` processes give the same records as one.
    """
    modulus = check_modulus(modulus)
    if fmt not in FORMATS:
        raise ValueError(f"unknown arithmetic format {fmt!r}; known: {', '.join(FORMATS)}")
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"the number of chains must be a positive integer, got {n!r}")
    dist = operator_dist(operators)
    if under and dist.lo != dist.hi:
        raise ValueError(f"--under needs a fixed operator count L, got {dist}")
    if dedup and dist.hi == 1 and n > n_distinct_chains(1, modulus):
        raise ValueError(
            f"cannot draw {n} distinct chains with 1 operator mod {modulus}: only "
            f"{n_distinct_chains(1, modulus)} exist"
        )
    exclude = exclude if isinstance(exclude, set | frozenset) else set(exclude)
    root = np.random.SeedSequence(int(rng.integers(2**63)))
    return _kept(_chunks(_chunk_tasks(root, n, dist, under, fmt, modulus), workers), n, dedup,
                 exclude, max_stale, f"{dist}, mod {modulus}")


def _kept(chunks: Iterator[list[dict]], n: int, dedup: bool, exclude: Collection[str],
          max_stale: int, what: str) -> Iterator[dict]:
    """The first ``n`` records of ``chunks`` that pass deduplication and exclusion."""
    seen: set[bytes] = set()
    kept = stale = 0
    for chunk in chunks:
        for record in chunk:
            text = record["text"]
            if exclude and question_of(text) in exclude:
                fresh = False
            elif dedup:
                key = hashlib.blake2b(text.encode(), digest_size=16).digest()
                fresh = key not in seen
                seen.add(key)
            else:
                fresh = True
            if fresh:
                kept, stale = kept + 1, 0
                yield record
                if kept == n:
                    return
            else:
                stale += 1
                if stale > max_stale:
                    raise ValueError(
                        f"gave up after {max_stale} draws in a row were duplicates or "
                        f"excluded: cannot draw {n} distinct chains ({what})"
                    )


def generate_arithmetic(
    rng: np.random.Generator,
    n: int,
    *,
    operators: LengthDist | str | int,
    modulus: int = 11,
    fmt: str = "feng",
    under: bool = False,
    dedup: bool = False,
    exclude: Collection[str] = (),
    workers: int = 1,
) -> list[dict]:
    """``n`` records as a list; see :func:`iter_arithmetic`.

    >>> recs = generate_arithmetic(np.random.default_rng(0), 2, operators=3, fmt="steps")
    >>> all(verify_text(r["text"], "steps", 11) is None for r in recs)
    True
    """
    return list(
        iter_arithmetic(
            rng, n, operators=operators, modulus=modulus, fmt=fmt, under=under,
            dedup=dedup, exclude=exclude, workers=workers,
        )
    )


# ----------------------------------------------------------------------------- verification


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
    if not isinstance(text, str) or not text:
        return "text must be a non-empty string"
    words = text.split(" ")
    if any(not w for w in words):
        return "words must be separated by single spaces"
    try:
        ids = words_to_ids(words, modulus)
    except ValueError as err:
        return str(err)
    return chain_problem(ids, fmt, modulus)


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
    missing = [k for k in ("text", "tokens", "seg", "intra", "answer", "n_operators",
                           "prompt_len") if k not in record]
    if missing:
        return f"missing fields {', '.join(missing)}"
    text = record["text"]
    if not isinstance(text, str) or not text:
        return "text must be a non-empty string"
    words = text.split(" ")
    if any(not w for w in words):
        return "words must be separated by single spaces"
    try:
        ids = words_to_ids(words, modulus)
    except ValueError as err:
        return str(err)
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
