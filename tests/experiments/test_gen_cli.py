"""bipe gen binfa/nfa/binfa3: determinism, reuse of a saved automaton, verification, errors."""

import contextlib
import io
import json

import numpy as np
import pytest

from bipe.experiments.cli import main
from bipe.synthetic.dataset import load_dataset
from bipe.synthetic.distributions import parse_length_spec
from bipe.synthetic.sequences import verify_record

SMALL = [
    "--data.n_train",
    "40",
    "--data.segments",
    "uniform:2:5",
    "--data.segment_length",
    "uniform:1:4",
]


def gen(*args):
    """Run ``bipe gen ...`` in this process; ``(returncode, stdout, stderr)``."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["gen", *map(str, args)])
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("kind", ["binfa", "nfa", "binfa3"])
@pytest.mark.parametrize("fmt", ["jsonl", "npz"])
def test_same_seed_same_bytes(tmp_path, kind, fmt):
    outs = [tmp_path / "a", tmp_path / "b", tmp_path / "c"]
    for out, seed in zip(outs, [7, 7, 8], strict=True):
        assert (
            main(["gen", kind, *SMALL, "--seed", str(seed), "--format", fmt, "--out", str(out)])
            == 0
        )
    data = f"data.{fmt}"
    assert (outs[0] / data).read_bytes() == (outs[1] / data).read_bytes()
    assert (outs[0] / "meta.json").read_bytes() == (outs[1] / "meta.json").read_bytes()
    assert (outs[0] / data).read_bytes() != (outs[2] / data).read_bytes()
    ds = load_dataset(outs[0])
    assert len(ds) == 40 and ds.meta["generator"] == kind and ds.meta["seed"] == 7
    assert all(verify_record(r, ds.meta) is None for r in ds.records)


def test_meta_and_records(tmp_path):
    assert (
        main(
            [
                "gen",
                "binfa",
                *SMALL,
                "--data.n_symbols",
                "3",
                "--data.n_types",
                "2",
                "--out",
                str(tmp_path / "d"),
            ]
        )
        == 0
    )
    ds = load_dataset(tmp_path / "d")
    meta = ds.meta
    assert meta["vocab"] == ["a", "b", "c", "#"] and meta["separators"] == [3]
    assert meta["automaton"]["kind"] == "binfa" and len(meta["automaton"]["inner"]) == 2
    assert meta["config"]["segments"] == "uniform:2:5" and meta["config"]["n_types"] == 2
    for key in ("n_records", "sha256", "version", "seed", "generator"):
        assert key in meta
    segments = parse_length_spec(meta["config"]["segments"])
    lengths = parse_length_spec(meta["config"]["segment_length"])
    for record in ds.records:
        assert list(record)[:3] == ["tokens", "seg", "intra"]
        tokens = np.array(record["tokens"])
        ends = np.flatnonzero(tokens == 3)
        assert segments.lo <= len(ends) <= segments.hi and tokens[-1] == 3
        content = np.diff(np.r_[-1, ends]) - 1
        assert content.min() >= lengths.lo and content.max() <= lengths.hi
        assert len(record["types"]) == len(ends)


def test_saved_automaton_is_reused(tmp_path, capsys):
    train, test, again = tmp_path / "train", tmp_path / "test", tmp_path / "again"
    assert main(["gen", "binfa", *SMALL, "--seed", "3", "--out", str(train)]) == 0
    assert (
        main(
            [
                "gen",
                "binfa",
                "--data.n_train",
                "10",
                "--data.segments",
                "uniform:8:12",
                "--data.segment_length",
                "uniform:1:4",
                "--automaton",
                str(train / "meta.json"),
                "--seed",
                "4",
                "--out",
                str(test),
            ]
        )
        == 0
    )
    meta_train, meta_test = (json.loads((d / "meta.json").read_text()) for d in (train, test))
    assert meta_train["automaton"] == meta_test["automaton"]
    assert meta_test["config"]["automaton_file"] == str(train / "meta.json")
    ds = load_dataset(test)
    assert all(len(np.flatnonzero(np.array(r["tokens"]) == 4)) >= 8 for r in ds.records)
    assert all(verify_record(r, ds.meta) is None for r in ds.records)
    # a bare automaton file, the same seed and specs: the very same data as the original
    bare = tmp_path / "automaton.json"
    bare.write_text(json.dumps(meta_train["automaton"]))
    assert (
        main(["gen", "binfa", *SMALL, "--seed", "3", "--automaton", str(bare), "--out", str(again)])
        == 0
    )
    assert (again / "data.jsonl").read_bytes() == (train / "data.jsonl").read_bytes()
    capsys.readouterr()


def test_verify_catches_corruption(tmp_path):
    assert main(["gen", "binfa", *SMALL, "--out", str(tmp_path / "v")]) == 0
    ds = load_dataset(tmp_path / "v")
    record = ds.records[0]
    sep = ds.meta["separators"][0]
    broken = {**record, "intra": [0] * len(record["intra"])}
    assert "intra" in verify_record(broken, ds.meta)
    shifted = {**record, "seg": [s + 1 for s in record["seg"]]}
    assert "seg" in verify_record(shifted, ds.meta)
    no_sep = [t for t in record["tokens"] if t != sep]
    bad = {**record, "tokens": no_sep, "seg": [0] * len(no_sep), "intra": list(range(len(no_sep)))}
    assert "language" in verify_record(bad, ds.meta)
    assert "outside" in verify_record(
        record, {**ds.meta, "config": {**ds.meta["config"], "segments": "fixed:100"}}
    )
    assert "types" in verify_record({**record, "types": record["types"][:-1]}, ds.meta)
    assert "list of ints" in verify_record({**record, "tokens": "abc"}, ds.meta)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["binfa", "--data.segments", "uniform:3"], "malformed length spec 'uniform:3'"),
        (["binfa", "--data.segment_length", "bogus:1"], "malformed length spec 'bogus:1'"),
        (["binfa", "--frobnicate", "1"], "unrecognized arguments"),
        (["binfa", "--data.n_train", "0"], "--data.n_train must be at least 1"),
        (["binfa", "--data.segment_length", "fixed:0"], "no sequence satisfies"),
        (["nfa", "--length", "fixed:1"], "accepts no word with a length in fixed:1"),
        (["binfa", "--data.out_degree", "99"], "out_degree 99"),
        (["sequences"], "invalid choice"),
        (["binfa", "--automaton", "missing.json"], "no such file"),
        (["binfa", "--automaton", "{auto}", "--data.n_types", "2"], "cannot be combined"),
        (["binfa3", "--automaton", "{auto}"], "needs a 3-level automaton"),
    ],
)
def test_bad_input_is_one_line_exit_2_nothing_written(tmp_path, args, message):
    auto = tmp_path / "auto.json"
    auto.write_text(
        json.dumps(
            {
                "kind": "binfa",
                "n_symbols": 1,
                "separator": 1,
                "outer": {"n_states": 1, "start": [0], "accept": [0], "transitions": [[0, 0, 0]]},
                "inner": [{"n_states": 2, "start": [0], "accept": [1], "transitions": [[0, 0, 1]]}],
            }
        )
    )
    out = tmp_path / "out"
    code, stdout, stderr = gen(*[a.replace("{auto}", str(auto)) for a in args], "--out", out)
    assert code == 2, stderr
    assert stderr.count("\n") == 1 and message in stderr and "Traceback" not in stderr
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["auto.json"]


def test_existing_folder_needs_force(tmp_path):
    out = tmp_path / "x"
    assert gen("binfa", "--data.n_train", "5", "--out", out)[0] == 0
    before = (out / "data.jsonl").read_bytes()
    code, _, stderr = gen("binfa", "--data.n_train", "5", "--seed", "1", "--out", out)
    assert code == 2 and "already exists" in stderr
    assert (out / "data.jsonl").read_bytes() == before
    code, stdout, stderr = gen(
        "binfa", "--data.n_train", "5", "--seed", "1", "--out", out, "--force"
    )
    assert code == 0 and stderr == "" and "wrote 5 binfa" in stdout  # no bar off a terminal
    assert (out / "data.jsonl").read_bytes() != before


def test_arith_is_delegated(tmp_path):
    assert (
        main(
            [
                "gen",
                "arith",
                "--data.n_train",
                "5",
                "--data.operators",
                "fixed:2",
                "--out",
                str(tmp_path / "a"),
            ]
        )
        == 0
    )
    assert load_dataset(tmp_path / "a").meta["generator"] == "arith"
