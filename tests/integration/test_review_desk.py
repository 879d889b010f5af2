"""The review desk on its own (SQLite): opening a review is idempotent, announces it once through the notifier,
audits it, and finds a decision made while nobody drove the workflow."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from marketing.supervisor.v1 import review_pb2
from marketing.team.v1 import team_pb2
from marketing.tenant.v1 import tenant_pb2

from common.auth.principal import ANONYMOUS
from common.storage import open_store
from supervisor_service.review_store import ReviewStore
from supervisor_service.reviews import ReviewDesk
from tests.conftest import test_settings


class RecordingNotifier:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict[str, Any]]] = []

    async def review_pending(self, tenant_id: str, review_id: str, summary: Mapping[str, Any]) -> None:
        self.calls.append((tenant_id, review_id, dict(summary)))


async def test_opening_is_idempotent_announced_once_and_finds_a_later_decision() -> None:
    settings = test_settings()
    store = await open_store(settings, "supervisor", migrations=("supervisor_service",))
    audit: list[tuple[str, ...]] = []
    notifier = RecordingNotifier()

    async def record(tenant: str, actor: str, action: str, resource: str, details: Mapping[str, Any]) -> None:
        audit.append((tenant, actor, action, resource))

    async def profile_of(tenant: str) -> tenant_pb2.TenantProfile:
        return tenant_pb2.TenantProfile(brand=tenant_pb2.BrandProfile(required_disclosures=["#ad"]))

    resumed: list[tuple[str, str, dict[str, Any]]] = []

    async def resume(tenant: str, workflow_id: str, value: dict[str, Any]) -> None:
        resumed.append((tenant, workflow_id, value))

    desk = ReviewDesk(ReviewStore(store.db), settings, profile_of, record, notifier)
    desk.resume = resume
    try:
        at = datetime.now(UTC) + timedelta(hours=2)
        item = team_pb2.ReviewItem(
            artifact_id="social-1", text="Launch day #ad", platform="x", max_length=280
        )
        item.scheduled_time.FromDatetime(at)
        flagged = team_pb2.ReviewItem(artifact_id="social-2", text="Launch day", platform="linkedin")
        request = team_pb2.ReviewRequest(round=1, items=[item, flagged])
        pending = {
            "team": "social",
            "round": 1,
            "request": base64.b64encode(request.SerializeToString()).decode(),
        }
        first = await desk.open("default", "wf-1", pending)
        again = await desk.open("default", "wf-1", pending)
        assert first.review_id == again.review_id and first.resume is None and first.items == 2
        assert len(notifier.calls) == 1
        tenant, review_id, summary = notifier.calls[0]
        assert (tenant, review_id) == ("default", first.review_id)
        assert summary["workflow_id"] == "wf-1" and summary["items"] == 2 and summary["flagged_items"] == 1
        assert [a[2] for a in audit] == ["review.open"]
        review = await desk.get("default", first.review_id)
        assert review.expire_time.ToDatetime(UTC) == at.replace(microsecond=at.microsecond)
        assert [v.flagged for v in review.items] == [False, True]
        await desk.approve(ANONYMOUS, first.review_id, {"social-2": "Launch day #ad"}, False)
        assert resumed and resumed[0][:2] == ("default", "wf-1")
        decided = await desk.open("default", "wf-1", pending)  # the graph paused again after a restart
        assert decided.resume == resumed[0][2]
        assert len(notifier.calls) == 1
    finally:
        await store.close()


async def test_after_the_last_round_a_rejection_is_final() -> None:
    settings = test_settings(review_max_rounds=1)
    store = await open_store(settings, "supervisor", migrations=("supervisor_service",))
    resumed: list[dict[str, Any]] = []

    async def nothing(*args: Any) -> None:
        return None

    async def profile_of(tenant: str) -> tenant_pb2.TenantProfile:
        return tenant_pb2.TenantProfile()

    async def resume(tenant: str, workflow_id: str, value: dict[str, Any]) -> None:
        resumed.append(value)

    desk = ReviewDesk(ReviewStore(store.db), settings, profile_of, nothing)
    desk.resume = resume
    try:
        request = team_pb2.ReviewRequest(
            round=1, items=[team_pb2.ReviewItem(artifact_id="social-1", text="Hi")]
        )
        pending = {
            "team": "social",
            "round": 1,
            "request": base64.b64encode(request.SerializeToString()).decode(),
        }
        opened = await desk.open("default", "wf-2", pending)
        review = await desk.send_back(ANONYMOUS, opened.review_id, "not like this", [], final=False)
        assert review.status == review_pb2.REVIEW_STATUS_REJECTED
        decision = team_pb2.ReviewDecision.FromString(base64.b64decode(resumed[0]["decision"]))
        assert decision.verdict == team_pb2.REVIEW_VERDICT_REJECTED and decision.comments == "not like this"
    finally:
        await store.close()
