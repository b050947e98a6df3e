"""Write a bipe Transformer as a self-contained Hugging Face folder, and read one back.

Shape legend: none (files and state dicts).

The folder carries the model's own code: ``modeling_bipe.py`` (:mod:`.hf_modeling`),
``configuration_bipe.py`` (:mod:`.hf_config`) and every ``models/`` module they import,
copied flat as ``bipe_<name>.py`` with their relative imports renamed. ``models/`` needs only
torch, so loading needs only torch and transformers (``trust_remote_code=True``), and every
registry encoding exports with the exact code that trained it. The folder is written by
transformers' own ``save_pretrained`` through the copied code (``config.json`` with
``auto_map``, ``model.safetensors``, ``generation_config.json``), so a save ->
``from_pretrained`` -> save round trip rewrites the same files.
"""

from __future__ import annotations

import ast
import importlib.util
import itertools
import json
import re
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from .config import ModelConfig
from .transformer import Transformer

MODELS_DIR = Path(__file__).resolve().parent
MODELING_FILE, CONFIGURATION_FILE = "modeling_bipe.py", "configuration_bipe.py"
RENAMED = {"hf_modeling": MODELING_FILE[:-3], "hf_config": CONFIGURATION_FILE[:-3]}
ENTRIES = ("hf_modeling", "hf_config")
PLUGIN = "plugin"  # the plug-in encoding's file, copied as bipe_plugin.py
ALL_MODULES_NOTE = (
    "# Every module of the model code, named here so that transformers 4.x copies them all\n"
    "# (it copies only the modules a loaded file imports itself)."
)
_RELATIVE = re.compile(r"^(\s*from\s+\.)(\w+)(\s+import)", flags=re.MULTILINE)
_COUNTER = itertools.count()


def exported_name(module: str) -> str:
    """File stem of ``models/<module>.py`` (or of the plug-in, ``PLUGIN``) in an export."""
    return RENAMED.get(module, f"bipe_{module}")


def _package_names() -> dict[str, str]:
    """``name -> module`` for the names ``models/__init__.py`` imports from its modules."""
    tree = ast.parse((MODELS_DIR / "__init__.py").read_text())
    return {
        alias.asname or alias.name: node.module
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module
        for alias in node.names
    }


def plugin_source(text: str) -> tuple[str, set[str]]:
    """A plug-in encoding's file rewritten for an export, and the ``models/`` modules it needs.

    It may import the standard library, torch, ``bipe.models`` and ``bipe.models.<module>``;
    the bipe imports become relative imports of the copied modules. Anything else (another
    bipe package, a relative import, a third-party package) is a ValueError naming it."""
    import sys as _sys

    lines, names = text.splitlines(keepends=True), _package_names()
    needs: set[str] = set()
    edits = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                if top == "bipe" or (top != "torch" and top not in _sys.stdlib_module_names):
                    raise ValueError(
                        f"the plug-in imports {alias.name}: only torch, the standard "
                        "library and 'from bipe.models... import' can be exported"
                    )
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            top = module.split(".")[0]
            if (
                node.level
                or (top == "bipe" and not module.startswith("bipe.models"))
                or (top not in ("bipe", "torch") and top not in _sys.stdlib_module_names)
            ):
                raise ValueError(
                    f"the plug-in imports {'.' * node.level}{module}: only torch, "
                    "the standard library and 'from bipe.models... import' can be "
                    "exported"
                )
            if top != "bipe":
                continue
            groups: dict[str, list[str]] = {}
            for alias in node.names:
                if module == "bipe.models":
                    if alias.name not in names:
                        raise ValueError(f"the plug-in imports bipe.models.{alias.name}: unknown")
                    source = names[alias.name]
                else:
                    source = module.split(".")[2]
                text_alias = alias.name + (f" as {alias.asname}" if alias.asname else "")
                groups.setdefault(source, []).append(text_alias)
            needs.update(groups)
            indent = " " * node.col_offset
            new = "".join(
                f"{indent}from .{exported_name(m)} import {', '.join(a)}\n"
                for m, a in sorted(groups.items())
            )
            edits.append((node.lineno - 1, node.end_lineno, new))
    for start, stop, new in sorted(edits, reverse=True):
        lines[start:stop] = [new]
    for module in needs:
        if not (MODELS_DIR / f"{module}.py").is_file():
            raise ValueError(f"the plug-in imports bipe.models.{module}: no such module")
    return "".join(lines), needs


