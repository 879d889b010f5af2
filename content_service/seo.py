"""On-page SEO analysis of a markdown article: readability, keyword density, heading structure, checks.

Everything is computed locally and deterministically. Readability uses the Flesch formulas with the same
English constants as ``textstat``, but syllables come from ``pyphen``'s bundled en_US hyphenation dictionary
(textstat's own fallback method): textstat 0.7.13 looks English words up in NLTK's ``cmudict`` corpus, which
is not installed and which it would try to download at call time.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import pyphen
from markdown_it import MarkdownIt
from markdown_it.token import Token

from common.text import STOPWORDS, extract_keywords, tokenize
from common.tools.untrusted import unfence

TITLE_MIN_CHARS = 30
TITLE_MAX_CHARS = 60
META_MIN_CHARS = 120
META_MAX_CHARS = 160
DENSITY_MIN_PERCENT = 0.5
DENSITY_MAX_PERCENT = 2.5
MIN_WORDS = 300
"""Below this many words a page is flagged as thin content."""
LONG_TEXT_WORDS = 300
"""Texts with more words than this need at least ``MIN_H2_FOR_LONG_TEXT`` H2 headings."""
MIN_H2_FOR_LONG_TEXT = 2
MIN_READING_EASE = 50.0
DEFAULT_KEYWORD_COUNT = 3
SUGGESTION_MIN_PHRASE_COUNT = 2
SUGGESTION_MIN_WORD_COUNT = 3
"""A two-word phrase, or a single word, must occur at least this often in the research to be suggested."""
SUGGESTION_LIMIT = 10
UNDERUSE_RATIO = 0.5
"""A term is under-used when its article density is below this share of its research density."""
_RESEARCH_BOILERPLATE = frozenset(
    "research brief findings finding implications sources source task score kb knowledge-base http https www com".split()
)
_URL_OR_CODE = re.compile(r"https?://\S+|`[^`\n]*`")
_NOTE_LINE = re.compile(r"^[ \t]*([_*])(?![_*\s]).*(?<![\s_*])\1[ \t]*$", re.MULTILINE)
_SEGMENT_KEY_TOKENS = 6
_IDENTIFIER_OR_PATH = re.compile(r"[A-Za-z0-9]+(?:_[A-Za-z0-9]+)+\S*|\S+/\S+")
_SEGMENT_BREAK = re.compile(r"[.!?;:,()\[\]|\n]+")

# Flesch constants for English (as in textstat's "en" configuration).
_FRE_BASE = 206.835
_FRE_SENTENCE_LENGTH = 1.015
_FRE_SYLLABLES_PER_WORD = 84.6
_FK_SENTENCE_LENGTH = 0.39
_FK_SYLLABLES_PER_WORD = 11.8
_FK_BASE = 15.59

PENALTIES: dict[str, int] = {
    "title_missing": 15,
    "title_length": 5,
    "meta_missing": 10,
    "meta_length": 5,
    "h1_count": 10,
    "h2_count": 5,
    "heading_skip": 5,
    "keyword_density": 10,
    "keyword_not_in_title": 10,
    "hard_to_read": 10,
    "thin_content": 15,
}
"""Points deducted from 100 for each failed check (see :func:`analyze_seo`)."""

_WORD = re.compile(r"\w+(?:['’.\-]\w+)*")
_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"'”’)\]]*\s+")
_META_LINE = re.compile(r"^\s*meta[ \t]+description\s*:\s*(.*)$", re.IGNORECASE)


@dataclass(frozen=True)
class KeywordDensity:
    """How often a keyword phrase occurs in the body."""

    keyword: str
    occurrences: int
    density_percent: float


@dataclass(frozen=True)
class KeywordSuggestion:
    """A term or two-word phrase prominent in the research that the article misses or under-uses."""

    keyword: str
    research_count: int
    article_count: int


@dataclass(frozen=True)
class Heading:
    """A markdown heading: level 1-6 and its plain inline text."""

    level: int
    text: str


@dataclass(frozen=True)
class SeoReport:
    """Result of :func:`analyze_seo`."""

    word_count: int
    sentence_count: int
    flesch_reading_ease: float
    flesch_kincaid_grade: float
    title: str
    title_length: int
    meta_description: str
    meta_description_length: int
    keyword_densities: tuple[KeywordDensity, ...]
    headings: tuple[Heading, ...]
    issues: tuple[str, ...]
    score: int
    keyword_suggestions: tuple[KeywordSuggestion, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly representation (tuples become lists of plain dicts)."""
        return {
            "word_count": self.word_count,
            "sentence_count": self.sentence_count,
            "flesch_reading_ease": self.flesch_reading_ease,
            "flesch_kincaid_grade": self.flesch_kincaid_grade,
            "title": self.title,
            "title_length": self.title_length,
            "meta_description": self.meta_description,
            "meta_description_length": self.meta_description_length,
            "keyword_densities": [
                {"keyword": k.keyword, "occurrences": k.occurrences, "density_percent": k.density_percent}
                for k in self.keyword_densities
            ],
            "headings": [{"level": h.level, "text": h.text} for h in self.headings],
            "issues": list(self.issues),
            "score": self.score,
            "keyword_suggestions": [
                {"keyword": k.keyword, "research_count": k.research_count, "article_count": k.article_count}
                for k in self.keyword_suggestions
            ],
        }


