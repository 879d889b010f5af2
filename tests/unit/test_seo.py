"""Unit tests for content_service.seo."""

from __future__ import annotations

import json

import pytest

from content_service.seo import MIN_WORDS, PENALTIES, analyze_seo

GOOD_TITLE = "Content Marketing for Startups: A Guide"  # 39 characters
GOOD_META = (
    "Learn how content marketing helps startups grow: plan topics, write useful articles, "
    "measure results and improve every month."
)  # 123 characters


def _filler(n: int) -> str:
    """``n`` words of plain filler, ten-word sentences."""
    words = ["word"] * n
    sentences = [" ".join(words[i : i + 10]) + "." for i in range(0, n, 10)]
    return " ".join(sentences)


def test_keyword_density_exact_figure() -> None:
    text = "growth " * 4 + _filler(196)
    report = analyze_seo(text, keywords=["Growth"])
    assert report.word_count == 200
    [density] = report.keyword_densities
    assert (density.keyword, density.occurrences, density.density_percent) == ("growth", 4, 2.0)


def test_multi_word_keyword_whole_word_case_insensitive() -> None:
    text = "Open source wins. OPEN  SOURCE is great. Opensource is not counted, nor open sources."
    report = analyze_seo(text, keywords=["open source", "source"])
    assert report.word_count == 14
    assert [(k.keyword, k.occurrences) for k in report.keyword_densities] == [
        ("open source", 2),
        ("source", 2),
    ]
    assert report.keyword_densities[0].density_percent == 14.29


def test_readability_known_figures() -> None:
    # 6 one-syllable words in one sentence: FRE = 206.835 - 1.015*6 - 84.6*1, FK = 0.39*6 + 11.8 - 15.59
    report = analyze_seo("The cat sat on the mat.")
    assert (report.word_count, report.sentence_count) == (6, 1)
    assert report.flesch_reading_ease == 116.1
    assert report.flesch_kincaid_grade == -1.4


def test_hard_text_is_flagged() -> None:
    sentence = (
        "Organizational communication effectiveness fundamentally necessitates comprehensive "
        "interdepartmental collaboration methodologies. "
    )
    report = analyze_seo(sentence * 3)
    assert report.flesch_reading_ease < 50
    assert any("hard to read" in issue for issue in report.issues)


def test_sentence_count() -> None:
    report = analyze_seo("# Heading\n\nOne sentence here. Another one! A third? Version 2.5 is out.")
    assert report.sentence_count == 5  # the heading is its own unit; "2.5" does not end a sentence


def test_empty_text_gives_zeros_without_errors() -> None:
    report = analyze_seo("")
    assert (report.word_count, report.sentence_count) == (0, 0)
    assert (report.flesch_reading_ease, report.flesch_kincaid_grade) == (0.0, 0.0)
    assert report.keyword_densities == ()
    assert report.title == "" and report.meta_description == ""
    assert 0 <= report.score < 100
    assert any("Title is missing" in issue for issue in report.issues)


def test_code_blocks_and_meta_line_excluded_from_body() -> None:
    text = (
        "# Title\n\n**Meta description:** A summary of the page.\n\nOne two three.\n\n"
        "```python\nalpha beta gamma delta\n```\n\n    indented code block words\n"
    )
    report = analyze_seo(text)
    assert report.word_count == 4  # "Title" + "One two three"
    assert report.meta_description == "A summary of the page."
    assert report.meta_description_length == len("A summary of the page.")


@pytest.mark.parametrize(
    "line",
    [
        "Meta description: Short and sweet.",
        "meta DESCRIPTION:   Short and sweet.",
        "_Meta description:_ Short and sweet.",
        "*Meta description:* Short and sweet.",
    ],
)
def test_meta_line_variants(line: str) -> None:
    report = analyze_seo(f"# Title\n{line}\nBody words here.")
    assert report.meta_description == "Short and sweet."
    assert report.word_count == 4


def test_arguments_override_title_and_meta() -> None:
    report = analyze_seo(
        "# From Heading\n\nMeta description: from body\n\nText.", title="Given", meta_description="M"
    )
    assert (report.title, report.meta_description) == ("Given", "M")
    default = analyze_seo("Intro.\n\n# First H1 *Styled*\n\n# Second H1")
    assert default.title == "First H1 Styled"


