import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from marketing.tenant.v1 import tenant_pb2 as _tenant_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ArtifactKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ARTIFACT_KIND_UNSPECIFIED: _ClassVar[ArtifactKind]
    ARTIFACT_KIND_SEARCH_RESULTS: _ClassVar[ArtifactKind]
    ARTIFACT_KIND_RESEARCH_BRIEF: _ClassVar[ArtifactKind]
    ARTIFACT_KIND_ARTICLE: _ClassVar[ArtifactKind]
    ARTIFACT_KIND_SEO_REPORT: _ClassVar[ArtifactKind]
    ARTIFACT_KIND_SOCIAL_POST: _ClassVar[ArtifactKind]
    ARTIFACT_KIND_POSTING_SCHEDULE: _ClassVar[ArtifactKind]
    ARTIFACT_KIND_REPOSITORY_METRICS: _ClassVar[ArtifactKind]
    ARTIFACT_KIND_CHART: _ClassVar[ArtifactKind]
    ARTIFACT_KIND_IMAGE: _ClassVar[ArtifactKind]
    ARTIFACT_KIND_IMAGE_BRIEF: _ClassVar[ArtifactKind]
    ARTIFACT_KIND_WEB_PAGES: _ClassVar[ArtifactKind]

class AgentStepKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AGENT_STEP_KIND_UNSPECIFIED: _ClassVar[AgentStepKind]
    AGENT_STEP_KIND_ROUTING: _ClassVar[AgentStepKind]
    AGENT_STEP_KIND_WORK: _ClassVar[AgentStepKind]