@dataclass(frozen=True)
class _ParsedMarkdown:
    blocks: tuple[str, ...]
    headings: tuple[Heading, ...]
    meta_description: str


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    return MarkdownIt("commonmark").enable("table")


@lru_cache(maxsize=1)
def _hyphenator() -> pyphen.Pyphen:
    return pyphen.Pyphen(lang="en_US")


def _inline_text(token: Token) -> str:
    """Plain text of an inline token: emphasis and links unwrapped, images as alt text, soft breaks kept."""
    parts: list[str] = []
    for child in token.children or ():
        if child.type in ("text", "code_inline", "image"):
            parts.append(child.content)
        elif child.type == "softbreak":
            parts.append("\n")
        elif child.type == "hardbreak":
            parts.append("\n")
    return "".join(parts)


def _parse(text: str) -> _ParsedMarkdown:
    """Split markdown into plain-text blocks (no code, no meta line), headings and the meta description."""
    blocks: list[str] = []
    headings: list[Heading] = []
    meta = ""
    heading_level: int | None = None
    for token in _markdown().parse(text):
        if token.type == "heading_open":
            heading_level = int(token.tag[1:])
        elif token.type == "heading_close":
            heading_level = None
        elif token.type == "inline":
            plain = _inline_text(token)
            if heading_level is not None:
                heading_text = " ".join(plain.split())
                headings.append(Heading(level=heading_level, text=heading_text))
                blocks.append(heading_text)
                continue
            kept: list[str] = []
            for line in plain.split("\n"):
                match = _META_LINE.match(line)
                if match:
                    if not meta:
                        meta = " ".join(match.group(1).split())
                    continue
                kept.append(line)
            block = " ".join(" ".join(kept).split())
            if block:
                blocks.append(block)
        # fence, code_block and html_block tokens carry no inline children and are skipped here.
    return _ParsedMarkdown(blocks=tuple(blocks), headings=tuple(headings), meta_description=meta)


def _count_sentences(block: str) -> int:
    """Sentences in one block; a block with words but no terminal punctuation is one sentence."""
    return sum(1 for part in _SENTENCE_END.split(block) if _WORD.search(part))


def _count_syllables(word: str) -> int:
    return len(_hyphenator().positions(word.lower())) + 1


def _keyword_pattern(keyword: str) -> re.Pattern[str]:
    phrase = r"\s+".join(re.escape(part) for part in keyword.split())
    return re.compile(rf"(?<!\w){phrase}(?!\w)", re.IGNORECASE)


def _normalize_keywords(keywords: Sequence[str]) -> list[str]:
    seen: set[str] = set()
    result: list[str] = []
    for keyword in keywords:
        norm = " ".join(keyword.split()).lower()
        if norm and norm not in seen:
            seen.add(norm)
            result.append(norm)
    return result


def _heading_skips(headings: Sequence[Heading]) -> list[tuple[Heading, Heading]]:
    return [(prev, cur) for prev, cur in itertools.pairwise(headings) if cur.level > prev.level + 1]


