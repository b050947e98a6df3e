"""The segmenter property checks of :mod:`bipe.testing`: :func:`check_segmenter` and
:func:`check_segmenter_on`."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings

from bipe.testing.strategies import _symbols, token_streams

# docs/method.md#positions: letters are ordinary tokens, "S" a separator; the expected streams.
WORKED_EXAMPLE = {
    "tokens": ["a", "b", "S", "c", "d", "e", "S", "f", "S", "S", "g"],
    "intra": [0, 1, 2, 0, 1, 2, 3, 0, 1, 0, 0],
    "seg": [0, 0, 0, 1, 1, 1, 1, 2, 2, 3, 4],
}

Segmenter = Callable[..., tuple[np.ndarray, np.ndarray]]
Step = Callable[[Any, Any], tuple[Any, Any, Any]]


def reference_positions(row: Iterable[Any], separators: Iterable[Any]) -> tuple[list, list]:
    """``(seg, intra)`` of one row by the slow, obviously correct loop of the BiPE convention
    (docs/method.md#positions): a separator is the last token of the segment it closes. The
    one reference every segmenter and position test compares against."""
    seps = set(separators)
    seg: list[int] = []
    intra: list[int] = []
    s = i = 0
    for tok in row:
        seg.append(s)
        intra.append(i)
        s, i = (s + 1, 0) if tok in seps else (s, i + 1)
    return seg, intra


def _fail(prop: str, detail: str) -> None:
    raise AssertionError(f"segmenter property violated: {prop}: {detail}")


def _call(
    fn: Segmenter, tokens: np.ndarray, lengths: np.ndarray | None, uses_lengths: bool
) -> tuple[np.ndarray, np.ndarray]:
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


def _check_row(
    tokens: np.ndarray,
    seg: np.ndarray,
    intra: np.ndarray,
    separators: np.ndarray | None,
    where: str,
) -> None:
    """The per-row properties on the valid part of one row."""
    if len(tokens) == 0:
        return
    values = np.unique(seg)
    pieces = [tokens[seg == v] for v in values]  # the segments, in seg order
    if not np.array_equal(np.concatenate(pieces), tokens):
        _fail(
            "round trip",
            f"{where}: concatenating the segments does not return the input "
            f"(tokens {tokens.tolist()}, seg {seg.tolist()})",
        )
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
        _fail(
            "intra restarts exactly where seg steps",
            f"{where}: intra[{t}] = {intra[t]}, expected {want_intra[t]} (seg {seg.tolist()}, "
            f"intra {intra.tolist()})",
        )
    if separators is not None:
        is_sep = np.isin(tokens[:-1], separators)
        bad = np.flatnonzero(is_sep != (steps == 1))
        if bad.size:
            t = bad[0]
            kind = "separator" if is_sep[t] else "non-separator"
            _fail(
                "a segment ends exactly at each separator",
                f"{where}: token {tokens[t]} at t={t} is a {kind} but seg goes "
                f"{seg[t]} -> {seg[t + 1]} (tokens {tokens.tolist()}, seg {seg.tolist()})",
            )


def _same(
    a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray], prop: str, where: str
) -> None:
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
        _same(
            (full[0][i, :k], full[1][i, :k]),
            (alone[0][0], alone[1][0]),
            "rows are independent",
            f"row {i} alone vs in the batch",
        )
        for p in sorted({k // 2, max(k - 1, 0)}):
            pre = _call(fn, tokens[i : i + 1, :p], np.array([p]), uses_lengths)
            _same(
                (full[0][i, :p], full[1][i, :p]),
                (pre[0][0], pre[1][0]),
                "a prefix gets the prefix's positions",
                f"row {i}, first {p} tokens",
            )
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
                _fail(
                    "streaming == batch",
                    f"row {i}, t={j}: streaming gives seg {seg}, intra {intra}; batch gives "
                    f"{full[0][i, j]}, {full[1][i, j]} (tokens {tokens[i, : j + 1].tolist()})",
                )


def _check_worked_example(
    fn: Segmenter, separators: np.ndarray, step: Step | None, init: Any, uses_lengths: bool
) -> None:
    """The docs/method.md#positions example, once with each separator standing for ``S``."""
    symbols = _symbols(separators.tolist(), 7)
    for sep in separators.tolist():
        letters = iter(symbols)
        ids = [sep if tok == "S" else next(letters) for tok in WORKED_EXAMPLE["tokens"]]
        tokens = np.array([ids], dtype=np.int64)
        seg, intra = _call(fn, tokens, np.array([len(ids)]), uses_lengths)
        if seg[0].tolist() != WORKED_EXAMPLE["seg"] or intra[0].tolist() != WORKED_EXAMPLE["intra"]:
            _fail(
                "docs/method.md#positions worked example",
                f"tokens {ids} (S = {sep}): got seg {seg[0].tolist()}, intra "
                f"{intra[0].tolist()}; expected seg {WORKED_EXAMPLE['seg']}, intra "
                f"{WORKED_EXAMPLE['intra']}",
            )
        check_segmenter_on(
            fn, tokens, separators=separators, step=step, init=init, uses_lengths=uses_lengths
        )


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
    strategy = token_streams(
        seps or [],
        n_symbols=n_symbols,
        max_rows=max_rows,
        max_length=max_length,
        padded=uses_lengths,
    )

    @settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(strategy)
    def run(batch: tuple[np.ndarray, np.ndarray]) -> None:
        tokens, lengths = batch
        check_segmenter_on(
            fn, tokens, lengths, separators=seps, step=step, init=init, uses_lengths=uses_lengths
        )

    run()
