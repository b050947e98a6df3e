"""Which code produced a run: package version, git commit and dirty flag, numerics version
(standard library only, so that every layer may read it).

``NUMERICS`` is the version of the training arithmetic: the sequence of floating-point
operations a training step performs (the optimizer kernel, the order of reductions, where
losses are read back). Two runs of one config reproduce each other bit for bit on one machine
only when they were produced under the same numerics. Any change of training arithmetic must
bump it and add a line to ``NUMERICS_HISTORY``; ``tests/test_provenance.py`` pins a tiny run's
training losses and evaluation bit for bit, per kernel set, so such a change cannot go
unnoticed.

Bit-for-bit also needs the same kernels: torch's build and the CPU instruction set its
kernels dispatch to (``torch.backends.cpu.get_cpu_capability()``). Vector width changes the
order of a reduction's additions, so one config under one numerics ends in different last
bits on an AVX512 and an AVX2 machine. A run records both, with its code, in
``config.json["code"]``::

    "code": {"version": "0.1.0", "commit": "0ae17a4...", "dirty": false, "numerics": 2,
             "torch": "2.13.0+cpu", "cpu_capability": "AVX2"}

``torch`` and ``cpu_capability`` are absent where torch cannot be imported, and in runs
written before 2026-12-07. ``commit`` and ``dirty`` are ``"unknown"`` when the package does not
run from a git checkout. Runs written before this record existed carry none;
``studies/stamp_code.py`` may add one after the fact from stated evidence, marked
``"stamped": true`` with the ``"evidence"``. Documented in docs/battery.md.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bipe.fileio import write_text_atomic

__all__ = [
    "CODE_KEY",
    "NUMERICS",
    "NUMERICS_HISTORY",
    "code_record",
    "git_state",
    "kernels",
    "run_numerics",
    "stamp_record",
    "stamp_run",
]

CODE_KEY = "code"
NUMERICS = 2
NUMERICS_HISTORY = {
    1: "AdamW with torch's default (foreach) kernel, the loss read back at every step: the "
    "training step up to commit 09df573",
    2: "fused AdamW (fused=True on CPU and CUDA), losses read back only at log and checkpoint "
    "steps (experiments/compiled.py): from commit e85912d",
}
UNKNOWN = "unknown"
ROOT = Path(__file__).resolve().parent


def git_state(root: Path = ROOT) -> tuple[str, bool | str]:
    """``(commit, dirty)`` of the git checkout whose top level is ``root``; ``"unknown"`` for
    both when ``root`` is not one (an installed package), git is missing or it fails. Dirty
    means a tracked file differs from the commit (untracked files, e.g. new runs, do not
    count)."""
    try:
        top = _git(root, "rev-parse", "--show-toplevel")
        if Path(top).resolve() != root.resolve():
            return UNKNOWN, UNKNOWN  # bipe sits inside some other repository
        commit = _git(root, "rev-parse", "HEAD")
        changes = _git(root, "status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError, ValueError):
        return UNKNOWN, UNKNOWN
    return commit, bool(changes)


def _git(root: Path, *args: str) -> str:
    proc = subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=20
    )
    if proc.returncode != 0:
        raise ValueError(proc.stderr.strip())
    return proc.stdout.strip()


def kernels() -> dict[str, str]:
    """``{"torch": version, "cpu_capability": instruction set}`` of the kernels this process
    computes with; empty where torch is not installed (this module itself needs only the
    standard library)."""
    try:
        import torch
    except ImportError:
        return {}
    return {"torch": torch.__version__, "cpu_capability": torch.backends.cpu.get_cpu_capability()}


def code_record(version: str | None = None) -> dict[str, Any]:
    """The ``config.json["code"]`` record of the running code and its kernels."""
    if version is None:
        import bipe  # bipe/__init__ is light; avoids a cycle at import

        version = bipe.__version__
    commit, dirty = git_state()
    record = {"version": version, "commit": commit, "dirty": dirty, "numerics": NUMERICS}
    return record | kernels()


def stamp_record(numerics: int, evidence: str) -> dict[str, Any]:
    """A ``code`` record added after the fact: the numerics a run was produced under, the
    evidence for it, and the mark that the run did not record it itself."""
    if numerics not in NUMERICS_HISTORY:
        raise ValueError(f"unknown numerics version {numerics}; known: {sorted(NUMERICS_HISTORY)}")
    if not evidence.strip():
        raise ValueError("a stamp needs its evidence")
    return {"numerics": numerics, "stamped": True, "evidence": evidence.strip()}


def run_numerics(raw: Mapping[str, Any]) -> int | None:
    """The numerics version a raw ``config.json`` records or was stamped with (None: neither)."""
    code = raw.get(CODE_KEY)
    value = code.get("numerics") if isinstance(code, Mapping) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def stamp_run(run_dir: str | Path, record: Mapping[str, Any]) -> str:
    """Add the stamp ``record`` (from :func:`stamp_record`) to ``RUN/config.json``.

    Returns what happened: ``"recorded"`` (the run recorded its own code: never touched),
    ``"unchanged"`` (already carries this stamp), ``"stamped"`` or ``"restamped"`` (an earlier
    stamp replaced). The file is rewritten atomically with every other key as it was.
    """
    path = Path(run_dir) / "config.json"
    try:
        raw = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: not a readable run config ({err})") from None
    old = raw.get(CODE_KEY)
    if isinstance(old, Mapping) and not old.get("stamped"):
        return "recorded"
    if old == dict(record):
        return "unchanged"
    raw[CODE_KEY] = dict(record)
    write_text_atomic(path, json.dumps(raw, indent=1) + "\n")
    return "restamped" if old is not None else "stamped"
