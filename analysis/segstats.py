"""Segment statistics of corpora (the paper's Figure 1 for any data): is the segment bounded?

BiPE assumes segments stay short while sequences grow by adding segments. This module measures
that premise on bipe datasets and on plain text or code on disk:

- **tokens per segment**: the length of every segment, separator included (a separator is the
  last token of the segment it closes, docs/method.md#positions; a final unterminated piece
  counts too);
- **segments per sequence** at several sequence lengths ``T``: the documents of a source are
  concatenated into one token stream (as language-model training packs them) and cut into
  non-overlapping windows of ``T`` tokens; a window's count is the number of distinct segments
  it touches.

Tokens of text are whitespace-separated words (``unit="word"``) or characters (``"char"``); each
separator occurrence is one extra token. Datasets give token ids; their boundaries come from the
separator ids given, else the ``seg`` column, else ``meta["separators"]``/``meta["separator"]``.

Worked example (``unit="word"``, separator ``"."``)::

    >>> marks = text_boundaries("a b. c d e. f", ["."])
    >>> segment_lengths(marks).tolist()   # "a b ." | "c d e ." | "f"
    [3, 4, 1]
    >>> window_segment_counts(marks, 4).tolist()   # windows [a b . c] [d e . f]
    [2, 2]
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bipe.fileio import write_text_atomic
from bipe.synthetic.dataset import load_dataset

from .plots import plot_histograms
from .segmethods import EntropyKnobs, method_marks, parse_method

UNITS = ("word", "char")
DEFAULT_LENGTHS = (256, 1024, 4096)


def _marks_from_lengths(lengths: Sequence[int], closed: Sequence[bool]) -> np.ndarray:
    """Boundary marks (T,) bool for consecutive segments; unclosed segments get no mark."""
    lengths = np.asarray(lengths, dtype=np.int64)
    marks = np.zeros(int(lengths.sum()), dtype=bool)  # (T,)
    ends = np.cumsum(lengths) - 1
    keep = np.asarray(closed, dtype=bool) & (lengths > 0)
    marks[ends[keep]] = True
    return marks


def text_boundaries(text: str, separators: Sequence[str], *, unit: str = "word") -> np.ndarray:
    """Boundary marks (T,) of ``text`` split at any of ``separators`` (strings)."""
    return text_tokens(text, separators, unit=unit)[1]


def text_tokens(
    text: str, separators: Sequence[str], *, unit: str = "word"
) -> tuple[list[str], np.ndarray]:
    """``(tokens, marks)`` of ``text``: words (or characters) with each separator occurrence
    one token of its own, and the boundary marks (T,) true on the separator tokens."""
    if unit not in UNITS:
        raise ValueError(f"unknown token unit {unit!r}; known: {', '.join(UNITS)}")
    if not separators or any(not s for s in separators):
        raise ValueError("segment statistics need at least one non-empty separator")
    pattern = "|".join(re.escape(s) for s in sorted(separators, key=len, reverse=True))
    pieces = re.split(f"({pattern})", text)  # piece, sep, piece, ..., sep, piece
    split = str.split if unit == "word" else list
    tokens: list[str] = []
    lengths = []
    for piece, sep in zip(pieces[::2], [*pieces[1::2], None], strict=True):
        words = split(piece)
        tokens += words if sep is None else [*words, sep]
        lengths.append(len(words) + (sep is not None))
    closed = [True] * (len(lengths) - 1) + [False]
    return tokens, _marks_from_lengths(lengths, closed)


def token_boundaries(tokens: Sequence[int], separators: Iterable[int]) -> np.ndarray:
    """Boundary marks (T,) of a token-id sequence: true on every separator token."""
    return np.isin(np.asarray(tokens, dtype=np.int64), np.fromiter(separators, dtype=np.int64))


def seg_boundaries(seg: Sequence[int]) -> np.ndarray:
    """Boundary marks (T,) from a segment-index column (true where the next token's seg grows)."""
    s = np.asarray(seg, dtype=np.int64)  # (T,)
    marks = np.zeros(s.shape, dtype=bool)
    if s.size:
        marks[:-1] = s[1:] != s[:-1]
    return marks


def segment_lengths(marks: np.ndarray) -> np.ndarray:
    """Tokens per segment (S,) of one stream of boundary marks (last open piece included)."""
    ends = np.flatnonzero(marks) + 1  # exclusive ends of closed segments
    if marks.size and (ends.size == 0 or ends[-1] != marks.size):
        ends = np.append(ends, marks.size)
    return np.diff(np.concatenate([[0], ends])).astype(np.int64)


def window_segment_counts(marks: np.ndarray, length: int) -> np.ndarray:
    """Distinct segments touched by each full, non-overlapping window of ``length`` tokens."""
    if length <= 0:
        raise ValueError(f"sequence length must be positive, got {length}")
    n = marks.size // length
    windows = marks[: n * length].reshape(n, length)  # (W, length)
    return windows[:, :-1].sum(axis=1).astype(np.int64) + 1  # boundaries inside, + 1


def parse_text_separator(spec: str) -> str:
    r"""A separator given on the command line: backslash escapes (``\n``, ``\t``) decoded."""
    return spec.encode("utf-8").decode("unicode_escape")


@dataclass(frozen=True, kw_only=True)
class SourceStats:
    """Statistics of one source: ``segment_lengths`` (S,) and ``windows`` length -> (W,)."""

    name: str
    n_documents: int
    n_tokens: int
    segment_lengths: np.ndarray
    windows: dict[int, np.ndarray]


def source_marks(
    path: str | Path, separators: Sequence[str], *, unit: str = "word", glob: str = "*"
) -> list[np.ndarray]:
    """Boundary marks per document of a source: a dataset folder, a text file, or a folder
    of text files (matching ``glob``, recursively, sorted)."""
    return source_documents(path, separators, unit=unit, glob=glob)[1]


def source_documents(
    path: str | Path, separators: Sequence[str], *, unit: str = "word", glob: str = "*"
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """``(tokens, marks)`` per document of a source (as :func:`source_marks`): int64 token
    ids (text tokens numbered in sorted order over the source) and boundary marks."""
    path = Path(path)
    if not path.exists():
        raise OSError(f"{path}: no such file or folder")
    if (path / "meta.json").is_file():
        ds = load_dataset(path)
        return (
            [np.asarray(r["tokens"], dtype=np.int64) for r in ds.records],
            _dataset_marks(path, ds, separators),
        )
    files = [path] if path.is_file() else sorted(p for p in path.rglob(glob) if p.is_file())
    if not files:
        raise ValueError(f"{path}: no files match {glob!r}")
    seps = [parse_text_separator(s) for s in separators] or ["\n"]
    texts = [
        text_tokens(f.read_text(encoding="utf-8", errors="replace"), seps, unit=unit) for f in files
    ]
    ids = {tok: i for i, tok in enumerate(sorted({t for toks, _ in texts for t in toks}))}
    return (
        [np.array([ids[t] for t in toks], dtype=np.int64) for toks, _ in texts],
        [marks for _, marks in texts],
    )


def _dataset_marks(path: Path, ds, separators: Sequence[str]) -> list[np.ndarray]:
    if separators:
        try:
            ids = [int(s) for s in separators]
        except ValueError:
            raise ValueError(
                f"{path} is a dataset: --sep must be token ids, got {list(separators)}"
            ) from None
        return [token_boundaries(r["tokens"], ids) for r in ds.records]
    if ds.records and "seg" in ds.records[0]:
        return [seg_boundaries(r["seg"]) for r in ds.records]
    meta_seps = ds.meta.get("separators", ds.meta.get("separator"))
    if meta_seps is None:
        raise ValueError(f"{path}: no seg column and no separators in meta.json; give --sep ids")
    ids = [meta_seps] if isinstance(meta_seps, int) else list(meta_seps)
    return [token_boundaries(r["tokens"], ids) for r in ds.records]


def source_stats(name: str, docs: Sequence[np.ndarray], lengths: Sequence[int]) -> SourceStats:
    """Pool a source's documents: segment lengths per document, windows over the packed stream."""
    stream = np.concatenate(docs) if docs else np.zeros(0, dtype=bool)  # (T,)
    seg_lens = np.concatenate([segment_lengths(d) for d in docs]) if docs else np.zeros(0, int)
    return SourceStats(
        name=name,
        n_documents=len(docs),
        n_tokens=int(stream.size),
        segment_lengths=seg_lens,
        windows={int(t): window_segment_counts(stream, int(t)) for t in lengths},
    )


def describe(values: np.ndarray) -> dict[str, float]:
    """count, mean, median, p90, p99, max of ``values`` (NaN when empty)."""
    v = np.asarray(values, dtype=float)
    if not v.size:
        return {
            "count": 0,
            "mean": np.nan,
            "median": np.nan,
            "p90": np.nan,
            "p99": np.nan,
            "max": np.nan,
        }
    p50, p90, p99 = np.quantile(v, [0.5, 0.9, 0.99])
    return {
        "count": int(v.size),
        "mean": float(v.mean()),
        "median": float(p50),
        "p90": float(p90),
        "p99": float(p99),
        "max": float(v.max()),
    }


def stats_table(stats: Sequence[SourceStats]) -> str:
    """Markdown table: one row for tokens per segment and one per window length, per source."""
    head = "| source | quantity | count | mean | median | p90 | p99 | max |\n" + "|---" * 8 + "|"
    lines = [head]
    for s in stats:
        rows = [("tokens per segment", describe(s.segment_lengths))]
        rows += [(f"segments per {t}-token sequence", describe(w)) for t, w in s.windows.items()]
        for what, d in rows:
            cells = [str(d["count"])] + [
                f"{d[k]:.1f}" for k in ("mean", "median", "p90", "p99", "max")
            ]
            lines.append(f"| {s.name} | {what} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_segstats(
    sources: Sequence[str | Path],
    out_dir: str | Path,
    *,
    separators: Sequence[str] = (),
    unit: str = "word",
    lengths: Sequence[int] = DEFAULT_LENGTHS,
    glob: str = "*",
    methods: Sequence[str] = ("separator",),
    entropy: EntropyKnobs | None = None,
) -> Path:
    """Write ``segstats.md``, ``segstats.json`` and histogram PNGs into ``out_dir``.

    ``separators``: strings for text (backslash escapes decoded; default newline), token ids
    for datasets (default: the dataset's ``seg`` column or its meta's separators).
    ``methods``: segmentation methods to compare (``analysis/segmethods.py``: ``separator``,
    ``fixed:K``, ``entropy[:L]``; ``entropy`` sets the n-gram knobs); each source gets one
    row set per method, named ``SOURCE`` for ``separator`` and ``SOURCE [METHOD]`` otherwise.

    Returns the path of ``segstats.md``.
    """
    parsed = [parse_method(m) for m in methods]  # bad specs fail before anything is read
    if not parsed:
        raise ValueError("segment statistics need at least one method")
    stats, fits = _method_stats(sources, parsed, separators, unit, lengths, glob, entropy)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    plot_histograms(
        out / "tokens_per_segment.png",
        [(s.name, _clip(s.segment_lengths)) for s in stats],
        xlabel=f"tokens ({unit}s) per segment (clipped at p99)",
        title="Tokens per segment",
    )
    figures = ["tokens_per_segment.png"]
    for s in stats:
        name = f"segments_per_sequence_{re.sub(r'[^A-Za-z0-9_.-]+', '_', s.name)}.png"
        plot_histograms(
            out / name,
            [(f"T = {t}", w) for t, w in s.windows.items()],
            xlabel="segments per sequence",
            title=f"{s.name}: segments per sequence",
        )
        figures.append(name)
    summary = {
        s.name: {
            "n_documents": s.n_documents,
            "n_tokens": s.n_tokens,
            "tokens_per_segment": describe(s.segment_lengths),
            "segments_per_sequence": {str(t): describe(w) for t, w in s.windows.items()},
            **({"entropy_fit": fits[s.name]} if s.name in fits else {}),
        }
        for s in stats
    }
    write_text_atomic(out / "segstats.json", json.dumps(summary, indent=2, allow_nan=True) + "\n")
    notes = "".join(
        f"- {name}: n-gram order {f['order']}, rule {f['rule']}, threshold {f['threshold']:.4g} "
        f"nats; mean tokens per segment {f['achieved_length']:.2f} (target "
        f"{f['target_length']:.2f})\n"
        for name, f in fits.items()
    )
    md = (
        f"# Segment statistics\n\nUnit: {unit}; separators: {list(separators) or 'default'}; "
        f"sequence lengths: {list(lengths)}; methods: {', '.join(methods)}.\n\n"
        + (f"Entropy segmentation fitted on each source:\n\n{notes}\n" if notes else "")
        + stats_table(stats)
        + "\n"
        + "\n".join(f"![{f}]({f})" for f in figures)
        + "\n"
    )
    return write_text_atomic(out / "segstats.md", md)


def _method_stats(
    sources, methods, separators, unit, lengths, glob, entropy
) -> tuple[list[SourceStats], dict[str, dict]]:
    """Statistics per source and method, and the entropy fits by row name."""
    stats, fits = [], {}
    for name, path in zip(_unique_names(sources), sources, strict=True):
        docs, natural = source_documents(path, separators, unit=unit, glob=glob)
        if not sum(len(d) for d in docs):
            raise ValueError(f"{path}: empty corpus (no tokens)")
        for method in methods:
            label = name if method.kind == "separator" else f"{name} [{method.spec}]"
            marks, info = method_marks(method, docs, natural, entropy)
            stats.append(source_stats(label, marks, lengths))
            if info:
                fits[label] = info
    return stats, fits


def _clip(values: np.ndarray) -> np.ndarray:
    if not values.size:
        return values
    return np.minimum(values, np.quantile(values, 0.99))


def _unique_names(sources: Sequence[str | Path]) -> list[str]:
    names: list[str] = []
    for p in sources:
        base = Path(p).name or str(p)
        name, k = base, 2
        while name in names:
            name, k = f"{base}#{k}", k + 1
        names.append(name)
    return names
