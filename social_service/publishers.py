"""Platform publishers: X API v2 (``POST /2/tweets``) and the LinkedIn Posts API (``POST /rest/posts``).

Each publisher builds the exact request it sends (the dry-run outbox records it unsent) and sends it through the
shared :class:`~common.tools.http.ExternalApi` as a non-idempotent call, so a post is never retried once the
platform may have acted on it.

A post goes out with its tenant's own credentials (``TenantPublishers``): those stored with
``TeamService/SetTenantSecrets``; the process-wide ``X_*``/``LINKEDIN_*`` settings are the default tenant's only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from common.auth.principal import DEFAULT_TENANT
from common.config import Settings
from common.tools.http import ExternalApi, ExternalServiceError, ServiceNotConfigured
from social_service.platforms import Platform
from social_service.tenant_secrets import (
    LINKEDIN_ACCESS_TOKEN,
    LINKEDIN_AUTHOR_URN,
    X_BEARER_TOKEN,
    SecretUnavailable,
    TenantSecrets,
)

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


def _not_configured(tenant_id: str, names: str) -> str:
    return f"for tenant {tenant_id}: set its {names} with TeamService/SetTenantSecrets"


def tenant_publisher(
    default: Publisher, tenant_id: str, secrets: Mapping[str, str], uses_settings: bool
) -> Publisher:
    """The publisher of one platform for one tenant: the tenant's stored credentials when it has any; else the
    process-wide publisher (``uses_settings``: the default tenant); else one that fails saying what is missing.

    Args:
        default: The publisher built from the settings (its URL and HTTP client are shared).
        tenant_id: The post's tenant.
        secrets: The tenant's decrypted secrets.
        uses_settings: The tenant may fall back to the process-wide credentials.
    """
    if default.platform is Platform.X:
        token = secrets.get(X_BEARER_TOKEN, "")
        if token:
            return replace(default, token=token, missing="")
        if uses_settings:
            return default
        return replace(default, token=None, missing=_not_configured(tenant_id, X_BEARER_TOKEN))
    token, urn = secrets.get(LINKEDIN_ACCESS_TOKEN, ""), secrets.get(LINKEDIN_AUTHOR_URN, "")
    if token and urn:
        return replace(default, token=token, author_urn=urn, missing="")
    if token or urn:
        missing = LINKEDIN_AUTHOR_URN if token else LINKEDIN_ACCESS_TOKEN
        return replace(default, token=None, author_urn="", missing=_not_configured(tenant_id, missing))
    if uses_settings:
        return default
    names = f"{LINKEDIN_ACCESS_TOKEN} and {LINKEDIN_AUTHOR_URN}"
    return replace(default, token=None, author_urn="", missing=_not_configured(tenant_id, names))


@dataclass
class TenantPublishers:
    """Picks the publisher of a post: its platform, with its tenant's credentials.

    Attributes:
        defaults: The publishers built from the settings (``build_publishers``).
        secrets: The tenants' stored credentials (None: every tenant uses the settings' credentials, which only
            the default tenant may).
    """

    defaults: Mapping[Platform, Publisher]
    secrets: TenantSecrets | None = None

    async def publisher(self, tenant_id: str, platform: Platform) -> Publisher:
        """The publisher of ``platform`` for ``tenant_id``; one whose ``missing`` says why when the tenant's
        credentials are absent or unreadable (the post then fails without anything being sent)."""
        default = self.defaults[platform]
        try:
            secrets = await self.secrets.values(tenant_id) if self.secrets is not None else {}
        except SecretUnavailable as exc:
            return replace(default, token=None, author_urn="", missing=str(exc))
        return tenant_publisher(default, tenant_id, secrets, uses_settings=tenant_id == DEFAULT_TENANT)
