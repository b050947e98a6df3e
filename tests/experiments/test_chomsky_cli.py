"""bipe gen chomsky:TASK and bipe verify: the dataset folder, same seed same bytes, errors."""

import hashlib
import json

import pytest

from bipe.experiments.cli import main
from bipe.synthetic.chomsky import TASKS
from bipe.synthetic.dataset import load_dataset


@pytest.mark.parametrize("task", sorted(TASKS))
def test_gen_writes_a_verifiable_dataset(tmp_path, task, capsys):
    out = tmp_path / task
    args = ["gen", f"chomsky:{task}", "--data.n_train", "12", "--data.lengths", "uniform:1:9"]
    assert main([*args, "--out", str(out)]) == 0
    ds = load_dataset(out)
    assert len(ds) == 12 and ds.meta["task"] == task
    assert all(
        set(r) == {"input", "output", "length"} and 1 <= r["length"] <= 9 for r in ds.records
    )
    assert main(["verify", str(out)]) == 0
    assert "ok: all 12 records valid" in capsys.readouterr().out


def test_same_seed_same_bytes_and_verify_catches_a_wrong_output(tmp_path, capsys):
    outs = [tmp_path / "a", tmp_path / "b"]
    for out in outs:
        assert main(["gen", "chomsky:bucket_sort", "--seed", "3", "--out", str(out)]) == 0
    assert (outs[0] / "data.jsonl").read_bytes() == (outs[1] / "data.jsonl").read_bytes()
    lines = (outs[0] / "data.jsonl").read_text().splitlines()
    record = json.loads(lines[5])
    record["output"] = record["output"][::-1] if record["length"] > 1 else [9]
    if record["output"] == sorted(record["output"]):
        record["output"][0] = 4 - record["output"][0]
    lines[5] = json.dumps(record, separators=(",", ":"))
    (outs[0] / "data.jsonl").write_text("\n".join(lines) + "\n")
    meta = json.loads((outs[0] / "meta.json").read_text())
    meta["sha256"] = hashlib.sha256((outs[0] / "data.jsonl").read_bytes()).hexdigest()
    (outs[0] / "meta.json").write_text(json.dumps(meta))
    capsys.readouterr()
    assert main(["verify", str(outs[0])]) == 2
    assert "record 5 is invalid" in capsys.readouterr().err


def test_bad_length_law_is_one_line_and_nothing_written(tmp_path, capsys):
    out = tmp_path / "x"
    code = main(["gen", "chomsky:parity_check", "--data.lengths", "uniform:0:4", "--out", str(out)])
    assert code == 2 and not out.exists()
    assert "data.lengths" in capsys.readouterr().err