class DecisionSource(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DECISION_SOURCE_UNSPECIFIED: _ClassVar[DecisionSource]
    DECISION_SOURCE_MODEL: _ClassVar[DecisionSource]
    DECISION_SOURCE_KEYWORD_FALLBACK: _ClassVar[DecisionSource]
    DECISION_SOURCE_STEP_LIMIT: _ClassVar[DecisionSource]
    DECISION_SOURCE_LOOP_GUARD: _ClassVar[DecisionSource]

class ReviewVerdict(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REVIEW_VERDICT_UNSPECIFIED: _ClassVar[ReviewVerdict]
    REVIEW_VERDICT_APPROVED: _ClassVar[ReviewVerdict]
    REVIEW_VERDICT_CHANGES_REQUESTED: _ClassVar[ReviewVerdict]
    REVIEW_VERDICT_REJECTED: _ClassVar[ReviewVerdict]
ARTIFACT_KIND_UNSPECIFIED: ArtifactKind
ARTIFACT_KIND_SEARCH_RESULTS: ArtifactKind
ARTIFACT_KIND_RESEARCH_BRIEF: ArtifactKind
ARTIFACT_KIND_ARTICLE: ArtifactKind
ARTIFACT_KIND_SEO_REPORT: ArtifactKind
ARTIFACT_KIND_SOCIAL_POST: ArtifactKind
ARTIFACT_KIND_POSTING_SCHEDULE: ArtifactKind
ARTIFACT_KIND_REPOSITORY_METRICS: ArtifactKind
ARTIFACT_KIND_CHART: ArtifactKind
ARTIFACT_KIND_IMAGE: ArtifactKind
ARTIFACT_KIND_IMAGE_BRIEF: ArtifactKind
ARTIFACT_KIND_WEB_PAGES: ArtifactKind
AGENT_STEP_KIND_UNSPECIFIED: AgentStepKind
AGENT_STEP_KIND_ROUTING: AgentStepKind
AGENT_STEP_KIND_WORK: AgentStepKind
DECISION_SOURCE_UNSPECIFIED: DecisionSource
DECISION_SOURCE_MODEL: DecisionSource
DECISION_SOURCE_KEYWORD_FALLBACK: DecisionSource
DECISION_SOURCE_STEP_LIMIT: DecisionSource
DECISION_SOURCE_LOOP_GUARD: DecisionSource
REVIEW_VERDICT_UNSPECIFIED: ReviewVerdict
REVIEW_VERDICT_APPROVED: ReviewVerdict
REVIEW_VERDICT_CHANGES_REQUESTED: ReviewVerdict
REVIEW_VERDICT_REJECTED: ReviewVerdict

class Artifact(_message.Message):
    __slots__ = ("id", "team", "agent", "kind", "title", "content", "mime_type", "metadata", "data")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    TEAM_FIELD_NUMBER: _ClassVar[int]
    AGENT_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    MIME_TYPE_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    id: str
    team: str
    agent: str
    kind: ArtifactKind
    title: str
    content: str
    mime_type: str
    metadata: _containers.ScalarMap[str, str]
    data: bytes
    def __init__(self, id: _Optional[str] = ..., team: _Optional[str] = ..., agent: _Optional[str] = ..., kind: _Optional[_Union[ArtifactKind, str]] = ..., title: _Optional[str] = ..., content: _Optional[str] = ..., mime_type: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ..., data: _Optional[bytes] = ...) -> None: ...

class AgentStep(_message.Message):
    __slots__ = ("index", "team", "agent", "kind", "next", "reasoning", "decision_source", "summary", "artifact_ids", "error", "duration", "usage")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    TEAM_FIELD_NUMBER: _ClassVar[int]
    AGENT_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    NEXT_FIELD_NUMBER: _ClassVar[int]
    REASONING_FIELD_NUMBER: _ClassVar[int]
    DECISION_SOURCE_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    ARTIFACT_IDS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    index: int
    team: str
    agent: str
    kind: AgentStepKind
    next: str
    reasoning: str
    decision_source: DecisionSource
    summary: str
    artifact_ids: _containers.RepeatedScalarFieldContainer[str]
    error: str
    duration: _duration_pb2.Duration
    usage: Usage
    def __init__(self, index: _Optional[int] = ..., team: _Optional[str] = ..., agent: _Optional[str] = ..., kind: _Optional[_Union[AgentStepKind, str]] = ..., next: _Optional[str] = ..., reasoning: _Optional[str] = ..., decision_source: _Optional[_Union[DecisionSource, str]] = ..., summary: _Optional[str] = ..., artifact_ids: _Optional[_Iterable[str]] = ..., error: _Optional[str] = ..., duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., usage: _Optional[_Union[Usage, _Mapping]] = ...) -> None: ...

class ModelUsage(_message.Message):
    __slots__ = ("model", "calls", "input_tokens", "output_tokens", "cost_usd", "latency", "priced", "cache_read_tokens", "cache_write_tokens")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    CALLS_FIELD_NUMBER: _ClassVar[int]
    INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    LATENCY_FIELD_NUMBER: _ClassVar[int]
    PRICED_FIELD_NUMBER: _ClassVar[int]
    CACHE_READ_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHE_WRITE_TOKENS_FIELD_NUMBER: _ClassVar[int]
    model: str
    calls: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    latency: _duration_pb2.Duration
    priced: bool
    cache_read_tokens: int
    cache_write_tokens: int
    def __init__(self, model: _Optional[str] = ..., calls: _Optional[int] = ..., input_tokens: _Optional[int] = ..., output_tokens: _Optional[int] = ..., cost_usd: _Optional[float] = ..., latency: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., priced: _Optional[bool] = ..., cache_read_tokens: _Optional[int] = ..., cache_write_tokens: _Optional[int] = ...) -> None: ...

class Usage(_message.Message):
    __slots__ = ("model_calls", "input_tokens", "output_tokens", "cost_usd", "models")
    MODEL_CALLS_FIELD_NUMBER: _ClassVar[int]
    INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    model_calls: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    models: _containers.RepeatedCompositeFieldContainer[ModelUsage]
    def __init__(self, model_calls: _Optional[int] = ..., input_tokens: _Optional[int] = ..., output_tokens: _Optional[int] = ..., cost_usd: _Optional[float] = ..., models: _Optional[_Iterable[_Union[ModelUsage, _Mapping]]] = ...) -> None: ...

class TextDelta(_message.Message):
    __slots__ = ("team", "agent", "text")
    TEAM_FIELD_NUMBER: _ClassVar[int]
    AGENT_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    team: str
    agent: str
    text: str
    def __init__(self, team: _Optional[str] = ..., agent: _Optional[str] = ..., text: _Optional[str] = ...) -> None: ...

class TextWithdrawn(_message.Message):
    __slots__ = ("team", "agent", "reason", "chars")
    TEAM_FIELD_NUMBER: _ClassVar[int]
    AGENT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    CHARS_FIELD_NUMBER: _ClassVar[int]
    team: str
    agent: str
    reason: str
    chars: int
    def __init__(self, team: _Optional[str] = ..., agent: _Optional[str] = ..., reason: _Optional[str] = ..., chars: _Optional[int] = ...) -> None: ...

class Brief(_message.Message):
    __slots__ = ("workflow_id", "task", "upstream_artifacts", "instructions", "tenant_id", "profile", "remaining_budget", "monthly_quota", "approval_policy", "review_decision")
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    UPSTREAM_ARTIFACTS_FIELD_NUMBER: _ClassVar[int]
    INSTRUCTIONS_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    REMAINING_BUDGET_FIELD_NUMBER: _ClassVar[int]
    MONTHLY_QUOTA_FIELD_NUMBER: _ClassVar[int]
    APPROVAL_POLICY_FIELD_NUMBER: _ClassVar[int]
    REVIEW_DECISION_FIELD_NUMBER: _ClassVar[int]
    workflow_id: str
    task: str
    upstream_artifacts: _containers.RepeatedCompositeFieldContainer[Artifact]
    instructions: str
    tenant_id: str
    profile: _tenant_pb2.TenantProfile
    remaining_budget: Budget
    monthly_quota: Budget
    approval_policy: _tenant_pb2.ApprovalPolicy
    review_decision: ReviewDecision
    def __init__(self, workflow_id: _Optional[str] = ..., task: _Optional[str] = ..., upstream_artifacts: _Optional[_Iterable[_Union[Artifact, _Mapping]]] = ..., instructions: _Optional[str] = ..., tenant_id: _Optional[str] = ..., profile: _Optional[_Union[_tenant_pb2.TenantProfile, _Mapping]] = ..., remaining_budget: _Optional[_Union[Budget, _Mapping]] = ..., monthly_quota: _Optional[_Union[Budget, _Mapping]] = ..., approval_policy: _Optional[_Union[_tenant_pb2.ApprovalPolicy, str]] = ..., review_decision: _Optional[_Union[ReviewDecision, _Mapping]] = ...) -> None: ...

class ReviewItem(_message.Message):
    __slots__ = ("artifact_id", "kind", "title", "text", "platform", "scheduled_time", "agent", "model", "max_length")
    ARTIFACT_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    SCHEDULED_TIME_FIELD_NUMBER: _ClassVar[int]
    AGENT_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    MAX_LENGTH_FIELD_NUMBER: _ClassVar[int]
    artifact_id: str
    kind: ArtifactKind
    title: str
    text: str
    platform: str
    scheduled_time: _timestamp_pb2.Timestamp
    agent: str
    model: str
    max_length: int
    def __init__(self, artifact_id: _Optional[str] = ..., kind: _Optional[_Union[ArtifactKind, str]] = ..., title: _Optional[str] = ..., text: _Optional[str] = ..., platform: _Optional[str] = ..., scheduled_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., agent: _Optional[str] = ..., model: _Optional[str] = ..., max_length: _Optional[int] = ...) -> None: ...

class ReviewRequest(_message.Message):
    __slots__ = ("round", "items")
    ROUND_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    round: int
    items: _containers.RepeatedCompositeFieldContainer[ReviewItem]
    def __init__(self, round: _Optional[int] = ..., items: _Optional[_Iterable[_Union[ReviewItem, _Mapping]]] = ...) -> None: ...

class ItemComment(_message.Message):
    __slots__ = ("artifact_id", "comment")
    ARTIFACT_ID_FIELD_NUMBER: _ClassVar[int]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    artifact_id: str
    comment: str
    def __init__(self, artifact_id: _Optional[str] = ..., comment: _Optional[str] = ...) -> None: ...

class ReviewDecision(_message.Message):
    __slots__ = ("round", "verdict", "approved_texts", "approved_digests", "comments", "item_comments", "reviewer", "review_id")
    class ApprovedTextsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class ApprovedDigestsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ROUND_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    APPROVED_TEXTS_FIELD_NUMBER: _ClassVar[int]
    APPROVED_DIGESTS_FIELD_NUMBER: _ClassVar[int]
    COMMENTS_FIELD_NUMBER: _ClassVar[int]
    ITEM_COMMENTS_FIELD_NUMBER: _ClassVar[int]
    REVIEWER_FIELD_NUMBER: _ClassVar[int]
    REVIEW_ID_FIELD_NUMBER: _ClassVar[int]
    round: int
    verdict: ReviewVerdict
    approved_texts: _containers.ScalarMap[str, str]
    approved_digests: _containers.ScalarMap[str, str]
    comments: str
    item_comments: _containers.RepeatedCompositeFieldContainer[ItemComment]
    reviewer: str
    review_id: str
    def __init__(self, round: _Optional[int] = ..., verdict: _Optional[_Union[ReviewVerdict, str]] = ..., approved_texts: _Optional[_Mapping[str, str]] = ..., approved_digests: _Optional[_Mapping[str, str]] = ..., comments: _Optional[str] = ..., item_comments: _Optional[_Iterable[_Union[ItemComment, _Mapping]]] = ..., reviewer: _Optional[str] = ..., review_id: _Optional[str] = ...) -> None: ...

class Budget(_message.Message):
    __slots__ = ("max_cost_usd", "max_tokens", "max_model_calls")
    MAX_COST_USD_FIELD_NUMBER: _ClassVar[int]
    MAX_TOKENS_FIELD_NUMBER: _ClassVar[int]
    MAX_MODEL_CALLS_FIELD_NUMBER: _ClassVar[int]
    max_cost_usd: float
    max_tokens: int
    max_model_calls: int
    def __init__(self, max_cost_usd: _Optional[float] = ..., max_tokens: _Optional[int] = ..., max_model_calls: _Optional[int] = ...) -> None: ...

class BudgetExceeded(_message.Message):
    __slots__ = ("limit", "detail", "agent")
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    AGENT_FIELD_NUMBER: _ClassVar[int]
    limit: str
    detail: str
    agent: str
    def __init__(self, limit: _Optional[str] = ..., detail: _Optional[str] = ..., agent: _Optional[str] = ...) -> None: ...

class BriefResult(_message.Message):
    __slots__ = ("team", "artifacts", "steps", "summary", "duration", "usage", "replayed", "budget_exceeded", "external_calls", "review_request")
    TEAM_FIELD_NUMBER: _ClassVar[int]
    ARTIFACTS_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    REPLAYED_FIELD_NUMBER: _ClassVar[int]
    BUDGET_EXCEEDED_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_CALLS_FIELD_NUMBER: _ClassVar[int]
    REVIEW_REQUEST_FIELD_NUMBER: _ClassVar[int]
    team: str
    artifacts: _containers.RepeatedCompositeFieldContainer[Artifact]
    steps: _containers.RepeatedCompositeFieldContainer[AgentStep]
    summary: str
    duration: _duration_pb2.Duration
    usage: Usage
    replayed: bool
    budget_exceeded: BudgetExceeded
    external_calls: _containers.RepeatedCompositeFieldContainer[ExternalCalls]
    review_request: ReviewRequest
    def __init__(self, team: _Optional[str] = ..., artifacts: _Optional[_Iterable[_Union[Artifact, _Mapping]]] = ..., steps: _Optional[_Iterable[_Union[AgentStep, _Mapping]]] = ..., summary: _Optional[str] = ..., duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., usage: _Optional[_Union[Usage, _Mapping]] = ..., replayed: _Optional[bool] = ..., budget_exceeded: _Optional[_Union[BudgetExceeded, _Mapping]] = ..., external_calls: _Optional[_Iterable[_Union[ExternalCalls, _Mapping]]] = ..., review_request: _Optional[_Union[ReviewRequest, _Mapping]] = ...) -> None: ...

class ExternalCalls(_message.Message):
    __slots__ = ("team", "service", "calls")
    TEAM_FIELD_NUMBER: _ClassVar[int]
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    CALLS_FIELD_NUMBER: _ClassVar[int]
    team: str
    service: str
    calls: int
    def __init__(self, team: _Optional[str] = ..., service: _Optional[str] = ..., calls: _Optional[int] = ...) -> None: ...

class RunBriefRequest(_message.Message):
    __slots__ = ("brief", "idempotency_key")
    BRIEF_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    brief: Brief
    idempotency_key: str
    def __init__(self, brief: _Optional[_Union[Brief, _Mapping]] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class RunBriefResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: BriefResult
    def __init__(self, result: _Optional[_Union[BriefResult, _Mapping]] = ...) -> None: ...

class StreamBriefRequest(_message.Message):
    __slots__ = ("brief", "stream_text", "idempotency_key")
    BRIEF_FIELD_NUMBER: _ClassVar[int]
    STREAM_TEXT_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    brief: Brief
    stream_text: bool
    idempotency_key: str
    def __init__(self, brief: _Optional[_Union[Brief, _Mapping]] = ..., stream_text: _Optional[bool] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class StreamBriefResponse(_message.Message):
    __slots__ = ("step", "artifact", "result", "text_delta", "text_withdrawn")
    STEP_FIELD_NUMBER: _ClassVar[int]
    ARTIFACT_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    TEXT_DELTA_FIELD_NUMBER: _ClassVar[int]
    TEXT_WITHDRAWN_FIELD_NUMBER: _ClassVar[int]
    step: AgentStep
    artifact: Artifact
    result: BriefResult
    text_delta: TextDelta
    text_withdrawn: TextWithdrawn
    def __init__(self, step: _Optional[_Union[AgentStep, _Mapping]] = ..., artifact: _Optional[_Union[Artifact, _Mapping]] = ..., result: _Optional[_Union[BriefResult, _Mapping]] = ..., text_delta: _Optional[_Union[TextDelta, _Mapping]] = ..., text_withdrawn: _Optional[_Union[TextWithdrawn, _Mapping]] = ...) -> None: ...

class CancelWorkflowRequest(_message.Message):
    __slots__ = ("workflow_id",)
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    workflow_id: str
    def __init__(self, workflow_id: _Optional[str] = ...) -> None: ...

class CancelWorkflowResponse(_message.Message):
    __slots__ = ("team", "cancelled_effects")
    TEAM_FIELD_NUMBER: _ClassVar[int]
    CANCELLED_EFFECTS_FIELD_NUMBER: _ClassVar[int]
    team: str
    cancelled_effects: _containers.RepeatedCompositeFieldContainer[CancelledEffect]
    def __init__(self, team: _Optional[str] = ..., cancelled_effects: _Optional[_Iterable[_Union[CancelledEffect, _Mapping]]] = ...) -> None: ...

class CancelledEffect(_message.Message):
    __slots__ = ("kind", "id")
    KIND_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    kind: str
    id: str
    def __init__(self, kind: _Optional[str] = ..., id: _Optional[str] = ...) -> None: ...

class EraseWorkflowRequest(_message.Message):
    __slots__ = ("workflow_id",)
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    workflow_id: str
    def __init__(self, workflow_id: _Optional[str] = ...) -> None: ...

class EraseWorkflowResponse(_message.Message):
    __slots__ = ("team", "erased_records")
    TEAM_FIELD_NUMBER: _ClassVar[int]
    ERASED_RECORDS_FIELD_NUMBER: _ClassVar[int]
    team: str
    erased_records: int
    def __init__(self, team: _Optional[str] = ..., erased_records: _Optional[int] = ...) -> None: ...

class EraseTenantRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class EraseTenantResponse(_message.Message):
    __slots__ = ("team", "erased_records")
    TEAM_FIELD_NUMBER: _ClassVar[int]
    ERASED_RECORDS_FIELD_NUMBER: _ClassVar[int]
    team: str
    erased_records: int
    def __init__(self, team: _Optional[str] = ..., erased_records: _Optional[int] = ...) -> None: ...

class SetTenantSecretsRequest(_message.Message):
    __slots__ = ("secrets",)
    class SecretsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    SECRETS_FIELD_NUMBER: _ClassVar[int]
    secrets: _containers.ScalarMap[str, str]
    def __init__(self, secrets: _Optional[_Mapping[str, str]] = ...) -> None: ...

class SetTenantSecretsResponse(_message.Message):
    __slots__ = ("team", "names")
    TEAM_FIELD_NUMBER: _ClassVar[int]
    NAMES_FIELD_NUMBER: _ClassVar[int]
    team: str
    names: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, team: _Optional[str] = ..., names: _Optional[_Iterable[str]] = ...) -> None: ...

class ListToolsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Tool(_message.Message):
    __slots__ = ("name", "description", "input_schema_json", "service", "configured", "status", "agents", "team")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    INPUT_SCHEMA_JSON_FIELD_NUMBER: _ClassVar[int]
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    CONFIGURED_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    AGENTS_FIELD_NUMBER: _ClassVar[int]
    TEAM_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    input_schema_json: str
    service: str
    configured: bool
    status: str
    agents: _containers.RepeatedScalarFieldContainer[str]
    team: str
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., input_schema_json: _Optional[str] = ..., service: _Optional[str] = ..., configured: _Optional[bool] = ..., status: _Optional[str] = ..., agents: _Optional[_Iterable[str]] = ..., team: _Optional[str] = ...) -> None: ...

class ListToolsResponse(_message.Message):
    __slots__ = ("tools",)
    TOOLS_FIELD_NUMBER: _ClassVar[int]
    tools: _containers.RepeatedCompositeFieldContainer[Tool]
    def __init__(self, tools: _Optional[_Iterable[_Union[Tool, _Mapping]]] = ...) -> None: ...

class AuditEvent(_message.Message):
    __slots__ = ("id", "actor", "action", "resource", "time", "details")
    class DetailsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    DETAILS_FIELD_NUMBER: _ClassVar[int]
    id: str
    actor: str
    action: str
    resource: str
    time: _timestamp_pb2.Timestamp
    details: _containers.ScalarMap[str, str]
    def __init__(self, id: _Optional[str] = ..., actor: _Optional[str] = ..., action: _Optional[str] = ..., resource: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., details: _Optional[_Mapping[str, str]] = ...) -> None: ...

class ListAuditEventsRequest(_message.Message):
    __slots__ = ("page_size", "before_time", "before_id")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    BEFORE_TIME_FIELD_NUMBER: _ClassVar[int]
    BEFORE_ID_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    before_time: _timestamp_pb2.Timestamp
    before_id: str
    def __init__(self, page_size: _Optional[int] = ..., before_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., before_id: _Optional[str] = ...) -> None: ...

class ListAuditEventsResponse(_message.Message):
    __slots__ = ("team", "audit_events")
    TEAM_FIELD_NUMBER: _ClassVar[int]
    AUDIT_EVENTS_FIELD_NUMBER: _ClassVar[int]
    team: str
    audit_events: _containers.RepeatedCompositeFieldContainer[AuditEvent]
    def __init__(self, team: _Optional[str] = ..., audit_events: _Optional[_Iterable[_Union[AuditEvent, _Mapping]]] = ...) -> None: ...
