"""Dataset folders: round trip in both formats, byte-determinism, atomicity, corruption."""

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bipe.synthetic.dataset import load_dataset, write_dataset

ints = st.lists(st.integers(0, 1000), min_size=1, max_size=12)
records = st.lists(
    ints.map(
        lambda t: {
            "tokens": t,
            "seg": [0] * len(t),
            "intra": list(range(len(t))),
            "n_operators": len(t),
            "text": " ".join(map(str, t)),
        }
    ),
    max_size=8,
)


@given(records, st.sampled_from(["jsonl", "npz"]))
def test_round_trip_and_meta(tmp_path_factory, recs, fmt):
    out = tmp_path_factory.mktemp("ds") / "set"
    write_dataset(out, recs, {"generator": "test", "seed": 3}, fmt=fmt)
    ds = load_dataset(out)
    assert ds.records == recs
    assert ds.meta["n_records"] == len(recs) and ds.meta["format"] == fmt
    assert ds.meta["generator"] == "test" and len(ds.meta["sha256"]) == 64
    assert sorted(p.name for p in out.parent.iterdir()) == ["set"]  # no temporary left


def test_numpy_values_are_written_as_plain_json(tmp_path):
    write_dataset(tmp_path / "d", [{"tokens": np.arange(3), "answer": np.int64(4)}], {})
    line = (tmp_path / "d" / "data.jsonl").read_text()
    assert line == '{"tokens":[0,1,2],"answer":4}\n'


@pytest.mark.parametrize("fmt", ["jsonl", "npz"])
def test_same_records_same_bytes(tmp_path, fmt):
    recs = [{"tokens": [1, 2, 3], "seg": [0, 0, 1], "intra": [0, 1, 0]}] * 3
    for name in ("a", "b"):
        write_dataset(tmp_path / name, recs, {"seed": 1}, fmt=fmt)
    data = f"data.{fmt}"
    assert (tmp_path / "a" / data).read_bytes() == (tmp_path / "b" / data).read_bytes()


def test_existing_folder_is_not_replaced(tmp_path):
    write_dataset(tmp_path / "d", [{"tokens": [1]}], {"seed": 1})
    before = (tmp_path / "d" / "meta.json").read_text()
    with pytest.raises(ValueError, match="already exists"):
        write_dataset(tmp_path / "d", [{"tokens": [2]}], {"seed": 2})
    assert (tmp_path / "d" / "meta.json").read_text() == before
    write_dataset(tmp_path / "d", [{"tokens": [2]}], {"seed": 2}, overwrite=True)
    assert load_dataset(tmp_path / "d").records == [{"tokens": [2]}]


def test_failed_write_leaves_nothing(tmp_path):
    def broken():
        yield {"tokens": [1]}
        raise RuntimeError("generator died")

    with pytest.raises(RuntimeError):
        write_dataset(tmp_path / "d", broken(), {})
    assert list(tmp_path.iterdir()) == []


def _corrupt(path, how):
    data, meta = path / "data.jsonl", path / "meta.json"
    if how == "edit":
        data.write_text(data.read_text().replace("1", "2"))
    elif how == "truncate":
        data.write_text("")
    elif how == "meta":
        meta.write_text("{not json")
    elif how == "missing":
        data.unlink()
    elif how == "count":
        m = json.loads(meta.read_text())
        m["n_records"] = 5
        meta.write_text(json.dumps(m))
    elif how == "lengths":
        data.write_text('{"tokens":[1,2],"seg":[0],"intra":[0,1]}\n')
        m = json.loads(meta.read_text())
        import hashlib

        m["sha256"] = hashlib.sha256(data.read_bytes()).hexdigest()
        meta.write_text(json.dumps(m))


@pytest.mark.parametrize("how", ["edit", "truncate", "meta", "missing", "count", "lengths"])
def test_corrupt_dataset_is_a_clear_error(tmp_path, how):
    write_dataset(tmp_path / "d", [{"tokens": [1, 1], "seg": [0, 0], "intra": [0, 1]}], {})
    _corrupt(tmp_path / "d", how)
    with pytest.raises(ValueError) as err:
        load_dataset(tmp_path / "d")
    assert "\n" not in str(err.value)
