"""binfa3_lm: 3-level examples, positions and oracle, end-to-end runs, saved datasets, refusals."""

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bipe.experiments.cli import main
from bipe.experiments.config import config_from_dict
from bipe.experiments.presets import build_config
from bipe.experiments.tasks import get_task
from bipe.experiments.tasks.automaton import Ragged
from bipe.experiments.train import WORLD, stream
from bipe.models.positions import default_positions
from bipe.synthetic.sequence_data import AutomatonData
from bipe.synthetic.sequences import SequenceBatch
from bipe.testing.strategies import scaled_examples

torch.set_num_threads(1)

TASK = get_task("binfa3_lm")
RUN = [
    "train",
    "--task",
    "binfa3_lm",
    "--preset",
    "tiny",
    "--train.steps",
    "4",
    "--data.n_train",
    "32",
    "--data.n_eval",
    "4",
    "--data.eval_lengths",
    "1,2,5",
    "--no-progress",
]


def _world(**overrides):
    config = build_config("tiny", task="binfa3_lm", overrides=overrides)
    return config, TASK.setup(stream(0, WORLD), config.data)


def _slow_positions(tokens, a):
    """(seg, intra, paragraph) by a loop: '#' (= a) and '$' (= a + 1) close a segment, '$' a
    paragraph; a separator is the last token of what it closes."""
    seg, intra, para, s, i, p = [], [], [], 0, 0, 0
    for tok in tokens:
        seg.append(s)
        intra.append(i)
        para.append(p)
        s, i = (s + 1, 0) if tok in (a, a + 1) else (s, i + 1)
        p += int(tok == a + 1)
    return seg, intra, para


def test_docstring_worked_example():
    tokens = np.array([0, 2, 1, 0, 2, 3, 1, 2, 3])
    batch = SequenceBatch(
        tokens=tokens,
        offsets=np.array([0, 9]),
        marks=np.stack([np.isin(tokens, [2, 3]), tokens == 3]),
    )
    ex = TASK._examples(Ragged.of_batch(batch), AutomatonData(n_symbols=2))
    assert ex.inputs[0].tolist() == [0, 2, 1, 0, 2, 3, 1, 2]
    assert ex.targets[0].tolist() == [2, 1, 0, 2, 3, 1, 2, 3]
    assert ex.oracle[0][0].tolist() == [0, 0, 1, 1, 1, 2, 3, 3]
    assert ex.oracle[0][1].tolist() == [0, 1, 0, 1, 2, 0, 0, 1]
    assert ex.setting.tolist() == [2]


@settings(max_examples=scaled_examples(8), deadline=None)
@given(seed=st.integers(0, 2**16), setting=st.sampled_from([None, 1, 4]))
def test_oracle_and_model_positions_equal_a_slow_reference(seed, setting):
    config, world = _world()
    ex = TASK.generate(np.random.default_rng(seed), config.data, world, 6, setting)
    a = config.data.n_symbols
    levels = TASK.model_separators(config.data, "hbipe")
    assert levels == ((a,), (a + 1,)) and TASK.separators(config.data) == (a, a + 1)
    for x, (seg, intra), tokens, n in zip(
        ex.inputs, ex.oracle, ex.extra["tokens"], ex.setting, strict=True
    ):
        want_seg, want_intra, want_para = _slow_positions(x.tolist(), a)
        assert seg.tolist() == want_seg and intra.tolist() == want_intra
        assert n == tokens.tolist().count(a + 1) and (setting is None or n == setting)
        pos = default_positions(torch.as_tensor(x)[None], levels)  # hbipe's own view
        assert pos.seg[0].tolist() == want_seg and pos.intra[0].tolist() == want_intra
        assert pos.outer[0][0].tolist() == want_para


def test_flattened_automaton_is_the_three_level_language():
    """The legality oracle (flatten().trim()) agrees with the level-by-level recogniser on
    sampled sequences and their one-token corruptions, and every sampled prefix is viable."""
    config, world = _world()
    ex = TASK.generate(np.random.default_rng(5), config.data, world, 30, None)
    rng = np.random.default_rng(6)
    rows = [t.copy() for t in ex.extra["tokens"]]
    for t in ex.extra["tokens"]:
        bad = t.copy()
        bad[rng.integers(len(t))] = rng.integers(world.binfa.vocab_size)
        rows += [bad, t[:-1]]
    width = max(len(r) for r in rows)
    padded = np.stack([np.pad(r, (0, width - len(r))) for r in rows])
    lengths = np.array([len(r) for r in rows])
    flat, levelwise = world.flat.accepts(padded, lengths), world.binfa.accepts(padded, lengths)
    assert np.array_equal(flat, levelwise)
    assert flat[:30].all() and not flat[30:][1::2].any()  # samples in; without the last '$' out
    viable = world.flat.viable_prefix_mask(padded[:30], lengths[:30])
    assert all(viable[i, : lengths[i] + 1].all() for i in range(30))


