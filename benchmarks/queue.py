"""The queue section of ``make bench``: SubmitTask throughput, end-to-end throughput with 1 and 2 supervisor
replicas, and the latency the queue adds to a task against RunTask, on both backends (the records database, and
RabbitMQ when ``rabbitmqctl`` can give the run a virtual host of its own).

Every service is a process on loopback with the offline model at 0 ms, so the figures are the machinery's own cost.
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import grpc
from marketing.supervisor.v1 import supervisor_pb2 as S
from marketing.supervisor.v1 import supervisor_pb2_grpc

from benchmarks.stacks import RUN_DIR, stack_environment
from common.launcher import SERVICES, ServiceLauncher, free_port

TASK = "Write a blog article about vector databases"  # one team: the queue's cost is not drowned in team work
SUBMIT_CLIENTS = 16
ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
FINISHED = (S.WORKFLOW_STATUS_QUEUED, S.WORKFLOW_STATUS_RUNNING)


async def _rabbitmqctl(*args: str) -> bool:
    if shutil.which("rabbitmqctl") is None:
        return False
    process = await asyncio.create_subprocess_exec(
        "rabbitmqctl", *args, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    return await process.wait() == 0


@asynccontextmanager
async def _backend_env(backend: str) -> AsyncIterator[dict[str, str] | None]:
    """The environment of a backend (None: RabbitMQ is not available here)."""
    if backend == "embedded":
        yield {}
        return
    vhost = f"bench-{uuid.uuid4().hex[:8]}"
    if not await _rabbitmqctl("add_vhost", vhost):
        yield None
        return
    try:
        await _rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        yield {"BROKER_URL": f"amqp://guest:guest@127.0.0.1:5672/{vhost}"}
    finally:
        await _rabbitmqctl("delete_vhost", vhost)


@asynccontextmanager
async def _records_env() -> AsyncIterator[dict[str, str]]:
    """A PostgreSQL database of the run's own on 127.0.0.1 (replicas share their records there), else SQLite
    files (then one replica only: SQLite is the single-process default)."""
    try:
        import asyncpg

        admin = await asyncpg.connect(ADMIN_URL, timeout=5)
    except Exception:
        yield {}
        return
    name = f"bench_{uuid.uuid4().hex[:10]}"
    try:
        await admin.execute(f"CREATE DATABASE {name}")
        yield {"DATABASE_URL": ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"}
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.close()


@asynccontextmanager
async def _stack(backend_env: dict[str, str], replicas: int) -> AsyncIterator[list[str]]:
    """The teams and ``replicas`` supervisors sharing one records database; yields the supervisors' addresses."""
    name = f"queue-{uuid.uuid4().hex[:6]}"
    data_dir = RUN_DIR / f"data-{name}"
    data_dir.mkdir(parents=True, exist_ok=True)
    env = stack_environment(0) | backend_env | {"DATA_DIR": str(data_dir), "QUEUE_POLL_S": "0.05"}
    launcher = ServiceLauncher(
        log_dir=RUN_DIR / name,
        ports={n: free_port() for n in SERVICES},
        metrics_ports={n: free_port() for n in SERVICES},
        env=env,
    )
    extra = [f"supervisor-{n}" for n in range(2, replicas + 1)]
    try:
        await asyncio.to_thread(launcher.start_all, SERVICES, 60.0)
        for instance in extra:
            launcher.start("supervisor", instance=instance, port=free_port(), metrics_port=free_port())
        await asyncio.to_thread(launcher.wait_serving, extra, 60.0)
        yield [launcher.processes[n].address for n in ("supervisor", *extra)]
    finally:
        await asyncio.to_thread(launcher.stop_all)
        shutil.rmtree(data_dir, ignore_errors=True)


async def _submit_all(stub: supervisor_pb2_grpc.SupervisorServiceStub, count: int) -> tuple[list[str], float]:
    """Submit ``count`` tasks from SUBMIT_CLIENTS concurrent clients; the ids and the seconds it took."""
    ids: list[str] = []
    todo = iter(range(count))

    async def client() -> None:
        for n in todo:
            answer = await stub.SubmitTask(
                S.SubmitTaskRequest(task=f"{TASK} #{n}", priority=S.PRIORITY_NORMAL), timeout=60
            )
            ids.append(answer.workflow.id)

    started = time.monotonic()
    await asyncio.gather(*(client() for _ in range(SUBMIT_CLIENTS)))
    return ids, time.monotonic() - started


