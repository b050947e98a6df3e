"""bipe.synthetic.text: corpus sources, the hash split and its manifest, tokenisers, separator
rules, windows and the passkey generator, against slow obviously-correct references."""

from __future__ import annotations

import hashlib
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bipe.synthetic.text.corpus import (
    Document,
    file_documents,
    hf_documents,
    kjv_documents,
    manifest,
    split_documents,
    split_of,
)
from bipe.synthetic.text.passkey import FILLER, min_passkey_length, passkey_example
from bipe.synthetic.text.separators import RULES, separator_levels
from bipe.synthetic.text.tokenizer import ByteTokenizer, load_bpe, train_bpe
from bipe.synthetic.text.windows import (
    IGNORE,
    chunk_windows,
    sample_windows,
    sliding_windows,
    token_stream,
)

names = st.text(st.characters(codec="utf-8"), min_size=1, max_size=20)
texts = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=60)


def _corpus(tmp_path, n=40):
    root = tmp_path / "corpus"
    (root / "pkg").mkdir(parents=True)
    for i in range(n):
        (root / "pkg" / f"m{i:02d}.py").write_text(f"def f{i}():\n    return {i}\n\n\nx = 1\n")
    (root / "notes.txt").write_text("Not code. Really!\n")
    return root


# ------------------------------------------------------------------------ corpus and split


def test_files_include_exclude_and_globs(tmp_path):
    root = _corpus(tmp_path)
    docs = file_documents([str(root)], include=("*.py",), exclude=("pkg/m0*",))
    assert [d.name for d in docs][:2] == ["corpus/pkg/m10.py", "corpus/pkg/m11.py"]
    assert len(docs) == 30 and all(d.name.endswith(".py") for d in docs)
    globbed = file_documents([str(root / "pkg" / "m1*.py")])
    assert [d.name for d in globbed] == [f"pkg/m1{i}.py" for i in range(10)]
    with pytest.raises(ValueError, match="does not exist"):
        file_documents([str(root / "missing")])
    with pytest.raises(ValueError, match="no files match"):
        file_documents([str(root)], include=("*.rs",))


@given(st.lists(names, min_size=1, max_size=30, unique=True), st.floats(0, 0.4), st.floats(0, 0.4))
def test_split_is_a_pure_disjoint_function_of_the_name(doc_names, validation, test):
    docs = [Document(n, "x") for n in doc_names]
    fractions = {"validation": validation, "test": test}
    got = {s: [d.name for d in ds] for s, ds in _split_or_empty(docs, fractions).items()}
    flat = [n for ds in got.values() for n in ds]
    assert sorted(flat) == sorted(doc_names)  # every document in exactly one split
    # reference: the split from the sha256 of the name alone, in reverse corpus order
    for name in reversed(doc_names):
        u = int(hashlib.sha256(name.encode()).hexdigest()[:16], 16) / 2**64
        want = "test" if u < test else "validation" if u < test + validation else "train"
        assert name in got[want]
        assert split_of(name, **fractions) == want


def _split_or_empty(docs, fractions):
    out = {"train": [], "validation": [], "test": []}
    for d in docs:
        out[split_of(d.name, **fractions)].append(d)
    return out


def test_split_documents_and_manifest(tmp_path):
    docs = file_documents([str(_corpus(tmp_path))])
    a = split_documents(docs, validation=0.2, test=0.2)
    b = split_documents(list(reversed(docs)), validation=0.2, test=0.2)
    assert {s: sorted(d.name for d in v) for s, v in a.items()} == {
        s: sorted(d.name for d in v) for s, v in b.items()
    }
    m = manifest(a)
    assert sum(m[s]["n_documents"] for s in m) == len(docs)
    row = m["train"]["documents"][0]
    doc = next(d for d in docs if d.name == row["name"])
    assert (
        row["bytes"] == len(doc.text.encode())
        and row["sha256"] == hashlib.sha256(doc.text.encode()).hexdigest()
    )
    with pytest.raises(ValueError, match="got none"):  # contiguous blocks, one of them empty
        split_documents([Document("a", "xy")], validation=0.1, test=0.1)


