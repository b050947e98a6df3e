"""docs/method.md is the one method document: every cited anchor exists (in it, and in the
guide and architecture documents beside it), nothing cites the external notes it replaced, and
every registry encoding has its own subsection."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "method.md"
CITE = re.compile(r"docs/(method|guide|architecture)\.md#([\w-]+)")
LINK = re.compile(r"\]\((method|guide|architecture)\.md#([\w-]+)\)")  # between docs/ files
REQUIRED = (
    "positions",
    "encodings",
    "intra-overflow",
    "bi-nfa",
    "arithmetic",
    "segmentation",
    "evaluation",
    "the-paper",
)
OLD_NOTES = "BIPE" + ".md"  # spelled apart so this file does not cite it


def github_slug(heading: str) -> str:
    """GitHub's anchor for a heading: lowercase, punctuation dropped, spaces -> hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def headings(markdown: str) -> list[tuple[int, str]]:
    """``(level, text)`` of every heading outside fenced code blocks."""
    out, fenced = [], False
    for line in markdown.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and (m := re.match(r"(#{1,6}) (.+)", line)):
            out.append((len(m.group(1)), m.group(2)))
    return out


def anchors(markdown: str) -> set[str]:
    """Every anchor GitHub makes, duplicates numbered ``-1``, ``-2`` as GitHub does."""
    seen: dict[str, int] = {}
    out = set()
    for _, text in headings(markdown):
        slug = github_slug(text)
        out.add(f"{slug}-{seen[slug]}" if slug in seen else slug)
        seen[slug] = seen.get(slug, 0) + 1
    return out


def repository_files():
    skip = {".git", ".venv", ".ci-venv", "build", "__pycache__"}
    for path in ROOT.rglob("*"):
        rel = path.relative_to(ROOT)
        if (
            path.is_file()
            and not skip & set(rel.parts)
            and path.suffix in (".py", ".md", ".toml", ".txt", ".cfg", ".json", ".yml", ".yaml")
        ):
            yield rel, path.read_text(errors="replace")


def test_github_slug_rules():
    assert github_slug("Bi-NFA") == "bi-nfa"
    assert github_slug("The paper") == "the-paper"
    assert github_slug("randomized_rope") == "randomized_rope"
    assert github_slug("What's new (v2)?") == "whats-new-v2"
    assert anchors("# A\n## A\n```\n# not a heading\n```\n") == {"a", "a-1"}


def test_required_sections_exist():
    assert set(REQUIRED) <= anchors(DOC.read_text())


def test_every_cited_anchor_exists():
    docs = ("method", "guide", "architecture")
    known = {d: anchors((ROOT / "docs" / f"{d}.md").read_text()) for d in docs}
    missing = []
    for rel, text in repository_files():
        for pattern in (CITE, LINK):
            for match in pattern.finditer(text):
                if match.group(2) not in known[match.group(1)]:
                    line = text.count("\n", 0, match.start()) + 1
                    missing.append(f"{rel}:{line}: {match.group(1)}.md#{match.group(2)}")
    for d in docs:  # links inside one document
        local = re.findall(r"\]\(#([\w-]+)\)", (ROOT / "docs" / f"{d}.md").read_text())
        missing += [f"docs/{d}.md: #{a}" for a in local if a not in known[d]]
    assert not missing, f"cited anchors with no heading: {missing}"


def test_nothing_cites_the_old_external_notes():
    citing = [str(rel) for rel, text in repository_files() if OLD_NOTES in text]
    assert not citing, f"files citing {OLD_NOTES} (cite a docs/method.md anchor): {citing}"


def test_every_registry_encoding_has_a_subsection():
    """Each ENCODINGS name heads a subsection (``### name`` under Encodings, or a later
    ``### `name`: ...`` section such as Newer encodings)."""
    from bipe.models import ENCODINGS

    titles = [text for level, text in headings(DOC.read_text()) if level == 3]
    named = {w.strip("`:,()") for t in titles for w in t.split()}
    assert set(ENCODINGS) <= named, sorted(set(ENCODINGS) - named)
