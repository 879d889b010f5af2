"""The scheduler's ``schedule_posts`` tool: artifacts in scope, the run's workflow and the caller's tenant, idempotent
storage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from common.agents.scope import artifact_scope
from common.agents.state import ArtifactData
from common.auth.principal import ALL_SCOPES, AuthMethod, Principal, acting_as
from common.config import load_settings
from common.storage import open_store
from social_service.scheduled_posts import MIGRATIONS, ScheduledPosts
from social_service.tools import social_registry

POST = ArtifactData(
    id="social-1", team="social", agent="post_drafter", kind="social_post", title="X (Twitter) post",
    content="Hello #launch", mime_type="text/plain", metadata={"platform": "x"},
)  # fmt: skip
ARTICLE = ArtifactData(
    id="content-1", team="content", agent="writer", kind="article", title="An article", content="# A",
    mime_type="text/markdown", metadata={},
)  # fmt: skip


async def test_schedule_posts_stores_drafts_for_the_runs_workflow_once(tmp_path: Path) -> None:
    store = await open_store(load_settings(data_dir=tmp_path), "social", migrations=(MIGRATIONS,))
    [tool] = social_registry(ScheduledPosts(store.db)).tools_for("scheduler", "schedule_posts")
    at = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    with artifact_scope([POST], "wf-1"), pytest.raises(ValueError, match="no caller is identified"):
        await tool.ainvoke({"posts": [{"artifact_id": "social-1", "at": at}]})
    with (
        acting_as(Principal("acme", "supervisor", ALL_SCOPES, AuthMethod.SERVICE)),
        artifact_scope([ARTICLE, POST], "wf-1"),
    ):
        first = await tool.ainvoke({"posts": [{"artifact_id": "social-1", "at": at}]})
        again = await tool.ainvoke({"posts": [{"artifact_id": "social-1", "at": at}]})
        assert first == again and first[0]["platform"] == "x" and first[0]["status"] == "scheduled"
        with pytest.raises(ValueError, match="not a drafted social post"):
            await tool.ainvoke({"posts": [{"artifact_id": "content-1", "at": at}]})
        with pytest.raises(ValueError, match="no artifact with id"):
            await tool.ainvoke({"posts": [{"artifact_id": "social-9", "at": at}]})
        past = await tool.ainvoke({"posts": [{"artifact_id": "social-1", "at": "2020-01-01T00:00:00+00:00"}]})
        assert past == first, "already scheduled for this workflow: kept as is"
    with artifact_scope([POST], ""), pytest.raises(ValueError, match="no workflow_id"):
        await tool.ainvoke({"posts": [{"artifact_id": "social-1", "at": at}]})
    stored = await ScheduledPosts(store.db).get("acme", first[0]["post_id"])
    assert stored is not None and (stored.tenant_id, stored.workflow_id, stored.text) == (
        "acme",
        "wf-1",
        "Hello #launch",
    )
    assert await ScheduledPosts(store.db).get("other", first[0]["post_id"]) is None
    await store.close()


def test_without_a_store_schedule_posts_is_listed_but_not_bound() -> None:
    registry = social_registry()
    assert registry.tools_for("scheduler", "propose_posting_times", "schedule_posts")[0].name == (
        "propose_posting_times"
    )
    assert len(registry.tools_for("scheduler", "schedule_posts")) == 0
    assert [t.status for t in registry.describe() if t.name == "schedule_posts"] == ["no records store"]
