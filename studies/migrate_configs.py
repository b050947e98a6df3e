"""Rewrite every committed ``studies/**/config.json`` in the current run-config format.

Each file is read as bipe reads a run (``upgrade_run_dict``: a flat ``data`` section of an older
version loses the keys of other families, which no task ever read), rebuilt as a
:class:`~bipe.experiments.config.RunConfig` and written back as ``config_to_dict`` of it, with
the bookkeeping keys (command line, version, resumes, evaluation provenance) kept as they were.
Idempotent: a file already in the current format is left untouched (not even rewritten), so it
can be re-run after new studies land. ``--check`` writes nothing and exits 1 if any file would
change.

    python studies/migrate_configs.py [--check] [ROOT]   # ROOT: default this folder
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bipe.experiments import rundir
from bipe.experiments.config import RunConfig, config_from_dict, config_to_dict, upgrade_run_dict
from bipe.experiments.rundir import write_json_atomic

# keys of a run folder's config.json that are not RunConfig fields (evaluation folders add two)
BOOKKEEPING = (*rundir.BOOKKEEPING, "evaluated_from", "eval_overrides")


def current_form(raw: dict[str, Any]) -> dict[str, Any]:
    """``raw`` (a config.json's content) in the current format."""
    body = {k: v for k, v in raw.items() if k not in BOOKKEEPING}
    config = config_from_dict(RunConfig, upgrade_run_dict(body))
    return {**config_to_dict(config), **{k: raw[k] for k in BOOKKEEPING if k in raw}}


def migrate(root: Path, *, write: bool = True) -> list[Path]:
    """The config.json files under ``root`` not in the current format (rewritten if ``write``)."""
    changed = []
    for path in sorted(root.rglob("config.json")):
        raw = json.loads(path.read_text())
        new = current_form(raw)
        if new != raw:
            changed.append(path)
            if write:
                write_json_atomic(path, new)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("root", nargs="?", default=str(Path(__file__).parent))
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 on changes")
    args = parser.parse_args(argv)
    changed = migrate(Path(args.root), write=not args.check)
    verb = "would rewrite" if args.check else "rewrote"
    print(f"{verb} {len(changed)} config.json file(s) under {args.root}")
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
