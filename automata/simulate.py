"""Batched NFA simulation: N words at once, a Python loop only over time steps.

Words are an (N, T) integer array; optional ``lengths`` (N,) says how many leading symbols of
each row are real (the rest is padding and is ignored, whatever its value). Every real symbol
must lie in ``0..A-1``, else ``ValueError`` naming the row, position and symbol.

Two engines give the same answers:

- **bitset** (Q <= 2048): a state set is W = ceil(Q/64) int64 words. For each symbol and each
  chunk of up to k state bits a table maps the chunk's 2^k possible values to the union of their
  successor sets (the "four Russians" trick), so one step is a handful of gathers and ORs per
  chunk, independent of how many states are active. The tables are built per call (no caches).
- **dense** (larger Q): a state set is a (Q,) bool row; one step is, per symbol present at that
  step, a float32 matrix product of the rows reading it with ``delta[a]``.

Conventions (Q states, A symbols, N words, T positions):

- ``state_sets(nfa, words)[n, t]`` is the state set after ``words[n, :t]`` (t = 0..T); positions
  ``t > lengths[n]`` are all False.
- ``viable_prefix_mask[n, t]``: that set meets the co-reachable (live) states, i.e. the prefix
  ``words[n, :t]`` can still be completed to an accepted word.
- ``legal_next_mask[n, t, a]`` (t < lengths[n]): ``words[n, :t] + [a]`` is a viable prefix.

Example: for the NFA of words over {0, 1} ending in 1, ``legal_next_mask`` is True for both
symbols at every position (every prefix can still end in 1).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from bipe.automata.nfa import NFA

_MAX_BITSET_STATES = 2048
_TABLE_BYTES = 8 << 20


def check_words(
    words: np.ndarray, lengths: np.ndarray | None, n_symbols: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate a batch; return ``(words, lengths, valid)``.

    ``words`` is returned as (N, T) intp with padding replaced by 0, ``lengths`` as (N,) intp
    and ``valid`` as the (N, T) bool mask of real positions.
    """
    words = np.asarray(words)
    if words.ndim != 2:
        raise ValueError(f"words must be a 2-D (N, T) array, got shape {words.shape}")
    if words.size and not np.issubdtype(words.dtype, np.integer):
        raise ValueError(f"words must be integers, got dtype {words.dtype}")
    n, t = words.shape
    if lengths is None:
        lengths = np.full(n, t, dtype=np.intp)
    else:
        lengths = np.asarray(lengths)
        if lengths.shape != (n,) or (lengths.size and not np.issubdtype(lengths.dtype, np.integer)):
            raise ValueError(f"lengths must be an (N,) = ({n},) int array, got {lengths.shape}")
        if ((lengths < 0) | (lengths > t)).any():
            raise ValueError(f"lengths must lie in 0..T = 0..{t}")
        lengths = lengths.astype(np.intp)
    valid = np.arange(t)[None, :] < lengths[:, None]  # (N, T)
    bad = valid & ((words < 0) | (words >= n_symbols))
    if bad.any():
        row, pos = (int(x[0]) for x in np.nonzero(bad))
        raise ValueError(
            f"word {row} has symbol {int(words[row, pos])} at position {pos}, "
            f"out of range 0..{n_symbols - 1}"
        )
    words = np.where(valid, words, 0).astype(np.intp)
    return words, lengths, valid


# --------------------------------------------------------------------------- bitset engine
def pack_sets(mask: np.ndarray, n_words: int) -> np.ndarray:
    """(..., Q) bool -> (..., W) int64 little-endian bitsets (bit q of word q // 64)."""
    packed = np.packbits(mask, axis=-1, bitorder="little")  # (..., ceil(Q/8)) uint8
    pad = 8 * n_words - packed.shape[-1]
    packed = np.concatenate([packed, np.zeros((*packed.shape[:-1], pad), np.uint8)], axis=-1)
    return np.ascontiguousarray(packed).view("<i8").astype(np.int64)


def unpack_sets(bits: np.ndarray, n_states: int) -> np.ndarray:
    """(..., W) int64 bitsets -> (..., Q) bool."""
    as_bytes = np.ascontiguousarray(bits.astype("<i8")).view(np.uint8)  # (..., 8W)
    return np.unpackbits(as_bytes, axis=-1, bitorder="little")[..., :n_states].astype(bool)


