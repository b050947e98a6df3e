"""bipe gen's flags: ``--data.*`` derived from the family config (bipe train's convention), the
deprecated spellings as aliases giving the same bytes, and the same settings meaning the same
automaton as in training."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bipe.automata import missing_lengths
from bipe.experiments.cli import command_parser, main
from bipe.experiments.commands.gen import family_config
from bipe.experiments.tasks import TASKS
from bipe.experiments.train import WORLD, stream
from bipe.synthetic.families import FAMILIES
from bipe.synthetic.sequence_data import AutomatonData
from bipe.synthetic.sequences import load_automaton
from bipe.testing.strategies import scaled_examples

# (old spelling, new spelling) pairs per kind: the datasets must be byte-identical
PAIRS = {
    "binfa": (
        [
            "--n",
            "30",
            "--n-symbols",
            "3",
            "--n-types",
            "3",
            "--inner-states",
            "2",
            "--outer-states",
            "2",
            "--out-degree",
            "2",
            "--segments",
            "uniform:1:4",
            "--segment-length",
            "uniform:1:3",
        ],
        [
            "--data.n_train",
            "30",
            "--data.n_symbols",
            "3",
            "--data.n_types",
            "3",
            "--data.inner_states",
            "2",
            "--data.outer_states",
            "2",
            "--data.out_degree",
            "2",
            "--data.segments",
            "uniform:1:4",
            "--data.segment_length",
            "uniform:1:3",
        ],
    ),
    "nfa": (
        ["--n", "20", "--segments", "uniform:1:3", "--length", "uniform:4:12"],
        ["--data.n_train", "20", "--data.segments", "uniform:1:3", "--length", "uniform:4:12"],
    ),
    "binfa3": (
        ["--n", "12", "--segments", "uniform:1:2", "--segment-length", "fixed:2"],
        [
            "--data.n_train",
            "12",
            "--data.segments",
            "uniform:1:2",
            "--data.segment_length",
            "fixed:2",
        ],
    ),
    "arith": (
        ["--n", "25", "--operators", "3", "--format", "steps", "--modulus", "7"],
        [
            "--data.n_train",
            "25",
            "--data.operators",
            "fixed:3",
            "--data.fmt",
            "steps",
            "--data.modulus",
            "7",
        ],
    ),
}


def _files(path):
    meta = json.loads((path / "meta.json").read_text(encoding="utf-8"))
    return next(path.glob("data.*")).read_bytes(), meta


@pytest.mark.parametrize("kind", sorted(PAIRS))
def test_old_and_new_spellings_give_the_same_bytes(tmp_path, kind):
    old, new = PAIRS[kind]
    assert main(["gen", kind, *old, "--seed", "4", "--out", str(tmp_path / "old")]) == 0
    assert main(["gen", kind, *new, "--seed", "4", "--out", str(tmp_path / "new")]) == 0
    assert _files(tmp_path / "old") == _files(tmp_path / "new")


_ALIAS_VALUES = {
    "--n": st.integers(1, 50),
    "--n-symbols": st.integers(1, 6),
    "--n-types": st.integers(1, 4),
    "--inner-states": st.integers(1, 5),
    "--outer-states": st.integers(1, 5),
    "--out-degree": st.integers(1, 3),  # configs only: nothing is drawn
    "--segments": st.sampled_from(["uniform:1:4", "fixed:3", "zipf:1.5:6"]),
    "--segment-length": st.sampled_from(["uniform:1:3", "geometric:0.5:1:5"]),
}
_FIELD = {
    "--n": "n_train",
    "--n-symbols": "n_symbols",
    "--n-types": "n_types",
    "--inner-states": "inner_states",
    "--outer-states": "outer_states",
    "--out-degree": "out_degree",
    "--segments": "segments",
    "--segment-length": "segment_length",
}


@settings(max_examples=scaled_examples(25))
@given(st.fixed_dictionaries({}, optional=_ALIAS_VALUES))
def test_each_alias_sets_its_field_like_the_data_option(chosen):
    parser, _ = command_parser("gen")
    old = [w for flag, value in chosen.items() for w in (flag, str(value))]
    new = [w for flag, value in chosen.items() for w in (f"--data.{_FIELD[flag]}", str(value))]
    family = FAMILIES["automaton"]
    got_old, flags_old = family_config(parser.parse_args(["binfa", *old, "--out", "x"]), family)
    got_new, flags_new = family_config(parser.parse_args(["binfa", *new, "--out", "x"]), family)
    assert got_old == got_new and set(flags_old) == set(flags_new) == {_FIELD[f] for f in chosen}
    assert got_old.n_train == chosen.get("--n", 1000)  # bipe gen's default count


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
        "--n",
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
        (
            ["binfa", "--n-symbols", "3", "--data.n_symbols", "3"],
            "--n-symbols and --data.n_symbols both set data.n_symbols",
        ),
        (["binfa", "--data.path", "somewhere"], "unknown config key 'data.path'"),
        (["arith", "--data.n_symbols", "3"], "unknown config key 'data.n_symbols'"),
        (["binfa", "--data.n_types", "two"], "data.n_types expects int, got 'two'"),
        (["binfa", "--data.n_train", "0"], "--data.n_train must be at least 1"),
        (["arith", "--data.operators", "3"], "malformed length spec '3'"),
        (["binfa", "--automaton", "{auto}", "--data.eval_lengths", "2,3"], "cannot be combined"),
    ],
)
def test_bad_flags_are_one_line_exit_2(tmp_path, capsys, args, message):
    assert main(["gen", "binfa", "--n", "3", "--out", str(tmp_path / "a")]) == 0
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
        assert key in out and "deprecated alias" in out


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
