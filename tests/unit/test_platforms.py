"""Unit tests for social_service.platforms."""

from __future__ import annotations

import json
import unicodedata

import pytest

from social_service.platforms import (
    RULES,
    Platform,
    fit_post,
    normalize_hashtag,
    platforms_mentioned,
    post_length,
)

LONG_URL = "https://example.com/" + "a" * 80  # 100 characters


def test_rules() -> None:
    assert (RULES[Platform.X].limit, RULES[Platform.X].max_hashtags) == (280, 2)
    assert (RULES[Platform.LINKEDIN].limit, RULES[Platform.LINKEDIN].max_hashtags) == (3000, 5)


def test_x_weighting() -> None:
    assert len(LONG_URL) == 100
    assert post_length(LONG_URL, Platform.X) == 23
    assert post_length(f"See {LONG_URL}.", Platform.X) == 4 + 23 + 1  # trailing period is not part of the URL
    assert post_length("http://a.io https://b.io/x", Platform.X) == 23 + 1 + 23
    assert post_length("hello", Platform.X) == 5
    assert post_length("你好", Platform.X) == 4
    assert post_length("😀", Platform.X) == 2
    assert post_length("…", Platform.X) == 2  # U+2026 lies outside the weight-1 ranges
    assert post_length("\u2019", Platform.X) == 1  # right single quote is inside 8208-8223
    assert post_length("e\u0301", Platform.X) == 1  # NFC composes to "é"


def test_linkedin_counts_code_points() -> None:
    assert post_length(LONG_URL, Platform.LINKEDIN) == 100
    assert post_length("你好😀", Platform.LINKEDIN) == 3
    assert post_length("e\u0301", Platform.LINKEDIN) == 1


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("open source", "#OpenSource"),
        ("#SaaS", "#SaaS"),
        ("  ##growth hacking ", "#GrowthHacking"),
        ("machine-learning", "#MachineLearning"),
        ("seo", "#seo"),
        ("snake_case", "#snake_case"),
        ("café au lait", "#CaféAuLait"),
        ("2024 trends", "#2024Trends"),
        ("B2B!", "#B2B"),
        ("2024", None),
        ("#", None),
        ("   ", None),
        ("___", None),
        ("!!!", None),
    ],
)
def test_normalize_hashtag(raw: str, expected: str | None) -> None:
    assert normalize_hashtag(raw) == expected


def test_fit_post_composes_body_and_hashtags() -> None:
    post = fit_post(
        Platform.X, "  Launch day!  ", ["open source", "Open Source", "#seo", "marketing", "2024"]
    )
    assert post.text == "Launch day!\n\n#OpenSource #seo"
    assert post.hashtags == ("#OpenSource", "#seo")
    assert post.length == post_length(post.text, Platform.X) == 29
    assert (post.limit, post.truncated) == (280, False)
    data = json.loads(json.dumps(post.to_dict()))
    assert data["platform"] == "x" and data["hashtags"] == ["#OpenSource", "#seo"]


def test_fit_post_linkedin_keeps_up_to_five_hashtags() -> None:
    post = fit_post(Platform.LINKEDIN, "Body", ["a", "b", "c", "d", "e", "f"])
    assert post.hashtags == ("#a", "#b", "#c", "#d", "#e")


def test_fit_post_drops_hashtags_before_truncating() -> None:
    body = "x" * 276
    post = fit_post(Platform.X, body, ["ab", "cd"])
    assert post.text == body  # with "\n\n#ab" it would be 281
    assert post.hashtags == () and post.truncated is False
    fits_one = fit_post(Platform.X, "y" * 274, ["ab", "cd"])
    assert fits_one.hashtags == ("#ab",) and fits_one.length == 279


def test_fit_post_truncates_at_word_boundary_keeping_paragraphs() -> None:
    body = "First paragraph here.\n\n" + "word " * 80
    post = fit_post(Platform.X, body, ["tag"])
    assert post.truncated is True and post.hashtags == ()
    assert post.text.startswith("First paragraph here.\n\nword word")
    assert post.text.endswith("word…")
    assert post.length <= 280
    long_post = fit_post(Platform.LINKEDIN, ("Para one.\n\n" + "text " * 100) * 10)
    assert "\n\n" in long_post.text and long_post.length <= 3000 and long_post.truncated


