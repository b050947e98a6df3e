"""A run's automaton data is ``bipe gen``'s: with data seed S, ``bipe train`` trains on exactly
the records ``bipe gen KIND --seed S`` writes with the same data flags (token for token, with
positions and state labels), also above the sampler's chunk size; and the training sets of the
committed studies' configs are pinned (hashes computed on the code before the two paths were
unified: training data did not move)."""

import hashlib

import numpy as np
import pytest
from experiment_helpers import TINY_AUTOMATON_FLAGS

from bipe.experiments.cli import command_parser, main
from bipe.experiments.commands.train import config_from_args
from bipe.experiments.prepare import EVAL, prepare, stream
from bipe.experiments.presets import build_config
from bipe.experiments.tasks.automaton import Ragged
from bipe.synthetic import sequence_sampling
from bipe.synthetic.dataset import load_dataset
from bipe.synthetic.sequence_data import flat_length_spec

# the tiny preset's automaton settings, spelled as flags both commands take
FLAGS = [*TINY_AUTOMATON_FLAGS, "--data.eval_lengths", "1,2,3"]
# task -> (bipe gen kind and its dataset-only flags, bipe train's extra flags)
CASES = {
    "binfa_lm": (["binfa"], []),
    "binfa_state": (["binfa", "--deterministic"], []),
    "binfa3_lm": (
        ["binfa3", "--sub-segments", "uniform:1:2"],
        ["--data.sub_segments", "uniform:1:2"],
    ),
    "nfa_lm": (["nfa", "--length", flat_length_spec("uniform:1:3", "uniform:1:3")], []),
}
SEED, N, SMALL_CHUNK = 7, 150, 64  # 150 sequences: three chunks of at most 64


def _train_set(task: str, extra: list[str], n: int = N):
    parser, _ = command_parser("train")
    args = parser.parse_args(
        ["--task", task, "--data_seed", str(SEED), "--data.n_train", str(n), *FLAGS, *extra]
    )
    return prepare(config_from_args(args))


def _same_examples(a, b) -> bool:
    """Equal inputs, targets, settings, oracle positions and full token rows."""
    rows = [
        (a.inputs, b.inputs),
        (a.targets, b.targets),
        (a.extra["tokens"], b.extra["tokens"]),
        ([x for pair in a.oracle for x in pair], [x for pair in b.oracle for x in pair]),
    ]
    return np.array_equal(a.setting, b.setting) and all(
        len(x) == len(y) and all(np.array_equal(u, v) for u, v in zip(x, y, strict=True))
        for x, y in rows
    )


@pytest.mark.parametrize("task", sorted(CASES))
def test_a_run_trains_on_the_records_bipe_gen_writes(tmp_path, monkeypatch, task):
    monkeypatch.setattr(sequence_sampling, "DRAW_CHUNK", SMALL_CHUNK)
    gen_args, train_args = CASES[task]
    assert (
        main(
            [
                "gen",
                *gen_args,
                "--seed",
                str(SEED),
                "--data.n_train",
                str(N),
                *FLAGS,
                "--out",
                str(tmp_path / "g"),
            ]
        )
        == 0
    )
    records = load_dataset(tmp_path / "g").records
    prepared = _train_set(task, train_args)
    assert prepared.world.binfa.to_dict() == load_dataset(tmp_path / "g").meta["automaton"]
    tokens = prepared.train.extra["tokens"]
    assert len(tokens) == len(records) == N
    assert all(np.array_equal(t, r["tokens"]) for t, r in zip(tokens, records, strict=True))
    states = task == "binfa_state"
    from_records = prepared.task._examples(Ragged.of_records(records, states), prepared.config.data)
    assert _same_examples(prepared.train, from_records)  # positions, state targets, settings
    if states:  # the deterministic kind's labels are complete: every target is scored
        assert all((t >= 0).all() for t in prepared.train.targets)


def test_the_chunk_size_is_part_of_the_training_set(monkeypatch):
    one_chunk = _train_set("binfa_lm", []).train
    monkeypatch.setattr(sequence_sampling, "DRAW_CHUNK", SMALL_CHUNK)
    chunked = _train_set("binfa_lm", []).train
    assert not _same_examples(one_chunk, chunked)  # so the test above reads the constant


