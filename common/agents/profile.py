"""A tenant's profile as the agents use it: typed accessors over the plain-data profile, and the brand's text rules.

The profile reaches a team as ``Brief.profile`` (``marketing.tenant.v1.TenantProfile``) and the agents as
``WorkScope.profile``: the message converted with ``json_format.MessageToDict(profile,
preserving_proto_field_name=True)``, so plain JSON-friendly data that checkpointers can store::

    {
        "brand": {"voice": str, "audience": str, "banned_phrases": [str], "required_disclosures": [str],
                  "default_hashtags": [str]},
        "enabled_platforms": ["PLATFORM_X", "PLATFORM_LINKEDIN"],
        "time_zone": "Europe/Berlin",
        "posting_windows": [{"platform": "PLATFORM_LINKEDIN", "weekdays": [1, 2, 3], "start_hour": 9,
                             "end_hour": 17}],
        "models": {"router_model": str, "worker_model": str},
        "enabled_tools": [str],
        "knowledge_documents": [{"id": str, "title": str, "body": str}],
    }

A field at its default value is absent (``MessageToDict`` leaves it out: an empty list, "", 0, an unspecified enum).
The accessors never raise: a value of the wrong type reads as absent, lists and strings are bounded, and an
absent field means what the proto documents (every platform, UTC, best-practice times, the deployment's models,
every configured tool).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

Profile = Mapping[str, Any]
"""A tenant profile as plain data (see the module docstring)."""

MAX_BRAND_TEXT_CHARS = 500
"""Voice and audience are clipped to this many characters."""
MAX_BRAND_ITEMS = 50
"""Banned phrases, disclosures and default hashtags: at most this many of each are used."""
MAX_BRAND_ITEM_CHARS = 300
"""A longer banned phrase, disclosure or hashtag is ignored."""
MAX_MODEL_NAME_CHARS = 128
MAX_WINDOWS = 50
MAX_TOOLS = 200

_PLATFORM_PREFIX = "PLATFORM_"
_MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@+-]*")
_SPACES = re.compile(r"[ \t]{2,}")
_SPACE_BEFORE_PUNCTUATION = re.compile(r"[ \t]+([,.;:!?)])")
_LEADING_PUNCTUATION = re.compile(r"^[,;:]+[ \t]*")
_EMPTY_BRACKETS = re.compile(r"\(\s*\)")


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: Any, limit: int) -> str:
    return value.strip()[:limit] if isinstance(value, str) else ""


def _texts(
    value: Any, limit: int = MAX_BRAND_ITEMS, max_chars: int = MAX_BRAND_ITEM_CHARS
) -> tuple[str, ...]:
    """Distinct non-empty strings of a list (case-insensitively), in order; too-long ones are dropped."""
    if not isinstance(value, list | tuple):
        return ()
    seen: set[str] = set()
    items: list[str] = []
    for item in value:
        text = item.strip() if isinstance(item, str) else ""
        if text and len(text) <= max_chars and text.casefold() not in seen:
            seen.add(text.casefold())
            items.append(text)
    return tuple(items[:limit])


def platform_name(value: Any) -> str:
    """A platform as the social team names it: ``"PLATFORM_X"`` -> ``"x"`` ("" for unspecified or not a name)."""
    if not isinstance(value, str):
        return ""
    name = value.strip().upper().removeprefix(_PLATFORM_PREFIX)
    return "" if name in ("", "UNSPECIFIED") else name.lower()


# --- brand -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Brand:
    """How a tenant speaks and what it must and must not say."""

    voice: str = ""
    audience: str = ""
    banned_phrases: tuple[str, ...] = ()
    required_disclosures: tuple[str, ...] = ()
    default_hashtags: tuple[str, ...] = ()

    @property
    def is_empty(self) -> bool:
        """True when the tenant set no brand field."""
        return not (
            self.voice
            or self.audience
            or self.banned_phrases
            or self.required_disclosures
            or self.default_hashtags
        )


def brand_of(profile: Profile | None) -> Brand:
    """The tenant's brand (an empty ``Brand`` when it has none)."""
    brand = _mapping(_mapping(profile).get("brand"))
    return Brand(
        voice=_text(brand.get("voice"), MAX_BRAND_TEXT_CHARS),
        audience=_text(brand.get("audience"), MAX_BRAND_TEXT_CHARS),
        banned_phrases=_texts(brand.get("banned_phrases")),
        required_disclosures=_texts(brand.get("required_disclosures")),
        default_hashtags=_texts(brand.get("default_hashtags")),
    )


