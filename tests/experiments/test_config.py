"""Run configs: presets, dotted overrides parsed by field type, errors, JSON round trip."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bipe.experiments.config import (
    DataConfig,
    RunConfig,
    SegmentationConfig,
    TrainConfig,
    apply_overrides,
    config_from_dict,
    config_to_dict,
    parse_value,
    valid_keys,
)
from bipe.experiments.presets import PRESETS, build_config
from bipe.experiments.tasks import TASKS


def test_preset_names_are_exact():
    assert list(PRESETS) == ["tiny", "demo", "paper_arith", "cpu_arith", "cpu_text"]
    for name in PRESETS:
        config = build_config(name)
        assert config.task in TASKS and config.model.vocab_size > 0


def test_paper_arith_matches_the_reference_setup():
    c = build_config("paper_arith")
    assert (c.model.n_layers, c.model.d_model, c.model.n_heads) == (3, 256, 4)
    assert (c.train.lr, c.train.batch_size) == (1e-4, 512)
    assert c.data.n_train == 1_000_000 and c.data.operators == "linear:1:15"
    assert c.train.steps * c.train.batch_size >= 100 * c.data.n_train  # 100 epochs
    assert {16, 17, 18} <= set(c.data.eval_lengths)


def test_overrides_are_parsed_by_field_type():
    c = build_config(
        "tiny",
        task="arith",
        pe="bipe_alibi",
        overrides={
            "model.d_model": "64",
            "train.lr": "0.01",
            "data.operators": "uniform:1:6",
            "data.eval_lengths": "1,2,8",
            "model.d_ff": "none",
            "train.evaluate_at_end": "false",
            "segment_eval.method": "fixed:4",
            "segment_eval.shift": "2",
            "init_seed": "7",
            "model.alibi_slope_scale": "2.5",
        },
    )
    assert c.model.d_model == 64 and c.model.pe == "bipe_alibi"
    assert c.train.lr == 0.01 and c.data.operators == "uniform:1:6"
    assert c.data.eval_lengths == (1, 2, 8) and c.model.d_ff is None
    assert c.train.evaluate_at_end is False and c.segment_eval.method == "fixed:4"
    assert c.segment_eval.shift == 2 and c.init_seed == 7 and c.model.alibi_slope_scale == 2.5


def test_vocab_and_separators_follow_the_task():
    arith = build_config("tiny", task="arith", overrides={"data.modulus": "13"})
    assert arith.model.vocab_size == 10 + 13 and arith.model.separators == (9, 2)
    lm = build_config("tiny", task="binfa_lm", overrides={"data.n_symbols": "5"})
    assert lm.model.vocab_size == 6 and lm.model.separators == (5,)
    state = build_config("tiny", task="binfa_state")
    d = state.data
    assert state.model.vocab_size == d.n_symbols + 1 + d.n_types * d.inner_states + d.outer_states


@pytest.mark.parametrize("key", ["model.vocab_size", "model.separators", "model.max_intra"])
def test_derived_keys_cannot_be_set(key):
    with pytest.raises(ValueError, match="derived"):
        build_config("tiny", overrides={key: "3"})


def test_unknown_key_names_it_and_lists_valid_ones():
    with pytest.raises(ValueError) as err:
        build_config("tiny", overrides={"model.dmodel": "3"})
    message = str(err.value)
    assert "'model.dmodel'" in message and "model.d_model" in message
    assert "train.steps" in message and "\n" not in message


@pytest.mark.parametrize(
    "kind,name,known",
    [
        ("preset", "huge", "tiny, demo, paper_arith, cpu_arith, cpu_text"),
        ("task", "sorting", "arith, arith_direct, binfa_lm, binfa_state, nfa_lm"),
        ("pe", "sinusoid", "bipe_rope"),
    ],
)
def test_unknown_names_list_the_known_ones(kind, name, known):
    kwargs = {"preset": "tiny", "task": None, "pe": None}
    kwargs[kind] = name
    preset = kwargs.pop("preset")
    with pytest.raises(ValueError, match="known") as err:
        build_config(preset, **kwargs)
    assert known in str(err.value) and name in str(err.value)


@pytest.mark.parametrize(
    "key,value,field",
    [
        ("train.steps", "0", "train.steps"),
        ("train.lr", "-1", "train.lr"),
        ("model.d_model", "30", "d_model"),
        ("segment_train.method", "chunks", "segmentation"),
        ("segment_train.drop", "1.5", "drop"),
        ("data.n_eval", "0", "data.n_eval"),
        ("train.steps", "ten", "train.steps"),
    ],
)
def test_bad_values_name_the_field(key, value, field):
    with pytest.raises(ValueError, match=field):
        build_config("tiny", overrides={key: value})


def test_json_round_trip_of_every_preset():
    for name in PRESETS:
        config = build_config(name, pe="bipe_rope")
        text = json.dumps(config_to_dict(config))
        assert config_from_dict(RunConfig, json.loads(text)) == config


def test_unknown_key_in_a_config_file_is_an_error():
    data = config_to_dict(build_config("tiny"))
    data["train"]["stepz"] = 3
    with pytest.raises(ValueError, match="train.stepz"):
        config_from_dict(RunConfig, data)


def test_valid_keys_cover_every_section():
    keys = valid_keys(RunConfig)
    for section in ("data.", "model.", "train.", "segment_train.", "segment_eval."):
        assert any(k.startswith(section) for k in keys)
    assert {"data_seed", "init_seed", "task", "out"} <= set(keys)


def test_segmentation_default_and_fixed():
    assert SegmentationConfig().is_default
    assert not SegmentationConfig(method="fixed:3").is_default
    assert not SegmentationConfig(drop=0.1).is_default


@given(st.integers(0, 10**9))
def test_int_fields_round_trip_through_text(n):
    assert parse_value(int, str(n), "k") == n


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_float_fields_round_trip_through_text(x):
    assert parse_value(float, repr(x), "k") == x


@given(st.lists(st.integers(0, 1000), min_size=1, max_size=8))
def test_tuple_fields_round_trip_through_text(values):
    assert parse_value(tuple[int, ...], ",".join(map(str, values)), "k") == tuple(values)


@given(
    steps=st.integers(1, 10**6),
    batch=st.integers(1, 4096),
    lr=st.floats(1e-6, 1.0),
    seed=st.integers(0, 2**31),
)
def test_overrides_then_dict_round_trip(steps, batch, lr, seed):
    tree = apply_overrides(
        {"train": {}, "data": {}},
        {
            "train.steps": str(steps),
            "train.batch_size": str(batch),
            "train.lr": repr(lr),
            "data_seed": str(seed),
        },
        RunConfig,
    )
    train = config_from_dict(TrainConfig, tree["train"])
    assert (train.steps, train.batch_size, train.lr) == (steps, batch, lr)
    assert tree["data_seed"] == seed
    assert config_from_dict(DataConfig, tree["data"]) == DataConfig()
