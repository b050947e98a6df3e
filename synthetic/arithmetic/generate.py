"""Datasets of chains: operator counts, chunked streams (optionally in processes), the
reference's ``--under`` quotas, deduplication and exclusion."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Collection, Iterator
from typing import Any

import numpy as np

from bipe.synthetic.arithmetic.batch import ArithBatch, batch_records
from bipe.synthetic.arithmetic.chain import _history, expansion_table, format_ids
from bipe.synthetic.arithmetic.vocabulary import FORMATS, check_modulus
from bipe.synthetic.distributions import LengthDist, parse_length_spec

_CHUNK = 2048


def operator_dist(operators: LengthDist | str | int) -> LengthDist:
    """Operator counts as a :class:`LengthDist`: a spec, a distribution, or K (= ``fixed:K``)."""
    if isinstance(operators, int | np.integer) and not isinstance(operators, bool):
        operators = f"fixed:{int(operators)}"
    if isinstance(operators, str) and operators.strip().isdigit():
        operators = f"fixed:{int(operators)}"
    dist = parse_length_spec(operators)  # type: ignore[arg-type]
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


def _chunk_batch(
    seed: np.random.SeedSequence,
    counts: np.ndarray | None,
    size: int,
    dist: LengthDist,
    fmt: str,
    modulus: int,
) -> ArithBatch:
    """One chunk of chains from its own stream: ``counts`` given, or ``size`` draws of dist."""
    rng = np.random.Generator(np.random.PCG64(seed))
    if counts is None:
        counts = dist.sample(rng, size)
    u = rng.random((len(counts), 1 + 2 * int(counts.max())))  # (N, 1 + 2 * L_max) uniforms
    rows = [format_ids(_history(u[i], int(c), modulus), fmt, modulus) for i, c in enumerate(counts)]
    return ArithBatch.of_rows(rows, modulus)


def _chunk_tasks(
    root: np.random.SeedSequence, n: int, dist: LengthDist, under: bool, fmt: str, modulus: int
) -> Iterator[tuple]:
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


def _chunks(tasks: Iterator[tuple], workers: int) -> Iterator[ArithBatch]:
    """The tasks' results in order, computed by ``workers`` processes (1: in this process)."""
    if workers <= 1:
        for task in tasks:
            yield _chunk_batch(*task)
        return
    import concurrent.futures as cf
    import multiprocessing

    context = multiprocessing.get_context(
        "fork" if "fork" in multiprocessing.get_all_start_methods() else None
    )
    with cf.ProcessPoolExecutor(workers, mp_context=context) as pool:
        pending = [pool.submit(_chunk_batch, *next(tasks)) for _ in range(2 * workers)]
        try:
            while True:
                result = pending.pop(0).result()
                pending.append(pool.submit(_chunk_batch, *next(tasks)))
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
    The records are :func:`~bipe.synthetic.arithmetic.batch.batch_records` of the batches of
    :func:`iter_batches` (same arguments).
    """
    batches = iter_batches(
        rng,
        n,
        operators=operators,
        modulus=modulus,
        fmt=fmt,
        under=under,
        dedup=dedup,
        exclude=exclude,
        max_stale=max_stale,
        workers=workers,
    )
    return itertools.chain.from_iterable(map(batch_records, batches))


def iter_batches(
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
) -> Iterator[ArithBatch]:
    """The ``n`` chains of :func:`iter_arithmetic` (same arguments, same draws) as a stream of
    :class:`~bipe.synthetic.arithmetic.batch.ArithBatch` (at most one per chunk).

    Every argument is checked here, before anything is drawn.
    """
    modulus = check_modulus(modulus)
    if fmt not in FORMATS:
        raise ValueError(f"unknown arithmetic format {fmt!r}; known: {', '.join(FORMATS)}")
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"the number of chains must be a positive integer, got {n!r}")
    dist = operator_dist(operators)
    if under and dist.lo != dist.hi:
        raise ValueError(f"--under needs a fixed operator count L, got {dist}")
    if dedup and dist.hi == 1 and n > n_distinct_chains(1, modulus):  # type: ignore[operator]
        raise ValueError(
            f"cannot draw {n} distinct chains with 1 operator mod {modulus}: only "
            f"{n_distinct_chains(1, modulus)} exist"
        )
    exclude = exclude if isinstance(exclude, set | frozenset) else set(exclude)
    root = np.random.SeedSequence(int(rng.integers(2**63)))
    return _kept(
        _chunks(_chunk_tasks(root, n, dist, under, fmt, modulus), workers),
        n,
        dedup,
        exclude,
        max_stale,
        f"{dist}, mod {modulus}",
    )


def _fresh(
    batch: ArithBatch, dedup: bool, exclude: Collection[str], seen: set[bytes]
) -> np.ndarray:
    """(N,) bool: the chains of ``batch`` that pass exclusion and deduplication, in order
    (``seen`` gains the keys of the deduplicated chains)."""
    fresh = np.ones(batch.n, dtype=bool)
    if exclude:
        fresh &= np.array([question_of(t) not in exclude for t in batch.texts()], dtype=bool)
    if dedup:
        for i in np.flatnonzero(fresh):
            key = hashlib.blake2b(batch.row(int(i)).tobytes(), digest_size=16).digest()
            fresh[i] = key not in seen
            seen.add(key)
    return fresh


def _kept(
    chunks: Iterator[ArithBatch],
    n: int,
    dedup: bool,
    exclude: Collection[str],
    max_stale: int,
    what: str,
) -> Iterator[ArithBatch]:
    """The first ``n`` chains of ``chunks`` that pass deduplication and exclusion, one batch
    per chunk (a chain's text and its ids determine each other, so ids are the dedup key)."""
    seen: set[bytes] = set()
    kept = stale = 0
    for chunk in chunks:
        fresh = _fresh(chunk, dedup, exclude, seen) if dedup or exclude else np.ones(chunk.n, bool)
        take: list[int] = []  # rows of this chunk kept, up to the n-th chain overall
        failed = False
        for i, ok in enumerate(fresh.tolist()):
            if ok:
                take.append(i)
                stale = 0
                if kept + len(take) == n:
                    break
            else:
                stale += 1
                if stale > max_stale:
                    failed = True
                    break
        if take:
            yield chunk if len(take) == chunk.n else chunk.select(np.array(take))
        kept += len(take)
        if failed:
            raise ValueError(
                f"gave up after {max_stale} draws in a row were duplicates or "
                f"excluded: cannot draw {n} distinct chains ({what})"
            )
        if kept == n:
            return


def generate_arithmetic(rng: np.random.Generator, n: int, **options: Any) -> list[dict]:
    """``n`` records as a list; ``options`` are the keywords of :func:`iter_arithmetic`
    (``operators`` required; ``modulus``, ``fmt``, ``under``, ``dedup``, ``exclude``,
    ``max_stale``, ``workers``).

    >>> from bipe.synthetic.arithmetic.verify import verify_text
    >>> recs = generate_arithmetic(np.random.default_rng(0), 2, operators=3, fmt="steps")
    >>> all(verify_text(r["text"], "steps", 11) is None for r in recs)
    True
    """
    return list(iter_arithmetic(rng, n, **options))


def sample_arithmetic(rng: np.random.Generator, n: int, **options: Any) -> ArithBatch:
    """The ``n`` chains of :func:`generate_arithmetic` (same ``rng`` draws, same ``options``)
    as one :class:`~bipe.synthetic.arithmetic.batch.ArithBatch`, which the records are a view
    of: ``batch_records(sample_arithmetic(...)) == generate_arithmetic(...)``.

    >>> batch = sample_arithmetic(np.random.default_rng(0), 3, operators=2, fmt="direct")
    >>> batch.n, batch.n_operators.tolist(), len(batch.offsets)
    (3, [2, 2, 2], 4)
    """
    batches = list(iter_batches(rng, n, **options))
    return ArithBatch.concat(batches)
