"""Property tests for segmenters, yours included: Hypothesis strategies and :func:`check_segmenter`.

A **segmenter** is any function ``fn(tokens, lengths=None) -> (seg, intra)`` mapping an ``(N, T)``
int array of token ids (rows padded past ``lengths``) to two ``(N, T)`` int arrays following the
BiPE convention (docs/method.md#positions): ``seg`` counts the segments closed before each
token, ``intra`` is the 0-based position inside the token's segment, a separator is the last token
of the segment it closes, rows are independent. It is called as ``fn(tokens, lengths=lengths)``; a
function without a ``lengths`` parameter is called as ``fn(tokens)`` on unpadded batches only. A
**streaming form** is ``step(state, token) -> (state, seg, intra)`` fed one int at a time from
an initial state, as decoding does.

Use it from a test file (needs the ``test`` extra: hypothesis, pytest)::

    import numpy as np
    from bipe.testing import check_segmenter

    def my_segmenter(tokens, lengths=None):   # separators 10 and 11
        seg, intra = np.zeros_like(tokens), np.zeros_like(tokens)
        for n, row in enumerate(tokens):
            s = i = 0
            for t, tok in enumerate(row):
                seg[n, t], intra[n, t] = s, i
                s, i = (s + 1, 0) if tok in (10, 11) else (s, i + 1)
        return seg, intra

    def test_my_segmenter():
        check_segmenter(my_segmenter, separators=[10, 11])

:func:`check_segmenter` draws token streams with the given separators (including separators at
the start, at the end and back to back), checks the worked example of
docs/method.md#positions, and asserts, for every batch: shapes; ``seg`` starts at 0 and steps by 0
or 1; ``intra`` restarts at 0 exactly where
``seg`` steps and counts up by one otherwise; concatenating the segments returns the input and
segment starts strictly increase; ``seg`` steps exactly after separators (when ``separators`` is
given); rows are independent (each row alone, the batch permuted, the batch split in two: same
answers); padding content never matters; a prefix gets the prefix's positions (decoding sees only
prefixes); and the streaming form, if given, agrees with the batch form token by token. A failure
is an ``AssertionError`` naming the property, with Hypothesis's smallest failing input.

:func:`check_segmenter_on` runs the same checks on one batch you supply (use it inside your own
``@given`` tests). Strategies: :func:`token_streams`, :func:`nfas`, :func:`binfas`,
:func:`binfa_sequences`.

This module imports hypothesis at the top: it is meant for tests, and no other part of bipe
imports it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

__all__ = [
    "WORKED_EXAMPLE",
    "binfa_sequences",
    "binfas",
    "check_segmenter",
    "check_segmenter_on",
    "nfas",
    "token_streams",
]

# docs/method.md#positions: letters are ordinary tokens, "S" a separator; the expected streams.
WORKED_EXAMPLE = {
    "tokens": ["a", "b", "S", "c", "d", "e", "S", "f", "S", "S", "g"],
    "intra": [0, 1, 2, 0, 1, 2, 3, 0, 1, 0, 0],
    "seg": [0, 0, 0, 1, 1, 1, 1, 2, 2, 3, 4],
}

Segmenter = Callable[..., tuple[np.ndarray, np.ndarray]]
Step = Callable[[Any, Any], tuple[Any, Any, Any]]


# ------------------------------------------------------------------------------- strategies


def _symbols(separators: Sequence[int], n_symbols: int) -> list[int]:
    """The ``n_symbols`` smallest ids that are not separators."""
    seps = set(separators)
    out, i = [], 0
    while len(out) < n_symbols:
        if i not in seps:
            out.append(i)
        i += 1
    return out


@st.composite
def token_streams(
    draw: st.DrawFn,
    separators: Sequence[int],
    *,
    n_symbols: int = 4,
    max_rows: int = 5,
    max_length: int = 24,
    padded: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """``(tokens (N, T) int64, lengths (N,) int64)``: rows mixing ``separators`` and other ids.

    Non-separator ids are the ``n_symbols`` smallest ids that are not separators. Rows have
    different lengths (padding past ``lengths`` holds arbitrary ids, separators included) unless
    ``padded=False``, which gives ``N`` rows of one common length with ``lengths == T``.
    """
    seps = [int(s) for s in separators]
    alphabet = _symbols(seps, n_symbols) + seps
    token = st.sampled_from(alphabet)
    n = draw(st.integers(1, max_rows))
    if padded:
        rows = draw(st.lists(st.lists(token, max_size=max_length), min_size=n, max_size=n))
        width = max(len(r) for r in rows)
        fill = draw(st.lists(token, min_size=n * width, max_size=n * width))
        tokens = np.array(fill, dtype=np.int64).reshape(n, width)
        for i, row in enumerate(rows):
            tokens[i, : len(row)] = row
        return tokens, np.array([len(r) for r in rows], dtype=np.int64)
    width = draw(st.integers(0, max_length))
    flat = draw(st.lists(token, min_size=n * width, max_size=n * width))
    return np.array(flat, dtype=np.int64).reshape(n, width), np.full(n, width, dtype=np.int64)


@st.composite
def nfas(
    draw: st.DrawFn,
    *,
    max_states: int = 4,
    n_symbols: int | None = None,
    max_symbols: int = 3,
    nonempty: bool = False,
    min_word_length: int = 0,
    accepts_empty: bool | None = None,
) -> Any:
    """Random :class:`bipe.automata.NFA` values, built directly from drawn transition tables.

    With ``nonempty=True`` a drawn witness path (a start state, symbols, an accept state at its
    end; ``min_word_length..max_states`` symbols long) is added to the transitions, so the
    language contains a word of that length. ``accepts_empty=False`` keeps start and accept
    states disjoint (the empty word is rejected, as Bi-NFA segment types require; then at least
    2 states, and the witness path has at least one symbol).
    """
    from bipe.automata import NFA

    no_empty = accepts_empty is False
    q = draw(st.integers(2 if no_empty else 1, max(max_states, 2 if no_empty else 1)))
    a = n_symbols if n_symbols is not None else draw(st.integers(1, max_symbols))
    bits = draw(st.lists(st.booleans(), min_size=a * q * q, max_size=a * q * q))
    delta = np.array(bits, dtype=bool).reshape(a, q, q)  # (A, Q, Q)
    last = q - 2 if no_empty else q - 1  # with no_empty, state q-1 is never a start state
    start = set(draw(st.sets(st.integers(0, last), min_size=1)))
    accept = set(draw(st.sets(st.integers(0, q - 1))))
    if nonempty:
        shortest = max(min_word_length, 1 if no_empty else 0)
        path = draw(st.lists(st.integers(0, q - 1), min_size=shortest + 1,
                             max_size=max(q, shortest) + 1))
        path[0] = draw(st.sampled_from(sorted(start)))
        if no_empty:
            path[-1] = q - 1
        symbols = draw(st.lists(st.integers(0, a - 1), min_size=len(path) - 1,
                                max_size=len(path) - 1))
        accept.add(path[-1])
        for q0, sym, q1 in zip(path[:-1], symbols, path[1:], strict=True):
            delta[sym, q0, q1] = True
    if no_empty:
        accept -= start
    elif accepts_empty:
        accept |= start
    return NFA(n_states=q, n_symbols=a, start=frozenset(start), accept=frozenset(accept),
               delta=delta)


@st.composite
def binfas(
    draw: st.DrawFn,
    *,
    levels: int = 2,
    max_symbols: int = 3,
    max_types: int = 3,
    max_inner_states: int = 3,
    max_outer_states: int = 3,
    n_symbols: int | None = None,
    nested: bool = False,
) -> Any:
    """Random :class:`bipe.automata.BiNFA` values built from :func:`nfas` with witness paths:
    every inner language has a word of length ``1..max(2, max_inner_states)`` (never the empty
    word: segments are non-empty) and every outer language one of length
    ``1..max(2, max_outer_states)``. ``levels=3`` nests such Bi-NFAs as the paragraph types;
    ``nested=True`` (used for those) makes the outer reject the empty word, as an inner
    automaton must."""
    from bipe.automata import BiNFA

    if levels < 2:
        raise ValueError(f"levels must be at least 2, got {levels}")
    a = n_symbols if n_symbols is not None else draw(st.integers(1, max_symbols))
    k = draw(st.integers(1, max_types))
    if levels == 2:
        inner = tuple(draw(nfas(max_states=max_inner_states, n_symbols=a, nonempty=True,
                                accepts_empty=False)) for _ in range(k))
    else:
        inner = tuple(draw(binfas(levels=levels - 1, max_types=max_types, n_symbols=a,
                                  max_inner_states=max_inner_states,
                                  max_outer_states=max_outer_states, nested=True))
                      for _ in range(k))
    outer = draw(nfas(max_states=max_outer_states, n_symbols=k, nonempty=True, min_word_length=1,
                      accepts_empty=False if nested else None))
    return BiNFA(n_symbols=a, separator=a + levels - 2, outer=outer, inner=inner)


@st.composite
def binfa_sequences(
    draw: st.DrawFn,
    *,
    automata: st.SearchStrategy | None = None,
    max_rows: int = 4,
    segments: str = "uniform:1:5",
    segment_length: str = "uniform:1:4",
) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray]:
    """``(binfa, tokens (N, T), lengths (N,), is_last (N, T))``: sequences of a random Bi-NFA
    with their true boundaries (``is_last`` marks each segment's closing separator).

    Drawn with :func:`bipe.synthetic.sequences.sample_binfa_sequences`. The default specs
    cover the witness lengths :func:`binfas` guarantees, so every draw succeeds; with other
    automata or specs a draw the automaton cannot meet raises ``ValueError``.
    """
    from bipe.synthetic.distributions import parse_length_spec
    from bipe.synthetic.sequences import sample_binfa_sequences

    binfa = draw(automata if automata is not None else binfas())
    n = draw(st.integers(1, max_rows))
    seed = draw(st.integers(0, 2**32 - 1))
    batch = sample_binfa_sequences(
        np.random.default_rng(seed), binfa, n,
        [parse_length_spec(segments), parse_length_spec(segment_length)],
    )
    tokens, lengths, marks = batch.padded()
    return binfa, tokens, lengths, marks[0]


# ------------------------------------------------------------------------------- the checks


def _fail(prop: str, detail: str) -> None:
    raise AssertionError(f"segmenter property violated: {prop}: {detail}")


def _call(fn: Segmenter, tokens: np.ndarray, lengths: np.ndarray | None,
          uses_lengths: bool) -> tuple[np.ndarray, np.ndarray]:
    out = fn(tokens, lengths=lengths) if uses_lengths else fn(tokens)
    if not (isinstance(out, tuple | list) and len(out) == 2):
        _fail("signature", f"expected a (seg, intra) pair, got {type(out).__name__}")
    seg, intra = (np.asarray(x) for x in out)
    for name, arr in (("seg", seg), ("intra", intra)):
        if arr.shape != tokens.shape:
            _fail("shape", f"{name} has shape {arr.shape}, tokens have {tokens.shape}")
        if arr.size and not np.issubdtype(arr.dtype, np.integer):
            _fail("dtype", f"{name} has dtype {arr.dtype}, expected integers")
    return seg, intra


def _check_row(tokens: np.ndarray, seg: np.ndarray, intra: np.ndarray,
               separators: np.ndarray | None, where: str) -> None:
    """The per-row properties on the valid part of one row."""
    if len(tokens) == 0:
        return
    values = np.unique(seg)
    pieces = [tokens[seg == v] for v in values]  # the segments, in seg order
    if not np.array_equal(np.concatenate(pieces), tokens):
        _fail("round trip", f"{where}: concatenating the segments does not return the input "
                            f"(tokens {tokens.tolist()}, seg {seg.tolist()})")
    ends = np.array([np.flatnonzero(seg == v)[-1] for v in values])
    if np.any(np.diff(ends) <= 0):
        _fail("boundaries strictly increase", f"{where}: segment ends {ends.tolist()}")
    if seg[0] != 0 or intra[0] != 0:
        _fail("start", f"{where}: first token has seg {seg[0]}, intra {intra[0]}; expected 0, 0")
    steps = np.diff(seg)
    bad = np.flatnonzero((steps != 0) & (steps != 1))
    if bad.size:
        t = bad[0] + 1
        _fail("seg steps by 0 or 1", f"{where}: seg goes {seg[t - 1]} -> {seg[t]} at t={t}")
    first = np.maximum.accumulate(np.where(np.r_[True, steps == 1], np.arange(len(seg)), 0))
    want_intra = np.arange(len(seg)) - first
    bad = np.flatnonzero(intra != want_intra)
    if bad.size:
        t = bad[0]
        _fail("intra restarts exactly where seg steps",
              f"{where}: intra[{t}] = {intra[t]}, expected {want_intra[t]} (seg {seg.tolist()}, "
              f"intra {intra.tolist()})")
    if separators is not None:
        is_sep = np.isin(tokens[:-1], separators)
        bad = np.flatnonzero(is_sep != (steps == 1))
        if bad.size:
            t = bad[0]
            kind = "separator" if is_sep[t] else "non-separator"
            _fail("a segment ends exactly at each separator",
                  f"{where}: token {tokens[t]} at t={t} is a {kind} but seg goes "
                  f"{seg[t]} -> {seg[t + 1]} (tokens {tokens.tolist()}, seg {seg.tolist()})")


def _same(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray], prop: str,
          where: str) -> None:
    for name, x, y in (("seg", a[0], b[0]), ("intra", a[1], b[1])):
        if not np.array_equal(x, y):
            _fail(prop, f"{where}: {name} {np.asarray(x).tolist()} != {np.asarray(y).tolist()}")


def _accepts_lengths(fn: Segmenter) -> bool:
    """Whether ``fn`` takes a ``lengths`` keyword (or ``**kwargs``)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return True
    return any(p.name == "lengths" or p.kind == p.VAR_KEYWORD for p in params)


def check_segmenter_on(
    fn: Segmenter,
    tokens: np.ndarray,
    lengths: Iterable[int] | None = None,
    *,
    separators: Iterable[int] | None,
    step: Step | None = None,
    init: Any = None,
    uses_lengths: bool | None = None,
) -> None:
    """Assert every segmenter property on one ``(N, T)`` batch (see the module docstring).

    ``separators=None`` skips the separator property (for segmenters that ignore separators,
    such as fixed-length ones). ``step``/``init`` are the streaming form and its initial state
    (default :func:`bipe.synthetic.segment.initial_state`). ``uses_lengths`` defaults to
    whether ``fn`` takes a ``lengths`` argument.
    """
    tokens = np.asarray(tokens, dtype=np.int64)
    if tokens.ndim != 2:
        raise ValueError(f"tokens must be (N, T), got shape {tokens.shape}")
    n, t = tokens.shape
    lengths = np.full(n, t, dtype=np.int64) if lengths is None else np.asarray(lengths, np.int64)
    uses_lengths = _accepts_lengths(fn) if uses_lengths is None else uses_lengths
    if not uses_lengths and np.any(lengths != t):
        raise ValueError("a segmenter without `lengths` can only be checked on unpadded batches")
    seps = None if separators is None else np.asarray(list(separators), dtype=np.int64)
    seg, intra = _call(fn, tokens, lengths, uses_lengths)
    valid = np.arange(t)[None, :] < lengths[:, None]  # (N, T)
    _check_batch_relations(fn, tokens, lengths, (seg, intra), valid, uses_lengths)
    for i in range(n):
        k = lengths[i]
        _check_row(tokens[i, :k], seg[i, :k], intra[i, :k], seps, f"row {i}")
    if step is not None:
        _check_streaming(tokens, lengths, (seg, intra), step, init)


def _masked(out: tuple[np.ndarray, np.ndarray], valid: np.ndarray) -> tuple:
    return tuple(np.where(valid, x, 0) for x in out)


def _check_batch_relations(fn, tokens, lengths, full, valid, uses_lengths) -> None:
    """Rows alone, permuted, split; padding content; prefixes."""
    n, t = tokens.shape
    full = _masked(full, valid)
    for i in range(n):
        k = lengths[i]
        alone = _call(fn, tokens[i : i + 1, :k], np.array([k]), uses_lengths)
        _same((full[0][i, :k], full[1][i, :k]), (alone[0][0], alone[1][0]),
              "rows are independent", f"row {i} alone vs in the batch")
        for p in sorted({k // 2, max(k - 1, 0)}):
            pre = _call(fn, tokens[i : i + 1, :p], np.array([p]), uses_lengths)
            _same((full[0][i, :p], full[1][i, :p]), (pre[0][0], pre[1][0]),
                  "a prefix gets the prefix's positions", f"row {i}, first {p} tokens")
    perm = np.arange(n)[::-1]
    flipped = _masked(_call(fn, tokens[perm], lengths[perm], uses_lengths), valid[perm])
    _same((full[0][perm], full[1][perm]), flipped, "rows are independent", "rows reversed")
    if n > 1:
        h = n // 2
        top = _masked(_call(fn, tokens[:h], lengths[:h], uses_lengths), valid[:h])
        bottom = _masked(_call(fn, tokens[h:], lengths[h:], uses_lengths), valid[h:])
        joined = tuple(np.concatenate([a, b]) for a, b in zip(top, bottom, strict=True))
        _same(full, joined, "rows are independent", f"batch split at row {h}")
    if uses_lengths and not valid.all():
        for fill in (tokens.min(), tokens.max()):  # tokens.size > 0 here
            noise = np.where(valid, tokens, fill)
            moved = _masked(_call(fn, noise, lengths, uses_lengths), valid)
            _same(full, moved, "padding never matters", f"padding filled with {fill}")


def _check_streaming(tokens, lengths, full, step, init) -> None:
    if init is None:
        from bipe.synthetic.segment import initial_state

        init = initial_state()
    for i in range(tokens.shape[0]):
        state = init
        for j in range(lengths[i]):
            state, seg, intra = step(state, int(tokens[i, j]))
            if (int(np.asarray(seg)), int(np.asarray(intra))) != (full[0][i, j], full[1][i, j]):
                _fail("streaming == batch",
                      f"row {i}, t={j}: streaming gives seg {seg}, intra {intra}; batch gives "
                      f"{full[0][i, j]}, {full[1][i, j]} (tokens {tokens[i, :j + 1].tolist()})")


def _check_worked_example(fn: Segmenter, separators: np.ndarray, step: Step | None, init: Any,
                          uses_lengths: bool) -> None:
    """The docs/method.md#positions example, once with each separator standing for ``S``."""
    symbols = _symbols(separators.tolist(), 7)
    for sep in separators.tolist():
        letters = iter(symbols)
        ids = [sep if tok == "S" else next(letters) for tok in WORKED_EXAMPLE["tokens"]]
        tokens = np.array([ids], dtype=np.int64)
        seg, intra = _call(fn, tokens, np.array([len(ids)]), uses_lengths)
        if (seg[0].tolist() != WORKED_EXAMPLE["seg"]
                or intra[0].tolist() != WORKED_EXAMPLE["intra"]):
            _fail("docs/method.md#positions worked example",
                  f"tokens {ids} (S = {sep}): got seg {seg[0].tolist()}, intra "
                  f"{intra[0].tolist()}; expected seg {WORKED_EXAMPLE['seg']}, intra "
                  f"{WORKED_EXAMPLE['intra']}")
        check_segmenter_on(fn, tokens, separators=separators, step=step, init=init,
                           uses_lengths=uses_lengths)


def check_segmenter(
    fn: Segmenter,
    *,
    separators: Iterable[int] | None,
    step: Step | None = None,
    init: Any = None,
    n_symbols: int = 4,
    max_rows: int = 5,
    max_length: int = 24,
    max_examples: int = 100,
    uses_lengths: bool | None = None,
) -> None:
    """Property-test ``fn`` on many drawn batches plus the worked example of
    docs/method.md#positions.

    Raises ``AssertionError`` naming the first violated property (Hypothesis shrinks the
    failing batch first). Call it from a plain test function, not inside another ``@given``.
    ``separators=None`` checks a segmenter that ignores separators (no worked example, no
    separator property). Arguments are as in :func:`check_segmenter_on`; the token ids drawn are
    ``separators`` plus the ``n_symbols`` smallest other ids.
    """
    seps = None if separators is None else [int(s) for s in separators]
    uses_lengths = _accepts_lengths(fn) if uses_lengths is None else uses_lengths
    if seps:
        _check_worked_example(fn, np.asarray(seps), step, init, uses_lengths)
    strategy = token_streams(seps or [], n_symbols=n_symbols, max_rows=max_rows,
                             max_length=max_length, padded=uses_lengths)

    @settings(max_examples=max_examples, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(strategy)
    def run(batch: tuple[np.ndarray, np.ndarray]) -> None:
        tokens, lengths = batch
        check_segmenter_on(fn, tokens, lengths, separators=seps, step=step, init=init,
                           uses_lengths=uses_lengths)

    run()