def _imported_modules(text: str, where: str) -> tuple[set[str], set[str]]:
    """(relative module names, absolute top-level packages) imported anywhere in ``text``."""
    relative, absolute = set(), set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.ImportFrom) and node.level:
            if node.level != 1 or not node.module:
                raise ValueError(f"{where}: cannot export 'from {'.' * node.level} import'")
            relative.add(node.module.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.module:
            absolute.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            absolute.update(a.name.split(".")[0] for a in node.names)
    return relative, absolute


def source_files(header: str, plugin: str | None = None) -> dict[str, str]:
    """``{file name: text}`` of the code an export carries: the modeling and configuration
    modules and, transitively, every ``models/`` module they import. ``header``, a comment
    block with ``{source}`` standing for the module's path, goes on top of each. A module
    importing ``bipe`` absolutely is a ValueError.

    transformers 4.x copies into its module cache only the modules that the file it loads
    imports itself, so the two entry files end with an import of every other module.
    ``plugin``, the text of a plug-in encoding's file (:func:`plugin_source`), joins as
    ``bipe_plugin.py``."""
    todo, imports, out = list(ENTRIES), {}, {}
    if plugin is not None:
        text, needs = plugin_source(plugin)
        imports[PLUGIN], out[PLUGIN] = needs, header.replace("{source}", "a plug-in") + text
        todo.extend(sorted(needs))
    while todo:
        module = todo.pop()
        if module in imports:
            continue
        text = (MODELS_DIR / f"{module}.py").read_text()
        relative, absolute = _imported_modules(text, f"models/{module}.py")
        if "bipe" in absolute:
            raise ValueError(f"models/{module}.py imports bipe: it cannot be exported")
        imports[module] = relative
        todo.extend(sorted(relative))
        renamed = _RELATIVE.sub(lambda m: m[1] + exported_name(m[2]) + m[3], text)
        out[module] = header.replace("{source}", f"models/{module}.py") + renamed
    for entry in ENTRIES:
        rest = sorted(set(imports) - set(imports[entry]) - set(ENTRIES))
        lines = [f"from .{exported_name(m)} import __name__ as _  # noqa: E402, F401" for m in rest]
        if lines:
            out[entry] += "\n\n" + "\n".join([ALL_MODULES_NOTE, *lines]) + "\n"
    return dict(sorted((exported_name(m) + ".py", text) for m, text in out.items()))


def load_exported_code(folder: str | Path):
    """The modeling module of the exported code in ``folder``, imported as a fresh package
    (its ``BipeForCausalLM`` and ``BipeConfig``), without transformers' remote-code cache."""
    name = f"_bipe_hf_export_{next(_COUNTER)}"
    spec = importlib.util.spec_from_loader(name, None)
    assert spec is not None  # a name and no loader always make a spec
    package = importlib.util.module_from_spec(spec)
    package.__path__ = [str(folder)]
    sys.modules[name] = package
    return importlib.import_module(f"{name}.{MODELING_FILE[:-3]}")


def write_hf_folder(
    model: Transformer,
    out: str | Path,
    *,
    header: str,
    extras: Callable[[Path], None] | None = None,
    special_ids: dict[str, int] | None = None,
) -> None:
    """Write ``model`` to the new folder ``out`` (see the module docstring). ``special_ids``
    (``eos_token_id``, ``pad_token_id``, ...) go into config.json and generation_config.json;
    ``extras(folder)`` writes more files (tokenizer, model card). Everything is written to a
    temporary folder beside ``out`` and renamed into place at the end."""
    out = Path(out)
    if out.exists():
        raise ValueError(f"{out} exists; give a new folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        src, dst = work / "src", work / "out"
        src.mkdir()
        plugin_text, plugin_name = _plugin(model.config.pe)
        for name, text in source_files(header, plugin_text).items():
            (src / name).write_text(text)
        modeling = load_exported_code(src)
        config = modeling.BipeConfig(
            bipe_model=model.config.to_dict(), bipe_plugin=plugin_name, **(special_ids or {})
        )
        config.register_for_auto_class()
        hf = modeling.BipeForCausalLM(config)
        hf.model.load_state_dict(model.state_dict(), strict=True)
        hf.register_for_auto_class("AutoModelForCausalLM")
        _quiet_save(hf.eval(), dst)
        if extras is not None:
            extras(dst)
        dst.rename(out)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _plugin(pe: str) -> tuple[str | None, str | None]:
    """``(source text, entry name)`` of a plug-in encoding ``pe`` (``FILE.py:NAME`` or
    ``package.module:NAME``), ``(None, None)`` for a registry entry."""
    from .plugins import encoding_source, is_plugin

    if not is_plugin(pe):
        return None, None
    source = encoding_source(pe)
    if ":" not in pe or not source or not source.get("file"):
        raise ValueError(
            f"pe {pe!r}: only plug-ins named FILE.py:NAME or package.module:NAME can be exported"
        )
    return Path(source["file"]).read_text(), pe.rpartition(":")[2]


def read_hf_folder(folder: str | Path) -> Transformer:
    """The bipe Transformer of an exported folder (config and weights exact; no transformers
    needed). A folder that is not a bipe export is a ValueError naming the problem."""
    from safetensors.torch import load_file

    folder = Path(folder)
    cfg_path, weights = folder / "config.json", folder / "model.safetensors"
    if not cfg_path.is_file() or not weights.is_file():
        raise ValueError(
            f"{folder}: not a Hugging Face model folder (config.json, model.safetensors)"
        )
    try:
        raw = json.loads(cfg_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{cfg_path}: corrupt JSON ({err})") from None
    if not isinstance(raw, dict) or raw.get("model_type") != "bipe" or "bipe_model" not in raw:
        raise ValueError(f"{cfg_path}: not a bipe export (model_type 'bipe' with bipe_model)")
    config = ModelConfig.from_dict(raw["bipe_model"])
    state = {k.removeprefix("model."): v for k, v in load_file(str(weights)).items()}
    model = Transformer(config)
    if config.tie_embeddings and "embed.weight" in state:
        state.setdefault("head.weight", state["embed.weight"])
    expected = model.state_dict()
    if set(state) != set(expected):
        missing, extra = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
        raise ValueError(
            f"{weights}: weights do not match the config "
            f"(missing {missing[:3]}, unexpected {extra[:3]})"
        )
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()}, strict=True)
    return model.eval()


def _quiet_save(model, folder: Path) -> None:
    """``model.save_pretrained(folder)`` without transformers' progress bars."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        model.save_pretrained(folder)
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()
