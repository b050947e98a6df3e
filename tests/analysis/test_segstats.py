"""Segment statistics on small known files and datasets."""

import json
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bipe.analysis.segstats import (
    segment_lengths,
    source_marks,
    text_boundaries,
    window_segment_counts,
    write_segstats,
)
from bipe.synthetic.dataset import write_dataset
from bipe.synthetic.segment import separator_positions

KNOWN = "one two\nthree\n\nfour five six\nseven"  # lines: 2, 1, 0, 3 words, + final "seven"


def test_known_text_word_and_char_counts():
    marks = text_boundaries(KNOWN, ["\n"])
    assert segment_lengths(marks).tolist() == [3, 2, 1, 4, 1]
    assert marks.size == 11
    chars = text_boundaries("ab\ncde\n", ["\n"], unit="char")
    assert segment_lengths(chars).tolist() == [3, 4]


def test_windows_count_distinct_segments():
    marks = text_boundaries(KNOWN, ["\n"])  # 11 tokens: seg ids 0 0 0 1 1 2 3 3 3 3 4
    assert window_segment_counts(marks, 5).tolist() == [2, 2]  # [0 0 0 1 1], [2 3 3 3 3]
    assert window_segment_counts(marks, 11).tolist() == [5]
    assert window_segment_counts(marks, 12).tolist() == []


@given(st.lists(st.integers(0, 3), min_size=1, max_size=60), st.integers(1, 12))
def test_marks_agree_with_separator_positions(tokens, length):
    """Slow reference: seg from the synthetic segmenter (separator = token 0)."""
    tokens = np.array(tokens)
    marks = tokens == 0
    seg, _ = separator_positions(tokens, [0])
    assert segment_lengths(marks).tolist() == np.bincount(seg).tolist()
    n = len(tokens) // length
    expected = [len(set(seg[i * length : (i + 1) * length])) for i in range(n)]
    assert window_segment_counts(marks, length).tolist() == expected
    assert segment_lengths(marks).sum() == len(tokens)


def test_dataset_source_uses_seg_column_or_sep_ids(tmp_path):
    records = [
        {"tokens": [1, 2, 5, 3, 5], "seg": [0, 0, 0, 1, 1]},
        {"tokens": [4, 5, 4, 4], "seg": [0, 0, 1, 1]},
    ]
    write_dataset(tmp_path / "ds", records, {"generator": "test"})
    by_seg = source_marks(tmp_path / "ds", [])
    assert [segment_lengths(m).tolist() for m in by_seg] == [[3, 2], [2, 2]]
    by_id = source_marks(tmp_path / "ds", ["4"])
    assert [segment_lengths(m).tolist() for m in by_id] == [[5], [1, 2, 1]]
    with pytest.raises(ValueError, match="token ids"):
        source_marks(tmp_path / "ds", ["\\n"])


def test_write_segstats_on_folder_of_code(tmp_path):
    src = tmp_path / "code"
    src.mkdir()
    (src / "a.py").write_text("x = 1\ny = 2\n" * 50)
    (src / "b.txt").write_text("ignored\n")
    out = tmp_path / "out"
    md = write_segstats([src], out, separators=["\\n"], lengths=[8, 30], glob="*.py").read_text()
    summary = json.loads((out / "segstats.json").read_text())["code"]
    assert summary["n_tokens"] == 400  # 100 lines x (3 words + newline)
    assert summary["tokens_per_segment"]["mean"] == 4.0
    assert summary["segments_per_sequence"]["8"]["count"] == 50
    assert summary["segments_per_sequence"]["8"]["mean"] == 2.0
    assert "| code | tokens per segment | 100 | 4.0 |" in md
    for png in ("tokens_per_segment.png", "segments_per_sequence_code.png"):
        assert (out / png).stat().st_size > 1000 and png in md


def test_cli_segstats_and_one_line_errors(tmp_path, bipe_cli):
    f = tmp_path / "t.txt"
    f.write_text(KNOWN)
    cmd = [
        sys.executable,
        "-m",
        "bipe",
        "segstats",
        str(f),
        "--lengths",
        "4",
        "--out",
        str(tmp_path / "o"),
    ]
    proc = bipe_cli(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "tokens per segment" in proc.stdout
    bad = bipe_cli(
        cmd[:-2] + ["--unit", "byte", "--out", str(tmp_path / "o")], capture_output=True, text=True
    )
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1
    missing = bipe_cli(
        [
            sys.executable,
            "-m",
            "bipe",
            "segstats",
            str(tmp_path / "nope"),
            "--out",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 2 and "no such file" in missing.stderr


@pytest.mark.parametrize("layout", ["empty_file", "no_match", "only_empty_files"])
def test_segstats_refuses_sources_without_tokens(tmp_path, capsys, layout):
    from bipe.experiments.cli import main

    src = tmp_path / "src"
    src.mkdir()
    if layout == "empty_file":
        src = src / "empty.txt"
        src.write_text("")
    elif layout == "only_empty_files":
        (src / "a.py").write_text("")
        (src / "b.py").write_text("  \t ")
    out = tmp_path / "out"
    code = main(["segstats", str(src), "--glob", "*.py", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert ("no tokens" in err) if layout != "no_match" else ("no files match" in err)
    assert not out.exists()  # nothing written, not even the folder
