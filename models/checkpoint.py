"""save/load of a Transformer with its config, versioned, written atomically.

Shape legend: none (a file holds ``{"format", "version", "config", "state"}``; ``state`` maps
parameter and buffer names to tensors).

The file is a ``torch.save`` archive read back with ``weights_only=True`` (no pickled code).
A missing, truncated, foreign or mismatched file is a ValueError (OSError for I/O) naming the
file and the problem.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from bipe.fileio import write_atomic

from .config import ModelConfig
from .transformer import Transformer

FORMAT = "bipe-model"
VERSION = 1


def save(model: Transformer, path: str | os.PathLike) -> Path:
    """Write ``model`` (weights, buffers such as the intra table's trained-row count, config)
    to ``path`` atomically (temporary file in the same folder, then rename); returns the path."""
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "config": model.config.to_dict(),
        "state": state,
    }
    return write_atomic(path, lambda tmp: torch.save(payload, tmp))


def load(path: str | os.PathLike, *, map_location: str | torch.device = "cpu") -> Transformer:
    """The model saved at ``path``, in eval mode."""
    path = Path(path)
    if not path.is_file():
        raise OSError(f"{path}: no such model file")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises many types for a corrupt archive
        raise ValueError(
            f"{path}: not a readable bipe model file ({type(err).__name__}: "
            f"{str(err).splitlines()[0] if str(err) else ''})"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path}: not a bipe model file (format tag missing)")
    if payload.get("version") != VERSION:
        raise ValueError(
            f"{path}: model format version {payload.get('version')!r}; "
            f"this bipe reads version {VERSION}"
        )
    try:
        config = ModelConfig.from_dict(payload.get("config"))  # type: ignore[arg-type]  # checked
    except ValueError as err:
        raise ValueError(f"{path}: bad config: {err}") from None
    model = Transformer(config)
    state = payload.get("state")
    if not isinstance(state, dict):
        raise ValueError(f"{path}: no weights in file")
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise ValueError(
            f"{path}: weights do not match the config (missing {missing[:3]}, "
            f"unexpected {unexpected[:3]})"
        )
    for name, tensor in expected.items():
        if tuple(state[name].shape) != tuple(tensor.shape):
            raise ValueError(
                f"{path}: {name} has shape {tuple(state[name].shape)}, "
                f"the config needs {tuple(tensor.shape)}"
            )
    model.load_state_dict(state)
    return model.eval()
