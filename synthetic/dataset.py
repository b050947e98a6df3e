"""Dataset folders: ``data.jsonl`` (or ``data.npz``) plus ``meta.json``, written atomically.

A dataset is a folder::

    DIR/meta.json    {"schema": 1, "format": "jsonl", "n_records": N, "sha256": "...",
                      "version": "...", <generator's keys: generator, config, seed, vocab, ...>}
    DIR/data.jsonl   one JSON object per record, keys in a fixed order, compact separators

or ``DIR/data.npz`` for large sets (``--format npz``): each list-valued field stored as one
flat int64 array ``<field>`` plus ``<field>.offsets`` (N+1,), each scalar field as an array
of N values. Both formats load to the same records.

Writes go to a hidden temporary folder beside ``DIR`` that is renamed into place only when
complete, so an interrupted or failed run never leaves a folder that looks finished, and an
existing dataset is never replaced unless ``overwrite=True``.

>>> import tempfile, pathlib
>>> out = pathlib.Path(tempfile.mkdtemp()) / "ds"
>>> _ = write_dataset(out, [{"tokens": [3, 1, 4], "seg": [0, 0, 0], "intra": [0, 1, 2]}],
...                   {"generator": "example"})
>>> ds = load_dataset(out)
>>> len(ds), ds.records[0]["tokens"], ds.meta["n_records"]
(1, [3, 1, 4], 1)
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bipe.fileio import atomic_folder

SCHEMA = 1
FORMATS = ("jsonl", "npz")
POSITION_FIELDS = ("tokens", "seg", "intra")
_RESERVED = ("schema", "format", "n_records", "sha256", "version")


def _package_version() -> str:
    from bipe import __version__

    return __version__


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _json_default(value: Any) -> Any:
    """numpy arrays and scalars as plain JSON values (``json.dumps``'s ``default`` hook)."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot store a {type(value).__name__} in a dataset record")


def _json_value(value: Any) -> Any:
    """ints, strings and lists of ints as plain Python values (numpy arrays included)."""
    if isinstance(value, np.ndarray | np.generic):
        return _json_default(value)
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    return value


def _write_jsonl(path: Path, records: Iterable[Mapping[str, Any]]) -> int:
    n = 0
    encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=_json_default)
    with path.open("w", encoding="utf-8", newline="\n") as f:
        for record in records:
            f.write(encode.encode(dict(record)) + "\n")
            n += 1
    return n


def _write_npz(path: Path, records: Iterable[Mapping[str, Any]]) -> int:
    columns: dict[str, list] = {}
    n = 0
    for record in records:
        for key, value in record.items():
            columns.setdefault(key, []).append(_json_value(value))
        n += 1
    arrays: dict[str, np.ndarray] = {}
    for key, values in columns.items():
        if len(values) != n:
            raise ValueError(f"npz datasets need every record to have field {key!r}")
        if isinstance(values[0], list):
            arrays[key] = np.asarray([v for row in values for v in row], dtype=np.int64)
            lengths = np.asarray([len(row) for row in values], dtype=np.int64)
            arrays[f"{key}.offsets"] = np.concatenate([[0], np.cumsum(lengths)])
        else:
            arrays[key] = np.asarray(values)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]  # uncompressed and timestamp-free: same records, same bytes
    path.write_bytes(buffer.getvalue())
    return n