@pytest.mark.parametrize("pe", ["hbipe", "bipe_rope", "rope"])
def test_cli_trains_and_evaluates_per_paragraph_count(tmp_path, pe):
    out = tmp_path / pe
    assert main([*RUN, "--pe", pe, "--out", str(out)]) == 0
    result = json.loads((out / "eval.json").read_text())
    assert [r["length"] for r in result["per_length"]] == [1, 2, 5]
    for row in result["per_length"]:
        assert {"accuracy", "continuation_valid", "legal_mass", "legal_logprob"} <= set(row)
    config = json.loads((out / "config.json").read_text())
    want = [[3], [4]] if pe == "hbipe" else [3, 4]
    assert config["model"]["separators"] == want and config["data"]["sub_segments"] == ""


def test_gen_binfa3_dataset_trains_and_loads_like_generated_examples(tmp_path):
    from bipe.synthetic.dataset import load_dataset

    data = tmp_path / "three"
    assert (
        main(
            [
                "gen",
                "binfa3",
                "--data.n_train",
                "16",
                "--data.n_symbols",
                "3",
                "--data.segments",
                "uniform:1:3",
                "--sub-segments",
                "uniform:1:2",
                "--data.segment_length",
                "uniform:1:3",
                "--out",
                str(data),
            ]
        )
        == 0
    )
    assert (
        main(
            [
                *RUN,
                "--pe",
                "hbipe",
                "--data.path",
                str(data),
                "--data.segments",
                "uniform:1:3",
                "--data.sub_segments",
                "uniform:1:2",
                "--out",
                str(tmp_path / "run"),
            ]
        )
        == 0
    )
    assert json.loads((tmp_path / "run" / "eval.json").read_text())["per_length"]
    overrides = {"data.path": str(data), "data.sub_segments": "uniform:1:2"}
    config = build_config("tiny", task="binfa3_lm", overrides=overrides)
    world = TASK.setup(stream(0, WORLD), config.data)
    ex = TASK.load(str(data), config.data, world)
    records = load_dataset(data).records
    assert len(ex) == 16 and ex.setting.tolist() == [r["seg2"][-1] + 1 for r in records]
    assert world.flat.accepts(*_pad(ex.extra["tokens"])).all()


def _pad(rows):
    width = max(len(r) for r in rows)
    return (
        np.stack([np.pad(r, (0, width - len(r))) for r in rows]),
        np.array([len(r) for r in rows]),
    )


def _refused(capsys, argv) -> str:
    """The one-line error (exit status 2) of a refused command line."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    return err


def test_refusals(tmp_path, capsys):
    out = str(tmp_path / "x")
    for task in ("binfa_lm", "nfa_lm", "binfa_state"):
        err = _refused(
            capsys, [*RUN[:2], task, *RUN[3:], "--data.sub_segments", "fixed:2", "--out", out]
        )
        assert "data.sub_segments" in err and "2-level" in err
    assert "data.sub_segments" in _refused(
        capsys, [*RUN, "--data.sub_segments", "uniform:3", "--out", out]
    )
    two = tmp_path / "two"
    assert main(["gen", "binfa", "--data.n_train", "8", "--out", str(two)]) == 0
    assert "binfa3" in _refused(capsys, [*RUN, "--data.path", str(two), "--out", out])
    three = tmp_path / "three"
    assert (
        main(
            [
                "gen",
                "binfa3",
                "--data.n_train",
                "8",
                "--sub-segments",
                "uniform:1:2",
                "--out",
                str(three),
            ]
        )
        == 0
    )
    assert "--data.sub_segments uniform:1:2" in _refused(
        capsys, [*RUN, "--data.path", str(three), "--out", out]
    )
    assert not (tmp_path / "x").exists()


def test_old_configs_without_sub_segments_load():
    data = config_from_dict(AutomatonData, {"segments": "uniform:2:4"}, where="data")
    assert data.sub_segments == "" and TASK.sub_segments(data) == "uniform:2:4"
