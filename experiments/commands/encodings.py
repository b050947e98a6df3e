"""``bipe encodings``: every positional encoding ``--pe`` accepts, built-in and plug-in.

For each entry: its name (the ``--pe`` value), where it comes from (``built-in``, the entry
point of an installed package, or the file or module a ``--pe SPEC`` names), its one-line
doc, its capabilities and the options it reads (name, type, default, doc), each settable as
``--model.opt.NAME VALUE``. A plug-in that cannot be imported is listed with the reason.
"""

from __future__ import annotations

import argparse

HELP = "list the positional encodings (built-in and plug-in) with their options"
EXAMPLE = "bipe encodings --pe examples/encodings/kerple/bipe_kerple/kerple.py:KERPLE_LOG"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--pe",
        action="append",
        default=[],
        metavar="SPEC",
        help="also describe this plug-in (FILE.py:NAME or package.module:NAME); repeatable; "
        "with --pe only the named encodings are listed",
    )


def run(args: argparse.Namespace) -> int:
    from bipe.models.plugins import plugin_entries, resolve_encoding
    from bipe.models.registry import REGISTRY

    if args.pe:
        listing = [(spec, _source(spec), _entry(resolve_encoding, spec)) for spec in args.pe]
    else:
        listing = [(name, "built-in", entry) for name, entry in REGISTRY.items()]
        for name, target in plugin_entries().items():
            source = f"entry point {target}"
            if name in REGISTRY:
                source += " (shadowed by the built-in of that name)"
            listing.append((name, source, _entry(resolve_encoding, name)))
    for name, source, entry in listing:
        print("\n".join(describe(name, source, entry)))
    return 0


def _entry(resolve, spec: str):
    try:
        return resolve(spec)
    except ValueError as err:
        if spec.count(":") == 1 or "/" in spec:
            raise  # a --pe SPEC the user named: its error is the answer
        return err


def _source(spec: str) -> str:
    from bipe.models.plugins import encoding_source

    found = encoding_source(spec)
    if found is None:
        return "built-in"
    where = found["file"] or "unknown file"
    return f"{found['kind']} {where} (sha256 {str(found['sha256'])[:12]})"


def describe(name: str, source: str, entry) -> list[str]:
    """The lines that describe one entry (``entry`` an EncodingEntry, or the error that kept
    it from importing)."""
    if isinstance(entry, Exception):
        return [f"{name}  [{source}]", f"  cannot import: {entry}"]
    lines = [f"{name}  [{source}]"]
    if entry.doc:
        lines.append(f"  {entry.doc}")
    caps = ", ".join(entry.capabilities()) or "none"
    params = "unknown" if entry.n_params is None else "formula given"
    lines.append(f"  capabilities: {caps}; parameter count: {params}")
    for option in entry.options:
        kind = getattr(option.type, "__name__", option.type)
        lines.append(
            f"  --model.opt.{option.name} ({kind}, default {option.default!r}): {option.doc}"
        )
    if not entry.options:
        lines.append("  options: none")
    return lines