def _term_counts(texts: Iterable[str], distinct: bool = False) -> tuple[Counter[str], int]:
    """Counts of content words and two-word phrases (not across punctuation), and the number of words.

    Markdown is reduced to plain text; URLs, inline code, snake_case identifiers, paths, untrusted-content
    fences and whole-line italic notes (``_Web search off: ..._``) are dropped. With ``distinct``, a segment
    (text between punctuation) whose first six words repeat a segment already seen in any of the texts counts
    once, as does one clipped with "…" that begins another: a source title listed in three places, or a finding
    quoted (clipped or not) by both the search results and the brief, is one mention.
    """
    counts: Counter[str] = Counter()
    words = 0
    seen: set[tuple[str, ...]] = set()
    prefixes: set[tuple[str, ...]] = set()
    clipped: set[tuple[str, ...]] = set()
    for text in texts:
        markdown = _NOTE_LINE.sub("", _URL_OR_CODE.sub(" ", unfence(text)))
        plain = "\n".join(_parse(markdown).blocks)
        for segment in _SEGMENT_BREAK.split(_IDENTIFIER_OR_PATH.sub(" ", plain)):
            tokens = tokenize(segment)
            if distinct:
                key = tuple(tokens[:_SEGMENT_KEY_TOKENS])
                is_clipped = segment.rstrip().endswith("…")
                if (
                    key in seen
                    or (is_clipped and key in prefixes)
                    or any(key[:n] in clipped for n in range(2, len(key)))
                ):
                    continue
                seen.add(key)
                prefixes.update(key[:n] for n in range(2, len(key) + 1))
                if is_clipped:
                    clipped.add(key)
            words += len(tokens)
            useful = [
                t
                if t not in STOPWORDS and t not in _RESEARCH_BOILERPLATE and not t.isdigit() and len(t) > 1
                else ""
                for t in tokens
            ]
            counts.update(t for t in useful if t)
            counts.update(f"{a} {b}" for a, b in itertools.pairwise(useful) if a and b and a != b)
    return counts, words


def suggest_keywords(
    text: str, research_texts: Sequence[str], limit: int = SUGGESTION_LIMIT
) -> list[KeywordSuggestion]:
    """Terms and two-word phrases prominent in the research that the article misses or under-uses.

    Candidates: phrases occurring at least ``SUGGESTION_MIN_PHRASE_COUNT`` times in the research, words at least
    ``SUGGESTION_MIN_WORD_COUNT`` times (stopwords, numbers and research boilerplate such as "findings" or
    "sources" excluded; repeated segments count once, see ``_term_counts``). A candidate is suggested when its
    density in the article is below ``UNDERUSE_RATIO`` of its density in the research. Ranked by research count
    times the shortfall (1 - article density / (``UNDERUSE_RATIO`` x research density)), phrases weighted double,
    then by first appearance. A word is left out when, without the occurrences of suggested phrases holding it,
    it would fall below the word minimum. Words match exactly (no stemming: "database" and "databases" differ).
    """
    research, research_words = _term_counts(research_texts, distinct=True)
    if not research_words:
        return []
    article, article_words = _term_counts([text])
    order = {term: index for index, term in enumerate(research)}
    scored: list[tuple[float, int, KeywordSuggestion]] = []
    for term, count in research.items():
        if count < (SUGGESTION_MIN_PHRASE_COUNT if " " in term else SUGGESTION_MIN_WORD_COUNT):
            continue
        research_density = count / research_words
        article_density = article[term] / article_words if article_words else 0.0
        if article_density >= UNDERUSE_RATIO * research_density:
            continue
        gap = 1 - article_density / (UNDERUSE_RATIO * research_density)
        weight = count * gap * (2 if " " in term else 1)
        scored.append((weight, order[term], KeywordSuggestion(term, count, article[term])))
    scored.sort(key=lambda item: (-item[0], item[1]))
    phrases = [s for _, _, s in scored if " " in s.keyword]
    result = []
    for _, _, suggestion in scored:
        if " " not in suggestion.keyword:
            covered = sum(p.research_count for p in phrases if suggestion.keyword in p.keyword.split())
            if suggestion.research_count - covered < SUGGESTION_MIN_WORD_COUNT:
                continue
        result.append(suggestion)
    return result[:limit]


Issue = tuple[str, str]
"""A failed check: its :data:`PENALTIES` key and a human-readable message."""


@dataclass(frozen=True)
class _Page:
    """What the checks of :func:`analyze_seo` look at."""

    word_count: int
    reading_ease: float
    title: str
    meta: str
    headings: tuple[Heading, ...]
    densities: tuple[KeywordDensity, ...]