def test_kjv_books_chapters_verses():
    docs = kjv_documents()
    assert len(docs) == 66 and docs[0].name.endswith("Genesis")
    genesis = docs[0].text.split("\n\n")
    assert len(genesis) == 50  # chapters
    assert genesis[0].startswith("In the beginning God created the heaven")
    assert len(genesis[0].splitlines()) == 31  # verses of Genesis 1, none merged
    assert not re.search(r"\d+:\d+", docs[0].text)


def test_hf_dataset_folder(tmp_path):
    datasets = pytest.importorskip("datasets")
    rows = {"id": ["a", "b", "c"], "body": ["one.", "two!", "three?"]}
    datasets.Dataset.from_dict(rows).save_to_disk(str(tmp_path / "ds"))
    docs = hf_documents(str(tmp_path / "ds"), column="body")
    assert [(d.name, d.text) for d in docs] == list(zip(rows["id"], rows["body"], strict=True))
    with pytest.raises(ValueError, match="no column 'text'"):
        hf_documents(str(tmp_path / "ds"))


# ------------------------------------------------------------------------------ tokenizers


@given(texts, st.booleans())
def test_bytes_round_trip(text, blank_lines):
    tok = ByteTokenizer(blank_lines=blank_lines)
    ids = tok.encode(text)
    assert tok.decode(ids) == text
    assert len(ids) == len(text.encode()) == int(tok.token_bytes()[ids].sum())
    assert (
        ((ids == tok.blank).sum() == text.count("\n\n") + _overlaps(text))
        if blank_lines
        else not (ids >= 256).any()
    )


def _overlaps(text: str) -> int:
    """Newlines preceded by a newline, minus the non-overlapping ``\\n\\n`` count."""
    return sum(1 for i in range(1, len(text)) if text[i - 1 : i + 1] == "\n\n") - text.count("\n\n")


@pytest.fixture(scope="module")
def bpe():
    corpus = ["def f(x):\n    return x + 1\n\n\n", "The pass key is 12345. Remember it.\n\n"] * 50
    return train_bpe(corpus, 300)


@given(texts)
def test_bpe_round_trip_and_byte_counts(bpe, text):
    ids = bpe.encode(text)
    assert bpe.decode(ids) == text
    assert int(bpe.token_bytes()[ids].sum()) == len(text.encode())


def test_bpe_is_deterministic_and_saved(bpe, tmp_path):
    again = train_bpe(
        ["def f(x):\n    return x + 1\n\n\n", "The pass key is 12345. Remember it.\n\n"] * 50, 300
    )
    assert again.to_json() == bpe.to_json()
    (tmp_path / "tokenizer.json").write_text(bpe.to_json())
    loaded = load_bpe(tmp_path / "tokenizer.json")
    assert loaded.encode("return 12345.").tolist() == bpe.encode("return 12345.").tolist()
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ValueError, match="not a tokenizer.json"):
        load_bpe(tmp_path / "bad.json")


# ------------------------------------------------------------------------------ separators


@pytest.mark.parametrize("rule", sorted(RULES))
def test_separator_levels_reference(bpe, rule):
    """Each token in the highest level one of whose texts it contains; <eod> on top."""
    for tok in (ByteTokenizer(blank_lines=True), bpe):
        levels = separator_levels(tok, rule)
        assert len(levels) == len(RULES[rule])
        texts_ = tok.token_texts()
        for i, text in enumerate(texts_):
            where = [k for k, lv in enumerate(levels) if i in lv]
            if i == tok.eod:
                assert where == [len(levels) - 1]
                continue
            want = [k for k, lv in enumerate(RULES[rule]) if any(t in text for t in lv)]
            assert where == ([max(want)] if want else [])


