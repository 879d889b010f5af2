"""Social platform rules: weighted post length, hashtag normalisation, fitting posts to limits, detection."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any

ELLIPSIS = "…"
URL_WEIGHT = 23
"""Every http(s) URL counts as this many characters on X (t.co wrapping), whatever its real length."""
X_LIGHT_RANGES: tuple[tuple[int, int], ...] = ((0, 4351), (8192, 8205), (8208, 8223), (8242, 8247))
"""twitter-text v3: code points in these inclusive ranges weigh 1 on X; all others weigh 2."""
MIN_WORD_CUT_RATIO = 0.6
"""A word-boundary cut is used when it keeps at least this share of the longest possible hard cut."""


class Platform(StrEnum):
    """Supported social platforms."""

    X = "x"
    LINKEDIN = "linkedin"


@dataclass(frozen=True)
class PlatformRules:
    """Posting constraints of a platform."""

    platform: Platform
    display_name: str
    limit: int
    max_hashtags: int


RULES: Mapping[Platform, PlatformRules] = MappingProxyType(
    {
        Platform.X: PlatformRules(Platform.X, "X (Twitter)", limit=280, max_hashtags=2),
        Platform.LINKEDIN: PlatformRules(Platform.LINKEDIN, "LinkedIn", limit=3000, max_hashtags=5),
    }
)

_URL = re.compile(r"https?://[^\s<>\"]+", re.IGNORECASE)
_URL_TRAILING = ".,;:!?'\")]}"
_TRIM_AT_CUT = " \t\n,;:.-–—"


def _url_spans(text: str) -> list[tuple[int, int]]:
    """Spans of http(s) URLs; trailing punctuation (as in "see https://a.io/x.") is not part of the URL."""
    spans = []
    for match in _URL.finditer(text):
        url = match.group().rstrip(_URL_TRAILING)
        if url.split("://", 1)[1]:
            spans.append((match.start(), match.start() + len(url)))
    return spans


def _char_weight(char: str) -> int:
    code = ord(char)
    return 1 if any(low <= code <= high for low, high in X_LIGHT_RANGES) else 2


def post_length(text: str, platform: Platform) -> int:
    """Length of a post as the platform counts it.

    X follows twitter-text v3: the text is NFC-normalised, every http(s) URL counts 23, other code points
    weigh 1 inside :data:`X_LIGHT_RANGES` and 2 outside (emoji, CJK). LinkedIn counts code points (NFC).

    Args:
        text: Post text.
        platform: Target platform.

    Returns:
        The weighted length.
    """
    text = unicodedata.normalize("NFC", text)
    if Platform(platform) is not Platform.X:
        return len(text)
    total = 0
    position = 0
    for start, end in _url_spans(text):
        total += sum(_char_weight(c) for c in text[position:start]) + URL_WEIGHT
        position = end
    return total + sum(_char_weight(c) for c in text[position:])


def _is_tag_char(char: str) -> bool:
    category = unicodedata.category(char)
    return category[0] in "LM" or category == "Nd" or char == "_"


def normalize_hashtag(tag: str) -> str | None:
    """Turn free text into a hashtag: "open source" -> "#OpenSource", "#SaaS" -> "#SaaS".

    Leading ``#`` are dropped and only letters (any script), combining marks, digits and ``_`` are kept;
    input made of several words is CamelCased, a single word keeps its case.

    Args:
        tag: A tag with or without ``#``.

    Returns:
        The hashtag with a leading ``#``, or None when no letter is left (empty, all digits, only ``_``).
    """
    text = unicodedata.normalize("NFC", tag).strip().lstrip("#")
    parts: list[str] = []
    current: list[str] = []
    for char in text:
        if _is_tag_char(char):
            current.append(char)
        elif current:
            parts.append("".join(current))
            current = []
    if current:
        parts.append("".join(current))
    if len(parts) > 1:
        parts = [part[:1].upper() + part[1:] for part in parts]
    body = "".join(parts)
    if not any(unicodedata.category(c)[0] in "LM" for c in body):
        return None
    return f"#{body}"


@dataclass(frozen=True)
class DraftedPost:
    """A post that fits its platform's limit."""

    platform: Platform
    text: str
    length: int
    limit: int
    hashtags: tuple[str, ...]
    truncated: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly representation."""
        return {
            "platform": self.platform.value,
            "text": self.text,
            "length": self.length,
            "limit": self.limit,
            "hashtags": list(self.hashtags),
            "truncated": self.truncated,
        }


def _compose(body: str, hashtags: Sequence[str]) -> str:
    return f"{body}\n\n{' '.join(hashtags)}" if hashtags else body


def _safe_cut(text: str, index: int) -> bool:
    """False when cutting before ``text[index]`` would split a grapheme (mark, ZWJ sequence, flag, ...)."""
    if index <= 0 or index >= len(text):
        return True
    char, prev = text[index], text[index - 1]
    code = ord(char)
    if unicodedata.category(char) in ("Mn", "Mc", "Me") or char == "\u200d" or prev == "\u200d":
        return False
    if 0xFE00 <= code <= 0xFE0F or 0x1F3FB <= code <= 0x1F3FF or 0xE0020 <= code <= 0xE007F:
        return False
    if 0x1F1E6 <= code <= 0x1F1FF:  # regional indicators pair up into flags
        run = 0
        while index - run - 1 >= 0 and 0x1F1E6 <= ord(text[index - run - 1]) <= 0x1F1FF:
            run += 1
        return run % 2 == 0
    return True


def _largest_fitting(cuts: Sequence[int], fits: Callable[[int], bool]) -> int | None:
    """Largest cut (ascending list) for which ``fits`` holds; binary search, then verified downwards."""
    low, high, best = 0, len(cuts) - 1, -1
    while low <= high:
        mid = (low + high) // 2
        if fits(cuts[mid]):
            best, low = mid, mid + 1
        else:
            high = mid - 1
    for index in range(best, -1, -1):  # the weights are monotonic in practice; this only guards the guarantee
        if fits(cuts[index]):
            return cuts[index]
    return None


def shorten(body: str, platform: Platform, limit: int) -> str:
    """Cut the body at a word boundary (or, if that loses too much, anywhere outside URLs) and add "…"."""

    def candidate(cut: int) -> str:
        prefix = body[:cut].rstrip()
        return (prefix.rstrip(_TRIM_AT_CUT) or prefix) + ELLIPSIS

    def fits(cut: int) -> bool:
        return post_length(candidate(cut), platform) <= limit

    spans = _url_spans(body)
    in_url = [False] * (len(body) + 1)
    for start, end in spans:
        for index in range(start + 1, end):
            in_url[index] = True
    word_cuts = [i for i in range(1, len(body)) if body[i].isspace() and not body[i - 1].isspace()]
    hard_cuts = [i for i in range(1, len(body)) if not in_url[i] and _safe_cut(body, i)]
    word_cut = _largest_fitting(word_cuts, fits)
    hard_cut = _largest_fitting(hard_cuts, fits)
    if word_cut is not None and (hard_cut is None or word_cut >= MIN_WORD_CUT_RATIO * hard_cut):
        return candidate(word_cut)
    if hard_cut is not None:
        return candidate(hard_cut)
    return ELLIPSIS


def fit_post(platform: Platform, body: str, hashtags: Sequence[str] = ()) -> DraftedPost:
    """Compose a post that fits the platform limit.

    The text is ``body + "\\n\\n" + hashtags`` (normalised, deduplicated case-insensitively, at most
    ``max_hashtags``). When too long, hashtags are dropped from the end, then the body is cut at a word
    boundary with "…" (paragraph breaks kept, URLs never split). The result always satisfies
    ``post_length(text) <= limit``.

    Args:
        platform: Target platform.
        body: Post body; surrounding whitespace is stripped and the text NFC-normalised.
        hashtags: Tags with or without ``#``; invalid ones are ignored.

    Returns:
        The fitted post.

    Raises:
        ValueError: If the body is empty.
    """
    rules = RULES[Platform(platform)]
    text = unicodedata.normalize("NFC", body).strip()
    if not text:
        raise ValueError("body is empty")
    tags: list[str] = []
    seen: set[str] = set()
    for raw in hashtags:
        tag = normalize_hashtag(raw)
        if tag is not None and tag.casefold() not in seen:
            seen.add(tag.casefold())
            tags.append(tag)
    tags = tags[: rules.max_hashtags]
    while tags and post_length(_compose(text, tags), rules.platform) > rules.limit:
        tags.pop()
    truncated = post_length(text, rules.platform) > rules.limit
    if truncated:
        text = shorten(text, rules.platform, rules.limit)
    final = _compose(text, tags)
    return DraftedPost(
        platform=rules.platform,
        text=final,
        length=post_length(final, rules.platform),
        limit=rules.limit,
        hashtags=tuple(tags),
        truncated=truncated,
    )


_X_PATTERNS: tuple[re.Pattern[str], ...] = (
    re.compile(r"\b(?:re)?tweet\w*|\btwitter\b|\bx\.com\b", re.IGNORECASE),
    re.compile(r"(?<![\w.-])X(?![\w-])"),
    re.compile(r"\b(?:on|to|for|via|across)\s+x\b(?![\w.-])", re.IGNORECASE),
    re.compile(r"(?<![\w.-])x(?=\s*(?:,|/|&|\band\b|\bor\b)\s*linked[\s-]?in\b)", re.IGNORECASE),
    re.compile(r"\blinked[\s-]?in\s*(?:,|/|&|\band\b|\bor\b)\s*(x)\b(?![\w.-])", re.IGNORECASE),
)
_NOT_THE_PLATFORM = re.compile(r"\b(?:gen|generation|os|malcolm|mac\s+os)\s+$", re.IGNORECASE)
_LINKEDIN = re.compile(r"\blinked[\s-]?in\b", re.IGNORECASE)


def _first_x_mention(text: str) -> int | None:
    positions = []
    for pattern in _X_PATTERNS:
        for match in pattern.finditer(text):
            start = match.start(match.lastindex) if match.lastindex else match.start()
            if match.group().upper() == "X" and _NOT_THE_PLATFORM.search(text[:start]):
                continue  # "Gen X", "OS X"
            positions.append(start)
            break
    return min(positions, default=None)


def platforms_mentioned(text: str) -> list[Platform]:
    """Platforms named in a free-text task, in order of first mention, without duplicates.

    X matches "twitter", "tweet(s/ing)", "retweet", "x.com", a standalone capital "X" and a lowercase
    "x" in phrases like "on x" or "x and linkedin"; "10x", "next", "box", "Gen X", "X-ray" do not match.

    Args:
        text: Free text, e.g. a task description.

    Returns:
        The mentioned platforms; empty when none (callers choose their own default).
    """
    found: list[tuple[int, Platform]] = []
    x_position = _first_x_mention(text)
    if x_position is not None:
        found.append((x_position, Platform.X))
    linkedin = _LINKEDIN.search(text)
    if linkedin:
        found.append((linkedin.start(), Platform.LINKEDIN))
    return [platform for _, platform in sorted(found)]
