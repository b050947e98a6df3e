"""Text tasks: both evaluation protocols against a slow per-token reference on a tiny model,
the metrics' arithmetic, and the passkey task's examples and scoring."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from bipe.experiments.tasks import IGNORE
from bipe.experiments.tasks.text import PasskeyTask, TextLMTask, token_scores
from bipe.models.config import ModelConfig
from bipe.models.transformer import Transformer
from bipe.synthetic.text.data import TextDataConfig, load_text
from bipe.synthetic.text.passkey import min_passkey_length

torch.set_num_threads(1)


def _corpus(tmp_path, n=30):
    root = tmp_path / "corpus"
    root.mkdir()
    for i in range(n):
        (root / f"m{i:02d}.py").write_text(f"def f{i}(x):\n    return x * {i}\n\n\ny = {i}.\n")
    return root


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = _corpus(tmp_path_factory.mktemp("text"))
    data = TextDataConfig(
        corpus="files", files=(str(root),), context=8, eval_tokens=90, validation=0.3, test=0.2
    )
    world = load_text(data)
    task = TextLMTask()
    cfg = ModelConfig(
        task.vocab_size(data, world),
        16,
        1,
        2,
        pe="bipe_rope",
        separators=task.separators(data, world),
        max_intra=64,
        compute_dtype="float32",
    )
    torch.manual_seed(0)
    model = Transformer(cfg).eval()
    return data, world, task, model


def _reference_nll(model, stream, index, start) -> float:
    """NLL of stream[index] given stream[start:index] alone (one forward per token)."""
    with torch.no_grad():
        logits = model(torch.from_numpy(stream[start:index][None]))[0, -1]  # (V,)
    return float(-torch.log_softmax(logits.double(), -1)[stream[index]])


@pytest.mark.parametrize("protocol,stride", [("chunks", 0), ("sliding", 3), ("sliding", 8)])
def test_protocols_against_slow_reference(setup, protocol, stride):
    data, world, task, model = setup
    data = TextDataConfig(**{**data.__dict__, "protocol": protocol, "stride": stride})
    length = 16
    examples = task.generate(None, data, world, 0, length)
    stream = world.streams[data.eval_split]

    def forward(rows):
        return model(torch.from_numpy(np.stack([examples.inputs[i] for i in rows])))

    nll, _ = token_scores(forward, examples.targets, 3)
    got = {}
    for k, start in enumerate(examples.extra["start"]):
        for j in np.flatnonzero(examples.targets[k] != IGNORE):
            got[int(start + j + 1)] = nll[k, j]
    step = length if protocol == "chunks" else min(stride or data.context, length)
    last_start = int(examples.extra["start"][-1])
    want = {}
    for i in range(1, last_start + length + 1):  # reference: the context each protocol gives
        window = max(0, math.ceil((i - length) / step))
        want[i] = _reference_nll(model, stream, i, window * step)
    assert sorted(got) == sorted(want)
    assert np.allclose([got[i] for i in want], list(want.values()), atol=2e-4)
    metrics = task.metrics(examples, world, data, forward, None, 4)
    assert metrics["loss"] == pytest.approx(np.mean(list(want.values())), abs=2e-4)
    assert metrics["perplexity"] == pytest.approx(math.exp(metrics["loss"]), rel=1e-9)
    n_bytes = sum(int(world.token_bytes[stream[i]]) for i in want)
    assert metrics["bits_per_byte"] == pytest.approx(
        sum(want.values()) / math.log(2) / n_bytes, abs=1e-4
    )
    by_pos = metrics["loss_by_position"]
    assert [b["from"] for b in by_pos] == [0, 8] and sum(b["tokens"] for b in by_pos) == len(want)
    assert sum(b["tokens"] for b in metrics["loss_by_segment"]) == len(want)


def test_segment_profile_buckets(setup):
    from bipe.experiments.tasks.text import segment_profile

    inputs = np.array([[1, 9, 1, 9, 1, 1, 9, 1]])  # segment index 0 0 1 1 2 2 2 3
    nll = np.arange(8, dtype=np.float64)[None]
    rows = segment_profile(nll, np.ones_like(nll, dtype=bool), inputs, [9])
    assert [(r["from"], r["to"], r["tokens"], r["loss"]) for r in rows] == [
        (0, 0, 2, 0.5),
        (1, 2, 5, 4.0),
        (3, 6, 1, 7.0),
    ]


def test_training_windows_are_stream_pieces(setup):
    data, world, task, _ = setup
    ex = task.generate(np.random.default_rng(0), data, world, 20, None)
    stream = world.streams["train"].tolist()
    for x, y in zip(ex.inputs, ex.targets, strict=True):
        assert len(x) == data.context and x[1:].tolist() == y[:-1].tolist()
        assert any(stream[s : s + 9] == [*x.tolist(), int(y[-1])] for s in range(len(stream)))


def test_passkey_task_examples_and_exact_match(setup):
    data, world, _, _ = setup
    task = PasskeyTask()
    data = TextDataConfig(**{**data.__dict__, "context": 96})
    train = task.generate(np.random.default_rng(1), data, world, 12, None)
    assert all(60 <= len(x) + 1 <= 96 for x in train.inputs)
    # the reported training range starts at the shortest example, not at context // 4 = 24
    shortest = min_passkey_length(world.tokenizer, data.passkey_digits)
    assert task.train_range(data) == (shortest, 96) and shortest > 24
    assert (
        min(
            len(x) + 1
            for x in task.generate(np.random.default_rng(3), data, world, 200, None).inputs
        )
        >= shortest
    )
    ev = task.generate(np.random.default_rng(2), data, world, 10, 120)
    assert {len(x) for x in ev.inputs} == {119}
    assert [e.depth for e in ev.extra["examples"]] == [0.0, 0.25, 0.5, 0.75, 1.0] * 2
    for x, y, e in zip(ev.inputs, ev.targets, ev.extra["examples"], strict=True):
        scored = y[y != IGNORE]
        assert world.tokenizer.decode(scored) == e.key and len(scored) == e.n_answer
        assert (
            x[: len(x) - e.n_answer + 1].tolist() == e.tokens[: len(e.tokens) - e.n_answer].tolist()
        )

    def oracle(prompts, max_new, eos):  # answers right for even rows only
        rows = []
        for i, p in enumerate(prompts):
            e = next(
                e
                for e in ev.extra["examples"]
                if len(p) == len(e.tokens) - e.n_answer and (e.tokens[: len(p)] == p).all()
            )
            rows.append(e.tokens[-e.n_answer :] if i % 2 == 0 else np.zeros(max_new, np.int64))
        return np.stack(rows)

    got = task.metrics(ev, world, data, None, oracle, 10)
    assert got["accuracy"] == 0.5
    assert [d["accuracy"] for d in got["by_depth"]] == [0.5] * 5
