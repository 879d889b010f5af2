"""Platform publishers: X API v2 (``POST /2/tweets``) and the LinkedIn Posts API (``POST /rest/posts``).

Each publisher builds the exact request it sends (the dry-run outbox records it unsent) and sends it through the
shared :class:`~common.tools.http.ExternalApi` as a non-idempotent call, so a post is never retried once the
platform may have acted on it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from common.config import Settings
from common.tools.http import ExternalApi, ExternalServiceError, ServiceNotConfigured
from social_service.platforms import Platform

DEFAULT_X_API_URL = "https://api.x.com"
DEFAULT_LINKEDIN_API_URL = "https://api.linkedin.com"
REDACTED = "Bearer <redacted>"


@dataclass(frozen=True)
class OutgoingRequest:
    """A request a publisher sends (or, in dry-run, would send)."""

    method: str
    url: str
    headers: Mapping[str, str]
    json: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form with the credentials redacted."""
        headers = {k: (REDACTED if k.lower() == "authorization" else v) for k, v in self.headers.items()}
        return {"method": self.method, "url": self.url, "headers": headers, "json": dict(self.json)}


@dataclass(frozen=True)
class Published:
    """Where a post went live."""

    external_id: str
    url: str


@dataclass
class Publisher:
    """One platform's publisher.

    Attributes:
        platform: The platform.
        base_url: API base URL.
        token: Bearer token (None when not set).
        missing: Why the platform is not configured ("" when it is).
        api: The HTTP client (created from the settings).
    """

    platform: Platform
    base_url: str
    token: str | None
    missing: str
    api: ExternalApi
    extra_headers: Mapping[str, str] = field(default_factory=dict)
    author_urn: str = ""

    @property
    def configured(self) -> bool:
        """Whether the platform can be called."""
        return not self.missing

    def request_for(self, text: str) -> OutgoingRequest:
        """The request that publishes ``text``."""
        headers = {"authorization": f"Bearer {self.token or ''}", **self.extra_headers}
        if self.platform is Platform.X:
            return OutgoingRequest("POST", f"{self.base_url}/2/tweets", headers, {"text": text})
        body = {
            "author": self.author_urn,
            "commentary": text,
            "visibility": "PUBLIC",
            "distribution": {
                "feedDistribution": "MAIN_FEED",
                "targetEntities": [],
                "thirdPartyDistributionChannels": [],
            },
            "lifecycleState": "PUBLISHED",
            "isReshareDisabledByAuthor": False,
        }
        return OutgoingRequest("POST", f"{self.base_url}/rest/posts", headers, body)

    async def publish(self, text: str) -> Published:
        """Publish ``text`` once.

        Raises:
            ServiceNotConfigured: The platform's credentials (or LinkedIn's author URN) are not set.
            ExternalServiceError: The platform refused the post or the outcome is unknown; see its ``delivered``.
        """
        if self.missing:
            raise ServiceNotConfigured(self.api.name, self.missing)
        request = self.request_for(text)
        path = request.url.removeprefix(self.base_url)
        response = await self.api.request(
            request.method, path, json=request.json, headers=request.headers, ok=(201,), idempotent=False
        )
        if self.platform is Platform.X:
            try:
                post_id = str(response.json()["data"]["id"])
            except (ValueError, KeyError, TypeError):
                raise ExternalServiceError(
                    self.api.name, "HTTP 201 without data.id: the post may be live, check the account",
                    status=201, response=response, retryable=False,
                ) from None  # fmt: skip
            return Published(post_id, f"https://x.com/i/web/status/{post_id}")
        urn = response.headers.get("x-restli-id", "")
        if not urn:
            raise ExternalServiceError(
                self.api.name, "HTTP 201 without an x-restli-id header: the post may be live, check the page",
                status=201, response=response, retryable=False,
            )  # fmt: skip
        return Published(urn, f"https://www.linkedin.com/feed/update/{urn}")

    def status(self, dry_run: bool) -> str:
        """How the publisher is set up, for ``ListTools``."""
        where = f"{self.platform.value} at {self.base_url}"
        if dry_run:
            state = "configured" if self.configured else f"not configured ({self.missing})"
            return f"dry-run (SOCIAL_PUBLISH=dry-run): requests to {where} are written to the outbox, not sent; {state}"
        if not self.configured:
            return f"live, but not configured ({self.missing}): due posts fail"
        return f"live: publishes to {where}"


def build_publishers(settings: Settings) -> dict[Platform, Publisher]:
    """The X and LinkedIn publishers; a platform is configured when its token or URL is set (LinkedIn also needs
    ``LINKEDIN_AUTHOR_URN``)."""
    x_url = settings.x_api_url or DEFAULT_X_API_URL
    x_missing = "" if settings.x_bearer_token or settings.x_api_url else "set X_BEARER_TOKEN (or X_API_URL)"
    linkedin_url = settings.linkedin_api_url or DEFAULT_LINKEDIN_API_URL
    linkedin_missing = ""
    if not (settings.linkedin_access_token or settings.linkedin_api_url):
        linkedin_missing = "set LINKEDIN_ACCESS_TOKEN (or LINKEDIN_API_URL) and LINKEDIN_AUTHOR_URN"
    elif not settings.linkedin_author_urn:
        linkedin_missing = "set LINKEDIN_AUTHOR_URN, e.g. urn:li:organization:123, the author of the posts"
    return {
        Platform.X: Publisher(
            Platform.X,
            x_url,
            settings.x_bearer_token,
            x_missing,
            ExternalApi.from_settings("x", x_url, settings),
        ),
        Platform.LINKEDIN: Publisher(
            Platform.LINKEDIN,
            linkedin_url,
            settings.linkedin_access_token,
            linkedin_missing,
            ExternalApi.from_settings("linkedin", linkedin_url, settings),
            extra_headers={
                "linkedin-version": settings.linkedin_version,
                "x-restli-protocol-version": "2.0.0",
            },
            author_urn=settings.linkedin_author_urn or "",
        ),
    }
