"""Unit tests for common.text."""

from __future__ import annotations

import pytest

from common.text import (
    clip,
    content_terms,
    extract_keywords,
    join_nonempty,
    tokenize,
    topic_terms,
    topic_title,
)


def test_tokenize_keeps_inner_punctuation() -> None:
    assert tokenize("Open-Source node.js, C++ and C# -- it's X!") == [
        "open-source",
        "node.js",
        "c++",
        "and",
        "c#",
        "it's",
        "x",
    ]


def test_content_terms_drop_stopwords_numbers_and_single_letters() -> None:
    assert content_terms("Write the 2024 report about a vector database for X") == [
        "report",
        "vector",
        "database",
    ]


def test_extract_keywords_orders_by_frequency() -> None:
    # "again" is a stopword.
    text = "vector search. Vector index. vector store. index again, index. store"
    assert extract_keywords(text) == ["vector", "index", "store", "search"]
    assert extract_keywords(text, limit=2) == ["vector", "index"]


def test_extract_keywords_breaks_ties_by_first_appearance() -> None:
    text = "gamma beta alpha gamma beta alpha delta"
    assert extract_keywords(text) == ["gamma", "beta", "alpha", "delta"]


def test_extract_keywords_ignores_stopwords_and_case() -> None:
    text = "The the THE and of Vector VECTOR vector database"
    assert extract_keywords(text) == ["vector", "database"]


def test_extract_keywords_respects_limit() -> None:
    text = "one1 two2 three3 four4 five5 six6 seven7"
    assert extract_keywords(text, limit=3) == ["one1", "two2", "three3"]
    assert extract_keywords(text, limit=0) == []
    assert extract_keywords("") == []


TEXTS = [
    "",
    "short",
    "alpha beta gamma delta epsilon zeta eta theta iota kappa",
    "a" * 80,
    "Supercalifragilisticexpialidocious is a long word, isn't it? Yes, very.",
    "  lots   of\n\nwhitespace\tinside   this text   ",
    "word, word; word: word. word- word",
    "x " * 40,
]


@pytest.mark.parametrize("text", TEXTS)
def test_clip_never_exceeds_limit(text: str) -> None:
    normalized = " ".join(text.split())
    for limit in range(0, 90):
        clipped = clip(text, limit)
        assert len(clipped) <= limit, (limit, clipped)
        if len(normalized) <= limit:
            assert clipped == normalized
        else:
            assert clipped != normalized
            body = clipped.removesuffix("…")
            assert normalized.startswith(body)


def test_clip_cuts_at_word_boundary() -> None:
    assert clip("alpha beta gamma delta", 15) == "alpha beta…"
    assert clip("alpha beta gamma delta", 18) == "alpha beta gamma…"


def test_clip_word_boundary_result_ends_on_a_whole_word() -> None:
    text = "the quick brown fox jumps over the lazy dog and keeps running far away"
    words = set(text.split())
    for limit in range(12, len(text)):
        body = clip(text, limit).removesuffix("…")
        assert body.split()[-1] in words, (limit, body)


def test_clip_hard_cuts_a_single_long_word() -> None:
    assert clip("abcdefghijklmnopqrstuvwxyz", 10) == "abcdefghi…"


def test_clip_strips_trailing_punctuation_before_ellipsis() -> None:
    assert clip("first, second, third, fourth", 16) == "first, second…"


def test_clip_tiny_limits_and_custom_ellipsis() -> None:
    assert clip("hello world", 0) == ""
    assert clip("hello world", 1) == "h"
    assert clip("hello world", 8, ellipsis="...") == "hello..."
    assert clip("hello world", 3, ellipsis="...") == "hel"


def test_clip_collapses_whitespace_when_it_fits() -> None:
    assert clip("  a \n b\t c ", 100) == "a b c"


def test_topic_terms_drop_marketing_and_platform_words() -> None:
    task = "Launch campaign for our open-source vector database on LinkedIn and X"
    assert topic_terms(task) == ["open-source", "vector", "database"]
    assert topic_title(task) == "Open-Source Vector Database"


def test_topic_terms_deduplicate_and_limit() -> None:
    task = "Write a blog post about Rust, Rust async runtimes, tokio internals and memory safety"
    assert topic_terms(task) == ["rust", "async", "runtimes", "tokio"]
    assert topic_terms(task, limit=2) == ["rust", "async"]


def test_topic_title_empty_when_only_marketing_words() -> None:
    assert topic_terms("Write a LinkedIn post for our launch") == []
    assert topic_title("Write a LinkedIn post for our launch") == ""


def test_join_nonempty() -> None:
    assert join_nonempty(["a", "", "  ", "b"]) == "a\n\nb"
    assert join_nonempty(["a", "b"], sep=" | ") == "a | b"


def test_clip_keeps_a_word_that_ends_exactly_at_the_cut() -> None:
    assert clip("alpha beta gamma delta", 17) == "alpha beta gamma…"
    assert clip("alpha beta gamma delta", 16) == "alpha beta…"