def _check_title(page: _Page) -> list[Issue]:
    if not page.title:
        return [
            (
                "title_missing",
                f"Title is missing; add one of {TITLE_MIN_CHARS} to {TITLE_MAX_CHARS} characters.",
            )
        ]
    if not TITLE_MIN_CHARS <= len(page.title) <= TITLE_MAX_CHARS:
        return [
            (
                "title_length",
                f"Title is {len(page.title)} characters; keep it between {TITLE_MIN_CHARS} and {TITLE_MAX_CHARS}.",
            )
        ]
    return []


def _check_meta(page: _Page) -> list[Issue]:
    if not page.meta:
        return [
            (
                "meta_missing",
                f"Meta description is missing; add one of {META_MIN_CHARS} to {META_MAX_CHARS} characters.",
            )
        ]
    if not META_MIN_CHARS <= len(page.meta) <= META_MAX_CHARS:
        return [
            (
                "meta_length",
                f"Meta description is {len(page.meta)} characters; "
                f"keep it between {META_MIN_CHARS} and {META_MAX_CHARS}.",
            )
        ]
    return []


def _check_h1(page: _Page) -> list[Issue]:
    h1_count = sum(1 for h in page.headings if h.level == 1)
    if h1_count == 0:
        return [("h1_count", "There is no H1 heading; use exactly one.")]
    if h1_count > 1:
        return [("h1_count", f"There are {h1_count} H1 headings; use exactly one.")]
    return []


def _check_h2(page: _Page) -> list[Issue]:
    h2_count = sum(1 for h in page.headings if h.level == 2)
    if page.word_count <= LONG_TEXT_WORDS or h2_count >= MIN_H2_FOR_LONG_TEXT:
        return []
    found = "There is 1 H2 heading" if h2_count == 1 else f"There are {h2_count} H2 headings"
    return [
        (
            "h2_count",
            f"{found} for {page.word_count} words; add at least {MIN_H2_FOR_LONG_TEXT} to structure the text.",
        )
    ]


def _check_heading_skips(page: _Page) -> list[Issue]:
    skips = _heading_skips(page.headings)
    if not skips:
        return []
    prev, cur = skips[0]
    more = f" ({len(skips) - 1} more)" if len(skips) > 1 else ""
    return [
        (
            "heading_skip",
            f'Heading levels are skipped: H{prev.level} "{prev.text}" is followed by H{cur.level} '
            f'"{cur.text}"{more}; go down one level at a time.',
        )
    ]


def _check_keyword_density(page: _Page) -> list[Issue]:
    if not page.densities or not page.word_count:
        return []
    primary = page.densities[0]
    if primary.occurrences == 0:
        return [("keyword_density", f'Primary keyword "{primary.keyword}" does not appear in the text.')]
    if not DENSITY_MIN_PERCENT <= primary.density_percent <= DENSITY_MAX_PERCENT:
        return [
            (
                "keyword_density",
                f'Primary keyword "{primary.keyword}" density is {primary.density_percent}%; '
                f"keep it between {DENSITY_MIN_PERCENT}% and {DENSITY_MAX_PERCENT}%.",
            )
        ]
    return []


def _check_keyword_in_title(page: _Page) -> list[Issue]:
    if not page.densities or not page.word_count or not page.title:
        return []
    primary = page.densities[0]
    if _keyword_pattern(primary.keyword).search(page.title):
        return []
    return [("keyword_not_in_title", f'Primary keyword "{primary.keyword}" is not in the title.')]


def _check_readability(page: _Page) -> list[Issue]:
    if not page.word_count or page.reading_ease >= MIN_READING_EASE:
        return []
    return [
        (
            "hard_to_read",
            f"Flesch reading ease is {page.reading_ease} (hard to read); aim for {MIN_READING_EASE:g} or more "
            "with shorter sentences and simpler words.",
        )
    ]


def _check_length(page: _Page) -> list[Issue]:
    if page.word_count >= MIN_WORDS:
        return []
    return [("thin_content", f"Only {page.word_count} words (thin content); aim for at least {MIN_WORDS}.")]


_CHECKS: tuple[Callable[[_Page], list[Issue]], ...] = (
    _check_title,
    _check_meta,
    _check_h1,
    _check_h2,
    _check_heading_skips,
    _check_keyword_density,
    _check_keyword_in_title,
    _check_readability,
    _check_length,
)
"""The checks of :func:`analyze_seo`, in the order their issues are listed."""


