import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from marketing.team.v1 import team_pb2 as _team_pb2
from marketing.tenant.v1 import tenant_pb2 as _tenant_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class WorkflowStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    WORKFLOW_STATUS_UNSPECIFIED: _ClassVar[WorkflowStatus]
    WORKFLOW_STATUS_RUNNING: _ClassVar[WorkflowStatus]
    WORKFLOW_STATUS_COMPLETED: _ClassVar[WorkflowStatus]
    WORKFLOW_STATUS_PARTIAL: _ClassVar[WorkflowStatus]
    WORKFLOW_STATUS_FAILED: _ClassVar[WorkflowStatus]
    WORKFLOW_STATUS_DEGRADED: _ClassVar[WorkflowStatus]
    WORKFLOW_STATUS_CANCELLED: _ClassVar[WorkflowStatus]
    WORKFLOW_STATUS_BUDGET_EXCEEDED: _ClassVar[WorkflowStatus]
    WORKFLOW_STATUS_AWAITING_REVIEW: _ClassVar[WorkflowStatus]
    WORKFLOW_STATUS_QUEUED: _ClassVar[WorkflowStatus]

class Priority(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PRIORITY_UNSPECIFIED: _ClassVar[Priority]
    PRIORITY_LOW: _ClassVar[Priority]
    PRIORITY_NORMAL: _ClassVar[Priority]
    PRIORITY_HIGH: _ClassVar[Priority]
    PRIORITY_URGENT: _ClassVar[Priority]

class TeamRunStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TEAM_RUN_STATUS_UNSPECIFIED: _ClassVar[TeamRunStatus]
    TEAM_RUN_STATUS_SUCCEEDED: _ClassVar[TeamRunStatus]
    TEAM_RUN_STATUS_FAILED: _ClassVar[TeamRunStatus]
    TEAM_RUN_STATUS_CIRCUIT_OPEN: _ClassVar[TeamRunStatus]
    TEAM_RUN_STATUS_DEGRADED: _ClassVar[TeamRunStatus]
WORKFLOW_STATUS_UNSPECIFIED: WorkflowStatus
WORKFLOW_STATUS_RUNNING: WorkflowStatus
WORKFLOW_STATUS_COMPLETED: WorkflowStatus
WORKFLOW_STATUS_PARTIAL: WorkflowStatus
WORKFLOW_STATUS_FAILED: WorkflowStatus
WORKFLOW_STATUS_DEGRADED: WorkflowStatus
WORKFLOW_STATUS_CANCELLED: WorkflowStatus
WORKFLOW_STATUS_BUDGET_EXCEEDED: WorkflowStatus
WORKFLOW_STATUS_AWAITING_REVIEW: WorkflowStatus
WORKFLOW_STATUS_QUEUED: WorkflowStatus
PRIORITY_UNSPECIFIED: Priority
PRIORITY_LOW: Priority
PRIORITY_NORMAL: Priority
PRIORITY_HIGH: Priority
PRIORITY_URGENT: Priority
TEAM_RUN_STATUS_UNSPECIFIED: TeamRunStatus
TEAM_RUN_STATUS_SUCCEEDED: TeamRunStatus
TEAM_RUN_STATUS_FAILED: TeamRunStatus
TEAM_RUN_STATUS_CIRCUIT_OPEN: TeamRunStatus
TEAM_RUN_STATUS_DEGRADED: TeamRunStatus

class RoutingStep(_message.Message):
    __slots__ = ("index", "team", "next", "reasoning", "decision_source")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    TEAM_FIELD_NUMBER: _ClassVar[int]
    NEXT_FIELD_NUMBER: _ClassVar[int]
    REASONING_FIELD_NUMBER: _ClassVar[int]
    DECISION_SOURCE_FIELD_NUMBER: _ClassVar[int]
    index: int
    team: str
    next: str
    reasoning: str
    decision_source: _team_pb2.DecisionSource
    def __init__(self, index: _Optional[int] = ..., team: _Optional[str] = ..., next: _Optional[str] = ..., reasoning: _Optional[str] = ..., decision_source: _Optional[_Union[_team_pb2.DecisionSource, str]] = ...) -> None: ...

class TeamRun(_message.Message):
    __slots__ = ("team", "status", "summary", "error", "error_code", "attempts", "steps", "duration", "usage")
    TEAM_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ERROR_CODE_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    team: str
    status: TeamRunStatus
    summary: str
    error: str
    error_code: str
    attempts: int
    steps: _containers.RepeatedCompositeFieldContainer[_team_pb2.AgentStep]
    duration: _duration_pb2.Duration
    usage: _team_pb2.Usage
    def __init__(self, team: _Optional[str] = ..., status: _Optional[_Union[TeamRunStatus, str]] = ..., summary: _Optional[str] = ..., error: _Optional[str] = ..., error_code: _Optional[str] = ..., attempts: _Optional[int] = ..., steps: _Optional[_Iterable[_Union[_team_pb2.AgentStep, _Mapping]]] = ..., duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., usage: _Optional[_Union[_team_pb2.Usage, _Mapping]] = ...) -> None: ...

class Workflow(_message.Message):
    __slots__ = ("id", "task", "status", "routing_steps", "team_runs", "artifacts", "failed_teams", "summary", "create_time", "complete_time", "routing_usage", "usage", "warnings", "budget", "budget_exceeded", "external_calls", "review_id", "approval_policy", "priority", "request_id", "deliveries")
    ID_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ROUTING_STEPS_FIELD_NUMBER: _ClassVar[int]
    TEAM_RUNS_FIELD_NUMBER: _ClassVar[int]
    ARTIFACTS_FIELD_NUMBER: _ClassVar[int]
    FAILED_TEAMS_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    COMPLETE_TIME_FIELD_NUMBER: _ClassVar[int]
    ROUTING_USAGE_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    BUDGET_FIELD_NUMBER: _ClassVar[int]
    BUDGET_EXCEEDED_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_CALLS_FIELD_NUMBER: _ClassVar[int]
    REVIEW_ID_FIELD_NUMBER: _ClassVar[int]
    APPROVAL_POLICY_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    DELIVERIES_FIELD_NUMBER: _ClassVar[int]
    id: str
    task: str
    status: WorkflowStatus
    routing_steps: _containers.RepeatedCompositeFieldContainer[RoutingStep]
    team_runs: _containers.RepeatedCompositeFieldContainer[TeamRun]
    artifacts: _containers.RepeatedCompositeFieldContainer[_team_pb2.Artifact]
    failed_teams: _containers.RepeatedScalarFieldContainer[str]
    summary: str
    create_time: _timestamp_pb2.Timestamp
    complete_time: _timestamp_pb2.Timestamp
    routing_usage: _team_pb2.Usage
    usage: _team_pb2.Usage
    warnings: _containers.RepeatedScalarFieldContainer[str]
    budget: _team_pb2.Budget
    budget_exceeded: _team_pb2.BudgetExceeded
    external_calls: _containers.RepeatedCompositeFieldContainer[_team_pb2.ExternalCalls]
    review_id: str
    approval_policy: _tenant_pb2.ApprovalPolicy
    priority: Priority
    request_id: str
    deliveries: int
    def __init__(self, id: _Optional[str] = ..., task: _Optional[str] = ..., status: _Optional[_Union[WorkflowStatus, str]] = ..., routing_steps: _Optional[_Iterable[_Union[RoutingStep, _Mapping]]] = ..., team_runs: _Optional[_Iterable[_Union[TeamRun, _Mapping]]] = ..., artifacts: _Optional[_Iterable[_Union[_team_pb2.Artifact, _Mapping]]] = ..., failed_teams: _Optional[_Iterable[str]] = ..., summary: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., complete_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., routing_usage: _Optional[_Union[_team_pb2.Usage, _Mapping]] = ..., usage: _Optional[_Union[_team_pb2.Usage, _Mapping]] = ..., warnings: _Optional[_Iterable[str]] = ..., budget: _Optional[_Union[_team_pb2.Budget, _Mapping]] = ..., budget_exceeded: _Optional[_Union[_team_pb2.BudgetExceeded, _Mapping]] = ..., external_calls: _Optional[_Iterable[_Union[_team_pb2.ExternalCalls, _Mapping]]] = ..., review_id: _Optional[str] = ..., approval_policy: _Optional[_Union[_tenant_pb2.ApprovalPolicy, str]] = ..., priority: _Optional[_Union[Priority, str]] = ..., request_id: _Optional[str] = ..., deliveries: _Optional[int] = ...) -> None: ...

class RunTaskRequest(_message.Message):
    __slots__ = ("task", "budget", "approval_policy")
    TASK_FIELD_NUMBER: _ClassVar[int]
    BUDGET_FIELD_NUMBER: _ClassVar[int]
    APPROVAL_POLICY_FIELD_NUMBER: _ClassVar[int]
    task: str
    budget: _team_pb2.Budget
    approval_policy: _tenant_pb2.ApprovalPolicy
    def __init__(self, task: _Optional[str] = ..., budget: _Optional[_Union[_team_pb2.Budget, _Mapping]] = ..., approval_policy: _Optional[_Union[_tenant_pb2.ApprovalPolicy, str]] = ...) -> None: ...

class RunTaskResponse(_message.Message):
    __slots__ = ("workflow",)
    WORKFLOW_FIELD_NUMBER: _ClassVar[int]
    workflow: Workflow
    def __init__(self, workflow: _Optional[_Union[Workflow, _Mapping]] = ...) -> None: ...

class StreamTaskRequest(_message.Message):
    __slots__ = ("task", "budget", "approval_policy")
    TASK_FIELD_NUMBER: _ClassVar[int]
    BUDGET_FIELD_NUMBER: _ClassVar[int]
    APPROVAL_POLICY_FIELD_NUMBER: _ClassVar[int]
    task: str
    budget: _team_pb2.Budget
    approval_policy: _tenant_pb2.ApprovalPolicy
    def __init__(self, task: _Optional[str] = ..., budget: _Optional[_Union[_team_pb2.Budget, _Mapping]] = ..., approval_policy: _Optional[_Union[_tenant_pb2.ApprovalPolicy, str]] = ...) -> None: ...

class TeamStarted(_message.Message):
    __slots__ = ("team",)
    TEAM_FIELD_NUMBER: _ClassVar[int]
    team: str
    def __init__(self, team: _Optional[str] = ...) -> None: ...

class StreamTaskResponse(_message.Message):
    __slots__ = ("workflow_id", "sequence", "routing_step", "team_started", "agent_step", "artifact", "team_finished", "done", "text_delta", "text_withdrawn", "review_required")
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    ROUTING_STEP_FIELD_NUMBER: _ClassVar[int]
    TEAM_STARTED_FIELD_NUMBER: _ClassVar[int]
    AGENT_STEP_FIELD_NUMBER: _ClassVar[int]
    ARTIFACT_FIELD_NUMBER: _ClassVar[int]
    TEAM_FINISHED_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    TEXT_DELTA_FIELD_NUMBER: _ClassVar[int]
    TEXT_WITHDRAWN_FIELD_NUMBER: _ClassVar[int]
    REVIEW_REQUIRED_FIELD_NUMBER: _ClassVar[int]
    workflow_id: str
    sequence: int
    routing_step: RoutingStep
    team_started: TeamStarted
    agent_step: _team_pb2.AgentStep
    artifact: _team_pb2.Artifact
    team_finished: TeamRun
    done: Workflow
    text_delta: _team_pb2.TextDelta
    text_withdrawn: _team_pb2.TextWithdrawn
    review_required: ReviewRequired
    def __init__(self, workflow_id: _Optional[str] = ..., sequence: _Optional[int] = ..., routing_step: _Optional[_Union[RoutingStep, _Mapping]] = ..., team_started: _Optional[_Union[TeamStarted, _Mapping]] = ..., agent_step: _Optional[_Union[_team_pb2.AgentStep, _Mapping]] = ..., artifact: _Optional[_Union[_team_pb2.Artifact, _Mapping]] = ..., team_finished: _Optional[_Union[TeamRun, _Mapping]] = ..., done: _Optional[_Union[Workflow, _Mapping]] = ..., text_delta: _Optional[_Union[_team_pb2.TextDelta, _Mapping]] = ..., text_withdrawn: _Optional[_Union[_team_pb2.TextWithdrawn, _Mapping]] = ..., review_required: _Optional[_Union[ReviewRequired, _Mapping]] = ...) -> None: ...

class ReviewRequired(_message.Message):
    __slots__ = ("review_id", "team", "items")
    REVIEW_ID_FIELD_NUMBER: _ClassVar[int]
    TEAM_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    review_id: str
    team: str
    items: int
    def __init__(self, review_id: _Optional[str] = ..., team: _Optional[str] = ..., items: _Optional[int] = ...) -> None: ...

class AgentExecution(_message.Message):
    __slots__ = ("team", "agent", "step_index", "kind", "input", "output", "duration", "success", "error", "usage")
    TEAM_FIELD_NUMBER: _ClassVar[int]
    AGENT_FIELD_NUMBER: _ClassVar[int]
    STEP_INDEX_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    team: str
    agent: str
    step_index: int
    kind: str
    input: str
    output: str
    duration: _duration_pb2.Duration
    success: bool
    error: str
    usage: _team_pb2.Usage
    def __init__(self, team: _Optional[str] = ..., agent: _Optional[str] = ..., step_index: _Optional[int] = ..., kind: _Optional[str] = ..., input: _Optional[str] = ..., output: _Optional[str] = ..., duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., success: _Optional[bool] = ..., error: _Optional[str] = ..., usage: _Optional[_Union[_team_pb2.Usage, _Mapping]] = ...) -> None: ...

class GetWorkflowRequest(_message.Message):
    __slots__ = ("workflow_id",)
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    workflow_id: str
    def __init__(self, workflow_id: _Optional[str] = ...) -> None: ...

class GetWorkflowResponse(_message.Message):
    __slots__ = ("workflow", "agent_executions")
    WORKFLOW_FIELD_NUMBER: _ClassVar[int]
    AGENT_EXECUTIONS_FIELD_NUMBER: _ClassVar[int]
    workflow: Workflow
    agent_executions: _containers.RepeatedCompositeFieldContainer[AgentExecution]
    def __init__(self, workflow: _Optional[_Union[Workflow, _Mapping]] = ..., agent_executions: _Optional[_Iterable[_Union[AgentExecution, _Mapping]]] = ...) -> None: ...

class ListWorkflowsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "status")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    status: WorkflowStatus
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., status: _Optional[_Union[WorkflowStatus, str]] = ...) -> None: ...