def _phrase_pattern(phrase: str) -> re.Pattern[str]:
    """A banned phrase, case-insensitively, not inside a longer word ("free" does not match "freedom")."""
    start = r"(?<!\w)" if phrase[0].isalnum() or phrase[0] == "_" else ""
    end = r"(?!\w)" if phrase[-1].isalnum() or phrase[-1] == "_" else ""
    return re.compile(start + re.escape(phrase) + end, re.IGNORECASE)


def _tidy_line(line: str) -> str:
    body = line.lstrip(" \t")
    indent = line[: len(line) - len(body)]
    body = _SPACE_BEFORE_PUNCTUATION.sub(r"\1", _EMPTY_BRACKETS.sub("", body))
    body = _LEADING_PUNCTUATION.sub("", body)
    return indent + _SPACES.sub(" ", body).rstrip() if body.strip() else ""


def _tidy(text: str) -> str:
    """Whitespace and punctuation left behind by a removal (indentation kept)."""
    return "\n".join(_tidy_line(line) for line in text.split("\n")).strip()


def remove_banned_phrases(text: str, phrases: Iterable[str]) -> tuple[str, list[str]]:
    """Remove every occurrence of the banned phrases (case-insensitively, whole words).

    Returns:
        The cleaned text, and the phrases that were found (as the tenant spelled them), in order.
    """
    found: list[str] = []
    for phrase in phrases:
        pattern = _phrase_pattern(phrase)
        text, count = pattern.subn("", text)
        if count:
            found.append(phrase)
    return (_tidy(text) if found else text), found


def missing_disclosures(text: str, disclosures: Iterable[str]) -> list[str]:
    """The required disclosures the text does not carry yet (compared case-insensitively)."""
    folded = text.casefold()
    return [d for d in disclosures if d.casefold() not in folded]


def with_disclosures(text: str, disclosures: Iterable[str]) -> str:
    """The text with its missing required disclosures appended as a last paragraph, one a line."""
    missing = missing_disclosures(text, disclosures)
    return f"{text.rstrip()}\n\n" + "\n".join(missing) if missing else text


def brand_warning(phrase: str) -> str:
    """What an artifact's ``brand_warnings`` says about a banned phrase that was removed."""
    return f'removed banned phrase "{phrase}"'


# --- platforms, time zone, posting windows -----------------------------------------------------------------


def enabled_platforms(profile: Profile | None) -> tuple[str, ...]:
    """The platforms the tenant publishes on, as the social team names them (``"x"``, ``"linkedin"``), in the
    profile's order; empty means every supported platform."""
    names = [platform_name(p) for p in _texts(_mapping(profile).get("enabled_platforms"), 20, 64)]
    return tuple(dict.fromkeys(n for n in names if n))


def platform_enabled(profile: Profile | None, platform: str) -> bool:
    """Whether the tenant publishes on a platform (``"x"`` or ``"PLATFORM_X"``)."""
    enabled = enabled_platforms(profile)
    return not enabled or platform_name(platform.upper()) in enabled


def time_zone(profile: Profile | None) -> str:
    """The IANA time zone of the tenant's audience; "" when it set none (which means UTC)."""
    return _text(_mapping(profile).get("time_zone"), 64)


