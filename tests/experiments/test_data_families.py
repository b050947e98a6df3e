"""Data families: per-family data sections, flag resolution, old config files, saved datasets
of another task, and absurd sizes refused up front."""

import dataclasses
import json

import pytest
from experiment_helpers import TINY_AUTOMATON_FLAGS

from bipe.experiments.cli import main
from bipe.experiments.config import RunConfig, config_to_dict, data_family, valid_keys
from bipe.experiments.presets import build_config
from bipe.experiments.rundir import read_run_config
from bipe.experiments.tasks import TASKS
from bipe.synthetic.families import FAMILIES, LEGACY_DEFAULTS
from bipe.synthetic.family import DataConfig
from bipe.synthetic.sequences import load_automaton


def _one_line_error(capsys, argv, *needles):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err


def test_every_task_names_a_registered_family_and_gets_its_config():
    for name, task in TASKS.items():
        family = FAMILIES[task.family]
        assert issubclass(family.config, DataConfig) and set(task.generators) <= set(
            family.generators
        )
        assert type(build_config("tiny", task=name).data) is family.config


def test_family_keys_resolve_per_task_and_shared_keys_everywhere():
    arith = build_config(
        "tiny", task="arith", overrides={"data.operators": "uniform:1:6", "data.n_train": "9"}
    )
    lm = build_config(
        "tiny", task="binfa_lm", overrides={"data.segments": "uniform:2:5", "data.n_train": "9"}
    )
    assert (arith.data.operators, arith.data.n_train) == ("uniform:1:6", 9)
    assert (lm.data.segments, lm.data.n_train) == ("uniform:2:5", 9)
    assert not hasattr(arith.data, "segments") and not hasattr(lm.data, "operators")
    # the command line registers every family's keys; a config names only its own
    union = valid_keys(RunConfig)
    assert {"data.operators", "data.segments", "data.path"} <= set(union)
    assert "data.segments" not in valid_keys(RunConfig, tree={"task": "arith"})


@pytest.mark.parametrize(
    "task,key,owner",
    [
        ("binfa_lm", "data.operators", "arithmetic"),
        ("arith", "data.segments", "automaton"),
        ("nfa_lm", "data.fmt", "arithmetic"),
    ],
)
def test_key_of_another_family_is_one_line_naming_both(tmp_path, capsys, task, key, owner):
    own = data_family(task)
    _one_line_error(
        capsys,
        ["train", "--task", task, f"--{key}", "3", "--out", str(tmp_path / "r")],
        key,
        owner,
        own.name,
        "data.n_train",
    )
    assert not (tmp_path / "r").exists()


def _legacy(config: RunConfig, **changes) -> dict:
    """The config dict as the single flat DataConfig of earlier versions wrote it."""
    tree = config_to_dict(config)
    tree["data"] = {**LEGACY_DEFAULTS, **tree["data"], **changes}
    tree["data"].pop("sub_segments", None)  # added later: old files lack it (default "")
    tree["data"].pop("separator_rule", None)  # added later (arithmetic; default "equals")
    return tree


@pytest.mark.parametrize("task", ["arith", "binfa_lm"])
def test_old_flat_config_files_still_load(tmp_path, task):
    config = build_config("tiny", task=task, out=str(tmp_path / "run"))
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({**_legacy(config), "command": [], "version": "0"}))
    assert len(_legacy(config)["data"]) == 17
    loaded, _ = read_run_config(run)
    assert loaded == config
    assert build_config(base=_legacy(config)) == config


def test_old_config_keys_of_another_family_are_dropped_whatever_their_value(tmp_path):
    """The old demo preset set ``fmt``/``operators`` for every task: Bi-NFA runs written then
    carry non-default arithmetic keys that never reached their data."""
    config = build_config("tiny", task="arith")
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps(_legacy(config, inner_states=7)))
    assert read_run_config(run)[0] == config


def test_old_run_folder_evaluates(tmp_path, capsys):
    run = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "--task",
                "arith",
                "--train.steps",
                "2",
                "--train.evaluate_at_end",
                "false",
                "--no-progress",
                "--out",
                str(run),
            ]
        )
        == 0
    )
    raw = json.loads((run / "config.json").read_text())
    raw["data"] = {**LEGACY_DEFAULTS, **raw["data"]}
    (run / "config.json").write_text(json.dumps(raw))
    assert main(["eval", str(run), "--lengths", "1", "--n", "4", "--no-progress"]) == 0
    assert json.loads((run / "eval.json").read_text())["per_length"]


# ---------------------------------------------------------------- saved datasets of another kind

