"""Unit tests for research_service.knowledge_base."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from research_service import knowledge_base
from research_service.knowledge_base import (
    DEFAULT_KNOWLEDGE_DIR,
    KnowledgeBase,
    Passage,
    SearchHit,
    normalize_term,
    split_passages,
)


def _write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _doc(title: str, body: str, source: str = "playbook/test", tags: str = "[]") -> str:
    return f"---\ntitle: {title}\nsource: {source}\ntags: {tags}\n---\n\n{body}\n"


@pytest.fixture
def three_docs(tmp_path: Path) -> Path:
    _write(
        tmp_path,
        "gardening.md",
        _doc("Gardening", "Tomatoes need sunlight, water and patience to ripen in the summer garden."),
    )
    _write(
        tmp_path,
        "cooking.md",
        _doc("Cooking", "A risotto needs stock added slowly while stirring the rice over medium heat."),
    )
    _write(
        tmp_path,
        "astronomy.md",
        _doc(
            "Astronomy",
            "A telescope reveals the rings of Saturn on a clear night away from city lights.",
            source="playbook/astronomy",
            tags="[space, telescopes]",
        ),
    )
    return tmp_path


def test_query_matching_one_document_returns_only_it(three_docs: Path) -> None:
    kb = KnowledgeBase.load([three_docs])
    assert len(kb) == 3
    hits = kb.search("saturn telescope")
    assert [hit.document_id for hit in hits] == ["astronomy"]
    hit = hits[0]
    assert hit.title == "Astronomy"
    assert hit.source == "playbook/astronomy"
    assert "rings of Saturn" in hit.snippet
    assert hit.score > 0


def test_front_matter_fields_are_parsed(three_docs: Path) -> None:
    doc = KnowledgeBase.load([three_docs]).get("astronomy")
    assert doc is not None
    assert doc.tags == ("space", "telescopes")
    assert doc.path == three_docs / "astronomy.md"
    assert "---" not in doc.text
    assert doc.text.strip().startswith("A telescope")


def test_unmatched_and_stopword_queries_return_nothing(three_docs: Path) -> None:
    kb = KnowledgeBase.load([three_docs])
    assert kb.search("quantum chromodynamics") == []
    assert kb.search("what is the and of it") == []
    assert kb.search("") == []


def test_max_results_is_honoured_and_validated(tmp_path: Path) -> None:
    for index in range(6):
        _write(tmp_path, f"doc{index}.md", f"Email newsletter issue number {index} about onboarding.")
    kb = KnowledgeBase.load([tmp_path])
    assert len(kb.search("newsletter")) == 5
    assert len(kb.search("newsletter", max_results=2)) == 2
    assert len(kb.search("newsletter", max_results=10)) == 6
    with pytest.raises(ValueError, match="max_results"):
        kb.search("newsletter", max_results=0)


@pytest.mark.parametrize(
    ("word", "stem"),
    [
        ("campaigns", "campaign"),
        ("posting", "post"),
        ("posted", "post"),
        ("stories", "story"),
        ("shipping", "ship"),
        ("linkedin's", "linkedin"),
        ("business", "business"),
        ("status", "status"),
        ("used", "used"),
    ],
)
def test_normalize_term(word: str, stem: str) -> None:
    assert normalize_term(word) == stem


def test_plural_and_suffix_forms_match(tmp_path: Path) -> None:
    _write(tmp_path, "campaign.md", "We ran one campaign last quarter and it was posted on Tuesday.")
    _write(tmp_path, "other.md", "Unrelated notes about office furniture.")
    kb = KnowledgeBase.load([tmp_path])
    assert [hit.document_id for hit in kb.search("campaigns")] == ["campaign"]
    assert [hit.document_id for hit in kb.search("posting")] == ["campaign"]


def test_hyphenated_terms_match_their_parts(tmp_path: Path) -> None:
    _write(tmp_path, "oss.md", "Our open-source project welcomes contributions.")
    _write(tmp_path, "other.md", "Closed meetings happen on Fridays.")
    kb = KnowledgeBase.load([tmp_path])
    assert [hit.document_id for hit in kb.search("source code")] == ["oss"]


def test_title_boost_breaks_equal_body_scores(tmp_path: Path) -> None:
    body = "Pricing pages should show plans side by side with a clear call to action."
    # "a-plain" would win the id tie-break, so only the title boost can put "b-titled" first.
    _write(tmp_path, "a-plain.md", _doc("Web design notes", body))
    _write(tmp_path, "b-titled.md", _doc("Pricing guide", body))
    kb = KnowledgeBase.load([tmp_path])
    hits = kb.search("pricing")
    assert [hit.document_id for hit in hits] == ["b-titled", "a-plain"]
    assert hits[0].score > hits[1].score


def test_tag_boost_breaks_equal_body_scores(tmp_path: Path) -> None:
    body = "Short videos should open with the payoff and carry captions."
    _write(tmp_path, "a-untagged.md", _doc("Notes one", body))
    _write(tmp_path, "b-tagged.md", _doc("Notes two", body, tags="[video]"))
    kb = KnowledgeBase.load([tmp_path])
    assert [hit.document_id for hit in kb.search("video")] == ["b-tagged", "a-untagged"]


def test_title_only_match_is_returned(tmp_path: Path) -> None:
    _write(tmp_path, "x.md", _doc("Competitor analysis", "Study rivals and their positioning carefully."))
    kb = KnowledgeBase.load([tmp_path])
    hits = kb.search("competitor")
    assert [hit.document_id for hit in hits] == ["x"]
    assert hits[0].snippet.startswith("Study rivals")


def test_ties_are_ordered_by_id_deterministically(tmp_path: Path) -> None:
    for name in ("charlie", "alpha", "bravo"):
        _write(tmp_path, f"{name}.md", "Identical text about launch checklists.")
    kb = KnowledgeBase.load([tmp_path])
    first = kb.search("launch")
    assert [hit.document_id for hit in first] == ["alpha", "bravo", "charlie"]
    assert len({hit.score for hit in first}) == 1
    assert KnowledgeBase.load([tmp_path]).search("launch") == first


def test_document_without_front_matter(tmp_path: Path) -> None:
    _write(tmp_path, "with-heading.md", "Intro line.\n\n# Real Title\n\nBody about brand voice.")
    _write(tmp_path, "notes/plain_file.txt", "Just some text about brand tone.")
    kb = KnowledgeBase.load([tmp_path])
    headed = kb.get("with-heading")
    assert headed is not None
    assert headed.title == "Real Title"
    assert headed.source == "with-heading.md"
    assert headed.tags == ()
    plain = kb.get("notes/plain-file")
    assert plain is not None
    assert plain.title == "plain_file"
    assert plain.source == "plain_file.txt"


def test_only_markdown_and_text_files_are_loaded(tmp_path: Path) -> None:
    _write(tmp_path, "a.md", "Markdown file about search.")
    _write(tmp_path, "deep/er/b.txt", "Text file about search.")
    _write(tmp_path, "c.json", '{"about": "search"}')
    kb = KnowledgeBase.load([tmp_path])
    assert len(kb) == 2
    assert sorted(hit.document_id for hit in kb.search("search")) == ["a", "deep/er/b"]


def test_undecodable_and_broken_files_are_skipped_with_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _write(tmp_path, "good.md", "A readable document about personas.")
    (tmp_path / "binary.md").write_bytes(b"\xff\xfe\x00personas\x81\x82")
    _write(tmp_path, "broken.md", "---\ntitle: [unclosed\n---\nText about personas.")
    with caplog.at_level(logging.WARNING, logger=knowledge_base.__name__):
        kb = KnowledgeBase.load([tmp_path])
    assert len(kb) == 1
    assert kb.get("good") is not None
    assert kb.get("binary") is None
    assert kb.get("broken") is None
    messages = " ".join(record.getMessage() for record in caplog.records)
    assert "binary.md" in messages
    assert "broken.md" in messages


def test_oversized_file_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(knowledge_base, "MAX_FILE_BYTES", 100)
    _write(tmp_path, "small.md", "Tiny note about growth.")
    _write(tmp_path, "big.md", "growth " * 50)
    with caplog.at_level(logging.WARNING, logger=knowledge_base.__name__):
        kb = KnowledgeBase.load([tmp_path])
    assert [hit.document_id for hit in kb.search("growth")] == ["small"]
    assert any("big.md" in record.getMessage() for record in caplog.records)


def test_missing_directory_raises(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(ValueError, match="nowhere"):
        KnowledgeBase.load([tmp_path, missing])


def test_colliding_ids_get_directory_prefix(tmp_path: Path) -> None:
    first = tmp_path / "one"
    second = tmp_path / "two"
    _write(first, "guide.md", "First guide about pricing.")
    _write(second, "guide.md", "Second guide about pricing.")
    kb = KnowledgeBase.load([first, second])
    assert len(kb) == 2
    original = kb.get("guide")
    prefixed = kb.get("1-guide")
    assert original is not None and original.path == first / "guide.md"
    assert prefixed is not None and prefixed.path == second / "guide.md"


def test_key_passages_pick_the_matching_passage(tmp_path: Path) -> None:
    body = (
        "# Guide\n\n"
        "## Intro\n\nThis guide covers many marketing topics for software teams in general terms.\n\n"
        "## Email\n\nNewsletter subject lines should be concrete and honest, and preview text matters.\n\n"
        "## Social\n\nPost on LinkedIn on weekday mornings and answer comments in the first hour.\n"
    )
    _write(tmp_path, "guide.md", body)
    _write(tmp_path, "other.md", "# Other\n\nAn unrelated document about accounting rules.\n")
    kb = KnowledgeBase.load([tmp_path])

    passages = kb.key_passages(["guide"], "linkedin comments", per_document=2)
    assert len(passages) == 1
    assert isinstance(passages[0], Passage)
    assert passages[0].text.startswith("Post on LinkedIn")
    assert passages[0].score > 0

    two = kb.key_passages(["guide"], "newsletter linkedin", per_document=2)
    assert {p.text.split()[0] for p in two} == {"Newsletter", "Post"}
    assert two[0].score >= two[1].score
    assert len(kb.key_passages(["guide"], "newsletter linkedin", per_document=1)) == 1


def test_key_passages_order_fallback_and_unknown_ids(tmp_path: Path) -> None:
    _write(tmp_path, "a.md", "# A\n\nAlpha text about launches and their checklists.\n")
    _write(tmp_path, "b.md", "# B\n\nBravo text about pricing pages.\n")
    kb = KnowledgeBase.load([tmp_path])
    passages = kb.key_passages(["b", "missing", "a", "b"], "pricing")
    assert [p.document_id for p in passages] == ["b", "a"]
    assert passages[0].score > 0
    # "a" has no passage containing "pricing": its first passage comes back with score 0.
    assert passages[1].text.startswith("Alpha text")
    assert passages[1].score == 0.0
    with pytest.raises(ValueError, match="per_document"):
        kb.key_passages(["a"], "pricing", per_document=0)


def test_split_passages_drops_headings_and_merges_tiny_paragraphs() -> None:
    long_paragraph = " ".join(["word"] * 40)
    body = (
        f"# Title\n\n## Section\n\nTiny one.\n\nTiny two.\n\n{long_paragraph}\n\n"
        f"## Next\n\n{long_paragraph}\n"
    )
    passages = split_passages(body)
    assert len(passages) == 2
    assert passages[0][0] == "Section"
    assert passages[0][1].startswith("Tiny one.")
    assert "Tiny two." in passages[0][1]
    assert passages[1] == ("Next", long_paragraph)
    assert not any(text.startswith("#") for _, text in passages)


def test_hit_and_passage_to_dict() -> None:
    hit = SearchHit(document_id="d", title="T", source="s", snippet="x", score=1.234567)
    assert hit.to_dict() == {"document_id": "d", "title": "T", "source": "s", "snippet": "x", "score": 1.2346}
    passage = Passage(document_id="d", title="T", source="s", text="y", score=2.0)
    assert passage.to_dict()["text"] == "y"


def test_snippet_is_clipped(tmp_path: Path) -> None:
    _write(tmp_path, "long.md", "Attribution " + "detail " * 200)
    hits = KnowledgeBase.load([tmp_path]).search("attribution")
    assert len(hits) == 1
    assert len(hits[0].snippet) <= knowledge_base.SNIPPET_CHARS
    assert hits[0].snippet.endswith("…")


# --- the shipped knowledge base -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shipped() -> KnowledgeBase:
    return KnowledgeBase.load([DEFAULT_KNOWLEDGE_DIR])


def test_shipped_knowledge_base_loads(shipped: KnowledgeBase) -> None:
    files = sorted(DEFAULT_KNOWLEDGE_DIR.glob("*.md"))
    assert len(files) >= 12
    assert len(shipped) == len(files)
    for path in files:
        doc = shipped.get(path.stem)
        assert doc is not None, path
        assert doc.source.startswith("playbook/"), path
        assert doc.tags, path
        assert doc.title != path.stem, path
        assert 250 <= len(doc.text.split()) <= 600, path


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("best time to post on linkedin", "social-posting-times-x-linkedin"),
        ("github stars contributors", "developer-marketing-open-source"),
        ("meta description title tag", "seo-on-page-basics"),
        ("vector database embeddings", "vector-databases-market"),
        ("newsletter subject lines", "email-newsletters"),
    ],
)
def test_shipped_ranking(shipped: KnowledgeBase, query: str, expected: str) -> None:
    hits = shipped.search(query)
    assert hits, query
    assert hits[0].document_id == expected
