"""The moderation model: OpenAI's ``POST /v1/moderations`` (or any compatible endpoint) over ``ExternalApi``
(timeouts, bounded retries, a breaker).

Configured with ``MODERATION_MODEL`` (``omni-moderation-latest``), ``MODERATION_API_KEY`` and
``MODERATION_BASE_URL`` (defaulting to ``OPENAI_API_KEY`` and ``OPENAI_BASE_URL``). A flagged text becomes a
``moderation`` finding that blocks approval without override; a moderation call that fails becomes a warning (the
reviewer decides without it), never a silent pass.
"""

from __future__ import annotations

from typing import Any

from common.brand_rules import RuleFinding, Severity
from common.config import Settings
from common.logging import get_logger
from common.text import clip
from common.tools.http import ExternalApi, ExternalServiceError

log = get_logger(__name__)

DEFAULT_BASE_URL = "https://api.openai.com/v1"


class Moderator:
    """Checks texts with the moderation model."""

    def __init__(self, api: ExternalApi, model: str) -> None:
        self.api = api
        self.model = model

    @classmethod
    def from_settings(cls, settings: Settings) -> Moderator | None:
        """The moderator, or None when ``MODERATION_MODEL`` is unset."""
        if not settings.moderation_model:
            return None
        key = settings.moderation_api_key or settings.openai_api_key or ""
        base = settings.moderation_base_url or settings.openai_base_url or DEFAULT_BASE_URL
        headers = {"authorization": f"Bearer {key}"} if key else {}
        return cls(
            ExternalApi.from_settings("moderation", base, settings, headers), settings.moderation_model
        )

    async def check(self, texts: list[str]) -> list[list[RuleFinding]]:
        """The findings of each text (one request for all of them)."""
        if not texts:
            return []
        try:
            response = await self.api.request(
                "POST", "moderations", json={"model": self.model, "input": texts}
            )
            results = response.json()["results"]
            if not isinstance(results, list) or len(results) != len(texts):
                raise ValueError(f"expected {len(texts)} results")
        except (ExternalServiceError, ValueError, KeyError, TypeError) as exc:
            error = clip(f"{type(exc).__name__}: {exc}", 300)
            log.warning("moderation_failed", error=error)
            finding = RuleFinding("moderation", f"the moderation check failed ({error})", Severity.WARNING)
            return [[finding] for _ in texts]
        return [_findings(result) for result in results]

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self.api.aclose()


def _findings(result: Any) -> list[RuleFinding]:
    if not isinstance(result, dict) or not result.get("flagged"):
        return []
    categories = sorted(name for name, hit in (result.get("categories") or {}).items() if hit)
    named = ", ".join(categories) or "unspecified categories"
    return [RuleFinding("moderation", f"the moderation model flagged it: {named}", Severity.FLAGGED)]
