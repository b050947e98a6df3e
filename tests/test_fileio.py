"""Atomic writes: whole or nothing, old content kept until the new one is complete."""

import pytest

from bipe.fileio import atomic_folder, write_atomic, write_text_atomic


def test_file_is_replaced_only_when_complete(tmp_path):
    target = tmp_path / "sub" / "out.json"
    write_text_atomic(target, "old")
    with pytest.raises(RuntimeError):
        write_atomic(target, lambda tmp: (tmp.write_text("half"), _fail()))
    assert target.read_text() == "old"
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.json"]
    write_text_atomic(target, "new")
    assert target.read_text() == "new"


def test_temporary_name_keeps_the_suffix(tmp_path):
    seen = []
    write_atomic(tmp_path / "p.png", lambda tmp: (seen.append(tmp.suffix), tmp.write_bytes(b"x")))
    assert seen == [".png"]


def test_folder_appears_only_when_complete(tmp_path):
    out = tmp_path / "ds"
    with pytest.raises(RuntimeError), atomic_folder(out) as tmp:
        (tmp / "a").write_text("1")
        _fail()
    assert list(tmp_path.iterdir()) == []
    with atomic_folder(out) as tmp:
        (tmp / "a").write_text("1")
    assert (out / "a").read_text() == "1"


def test_existing_folder_needs_overwrite_and_survives_a_failure(tmp_path):
    out = tmp_path / "ds"
    with atomic_folder(out) as tmp:
        (tmp / "a").write_text("old")
    with pytest.raises(ValueError, match="already exists"), atomic_folder(out):
        pass
    with pytest.raises(RuntimeError), atomic_folder(out, overwrite=True) as tmp:
        (tmp / "a").write_text("new")
        _fail()
    assert (out / "a").read_text() == "old"
    with atomic_folder(out, overwrite=True) as tmp:
        (tmp / "b").write_text("new")
    assert [p.name for p in out.iterdir()] == ["b"]
    assert [p.name for p in tmp_path.iterdir()] == ["ds"]


def _fail():
    raise RuntimeError("interrupted")
