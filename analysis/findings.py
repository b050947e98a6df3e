"""The headline findings: one row per study, generated into docs/results.md and into a marked
block of the README, so the front page cannot drift from the committed runs.

A study's row is its headline pair (``headline`` in ``study.toml``, else its first pair),
named before the row is computed: for a length study, ``a - b`` in its first metric averaged
over the lengths above the training range, paired by seed, with the 95% Student-t interval
across seeds (one test per study, so no per-length selection enters the table); for a width
study, the same pair at the smallest width both variants trained in every size and seed.
The claim is the sentence the interval supports (:func:`bipe.analysis.stats.verdict`); the
measure says "partial" while fewer of the study's own runs are in than its grid files plan.

Worked example of the README block this module rewrites::

    <!-- findings:start -->
    | study | claim | measure | paired difference [95% CI] |
    |---|---|---|---:|
    | [Study 7 (passkey): ...](docs/results.md#study-7-passkey-...) | bipe_rope higher than
      rope (3 seeds) | `accuracy`, mean past training | 0.991 [0.966, 1.016] |
    <!-- findings:end -->
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bipe.fileio import write_text_atomic

from .stats import verdict
from .studies import StudySpec, above_train_interval, evaluated_runs, run_counts, study_runs
from .width_results import equal_width_intervals

__all__ = [
    "Finding",
    "START",
    "END",
    "findings_table",
    "readme_block",
    "replace_block",
    "study_finding",
]

START, END = "<!-- findings:start -->", "<!-- findings:end -->"
NOT_RUN = "not run yet: the grid is committed (its NOTES.md says how to run it)"


@dataclass(frozen=True, kw_only=True)
class Finding:
    """One row of the headline table."""

    title: str
    claim: str
    measure: str
    difference: str


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lowercase, punctuation dropped, spaces -> hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def study_finding(spec: StudySpec) -> Finding:
    """The row of one study (a row saying so when its headline pair has no evaluated runs)."""
    pair = spec.headline_pair
    metric = spec.metrics[0]
    missing = Finding(
        title=spec.title,
        claim=spec.pending or NOT_RUN,
        measure="-",
        difference="-",
    )
    if pair is None:
        return missing
    a, b = pair
    if spec.width is not None:
        found = equal_width_intervals(evaluated_runs(spec), spec.width, metric, [pair])
        if not found:
            return missing
        *_, width, n_sizes, iv = found[0]  # the smallest width both trained everywhere
        measure = f"`{metric}` at width {width}, mean over {n_sizes} sizes"
    else:
        runs = study_runs(spec)
        iv = above_train_interval(runs, a, b, metric)
        if iv is None:
            return missing
        measure = f"`{metric}`, mean past training"
        own, planned = run_counts(spec, runs)
        if own < planned:  # the headline pair is in, the rest of the grid is not
            measure += f" (partial: {own} of the grid's {planned} runs)"
    return Finding(
        title=spec.title,
        claim=verdict(spec.label(a), spec.label(b), iv),
        measure=measure,
        difference=iv.format(3),
    )


def findings_table(specs: Sequence[StudySpec], link: str) -> str:
    """The Markdown table of every study's finding; titles link to ``link#anchor``."""
    lines = [
        "| study | claim | measure | paired difference [95% CI] |",
        "|---|---|---|---:|",
    ]
    for spec in specs:
        f = study_finding(spec)
        lines.append(
            f"| [{f.title}]({link}#{slug(f.title)}) | {f.claim} | {f.measure} | {f.difference} |"
        )
    return "\n".join(lines)


def readme_block(text: str, path: Path | str = "README") -> str:
    """The text between the findings markers of ``text`` (without the markers' lines)."""
    if text.count(START) != 1 or text.count(END) != 1 or text.index(START) > text.index(END):
        raise ValueError(f"{path}: needs one {START} line followed by one {END} line")
    return text.split(START, 1)[1].split(END, 1)[0].strip("\n")


def replace_block(text: str, table: str, path: Path | str = "README") -> str:
    """``text`` with the findings block replaced by ``table``."""
    readme_block(text, path)  # validates the markers
    head, rest = text.split(START, 1)
    tail = rest.split(END, 1)[1]
    return f"{head}{START}\n{table}\n{END}{tail}"


def write_readme_block(path: Path | str, table: str) -> Path:
    """Rewrite the findings block of the file at ``path`` (atomically)."""
    path = Path(path)
    return write_text_atomic(path, replace_block(path.read_text(), table, path))
