"""The reference arithmetic data layout (Feng et al.'s ``arithmetic/data.py``), read and written.

A reference folder holds five text files, one chain per line, words separated by single
spaces::

    chain/train_data.txt    ( 2 + 7 ) * 6 = 9 * 6 = 10 ␠      (full chain, a trailing space)
    chain/test_data.txt     ( 0 - 7 ) / 5 * 10 = ␠           (question and first '=', a space)
    chain/test_ans.txt      8                                 (the answer of that line)
    decoder/train_data.txt  ( 2 + 7 ) * 6 = 10               (question = answer)
    decoder/test_data.txt   ( 0 - 7 ) / 5 * 10 = 8

bipe represents it as a folder of **one bipe dataset per split** (each a normal dataset folder
that ``bipe verify`` checks)::

    DIR/chain_train     arith_format "feng"    from chain/train_data.txt
    DIR/chain_test      arith_format "direct"  from chain/test_data.txt + chain/test_ans.txt
    DIR/decoder_train   arith_format "direct"  from decoder/train_data.txt
    DIR/decoder_test    arith_format "direct"  from decoder/test_data.txt

(the chain test split keeps only what the files hold: the question and its answer). Records
keep the file's line order, and each split's ``meta.json`` records its ``split`` and source
files. Reading is strict: a line that is not exactly the canonical rendering of a valid chain
is an error naming the file and line, so :func:`write_feng` of what :func:`read_feng` read
reproduces the files byte for byte. A split whose files are absent is skipped; a folder with
none of them is an error. To export data bipe generated, put datasets of the right formats in
``DIR/<split>`` folders (e.g. ``bipe gen arith --data.fmt feng --out DIR/chain_train``).

>>> import tempfile, pathlib
>>> root = pathlib.Path(tempfile.mkdtemp())
>>> _ = (root / "decoder").mkdir(), (root / "decoder/train_data.txt").write_text("1 + 3 = 4\\n")
>>> splits = read_feng(root)
>>> splits["decoder_train"][0]["tokens"]
[11, 3, 13, 9, 14, 2]
"""

from __future__ import annotations

import os
from pathlib import Path

from bipe.fileio import atomic_folder
from bipe.synthetic.arithmetic import (
    EOS,
    SEPARATORS,
    check_modulus,
    make_record,
    question_of,
    verify_record,
    verify_text,
    vocab,
    words_to_ids,
)
from bipe.synthetic.dataset import load_dataset, write_dataset

# split -> (files, arith_format)
SPLITS: dict[str, tuple[tuple[str, ...], str]] = {
    "chain_train": (("chain/train_data.txt",), "feng"),
    "chain_test": (("chain/test_data.txt", "chain/test_ans.txt"), "direct"),
    "decoder_train": (("decoder/train_data.txt",), "direct"),
    "decoder_test": (("decoder/test_data.txt",), "direct"),
}


def split_meta(split: str, modulus: int, **config: object) -> dict:
    """The ``meta.json`` keys of an imported split (``write_dataset`` adds its own)."""
    return {
        "generator": "arith",
        "arith_format": SPLITS[split][1],
        "split": split,
        "modulus": modulus,
        "vocab": list(vocab(modulus)),
        "separators": list(SEPARATORS),
        "config": {"source": "feng", "split": split, "files": list(SPLITS[split][0]), **config},
        "seed": None,
    }


def _lines(path: Path) -> list[str]:
    data = path.read_bytes()
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not an ASCII text file") from None
    if text and not text.endswith("\n"):
        raise ValueError(f"{path}: the last line has no newline")
    if "\r" in text:
        raise ValueError(f"{path}: carriage returns are not the reference format")
    return text.split("\n")[:-1]


def _strip(path: Path, line_no: int, line: str, suffix: str) -> str:
    if not line.endswith(suffix) or len(line) == len(suffix):
        raise ValueError(f"{path}:{line_no}: expected a line ending in {suffix!r}")
    return line[: len(line) - len(suffix)]


def _record(path: Path, line_no: int, text: str, fmt: str, modulus: int) -> dict:
    problem = verify_text(text, fmt, modulus)
    if problem:
        raise ValueError(f"{path}:{line_no}: {problem}")
    return make_record(words_to_ids(text.split(" "), modulus) + [EOS], modulus)


