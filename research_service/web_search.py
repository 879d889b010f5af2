"""Web search through Tavily or Serper, normalised to one result shape."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from common.config import Settings
from common.text import clip
from common.tools.http import ExternalApi, ExternalServiceError, OptionalService
from common.tools.untrusted import fence

TAVILY_URL = "https://api.tavily.com"
SERPER_URL = "https://google.serper.dev"
HOW_TO_ENABLE = "set TAVILY_API_KEY/TAVILY_BASE_URL or SERPER_API_KEY/SERPER_BASE_URL"
OFF_NOTICE = f"web search off: {HOW_TO_ENABLE}"


def search_provider(settings: Settings) -> str:
    """The provider WEB_SEARCH_PROVIDER selects: "tavily", "serper", or "" when web search is off."""
    tavily = bool(settings.tavily_api_key or settings.tavily_base_url)
    serper = bool(settings.serper_api_key or settings.serper_base_url)
    choice = settings.web_search_provider
    if choice == "tavily":
        return "tavily" if tavily else ""
    if choice == "serper":
        return "serper" if serper else ""
    if choice == "auto":
        return "tavily" if tavily else "serper" if serper else ""
    return ""


@dataclass
class WebSearch(OptionalService):
    """A web search provider (``api`` is None when web search is off)."""

    service: ClassVar[str] = "web_search"
    how_to_enable: ClassVar[str] = f"{HOW_TO_ENABLE} (WEB_SEARCH_PROVIDER=auto|tavily|serper)"

    provider: str
    api: ExternalApi | None

    @classmethod
    def from_settings(cls, settings: Settings) -> WebSearch:
        """The provider the settings select, with its API client."""
        provider = search_provider(settings)
        if provider == "tavily":
            headers = (
                {"authorization": f"Bearer {settings.tavily_api_key}"} if settings.tavily_api_key else {}
            )
            url = settings.tavily_base_url or TAVILY_URL
        elif provider == "serper":
            headers = {"x-api-key": settings.serper_api_key} if settings.serper_api_key else {}
            url = settings.serper_base_url or SERPER_URL
        else:
            return cls("", None)
        return cls(provider, ExternalApi.from_settings(provider, url, settings, headers=headers))

    async def search(self, query: str, max_results: int = 5) -> dict[str, Any]:
        """Search the web; returns the provider, the query and results of title, url, fenced snippet, score.

        Raises:
            ServiceNotConfigured: Web search is off.
            ExternalServiceError: The provider failed or answered something unexpected.
        """
        api = self.require()
        if self.provider == "tavily":
            body = {
                "query": query,
                "max_results": max_results,
                "search_depth": "basic",
                "include_answer": False,
                "include_raw_content": False,
                "include_images": False,
            }
            data = (await api.request("POST", "/search", json=body)).json()
            raw = [
                (r.get("title"), r.get("url"), r.get("content"), r.get("score"))
                for r in _list(data, "results", self.provider)
            ]
        else:
            data = (await api.request("POST", "/search", json={"q": query, "num": max_results})).json()
            organic = _list(data, "organic", self.provider)
            raw = [
                (r.get("title"), r.get("link"), r.get("snippet"), 1.0 / max(1, int(r.get("position") or n)))
                for n, r in enumerate(organic, start=1)
            ]
        results = []
        for title, url, snippet, score in raw:
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                continue
            results.append(
                {
                    "title": clip(" ".join(str(title or url).split()), 200),
                    "url": url,
                    "snippet": fence(url, clip(str(snippet or ""), 600)),
                    "score": round(float(score or 0.0), 4),
                }
            )
        return {"provider": self.provider, "query": query, "results": results[:max_results]}


def _list(data: Any, key: str, service: str) -> list[dict[str, Any]]:
    value = data.get(key) if isinstance(data, dict) else None
    if not isinstance(value, list):
        raise ExternalServiceError(service, f"unexpected response: no {key!r} list", retryable=False)
    return [item for item in value if isinstance(item, dict)]
