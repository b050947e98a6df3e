"""bipe.synthetic.feng: the reference folder layout, read strictly and written byte-identically."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bipe.synthetic.arithmetic import OPERATORS, generate_arithmetic, vocab
from bipe.synthetic.dataset import load_dataset, write_dataset
from bipe.synthetic.feng import (
    SPLITS,
    export_feng,
    import_feng,
    read_feng,
    render_split,
    split_meta,
)

# Real files from the reference generator (Feng et al.), kept with the tests.
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "feng_arithmetic"
FILES = sorted({f for files, _ in SPLITS.values() for f in files})


@pytest.mark.parametrize("folder", ["ops3", "ops6"])
def test_fixture_imports_verifies_and_round_trips(folder, tmp_path):
    counts = import_feng(FIXTURES / folder, tmp_path / "imp")
    assert counts == {
        "chain_train": 300,
        "chain_test": 100,
        "decoder_train": 300,
        "decoder_test": 100,
    }
    for split in SPLITS:
        ds = load_dataset(tmp_path / "imp" / split)
        assert ds.meta["split"] == split and ds.meta["arith_format"] == SPLITS[split][1]
    export_feng(tmp_path / "imp", tmp_path / "exp")
    for name in FILES:
        assert (tmp_path / "exp" / name).read_bytes() == (FIXTURES / folder / name).read_bytes()


@pytest.mark.parametrize("folder,n_ops", [("ops3", 3), ("ops6", 6)])
def test_fixture_structure(folder, n_ops):
    splits = read_feng(FIXTURES / folder)
    # test chains have exactly L operators; train chains 1..L (--under)
    assert {r["n_operators"] for r in splits["chain_test"]} == {n_ops}
    assert {r["n_operators"] for r in splits["chain_train"]} == set(range(1, n_ops + 1))
    # the reference writes chain/ and decoder/ from one set: line i is the same chain
    for chain, direct in zip(splits["chain_train"], splits["decoder_train"], strict=True):
        assert direct["text"] == chain["text"].partition(" =")[0] + f" = {chain['answer']}"
    assert [r["text"] for r in splits["chain_test"]] == [r["text"] for r in splits["decoder_test"]]
    # token ids as the reference's dataloader builds them: words, then <eos>
    first = splits["chain_train"][0]
    table = {w: i for i, w in enumerate(vocab(11))}
    assert first["tokens"] == [table[w] for w in first["text"].split(" ")] + [2]


def _copy(tmp_path: Path) -> Path:
    root = tmp_path / "ref"
    shutil.copytree(FIXTURES / "ops3", root)
    return root


@pytest.mark.parametrize(
    "name,edit,match",
    [
        ("chain/train_data.txt", lambda t: t.replace(" \n", "\n", 1), "ending in ' '"),
        ("chain/train_data.txt", lambda t: t.replace(" ", "  ", 1), "single spaces"),
        ("chain/train_data.txt", lambda t: t.replace("= 6 \n", "= 7 \n", 1), "train_data.txt:1:"),
        ("chain/test_ans.txt", lambda t: t[: t.rindex("\n", 0, -1) + 1], "99 answers"),
        ("chain/test_data.txt", lambda t: t.replace("\n", "\r\n"), "carriage"),
        ("decoder/test_data.txt", lambda t: t.rstrip("\n"), "no newline"),
        ("decoder/train_data.txt", lambda t: "x" + t, "unknown word"),
        ("decoder/train_data.txt", lambda t: "( 1 + 2 ) = 3\n" + t, "not needed"),
    ],
)
def test_malformed_files_are_rejected_and_nothing_written(tmp_path, name, edit, match):
    root = _copy(tmp_path)
    path = root / name
    path.write_bytes(edit(path.read_text()).encode())
    with pytest.raises(ValueError, match=match):
        import_feng(root, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["ref"]  # no temporary folder left


def test_missing_partner_file_and_empty_folder(tmp_path):
    root = _copy(tmp_path)
    (root / "chain/test_ans.txt").unlink()
    with pytest.raises(ValueError, match="test_ans.txt is missing"):
        read_feng(root)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="none of the reference files"):
        read_feng(tmp_path / "empty")


def test_partial_folder_reads_present_splits(tmp_path):
    root = _copy(tmp_path)
    shutil.rmtree(root / "chain")
    assert set(read_feng(root)) == {"decoder_train", "decoder_test"}


def test_export_checks_formats_and_refuses_to_overwrite(tmp_path):
    recs = generate_arithmetic(np.random.default_rng(0), 5, operators=2, fmt="feng")
    write_dataset(
        tmp_path / "d" / "decoder_train",
        recs,
        split_meta("decoder_train", 11) | {"arith_format": "feng"},
    )
    with pytest.raises(ValueError, match="format 'direct'"):
        export_feng(tmp_path / "d", tmp_path / "out")
    import_feng(FIXTURES / "ops3", tmp_path / "imp")
    (tmp_path / "out").mkdir()
    with pytest.raises(ValueError, match="already exists"):
        export_feng(tmp_path / "imp", tmp_path / "out")
    export_feng(tmp_path / "imp", tmp_path / "out", overwrite=True)
    assert (tmp_path / "out/chain/train_data.txt").is_file()


@given(seed=st.integers(0, 2**32 - 1), n_ops=st.integers(1, 8))
def test_generated_splits_round_trip(tmp_path_factory, seed, n_ops):
    """bipe-generated data exports to the reference layout and reads back unchanged."""
    tmp = tmp_path_factory.mktemp("rt")
    rng = np.random.default_rng(seed)
    splits = {
        split: generate_arithmetic(rng, 4, operators=n_ops, fmt=fmt)
        for split, (_, fmt) in SPLITS.items()
    }
    for split, records in splits.items():
        write_dataset(tmp / "bipe" / split, records, split_meta(split, 11))
    export_feng(tmp / "bipe", tmp / "ref")
    assert read_feng(tmp / "ref") == splits
    text = (tmp / "ref/chain/train_data.txt").read_text()
    assert all(line.endswith(" ") and "  " not in line for line in text.splitlines())
    assert render_split("chain_test", splits["chain_test"])["chain/test_ans.txt"] == "".join(
        f"{r['answer']}\n" for r in splits["chain_test"]
    )
    assert all(
        sum(t in OPERATORS for t in r["tokens"][: r["prompt_len"]]) == n_ops
        for r in splits["chain_train"]
    )
