"""SEO keyword suggestions: terms and phrases the research leans on that the article misses or under-uses."""

from __future__ import annotations

from content_service.seo import KeywordSuggestion, analyze_seo, suggest_keywords

RESEARCH_BRIEF = """# Research brief: Vector Databases

**Task:** Write about vector databases

## Key findings
- Hybrid search combines keyword search and vector search [1].
- Hybrid search improves recall for product catalogs [2].
- HNSW indexes trade recall for latency [1].
- HNSW indexes need memory; quantization reduces memory [2].

## Sources
[1] Vector search basics (kb)
[2] Scaling search (kb)
"""
SEARCH_RESULTS = (
    "1. **Scaling search** (`kb:scaling-search`, https://example.com/scaling, score 0.81)\n"
    '   <<untrusted source="https://example.com/scaling">>\nHybrid search and HNSW indexes at scale.\n'
    "<<end untrusted>>"
)
ARTICLE = (
    "# Vector search for product teams\n\nVector search finds similar items. Vector search is fast, and good "
    "recall matters for product catalogs. Teams measure recall before launch."
)


def test_missing_phrases_are_suggested_with_counts_best_first() -> None:
    suggestions = suggest_keywords(ARTICLE, [RESEARCH_BRIEF, SEARCH_RESULTS])
    # equal weights keep the order of first appearance in the research
    assert suggestions == [
        KeywordSuggestion("hybrid search", research_count=3, article_count=0),
        KeywordSuggestion("hnsw indexes", research_count=3, article_count=0),
        KeywordSuggestion("vector databases", research_count=2, article_count=0),
    ]


def test_terms_the_article_uses_enough_and_boilerplate_are_not_suggested() -> None:
    keywords = {s.keyword for s in suggest_keywords(ARTICLE, [RESEARCH_BRIEF, SEARCH_RESULTS])}
    assert not keywords & {"vector search", "vector", "search", "recall", "product catalogs"}
    # words of a suggested phrase are not repeated alone; research scaffolding, URLs and code never count
    assert not keywords & {
        "hybrid",
        "hnsw",
        "indexes",
        "findings",
        "sources",
        "kb",
        "https",
        "scaling-search",
    }


def test_an_under_used_term_is_suggested_with_its_article_count() -> None:
    research = [
        "Quantization cuts memory. Quantization keeps recall.",
        "Quantization is cheap, quantization helps.",
    ]
    article = "# Guide\n\n" + "Databases store vectors for search and ranking. " * 20 + "Quantization helps."
    (suggestion,) = [s for s in suggest_keywords(article, research) if s.keyword == "quantization"]
    assert (suggestion.research_count, suggestion.article_count) == (4, 1)


def test_repeated_segments_env_names_and_paths_count_once_or_not_at_all() -> None:
    research = [
        "1. **Scaling Search** (playbook/scaling-search)\n\nFound: Scaling Search; Other.\n\n"
        "_Web search off: set TAVILY_API_KEY/TAVILY_BASE_URL._ Grounding matters. Grounding matters.",
        "## Sources\n[1] Scaling Search (playbook/scaling-search)\n\nGrounding matters.",
    ]
    keywords = {s.keyword for s in suggest_keywords("# Other\n\nNothing.", research)}
    assert not keywords & {"scaling search", "grounding", "tavily", "api key", "base url", "playbook"}


def test_no_research_means_no_suggestions_and_the_score_is_unchanged() -> None:
    assert suggest_keywords(ARTICLE, []) == []
    assert suggest_keywords(ARTICLE, ["  "]) == []
    plain = analyze_seo(ARTICLE, ["vector search"])
    with_research = analyze_seo(ARTICLE, ["vector search"], research_texts=[RESEARCH_BRIEF])
    assert plain.keyword_suggestions == ()
    assert with_research.keyword_suggestions and with_research.score == plain.score
    assert with_research.to_dict()["keyword_suggestions"][1] == {
        "keyword": "hybrid search",
        "research_count": 2,
        "article_count": 0,
    }


def test_suggestions_are_capped() -> None:
    research = [" ".join(f"Use term{i} daily. Buy term{i} now. Love term{i} always." for i in range(40))]
    assert len(suggest_keywords("# Empty\n\nNothing here.", research, limit=5)) == 5