def test_bpe_blank_line_tokens_close_blocks(bpe):
    levels = separator_levels(bpe, "blocks")
    ids = bpe.encode("x = 1\n\n\ny = 2\n")
    texts_ = [bpe.decode([i]) for i in ids]
    assert any("\n\n" in t for t in texts_)
    for i, t in zip(ids, texts_, strict=True):
        assert (i in levels[1]) == ("\n\n" in t)
        assert (i in levels[0]) == ("\n" in t and "\n\n" not in t)


# ------------------------------------------------------------------------------- windows


def test_token_stream_joins_with_eod():
    tok = ByteTokenizer()
    stream = token_stream(["ab", "", "c"], tok)
    assert stream.tolist() == [97, 98, 256, 256, 99, 256]
    assert token_stream(["ab", "cd", "ef"], tok, limit=4).tolist() == [97, 98, 256, 99]


@given(st.integers(2, 40), st.integers(1, 8), st.integers(1, 8), st.integers(0, 2**32 - 1))
def test_windows_reference(n, length, stride, seed):
    stream = np.arange(n + length + 1) * 7 % 11
    x, y = sample_windows(np.random.default_rng(seed), stream, 5, length)
    for xi, yi in zip(x, y, strict=True):  # each window is a contiguous piece of the stream
        start = next(
            s
            for s in range(len(stream))
            if stream[s : s + length].tolist() == xi.tolist()
            and stream[s + 1 : s + length + 1].tolist() == yi.tolist()
        )
        assert start + length < len(stream)
    x, y, starts = chunk_windows(stream, length)
    assert (starts == np.arange(len(starts)) * length).all()
    assert y.flatten().tolist() == stream[1 : 1 + y.size].tolist()
    stride = min(stride, length)
    x, y, starts = sliding_windows(stream, length, stride)
    scored = {}  # reference: stream index -> the window that scores it
    for k, s in enumerate(starts):
        for j in range(length):
            if y[k, j] != IGNORE:
                assert y[k, j] == stream[s + j + 1] and s + j + 1 not in scored
                scored[s + j + 1] = k
    top = starts[-1] + length
    assert sorted(scored) == list(range(1, top + 1))  # every token once, none skipped


# ------------------------------------------------------------------------------- passkey


@given(st.integers(0, 2**32 - 1), st.integers(0, 200), st.floats(0, 1), st.booleans())
def test_passkey_examples(seed, extra, depth, corpus_filler):
    tok = ByteTokenizer()
    length = min_passkey_length(tok) + extra
    filler = tok.encode("lorem ipsum dolor " * 40) if corpus_filler else None
    ex = passkey_example(np.random.default_rng(seed), tok, length, depth, filler)
    text = tok.decode(ex.tokens)
    assert len(ex.tokens) == length and len(ex.key) == 5 and ex.key.isdigit()
    assert text.endswith(f"\nWhat is the pass key? The pass key is {ex.key}")
    assert tok.decode(ex.tokens[-ex.n_answer :]) == ex.key
    line = f"\nThe pass key is {ex.key}. Remember it.\n"
    assert text.count(line) == 1
    before = text.index(line)  # the key line sits at the requested depth of the filler
    assert before == round(depth * extra)
    if not corpus_filler:
        assert (text[:before] + text[before + len(line) :]).startswith(FILLER[: min(extra, 40)])


def test_passkey_is_seeded_and_checks_lengths():
    tok = ByteTokenizer()
    a = passkey_example(np.random.default_rng(3), tok, 200, 0.5)
    b = passkey_example(np.random.default_rng(3), tok, 200, 0.5)
    assert a.tokens.tolist() == b.tokens.tolist()
    with pytest.raises(ValueError, match="needs at least"):
        passkey_example(np.random.default_rng(0), tok, 10, 0.5)


@pytest.mark.parametrize("name", ["corpus", "tokenizer", "separators", "windows", "passkey"])
def test_docstring_examples(name):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(f"bipe.synthetic.text.{name}"))
    assert result.attempted > 0 and result.failed == 0
