"""Brand rules: what a draft is checked against before a person reviews it (and again after a reviewer's edit).

The rules come from the tenant's ``BrandProfile``: banned phrases and claims, required disclosures (``#ad``),
competitors' names, hashtag rules (how many, which) and link rules (none, or only some domains), plus the
platform's length limit. A finding is a warning or a flag; a flagged item is approved only with an explicit,
audited override.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit

from marketing.tenant.v1 import tenant_pb2

_HASHTAG = re.compile(r"(?<![\w#])#(\w+)", re.UNICODE)
_URL = re.compile(r"\bhttps?://[^\s<>\"]+|\bwww\.[^\s<>\"]+", re.IGNORECASE)


class Severity(StrEnum):
    """Whether a finding blocks approval."""

    WARNING = "warning"
    FLAGGED = "flagged"


@dataclass(frozen=True)
class RuleFinding:
    """One problem in a text: the rule (``banned_phrase``, ``banned_claim``, ``competitor``,
    ``missing_disclosure``, ``hashtags``, ``link``, ``length``, ``moderation``), what was found, and its severity."""

    rule: str
    message: str
    severity: Severity


def _contains(text: str, phrase: str) -> bool:
    """Whether ``phrase`` occurs in ``text`` as whole words, ignoring case."""
    phrase = phrase.strip()
    if not phrase:
        return False
    pattern = rf"(?<!\w){re.escape(phrase.casefold())}(?!\w)"
    return re.search(pattern, text.casefold()) is not None


def text_length(text: str) -> int:
    """The length of a text in code points (NFC); the platforms' own counting may differ (X weighs links and
    wide characters), so the team fits its drafts exactly and this check bounds a reviewer's edit."""
    return len(unicodedata.normalize("NFC", text))


def _host_allowed(url: str, domains: list[str]) -> bool:
    host = (urlsplit(url if "://" in url else f"https://{url}").hostname or "").lower()
    return any(host == d.lower().lstrip(".") or host.endswith("." + d.lower().lstrip(".")) for d in domains)


def _word_rules(text: str, brand: tenant_pb2.BrandProfile) -> list[RuleFinding]:
    findings = [
        RuleFinding("banned_phrase", f"uses the banned phrase {p!r}", Severity.FLAGGED)
        for p in brand.banned_phrases
        if _contains(text, p)
    ]
    findings += [
        RuleFinding("banned_claim", f"makes the banned claim {c!r}", Severity.FLAGGED)
        for c in brand.banned_claims
        if _contains(text, c)
    ]
    findings += [
        RuleFinding("competitor", f"names the competitor {c!r}", Severity.FLAGGED)
        for c in brand.competitor_names
        if _contains(text, c)
    ]
    findings += [
        RuleFinding("missing_disclosure", f"lacks the required disclosure {d!r}", Severity.FLAGGED)
        for d in brand.required_disclosures
        if d.strip() and d.strip().casefold() not in text.casefold()
    ]
    return findings


def _hashtag_rules(text: str, brand: tenant_pb2.BrandProfile) -> list[RuleFinding]:
    tags = _HASHTAG.findall(text)
    findings = []
    if brand.max_hashtags and len(tags) > brand.max_hashtags:
        findings.append(
            RuleFinding(
                "hashtags", f"has {len(tags)} hashtags, at most {brand.max_hashtags}", Severity.WARNING
            )
        )
    if brand.allowed_hashtags:
        allowed = {t.lstrip("#").casefold() for t in [*brand.allowed_hashtags, *brand.default_hashtags]}
        allowed |= {d.lstrip("#").casefold() for d in brand.required_disclosures if d.startswith("#")}
        others = [t for t in tags if t.casefold() not in allowed]
        if others:
            listed = ", ".join(f"#{t}" for t in others)
            findings.append(RuleFinding("hashtags", f"uses hashtags not allowed: {listed}", Severity.FLAGGED))
    return findings


def _link_rules(text: str, brand: tenant_pb2.BrandProfile) -> list[RuleFinding]:
    links = _URL.findall(text)
    if not links:
        return []
    if brand.links_forbidden:
        return [RuleFinding("link", f"contains a link ({links[0]}); links are not allowed", Severity.FLAGGED)]
    domains = list(brand.allowed_link_domains)
    return [
        RuleFinding("link", f"links to {link}, outside the allowed domains", Severity.FLAGGED)
        for link in links
        if domains and not _host_allowed(link, domains)
    ]


def check_text(text: str, brand: tenant_pb2.BrandProfile, max_length: int = 0) -> list[RuleFinding]:
    """Every brand-rule finding in ``text`` (and ``length`` when it exceeds ``max_length``, 0: no limit)."""
    findings = [*_word_rules(text, brand), *_hashtag_rules(text, brand), *_link_rules(text, brand)]
    if max_length and text_length(text) > max_length:
        findings.append(
            RuleFinding(
                "length",
                f"is {text_length(text)} characters, over the limit of {max_length}",
                Severity.FLAGGED,
            )
        )
    return findings
