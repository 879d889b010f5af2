import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Platform(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PLATFORM_UNSPECIFIED: _ClassVar[Platform]
    PLATFORM_X: _ClassVar[Platform]
    PLATFORM_LINKEDIN: _ClassVar[Platform]

class ScheduledPostStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SCHEDULED_POST_STATUS_UNSPECIFIED: _ClassVar[ScheduledPostStatus]
    SCHEDULED_POST_STATUS_SCHEDULED: _ClassVar[ScheduledPostStatus]
    SCHEDULED_POST_STATUS_PUBLISHING: _ClassVar[ScheduledPostStatus]
    SCHEDULED_POST_STATUS_PUBLISHED: _ClassVar[ScheduledPostStatus]
    SCHEDULED_POST_STATUS_FAILED: _ClassVar[ScheduledPostStatus]
    SCHEDULED_POST_STATUS_CANCELLED: _ClassVar[ScheduledPostStatus]
PLATFORM_UNSPECIFIED: Platform
PLATFORM_X: Platform
PLATFORM_LINKEDIN: Platform
SCHEDULED_POST_STATUS_UNSPECIFIED: ScheduledPostStatus
SCHEDULED_POST_STATUS_SCHEDULED: ScheduledPostStatus
SCHEDULED_POST_STATUS_PUBLISHING: ScheduledPostStatus
SCHEDULED_POST_STATUS_PUBLISHED: ScheduledPostStatus
SCHEDULED_POST_STATUS_FAILED: ScheduledPostStatus
SCHEDULED_POST_STATUS_CANCELLED: ScheduledPostStatus

class DraftPostRequest(_message.Message):
    __slots__ = ("platform", "text", "hashtags")
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    HASHTAGS_FIELD_NUMBER: _ClassVar[int]
    platform: Platform
    text: str
    hashtags: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, platform: _Optional[_Union[Platform, str]] = ..., text: _Optional[str] = ..., hashtags: _Optional[_Iterable[str]] = ...) -> None: ...

class Post(_message.Message):
    __slots__ = ("platform", "text", "length", "limit", "hashtags", "truncated")
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    LENGTH_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    HASHTAGS_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    platform: Platform
    text: str
    length: int
    limit: int
    hashtags: _containers.RepeatedScalarFieldContainer[str]
    truncated: bool
    def __init__(self, platform: _Optional[_Union[Platform, str]] = ..., text: _Optional[str] = ..., length: _Optional[int] = ..., limit: _Optional[int] = ..., hashtags: _Optional[_Iterable[str]] = ..., truncated: _Optional[bool] = ...) -> None: ...

class DraftPostResponse(_message.Message):
    __slots__ = ("post",)
    POST_FIELD_NUMBER: _ClassVar[int]
    post: Post
    def __init__(self, post: _Optional[_Union[Post, _Mapping]] = ...) -> None: ...

class ScheduledPost(_message.Message):
    __slots__ = ("id", "workflow_id", "artifact_id", "platform", "text", "scheduled_time", "status", "dry_run", "attempts", "claimed_by", "claim_time", "publish_time", "external_id", "external_url", "error", "outcome_unknown", "create_time", "update_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    ARTIFACT_ID_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    SCHEDULED_TIME_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    CLAIMED_BY_FIELD_NUMBER: _ClassVar[int]
    CLAIM_TIME_FIELD_NUMBER: _ClassVar[int]
    PUBLISH_TIME_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_ID_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_URL_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_UNKNOWN_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    workflow_id: str
    artifact_id: str
    platform: Platform
    text: str
    scheduled_time: _timestamp_pb2.Timestamp
    status: ScheduledPostStatus
    dry_run: bool
    attempts: int
    claimed_by: str
    claim_time: _timestamp_pb2.Timestamp
    publish_time: _timestamp_pb2.Timestamp
    external_id: str
    external_url: str
    error: str
    outcome_unknown: bool
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., workflow_id: _Optional[str] = ..., artifact_id: _Optional[str] = ..., platform: _Optional[_Union[Platform, str]] = ..., text: _Optional[str] = ..., scheduled_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., status: _Optional[_Union[ScheduledPostStatus, str]] = ..., dry_run: _Optional[bool] = ..., attempts: _Optional[int] = ..., claimed_by: _Optional[str] = ..., claim_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., publish_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., external_id: _Optional[str] = ..., external_url: _Optional[str] = ..., error: _Optional[str] = ..., outcome_unknown: _Optional[bool] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListScheduledPostsRequest(_message.Message):
    __slots__ = ("workflow_id", "status", "page_size", "page_token")
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    workflow_id: str
    status: ScheduledPostStatus
    page_size: int
    page_token: str
    def __init__(self, workflow_id: _Optional[str] = ..., status: _Optional[_Union[ScheduledPostStatus, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListScheduledPostsResponse(_message.Message):
    __slots__ = ("posts", "next_page_token")
    POSTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    posts: _containers.RepeatedCompositeFieldContainer[ScheduledPost]
    next_page_token: str
    def __init__(self, posts: _Optional[_Iterable[_Union[ScheduledPost, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ReschedulePostRequest(_message.Message):
    __slots__ = ("post_id", "publish_at")
    POST_ID_FIELD_NUMBER: _ClassVar[int]
    PUBLISH_AT_FIELD_NUMBER: _ClassVar[int]
    post_id: str
    publish_at: _timestamp_pb2.Timestamp
    def __init__(self, post_id: _Optional[str] = ..., publish_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ReschedulePostResponse(_message.Message):
    __slots__ = ("post",)
    POST_FIELD_NUMBER: _ClassVar[int]
    post: ScheduledPost
    def __init__(self, post: _Optional[_Union[ScheduledPost, _Mapping]] = ...) -> None: ...

class CancelScheduledPostRequest(_message.Message):
    __slots__ = ("post_id",)
    POST_ID_FIELD_NUMBER: _ClassVar[int]
    post_id: str
    def __init__(self, post_id: _Optional[str] = ...) -> None: ...

class CancelScheduledPostResponse(_message.Message):
    __slots__ = ("post",)
    POST_FIELD_NUMBER: _ClassVar[int]
    post: ScheduledPost
    def __init__(self, post: _Optional[_Union[ScheduledPost, _Mapping]] = ...) -> None: ...

class CancelWorkflowPostsRequest(_message.Message):
    __slots__ = ("workflow_id",)
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    workflow_id: str
    def __init__(self, workflow_id: _Optional[str] = ...) -> None: ...

class CancelWorkflowPostsResponse(_message.Message):
    __slots__ = ("posts",)
    POSTS_FIELD_NUMBER: _ClassVar[int]
    posts: _containers.RepeatedCompositeFieldContainer[ScheduledPost]
    def __init__(self, posts: _Optional[_Iterable[_Union[ScheduledPost, _Mapping]]] = ...) -> None: ...
