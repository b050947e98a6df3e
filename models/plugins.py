"""Plug-in encodings: :func:`resolve_encoding` turns a ``pe`` spec into an :class:`EncodingEntry`.

A spec (``ModelConfig.pe``, ``--pe``, a grid's ``model.pe``) is one of

- a registry name (``rope``, ``bipe_rope``, ...: :data:`bipe.models.registry.REGISTRY`);
- ``path/to/file.py:NAME``: the ``EncodingEntry`` called NAME in that Python file (a relative
  path is read from the working directory);
- ``package.module:NAME``: the same from an importable module;
- the name of an entry point in the group ``bipe.encodings`` of an installed package
  (``[project.entry-points."bipe.encodings"] my_pe = "my_pkg.module:ENTRY"``).

Registry names win over entry points of the same name. Anything that cannot be imported is
a one-line ``ValueError`` naming the spec. :func:`encoding_source` records where a plug-in
came from (its import spec, source file and the file's sha256) for ``config.json``;
:func:`check_source` compares a recorded source with the one importable here.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import inspect
import sys
from pathlib import Path
from typing import Any

ENTRY_POINT_GROUP = "bipe.encodings"
SPEC_FORMS = "a registry name, FILE.py:NAME, package.module:NAME or a 'bipe.encodings' entry point"

# Modules loaded from files, by (resolved path, mtime_ns, size): an edited file loads anew.
_FILE_MODULES: dict[tuple[str, int, int], Any] = {}


def resolve_encoding(spec: str) -> Any:
    """The :class:`~bipe.models.registry.EncodingEntry` that ``spec`` names (module docstring);
    a ``ValueError`` naming the spec when it is unknown or cannot be imported."""
    from .registry import REGISTRY  # the registry imports this module

    if not isinstance(spec, str) or not spec:
        raise ValueError(f"pe must be a non-empty string, got {spec!r}")
    if spec in REGISTRY:
        return REGISTRY[spec]
    if ":" in spec:
        where, _, name = spec.rpartition(":")
        if not name.isidentifier():
            raise ValueError(f"pe {spec!r}: {name!r} after ':' is not a Python name")
        module = _load_file(spec, where) if _is_file(where) else _import(spec, where)
        return _entry(spec, getattr(module, name, None), f"{where} has no {name!r}")
    point = _entry_points().get(spec)
    if point is None:
        known = ", ".join(list(REGISTRY) + sorted(_entry_points()))
        raise ValueError(f"unknown pe {spec!r}; known: {known} (or {SPEC_FORMS})")
    try:
        obj = point.load()
    except Exception as err:  # any import failure is the user's to read
        raise ValueError(f"cannot import pe {spec!r} ({point.value}): {_one_line(err)}") from None
    return _entry(spec, obj, f"entry point {point.value} is None")


def is_plugin(spec: str) -> bool:
    """True when ``spec`` is not a built-in registry name."""
    from .registry import REGISTRY

    return spec not in REGISTRY


def encoding_source(spec: str) -> dict[str, Any] | None:
    """Where the plug-in ``spec`` comes from: ``{"spec", "kind", "file", "sha256"}`` (``kind``
    file, module or entry_point; ``file`` the named file, else the source file that defines
    the entry's ``build``, None if unknown), or None for a built-in. Resolves the spec
    first (a ``ValueError`` if it cannot be imported)."""
    if not is_plugin(spec):
        return None
    entry = resolve_encoding(spec)
    file: str | None
    if ":" in spec and _is_file(spec.rpartition(":")[0]):
        kind, file = "file", str(Path(spec.rpartition(":")[0]).resolve())
    else:  # the file that defines the entry's build (a package may re-export it)
        kind = "module" if ":" in spec else "entry_point"
        target = spec if ":" in spec else _entry_points()[spec].value
        file = _source_file(entry.build) or getattr(
            sys.modules.get(target.partition(":")[0]), "__file__", None
        )
    digest = hashlib.sha256(Path(file).read_bytes()).hexdigest() if file else None
    return {"spec": spec, "kind": kind, "file": file, "sha256": digest}


def check_source(recorded: dict[str, Any] | None) -> str | None:
    """None when the plug-in recorded in a run (``encoding_source``'s dict) is importable here
    with the same source; else a sentence saying what changed. A ``ValueError`` naming the
    spec when it cannot be imported at all."""
    if not recorded:
        return None
    spec = recorded["spec"]
    try:
        now = encoding_source(spec)
    except ValueError as err:
        raise ValueError(f"the run's encoding {spec!r} cannot be imported here: {err}") from None
    if now is None or now["sha256"] != recorded.get("sha256"):
        return (
            f"the source of encoding {spec!r} changed since the run was made "
            f"(sha256 {str(recorded.get('sha256'))[:12]} then, "
            f"{str(now and now['sha256'])[:12]} now, {now and now['file']})"
        )
    return None


def plugin_entries() -> dict[str, str]:
    """Entry-point name -> its ``module:NAME`` target, for the installed ``bipe.encodings``."""
    return {name: point.value for name, point in sorted(_entry_points().items())}


def _source_file(obj: Any) -> str | None:
    try:
        return inspect.getsourcefile(obj)
    except TypeError:  # a builtin or a C extension
        return None


def _is_file(where: str) -> bool:
    return where.endswith(".py") or "/" in where or "\\" in where


def _load_file(spec: str, where: str) -> Any:
    path = Path(where).resolve()
    if not path.is_file():
        raise ValueError(f"cannot import pe {spec!r}: no file {where}")
    stat = path.stat()
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    if key not in _FILE_MODULES:
        digest = hashlib.sha256(str(path).encode()).hexdigest()[:16]
        name = f"bipe_plugin_{path.stem}_{digest}"
        module_spec = importlib.util.spec_from_file_location(name, path)
        if module_spec is None or module_spec.loader is None:
            raise ValueError(f"{path}: not a Python file bipe can load")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module  # dataclasses and pickling look their module up here
        try:
            module_spec.loader.exec_module(module)
        except Exception as err:
            del sys.modules[name]
            raise ValueError(f"cannot import pe {spec!r}: {_one_line(err)}") from None
        _FILE_MODULES[key] = module
    return _FILE_MODULES[key]


def _import(spec: str, module_name: str) -> Any:
    try:
        return importlib.import_module(module_name)
    except Exception as err:
        raise ValueError(f"cannot import pe {spec!r}: {_one_line(err)}") from None


def _entry(spec: str, obj: Any, missing: str) -> Any:
    from .registry import EncodingEntry

    if obj is None:
        raise ValueError(f"cannot import pe {spec!r}: {missing}")
    if not isinstance(obj, EncodingEntry):
        raise ValueError(f"pe {spec!r} is a {type(obj).__name__}, not a bipe.models.EncodingEntry")
    return obj


def _entry_points() -> dict[str, Any]:
    return {p.name: p for p in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}".rstrip(": ")