class ListWorkflowsResponse(_message.Message):
    __slots__ = ("workflows", "next_page_token")
    WORKFLOWS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    workflows: _containers.RepeatedCompositeFieldContainer[Workflow]
    next_page_token: str
    def __init__(self, workflows: _Optional[_Iterable[_Union[Workflow, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ResumeWorkflowRequest(_message.Message):
    __slots__ = ("workflow_id", "budget")
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    BUDGET_FIELD_NUMBER: _ClassVar[int]
    workflow_id: str
    budget: _team_pb2.Budget
    def __init__(self, workflow_id: _Optional[str] = ..., budget: _Optional[_Union[_team_pb2.Budget, _Mapping]] = ...) -> None: ...

class ResumeWorkflowResponse(_message.Message):
    __slots__ = ("workflow",)
    WORKFLOW_FIELD_NUMBER: _ClassVar[int]
    workflow: Workflow
    def __init__(self, workflow: _Optional[_Union[Workflow, _Mapping]] = ...) -> None: ...

class CancelWorkflowRequest(_message.Message):
    __slots__ = ("workflow_id",)
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    workflow_id: str
    def __init__(self, workflow_id: _Optional[str] = ...) -> None: ...

class CancelWorkflowResponse(_message.Message):
    __slots__ = ("workflow", "cancelled_post_ids", "scheduled_posts_error")
    WORKFLOW_FIELD_NUMBER: _ClassVar[int]
    CANCELLED_POST_IDS_FIELD_NUMBER: _ClassVar[int]
    SCHEDULED_POSTS_ERROR_FIELD_NUMBER: _ClassVar[int]
    workflow: Workflow
    cancelled_post_ids: _containers.RepeatedScalarFieldContainer[str]
    scheduled_posts_error: str
    def __init__(self, workflow: _Optional[_Union[Workflow, _Mapping]] = ..., cancelled_post_ids: _Optional[_Iterable[str]] = ..., scheduled_posts_error: _Optional[str] = ...) -> None: ...

class ListToolsRequest(_message.Message):
    __slots__ = ("team",)
    TEAM_FIELD_NUMBER: _ClassVar[int]
    team: str
    def __init__(self, team: _Optional[str] = ...) -> None: ...

class TeamUnavailable(_message.Message):
    __slots__ = ("team", "code", "message")
    TEAM_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    team: str
    code: str
    message: str
    def __init__(self, team: _Optional[str] = ..., code: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class ListToolsResponse(_message.Message):
    __slots__ = ("tools", "unavailable_teams")
    TOOLS_FIELD_NUMBER: _ClassVar[int]
    UNAVAILABLE_TEAMS_FIELD_NUMBER: _ClassVar[int]
    tools: _containers.RepeatedCompositeFieldContainer[_team_pb2.Tool]
    unavailable_teams: _containers.RepeatedCompositeFieldContainer[TeamUnavailable]
    def __init__(self, tools: _Optional[_Iterable[_Union[_team_pb2.Tool, _Mapping]]] = ..., unavailable_teams: _Optional[_Iterable[_Union[TeamUnavailable, _Mapping]]] = ...) -> None: ...

class DeleteWorkflowRequest(_message.Message):
    __slots__ = ("workflow_id",)
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    workflow_id: str
    def __init__(self, workflow_id: _Optional[str] = ...) -> None: ...

class DeleteWorkflowResponse(_message.Message):
    __slots__ = ("erased_records", "unreachable_teams")
    ERASED_RECORDS_FIELD_NUMBER: _ClassVar[int]
    UNREACHABLE_TEAMS_FIELD_NUMBER: _ClassVar[int]
    erased_records: int
    unreachable_teams: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, erased_records: _Optional[int] = ..., unreachable_teams: _Optional[_Iterable[str]] = ...) -> None: ...

class SubmitTaskRequest(_message.Message):
    __slots__ = ("task", "priority", "request_id", "notify_url", "budget", "approval_policy")
    TASK_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    NOTIFY_URL_FIELD_NUMBER: _ClassVar[int]
    BUDGET_FIELD_NUMBER: _ClassVar[int]
    APPROVAL_POLICY_FIELD_NUMBER: _ClassVar[int]
    task: str
    priority: Priority
    request_id: str
    notify_url: str
    budget: _team_pb2.Budget
    approval_policy: _tenant_pb2.ApprovalPolicy
    def __init__(self, task: _Optional[str] = ..., priority: _Optional[_Union[Priority, str]] = ..., request_id: _Optional[str] = ..., notify_url: _Optional[str] = ..., budget: _Optional[_Union[_team_pb2.Budget, _Mapping]] = ..., approval_policy: _Optional[_Union[_tenant_pb2.ApprovalPolicy, str]] = ...) -> None: ...

class SubmitTaskResponse(_message.Message):
    __slots__ = ("workflow", "created")
    WORKFLOW_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    workflow: Workflow
    created: bool
    def __init__(self, workflow: _Optional[_Union[Workflow, _Mapping]] = ..., created: _Optional[bool] = ...) -> None: ...

class WatchWorkflowRequest(_message.Message):
    __slots__ = ("workflow_id", "cursor")
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    workflow_id: str
    cursor: str
    def __init__(self, workflow_id: _Optional[str] = ..., cursor: _Optional[str] = ...) -> None: ...

class WatchWorkflowResponse(_message.Message):
    __slots__ = ("cursor", "event")
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    cursor: str
    event: StreamTaskResponse
    def __init__(self, cursor: _Optional[str] = ..., event: _Optional[_Union[StreamTaskResponse, _Mapping]] = ...) -> None: ...

class DeadLetter(_message.Message):
    __slots__ = ("workflow_id", "tenant_id", "task", "priority", "reason", "deliveries", "dead_time")
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    DELIVERIES_FIELD_NUMBER: _ClassVar[int]
    DEAD_TIME_FIELD_NUMBER: _ClassVar[int]
    workflow_id: str
    tenant_id: str
    task: str
    priority: Priority
    reason: str
    deliveries: int
    dead_time: _timestamp_pb2.Timestamp
    def __init__(self, workflow_id: _Optional[str] = ..., tenant_id: _Optional[str] = ..., task: _Optional[str] = ..., priority: _Optional[_Union[Priority, str]] = ..., reason: _Optional[str] = ..., deliveries: _Optional[int] = ..., dead_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListDeadLettersRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListDeadLettersResponse(_message.Message):
    __slots__ = ("dead_letters", "next_page_token")
    DEAD_LETTERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    dead_letters: _containers.RepeatedCompositeFieldContainer[DeadLetter]
    next_page_token: str
    def __init__(self, dead_letters: _Optional[_Iterable[_Union[DeadLetter, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class RequeueDeadLetterRequest(_message.Message):
    __slots__ = ("workflow_id",)
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    workflow_id: str
    def __init__(self, workflow_id: _Optional[str] = ...) -> None: ...

class RequeueDeadLetterResponse(_message.Message):
    __slots__ = ("workflow",)
    WORKFLOW_FIELD_NUMBER: _ClassVar[int]
    workflow: Workflow
    def __init__(self, workflow: _Optional[_Union[Workflow, _Mapping]] = ...) -> None: ...