async def _wait_finished(stub: supervisor_pb2_grpc.SupervisorServiceStub, ids: list[str]) -> int:
    """Until no workflow is queued or running; returns how many did not complete."""
    pending = set(ids)
    failed = 0
    while pending:
        for workflow_id in list(pending):
            answer = await stub.GetWorkflow(S.GetWorkflowRequest(workflow_id=workflow_id), timeout=30)
            if answer.workflow.status not in FINISHED:
                pending.discard(workflow_id)
                failed += answer.workflow.status != S.WORKFLOW_STATUS_COMPLETED
        if pending:
            await asyncio.sleep(0.2)
    return failed


async def _added_latency(stub: supervisor_pb2_grpc.SupervisorServiceStub, reps: int) -> dict[str, float]:
    """Median milliseconds of a task on an idle stack: RunTask, and SubmitTask followed by WatchWorkflow's `done`."""
    direct, queued = [], []
    for _ in range(reps):
        started = time.monotonic()
        await stub.RunTask(S.RunTaskRequest(task=TASK), timeout=60)
        direct.append((time.monotonic() - started) * 1000)
        started = time.monotonic()
        answer = await stub.SubmitTask(S.SubmitTaskRequest(task=TASK), timeout=60)
        async for response in stub.WatchWorkflow(
            S.WatchWorkflowRequest(workflow_id=answer.workflow.id), timeout=60
        ):
            if response.event.HasField("done"):
                break
        queued.append((time.monotonic() - started) * 1000)
    run_ms, queue_ms = statistics.median(direct), statistics.median(queued)
    return {
        "run_task_ms": round(run_ms, 1),
        "submit_to_done_ms": round(queue_ms, 1),
        "added_ms": round(queue_ms - run_ms, 1),
    }


async def _measure(backend_env: dict[str, str], replicas: int, tasks: int, reps: int) -> dict[str, Any]:
    async with _stack(backend_env, replicas) as addresses:
        async with grpc.aio.insecure_channel(addresses[0]) as channel:
            stub = supervisor_pb2_grpc.SupervisorServiceStub(channel)
            started = time.monotonic()
            ids, submit_s = await _submit_all(stub, tasks)
            failed = await _wait_finished(stub, ids)
            drain_s = time.monotonic() - started
            row: dict[str, Any] = {
                "replicas": replicas,
                "tasks": tasks,
                "submit_per_s": round(tasks / submit_s, 1),
                "end_to_end_per_s": round(tasks / drain_s, 1),
                "failed": failed,
            }
            if replicas == 1:
                row |= await _added_latency(stub, reps)
            return row


async def queue_suite(log: Callable[[str], None], tasks: int = 200, reps: int = 10) -> dict[str, Any]:
    """Every backend at 1 and 2 replicas: {backend: [rows]} (a backend that is not available says why)."""
    results: dict[str, Any] = {"task": TASK, "submit_clients": SUBMIT_CLIENTS, "backends": {}}
    for backend in ("embedded", "rabbitmq"):
        async with _backend_env(backend) as env:
            if env is None:
                results["backends"][backend] = {"skipped": "rabbitmqctl could not create a virtual host"}
                continue
            rows = []
            for replicas in (1, 2):
                async with _records_env() as records:
                    if replicas > 1 and not records:
                        break  # SQLite: one replica
                    log(f"queue: {backend}, {replicas} supervisor replica(s), {tasks} tasks ...")
                    row = await _measure(env | records, replicas, tasks, reps)
                    rows.append(row | {"records": "postgres" if records else "sqlite"})
            results["backends"][backend] = rows
    return results


def queue_lines(queue: dict[str, Any]) -> list[str]:
    """The RESULTS.md section of the queue figures."""
    lines = [
        "## Queue (SubmitTask)",
        "",
        f'Task: "{queue["task"]}" (one team), offline model at 0 ms, every service a process; submitted by '
        f"{queue['submit_clients']} concurrent clients. Embedded: the records database is the queue; rabbitmq: "
        "RabbitMQ on loopback; the replicas share their records in PostgreSQL. Added latency: median over idle runs of SubmitTask + "
        "WatchWorkflow until `done`, minus RunTask's.",
        "",
        "| backend | records | replicas | tasks | submit/s | end-to-end tasks/s | failed | RunTask ms | submit→done ms | added ms |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for backend, rows in queue["backends"].items():
        if isinstance(rows, dict):
            lines.append(f"| {backend} | skipped: {rows['skipped']} | | | | | | | | |")
            continue
        for row in rows:
            lines.append(
                f"| {backend} | {row['records']} | {row['replicas']} | {row['tasks']} | {row['submit_per_s']} | {row['end_to_end_per_s']} "
                f"| {row['failed']} | {row.get('run_task_ms', '')} | {row.get('submit_to_done_ms', '')} "
                f"| {row.get('added_ms', '')} |"
            )
    return [*lines, ""]
