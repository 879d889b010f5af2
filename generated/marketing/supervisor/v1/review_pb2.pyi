import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from marketing.team.v1 import team_pb2 as _team_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ReviewStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REVIEW_STATUS_UNSPECIFIED: _ClassVar[ReviewStatus]
    REVIEW_STATUS_PENDING: _ClassVar[ReviewStatus]
    REVIEW_STATUS_APPROVED: _ClassVar[ReviewStatus]
    REVIEW_STATUS_CHANGES_REQUESTED: _ClassVar[ReviewStatus]
    REVIEW_STATUS_REJECTED: _ClassVar[ReviewStatus]
    REVIEW_STATUS_EXPIRED: _ClassVar[ReviewStatus]

class FindingSeverity(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FINDING_SEVERITY_UNSPECIFIED: _ClassVar[FindingSeverity]
    FINDING_SEVERITY_WARNING: _ClassVar[FindingSeverity]
    FINDING_SEVERITY_FLAGGED: _ClassVar[FindingSeverity]
REVIEW_STATUS_UNSPECIFIED: ReviewStatus
REVIEW_STATUS_PENDING: ReviewStatus
REVIEW_STATUS_APPROVED: ReviewStatus
REVIEW_STATUS_CHANGES_REQUESTED: ReviewStatus
REVIEW_STATUS_REJECTED: ReviewStatus
REVIEW_STATUS_EXPIRED: ReviewStatus
FINDING_SEVERITY_UNSPECIFIED: FindingSeverity
FINDING_SEVERITY_WARNING: FindingSeverity
FINDING_SEVERITY_FLAGGED: FindingSeverity

class Finding(_message.Message):
    __slots__ = ("rule", "message", "severity")
    RULE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    rule: str
    message: str
    severity: FindingSeverity
    def __init__(self, rule: _Optional[str] = ..., message: _Optional[str] = ..., severity: _Optional[_Union[FindingSeverity, str]] = ...) -> None: ...

class ReviewItemView(_message.Message):
    __slots__ = ("item", "findings", "flagged", "approved_text", "approved_digest")
    ITEM_FIELD_NUMBER: _ClassVar[int]
    FINDINGS_FIELD_NUMBER: _ClassVar[int]
    FLAGGED_FIELD_NUMBER: _ClassVar[int]
    APPROVED_TEXT_FIELD_NUMBER: _ClassVar[int]
    APPROVED_DIGEST_FIELD_NUMBER: _ClassVar[int]
    item: _team_pb2.ReviewItem
    findings: _containers.RepeatedCompositeFieldContainer[Finding]
    flagged: bool
    approved_text: str
    approved_digest: str
    def __init__(self, item: _Optional[_Union[_team_pb2.ReviewItem, _Mapping]] = ..., findings: _Optional[_Iterable[_Union[Finding, _Mapping]]] = ..., flagged: _Optional[bool] = ..., approved_text: _Optional[str] = ..., approved_digest: _Optional[str] = ...) -> None: ...

class Approval(_message.Message):
    __slots__ = ("reviewer", "approve_time", "override_flags")
    REVIEWER_FIELD_NUMBER: _ClassVar[int]
    APPROVE_TIME_FIELD_NUMBER: _ClassVar[int]
    OVERRIDE_FLAGS_FIELD_NUMBER: _ClassVar[int]
    reviewer: str
    approve_time: _timestamp_pb2.Timestamp
    override_flags: bool
    def __init__(self, reviewer: _Optional[str] = ..., approve_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., override_flags: _Optional[bool] = ...) -> None: ...

class Review(_message.Message):
    __slots__ = ("id", "workflow_id", "team", "round", "status", "items", "submitted_by", "required_approvals", "approvals", "comments", "decided_by", "create_time", "decide_time", "expire_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    TEAM_FIELD_NUMBER: _ClassVar[int]
    ROUND_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    SUBMITTED_BY_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_APPROVALS_FIELD_NUMBER: _ClassVar[int]
    APPROVALS_FIELD_NUMBER: _ClassVar[int]
    COMMENTS_FIELD_NUMBER: _ClassVar[int]
    DECIDED_BY_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    DECIDE_TIME_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    workflow_id: str
    team: str
    round: int
    status: ReviewStatus
    items: _containers.RepeatedCompositeFieldContainer[ReviewItemView]
    submitted_by: str
    required_approvals: int
    approvals: _containers.RepeatedCompositeFieldContainer[Approval]
    comments: str
    decided_by: str
    create_time: _timestamp_pb2.Timestamp
    decide_time: _timestamp_pb2.Timestamp
    expire_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., workflow_id: _Optional[str] = ..., team: _Optional[str] = ..., round: _Optional[int] = ..., status: _Optional[_Union[ReviewStatus, str]] = ..., items: _Optional[_Iterable[_Union[ReviewItemView, _Mapping]]] = ..., submitted_by: _Optional[str] = ..., required_approvals: _Optional[int] = ..., approvals: _Optional[_Iterable[_Union[Approval, _Mapping]]] = ..., comments: _Optional[str] = ..., decided_by: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., decide_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListReviewsRequest(_message.Message):
    __slots__ = ("status", "max_age", "page_size", "page_token")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    MAX_AGE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    status: ReviewStatus
    max_age: _duration_pb2.Duration
    page_size: int
    page_token: str
    def __init__(self, status: _Optional[_Union[ReviewStatus, str]] = ..., max_age: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListReviewsResponse(_message.Message):
    __slots__ = ("reviews", "next_page_token")
    REVIEWS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    reviews: _containers.RepeatedCompositeFieldContainer[Review]
    next_page_token: str
    def __init__(self, reviews: _Optional[_Iterable[_Union[Review, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetReviewRequest(_message.Message):
    __slots__ = ("review_id",)
    REVIEW_ID_FIELD_NUMBER: _ClassVar[int]
    review_id: str
    def __init__(self, review_id: _Optional[str] = ...) -> None: ...

class GetReviewResponse(_message.Message):
    __slots__ = ("review",)
    REVIEW_FIELD_NUMBER: _ClassVar[int]
    review: Review
    def __init__(self, review: _Optional[_Union[Review, _Mapping]] = ...) -> None: ...

class ItemEdit(_message.Message):
    __slots__ = ("artifact_id", "text")
    ARTIFACT_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    artifact_id: str
    text: str
    def __init__(self, artifact_id: _Optional[str] = ..., text: _Optional[str] = ...) -> None: ...

class ApproveReviewRequest(_message.Message):
    __slots__ = ("review_id", "edits", "override_flags")
    REVIEW_ID_FIELD_NUMBER: _ClassVar[int]
    EDITS_FIELD_NUMBER: _ClassVar[int]
    OVERRIDE_FLAGS_FIELD_NUMBER: _ClassVar[int]
    review_id: str
    edits: _containers.RepeatedCompositeFieldContainer[ItemEdit]
    override_flags: bool
    def __init__(self, review_id: _Optional[str] = ..., edits: _Optional[_Iterable[_Union[ItemEdit, _Mapping]]] = ..., override_flags: _Optional[bool] = ...) -> None: ...

class ApproveReviewResponse(_message.Message):
    __slots__ = ("review",)
    REVIEW_FIELD_NUMBER: _ClassVar[int]
    review: Review
    def __init__(self, review: _Optional[_Union[Review, _Mapping]] = ...) -> None: ...

class RejectReviewRequest(_message.Message):
    __slots__ = ("review_id", "comments", "final")
    REVIEW_ID_FIELD_NUMBER: _ClassVar[int]
    COMMENTS_FIELD_NUMBER: _ClassVar[int]
    FINAL_FIELD_NUMBER: _ClassVar[int]
    review_id: str
    comments: str
    final: bool
    def __init__(self, review_id: _Optional[str] = ..., comments: _Optional[str] = ..., final: _Optional[bool] = ...) -> None: ...

class RejectReviewResponse(_message.Message):
    __slots__ = ("review",)
    REVIEW_FIELD_NUMBER: _ClassVar[int]
    review: Review
    def __init__(self, review: _Optional[_Union[Review, _Mapping]] = ...) -> None: ...

class RequestChangesRequest(_message.Message):
    __slots__ = ("review_id", "item_comments", "comments")
    REVIEW_ID_FIELD_NUMBER: _ClassVar[int]
    ITEM_COMMENTS_FIELD_NUMBER: _ClassVar[int]
    COMMENTS_FIELD_NUMBER: _ClassVar[int]
    review_id: str
    item_comments: _containers.RepeatedCompositeFieldContainer[_team_pb2.ItemComment]
    comments: str
    def __init__(self, review_id: _Optional[str] = ..., item_comments: _Optional[_Iterable[_Union[_team_pb2.ItemComment, _Mapping]]] = ..., comments: _Optional[str] = ...) -> None: ...

class RequestChangesResponse(_message.Message):
    __slots__ = ("review",)
    REVIEW_FIELD_NUMBER: _ClassVar[int]
    review: Review
    def __init__(self, review: _Optional[_Union[Review, _Mapping]] = ...) -> None: ...

class GetReviewSummaryRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ReviewFigures(_message.Message):
    __slots__ = ("team", "agent", "model", "decided_items", "approved_items", "approval_rate", "edited_items", "mean_edit_distance", "mean_seconds_to_decision", "rejection_reasons")
    TEAM_FIELD_NUMBER: _ClassVar[int]
    AGENT_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    DECIDED_ITEMS_FIELD_NUMBER: _ClassVar[int]
    APPROVED_ITEMS_FIELD_NUMBER: _ClassVar[int]
    APPROVAL_RATE_FIELD_NUMBER: _ClassVar[int]
    EDITED_ITEMS_FIELD_NUMBER: _ClassVar[int]
    MEAN_EDIT_DISTANCE_FIELD_NUMBER: _ClassVar[int]
    MEAN_SECONDS_TO_DECISION_FIELD_NUMBER: _ClassVar[int]
    REJECTION_REASONS_FIELD_NUMBER: _ClassVar[int]
    team: str
    agent: str
    model: str
    decided_items: int
    approved_items: int
    approval_rate: float
    edited_items: int
    mean_edit_distance: float
    mean_seconds_to_decision: float
    rejection_reasons: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, team: _Optional[str] = ..., agent: _Optional[str] = ..., model: _Optional[str] = ..., decided_items: _Optional[int] = ..., approved_items: _Optional[int] = ..., approval_rate: _Optional[float] = ..., edited_items: _Optional[int] = ..., mean_edit_distance: _Optional[float] = ..., mean_seconds_to_decision: _Optional[float] = ..., rejection_reasons: _Optional[_Iterable[str]] = ...) -> None: ...

class GetReviewSummaryResponse(_message.Message):
    __slots__ = ("figures",)
    FIGURES_FIELD_NUMBER: _ClassVar[int]
    figures: _containers.RepeatedCompositeFieldContainer[ReviewFigures]
    def __init__(self, figures: _Optional[_Iterable[_Union[ReviewFigures, _Mapping]]] = ...) -> None: ...
