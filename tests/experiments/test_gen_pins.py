"""``bipe gen`` output, pinned: sha256 of the data file and of meta.json (without
``version``) for fixed flags and seeds, computed from the code before the Bi-NFA samplers were
merged and ``bipe gen`` moved onto the family registry (same flags, same seed: same bytes, across
versions too)."""

import hashlib
import json

import pytest

from bipe.experiments.cli import main

GEN = {
    "binfa": [
        "binfa",
        "--data.n_train",
        "150",
        "--seed",
        "3",
        "--data.segments",
        "uniform:2:6",
        "--data.segment_length",
        "uniform:1:5",
    ],
    "binfa_det": [
        "binfa",
        "--data.n_train",
        "100",
        "--seed",
        "11",
        "--deterministic",
        "--data.n_symbols",
        "3",
        "--data.n_types",
        "3",
    ],
    "binfa_default": ["binfa", "--data.n_train", "80", "--seed", "0"],
    "nfa": ["nfa", "--data.n_train", "120", "--seed", "5", "--length", "uniform:8:24"],
    "binfa3": [
        "binfa3",
        "--data.n_train",
        "60",
        "--seed",
        "7",
        "--data.segments",
        "uniform:2:3",
        "--sub-segments",
        "uniform:1:3",
        "--data.segment_length",
        "uniform:1:4",
    ],
    "binfa_npz": ["binfa", "--data.n_train", "50", "--seed", "2", "--format", "npz"],
    "arith": ["arith", "--data.n_train", "40", "--seed", "2", "--data.operators", "uniform:1:4"],
}
PINS = {
    "binfa": (
        "66724ecce6082d178d448e036e82cdac0bacf93e5048233b952520a4c03859ee",
        "9736c126a0dce1aa35447a1533fd98f5d0bc3eeca6ad70296d1ccd4c59551523",
    ),
    "binfa_det": (
        "156e37fd6e0aaa81d25b9aff241a30d75efe33c8a9d810a687fb56dbc908e69c",
        "f2ed1e8c5cda63da80ad2258596de3535244139a33bf6b20d615391b196b254d",
    ),
    "binfa_default": (
        "eb6daf80d6977665fd41e75335e81ec261a30bfb920ad49fa8d39c1f0fe29a75",
        "997730c7744a02d967226327a0907116498b60f265f5651417980a3cd891636d",
    ),
    "nfa": (
        "df6fc8a0d0863cea3b0b7518a4f21e21b2352282886248359bea3bbf2bd4b65f",
        "8541e076e198b8469d5b743596ad45b0f8fb99fcba3bf4a57c4d7050bd4df8d4",
    ),
    "binfa3": (
        "6098cfb6aaf5e3fb830c1d3696e2e084c59fe4201c000cae450938799839f7b7",
        "6e41f8e78936ba93258c7445042488491bb5da705dd743a3e049412964c5cdc2",
    ),
    "binfa_npz": (
        "f9af0e68d7517703e32da0fa71d5e47f2426820c43ff3978a9c92c8596e6cabf",
        "16157daa48420b55236a6c474a93ccf27999d52b830cc7a2218d9512cb7da5ab",
    ),
    "arith": (
        "09558b5737f75619b4bdf0b690a85e92234cbe462220a21115c8209573f83d12",
        "e8e1b60f7b44a0dd3d2ee024b2c416608a101d5607e812eb28baefe8f15a77bf",
    ),
}


def dataset_hashes(path) -> tuple[str, str]:
    """sha256 of the data file and of meta.json without ``version`` (canonical JSON)."""
    data = next(path.glob("data.*")).read_bytes()
    meta = json.loads((path / "meta.json").read_text(encoding="utf-8"))
    meta.pop("version")
    canonical = json.dumps(meta, sort_keys=True).encode()
    return hashlib.sha256(data).hexdigest(), hashlib.sha256(canonical).hexdigest()


@pytest.mark.parametrize("name", sorted(GEN))
def test_gen_output_is_pinned(tmp_path, name):
    assert main(["gen", *GEN[name], "--out", str(tmp_path / name)]) == 0
    assert dataset_hashes(tmp_path / name) == PINS[name]
