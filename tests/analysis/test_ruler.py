"""RULER's effective length (analysis/ruler.py): the worked example, runs that never learned,
and the per-variant table."""

from __future__ import annotations

import math
from pathlib import Path

from bipe.analysis.ruler import effective_length, effective_length_blocks
from bipe.analysis.runs import Run


def _rows(*pairs):
    return [{"length": n, "accuracy": a} for n, a in pairs]


def test_worked_example_the_score_must_stay_above_the_threshold():
    rows = _rows((256, 0.92), (512, 0.85), (1024, 0.40), (2048, 0.88))
    assert effective_length(rows, 256) == (0.92, 512)
    assert effective_length(_rows((256, 0.9), (512, 0.8), (1024, 0.81)), 256) == (0.9, 1024)
    assert effective_length(_rows((256, 0.9), (512, 0.79)), 256) == (0.9, 256)


def test_a_run_that_did_not_learn_has_no_effective_length():
    assert effective_length(_rows((256, 0.3), (512, 0.3)), 256) == (0.3, None)
    base, length = effective_length(_rows((512, 0.9)), 256)
    assert math.isnan(base) and length is None


def _run(name, task, scores):
    config = {"task": task, "data": {"context": 256}, "init_seed": 0}
    evaluation = {"per_length": _rows(*zip((256, 512, 1024), scores, strict=True))}
    return Run(path=Path(name), config=config, evaluation=evaluation)


def test_table_per_variant_only_for_ruler_runs():
    runs = {
        "bipe_rope": {
            ("0", "0"): _run("a", "ruler:niah_multikey", (1.0, 1.0, 0.95)),
            ("0", "1"): _run("b", "ruler:niah_multikey", (0.9, 0.7, 0.7)),
        },
        "rope": {("0", "0"): _run("c", "ruler:niah_multikey", (0.2, 0.0, 0.0))},
        "other": {("0", "0"): _run("d", "passkey", (1.0, 1.0, 1.0))},
    }
    table = effective_length_blocks(runs)[-1]
    assert table.rows == (
        ("bipe_rope", "2", "0.950", "1024, 256", "640"),
        ("rope", "1", "0.200", "not learned", "-"),
    )
    assert effective_length_blocks({"x": runs["other"]}) == []
