"""Small text utilities shared by the teams: tokenising, keyword extraction, clipping."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

STOPWORDS: frozenset[str] = frozenset(
    """
    a about above after again against all also am an and any are as at be because been before being below
    between both but by can could did do does doing down during each every few for from further get gets got had
    has have having he her here hers herself him himself his how i if in into is it its itself just let lets like
    make makes me more most my myself need needs new no nor not now of off on once one only or other our ours
    ourselves out over own please same she should so some such than that the their theirs them themselves then
    there these they this those through to too under until up us use using very via want was we were what when
    where which while who whom why will with would write you your yours yourself yourselves create help plan
    draft prepare produce give find run across around within without per based into onto upon
    """.split()
)

_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9+#.'-]*[A-Za-z0-9+#]|[A-Za-z0-9]")


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens; keeps inner hyphens, dots and apostrophes ("open-source", "node.js")."""
    return [token.lower() for token in _TOKEN.findall(text)]


def content_terms(text: str) -> list[str]:
    """Tokens without stopwords and bare numbers, in order of appearance."""
    return [t for t in tokenize(text) if t not in STOPWORDS and not t.isdigit() and len(t) > 1]


def extract_keywords(text: str, limit: int = 5) -> list[str]:
    """The most frequent content terms of a text, ties broken by first appearance.

    Args:
        text: Any text.
        limit: Maximum number of keywords.

    Returns:
        Up to ``limit`` distinct lower-case terms.
    """
    terms = content_terms(text)
    counts = Counter(terms)
    first_seen = {term: index for index, term in reversed(list(enumerate(terms)))}
    ranked = sorted(counts, key=lambda term: (-counts[term], first_seen[term]))
    return ranked[:limit]


def clip(text: str, limit: int, ellipsis: str = "…") -> str:
    """Shorten text to at most ``limit`` characters, cutting at a word boundary when one is near."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    if limit <= len(ellipsis):
        return text[:limit]
    cut = text[: limit - len(ellipsis)]
    at_word_end = text[len(cut)] == " "
    space = cut.rfind(" ")
    if not at_word_end and space >= len(cut) * 0.6:
        cut = cut[:space]
    return cut.rstrip(" ,;:.-") + ellipsis


def join_nonempty(parts: Iterable[str], sep: str = "\n\n") -> str:
    """Join the parts that are not blank."""
    return sep.join(p for p in parts if p and p.strip())


# Words that say what kind of marketing work is wanted rather than what it is about.
MARKETING_WORDS: frozenset[str] = frozenset(
    """
    launch launching campaign campaigns marketing market research analyse analyze analysis competitor competitors
    competition write writing article articles blog post posts content copy seo social media linkedin twitter
    tweet tweets x instagram facebook tiktok schedule scheduling hashtag hashtags promote promotion announce
    announcement newsletter email audience audiences strategy plan brief report trend trends insight insights
    data find our their team teams company product products go-to-market gtm series thread threads page pages
    landing week weeks month months today tomorrow short long quick simple detailed engaging compelling catchy
    punchy professional friendly
    """.split()
)


def topic_terms(text: str, limit: int = 4) -> list[str]:
    """What a task is about: its content terms minus marketing and platform words, in order of appearance."""
    seen: list[str] = []
    for term in content_terms(text):
        if term not in MARKETING_WORDS and term not in seen:
            seen.append(term)
    return seen[:limit]


def topic_title(text: str, limit: int = 4) -> str:
    """A title-case topic ("Open-Source Vector Database"), or an empty string."""
    words = topic_terms(text, limit)
    return " ".join("-".join(p[:1].upper() + p[1:] for p in w.split("-")) for w in words)
