"""The publisher loop: every ``PUBLISHER_POLL_S`` it claims due posts and publishes each exactly once.

``SOCIAL_PUBLISH=dry-run`` (the default) never calls a platform: the request that would be sent (credentials
redacted) is appended to the outbox, ``<DATA_DIR>/social_outbox.jsonl``, one JSON object per line::

    {"post_id": ..., "tenant_id": ..., "workflow_id": ..., "artifact_id": ..., "platform": "x",
     "scheduled_at": ISO 8601, "written_at": ISO 8601, "configured": true, "request": {"method": "POST",
     "url": ..., "headers": {...}, "json": {...}}}

and the post is marked published with ``dry_run`` true. ``live`` calls the platform: a failure that cannot have
reached it (connection refused, 429, breaker open) is retried later; a refusal (4xx) fails the post; a timeout or
5xx fails it as "outcome unknown" (never risk a duplicate public post). A claim older than ``PUBLISHER_LEASE_S``
(its publisher died mid-publish) is failed as "outcome unknown", not republished.

The loop claims due posts of every tenant and publishes each with its own tenant's credentials
(``publishers.TenantPublishers``); a tenant without credentials of its own fails its posts saying so (only the
default tenant uses the process-wide ``X_*``/``LINKEDIN_*`` settings).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from common.agents.review_gate import digest
from common.config import Settings
from common.logging import get_logger
from common.metrics import POSTS_PUBLISHED
from common.text import clip
from common.tools.http import ExternalServiceError, ServiceNotConfigured, rate_limit_wait_s
from social_service.approvals import MISMATCH_ERROR, PostApprovals, matches_approval
from social_service.platforms import Platform
from social_service.publishers import Publisher, TenantPublishers
from social_service.scheduled_posts import FAILED_ACTION, REFUSED_ACTION, ScheduledPost, ScheduledPosts
from social_service.tenant_secrets import TenantSecrets

log = get_logger(__name__)

OUTBOX_FILE = "social_outbox.jsonl"
BATCH_SIZE = 10
MAX_ATTEMPTS = 5
RETRY_BASE_S = 60.0
RETRY_MAX_S = 3600.0


def outbox_path(settings: Settings) -> Path:
    """Where dry-run publications are written."""
    return settings.data_dir / OUTBOX_FILE


class PublisherLoop:
    """Claims due posts from the shared table and publishes them (or writes them to the outbox in dry-run)."""

    def __init__(
        self,
        posts: ScheduledPosts,
        publishers: Mapping[Platform, Publisher],
        settings: Settings,
        *,
        secrets: TenantSecrets | None = None,
        owner: str | None = None,
        batch_size: int = BATCH_SIZE,
        max_attempts: int = MAX_ATTEMPTS,
        retry_base_s: float = RETRY_BASE_S,
    ) -> None:
        self.posts = posts
        self.approvals = PostApprovals(posts)
        self.publishers = TenantPublishers(publishers, secrets)
        self.dry_run = settings.social_publish == "dry-run"
        self.poll_s = settings.publisher_poll_s
        self.lease = timedelta(seconds=settings.publisher_lease_s)
        self.outbox = outbox_path(settings)
        self.owner = owner or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.batch_size = batch_size
        self.max_attempts = max_attempts
        self.retry_base_s = retry_base_s
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # --- lifecycle -------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Run in the background until :meth:`stop`."""
        if self._task is None:
            self._stop.clear()
            self._task = asyncio.create_task(self._run(), name=f"publisher-loop-{self.owner}")
            log.info("publisher_started", owner=self.owner, dry_run=self.dry_run, poll_s=self.poll_s)

    async def stop(self) -> None:
        """Stop polling; a publication in progress finishes first (its claim is settled, never left open)."""
        if self._task is None:
            return
        self._stop.set()
        await self._task
        self._task = None
        log.info("publisher_stopped", owner=self.owner)

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                await self.run_once()
            except Exception as exc:  # a database hiccup must not end the loop
                log.warning("publisher_poll_failed", error=clip(f"{type(exc).__name__}: {exc}", 300))
            try:
                await asyncio.wait_for(self._stop.wait(), self.poll_s)
            except TimeoutError:
                pass

    # --- one poll --------------------------------------------------------------------------------------------

    async def run_once(self) -> list[ScheduledPost]:
        """Expire stale claims, then claim and publish the due posts.

        Returns:
            The posts this call claimed (as claimed).
        """
        now = datetime.now(UTC)
        for post in await self.posts.expire_leases(now - self.lease):
            POSTS_PUBLISHED.labels(platform=post.platform, outcome="failed").inc()
            log.warning(
                "post_lease_expired",
                tenant_id=post.tenant_id,
                workflow_id=post.workflow_id,
                post_id=post.id,
                claimed_by=post.claimed_by,
            )
        await self.approvals.expire_unapproved(now)
        claimed = await self.posts.claim_due(self.owner, now, self.batch_size)
        for post in claimed:
            await self._publish(post)
        return claimed

    async def _publish(self, post: ScheduledPost) -> None:
        publisher = await self.publishers.publisher(post.tenant_id, Platform(post.platform))
        fields = {
            "tenant_id": post.tenant_id,
            "workflow_id": post.workflow_id,
            "post_id": post.id,
            "platform": post.platform,
        }
        if not matches_approval(post):  # held for review, and its text is not the approved one
            await self._fail(post, MISMATCH_ERROR, False, REFUSED_ACTION, {"text_digest": digest(post.text)})
            return
        if self.dry_run:
            await asyncio.to_thread(self._write_outbox, post, publisher)
            await self.posts.mark_published(post, "", "", dry_run=True)
            POSTS_PUBLISHED.labels(platform=post.platform, outcome="dry_run").inc()
            log.info(
                "post_published",
                dry_run=True,
                outbox=str(self.outbox),
                approved_by=post.approved_by,
                **fields,
            )
            return
        try:
            published = await publisher.publish(post.text)
        except ServiceNotConfigured as exc:
            await self._fail(post, f"{post.platform} is not configured: {exc}; nothing was sent", False)
        except ExternalServiceError as exc:
            await self._settle_error(post, exc)
        else:
            await self.posts.mark_published(post, published.external_id, published.url, dry_run=False)
            POSTS_PUBLISHED.labels(platform=post.platform, outcome="published").inc()
            log.info(
                "post_published",
                dry_run=False,
                external_id=published.external_id,
                approved_by=post.approved_by,
                **fields,
            )

    async def _settle_error(self, post: ScheduledPost, exc: ExternalServiceError) -> None:
        error = clip(str(exc), 500)
        if exc.delivered is False or exc.status == 429:
            if post.attempts >= self.max_attempts:
                await self._fail(
                    post, f"gave up after {post.attempts} attempts, nothing was sent: {error}", False
                )
                return
            delay = rate_limit_wait_s(exc.response)
            if delay is None:
                delay = min(self.retry_base_s * 2 ** (post.attempts - 1), RETRY_MAX_S)
            at = datetime.now(UTC) + timedelta(seconds=delay)
            await self.posts.retry_later(post, at, f"attempt {post.attempts} not sent, retrying: {error}")
            log.info(
                "post_retry_later",
                tenant_id=post.tenant_id,
                workflow_id=post.workflow_id,
                post_id=post.id,
                at=at.isoformat(),
                error=error,
            )
        elif exc.status is not None and 400 <= exc.status < 500:
            await self._fail(post, f"{post.platform} refused the post: {error}", False)
        else:
            await self._fail(
                post,
                f"outcome unknown ({error}): the post may be live; check {post.platform} before rescheduling it",
                True,
            )

    async def _fail(
        self,
        post: ScheduledPost,
        error: str,
        outcome_unknown: bool,
        action: str = FAILED_ACTION,
        details: dict[str, Any] | None = None,
    ) -> None:
        await self.posts.mark_failed(post, error, outcome_unknown, action, details)
        POSTS_PUBLISHED.labels(platform=post.platform, outcome="failed").inc()
        log.warning(
            "post_failed",
            tenant_id=post.tenant_id,
            workflow_id=post.workflow_id,
            post_id=post.id,
            platform=post.platform,
            outcome_unknown=outcome_unknown,
            error=error,
        )

    def _write_outbox(self, post: ScheduledPost, publisher: Publisher) -> None:
        line = {
            "post_id": post.id,
            "tenant_id": post.tenant_id,
            "workflow_id": post.workflow_id,
            "artifact_id": post.artifact_id,
            "platform": post.platform,
            "scheduled_at": post.scheduled_at.isoformat(),
            "written_at": datetime.now(UTC).isoformat(),
            "configured": publisher.configured,
            "request": publisher.request_for(post.text).to_dict(),
        }
        self.outbox.parent.mkdir(parents=True, exist_ok=True)
        with self.outbox.open("a", encoding="utf-8") as file:
            file.write(json.dumps(line, ensure_ascii=False) + "\n")