def _readability(words: Sequence[str], sentence_count: int) -> tuple[float, float]:
    """Flesch reading ease and Flesch-Kincaid grade, rounded to one decimal (0.0 for an empty text)."""
    if not words or not sentence_count:
        return 0.0, 0.0
    words_per_sentence = len(words) / sentence_count
    syllables_per_word = sum(_count_syllables(w) for w in words) / len(words)
    reading_ease = round(
        _FRE_BASE - _FRE_SENTENCE_LENGTH * words_per_sentence - _FRE_SYLLABLES_PER_WORD * syllables_per_word,
        1,
    )
    grade = round(
        _FK_SENTENCE_LENGTH * words_per_sentence + _FK_SYLLABLES_PER_WORD * syllables_per_word - _FK_BASE,
        1,
    )
    return reading_ease, grade


def _densities(keywords: Sequence[str], body: str, word_count: int) -> tuple[KeywordDensity, ...]:
    """Densities of the target keywords in the body; without keywords, of the body's top terms."""
    densities = []
    for keyword in _normalize_keywords(keywords) or extract_keywords(body, DEFAULT_KEYWORD_COUNT):
        occurrences = len(_keyword_pattern(keyword).findall(body))
        density = round(occurrences / word_count * 100, 2) if word_count else 0.0
        densities.append(KeywordDensity(keyword=keyword, occurrences=occurrences, density_percent=density))
    return tuple(densities)


def analyze_seo(
    text: str,
    keywords: Sequence[str] = (),
    title: str = "",
    meta_description: str = "",
    research_texts: Sequence[str] = (),
) -> SeoReport:
    """Analyse a markdown article for on-page SEO.

    The body is the plain text of all headings, paragraphs, list items, quotes and tables; fenced/indented
    code, raw HTML blocks and a ``Meta description: ...`` line (bold/italic allowed) are excluded. Words are
    runs of letters/digits (inner ``'``, ``-``, ``.`` kept, so "open-source" is one word). Sentences end at
    ``.``, ``!``, ``?`` or ``…`` followed by whitespace; every block (e.g. a heading) ends a sentence.

    Score: 100 minus the :data:`PENALTIES` of every failed check, floored at 0. Checks: title missing (15)
    or outside 30-60 chars (5); meta description missing (10) or outside 120-160 chars (5); not exactly
    one H1 (10); fewer than two H2 in a text over 300 words (5); skipped heading levels (5); primary keyword
    density outside 0.5-2.5 % (10); primary keyword absent from the title (10); Flesch reading ease below 50
    (10); fewer than 300 words (15).

    Args:
        text: Markdown article.
        keywords: Target keyword phrases, primary first; if empty, the top 3 terms of the body are used.
        title: Page title; defaults to the first H1.
        meta_description: Meta description; defaults to the body's ``Meta description:`` line.
        research_texts: Upstream research (briefs, search results, page text) for keyword suggestions
            (:func:`suggest_keywords`); suggestions do not change the score.

    Returns:
        The figures and the list of human-readable issues.
    """
    parsed = _parse(text)
    body = "\n".join(parsed.blocks)
    words = _WORD.findall(body)
    sentence_count = sum(_count_sentences(block) for block in parsed.blocks)
    reading_ease, grade = _readability(words, sentence_count)
    page = _Page(
        word_count=len(words),
        reading_ease=reading_ease,
        title=" ".join(title.split()) or next((h.text for h in parsed.headings if h.level == 1), ""),
        meta=" ".join(meta_description.split()) or parsed.meta_description,
        headings=parsed.headings,
        densities=_densities(keywords, body, len(words)),
    )
    failed = [issue for check in _CHECKS for issue in check(page)]
    return SeoReport(
        word_count=page.word_count,
        sentence_count=sentence_count,
        flesch_reading_ease=reading_ease,
        flesch_kincaid_grade=grade,
        title=page.title,
        title_length=len(page.title),
        meta_description=page.meta,
        meta_description_length=len(page.meta),
        keyword_densities=page.densities,
        headings=page.headings,
        issues=tuple(message for _, message in failed),
        score=max(0, 100 - sum(PENALTIES[key] for key, _ in failed)),
        keyword_suggestions=tuple(suggest_keywords(text, research_texts)) if research_texts else (),
    )