@dataclass(frozen=True)
class PostingHours:
    """A tenant's posting window: local hours ``[start_hour, end_hour)`` on some ISO weekdays for a platform.

    Attributes:
        platform: The platform (``"x"``, ``"linkedin"``); "" means every platform.
        weekdays: ISO weekdays, 1 (Monday) to 7 (Sunday); empty means every day.
        start_hour: First local hour, 0-23.
        end_hour: Local hour the window ends (exclusive), 1-24.
    """

    platform: str
    weekdays: frozenset[int]
    start_hour: int
    end_hour: int

    def applies_to(self, platform: str) -> bool:
        """Whether the window is for this platform."""
        return not self.platform or self.platform == platform

    def open_on(self, iso_weekday: int) -> bool:
        """Whether the window is open on this ISO weekday."""
        return not self.weekdays or iso_weekday in self.weekdays

    def contains(self, hour: int, minute: int = 0) -> bool:
        """Whether a local wall-clock time falls inside the window's hours."""
        return self.start_hour * 60 <= hour * 60 + minute < self.end_hour * 60

    def describe(self) -> str:
        """``"Mon, Tue 09:00-17:00"``, for rationales."""
        days = ", ".join(_ISO_DAYS[d - 1] for d in sorted(self.weekdays)) if self.weekdays else "every day"
        return f"{days} {self.start_hour:02d}:00-{self.end_hour:02d}:00"


_ISO_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def _window(raw: Mapping[str, Any]) -> PostingHours | None:
    start = _int(raw.get("start_hour", 0))
    end = _int(raw.get("end_hour", 0))
    days = raw.get("weekdays", [])
    weekdays = [_int(d) for d in days] if isinstance(days, list) else [None]
    if start is None or end is None or not 0 <= start < end <= 24:
        return None
    if any(d is None or not 1 <= d <= 7 for d in weekdays):
        return None
    return PostingHours(platform_name(raw.get("platform")), frozenset(d for d in weekdays if d), start, end)


def posting_windows(profile: Profile | None) -> tuple[PostingHours, ...]:
    """The tenant's posting windows (malformed ones are left out); empty means best-practice times."""
    raw = _mapping(profile).get("posting_windows")
    if not isinstance(raw, list):
        return ()
    windows = (_window(item) for item in raw[:MAX_WINDOWS] if isinstance(item, Mapping))
    return tuple(w for w in windows if w is not None)


# --- models, tools, knowledge ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelChoices:
    """The models of a tenant's tasks; "" means the deployment's default (``LLM_ROUTER_MODEL``, ``LLM_MODEL``)."""

    router_model: str = ""
    worker_model: str = ""


def _model_name(value: Any) -> str:
    name = value.strip() if isinstance(value, str) else ""
    return name if len(name) <= MAX_MODEL_NAME_CHARS and _MODEL_NAME.fullmatch(name) else ""


def model_choices(profile: Profile | None) -> ModelChoices:
    """The tenant's model choices (a name that is not a plausible model id reads as unset)."""
    models = _mapping(_mapping(profile).get("models"))
    return ModelChoices(_model_name(models.get("router_model")), _model_name(models.get("worker_model")))


def enabled_tools(profile: Profile | None) -> frozenset[str] | None:
    """The tools the tenant's agents may use (names as ``ListTools`` shows them); None means every configured
    tool."""
    tools = _texts(_mapping(profile).get("enabled_tools"), MAX_TOOLS, 128)
    return frozenset(tools) if tools else None


def tool_enabled(profile: Profile | None, name: str) -> bool:
    """Whether the tenant lets its agents use a tool."""
    tools = enabled_tools(profile)
    return tools is None or name in tools


class _Named(Protocol):
    @property
    def name(self) -> str: ...


_Tool = TypeVar("_Tool", bound=_Named)


def allowed_tools(profile: Profile | None, tools: Sequence[_Tool]) -> tuple[_Tool, ...]:
    """The tools (anything with a ``name``, such as LangChain tools) the tenant enabled, in their order."""
    enabled = enabled_tools(profile)
    if enabled is None:
        return tuple(tools)
    return tuple(t for t in tools if t.name in enabled)


@dataclass(frozen=True)
class KnowledgeDocument:
    """One document of the tenant's own knowledge base."""

    id: str
    title: str
    body: str


def knowledge_documents(profile: Profile | None) -> tuple[KnowledgeDocument, ...]:
    """The tenant's knowledge-base documents (those without an id or a body are left out)."""
    raw = _mapping(profile).get("knowledge_documents")
    if not isinstance(raw, list):
        return ()
    documents = []
    for item in raw:
        item = _mapping(item)
        doc_id, body = _text(item.get("id"), 128), item.get("body")
        if doc_id and isinstance(body, str) and body.strip():
            documents.append(KnowledgeDocument(doc_id, _text(item.get("title"), 300), body))
    return tuple(documents)
