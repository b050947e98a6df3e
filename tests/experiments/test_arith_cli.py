"""bipe gen arith / verify / import feng / export feng: files, determinism, one-line errors."""

from __future__ import annotations

import dataclasses
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from bipe.experiments.cli import main
from bipe.synthetic.arithmetic import generate_arithmetic, verify_record
from bipe.synthetic.dataset import load_dataset, write_dataset

# Real files from the reference generator (Feng et al.), kept with the tests.
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "feng_arithmetic"


def gen(argv: list[str], capsys) -> tuple[int, str, str]:
    """``bipe gen arith ARGV`` through the real CLI entry point."""
    rc = main(["gen", "arith", *argv])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_gen_writes_a_verified_dataset(tmp_path, capsys):
    rc, out, _ = gen(
        [
            "--data.fmt",
            "feng",
            "--data.operators",
            "fixed:4",
            "--under",
            "--data.n_train",
            "60",
            "--seed",
            "5",
            "--out",
            str(tmp_path / "a"),
        ],
        capsys,
    )
    assert rc == 0 and "wrote 60 feng chains" in out
    ds = load_dataset(tmp_path / "a")
    meta = ds.meta
    assert meta["generator"] == "arith" and meta["arith_format"] == "feng"
    assert meta["separators"] == [9, 2] and meta["modulus"] == 11 and meta["seed"] == 5
    assert meta["vocab"][:3] == ["<pad>", "<cls>", "<eos>"] and len(meta["vocab"]) == 21
    assert meta["config"]["operators"] == "fixed:4" and meta["config"]["under"] is True
    assert set(ds.records[0]) >= {
        "tokens",
        "seg",
        "intra",
        "text",
        "answer",
        "n_operators",
        "prompt_len",
    }
    assert {r["n_operators"] for r in ds.records} == {1, 2, 3, 4}
    assert main(["verify", str(tmp_path / "a")]) == 0
    assert capsys.readouterr().out.startswith("ok: all 60 records valid")


@pytest.mark.parametrize("fmt", ["feng", "direct", "steps"])
def test_gen_is_deterministic(tmp_path, capsys, fmt):
    def data(name: str, seed: str) -> bytes:
        args = [
            "--data.fmt",
            fmt,
            "--data.operators",
            "uniform:1:5",
            "--data.n_train",
            "30",
            "--seed",
            seed,
            "--out",
            str(tmp_path / name),
        ]
        assert gen(args, capsys)[0] == 0
        return (tmp_path / name / "data.jsonl").read_bytes()

    assert data("a", "1") == data("b", "1") != data("c", "2")


def test_exclude_makes_a_disjoint_test_set(tmp_path, capsys):
    base = ["--data.operators", "fixed:2", "--data.modulus", "5"]
    assert gen([*base, "--data.n_train", "300", "--out", str(tmp_path / "train")], capsys)[0] == 0
    args = [
        *base,
        "--data.fmt",
        "direct",
        "--data.n_train",
        "100",
        "--seed",
        "1",
        "--exclude",
        str(tmp_path / "train"),
        "--out",
        str(tmp_path / "test"),
    ]
    assert gen(args, capsys)[0] == 0
    train = {t.partition(" =")[0] for t in load_dataset(tmp_path / "train").column("text")}
    test = {t.partition(" =")[0] for t in load_dataset(tmp_path / "test").column("text")}
    assert len(test) == 100 and not train & test


@pytest.mark.parametrize(
    "argv,match",
    [
        (["--data.modulus", "12"], "prime"),
        (["--data.fmt", "chain"], "data.fmt 'chain' unknown"),
        (["--data.operators", "fixed:1", "--data.n_train", "1000"], "only 473"),
        (["--data.operators", "fixed:0"], "at least 1"),
        (["--data.operators", "uniform:1:3", "--under"], "fixed operator count"),
        (["--data.operators", "wobbly:3"], "malformed length spec"),
        (["--data.n_train", "0"], "at least 1"),
        (["--exclude", "/nonexistent/x"], "not a bipe dataset"),
    ],
)
def test_gen_errors_are_one_line_and_write_nothing(tmp_path, capsys, argv, match):
    rc, _, err = gen([*argv, "--out", str(tmp_path / "x")], capsys)
    assert rc == 2 and match in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_gen_refuses_existing_output_unless_forced(tmp_path, capsys):
    args = ["--data.n_train", "5", "--out", str(tmp_path / "a")]
    assert gen(args, capsys)[0] == 0
    rc, _, err = gen(args, capsys)
    assert rc == 2 and "already exists" in err
    assert gen([*args, "--force"], capsys)[0] == 0


