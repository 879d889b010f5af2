"""Scheduled posts and the publisher loop on SQLite and PostgreSQL, against fake X and LinkedIn on loopback."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from common.auth.principal import DEFAULT_TENANT
from common.config import Settings
from common.storage import BadPageToken, open_store
from common.storage.database import PostgresDatabase
from social_service.publisher_loop import PublisherLoop
from social_service.publishers import build_publishers
from social_service.scheduled_posts import LEASE_EXPIRED_ERROR, MIGRATIONS, NewPost, ScheduledPosts
from tests.conftest import test_settings
from tests.fakes.social_apis import LINKEDIN_TOKEN, X_TOKEN, FakeLinkedIn, FakeX

POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
TENANT = DEFAULT_TENANT  # the tenant whose posts may use the process-wide X_* / LINKEDIN_* credentials
PAST = datetime.now(UTC) - timedelta(minutes=5)


@dataclass
class Backend:
    """Opens connections to one test database: a SQLite file or a PostgreSQL schema."""

    dialect: str
    path: Path
    schema: str = ""

    async def open(self) -> ScheduledPosts:
        if self.dialect == "sqlite":
            store = await open_store(test_settings(data_dir=self.path), "social", migrations=(MIGRATIONS,))
            return ScheduledPosts(store.db)
        database = await PostgresDatabase.connect(POSTGRES_URL, 4, self.schema)
        await database.migrate((MIGRATIONS,))
        return ScheduledPosts(database)


@pytest.fixture(params=["sqlite", "postgres"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "sqlite":
        yield Backend("sqlite", tmp_path)
        return
    schema = f"test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(POSTGRES_URL)
    await admin.execute(f"CREATE SCHEMA {schema}")
    try:
        yield Backend("postgres", tmp_path, schema)
    finally:
        await admin.execute(f"DROP SCHEMA {schema} CASCADE")
        await admin.close()


@pytest.fixture
async def posts(backend: Backend) -> AsyncIterator[ScheduledPosts]:
    opened = await backend.open()
    yield opened
    await opened.db.close()


@pytest.fixture
async def postgres() -> AsyncIterator[Backend]:
    schema = f"test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(POSTGRES_URL)
    await admin.execute(f"CREATE SCHEMA {schema}")
    try:
        yield Backend("postgres", Path("."), schema)
    finally:
        await admin.execute(f"DROP SCHEMA {schema} CASCADE")
        await admin.close()


@pytest.fixture
def x_api() -> Iterator[FakeX]:
    with FakeX() as api:
        yield api


def live_settings(x_url: str, tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "social_publish": "live",
        "x_api_url": x_url,
        "x_bearer_token": X_TOKEN,
        "external_timeout_s": 1.0,
        "external_retry_max_wait_s": 0.2,
        "external_max_attempts": 2,
        "data_dir": tmp_path,
        **overrides,
    }
    return test_settings(**values)


def new_post(
    workflow_id: str = "", artifact_id: str = "social-1", platform: str = "x", at: datetime = PAST
) -> NewPost:
    return NewPost(
        workflow_id or str(uuid.uuid4()), artifact_id, platform, f"post {uuid.uuid4().hex[:8]}", at
    )


async def test_scheduling_is_idempotent_per_workflow_and_artifact(posts: ScheduledPosts) -> None:
    workflow_id = str(uuid.uuid4())
    at = datetime(2030, 1, 2, 9, 0, tzinfo=UTC)
    first = await posts.schedule(TENANT, [NewPost(workflow_id, "social-1", "x", "one", at)], dry_run=True)
    again = await posts.schedule(
        TENANT, [NewPost(workflow_id, "social-1", "x", "other text", at + timedelta(days=1))], True
    )
    assert [p.id for p in again] == [p.id for p in first]
    assert (again[0].text, again[0].scheduled_at, again[0].status) == ("one", at, "scheduled")
    page, token = await posts.list(TENANT, 10, workflow_id=workflow_id)
    assert len(page) == 1 and token == ""


async def test_listing_pages_newest_first_with_filters_and_rejects_foreign_tokens(
    posts: ScheduledPosts,
) -> None:
    workflow_id = str(uuid.uuid4())
    ids = []
    for n in range(5):
        [post] = await posts.schedule(TENANT, [new_post(workflow_id, f"social-{n}")], dry_run=True)
        ids.append(post.id)
        await asyncio.sleep(0.002)
    await posts.schedule(TENANT, [new_post()], dry_run=True)  # another workflow
    assert await posts.cancel(TENANT, ids[0]) is not None
    seen, token = [], ""
    while True:
        page, token = await posts.list(TENANT, 2, token, workflow_id=workflow_id)
        seen += [p.id for p in page]
        if not token:
            break
    assert seen == ids[::-1]
    scheduled, token = await posts.list(TENANT, 3, "", workflow_id, "scheduled")
    assert [p.id for p in scheduled] == ids[:0:-1][:3] and token
    with pytest.raises(BadPageToken):
        await posts.list(TENANT, 3, token, workflow_id, "")
    for garbage in ("nope", "e30", "eyJ0IjogMX0"):
        with pytest.raises(BadPageToken):
            await posts.list(TENANT, 3, garbage)


async def test_reschedule_and_cancel_follow_the_state_machine(posts: ScheduledPosts) -> None:
    [post] = await posts.schedule(TENANT, [new_post(at=datetime.now(UTC) + timedelta(days=1))], dry_run=True)
    later = datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)
    moved = await posts.reschedule(TENANT, post.id, later)
    assert moved is not None and moved.scheduled_at == later and moved.status == "scheduled"
    cancelled = await posts.cancel(TENANT, post.id)
    assert cancelled is not None and cancelled.status == "cancelled"
    assert (
        await posts.cancel(TENANT, post.id) is None and await posts.reschedule(TENANT, post.id, later) is None
    )
    assert await posts.get(TENANT, str(uuid.uuid4())) is None


async def test_a_due_post_is_claimed_by_one_caller_only(backend: Backend) -> None:
    stores = [await backend.open() for _ in range(2)]
    await stores[0].schedule(TENANT, [new_post(artifact_id=f"social-{n}") for n in range(6)], dry_run=True)
    claims = await asyncio.gather(
        *(s.claim_due(f"owner-{i}", datetime.now(UTC), 4) for i, s in enumerate(stores))
    )
    claimed = [p.id for batch in claims for p in batch]
    assert len(claimed) == 6 == len(set(claimed))
    assert all(p.status == "publishing" and p.attempts == 1 for batch in claims for p in batch)
    not_due = await stores[0].schedule(
        TENANT, [new_post(artifact_id="later", at=datetime.now(UTC) + timedelta(hours=1))], True
    )
    assert await stores[1].claim_due("owner-1", datetime.now(UTC), 10) == [] and not_due
    for store in stores:
        await store.db.close()


async def test_dry_run_writes_the_outbox_and_calls_no_platform(
    posts: ScheduledPosts, x_api: FakeX, tmp_path: Path
) -> None:
    settings = test_settings(
        data_dir=tmp_path, x_api_url=x_api.url, x_bearer_token=X_TOKEN, linkedin_author_urn="urn:li:person:1"
    )
    workflow_id = str(uuid.uuid4())
    stored = await posts.schedule(
        TENANT,
        [
            NewPost(workflow_id, "social-1", "x", "dry X", PAST),
            NewPost(workflow_id, "social-2", "linkedin", "dry LI", PAST),
        ],
        dry_run=True,
    )
    loop = PublisherLoop(posts, build_publishers(settings), settings)
    assert len(await loop.run_once()) == 2
    assert await loop.run_once() == []
    assert x_api.requests == [], "dry-run never calls a platform"
    lines = [json.loads(line) for line in (tmp_path / "social_outbox.jsonl").read_text().splitlines()]
    by_platform = {line["platform"]: line for line in lines}
    assert len(lines) == 2 and {line["post_id"] for line in lines} == {p.id for p in stored}
    x_line = by_platform["x"]
    assert x_line["workflow_id"] == workflow_id and x_line["configured"] is True
    assert x_line["request"] == {
        "method": "POST",
        "url": f"{x_api.url}/2/tweets",
        "headers": {"authorization": "Bearer <redacted>"},
        "json": {"text": "dry X"},
    }
    li_request = by_platform["linkedin"]["request"]
    assert (
        li_request["url"] == "https://api.linkedin.com/rest/posts"
        and by_platform["linkedin"]["configured"] is False
    )
    assert (
        li_request["json"]["commentary"] == "dry LI"
        and li_request["headers"]["x-restli-protocol-version"] == "2.0.0"
    )
    for post in stored:
        row = await posts.get(TENANT, post.id)
        assert row is not None and (row.status, row.dry_run, row.external_id) == ("published", True, "")
        assert row.published_at is not None


async def test_live_publishes_x_and_linkedin_and_records_their_ids(
    posts: ScheduledPosts, x_api: FakeX, tmp_path: Path
) -> None:
    with FakeLinkedIn() as linkedin:
        settings = live_settings(
            x_api.url, tmp_path, linkedin_api_url=linkedin.url, linkedin_access_token=LINKEDIN_TOKEN,
            linkedin_author_urn="urn:li:organization:42",
        )  # fmt: skip
        x_post, li_post = await posts.schedule(
            TENANT, [new_post(platform="x"), new_post(platform="linkedin")], dry_run=False
        )
        loop = PublisherLoop(posts, build_publishers(settings), settings)
        await loop.run_once()
        x_row, li_row = await posts.get(TENANT, x_post.id), await posts.get(TENANT, li_post.id)
        assert x_row is not None and li_row is not None
        assert (x_row.status, x_row.dry_run) == ("published", False)
        assert (
            x_row.external_url == f"https://x.com/i/web/status/{x_row.external_id}"
            and x_row.external_id in x_api.posts
        )
        assert li_row.status == "published" and li_row.external_id in linkedin.posts
        assert li_row.external_url == f"https://www.linkedin.com/feed/update/{li_row.external_id}"
        assert not (tmp_path / "social_outbox.jsonl").exists()


async def test_live_not_configured_platform_fails_with_a_clear_error(
    posts: ScheduledPosts, tmp_path: Path
) -> None:
    settings = test_settings(social_publish="live", data_dir=tmp_path)
    [post] = await posts.schedule(TENANT, [new_post(platform="linkedin")], dry_run=False)
    await PublisherLoop(posts, build_publishers(settings), settings).run_once()
    row = await posts.get(TENANT, post.id)
    assert row is not None and row.status == "failed" and not row.outcome_unknown
    assert "linkedin is not configured" in row.error and "LINKEDIN_ACCESS_TOKEN" in row.error
    assert row.reschedulable


async def test_live_refusal_fails_without_outcome_unknown(
    posts: ScheduledPosts, x_api: FakeX, tmp_path: Path
) -> None:
    settings = live_settings(x_api.url, tmp_path, x_bearer_token="revoked")
    [post] = await posts.schedule(TENANT, [new_post()], dry_run=False)
    await PublisherLoop(posts, build_publishers(settings), settings).run_once()
    row = await posts.get(TENANT, post.id)
    assert row is not None and row.status == "failed" and not row.outcome_unknown
    assert row.error == "x refused the post: x: HTTP 401 Unauthorized: Unauthorized"
    assert len(x_api.tweets()) == 1


@pytest.mark.parametrize(
    ("status", "delay_s"), [(500, 0.0), (503, 0.0), (200, 1.5)], ids=["500", "503", "timeout"]
)
async def test_live_ambiguous_failure_is_failed_outcome_unknown_and_never_resent(
    posts: ScheduledPosts, x_api: FakeX, tmp_path: Path, status: int, delay_s: float
) -> None:
    settings = live_settings(x_api.url, tmp_path)
    x_api.fail(status, {"title": "Internal Error", "detail": "oops"}, path="/2/tweets", delay_s=delay_s)
    [post] = await posts.schedule(TENANT, [new_post()], dry_run=False)
    loop = PublisherLoop(posts, build_publishers(settings), settings)
    await loop.run_once()
    await loop.run_once()
    row = await posts.get(TENANT, post.id)
    assert row is not None and row.status == "failed" and row.outcome_unknown
    assert row.error.startswith("outcome unknown") and "check x before rescheduling" in row.error
    assert len(x_api.tweets()) == 1
    assert not row.reschedulable and await posts.reschedule(TENANT, post.id, datetime.now(UTC)) is None


async def test_live_rate_limit_goes_back_to_scheduled_then_gives_up(
    posts: ScheduledPosts, x_api: FakeX, tmp_path: Path
) -> None:
    settings = live_settings(x_api.url, tmp_path)
    x_api.fail(
        429, {"title": "Too Many Requests", "status": 429}, {"retry-after": "0"}, path="/2/tweets", times=100
    )
    [post] = await posts.schedule(TENANT, [new_post()], dry_run=False)
    loop = PublisherLoop(posts, build_publishers(settings), settings, max_attempts=2, retry_base_s=0.0)
    await loop.run_once()
    row = await posts.get(TENANT, post.id)
    assert row is not None and (row.status, row.attempts, row.claimed_by) == ("scheduled", 1, "")
    assert "not sent, retrying" in row.error and "429" in row.error
    await loop.run_once()
    row = await posts.get(TENANT, post.id)
    assert (
        row is not None
        and row.status == "failed"
        and not row.outcome_unknown
        and "gave up after 2" in row.error
    )
    assert x_api.posts == {}
    assert row.reschedulable


async def test_an_expired_lease_fails_the_post_and_it_is_not_republished(
    posts: ScheduledPosts, x_api: FakeX, tmp_path: Path
) -> None:
    settings = live_settings(x_api.url, tmp_path, publisher_lease_s=0.05)
    [post] = await posts.schedule(TENANT, [new_post()], dry_run=False)
    [claimed] = await posts.claim_due("dead-replica", datetime.now(UTC), 10)  # then the replica died
    await asyncio.sleep(0.1)
    loop = PublisherLoop(posts, build_publishers(settings), settings)
    await loop.run_once()
    await loop.run_once()
    row = await posts.get(TENANT, post.id)
    assert row is not None and (row.status, row.outcome_unknown, row.error) == (
        "failed",
        True,
        LEASE_EXPIRED_ERROR,
    )
    assert x_api.requests == []
    assert await posts.mark_published(
        claimed, "late-id", "https://x.com/i/web/status/late-id", dry_run=False
    ), "the late publisher still records what it knows went live"


async def test_two_live_loops_on_postgres_publish_a_due_post_exactly_once(
    postgres: Backend, x_api: FakeX, tmp_path: Path
) -> None:
    settings = live_settings(x_api.url, tmp_path)
    stores = [await postgres.open() for _ in range(2)]
    [post] = await stores[0].schedule(TENANT, [new_post()], dry_run=False)
    loops = [
        PublisherLoop(s, build_publishers(settings), settings, owner=f"replica-{i}")
        for i, s in enumerate(stores)
    ]
    for _ in range(5):
        await asyncio.gather(*(loop.run_once() for loop in loops))
    assert len(x_api.tweets()) == 1
    row = await stores[1].get(TENANT, post.id)
    assert row is not None and row.status == "published" and row.external_id in x_api.posts
    for store in stores:
        await store.db.close()


async def test_two_running_loops_on_postgres_split_due_posts_and_publish_each_once(
    postgres: Backend, x_api: FakeX, tmp_path: Path
) -> None:
    settings = live_settings(x_api.url, tmp_path, publisher_poll_s=0.02)
    stores = [await postgres.open() for _ in range(2)]
    scheduled = await stores[0].schedule(
        TENANT, [new_post(artifact_id=f"social-{n}") for n in range(12)], dry_run=False
    )
    loops = [
        PublisherLoop(s, build_publishers(settings), settings, owner=f"replica-{i}", batch_size=3)
        for i, s in enumerate(stores)
    ]
    for loop in loops:
        loop.start()
    try:
        for _ in range(200):
            page, _ = await stores[0].list(TENANT, 50, status="published")
            if len(page) == 12:
                break
            await asyncio.sleep(0.05)
    finally:
        for loop in loops:
            await loop.stop()
    texts = [call.json()["text"] for call in x_api.tweets()]
    assert sorted(texts) == sorted(p.text for p in scheduled), "every post sent once, none twice"
    rows = [await stores[0].get(TENANT, p.id) for p in scheduled]
    assert all(r is not None and r.status == "published" for r in rows)
    owners = {r.claimed_by for r in rows if r is not None}
    assert owners <= {"replica-0", "replica-1"}
    for store in stores:
        await store.db.close()
