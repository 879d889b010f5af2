"""The ``workflow.completed`` webhook's delivery ids: one per finish, stable across a redelivery, and a redelivery
that finds the workflow finished sends it only when no attempt of that finish was recorded (its replica died
between recording the finish and sending), never while this replica sends it already; the recovery sweep sends a
finish that no replica ever tried."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from marketing.supervisor.v1 import supervisor_pb2

from common.storage import Store, open_store
from common.webhooks import WORKFLOW_COMPLETED, WebhookSender, verify
from supervisor_service.queue.intake import TaskIntake
from supervisor_service.queue.store import NewTask, TaskStore
from tests.conftest import test_settings
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.integration.supervisor_stack import backend_settings

SECRET = "whsec-completion"


def _finished(workflow_id: str, when: datetime) -> supervisor_pb2.Workflow:
    workflow = supervisor_pb2.Workflow(id=workflow_id, status=supervisor_pb2.WORKFLOW_STATUS_COMPLETED)
    workflow.complete_time.FromDatetime(when)
    return workflow


async def test_a_finish_is_announced_once_and_a_later_finish_gets_its_own_id() -> None:
    settings = test_settings()
    store = await open_store(settings, "supervisor", migrations=("supervisor_service",))
    tasks = TaskStore(store.db)
    try:
        with WebhookReceiver() as receiver:
            workflow_id = str(uuid.uuid4())
            new = NewTask("acme", workflow_id, "a task", 2, "req-1", receiver.url)
            task, _ = await tasks.add(new, supervisor_pb2.Workflow(id=workflow_id).SerializeToString())
            sender = WebhookSender(SECRET, allow_private=True, record=tasks.record_webhook, backoff_s=0.05)
            fake: Any = SimpleNamespace()
            intake = TaskIntake(fake, tasks, fake, fake, settings, fake, sender)
            first = _finished(workflow_id, datetime(2026, 12, 7, 14, 0, tzinfo=UTC))
            # This replica sends it already: a concurrent redelivery check does not send it again.
            await asyncio.gather(
                intake._notify(task, first), intake._notify(task, first, unless_recorded=True)
            )
            await intake._notify(task, first, unless_recorded=True)  # recorded: a redelivery sends nothing
            assert len(receiver.received) == 1
            # Resumed after a budget stop, it finishes again: a new event.
            again = _finished(workflow_id, datetime(2026, 12, 7, 15, 0, tzinfo=UTC) + timedelta(seconds=1))
            await intake._notify(task, again)
            ids = [json.loads(r.body)["id"] for r in receiver.received]
            assert ids == [TaskIntake.completion_id(first), TaskIntake.completion_id(again)]
            assert ids[0] == f"{workflow_id}/{WORKFLOW_COMPLETED}/2026-12-07T14:00:00Z"
            assert all(verify(SECRET, r.headers["webhook-signature"], r.body) for r in receiver.received)
            await sender.aclose()
        attempts = await tasks.webhook_attempts("acme", workflow_id)
        assert [a["delivery_id"] for a in attempts] == ids
        assert await tasks.webhook_recorded("acme", ids[0]) and not await tasks.webhook_recorded(
            "globex", ids[0]
        )
    finally:
        await store.close()


@pytest.mark.parametrize("records", ["sqlite", "postgres"])
async def test_a_finish_whose_replica_died_before_sending_is_announced_by_the_recovery_sweep(
    records: str,
) -> None:
    now = datetime.now(UTC)
    async with backend_settings(records) as settings:
        store = await open_store(settings, "supervisor", migrations=("supervisor_service",))
        tasks = TaskStore(store.db)
        try:
            with WebhookReceiver() as receiver:
                finished = {}
                for name, age in (
                    ("died", timedelta(minutes=2)),
                    ("old", timedelta(hours=2)),
                    ("young", timedelta()),
                ):
                    workflow_id = str(uuid.uuid4())
                    new = NewTask("acme", workflow_id, "a task", 2, name, receiver.url)
                    await tasks.add(new, supervisor_pb2.Workflow(id=workflow_id).SerializeToString())
                    assert await tasks.hold_workflow("acme", workflow_id, "queue:gone", 60)
                    snapshot = _finished(workflow_id, now - age).SerializeToString()
                    await Store(store.db).save_workflow("acme", workflow_id, "completed", snapshot)
                    async with store.db.for_tenant("acme") as db:
                        await db.execute(
                            "UPDATE workflows SET completed_at = $2 WHERE id = $1", workflow_id, now - age
                        )
                    finished[name] = workflow_id
                sender = WebhookSender(SECRET, allow_private=True, record=tasks.record_webhook)
                fake: Any = SimpleNamespace()
                intake = TaskIntake(fake, tasks, fake, fake, settings, fake, sender)
                assert await intake.recover_completions(now) == 1, (
                    "only the finish in the window, past its grace"
                )
                for _ in range(100):
                    if receiver.received and not intake._background:
                        break
                    await asyncio.sleep(0.05)
                assert await intake.recover_completions(now) == 0, "its attempt is recorded now"
                await sender.aclose()
            [event] = [json.loads(r.body) for r in receiver.received]
            assert event["type"] == WORKFLOW_COMPLETED and event["data"]["workflow_id"] == finished["died"]
            assert event["data"]["request_id"] == "died"
        finally:
            await store.close()