def _arith_meta(fmt: str = "feng") -> dict:
    from bipe.synthetic.arithmetic import vocab

    return {
        "generator": "arith",
        "arith_format": fmt,
        "modulus": 11,
        "vocab": list(vocab(11)),
        "separators": [9, 2],
        "config": {},
        "seed": 0,
    }


def test_verify_reports_the_first_bad_record(tmp_path, capsys):
    recs = generate_arithmetic(np.random.default_rng(0), 4, operators=3)
    recs[2] = {**recs[2], "answer": (recs[2]["answer"] + 1) % 11}
    recs[3] = {**recs[3], "prompt_len": 1}
    write_dataset(tmp_path / "d", recs, _arith_meta())
    assert main(["verify", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err
    assert "record 2 is invalid: answer" in err and recs[2]["text"] in err


def test_verify_dispatches_other_generators(tmp_path, capsys, monkeypatch):
    from bipe.synthetic.families import FAMILIES

    write_dataset(
        tmp_path / "b", [{"tokens": [0, 1], "seg": [0, 0], "intra": [0, 1]}], {"generator": "binfa"}
    )
    seen = []
    automaton = FAMILIES["automaton"]
    fake = dataclasses.replace(
        automaton, verify_record=lambda record, meta: seen.append(meta["generator"]) or "bad word"
    )
    monkeypatch.setitem(FAMILIES, "automaton", fake)
    assert main(["verify", str(tmp_path / "b")]) == 2
    assert seen == ["binfa"] and "record 0 is invalid: bad word" in capsys.readouterr().err
    monkeypatch.setitem(
        FAMILIES,
        "automaton",
        dataclasses.replace(automaton, verify_record=lambda record, meta: None),
    )
    assert main(["verify", str(tmp_path / "b")]) == 0
    write_dataset(tmp_path / "c", [{"tokens": [0]}], {"generator": "poems"})
    assert main(["verify", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    assert "no verifier for generator 'poems'" in err and err.count("\n") == 1


def test_verify_rejects_a_corrupt_file(tmp_path, capsys):
    write_dataset(
        tmp_path / "d", generate_arithmetic(np.random.default_rng(0), 3, operators=2), _arith_meta()
    )
    data = tmp_path / "d" / "data.jsonl"
    data.write_text(data.read_text().replace("=", "+", 1))
    assert main(["verify", str(tmp_path / "d")]) == 2
    assert "sha256" in capsys.readouterr().err


@pytest.mark.parametrize("folder", ["ops3", "ops6"])
def test_import_verify_export_round_trip(tmp_path, capsys, folder):
    assert main(["import", "feng", str(FIXTURES / folder), "--out", str(tmp_path / "i")]) == 0
    assert main(["verify", str(tmp_path / "i")]) == 0
    assert main(["verify", str(tmp_path / "i" / "chain_train")]) == 0
    assert main(["export", "feng", str(tmp_path / "i"), "--out", str(tmp_path / "e")]) == 0
    diff = subprocess.run(
        ["diff", "-r", str(tmp_path / "e"), str(FIXTURES / folder)], capture_output=True
    )
    assert diff.returncode == 0, diff.stdout
    capsys.readouterr()


def test_import_errors_are_one_line(tmp_path, capsys):
    (tmp_path / "ref" / "decoder").mkdir(parents=True)
    (tmp_path / "ref" / "decoder" / "train_data.txt").write_text("1 + 2 = 4\n")
    assert main(["import", "feng", str(tmp_path / "ref"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "train_data.txt:1: the answer 4" in err
    assert not (tmp_path / "o").exists()
    assert main(["import", "feng", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    assert main(["export", "feng", str(tmp_path / "ref"), "--out", str(tmp_path / "o")]) == 2
    assert "no split datasets" in capsys.readouterr().err


def test_generated_records_match_meta_written(tmp_path, capsys):
    assert (
        gen(["--data.fmt", "steps", "--data.n_train", "10", "--out", str(tmp_path / "s")], capsys)[
            0
        ]
        == 0
    )
    meta = json.loads((tmp_path / "s" / "meta.json").read_text())
    for rec in load_dataset(tmp_path / "s").records:
        assert verify_record(rec, meta) is None
