"""`bipe segstats --method`: natural, fixed and entropy segmentation of the same files."""

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bipe.analysis.segmethods import EntropyKnobs, method_marks, parse_method
from bipe.analysis.segstats import segment_lengths, text_tokens, write_segstats
from bipe.experiments.cli import main


def test_parse_method():
    assert parse_method("separator").kind == "separator"
    assert (parse_method("fixed:8").kind, parse_method("fixed:8").value) == ("fixed", 8)
    assert parse_method("entropy").value is None
    assert parse_method("entropy:6.5").value == 6.5
    for bad in ("entropic", "fixed", "fixed:0", "fixed:x", "entropy:0.5", "separator:2"):
        with pytest.raises(ValueError, match="unknown segmentation method"):
            parse_method(bad)
    with pytest.raises(ValueError, match="entropy-rule"):
        EntropyKnobs(rule="peak")


@given(
    st.lists(st.sampled_from(["a", "b", " ", "\n", ".", "xy"]), max_size=30),
    st.sampled_from(["word", "char"]),
)
def test_text_tokens_put_one_token_per_separator_at_each_mark(pieces, unit):
    text = "".join(pieces)
    tokens, marks = text_tokens(text, [".", "\n"], unit=unit)
    assert len(tokens) == marks.size
    assert [t for t, m in zip(tokens, marks, strict=True) if m] == [
        p for p in pieces if p in (".", "\n")
    ]


def _lines(seed, n_lines=200):
    """Lines of one repeated word: after a word, it or the newline; after a newline, any."""
    rng = np.random.default_rng(seed)
    words = ["alpha", "beta", "gamma", "delta", "eps"]
    return "".join(
        " ".join([str(rng.choice(words))] * int(rng.integers(1, 4))) + "\n" for _ in range(n_lines)
    )


def test_methods_compared_on_the_same_file(tmp_path):
    (tmp_path / "t.txt").write_text(_lines(0))
    out = tmp_path / "o"
    md = write_segstats(
        [tmp_path / "t.txt"],
        out,
        lengths=[16],
        methods=["separator", "fixed:3", "entropy", "entropy:2"],
        entropy=EntropyKnobs(order=2),
    ).read_text()
    summary = json.loads((out / "segstats.json").read_text())
    natural = summary["t.txt"]["tokens_per_segment"]
    # the uncertainty sits after each newline, so entropy at the natural mean IS the natural one
    assert summary["t.txt [entropy]"]["tokens_per_segment"] == natural
    assert summary["t.txt [entropy]"]["entropy_fit"]["achieved_length"] == pytest.approx(
        natural["mean"]
    )
    assert summary["t.txt [fixed:3]"]["tokens_per_segment"]["median"] == 3
    fit = summary["t.txt [entropy:2]"]["entropy_fit"]
    assert fit["target_length"] == 2 and fit["order"] == 2 and fit["rule"] == "threshold"
    assert "t.txt [entropy:2]" in md and "Entropy segmentation fitted" in md
    assert "entropy_fit" not in summary["t.txt"]


def test_method_marks_on_token_ids():
    docs = [np.array([0, 0, 4, 1, 4, 2, 2, 2, 4])] * 3
    natural = [d == 4 for d in docs]
    marks, info = method_marks(parse_method("separator"), docs, natural)
    assert info == {} and [m.tolist() for m in marks] == [n.tolist() for n in natural]
    marks, _ = method_marks(parse_method("fixed:4"), docs, natural)
    assert segment_lengths(marks[0]).tolist() == [4, 4, 1]
    marks, info = method_marks(parse_method("entropy:9"), docs, natural)
    assert info["achieved_length"] == 9.0 and not any(m[:-1].any() for m in marks)
    with pytest.raises(ValueError, match="empty corpus"):
        method_marks(parse_method("entropy"), [np.zeros(0, int)], [np.zeros(0, bool)])


def test_cli_methods_and_one_line_errors(tmp_path, capsys):
    f = tmp_path / "t.txt"
    f.write_text(_lines(1, 50))
    out = str(tmp_path / "o")
    assert (
        main(
            [
                "segstats",
                str(f),
                "--lengths",
                "8",
                "--method",
                "separator",
                "--method",
                "entropy",
                "--entropy-rule",
                "rise",
                "--out",
                out,
            ]
        )
        == 0
    )
    assert "t.txt [entropy]" in capsys.readouterr().out
    (tmp_path / "empty.txt").write_text("")
    for argv, message in [
        ([str(f), "--method", "entropic"], "unknown segmentation method 'entropic'"),
        ([str(tmp_path / "empty.txt"), "--method", "entropy"], "empty corpus"),
        ([str(f), "--entropy-order", "2"], "--entropy-order is set but no --method entropy"),
        ([str(f), "--method", "entropy", "--entropy-order", "1"], "--entropy-order must be"),
    ]:
        assert main(["segstats", *argv, "--out", out]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1
