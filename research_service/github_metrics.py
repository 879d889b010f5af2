"""GitHub repository metrics over the REST API, with conditional requests (ETag / 304) and rate-limit reporting."""

from __future__ import annotations

import asyncio
import re
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import httpx

from common.config import Settings
from common.text import STOPWORDS, clip
from common.tools.http import ExternalApi, ExternalServiceError, OptionalService
from common.tools.untrusted import fence

SERVICE = "github"
GITHUB_URL = "https://api.github.com"
HOW_TO_ENABLE = "set GITHUB_TOKEN (or GITHUB_API_URL)"
GITHUB_OFF = f"GitHub metrics off: {HOW_TO_ENABLE}"
API_VERSION = "2022-11-28"
_OWNER = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,37}[A-Za-z0-9])?"
_NAME = r"[A-Za-z0-9._-]{1,100}"
REPOSITORY = re.compile(rf"^(?P<owner>{_OWNER})/(?P<name>{_NAME})$")
_IN_TEXT = re.compile(
    rf"(?:https?://)?(?:www\.)?github\.com/(?P<url_owner>{_OWNER})/(?P<url_name>{_NAME})"
    rf"|(?<![\w./-])(?P<owner>{_OWNER})/(?P<name>{_NAME})(?![\w/-])"
)


def parse_repository(text: str) -> str:
    """``owner/name`` from ``owner/name`` or a github.com URL.

    Raises:
        ValueError: Not a valid repository name.
    """
    value = text.strip()
    value = re.sub(r"^(?:https?://)?(?:www\.)?github\.com/", "", value).removesuffix("/").removesuffix(".git")
    match = REPOSITORY.fullmatch(value)
    if not match or match["name"] in (".", ".."):
        raise ValueError(f"not a GitHub repository name (owner/name): {clip(text, 100)!r}")
    return value


def repositories_in(text: str, limit: int = 5) -> list[str]:
    """Repositories a text names: github.com URLs, and bare owner/name pairs (without dots in the owner)."""
    found: list[str] = []
    for match in _IN_TEXT.finditer(text):
        owner = match["url_owner"] or match["owner"]
        name = (match["url_name"] or match["name"]).rstrip(".").removesuffix(".git")
        if (
            not name
            or name in (".", "..")
            or (match["owner"] and (owner.lower() in STOPWORDS or name.lower() in STOPWORDS))
        ):
            continue
        repository = f"{owner}/{name}"
        if repository.lower() not in (r.lower() for r in found):
            found.append(repository)
    return found[:limit]


