"""Issue 17's audit trail of publishing, on the social team's side (SQLite and PostgreSQL): each approval applied to
a post, each publish attempt and its outcome (published with the platform's post id, failed with the error, refused
because the text no longer matches the approved digest, expired unapproved) is recorded in the team's own audit log
(``team_audit_events``), in the transaction of the change, once, for the post's tenant only."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from common.agents.review_gate import digest
from common.audit import TeamAuditEvent
from social_service.approvals import PostApprovals
from social_service.publisher_loop import PublisherLoop
from social_service.publishers import build_publishers
from social_service.scheduled_posts import NewPost, ScheduledPost, ScheduledPosts
from tests.fakes.social_apis import FakeX
from tests.integration.test_social_publishing import PAST, POSTGRES_URL, TENANT, Backend, live_settings

OTHER_TENANT = "globex"
REVIEWER = "jwt:reviewer-1"


@pytest.fixture(params=["sqlite", "postgres"])
async def posts(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ScheduledPosts]:
    """The social team's posts (and its audit log) on a SQLite file or in a PostgreSQL schema of their own."""
    if request.param == "sqlite":
        opened = await Backend("sqlite", tmp_path).open()
        yield opened
        await opened.db.close()
        return
    schema = f"test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(POSTGRES_URL)
    await admin.execute(f"CREATE SCHEMA {schema}")
    try:
        opened = await Backend("postgres", tmp_path, schema).open()
        yield opened
        await opened.db.close()
    finally:
        await admin.execute(f"DROP SCHEMA {schema} CASCADE")
        await admin.close()


@pytest.fixture
def x_api() -> Iterator[FakeX]:
    with FakeX() as api:
        yield api


async def _held(posts: ScheduledPosts, texts: dict[str, str], at: datetime = PAST) -> list[ScheduledPost]:
    """A workflow's posts on X, held for review (one per artifact id)."""
    workflow_id = str(uuid.uuid4())
    new = [
        NewPost(workflow_id, artifact, "x", text, at, approval_required=True)
        for artifact, text in texts.items()
    ]
    return await posts.schedule(TENANT, new, dry_run=False)


async def _approve(posts: ScheduledPosts, held: list[ScheduledPost], review_id: str) -> None:
    decision = {
        "approved_texts": {p.artifact_id: p.text for p in held},
        "approved_digests": {p.artifact_id: digest(p.text) for p in held},
        "reviewer": REVIEWER,
        "review_id": review_id,
    }
    await PostApprovals(posts).approve(TENANT, held[0].workflow_id, decision)


def _by_post(events: list[TeamAuditEvent], post: ScheduledPost) -> list[TeamAuditEvent]:
    """The post's events, oldest first."""
    return sorted((e for e in events if e.resource == f"posts/{post.id}"), key=lambda e: (e.at, e.action))


async def test_approval_attempt_and_each_outcome_are_audited_once_for_the_posts_tenant(
    posts: ScheduledPosts, x_api: FakeX, tmp_path: Path
) -> None:
    settings = live_settings(x_api.url, tmp_path)
    review_id = str(uuid.uuid4())
    good, tampered = await _held(posts, {"social-1": "Approved text #launch", "social-2": "Another approved"})
    await _approve(posts, [good, tampered], review_id)
    await _approve(posts, [good, tampered], review_id)  # a resumed gate approves again: recorded once
    async with posts.db.for_tenant(TENANT) as db:  # changed after the approval
        await db.execute(
            "UPDATE scheduled_posts SET text = 'Not what was approved' WHERE id = $1", tampered.id
        )
    [unapproved] = await _held(posts, {"social-1": "Nobody approved me"})
    loop = PublisherLoop(posts, build_publishers(settings), settings)
    await loop.run_once()
    await loop.run_once()  # nothing left to do: no new event

    events = await posts.audit.older_than(TENANT, 100)
    assert len({e.id for e in events}) == len(events)
    approved = digest("Approved text #launch")

    published = _by_post(events, good)
    assert [e.action for e in published] == ["post.approve", "post.publish_attempt", "post.published"]
    approve, attempt, outcome = published
    assert approve.actor == REVIEWER and approve.details["review_id"] == review_id
    assert approve.details["approval_digest"] == approved
    assert attempt.details["text_digest"] == approved and attempt.details["attempt"] == "1"
    [tweet_id] = [i for i, text in x_api.posts.items() if text == "Approved text #launch"]
    assert outcome.details["external_id"] == tweet_id and outcome.details["dry_run"] == "false"
    assert (
        outcome.details["approval_digest"] == approved and outcome.details["workflow_id"] == good.workflow_id
    )
    assert all("Approved text" not in value for e in published for value in e.details.values()), "no texts"

    refused = _by_post(events, tampered)
    assert [e.action for e in refused] == ["post.approve", "post.publish_attempt", "post.publish_refused"]
    assert refused[2].details["approval_digest"] == digest("Another approved")
    assert refused[2].details["text_digest"] == digest("Not what was approved")
    assert "does not match the approved text" in refused[2].details["error"]

    [expired] = _by_post(events, unapproved)
    assert expired.action == "post.expired" and "review expired" in expired.details["error"]

    assert await posts.audit.older_than(OTHER_TENANT, 100) == [], "another tenant sees none of them"


async def test_a_failed_attempt_records_the_error_and_a_rate_limited_one_its_retry(
    posts: ScheduledPosts, x_api: FakeX, tmp_path: Path
) -> None:
    settings = live_settings(x_api.url, tmp_path)
    [refused] = await posts.schedule(
        TENANT, [NewPost(str(uuid.uuid4()), "social-1", "x", "one", PAST)], False
    )
    x_api.fail(403, {"title": "Forbidden", "detail": "suspended", "status": 403}, path="/2/tweets")
    loop = PublisherLoop(posts, build_publishers(settings), settings)
    await loop.run_once()
    [later] = await posts.schedule(TENANT, [NewPost(str(uuid.uuid4()), "social-1", "x", "two", PAST)], False)
    x_api.fail(429, {"title": "Too Many Requests"}, {"retry-after": "60"}, path="/2/tweets", times=5)
    await loop.run_once()

    events = await posts.audit.older_than(TENANT, 100)
    failed = _by_post(events, refused)
    assert [e.action for e in failed] == ["post.publish_attempt", "post.publish_failed"]
    assert (
        failed[1].details["error"].startswith("x refused the post")
        and "suspended" in failed[1].details["error"]
    )
    assert failed[1].details["outcome_unknown"] == "false"
    retried = _by_post(events, later)
    assert [e.action for e in retried] == ["post.publish_attempt", "post.publish_retry"]
    assert datetime.fromisoformat(retried[1].details["retry_time"]) > datetime.now(UTC) + timedelta(
        seconds=30
    )


async def test_the_team_audit_log_pages_newest_first_from_a_cursor(posts: ScheduledPosts) -> None:
    for index in range(5):
        await posts.audit.record(TENANT, "post.test", f"posts/{index}", {"n": index})
    await posts.audit.record(OTHER_TENANT, "post.test", "posts/x", {})
    newest = await posts.audit.older_than(TENANT, 100)
    assert [e.details["n"] for e in newest] == ["4", "3", "2", "1", "0"]
    first = await posts.audit.older_than(TENANT, 2)
    rest = await posts.audit.older_than(TENANT, 100, (first[-1].at, first[-1].id))
    assert [e.id for e in first + rest] == [e.id for e in newest]
    assert await posts.audit.erase_tenant(TENANT) == 5
    assert [e.resource for e in await posts.audit.older_than(OTHER_TENANT, 100)] == ["posts/x"]
