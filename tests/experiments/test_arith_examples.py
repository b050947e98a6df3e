"""ArithTask's examples from the sampler's arrays equal those built from dict records.

The reference below is the per-record construction the task used before it consumed
:class:`~bipe.synthetic.arithmetic.ArithBatch`; generating and loading a saved dataset must
both give exactly its arrays.
"""

from __future__ import annotations

import numpy as np
import pytest

from bipe.experiments.presets import build_config
from bipe.experiments.tasks import IGNORE, get_task
from bipe.synthetic.arithmetic import generate_arithmetic, vocab
from bipe.synthetic.dataset import write_dataset


def _from_records(records: list[dict]) -> dict:
    """Inputs, targets, oracle positions, settings and extras, one record at a time."""
    inputs, targets, oracle = [], [], []
    for r in records:
        tokens = np.asarray(r["tokens"], dtype=np.int64)  # (T,)
        target = tokens[1:].copy()  # (T-1,)
        target[: r["prompt_len"] - 1] = IGNORE
        inputs.append(tokens[:-1])
        targets.append(target)
        oracle.append((np.asarray(r["seg"][:-1]), np.asarray(r["intra"][:-1])))
    return {
        "inputs": inputs,
        "targets": targets,
        "oracle": oracle,
        "setting": [r["n_operators"] for r in records],
        "prompt_len": [r["prompt_len"] for r in records],
        "tokens": [r["tokens"] for r in records],
    }


def _assert_same(ex, want: dict) -> None:
    assert len(ex) == len(want["inputs"])
    for got, ref in ((ex.inputs, want["inputs"]), (ex.targets, want["targets"])):
        assert all(
            g.dtype == np.int64 and np.array_equal(g, r) for g, r in zip(got, ref, strict=True)
        )
    for (seg, intra), (s, i) in zip(ex.oracle, want["oracle"], strict=True):
        assert np.array_equal(seg, s) and np.array_equal(intra, i)
    assert ex.setting.dtype == np.int64 and ex.setting.tolist() == want["setting"]
    assert ex.extra["prompt_len"].tolist() == want["prompt_len"]
    assert [t.tolist() for t in ex.extra["tokens"]] == want["tokens"]


@pytest.mark.parametrize(
    ("task_name", "fmt", "setting"),
    [("arith", "feng", None), ("arith", "steps", 4), ("arith_direct", "feng", 2)],
)
def test_generated_examples_equal_those_of_the_records(task_name, fmt, setting):
    config = build_config("tiny", task=task_name, overrides={"data.fmt": fmt})
    task = get_task(task_name)
    ex = task.generate(np.random.default_rng(3), config.data, None, 25, setting)
    spec = config.data.operators if setting is None else f"fixed:{setting}"
    records = generate_arithmetic(
        np.random.default_rng(3),
        25,
        operators=spec,
        modulus=config.data.modulus,
        fmt=task.fmt(config.data),
    )
    _assert_same(ex, _from_records(records))


def test_loaded_examples_equal_those_of_the_records(tmp_path):
    config = build_config("tiny", task="arith", overrides={"data.operators": "uniform:1:3"})
    records = generate_arithmetic(np.random.default_rng(4), 30, operators="uniform:1:3")
    meta = {
        "generator": "arith",
        "arith_format": "feng",
        "modulus": 11,
        "vocab": list(vocab(11)),
        "separators": [9, 2],
        "config": {},
        "seed": 0,
    }
    write_dataset(tmp_path / "d", records, meta)
    task = get_task("arith")
    _assert_same(task.load(str(tmp_path / "d"), config.data, None), _from_records(records))