_SMALL = [*TINY_AUTOMATON_FLAGS, "--data.n_train", "16"]
_DATASETS = {
    "feng": ["arith", "--data.operators", "uniform:1:2", "--data.n_train", "16"],
    "direct": [
        "arith",
        "--data.fmt",
        "direct",
        "--data.operators",
        "uniform:1:2",
        "--data.n_train",
        "16",
    ],
    "steps": [
        "arith",
        "--data.fmt",
        "steps",
        "--data.operators",
        "uniform:1:2",
        "--data.n_train",
        "16",
    ],
    "binfa": ["binfa", "--data.n_train", "16", "--seed", "3"],  # default sizes: nondeterministic
    "dbinfa": ["binfa", *_SMALL, "--deterministic"],
    "nfa": ["nfa", *_SMALL[:-2], "--length", "uniform:2:8", "--data.n_train", "16"],
    "binfa3": ["binfa3", "--data.n_train", "16"],
}
# (task, dataset) pairs a run may train on; every other pair is refused
_MATCHES = {
    ("arith", "feng"),
    ("arith_direct", "direct"),
    ("binfa_lm", "binfa"),
    ("binfa_lm", "dbinfa"),
    ("binfa_state", "dbinfa"),
    ("nfa_lm", "nfa"),
}


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    root = tmp_path_factory.mktemp("datasets")
    for name, args in _DATASETS.items():
        assert main(["gen", *args, "--out", str(root / name)]) == 0
    (root / "empty").mkdir()
    return root


def test_the_nondeterministic_fixture_is_nondeterministic(datasets):
    binfa = load_automaton(datasets / "binfa")
    assert not all(x.is_deterministic for x in (*binfa.inner, binfa.outer))


@pytest.mark.parametrize("task", list(TASKS))
@pytest.mark.parametrize("name", [*_DATASETS, "empty"])
def test_dataset_of_another_task_is_one_line_exit_2(datasets, tmp_path, capsys, task, name):
    if (task, name) in _MATCHES:
        return  # trained on in test_train.py / below
    out = tmp_path / "run"
    _one_line_error(
        capsys,
        [
            "train",
            "--task",
            task,
            "--data.path",
            str(datasets / name),
            "--train.steps",
            "2",
            "--no-progress",
            "--out",
            str(out),
        ],
        str(datasets / name),
    )
    assert not out.exists()


def test_matching_pairs_train(datasets, tmp_path):
    assert (
        main(
            [
                "train",
                "--task",
                "binfa_state",
                "--data.path",
                str(datasets / "dbinfa"),
                "--train.steps",
                "2",
                "--train.evaluate_at_end",
                "false",
                "--no-progress",
                "--out",
                str(tmp_path / "s"),
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "train",
                "--task",
                "nfa_lm",
                "--data.path",
                str(datasets / "nfa"),
                "--train.steps",
                "2",
                "--train.evaluate_at_end",
                "false",
                "--no-progress",
                "--out",
                str(tmp_path / "n"),
            ]
        )
        == 0
    )


# ---------------------------------------------------------------- absurd sizes


@pytest.mark.parametrize(
    "argv,estimate",
    [
        (["gen", "arith", "--data.operators", "fixed:100000", "--data.n_train", "2"], "2.6e+10"),
        (
            [
                "gen",
                "arith",
                "--data.operators",
                "fixed:100000",
                "--data.fmt",
                "steps",
                "--data.n_train",
                "2",
            ],
            "e+10",
        ),
        (
            ["gen", "binfa", "--data.segments", "fixed:10000000000", "--data.n_train", "2"],
            "7.0e+10",
        ),
        (["gen", "binfa3", "--sub-segments", "fixed:10000000000", "--data.n_train", "2"], "e+1"),
        (["gen", "nfa", "--length", "fixed:10000000000", "--data.n_train", "2"], "2.0e+10"),
        (["train", "--task", "arith", "--data.operators", "fixed:100000"], "tokens"),
        (["train", "--task", "binfa_lm", "--data.segments", "fixed:10000000000"], "tokens"),
    ],
)
def test_absurd_sizes_are_refused_up_front(tmp_path, capsys, argv, estimate):
    _one_line_error(capsys, [*argv, "--out", str(tmp_path / "x")], "about", estimate)
    assert not (tmp_path / "x").exists()


def test_configs_are_frozen_keyword_only_dataclasses():
    for family in FAMILIES.values():
        params = dataclasses.fields(family.config)
        assert all(f.kw_only for f in params)
        with pytest.raises(dataclasses.FrozenInstanceError):
            family.config().n_train = 3  # type: ignore[misc]


# ---------------------------------------------------------------- one default automaton


def test_gen_binfa_and_binfa_lm_defaults_are_the_same_automaton(tmp_path):
    from bipe.experiments.train import WORLD, stream
    from bipe.synthetic.sequence_data import AutomatonData
    from bipe.synthetic.sequences import SequenceConfig

    assert main(["gen", "binfa", "--data.n_train", "4", "--out", str(tmp_path / "g")]) == 0
    saved = json.loads((tmp_path / "g" / "meta.json").read_text())["automaton"]
    world = TASKS["binfa_lm"].setup(stream(0, WORLD), AutomatonData())
    assert world.binfa.to_dict() == saved
    structure = (
        "n_symbols",
        "n_types",
        "inner_states",
        "outer_states",
        "out_degree",
        "segments",
        "segment_length",
    )
    gen, data = SequenceConfig(), build_config("demo", task="binfa_lm").data
    assert all(
        getattr(gen, k) == getattr(data, k) == getattr(AutomatonData(), k) for k in structure
    )
