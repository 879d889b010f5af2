"""The uniform ``marketing.team.v1.TeamService`` servicer, shared by the three team services.

Every call acts for the tenant of the principal the team identity interceptor bound
(``common.agents.team_identity``): a brief naming another tenant is refused, stored results are keyed by
(tenant, idempotency key), checkpoint threads are ``<tenant>/<idempotency key>``, and erasure and secrets act on
the caller's tenant only.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

import grpc
import structlog
from langchain_core.messages import AIMessageChunk
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command, StreamMode
from marketing.team.v1 import team_pb2, team_pb2_grpc
from marketing.tenant.v1 import tenant_pb2

from common.agents.convert import (
    artifact_to_proto,
    brief_from_proto,
    duration_ms,
    step_to_proto,
    tool_info_to_proto,
    usage_to_proto,
)
from common.agents.review_gate import SUPERSEDED, review_required
from common.agents.review_wire import decision_to_data, review_request_from_data
from common.agents.state import StepData
from common.agents.team_graph import TeamDefinition, TeamState, initial_state
from common.audit import MAX_PAGE as MAX_AUDIT_PAGE
from common.audit import TeamAuditLog
from common.auth.principal import current_principal
from common.budget import Budget, BudgetGuard, MonthlyQuota, exceeded_to_proto
from common.config import Settings
from common.errors import (
    BudgetExceededError,
    FailedPrecondition,
    FieldViolation,
    PermissionDenied,
    Unauthenticated,
)
from common.llm.answers import WITHDRAWN, text_of
from common.llm.usage import EMPTY_USAGE, PriceTable, UsageLedger, merge_usage
from common.logging import get_logger
from common.metrics import ARTIFACTS, BRIEFS_IN_FLIGHT, BUDGET_STOPS
from common.quotas import QuotaStore
from common.storage import Store
from common.telemetry import ModelCallSpans
from common.validation import MAX_TASK_CHARS, check_text, raise_if_invalid

log = get_logger(__name__)

MAX_UPSTREAM_ARTIFACTS = 100
MAX_ARTIFACT_CONTENT_CHARS = 500_000
MAX_KNOWLEDGE_DOCUMENTS = 200
MAX_KNOWLEDGE_DOCUMENT_CHARS = 200_000
MAX_SECRETS = 20
MAX_SECRET_CHARS = 8192


MAX_EVENT_ID = (
    "ffffffff-ffff-ffff-ffff-ffffffffffff"  # a cursor at a time without an id: every event at that time
)


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def caller_tenant() -> str:
    """The tenant of the call being handled.

    Raises:
        Unauthenticated: No principal is bound (the team identity interceptor is not in the server's chain).
    """
    principal = current_principal()
    if principal is None:
        raise Unauthenticated("this call carries no caller identity", "missing_tenant")
    return principal.tenant_id


def brief_tenant(brief: team_pb2.Brief) -> str:
    """The tenant a brief is worked on for: the caller's; a brief naming another tenant is refused.

    Raises:
        Unauthenticated: No principal is bound.
        PermissionDenied: ``brief.tenant_id`` is set and is not the caller's tenant (reason ``tenant_mismatch``).
    """
    tenant = caller_tenant()
    if brief.tenant_id and brief.tenant_id != tenant:
        raise PermissionDenied("brief.tenant_id is not the caller's tenant", "tenant_mismatch")
    return tenant


def _validate_secrets(team: TeamDefinition, secrets: Mapping[str, str]) -> None:
    """Reject unknown secret names and oversized values (never echoing a value)."""
    known = ", ".join(team.secret_names) or "none"
    problems = []
    if len(secrets) > MAX_SECRETS:
        problems.append(FieldViolation("secrets", f"at most {MAX_SECRETS} secrets"))
    for name, value in sorted(secrets.items()):
        field = f"secrets[{name[:64]!r}]"
        if name not in team.secret_names:
            problems.append(
                FieldViolation(field, f"the {team.name} team keeps no such secret; known: {known}")
            )
        elif len(value) > MAX_SECRET_CHARS:
            problems.append(FieldViolation(field, f"must be at most {MAX_SECRET_CHARS} characters"))
        elif value != value.strip() or not value.isprintable():
            problems.append(FieldViolation(field, "must be printable, without surrounding whitespace"))
    raise_if_invalid(problems)


async def checkpoint_threads(saver: BaseCheckpointSaver[Any], prefix: str) -> list[str]:
    """The ids of a checkpointer's threads that start with ``prefix`` (``<tenant>/`` or
    ``<tenant>/<workflow id>/``), without loading their checkpoints."""
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    query = "SELECT DISTINCT thread_id FROM checkpoints WHERE substr(thread_id, 1, {n}) = {p}"
    if isinstance(saver, AsyncSqliteSaver):
        async with (
            saver.lock,
            saver.conn.execute(query.format(n="?", p="?"), (len(prefix), prefix)) as cursor,
        ):
            return [str(row[0]) for row in await cursor.fetchall()]
    if isinstance(saver, AsyncPostgresSaver):
        async with saver._cursor() as cursor:  # the saver's own connection handling (pool, pipeline, lock)
            await cursor.execute(query.format(n="%s", p="%s"), (len(prefix), prefix))
            return [str(row["thread_id"]) for row in await cursor.fetchall()]
    threads = {str(t.config["configurable"]["thread_id"]) async for t in saver.alist(None)}
    return sorted(t for t in threads if t.startswith(prefix))


async def erase_checkpoints(saver: BaseCheckpointSaver[Any] | None, prefix: str) -> int:
    """Delete every checkpoint thread starting with ``prefix``; returns how many threads were deleted."""
    if saver is None:
        return 0
    threads = await checkpoint_threads(saver, prefix)
    for thread_id in threads:
        await saver.adelete_thread(thread_id)
    return len(threads)


async def _replayed(store: Store, tenant: str, idempotency_key: str) -> team_pb2.BriefResult | None:
    """The stored result of a completed key of the tenant, marked replayed; None when there is none."""
    stored = await store.get_team_result(tenant, idempotency_key)
    if stored is None:
        return None
    result = team_pb2.BriefResult.FromString(stored)
    result.replayed = True
    log.info("team_result_replayed", idempotency_key=idempotency_key)
    return result


def validate_brief(request: team_pb2.RunBriefRequest | team_pb2.StreamBriefRequest) -> None:
    """Reject a brief that no team could work on, naming every bad field."""
    if not request.HasField("brief"):
        raise_if_invalid([FieldViolation("brief", "is required")])
    brief = request.brief
    problems = check_text("brief.task", brief.task, max_chars=MAX_TASK_CHARS)
    problems += check_text("brief.workflow_id", brief.workflow_id, max_chars=128, required=False)
    problems += check_text("idempotency_key", request.idempotency_key, max_chars=256, required=False)
    problems += check_text("brief.instructions", brief.instructions, max_chars=MAX_TASK_CHARS, required=False)
    if len(brief.upstream_artifacts) > MAX_UPSTREAM_ARTIFACTS:
        problems.append(
            FieldViolation("brief.upstream_artifacts", f"at most {MAX_UPSTREAM_ARTIFACTS} artifacts")
        )
    for index, artifact in enumerate(brief.upstream_artifacts):
        if len(artifact.content) > MAX_ARTIFACT_CONTENT_CHARS:
            problems.append(
                FieldViolation(
                    f"brief.upstream_artifacts[{index}].content",
                    f"at most {MAX_ARTIFACT_CONTENT_CHARS} characters",
                )
            )
    problems += _profile_problems(brief)
    raise_if_invalid(problems)


def _profile_problems(brief: team_pb2.Brief) -> list[FieldViolation]:
    """The tenant's knowledge documents are indexed per call: keep them bounded."""
    documents = brief.profile.knowledge_documents
    if len(documents) > MAX_KNOWLEDGE_DOCUMENTS:
        return [
            FieldViolation(
                "brief.profile.knowledge_documents", f"at most {MAX_KNOWLEDGE_DOCUMENTS} documents"
            )
        ]
    return [
        FieldViolation(
            f"brief.profile.knowledge_documents[{index}].body",
            f"at most {MAX_KNOWLEDGE_DOCUMENT_CHARS} characters",
        )
        for index, document in enumerate(documents)
        if len(document.body) > MAX_KNOWLEDGE_DOCUMENT_CHARS
    ]