def read_split(root: Path, split: str, modulus: int = 11) -> list[dict]:
    """The records of one split of a reference folder (strictly parsed and verified)."""
    files, fmt = SPLITS[split]
    path = root / files[0]
    lines = _lines(path)
    if split == "chain_test":
        answers = _lines(root / files[1])
        if len(answers) != len(lines):
            n_a, n_q = len(answers), len(lines)
            raise ValueError(f"{root / files[1]}: {n_a} answers for {n_q} questions")
        pairs = enumerate(zip(lines, answers, strict=True), 1)
        texts = [f"{_strip(path, i, q, ' = ')} = {a}" for i, (q, a) in pairs]
    elif split == "chain_train":
        texts = [_strip(path, i, line, " ") for i, line in enumerate(lines, 1)]
    else:
        texts = lines
    return [_record(path, i, t, fmt, modulus) for i, t in enumerate(texts, 1)]


def read_feng(path: str | os.PathLike, modulus: int = 11) -> dict[str, list[dict]]:
    """``{split: records}`` for every split whose files exist under ``path``."""
    root = Path(path)
    modulus = check_modulus(modulus)
    if not root.is_dir():
        raise ValueError(f"{root} is not a folder")
    splits = {}
    for split, (files, _) in SPLITS.items():
        present = [(root / f).is_file() for f in files]
        if any(present) and not all(present):
            missing = [f for f, ok in zip(files, present, strict=True) if not ok]
            raise ValueError(f"{root}: {', '.join(missing)} is missing")
        if all(present):
            splits[split] = read_split(root, split, modulus)
    if not splits:
        want = sorted({f for files, _ in SPLITS.values() for f in files})
        raise ValueError(f"{root} holds none of the reference files ({', '.join(want)})")
    return splits


def render_split(split: str, records: list[dict]) -> dict[str, str]:
    """``{relative file: contents}`` of one split in the reference layout."""
    files, _ = SPLITS[split]
    texts = [r["text"] for r in records]
    if split == "chain_train":
        return {files[0]: "".join(f"{t} \n" for t in texts)}
    if split == "chain_test":
        return {
            files[0]: "".join(f"{question_of(t)} = \n" for t in texts),
            files[1]: "".join(f"{r['answer']}\n" for r in records),
        }
    return {files[0]: "".join(f"{t}\n" for t in texts)}


def import_feng(
    path: str | os.PathLike, out: str | os.PathLike, *, modulus: int = 11, overwrite: bool = False
) -> dict[str, int]:
    """Read a reference folder and write one bipe dataset per split under ``out``.

    Returns ``{split: n_records}``. Nothing is written unless every file reads and verifies.
    """
    splits = read_feng(path, modulus)
    out = Path(out)
    with atomic_folder(out, overwrite=overwrite) as tmp:
        for split, records in splits.items():
            meta = split_meta(split, modulus, path=str(Path(path).resolve()))
            write_dataset(tmp / split, records, meta)
    return {split: len(records) for split, records in splits.items()}


def export_feng(
    path: str | os.PathLike, out: str | os.PathLike, *, overwrite: bool = False
) -> dict[str, int]:
    """Write the split datasets under ``path`` as a reference folder ``out``.

    Each ``path/<split>`` present must be an arithmetic dataset of that split's format and all
    must share one modulus; every record is verified first. Returns ``{split: n_records}``.
    """
    root = Path(path)
    present = [s for s in SPLITS if (root / s / "meta.json").is_file()]
    if not present:
        raise ValueError(f"{root} holds no split datasets ({', '.join(SPLITS)})")
    files: dict[str, str] = {}
    counts, moduli = {}, set()
    for split in present:
        ds = load_dataset(root / split)
        want = SPLITS[split][1]
        if ds.meta.get("generator") != "arith" or ds.meta.get("arith_format") != want:
            raise ValueError(f"{root / split}: not an arithmetic dataset in format {want!r}")
        moduli.add(ds.meta.get("modulus"))
        for i, record in enumerate(ds.records):
            problem = verify_record(record, ds.meta)
            if problem:
                raise ValueError(f"{root / split}: record {i}: {problem}")
        files.update(render_split(split, ds.records))
        counts[split] = len(ds)
    if len(moduli) > 1:
        raise ValueError(f"{root}: the splits use different moduli {sorted(moduli)}")  # type: ignore[type-var]
    out = Path(out)
    with atomic_folder(out, overwrite=overwrite) as tmp:
        for name, text in files.items():
            (tmp / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp / name).write_bytes(text.encode("ascii"))
    return counts
