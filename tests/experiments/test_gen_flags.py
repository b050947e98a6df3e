"""bipe gen's flags: ``--data.*`` derived from the family config (bipe train's convention), the
spellings from before it refused, and the same settings meaning the same automaton as in
training."""

import json

import numpy as np
import pytest

from bipe.automata import missing_lengths
from bipe.experiments.cli import main
from bipe.experiments.tasks import TASKS
from bipe.experiments.train import WORLD, stream
from bipe.synthetic.families import FAMILIES
from bipe.synthetic.sequence_data import AutomatonData
from bipe.synthetic.sequences import load_automaton

# the spellings before ``--data.*`` (removed): refused, never read
REMOVED = {
    "binfa": ["--n-symbols", "3"],
    "nfa": ["--segments", "uniform:1:3"],
    "binfa3": ["--segment-length", "fixed:2"],
    "arith": ["--operators", "3"],
}


@pytest.mark.parametrize("kind", sorted(REMOVED))
def test_the_removed_spellings_are_refused(tmp_path, capsys, kind):
    assert main(["gen", kind, *REMOVED[kind], "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert REMOVED[kind][0] in err and err.count("\n") == 1, err
    assert not (tmp_path / "x").exists()


def test_gen_settings_draw_the_training_automaton(tmp_path):
    args = [
        "--data.n_symbols",
        "3",
        "--data.segments",
        "uniform:2:4",
        "--data.eval_lengths",
        "2,9",
        "--data.eval_segment_length",
        "uniform:1:5",
        "--data.n_train",
        "5",
    ]
    assert main(["gen", "binfa", *args, "--seed", "6", "--out", str(tmp_path / "g")]) == 0
    meta = json.loads((tmp_path / "g" / "meta.json").read_text(encoding="utf-8"))
    data = AutomatonData(
        n_symbols=3, segments="uniform:2:4", eval_lengths=(2, 9), eval_segment_length="uniform:1:5"
    )
    world = TASKS["binfa_lm"].setup(stream(6, WORLD), data)
    assert world.binfa.to_dict() == meta["automaton"]
    assert meta["config"]["eval_lengths"] == [2, 9]
    assert meta["config"]["eval_segment_length"] == "uniform:1:5"
    # the evaluation settings shape the automaton: it realises 9 segments and length 5
    binfa = load_automaton(tmp_path / "g")
    assert missing_lengths(binfa.outer, [2, 3, 4, 9]) == []
    assert any(missing_lengths(inner, [5]) == [] for inner in binfa.inner)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["binfa", "--data.path", "somewhere"], "unknown config key 'data.path'"),
        (["arith", "--data.n_symbols", "3"], "unknown config key 'data.n_symbols'"),
        (["binfa", "--data.n_types", "two"], "data.n_types expects int, got 'two'"),
        (["binfa", "--data.n_train", "0"], "--data.n_train must be at least 1"),
        (["arith", "--data.operators", "3"], "malformed length spec '3'"),
        (["binfa", "--automaton", "{auto}", "--data.eval_lengths", "2,3"], "cannot be combined"),
    ],
)
def test_bad_flags_are_one_line_exit_2(tmp_path, capsys, args, message):
    assert main(["gen", "binfa", "--data.n_train", "3", "--out", str(tmp_path / "a")]) == 0
    capsys.readouterr()
    argv = [a.replace("{auto}", str(tmp_path / "a")) for a in args]
    assert main(["gen", *argv, "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
    assert not (tmp_path / "x").exists()


def test_help_lists_the_data_options(capsys):
    for kind, key in (("binfa", "--data.segment_length"), ("arith", "--data.operators")):
        with pytest.raises(SystemExit):
            main(["gen", kind, "--help"])
        out = capsys.readouterr().out
        assert key in out and "deprecated" not in out


def test_family_datasets_agree_with_the_sequence_config_path():
    from bipe.synthetic.sequences import SequenceConfig, generate_dataset

    data = AutomatonData(n_train=7, n_symbols=2, segments="uniform:1:3")
    records, meta = FAMILIES["automaton"].generate_dataset(
        data, 3, kind="nfa", length="uniform:3:9"
    )
    config = SequenceConfig(
        kind="nfa", n=7, n_symbols=2, segments="uniform:1:3", length="uniform:3:9"
    )
    again, meta_again = generate_dataset(config, 3)
    assert meta == meta_again
    for a, b in zip(records, again, strict=True):
        assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
