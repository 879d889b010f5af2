"""Durable task intake: SubmitTask's queue on RabbitMQ (``BROKER_URL``) or the records database, its deliveries,
dead letters, webhooks and the events WatchWorkflow follows."""

from __future__ import annotations

from common.config import Settings
from common.errors import ConfigError
from common.storage.database import Database
from common.webhooks import WebhookSender
from supervisor_service.budgets import Admission
from supervisor_service.events import EventLog
from supervisor_service.queue.backends import Backend, EmbeddedBackend, RabbitBackend
from supervisor_service.queue.intake import TaskIntake, fixed_cap, parse_cursor
from supervisor_service.queue.store import TaskStore, TenantCap
from supervisor_service.workflows import WorkflowRunner

__all__ = ["TaskIntake", "TenantCap", "build_intake", "fixed_cap", "parse_cursor"]


async def build_intake(
    settings: Settings,
    runner: WorkflowRunner,
    db: Database,
    cap: TenantCap | None = None,
    admission: Admission | None = None,
) -> TaskIntake:
    """The intake of one replica, wired into the runner (its events are stored, its erasures reach the queue).

    Args:
        settings: ``BROKER_URL`` selects RabbitMQ, else the records database is the queue.
        runner: The replica's workflow runner.
        db: The records database (with the supervisor's migrations applied).
        cap: The per-tenant running cap; ``QUEUE_TENANT_MAX_RUNNING`` for every tenant by default.
        admission: Budgets and quotas of submitted tasks (by default no tenant limits).
    """
    tasks = TaskStore(db)
    events = EventLog(db, settings.redis_url, settings.watch_poll_s)
    cap = cap or fixed_cap(settings)
    backend: Backend
    if settings.broker_url:
        rabbit = RabbitBackend(tasks, settings, runner.owner)
        try:
            await rabbit.connect()
        except Exception as exc:  # no silent fall-back: a broker was asked for
            raise ConfigError(f"BROKER_URL: cannot reach RabbitMQ ({type(exc).__name__}: {exc})") from exc
        backend = rabbit
    else:
        backend = EmbeddedBackend(tasks, settings, runner.owner, cap)
    webhooks = WebhookSender.from_settings(settings, record=tasks.record_webhook)
    intake = TaskIntake(runner, tasks, events, backend, settings, cap, webhooks, admission)
    runner.on_event = events.append
    runner.forget_hooks.append(intake.forget)
    runner.finish_hooks.append(intake.workflow_finished)
    return intake
