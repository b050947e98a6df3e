"""Stamp committed study runs with the training numerics they were produced under.

Run folders written before ``config.json["code"]`` existed (bipe/provenance.py) say nothing
about the code that produced them. This script adds, from the evidence stated in ``STAMPS``, a
record marked as added after the fact::

    "code": {"numerics": 2, "stamped": true, "evidence": "..."}

It never touches a run that recorded its own code, leaves runs already carrying the same stamp
as they are (running it twice changes nothing), and replaces an earlier stamp when the table
changes. Usage, from the repository root::

    python studies/stamp_code.py                 # every study in the table
    python studies/stamp_code.py hierarchy text  # only these
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

from bipe.provenance import stamp_record, stamp_run

HERE = Path(__file__).resolve().parent

REPRODUCED = (
    "re-trained with the code of 2026-12-06 (numerics 2, fused-AdamW step), the committed "
    "configs reproduced these runs' training losses and evaluation bit for bit (measured on the "
    "Intel development machines; another CPU can differ in the last digits by floating-point "
    "order)"
)
PREDATES = (
    "trained before the fused-AdamW step (commit e85912d): re-running study 1's bipe_rope seed 0 "
    "with numerics-2 code gives continuation_valid 0.34 at 10 segments instead of the committed "
    "0.705, while the code of commit 09df573 reproduces the committed run exactly; studies 1, 1b "
    "and 3 were trained by the same code in the same period"
)
RERUN = (
    "re-run on 2026-12-06 with the code of commit 0ae17a4 (numerics 2, fused-AdamW step) on a "
    "2-core AMD EPYC machine, to replace a run that predated it; that code wrote run folders "
    "before runs recorded their own code"
)
# Studies 1, 1b and 3 are being re-run under numerics 2. A study's file RERUN (one run folder
# per line, relative to the study) lists the runs re-run so far: those are stamped RERUN, the
# others PREDATES.
RERUN_STUDIES = ("segment_count", "segment_count_slopes", "robustness")
RERUN_LIST = "RERUN"

STAMPS: dict[str, tuple[int, str]] = {
    **{
        name: (2, REPRODUCED)
        for name in (
            "segment_count_newer_encodings",  # study 1, the newer encodings
            "segmentation",  # study 2
            "heavy_tails",  # study 4
            "overflow",  # study 4b
            "hierarchy",  # study 5
            "width",  # study 6 (6b reads its runs)
            "passkey",  # study 7
            "text",  # study 7
            "text_prose",  # study 7
            "arith_remedy",  # study 8
        )
    },
    **{name: (1, PREDATES) for name in RERUN_STUDIES},
}


def rerun_folders(name: str) -> set[Path]:
    """The run folders of ``studies/NAME`` listed in its RERUN file (none without one)."""
    listed = HERE / name / RERUN_LIST
    if not listed.exists():
        return set()
    lines = [line.strip() for line in listed.read_text().splitlines()]
    return {(HERE / name / line).resolve() for line in lines if line and not line.startswith("#")}


def stamp_study(name: str) -> Counter:
    """Stamp every run folder (a folder with config.json) below ``studies/NAME``."""
    record = stamp_record(*STAMPS[name])
    rerun, counts = rerun_folders(name), Counter()
    for config in sorted((HERE / name).rglob("config.json")):
        run = config.parent.resolve()
        counts[stamp_run(run, stamp_record(2, RERUN) if run in rerun else record)] += 1
    missing = sorted(
        str(p) for p in rerun - {c.parent.resolve() for c in (HERE / name).rglob("config.json")}
    )
    if missing:
        raise ValueError(f"{name}/{RERUN_LIST} lists folders without a run: {missing[:3]}")
    return counts


def main(argv: list[str]) -> int:
    names = argv or list(STAMPS)
    unknown = [n for n in names if n not in STAMPS]
    if unknown:
        print(f"stamp_code: no stamp for {unknown}; known: {', '.join(STAMPS)}", file=sys.stderr)
        return 2
    for name in names:
        counts = stamp_study(name)
        said = ", ".join(f"{n} {what}" for what, n in sorted(counts.items())) or "no runs"
        rerun = f" ({len(rerun_folders(name))} re-run: 2)" if name in RERUN_STUDIES else ""
        print(f"{name}: numerics {STAMPS[name][0]}{rerun}: {said}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
