"""Fetching a web page as readable, fenced text, refusing private networks (SSRF) on every redirect hop."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

import httpx

from common.config import Settings
from common.text import clip
from common.tools.addresses import Address, UnresolvableHost, is_public, pin, resolve
from common.tools.http import ExternalApi, ExternalServiceError
from common.tools.untrusted import fence

SERVICE = "web"
MAX_REDIRECTS = 5
MAX_TEXT_CHARS = 8000
REDIRECTS = (301, 302, 303, 307, 308)
TEXT_TYPES = ("text/html", "text/plain", "application/xhtml+xml")


class FetchRefused(ExternalServiceError):
    """The URL may not be fetched (scheme, private address, content type, too many redirects)."""

    def __init__(self, message: str) -> None:
        super().__init__(SERVICE, message, retryable=False, delivered=False)


@dataclass
class PageFetcher:
    """Fetches pages through one ``ExternalApi`` named "web" (retries, breaker, size cap)."""

    api: ExternalApi
    max_bytes: int
    allow_private: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> PageFetcher:
        """A fetcher with the process's limits."""
        api = ExternalApi.from_settings(
            SERVICE, "", settings, headers={"accept": ", ".join(TEXT_TYPES)}, breaker_per_host=True
        )
        return cls(api, settings.fetch_max_bytes, settings.fetch_allow_private_networks)

    async def fetch(self, url: str) -> dict[str, Any]:
        """The page's readable text (fenced), title and metadata.

        Raises:
            FetchRefused: Not http(s), a private address, not text, or more than five redirects.
            ExternalServiceError: The site failed or sent more than the size cap.
        """
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            address = await self.check_url(current)
            target, headers, extensions = pinned(current, address)
            response = await self.api.request(
                "GET",
                target,
                headers=headers,
                extensions=extensions,
                ok=(200, *REDIRECTS),
                max_bytes=self.max_bytes,
            )
            if response.status_code in REDIRECTS:
                location = response.headers.get("location")
                if not location:
                    raise ExternalServiceError(SERVICE, f"redirect without a location from {current}")
                current = urljoin(current, location)
                continue
            return await asyncio.to_thread(self._page, url, current, response)
        raise FetchRefused(f"more than {MAX_REDIRECTS} redirects from {url}")

    async def check_url(self, url: str) -> Address:
        """Refuse a URL that is not http(s) or whose host resolves to a non-public address; returns the address to
        connect to (the request is pinned to it, so a second DNS answer cannot point elsewhere).

        Raises:
            FetchRefused: The URL may not be fetched.
        """
        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL as exc:
            raise FetchRefused(f"invalid URL {clip(url, 200)!r}: {exc}") from None
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise FetchRefused(f"only http(s) URLs with a host can be fetched, not {clip(url, 200)!r}")
        addresses = await _addresses(parsed.host, parsed.port or (443 if parsed.scheme == "https" else 80))
        if not addresses:
            raise FetchRefused(f"{parsed.host} has no address")
        for address in addresses:
            if not self.allow_private and not _public(address):
                raise FetchRefused(
                    f"{parsed.host} resolves to a non-public address ({address}); "
                    "set FETCH_ALLOW_PRIVATE_NETWORKS=true to allow it"
                )
        return addresses[0]

    def _page(self, requested: str, final: str, response: httpx.Response) -> dict[str, Any]:
        content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type not in TEXT_TYPES:
            raise FetchRefused(
                f"{final} is {content_type or 'of no declared type'}, not text/html or text/plain"
            )
        title: str = ""
        meta: dict[str, Any] = {}
        if content_type == "text/plain":
            text = response.text
        else:
            import trafilatura  # loaded on first use: a process without web search never pays for it

            extracted = trafilatura.extract(
                response.text, url=final, output_format="json", with_metadata=True, include_comments=False
            )
            meta = json.loads(extracted) if extracted else {}
            text = meta.get("text") or ""
            title = meta.get("title") or ""
        text = text.strip()
        if not text:
            raise ExternalServiceError(SERVICE, f"no readable text at {final}", retryable=False)
        return {
            "url": requested,
            "final_url": final,
            "title": clip(" ".join(title.split()), 200) or final,
            "site": clip(meta.get("sitename") or httpx.URL(final).host, 100),
            "author": clip(meta.get("author") or "", 100),
            "date": meta.get("date") or "",
            "content_type": content_type,
            "truncated": len(text) > MAX_TEXT_CHARS,
            "text": fence(final, clip(text, MAX_TEXT_CHARS)),
        }

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self.api.aclose()


pinned = pin  # the request for a URL sent to its checked address (common/tools/addresses.py)


async def _addresses(host: str, port: int) -> list[Address]:
    try:
        return await resolve(host, port)
    except UnresolvableHost as exc:
        raise ExternalServiceError(SERVICE, str(exc), retryable=False) from None


_public = is_public  # the check lives in common/tools/addresses.py (the webhook sender uses it too)
