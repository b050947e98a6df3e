"""ModelConfig: validation names the field, round trips, resolved defaults."""

from __future__ import annotations

import dataclasses
import json

import pytest

from bipe.models import ENCODINGS, ModelConfig


def test_defaults_and_derived_widths():
    cfg = ModelConfig(32, 64, 2, 4)
    assert (cfg.pe, cfg.d_head, cfg.ff_width, cfg.separators) == ("rope", 16, 256, ())
    assert ModelConfig(32, 64, 2, 4, d_ff=100).ff_width == 100
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.d_model = 8  # type: ignore[misc]


def test_unknown_pe_lists_the_registry():
    with pytest.raises(ValueError, match="unknown pe 'rotary'; known: nope") as err:
        ModelConfig(32, 64, 2, 4, pe="rotary")
    assert all(name in str(err.value) for name in ENCODINGS)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"vocab_size": 0}, "vocab_size"),
        ({"d_model": 30}, "d_model"),
        ({"n_heads": 0}, "n_heads"),
        ({"d_model": 12, "n_heads": 4}, "must be even"),
        ({"d_ff": -1}, "d_ff"),
        ({"dropout": 1.0}, "dropout"),
        ({"intra_overflow": "wrap"}, "intra_overflow"),
        ({"bipe_intra": "rope"}, "bipe_intra"),
        ({"bipe_inter": "learned"}, "bipe_inter"),
        ({"rope_scaling": "dynamic"}, "rope_scaling"),
        ({"rope_scaling_factor": 0.5}, "rope_scaling_factor"),
        ({"rope_scaling": "yarn", "rope_scaling_factor": 2.0}, "rope_original_len"),
        ({"alibi_slope_scale": 0.0}, "alibi_slope_scale"),
        ({"max_intra": 0}, "max_intra"),
        ({"separators": [3]}, "separators"),
        ({"separators": (32,)}, "separators"),
        ({"pe": "hbipe", "separators": (3,)}, "at least two levels"),
        ({"pe": "hbipe", "separators": (3, 4), "bipe_inter": "t5"}, "bipe_inter"),
        ({"pe": "hbipe", "separators": (3, (4, 3))}, "two hbipe levels"),
        ({"t5_max_distance": 10}, "t5_max_distance"),
        ({"norm_eps": -1.0}, "norm_eps"),
    ],
)
def test_bad_fields_are_named(kwargs, field):
    base = {"vocab_size": 32, "d_model": 64, "n_layers": 2, "n_heads": 4}
    base.update(kwargs)
    with pytest.raises(ValueError, match=field):
        ModelConfig(**base)


def test_dict_round_trip_through_json():
    for cfg in (
        ModelConfig(32, 64, 2, 4, pe="bipe_alibi", separators=(5, 6), max_intra=77),
        ModelConfig(32, 64, 2, 4, pe="hbipe", separators=((5, 7), 6)),
        ModelConfig(
            32, 64, 2, 4, rope_scaling="yarn", rope_scaling_factor=4.0, rope_original_len=128
        ),
    ):
        again = ModelConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
        assert again == cfg
    assert ModelConfig(32, 64, 2, 4, pe="hbipe", separators=((5, 7), 6)).level_separators() == (
        (5, 7),
        (6,),
    )


def test_from_dict_rejects_unknown_keys():
    data = ModelConfig(32, 64, 2, 4).to_dict()
    with pytest.raises(ValueError, match="unknown model config keys: colour"):
        ModelConfig.from_dict({**data, "colour": 1})
    del data["vocab_size"]
    with pytest.raises(ValueError, match="vocab_size"):
        ModelConfig.from_dict(data)


def test_alibi_slope_scale_resolution():
    assert ModelConfig(32, 64, 2, 4, pe="alibi").resolved_alibi_slope_scale() == 1.0
    assert ModelConfig(32, 64, 2, 4, pe="bipe_alibi").resolved_alibi_slope_scale() == 96.0
    cfg = ModelConfig(32, 64, 2, 4, pe="bipe_alibi", alibi_slope_scale=8.0)
    assert cfg.resolved_alibi_slope_scale() == 8.0
