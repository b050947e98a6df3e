"""Run folders: the files a run writes, written atomically, read back with clear errors.

Layout of a run folder ``RUN``::

    RUN/config.json     the full resolved RunConfig + "command" (argv) + "version" (bipe)
                        + "code" (version, git commit, dirty flag, numerics: bipe/provenance.py)
                        + "resumes" (the command line, changes and code of each CLI resume)
                        + "encoding" (a plug-in encoding: import spec, file, sha256)
    RUN/metrics.jsonl   one JSON object per logged step: step, loss, lr, tokens/s, elapsed_s
    RUN/checkpoint.pt   model + optimizer + step + RNG state (torch.save, weights_only loadable)
    RUN/model.pt        the final model (bipe.models.save), written when training ends
    RUN/eval.json       the length-extrapolation evaluation (experiments/evaluate.py)
    RUN/segmenter_train.npz, RUN/segmenter_eval.npz
                        fitted entropy segmenters, only for splits segmented by ``entropy``
                        (experiments/segmentation.py)
    RUN/tensorboard/    TensorBoard event files, a view of the above (experiments/tblog.py)

Every file is written to a temporary name in the same folder and renamed over the old one, so an
interrupted write never leaves a half-written file. A corrupt file is a ``ValueError`` naming
it; nothing is overwritten on the way.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import torch

import bipe
from bipe import provenance
from bipe.experiments.config import (
    RunConfig,
    config_from_dict,
    config_to_dict,
    upgrade_run_dict,
)
from bipe.fileio import write_atomic, write_text_atomic
from bipe.models.plugins import check_source, encoding_source, is_plugin, resolve_encoding

__all__ = [
    "CHECKPOINT_FORMAT",
    "append_metrics",
    "load_checkpoint",
    "read_json",
    "read_metrics",
    "read_run_config",
    "record_resume",
    "save_checkpoint",
    "write_json_atomic",
    "write_metrics",
    "write_run_config",
]

CHECKPOINT_FORMAT = 1
# config.json keys that record how a run was made, not what it is.
# ``encoding``: where a plug-in encoding came from (bipe.models.plugins.encoding_source).
BOOKKEEPING = ("command", "version", "resumes", "encoding", provenance.CODE_KEY)


def write_json_atomic(path: str | os.PathLike, data: Any) -> Path:
    """Write ``data`` as indented JSON to ``path`` atomically (temp file, then rename)."""
    text = json.dumps(data, indent=1) + "\n"
    return write_text_atomic(path, text)


def read_json(path: str | os.PathLike) -> Any:
    """Parsed JSON of ``path``; a missing or corrupt file is a ``ValueError`` naming it."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"{path}: missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: corrupt JSON ({err})") from None


def write_run_config(
    run_dir: str | os.PathLike, config: RunConfig, command: list[str], *, ensemble: bool = False
) -> Path:
    """``RUN/config.json``: the resolved config plus the command line, package version and the
    code record (``bipe.provenance``; ``ensemble`` marks a member trained in an ensemble, whose
    arithmetic follows a separate run only within a tolerance)."""
    data = config_to_dict(config)
    data["command"] = list(command)
    data["version"] = bipe.__version__
    data[provenance.CODE_KEY] = provenance.code_record(bipe.__version__)
    if ensemble:
        data[provenance.CODE_KEY]["ensemble"] = True
    _record_encoding(data, config)
    return write_json_atomic(Path(run_dir) / "config.json", data)


def _record_encoding(data: dict[str, Any], config: RunConfig) -> None:
    """``data["encoding"]``: a plug-in's import spec, source file and sha256 (none for a
    built-in)."""
    source = encoding_source(config.model.pe)
    if source is not None:
        data["encoding"] = source


def check_run_encoding(
    run_dir: str | os.PathLike, raw: dict[str, Any], *, resuming: bool = False, force: bool = False
) -> str | None:
    """Compare the plug-in encoding a run recorded with the one importable here: None when
    they agree (or the run uses a built-in); a changed source is a warning on stderr (and
    returned), or, when ``resuming`` without ``force``, a ``ValueError``; a spec that cannot
    be imported is a ``ValueError`` naming it."""
    message = check_source(raw.get("encoding"))
    if message is None:
        return None
    if resuming and not force:
        raise ValueError(
            f"{run_dir}: {message}; resume anyway with bipe train --resume {run_dir} --force"
        )
    print(f"bipe: warning: {run_dir}: {message}", file=sys.stderr)
    return message


