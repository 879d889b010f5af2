"""How deliveries reach a replica: the records database (embedded) or RabbitMQ (``BROKER_URL``).

Both hand the intake a ``Delivery`` per task, at most ``QUEUE_CAPACITY`` at once per replica, and both count
deliveries in ``queued_tasks`` (the intake dead-letters a task past ``QUEUE_MAX_DELIVERIES``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

from common.config import Settings
from common.logging import get_logger
from supervisor_service.queue.store import DEAD, DONE, QueuedTask, TaskStore, TenantCap

log = get_logger(__name__)

MAX_BROKER_PRIORITY = 8  # x-max-priority: two levels per Priority (the fair-share split inside each)
WAIT_SUFFIX, DEAD_SUFFIX = ".wait", ".dead"


@dataclass
class Delivery:
    """One delivery of a task to this replica and what the intake may answer."""

    task: QueuedTask
    ack: Callable[[], Awaitable[None]]  # the workflow is durably finished (or the delivery is void)
    retry: Callable[[str], Awaitable[None]]  # it failed: deliver it again later (counts against the limit)
    park: Callable[[], Awaitable[None]]  # its tenant is at its cap: deliver it again later, uncounted
    dead_letter: Callable[[str], Awaitable[None]]  # past the delivery limit


Handler = Callable[[Delivery], Coroutine[Any, Any, None]]


class Backend(Protocol):
    """A source of deliveries."""

    async def start(self, handle: Handler) -> None:
        """Start delivering tasks to ``handle`` (each in a task of its own)."""
        ...

    async def publish(self, task: QueuedTask) -> None:
        """Make a queued task deliverable (durably: after the broker confirmed it)."""
        ...

    def wake(self) -> None:
        """A task was just queued on this replica: look for work now."""
        ...

    async def stop(self) -> None:
        """Stop taking deliveries; unfinished ones are redelivered elsewhere."""
        ...


def broker_priority(priority: int, tenant_backlog: int, fair_burst: int) -> int:
    """The message priority of a task: two levels per Priority (1-2 low ... 7-8 urgent); the upper one while the
    tenant has fewer than ``fair_burst`` tasks of that priority waiting, so a tenant with a small backlog overtakes
    one with a big backlog of the same priority (fair shares in one FIFO-per-priority queue)."""
    return (priority - 1) * 2 + 1 + (1 if tenant_backlog < fair_burst else 0)


class EmbeddedBackend:
    """The records database is the queue: each free slot claims the next task (``TaskStore.claim_next``)."""

    def __init__(self, tasks: TaskStore, settings: Settings, owner: str, cap: TenantCap) -> None:
        self.tasks = tasks
        self.settings = settings
        self.owner = owner
        self.cap = cap
        self.capacity = settings.queue_capacity
        self._loop: asyncio.Task[None] | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()

    async def start(self, handle: Handler) -> None:
        self._loop = asyncio.get_running_loop().create_task(self._run(handle), name="embedded-queue")

    async def publish(self, task: QueuedTask) -> None:
        self.wake()

    def wake(self) -> None:
        self._wake.set()

    async def _run(self, handle: Handler) -> None:
        renewed = 0.0
        loop = asyncio.get_running_loop()
        while True:
            try:
                if loop.time() - renewed > self.settings.queue_lease_s / 3:
                    await self.tasks.renew(self.owner, self.settings.queue_lease_s)
                    renewed = loop.time()
                while len(self._handlers) < self.capacity:
                    task = await self.tasks.claim_next(self.owner, self.settings.queue_lease_s, self.cap)
                    if task is None:
                        break
                    self._spawn(handle, self._delivery(task))
            except Exception:  # a database hiccup must not stop the loop
                log.exception("embedded_queue_poll_failed")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.queue_poll_s)

    def _spawn(self, handle: Handler, delivery: Delivery) -> None:
        task = asyncio.get_running_loop().create_task(handle(delivery), name=f"queued-{delivery.task.id}")
        self._handlers.add(task)

        def done(finished: asyncio.Task[None]) -> None:
            self._handlers.discard(finished)
            self._wake.set()  # a slot is free

        task.add_done_callback(done)

    def _delivery(self, task: QueuedTask) -> Delivery:
        tasks, delay = self.tasks, self.settings.queue_retry_delay_s

        async def ack() -> None:
            await tasks.finish(task.tenant_id, task.id)

        async def retry(error: str) -> None:
            await tasks.release(task.tenant_id, task.id, error, delay)

        async def park() -> None:
            await tasks.release(task.tenant_id, task.id, "", delay, uncount=True)

        async def dead_letter(reason: str) -> None:
            await tasks.dead(task.tenant_id, task.id, reason)

        return Delivery(task, ack, retry, park, dead_letter)

    async def stop(self) -> None:
        if self._loop is not None:
            self._loop.cancel()
            await asyncio.gather(self._loop, return_exceptions=True)
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)


class RabbitBackend:
    """RabbitMQ through aio-pika: a durable priority queue, publisher confirms, manual acks, prefetch = capacity.

    Queues (``BROKER_QUEUE`` = q): ``q`` (the tasks; classic with ``x-max-priority`` 8 on 3.x, or quorum on 4.x),
    ``q.wait`` (tasks of a tenant at its cap wait there for ``QUEUE_RETRY_DELAY_S``, then dead-letter back into
    ``q``) and ``q.dead`` (a copy of every dead-lettered task with its reason in the ``x-dead-reason`` header, for
    operators; ``queued_tasks`` is what ListDeadLetters reads and RequeueDeadLetter changes). The message carries the
    tenant and workflow id only; the task itself stays in the database.
    """

    def __init__(self, tasks: TaskStore, settings: Settings, owner: str) -> None:
        assert settings.broker_url
        self.tasks = tasks
        self.settings = settings
        self.owner = owner
        self.name = settings.broker_queue
        self._connection: Any = None
        self._channel: Any = None
        self._consumer_tag: str | None = None
        self._queue: Any = None
        self._handlers: set[asyncio.Task[None]] = set()

    def _arguments(self) -> dict[str, Any]:
        if self.settings.broker_queue_type == "quorum":
            # RabbitMQ 4.x: priorities without x-max-priority (messages above 4 go first); the broker's own
            # delivery limit is a backstop behind ours.
            return {
                "x-queue-type": "quorum",
                "x-delivery-limit": self.settings.queue_max_deliveries + 2,
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": self.name + DEAD_SUFFIX,
            }
        return {"x-max-priority": MAX_BROKER_PRIORITY}

    async def connect(self) -> None:
        """Connect (reconnecting on its own later), open a confirming channel, declare the queues."""
        import aio_pika

        self._connection = await aio_pika.connect_robust(self.settings.broker_url)
        self._channel = await self._connection.channel(publisher_confirms=True)
        await self._channel.set_qos(prefetch_count=self.settings.queue_capacity)
        self._queue = await self._channel.declare_queue(self.name, durable=True, arguments=self._arguments())
        await self._channel.declare_queue(
            self.name + WAIT_SUFFIX,
            durable=True,
            arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": self.name},
        )
        await self._channel.declare_queue(self.name + DEAD_SUFFIX, durable=True)

    async def start(self, handle: Handler) -> None:
        async def on_message(message: Any) -> None:
            task = asyncio.get_running_loop().create_task(self._deliver(handle, message))
            self._handlers.add(task)
            task.add_done_callback(self._handlers.discard)

        self._consumer_tag = await self._queue.consume(on_message, no_ack=False)

    async def _deliver(self, handle: Handler, message: Any) -> None:
        try:
            body = json.loads(message.body)
            task = await self.tasks.start_delivery(
                body["tenant_id"], body["workflow_id"], self.owner, self.settings.queue_lease_s
            )
        except Exception:
            log.exception("broker_message_unreadable")
            await message.nack(requeue=True)
            return
        if task is None or task.state in (DONE, DEAD):  # erased, finished or dead-lettered already
            await message.ack()
            return
        await handle(self._delivery(task, message))

    def _delivery(self, task: QueuedTask, message: Any) -> Delivery:
        tasks, settings = self.tasks, self.settings

        async def ack() -> None:
            await tasks.finish(task.tenant_id, task.id)
            await message.ack()

        async def retry(error: str) -> None:
            await tasks.note_error(task.tenant_id, task.id, error)
            await asyncio.sleep(settings.queue_retry_delay_s)
            await message.nack(requeue=True)

        async def park() -> None:
            await tasks.release(task.tenant_id, task.id, "", 0, uncount=True)
            await self._send(
                task, message.priority or 1, self.name + WAIT_SUFFIX, expire=settings.queue_retry_delay_s
            )
            await message.ack()

        async def dead_letter(reason: str) -> None:
            await tasks.dead(task.tenant_id, task.id, reason)
            await self._send(
                task, message.priority or 1, self.name + DEAD_SUFFIX, headers={"x-dead-reason": reason}
            )
            await message.ack()

        return Delivery(task, ack, retry, park, dead_letter)

    async def publish(self, task: QueuedTask) -> None:
        backlog = await self.tasks.queued_of(task.tenant_id, task.priority)
        await self._send(
            task, broker_priority(task.priority, backlog - 1, self.settings.queue_fair_burst), self.name
        )
        await self.tasks.mark_published(task.tenant_id, task.id)

    async def _send(
        self,
        task: QueuedTask,
        priority: int,
        queue: str,
        expire: float | None = None,
        headers: dict[str, Any] | None = None,
    ) -> None:
        """Publish and wait for the broker's confirm."""
        import aio_pika

        message = aio_pika.Message(
            json.dumps({"tenant_id": task.tenant_id, "workflow_id": task.id}).encode(),
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            priority=priority,
            message_id=task.id,
            content_type="application/json",
            expiration=expire,
            headers=headers or {},
        )
        await self._channel.default_exchange.publish(message, routing_key=queue)

    def wake(self) -> None:
        """The broker pushes deliveries: nothing to do."""

    async def stop(self) -> None:
        if self._queue is not None and self._consumer_tag is not None:
            with contextlib.suppress(Exception):
                await self._queue.cancel(self._consumer_tag)
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        if self._connection is not None:
            await self._connection.close()