def write_dataset(
    out: str | os.PathLike,
    records: Iterable[Mapping[str, Any]],
    meta: Mapping[str, Any],
    *,
    fmt: str = "jsonl",
    overwrite: bool = False,
) -> Path:
    """Write ``records`` and ``meta`` to the folder ``out`` atomically; returns ``out``.

    ``meta`` holds the generator's keys; ``schema``, ``format``, ``n_records``, ``sha256`` and
    ``version`` are filled in here. An existing ``out`` is an error unless ``overwrite``.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown dataset format {fmt!r}; known: {', '.join(FORMATS)}")
    clash = [k for k in _RESERVED if k in meta]
    if clash:
        raise ValueError(f"meta keys {clash} are filled in by write_dataset; remove them")
    with atomic_folder(out, overwrite=overwrite) as tmp:
        data = tmp / f"data.{fmt}"
        n = (_write_jsonl if fmt == "jsonl" else _write_npz)(data, records)
        full = {
            "schema": SCHEMA,
            "format": fmt,
            "n_records": n,
            "sha256": _sha256(data),
            "version": _package_version(),
            **meta,
        }
        (tmp / "meta.json").write_text(json.dumps(full, indent=2, sort_keys=False) + "\n")
    return Path(out)


@dataclass(frozen=True)
class Dataset:
    """A loaded, verified dataset: ``meta`` (dict) and ``records`` (list of dicts)."""

    path: Path
    meta: dict[str, Any]
    records: list[dict[str, Any]]

    def __len__(self) -> int:
        return len(self.records)

    def column(self, name: str) -> list[Any]:
        """One field of every record, in order."""
        if self.records and name not in self.records[0]:
            raise KeyError(f"dataset {self.path} has no field {name!r}")
        return [r[name] for r in self.records]


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    records = []
    with path.open(encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}:{line_no}: not valid JSON ({err.msg})") from None
            if not isinstance(record, dict):
                raise ValueError(f"{path}:{line_no}: a record must be a JSON object")
            records.append(record)
    return records


def _read_npz(path: Path) -> list[dict[str, Any]]:
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except Exception as err:  # zipfile/format errors of every kind: the file is unreadable
        raise ValueError(f"{path}: not a readable npz file ({err})") from None
    fields = [k for k in arrays if not k.endswith(".offsets")]
    n = len(arrays[fields[0]]) if fields else 0
    columns = {}
    for key in fields:
        if f"{key}.offsets" in arrays:
            offsets = arrays[f"{key}.offsets"]
            flat = arrays[key].tolist()
            columns[key] = [flat[offsets[i] : offsets[i + 1]] for i in range(len(offsets) - 1)]
        else:
            columns[key] = arrays[key].tolist()
        n = len(columns[key])
    return [{k: columns[k][i] for k in fields} for i in range(n)]


def load_meta(path: str | os.PathLike) -> dict[str, Any]:
    """``meta.json`` of a dataset folder, checked for the keys every dataset has."""
    meta_path = Path(path) / "meta.json"
    if not meta_path.is_file():
        raise ValueError(f"{path} is not a bipe dataset: {meta_path.name} is missing")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{meta_path}: not valid JSON ({err.msg})") from None
    missing = [k for k in _RESERVED if k not in meta] if isinstance(meta, dict) else _RESERVED
    if missing:
        raise ValueError(f"{meta_path}: missing keys {', '.join(missing)}")
    if meta["schema"] != SCHEMA:
        raise ValueError(f"{meta_path}: schema {meta['schema']} is not supported (want {SCHEMA})")
    if meta["format"] not in FORMATS:
        raise ValueError(f"{meta_path}: unknown format {meta['format']!r}")
    return meta


def load_dataset(path: str | os.PathLike) -> Dataset:
    """Load and verify a dataset folder (schema, sha256, record count, position lengths)."""
    path = Path(path)
    meta = load_meta(path)
    data = path / f"data.{meta['format']}"
    if not data.is_file():
        raise ValueError(f"{path} is incomplete: {data.name} is missing")
    if _sha256(data) != meta["sha256"]:
        raise ValueError(f"{data}: sha256 does not match meta.json (file changed or corrupt)")
    records = (_read_jsonl if meta["format"] == "jsonl" else _read_npz)(data)
    if len(records) != meta["n_records"]:
        raise ValueError(f"{data}: {len(records)} records, meta.json says {meta['n_records']}")
    for i, record in enumerate(records):
        present = [k for k in POSITION_FIELDS if k in record]
        if any(not isinstance(record[k], list) for k in present):
            raise ValueError(f"{data}: record {i}: {'/'.join(present)} must be lists")
        if len({len(record[k]) for k in present}) > 1:
            raise ValueError(f"{data}: record {i}: {'/'.join(present)} lengths differ")
    return Dataset(path=path, meta=meta, records=records)


def dataset_dirs(path: str | os.PathLike) -> list[Path]:
    """A dataset folder itself, or the dataset folders directly inside ``path``."""
    path = Path(path)
    if (path / "meta.json").is_file():
        return [path]
    children = sorted(path.iterdir()) if path.is_dir() else []
    found = [p for p in children if (p / "meta.json").is_file()]
    if not found:
        raise ValueError(f"{path} is not a bipe dataset nor a folder of datasets")
    return found