def test_headings_and_level_skip_detected() -> None:
    report = analyze_seo("# Top\n\n### Too deep\n\ntext\n\n## Fine\n\n### Also fine")
    assert [(h.level, h.text) for h in report.headings] == [
        (1, "Top"),
        (3, "Too deep"),
        (2, "Fine"),
        (3, "Also fine"),
    ]
    skips = [issue for issue in report.issues if "skipped" in issue]
    assert len(skips) == 1 and "H1" in skips[0] and "H3" in skips[0]

    clean = analyze_seo("# Top\n\n## Middle\n\n### Deep\n\n## Back up")
    assert not any("skipped" in issue for issue in clean.issues)


def test_h1_count_checks() -> None:
    assert any("no H1" in issue for issue in analyze_seo("## Only h2").issues)
    assert any("2 H1 headings" in issue for issue in analyze_seo("# One\n\n# Two").issues)
    assert not any("H1" in issue for issue in analyze_seo("# Just one\n\ntext").issues)


def test_long_text_needs_two_h2() -> None:
    body = _filler(320)
    one_h2 = analyze_seo(f"# Title\n\n## Part\n\n{body}")
    assert any("1 H2 heading" in issue for issue in one_h2.issues)
    two_h2 = analyze_seo(f"# Title\n\n## Part one\n\n{body}\n\n## Part two\n\nMore.")
    assert not any("H2" in issue for issue in two_h2.issues)
    short = analyze_seo("# Title\n\nShort text.")
    assert not any("H2" in issue for issue in short.issues)


def test_title_and_meta_length_issues() -> None:
    long_title = "T" * 72
    report = analyze_seo("# x\n\ntext", title=long_title, meta_description="too short")
    assert "Title is 72 characters; keep it between 30 and 60." in report.issues
    assert "Meta description is 9 characters; keep it between 120 and 160." in report.issues
    assert report.title_length == 72 and report.meta_description_length == 9


def test_primary_keyword_checks() -> None:
    stuffed = analyze_seo("seo " * 10 + _filler(90), keywords=["seo"], title="Nothing relevant here")
    assert any('"seo" density is 10.0%' in issue for issue in stuffed.issues)
    assert 'Primary keyword "seo" is not in the title.' in stuffed.issues
    absent = analyze_seo(_filler(50), keywords=["missing"])
    assert 'Primary keyword "missing" does not appear in the text.' in absent.issues


def test_default_keywords_come_from_body() -> None:
    report = analyze_seo("Pricing pages convert. Pricing tables help. Pages load fast.")
    assert [k.keyword for k in report.keyword_densities] == ["pricing", "pages", "convert"]


def test_well_optimised_article_scores_100() -> None:
    keyword_sentence = "Content marketing helps a small team earn trust."
    plain = "We write short posts that answer real questions. Each post has one clear goal and a simple call."
    filler = " ".join([keyword_sentence] + [plain] * 6)
    text = (
        f"# {GOOD_TITLE}\n\n{filler}\n\n## Plan your topics\n\n{filler}\n\n"
        f"## Measure what works\n\n{filler}\n\nMeta description: {GOOD_META}\n"
    )
    report = analyze_seo(text, keywords=["content marketing"])
    assert report.word_count > MIN_WORDS
    assert 0.5 <= report.keyword_densities[0].density_percent <= 2.5
    assert report.issues == ()
    assert report.score == 100


def test_score_deducts_penalties_per_issue() -> None:
    report = analyze_seo("Tiny text.", keywords=["absent"])
    checks = ["title_missing", "meta_missing", "h1_count", "keyword_density", "thin_content"]
    assert len(report.issues) == len(checks)
    assert report.score == 100 - sum(PENALTIES[check] for check in checks) == 40


def test_to_dict_is_json_serialisable() -> None:
    report = analyze_seo("# Hello world\n\nSome text.", keywords=["hello"])
    data = json.loads(json.dumps(report.to_dict()))
    assert data["headings"] == [{"level": 1, "text": "Hello world"}]
    assert data["keyword_densities"][0]["keyword"] == "hello"
    assert isinstance(data["issues"], list) and data["score"] == report.score


def test_readability_needs_no_network_corpus() -> None:
    report = analyze_seo("Readability is computed offline with bundled hyphenation dictionaries.")
    assert report.flesch_reading_ease != 0.0