def examples_hash(examples) -> str:
    """sha256 over the token rows (concatenated), their lengths and the targets."""
    digest = hashlib.sha256()
    tokens = examples.extra["tokens"]
    digest.update(np.concatenate(tokens).astype(np.int64).tobytes())
    digest.update(np.array([len(t) for t in tokens], np.int64).tobytes())
    digest.update(
        np.concatenate([np.asarray(t, np.int64).ravel() for t in examples.targets]).tobytes()
    )
    return digest.hexdigest()


# the studies' data settings (studies/segment_count/grid.toml, hierarchy/grid.toml and
# heavy_tails' heaviest segment law), data_seed 0, 20000 training sequences
STUDY = {
    "data.segments": "uniform:2:6",
    "data.segment_length": "uniform:1:4",
    "data.eval_lengths": "2,4,6,8,10,12,15,18",
    "data.n_train": "20000",
    "data.n_eval": "200",
    "data_seed": "0",
}
STUDIES = {
    "segment_count": ("binfa_lm", STUDY),
    "hierarchy": (
        "binfa3_lm",
        {
            **STUDY,
            "data.segments": "uniform:2:4",
            "data.sub_segments": "uniform:2:4",
            "data.eval_lengths": "2,3,4,6,8,10,12",
        },
    ),
    "heavy_tails": ("binfa_lm", {**STUDY, "data.segment_length": "zipf:1.5:48"}),
}
STUDY_PINS = {
    "segment_count": "978fadb5a4a65cc15b8e54ba0be46610a21842176323f254d98df4d076d2933f",
    "hierarchy": "078a853c043c5ad693facd072a9625d33632b5d341f37f048e6990b45a7bb188",
    "heavy_tails": "95f34aea018c8cf8f3899a523c01f35978a83d23c20730d4e24714f649399072",
}
# tiny preset, data_seed 3, 300 training sequences: (training set, evaluation set at 3 segments)
TASK_PINS = {
    "binfa_lm": (
        "cc3928912677b60a44e63a86ea254c31faa0ee7e6bf94316449aa890c2f3a0cd",
        "3fc14f5fb6402178fe19c539caf524733e783ca5f8ac1cfb6132976410d1f8f1",
    ),
    "binfa_state": (
        "f01646f222d3b9063b83fad822cec7fbe866b3ddfdbeda4d889ffe0545974589",
        "6d8ef388b112e4661808afc59fd88e63e949f6e355c226b75b7f189bebdb5b6e",
    ),
    "binfa3_lm": (
        "dd4c46405418d9ae904625c54e73f1863a053a6740fc48d3abd8b79357952650",
        "8f0543a9ca2d1a7a1116fb02fcb566fc8c58fcbc4ca29a76e63e4878e6a517cc",
    ),
    "nfa_lm": (
        "ff87de2609545b816a9aedea0fac9258709b6b3f8503011b969aeca3efaeccc9",
        "39b05cd31ad867e65111296afaed9a0971ffca15ac441fe9136337a8f8063b4a",
    ),
}


@pytest.mark.parametrize("study", sorted(STUDIES))
def test_study_training_sets_are_pinned(study):
    task, overrides = STUDIES[study]
    prepared = prepare(build_config("demo", task=task, overrides=overrides))
    assert examples_hash(prepared.train) == STUDY_PINS[study]


def test_a_study_evaluation_set_is_pinned():
    config = build_config("demo", task="binfa_lm", overrides=STUDY)
    prepared = prepare(config)
    examples = prepared.task.generate(stream(0, EVAL, 18), config.data, prepared.world, 200, 18)
    assert (
        examples_hash(examples)
        == "3df2c8d7f50caaf4aa726b66bb261b90744e72d067e8b1ac22d6a34c87f60213"
    )


@pytest.mark.parametrize("task", sorted(TASK_PINS))
def test_task_training_and_evaluation_sets_are_pinned(task):
    config = build_config("tiny", task=task, overrides={"data_seed": "3", "data.n_train": "300"})
    prepared = prepare(config)
    examples = prepared.task.generate(stream(3, EVAL, 3), config.data, prepared.world, 16, 3)
    assert (examples_hash(prepared.train), examples_hash(examples)) == TASK_PINS[task]