def test_fit_post_never_splits_a_url() -> None:
    url = "https://example.com/" + "p" * 300
    body = "Read " + "a" * 260 + " " + url  # 5 + 260 + 1 + 23 = 289
    post = fit_post(Platform.X, body)
    assert post.truncated
    assert post.text == "Read " + "a" * 260 + "…"
    assert post.length == 267
    kept = fit_post(Platform.X, "Read " + "a" * 240 + " " + url)
    assert not kept.truncated and kept.length == 5 + 240 + 1 + 23 and url in kept.text
    alone = fit_post(Platform.LINKEDIN, "Intro words " + "https://example.com/" + "q" * 5000)
    assert alone.text == "Intro words…" and alone.truncated


ADVERSARIAL_BODIES = [
    "😀" * 5000,
    "👩\u200d👩\u200d👧\u200d👦" * 500,
    "🇫🇷" * 400,
    "漢字かな" * 1000,
    "a" * 400,
    "Hi " + "b" * 400,
    ("https://example.com/" + "q" * 400 + " ") * 40,
    "https://example.com/" + "q" * 5000,
    "e\u0301" * 4000,
    ("word " * 30 + "\n\n") * 100,
    "Ω " * 3000,
    "😀 " * 2000,
    ".,;: " * 1000,
]


@pytest.mark.parametrize("platform", list(Platform))
@pytest.mark.parametrize("body", ADVERSARIAL_BODIES, ids=range(len(ADVERSARIAL_BODIES)))
def test_limit_never_exceeded(platform: Platform, body: str) -> None:
    post = fit_post(platform, body, ["one", "two", "three", "four", "five", "six"])
    assert post.length == post_length(post.text, platform)
    assert post.length <= RULES[platform].limit
    assert post.truncated == (post_length(unicodedata.normalize("NFC", body).strip(), platform) > post.limit)
    assert post.text.strip()
    if post.truncated:
        assert post.text.endswith("…")
        if not body.startswith("https://"):
            assert len(post.text) > 1  # something of the body survives


def test_truncation_keeps_flags_and_emoji_sequences_whole() -> None:
    flags = fit_post(Platform.X, "🇫🇷" * 400)
    regional = [c for c in flags.text if 0x1F1E6 <= ord(c) <= 0x1F1FF]
    assert len(regional) % 2 == 0 and flags.truncated
    family = "👩\u200d👩\u200d👧\u200d👦"
    families = fit_post(Platform.X, family * 500)
    assert families.text[:-1] == family * ((len(families.text) - 1) // len(family))


def test_empty_body_rejected() -> None:
    with pytest.raises(ValueError, match="body is empty"):
        fit_post(Platform.X, " \n\t ")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Write a tweet about our launch", [Platform.X]),
        ("Post it on X tomorrow", [Platform.X]),
        ("share on x please", [Platform.X]),
        ("Link to x.com/acme", [Platform.X]),
        ("Draft a LinkedIn post and a Twitter thread", [Platform.LINKEDIN, Platform.X]),
        ("Twitter/X first, then Linked-In", [Platform.X, Platform.LINKEDIN]),
        ("X, LinkedIn", [Platform.X, Platform.LINKEDIN]),
        ("linkedin and x", [Platform.LINKEDIN, Platform.X]),
        ("tweet, tweet, linkedin, twitter", [Platform.X, Platform.LINKEDIN]),
        ("10x growth for the next box", []),
        ("Explain the X-ray of our funnel to Gen X buyers on Mac OS X", []),
        ("a 3 x 4 grid of xylophones", []),
        ("Write a blog post about SEO", []),
        ("", []),
    ],
)
def test_platforms_mentioned(text: str, expected: list[Platform]) -> None:
    assert platforms_mentioned(text) == expected