def read_run_config(run_dir: str | os.PathLike) -> tuple[RunConfig, dict[str, Any]]:
    """``(config, raw)`` from ``RUN/config.json``; ``ValueError`` naming the file if bad."""
    path = Path(run_dir) / "config.json"
    if not Path(run_dir).is_dir():
        raise ValueError(f"{run_dir}: not a run folder (no such directory)")
    raw = read_json(path)
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: corrupt run config (not an object)")
    body = {k: v for k, v in raw.items() if k not in BOOKKEEPING}
    pe = body.get("model", {}).get("pe") if isinstance(body.get("model"), dict) else None
    if isinstance(pe, str) and is_plugin(pe):
        try:
            resolve_encoding(pe)
        except ValueError as err:
            raise ValueError(f"{path}: the run's encoding cannot be used here: {err}") from None
    try:
        return config_from_dict(RunConfig, upgrade_run_dict(body)), raw
    except (ValueError, TypeError) as err:
        raise ValueError(f"{path}: corrupt run config ({err})") from None


def record_resume(
    run_dir: str | os.PathLike, config: RunConfig, raw: dict[str, Any], entry: dict[str, Any]
) -> Path:
    """Rewrite ``RUN/config.json`` as ``config``, keeping its command, version and code record
    and appending ``entry`` (the resume's command line, step and changes) with the code of the
    resume to its ``resumes`` history."""
    data = config_to_dict(config)
    data["command"] = raw.get("command", [])
    data["version"] = raw.get("version", bipe.__version__)
    if provenance.CODE_KEY in raw:
        data[provenance.CODE_KEY] = raw[provenance.CODE_KEY]
    entry = {**entry, provenance.CODE_KEY: provenance.code_record(bipe.__version__)}
    data["resumes"] = [*raw.get("resumes", []), entry]
    _record_encoding(data, config)
    return write_json_atomic(Path(run_dir) / "config.json", data)


def append_metrics(run_dir: str | os.PathLike, row: dict[str, Any]) -> None:
    """Append one row to ``RUN/metrics.jsonl`` (a torn last line is dropped on resume)."""
    with open(Path(run_dir) / "metrics.jsonl", "a") as handle:
        handle.write(json.dumps(row) + "\n")


def read_metrics(run_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """Rows of ``RUN/metrics.jsonl``; a torn last line (killed mid-write) is skipped."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.exists():
        return []
    lines = path.read_text().splitlines()
    rows = []
    for i, line in enumerate(lines):
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            if i != len(lines) - 1:
                raise ValueError(f"{path}: corrupt line {i + 1}") from None
    return rows


def write_metrics(run_dir: str | os.PathLike, rows: list[dict[str, Any]]) -> Path:
    """Replace ``RUN/metrics.jsonl`` by ``rows`` atomically."""
    text = "".join(json.dumps(r) + "\n" for r in rows)
    return write_text_atomic(Path(run_dir) / "metrics.jsonl", text)


def save_checkpoint(run_dir: str | os.PathLike, state: dict[str, Any]) -> Path:
    """Write ``RUN/checkpoint.pt`` atomically; ``state`` holds tensors, numbers and dicts."""
    payload = {"format": CHECKPOINT_FORMAT, **state}
    return write_atomic(Path(run_dir) / "checkpoint.pt", lambda tmp: torch.save(payload, tmp))


def load_checkpoint(run_dir: str | os.PathLike) -> dict[str, Any] | None:
    """The checkpoint of a run (None if there is none); a corrupt one is a ``ValueError``."""
    path = Path(run_dir) / "checkpoint.pt"
    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for a bad file
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise ValueError(f"{path}: corrupt checkpoint ({type(err).__name__}: {first})") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path}: not a bipe checkpoint of format {CHECKPOINT_FORMAT}")
    for key in ("step", "model", "optimizer", "sampler", "torch_rng"):
        if key not in state:
            raise ValueError(f"{path}: corrupt checkpoint (no {key!r})")
    return state