@dataclass
class GitHubMetrics(OptionalService):
    """Repository metrics from one GitHub API (``api`` is None when GitHub is not configured).

    Attributes:
        stats_attempts: How often to ask for commit activity while GitHub answers 202 (computing).
        stats_wait_s: Wait between those attempts.
        etag_entries: How many URLs' ETag and response are kept for conditional requests.
    """

    service: ClassVar[str] = SERVICE
    how_to_enable: ClassVar[str] = HOW_TO_ENABLE

    api: ExternalApi | None
    stats_attempts: int = 3
    stats_wait_s: float = 1.0
    etag_entries: int = 256
    _etags: OrderedDict[str, tuple[str, httpx.Response]] = field(default_factory=OrderedDict, repr=False)
    _recent: OrderedDict[str, tuple[float, dict[str, Any]]] = field(default_factory=OrderedDict, repr=False)
    _remaining: str | None = field(default=None, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> GitHubMetrics:
        """The client the settings configure (None api when neither GITHUB_TOKEN nor GITHUB_API_URL is set)."""
        if not (settings.github_token or settings.github_api_url):
            return cls(None)
        headers = {"accept": "application/vnd.github+json", "x-github-api-version": API_VERSION}
        if settings.github_token:
            headers["authorization"] = f"Bearer {settings.github_token}"
        return cls(
            ExternalApi.from_settings(
                SERVICE, settings.github_api_url or GITHUB_URL, settings, headers=headers
            )
        )

    def describe(self, api: ExternalApi) -> str:
        """Where the API is, and whether requests carry a token."""
        auth = "token" if "authorization" in api.headers else "no token (60 requests/hour)"
        return f"github at {api.base_url}, {auth}"

    async def metrics(self, repository: str, max_age_s: float = 0.0) -> dict[str, Any]:
        """Stars, forks, issues, watchers, contributors, latest release and weekly commit activity.

        Args:
            repository: ``owner/name`` or a github.com URL.
            max_age_s: Reuse this process's last result for the repository when it is at most this old (the
                chart reuses what the metrics tool just fetched instead of asking GitHub again).

        Raises:
            ValueError: Not a valid repository name.
            ServiceNotConfigured: GitHub is not configured.
            ExternalServiceError: The repository does not exist, or GitHub failed or is rate limited.
        """
        full_name = parse_repository(repository)
        remembered = self._recent.get(full_name.lower())
        if remembered is not None and time.monotonic() - remembered[0] <= max_age_s:
            return dict(remembered[1])
        result = await self._fetch(full_name)
        self._recent[full_name.lower()] = (time.monotonic(), result)
        self._recent.move_to_end(full_name.lower())
        while len(self._recent) > self.etag_entries:
            self._recent.popitem(last=False)
        return dict(result)

    async def _fetch(self, full_name: str) -> dict[str, Any]:
        base = f"/repos/{full_name}"
        try:
            repo = (await self._get(base)).json()
        except ExternalServiceError as exc:
            if exc.status == 404:
                raise ExternalServiceError(
                    SERVICE, f"repository {full_name} not found", status=404, retryable=False
                ) from None
            raise
        contributors, release, activity = await asyncio.gather(
            self._contributors(base), self._latest_release(base), self._commit_activity(base)
        )
        license_info = repo.get("license") or {}
        full_name = _valid_or(repo.get("full_name"), full_name)
        return {
            "repository": full_name,
            "html_url": repo.get("html_url") or f"https://github.com/{full_name}",
            "description": fence(f"github:{full_name}", clip(repo.get("description") or "", 300)),
            "stars": int(repo.get("stargazers_count") or 0),
            "forks": int(repo.get("forks_count") or 0),
            "open_issues": int(repo.get("open_issues_count") or 0),
            "watchers": int(repo.get("subscribers_count") or 0),
            "contributors": contributors,
            "language": repo.get("language") or "",
            "license": license_info.get("spdx_id") or license_info.get("name") or "",
            "pushed_at": repo.get("pushed_at") or "",
            "latest_release": release,
            "commit_activity": activity,
            "rate_limit_remaining": self._remaining,
        }

    async def _get(self, path: str, ok: tuple[int, ...] = (200,)) -> httpx.Response:
        """GET with ``If-None-Match`` when the URL was seen; a 304 answers with the remembered response."""
        api = self.require()
        key = path.lower()
        remembered = self._etags.get(key)
        headers = {"if-none-match": remembered[0]} if remembered else None
        response = await api.request("GET", path, headers=headers, ok=(*ok, 304))
        self._remaining = response.headers.get("x-ratelimit-remaining", self._remaining)
        if response.status_code == 304 and remembered:
            self._etags.move_to_end(key)
            return remembered[1]
        if response.status_code == 304:
            raise ExternalServiceError(
                SERVICE, f"304 for {path} without a remembered response", retryable=False
            )
        if (etag := response.headers.get("etag")) and response.status_code == 200:
            self._etags[key] = (etag, response)
            self._etags.move_to_end(key)
            while len(self._etags) > self.etag_entries:
                self._etags.popitem(last=False)
        return response

    async def _contributors(self, base: str) -> int | None:
        """The contributor count; None when GitHub will not list them (its 403 for very large histories)."""
        try:
            response = await self._get(f"{base}/contributors?per_page=1&anon=true", ok=(200, 204))
        except ExternalServiceError as exc:
            if exc.status == 403 and "too large" in str(exc):
                return None
            raise
        if response.status_code == 204 or not response.content:
            return 0
        last = response.links.get("last", {}).get("url")
        if last:
            pages = parse_qs(urlsplit(last).query).get("page", ["0"])
            return int(pages[0]) if pages[0].isdigit() else 0
        body = response.json()
        return len(body) if isinstance(body, list) else 0

    async def _latest_release(self, base: str) -> dict[str, str] | None:
        response = await self._get(f"{base}/releases/latest", ok=(200, 404))
        if response.status_code == 404:
            return None
        release = response.json()
        return {
            "tag": clip(str(release.get("tag_name") or ""), 100),
            "name": clip(str(release.get("name") or ""), 100),
            "published_at": str(release.get("published_at") or ""),
            "html_url": str(release.get("html_url") or ""),
        }

    async def _commit_activity(self, base: str) -> dict[str, Any]:
        for attempt in range(self.stats_attempts):
            response = await self._get(f"{base}/stats/commit_activity", ok=(200, 202, 204))
            if response.status_code == 200:
                weeks = [
                    {"week": int(w["week"]), "total": int(w["total"])}
                    for w in response.json() or []
                    if isinstance(w, dict) and "week" in w and "total" in w
                ]
                return {"status": "ok", "weeks": weeks}
            if response.status_code == 204:
                return {"status": "no commits", "weeks": []}
            if attempt + 1 < self.stats_attempts:
                await asyncio.sleep(self.stats_wait_s)
        return {
            "status": "not yet computed (GitHub is computing the statistics; try again shortly)",
            "weeks": [],
        }


def _valid_or(name: Any, default: str) -> str:
    try:
        return parse_repository(str(name or ""))
    except ValueError:
        return default