def _chunks(n_states: int, k: int) -> list[tuple[int, int, int]]:
    """Split each 64-bit word into near-equal chunks of at most k bits: (word, shift, width)."""
    out = []
    for w in range(-(-n_states // 64)):
        n_bits = min(64, n_states - 64 * w)
        n_chunks = -(-n_bits // k)
        edges = np.linspace(0, n_bits, n_chunks + 1).round().astype(int)
        out += [(w, int(lo), int(hi - lo)) for lo, hi in zip(edges[:-1], edges[1:], strict=True)]
    return out


class StepTable:
    """Chunk tables for one automaton: ``step(S, symbols)`` maps (N, W) int64 bitsets to their
    successor sets. Built per call from ``delta``; never stored on an automaton."""

    def __init__(self, delta: np.ndarray) -> None:
        n_symbols, n_states, _ = delta.shape
        self.n_words = -(-n_states // 64)
        k = 12
        while (
            k > 1 and (len(_chunks(n_states, k)) * n_symbols << k) * self.n_words * 8 > _TABLE_BYTES
        ):
            k -= 1
        self.chunks = _chunks(n_states, k)
        self.k = max(width for _, _, width in self.chunks)
        succ = pack_sets(delta, self.n_words)  # (A, Q, W)
        tables = np.zeros((len(self.chunks), n_symbols, 1 << self.k, self.n_words), np.int64)
        first = 0
        for c, (_, _, width) in enumerate(self.chunks):
            for b in range(width):  # values with top bit b = values below 2^b plus state b
                tables[c, :, 1 << b : 2 << b] = tables[c, :, : 1 << b] | succ[:, first + b, None]
            first += width
        # one flat table per chunk, indexed by (symbol << k) + chunk value
        self.tables = [t.reshape(-1, self.n_words) for t in tables]  # each (A * 2^k, W)
        self.tables_1d = [t[:, 0].copy() for t in self.tables]  # each (A * 2^k,) for W == 1

    def step(self, sets: np.ndarray, symbols: np.ndarray) -> np.ndarray:
        """(N, W) int64 sets, (N,) intp symbols -> (N, W) int64 successor sets."""
        if self.n_words == 1:
            return self.step_1d(sets[:, 0], symbols)[:, None]
        base = symbols << self.k  # (N,)
        out = None
        for (word, shift, width), table in zip(self.chunks, self.tables, strict=True):
            value = (sets[:, word] >> shift) & ((1 << width) - 1)  # (N,) chunk value
            value += base
            got = np.take(table, value, axis=0)  # (N, W)
            out = got if out is None else np.bitwise_or(out, got, out=out)
        return out  # type: ignore[return-value]

    def step_1d(self, sets: np.ndarray, symbols: np.ndarray) -> np.ndarray:
        """The W == 1 case on (N,) int64 sets: fewer, cheaper numpy calls per step."""
        base = symbols << self.k  # (N,)
        out = None
        for (_, shift, width), table in zip(self.chunks, self.tables_1d, strict=True):
            value = ((sets >> shift) if shift else sets) & ((1 << width) - 1)  # (N,)
            value += base
            got = table.take(value)  # (N,)
            out = got if out is None else np.bitwise_or(out, got, out=out)
        return out  # type: ignore[return-value]


def _run_bitset(nfa: NFA, words: np.ndarray, lengths: np.ndarray, record: bool) -> np.ndarray:
    stepper = StepTable(nfa.delta)
    n, t_len = words.shape
    start = np.zeros(nfa.n_states, dtype=bool)
    start[list(nfa.start)] = True
    sets = np.repeat(pack_sets(start, stepper.n_words)[None], n, axis=0)  # (N, W)
    flat = stepper.n_words == 1
    step = stepper.step_1d if flat else stepper.step
    if flat:
        sets = sets[:, 0].copy()  # (N,)
    ragged = bool((lengths < t_len).any())
    history = [sets] if record else None
    for t in range(t_len):
        nxt = step(sets, words[:, t])
        if ragged:
            active = t < lengths  # (N,)
            nxt = np.where(active if flat else active[:, None], nxt, sets)
        sets = nxt
        if record:
            history.append(sets)  # type: ignore[union-attr]
    out = np.stack(history, axis=1) if record else sets  # type: ignore[arg-type]  # (N, T+1[, W]) or (N[, W])
    return unpack_sets(out[..., None] if flat else out, nfa.n_states)


# --------------------------------------------------------------------------- dense engine
def _run_dense(nfa: NFA, words: np.ndarray, lengths: np.ndarray, record: bool) -> np.ndarray:
    delta = nfa.delta.astype(np.float32)  # (A, Q, Q)
    n, t_len = words.shape
    sets = np.zeros((n, nfa.n_states), dtype=bool)  # (N, Q)
    sets[:, list(nfa.start)] = True
    history = [sets] if record else None
    for t in range(t_len):
        active = t < lengths  # (N,)
        nxt = sets.copy()
        for a in np.unique(words[active, t]):
            rows = active & (words[:, t] == a)
            nxt[rows] = (sets[rows].astype(np.float32) @ delta[a]) > 0
        sets = nxt
        if record:
            history.append(sets)  # type: ignore[union-attr]
    return np.stack(history, axis=1) if record else sets  # type: ignore[arg-type]


def run(
    nfa: NFA, words: np.ndarray, lengths: np.ndarray, record: bool, engine: str | None = None
) -> np.ndarray:
    """Simulate checked words: (N, Q) final sets, or (N, T+1, Q) with ``record``.

    ``engine`` forces ``"bitset"`` or ``"dense"`` (tests compare them); by default bitset for
    Q <= 2048. Rows freeze after their length (padding is then zeroed by :func:`state_sets`).
    """
    if engine is None:
        engine = "bitset" if nfa.n_states <= _MAX_BITSET_STATES else "dense"
    if engine == "bitset":
        return _run_bitset(nfa, words, lengths, record)
    if engine == "dense":
        return _run_dense(nfa, words, lengths, record)
    raise ValueError(f"unknown engine {engine!r}; known: 'bitset', 'dense'")


# --------------------------------------------------------------------------- public API
def accepts(nfa: NFA, words: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray:
    """(N,) bool: whether each row's first ``lengths[n]`` symbols form an accepted word."""
    words, lengths, _ = check_words(words, lengths, nfa.n_symbols)
    final = run(nfa, words, lengths, record=False)  # (N, Q)
    accept = np.zeros(nfa.n_states, dtype=bool)
    accept[list(nfa.accept)] = True
    return (final & accept).any(axis=1)  # type: ignore[return-value]


def state_sets(nfa: NFA, words: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray:
    """(N, T+1, Q) bool state sets after each prefix; all False past a row's length."""
    words, lengths, _ = check_words(words, lengths, nfa.n_symbols)
    sets = run(nfa, words, lengths, record=True)  # (N, T+1, Q)
    within = np.arange(words.shape[1] + 1)[None, :] <= lengths[:, None]  # (N, T+1)
    return sets & within[:, :, None]


def viable_prefix_mask(
    nfa: NFA, words: np.ndarray, lengths: np.ndarray | None = None
) -> np.ndarray:
    """(N, T+1) bool: the prefix ``words[n, :t]`` can be completed to an accepted word."""
    sets = state_sets(nfa, words, lengths)  # (N, T+1, Q)
    return (sets & nfa.coreachable_states()).any(axis=2)


def legal_next_mask(nfa: NFA, words: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray:
    """(N, T, A) bool: symbol ``a`` at position ``t`` keeps ``words[n, :t] + [a]`` viable.

    A state q "licenses" a iff some a-successor of q is live; a symbol is legal iff some state
    of the current set licenses it. False at padding positions ``t >= lengths[n]``.
    """
    words, lengths, valid = check_words(words, lengths, nfa.n_symbols)
    sets = state_sets(nfa, words, lengths)[:, :-1]  # (N, T, Q)
    live = nfa.coreachable_states()
    licenses = (nfa.delta & live[None, None, :]).any(axis=2)  # (A, Q)
    counts = sets.astype(np.float32) @ licenses.T.astype(np.float32)  # (N, T, A)
    return (counts > 0) & valid[:, :, None]