@dataclass
class _TeamRun:
    """What a streamed team run ended with: its last state, and the budget stop that ended it (if one did)."""

    final: TeamState = field(default_factory=lambda: TeamState())
    exceeded: BudgetExceededError | None = None


class TeamServicer(team_pb2_grpc.TeamServiceServicer):
    """Runs briefs through a team's compiled subgraph."""

    def __init__(
        self,
        team: TeamDefinition,
        graph: CompiledStateGraph[Any],
        settings: Settings,
        store: Store | None = None,
        durable_graph: CompiledStateGraph[Any] | None = None,
        quota_store: QuotaStore | None = None,
    ) -> None:
        """
        Args:
            team: The team's definition (name, tools, how it cancels its side effects).
            graph: The compiled subgraph, for calls without an idempotency key.
            settings: Process settings.
            store: Where completed results are kept by (tenant, idempotency key).
            durable_graph: The same subgraph with a checkpointer, for calls with a key (its threads are erased
                with their workflow or tenant).
            quota_store: The shared quota store the tenant's monthly spend is checked against and charged to
                (only for briefs that carry a monthly quota).
        """
        self.quota_store = quota_store
        self._services: dict[str, str] | None = None  # tool name -> external service, for usage billing
        self.definition = team
        self.team = team.name
        self.graph = graph
        self.store = store
        self.durable_graph = durable_graph
        self.tools = team.tools
        self.prices = PriceTable(settings.llm_prices)
        self.recursion_limit = settings.team_max_steps * 2 + 4
        self.worker_names = {name for name in graph.nodes if name not in ("team_lead", "__start__")}
        # What the team records of its own (the social team: approvals applied, publish attempts and outcomes).
        self.audit = TeamAuditLog(store.db, team.name) if store is not None else None

    async def ListTools(
        self, request: team_pb2.ListToolsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> team_pb2.ListToolsResponse:
        tools = self.tools.describe() if self.tools is not None else []
        return team_pb2.ListToolsResponse(tools=[tool_info_to_proto(self.team, t) for t in tools])

    async def CancelWorkflow(
        self, request: team_pb2.CancelWorkflowRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> team_pb2.CancelWorkflowResponse:
        raise_if_invalid(check_text("workflow_id", request.workflow_id, max_chars=128))
        tenant = caller_tenant()
        response = team_pb2.CancelWorkflowResponse(team=self.team)
        if self.definition.cancel_workflow is not None:
            effects = await self.definition.cancel_workflow(tenant, request.workflow_id)
            response.cancelled_effects.extend(team_pb2.CancelledEffect(kind=e.kind, id=e.id) for e in effects)
            if effects:
                log.info("workflow_effects_cancelled", workflow_id=request.workflow_id, effects=len(effects))
        return response

    @property
    def _checkpointer(self) -> BaseCheckpointSaver[Any] | None:
        saver = self.durable_graph.checkpointer if self.durable_graph is not None else None
        return saver if isinstance(saver, BaseCheckpointSaver) else None

    async def EraseWorkflow(
        self, request: team_pb2.EraseWorkflowRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> team_pb2.EraseWorkflowResponse:
        """Delete the caller's tenant's stored results and checkpoints of a workflow, and what the team keeps of
        its own for it (the ``erase_workflow`` hook)."""
        problems = check_text("workflow_id", request.workflow_id, max_chars=128)
        if "/" in request.workflow_id:  # it starts the idempotency keys: "a" must never erase "a/b"
            problems.append(FieldViolation("workflow_id", "must not contain '/'"))
        raise_if_invalid(problems)
        tenant = caller_tenant()
        prefix = f"{request.workflow_id}/"  # idempotency keys are "<workflow id>/<team>/<routing step>"
        erased = await self.store.delete_team_results(tenant, prefix) if self.store is not None else 0
        erased += await erase_checkpoints(self._checkpointer, f"{tenant}/{prefix}")
        if self.definition.erase_workflow is not None:
            erased += await self.definition.erase_workflow(tenant, request.workflow_id)
        log.info("workflow_erased", workflow_id=request.workflow_id, team=self.team, erased_records=erased)
        return team_pb2.EraseWorkflowResponse(team=self.team, erased_records=erased)

    async def EraseTenant(
        self, request: team_pb2.EraseTenantRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> team_pb2.EraseTenantResponse:
        """Delete everything the team keeps for the caller's tenant: stored results, checkpoints, and what the
        ``erase_tenant`` hook erases (posts, secrets, cached tool results)."""
        tenant = caller_tenant()
        erased = await self.store.delete_team_results(tenant) if self.store is not None else 0
        erased += await erase_checkpoints(self._checkpointer, f"{tenant}/")
        if self.definition.erase_tenant is not None:
            erased += await self.definition.erase_tenant(tenant)
        if self.audit is not None:
            erased += await self.audit.erase_tenant(tenant)
        log.info("tenant_erased", team=self.team, erased_records=erased)
        return team_pb2.EraseTenantResponse(team=self.team, erased_records=erased)

    async def ListAuditEvents(
        self, request: team_pb2.ListAuditEventsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> team_pb2.ListAuditEventsResponse:
        """The caller's tenant's events in the team's own audit log, newest first, older than the cursor."""
        problems = []
        if request.before_id and not _is_uuid(request.before_id):
            problems.append(FieldViolation("before_id", "must be an audit event's id"))
        if request.page_size < 0 or request.page_size > MAX_AUDIT_PAGE:
            problems.append(FieldViolation("page_size", f"must be 0-{MAX_AUDIT_PAGE}"))
        if request.before_id and not request.HasField("before_time"):
            problems.append(FieldViolation("before_time", "is required with before_id"))
        raise_if_invalid(problems)
        tenant = caller_tenant()
        response = team_pb2.ListAuditEventsResponse(team=self.team)
        if self.audit is None:
            return response
        before = None
        if request.HasField("before_time"):
            before = (request.before_time.ToDatetime(UTC), request.before_id or MAX_EVENT_ID)
        for event in await self.audit.older_than(tenant, request.page_size or 20, before):
            message = response.audit_events.add(
                id=event.id,
                actor=event.actor,
                action=event.action,
                resource=event.resource,
                details=event.details,
            )
            message.time.FromDatetime(event.at)
        return response

    async def SetTenantSecrets(
        self, request: team_pb2.SetTenantSecretsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> team_pb2.SetTenantSecretsResponse:
        """Store the caller's tenant secrets the team uses (an empty value deletes one); answers only the names
        the team now holds, never a value."""
        tenant = caller_tenant()
        secrets = dict(request.secrets)
        _validate_secrets(self.definition, secrets)
        if self.definition.set_secrets is None:
            return team_pb2.SetTenantSecretsResponse(team=self.team)
        names = await self.definition.set_secrets(tenant, secrets)
        log.info("tenant_secrets_set", team=self.team, names=sorted(secrets), holds=list(names))
        return team_pb2.SetTenantSecretsResponse(team=self.team, names=sorted(names))

    def _result(
        self, state: TeamState, started: float, ledger: UsageLedger, restored: int = 0
    ) -> team_pb2.BriefResult:
        """The result of a run; ``restored`` steps came from the checkpoint of an earlier drive (their usage is
        in their records, not in this drive's ledger)."""
        artifacts = [a for a in state.get("artifacts", []) if not a.get("metadata", {}).get(SUPERSEDED)]
        steps = state.get("steps", [])
        earlier = [s.get("usage") or EMPTY_USAGE for s in steps[:restored]]
        failed = [s for s in steps if s["error"]]
        summary = f"{self.team} team produced {len(artifacts)} artifact(s)"
        if artifacts:
            summary += ": " + "; ".join(a["title"] for a in artifacts)
        if failed:
            summary += f". {len(failed)} worker step(s) failed: " + "; ".join(f"{s['agent']}" for s in failed)
        return team_pb2.BriefResult(
            team=self.team,
            artifacts=[artifact_to_proto(a) for a in artifacts],
            steps=[
                step_to_proto(s, s.get("usage") or ledger.totals(step=s["index"]).to_dict()) for s in steps
            ],
            summary=summary,
            duration=duration_ms(int((time.monotonic() - started) * 1000)),
            usage=usage_to_proto(merge_usage(ledger.totals().to_dict(), *earlier)),
            external_calls=self._external_calls(steps),
        )

    def _external_calls(self, steps: list[StepData]) -> list[team_pb2.ExternalCalls]:
        """The calls the steps' tools made to external services, per service (tools without one are local)."""
        if self._services is None:  # built once: describe() renders every tool's schema
            self._services = (
                {t.name: t.service for t in self.tools.describe()} if self.tools is not None else {}
            )
        services = self._services
        calls: Counter[str] = Counter()
        for step in steps:
            for tool, count in step.get("tool_calls", {}).items():
                if services.get(tool):
                    calls[services[tool]] += count
        return [team_pb2.ExternalCalls(team=self.team, service=s, calls=n) for s, n in sorted(calls.items())]

    async def _events(
        self, brief: team_pb2.Brief, tenant: str, stream_text: bool, idempotency_key: str = ""
    ) -> AsyncIterator[team_pb2.StreamBriefResponse]:
        """Run the subgraph on a brief for a tenant; yield steps, artifacts (and text deltas when asked), then the
        result.

        With an idempotency key, a completed key (of this tenant) replays its stored result and an interrupted
        one resumes from its last checkpoint (thread ``<tenant>/<idempotency key>``).
        """
        structlog.contextvars.bind_contextvars(workflow_id=brief.workflow_id, team=self.team)
        store = self.store if idempotency_key and self.durable_graph is not None else None
        if store is not None and (replayed := await _replayed(store, tenant, idempotency_key)) is not None:
            yield team_pb2.StreamBriefResponse(result=replayed)
            return
        graph = self.durable_graph if store is not None and self.durable_graph is not None else self.graph
        started = time.monotonic()
        ledger = UsageLedger(self.prices, self.team)
        config: RunnableConfig = {
            "recursion_limit": self.recursion_limit,
            "callbacks": [ledger, *self._budget_guard(brief, tenant, ledger), ModelCallSpans()],
        }
        data = brief_from_proto(brief)
        data["tenant_id"] = tenant
        data["review_required"] = self._review_required(brief, store is not None)
        graph_input: Any = initial_state(data)
        restored = 0
        if store is not None:
            config["configurable"] = {"thread_id": f"{tenant}/{idempotency_key}"}
            graph_input, paused, restored = await self._start_from(graph, config, brief, graph_input)
            if paused is not None:
                yield team_pb2.StreamBriefResponse(result=self._paused(paused, started, ledger, restored))
                return
        run = _TeamRun()
        async for event in self._stream(graph, graph_input, config, stream_text, ledger, run):
            yield event
        if (
            run.exceeded is None
            and store is not None
            and (checkpoint := await graph.aget_state(config)).interrupts
        ):
            yield team_pb2.StreamBriefResponse(result=self._paused(checkpoint, started, ledger, restored))
            return
        result = self._result(run.final, started, ledger, restored)
        if run.exceeded is not None:  # not stored: the same key resumes from the checkpoint
            result.budget_exceeded.CopyFrom(exceeded_to_proto(run.exceeded))
            result.summary += f". Stopped: {run.exceeded}"
        elif store is not None:
            await store.put_team_result(tenant, idempotency_key, self.team, result.SerializeToString())
        yield team_pb2.StreamBriefResponse(result=result)

    def _budget_guard(self, brief: team_pb2.Brief, tenant: str, ledger: UsageLedger) -> list[BudgetGuard]:
        """The run's budget check: what the brief says is left of the task's budget, and the tenant's monthly
        quota in the shared quota store (when the brief names one and this service has the store); none when
        the brief sets no limit (nothing is checked per model call then)."""
        quota = None
        if brief.HasField("monthly_quota") and self.quota_store is not None:
            quota = MonthlyQuota(
                tenant, brief.monthly_quota.max_cost_usd, brief.monthly_quota.max_tokens, self.quota_store
            )
        budget = Budget.of(brief.remaining_budget if brief.HasField("remaining_budget") else None)
        if budget.unlimited and (quota is None or not quota.active):
            return []
        return [BudgetGuard(budget, ledger, quota)]

    async def _stream(
        self,
        graph: CompiledStateGraph[Any],
        graph_input: Any,
        config: RunnableConfig,
        stream_text: bool,
        ledger: UsageLedger,
        run: _TeamRun,
    ) -> AsyncIterator[team_pb2.StreamBriefResponse]:
        """Stream the subgraph's events; the last state and a budget stop end up in ``run``."""
        modes: list[StreamMode] = ["custom", "values", "messages"] if stream_text else ["custom", "values"]
        BRIEFS_IN_FLIGHT.labels(team=self.team).inc()
        try:
            chunk: Any
            async for mode, chunk in graph.astream(graph_input, config, stream_mode=modes):
                if mode == "values":
                    run.final = chunk
                elif mode == "messages":
                    if (delta := self._text_delta(*chunk)) is not None:
                        yield team_pb2.StreamBriefResponse(text_delta=delta)
                elif WITHDRAWN in chunk:
                    if stream_text and (withdrawn := self._text_withdrawn(chunk[WITHDRAWN])) is not None:
                        yield team_pb2.StreamBriefResponse(text_withdrawn=withdrawn)
                elif "step" in chunk:
                    usage = ledger.totals(step=chunk["step"]["index"]).to_dict()
                    yield team_pb2.StreamBriefResponse(step=step_to_proto(chunk["step"], usage))
                elif "artifact" in chunk:
                    ARTIFACTS.labels(team=self.team, kind=chunk["artifact"]["kind"]).inc()
                    yield team_pb2.StreamBriefResponse(artifact=artifact_to_proto(chunk["artifact"]))
        except BudgetExceededError as exc:
            run.exceeded = exc
            BUDGET_STOPS.labels(team=self.team, limit=exc.limit).inc()
            log.warning("team_run_budget_exceeded", limit=exc.limit, detail=exc.detail, agent=exc.agent)
        finally:
            BRIEFS_IN_FLIGHT.labels(team=self.team).dec()

    async def _start_from(
        self, graph: CompiledStateGraph[Any], config: RunnableConfig, brief: team_pb2.Brief, fresh: Any
    ) -> tuple[Any, Any, int]:
        """Where a keyed run starts: fresh, from its last checkpoint (an interrupted run), or, paused for review,
        with the brief's decision on its round; the checkpoint comes second when the run stays paused (no decision
        for its round: the caller is asked again). Third: how many steps the checkpoint already holds (their usage
        is in their records, not in this drive's ledger)."""
        checkpoint = await graph.aget_state(config)
        restored = len(checkpoint.values.get("steps", [])) if checkpoint.values else 0
        if checkpoint.interrupts:
            resume = self._resume_input(brief, checkpoint.interrupts[0].value)
            return (resume, None, restored) if resume is not None else (None, checkpoint, restored)
        if checkpoint.next:
            log.info("team_run_resumed")
            return None, None, restored
        return fresh, None, 0

    def _review_required(self, brief: team_pb2.Brief, durable: bool) -> bool:
        """Whether the brief's work waits for a person's approval (a pause needs a checkpoint: an idempotency
        key).

        Raises:
            FailedPrecondition: Review is required and the call has no idempotency key.
        """
        policy = tenant_pb2.ApprovalPolicy.Name(brief.approval_policy)
        required = review_required(self.definition.review, policy)
        if required and not durable:
            raise FailedPrecondition(
                f"the {self.team} team's work needs a person's approval: call with an idempotency key"
            )
        return required

    def _resume_input(self, brief: team_pb2.Brief, pending: dict[str, Any]) -> Command[Any] | None:
        """The resume command for a paused run, when the brief carries a decision on its pending round."""
        if not brief.HasField("review_decision") or brief.review_decision.round != pending["round"]:
            return None
        log.info("team_run_review_decided", round=pending["round"])
        return Command(resume=decision_to_data(brief.review_decision))

    def _paused(
        self, checkpoint: Any, started: float, ledger: UsageLedger, restored: int
    ) -> team_pb2.BriefResult:
        """The "input required" answer of a run paused for review: what it did so far and what to approve."""
        result = self._result(checkpoint.values, started, ledger, restored)
        result.review_request.CopyFrom(review_request_from_data(checkpoint.interrupts[0].value))
        result.summary = f"{self.team} team waits for a review of {len(result.review_request.items)} item(s)"
        log.info("team_run_paused_for_review", round=result.review_request.round)
        return result

    async def RunBrief(
        self, request: team_pb2.RunBriefRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> team_pb2.RunBriefResponse:
        validate_brief(request)
        tenant = brief_tenant(request.brief)
        result = team_pb2.BriefResult()
        async for event in self._events(request.brief, tenant, False, request.idempotency_key):
            if event.HasField("result"):
                result = event.result
        return team_pb2.RunBriefResponse(result=result)

    async def StreamBrief(
        self, request: team_pb2.StreamBriefRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[team_pb2.StreamBriefResponse]:
        validate_brief(request)
        tenant = brief_tenant(request.brief)
        async for event in self._events(request.brief, tenant, request.stream_text, request.idempotency_key):
            yield event

    def _text_delta(self, message: Any, metadata: dict[str, Any]) -> team_pb2.TextDelta | None:
        """A worker's generated text; routing output and tool-call chunks are not text for the caller."""
        agent = metadata.get("langgraph_node")
        if agent not in self.worker_names or not isinstance(message, AIMessageChunk):
            return None
        if not (text := text_of(message)):
            return None
        return team_pb2.TextDelta(team=self.team, agent=agent, text=text)

    def _text_withdrawn(self, withdrawn: dict[str, Any]) -> team_pb2.TextWithdrawn | None:
        """A failed model call's streamed text, void (``common.llm.answers``); only workers' text streams."""
        if withdrawn["agent"] not in self.worker_names:
            return None
        return team_pb2.TextWithdrawn(
            team=self.team, agent=withdrawn["agent"], reason=withdrawn["reason"], chars=withdrawn["chars"]
        )
