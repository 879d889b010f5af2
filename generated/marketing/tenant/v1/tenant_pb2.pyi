from marketing.social.v1 import social_pb2 as _social_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ApprovalPolicy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    APPROVAL_POLICY_UNSPECIFIED: _ClassVar[ApprovalPolicy]
    APPROVAL_POLICY_NONE: _ClassVar[ApprovalPolicy]
    APPROVAL_POLICY_BEFORE_PUBLISHING: _ClassVar[ApprovalPolicy]
    APPROVAL_POLICY_BEFORE_CONTENT_LEAVES: _ClassVar[ApprovalPolicy]
APPROVAL_POLICY_UNSPECIFIED: ApprovalPolicy
APPROVAL_POLICY_NONE: ApprovalPolicy
APPROVAL_POLICY_BEFORE_PUBLISHING: ApprovalPolicy
APPROVAL_POLICY_BEFORE_CONTENT_LEAVES: ApprovalPolicy

class TenantProfile(_message.Message):
    __slots__ = ("brand", "enabled_platforms", "time_zone", "posting_windows", "models", "enabled_tools", "knowledge_documents", "review")
    BRAND_FIELD_NUMBER: _ClassVar[int]
    ENABLED_PLATFORMS_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    POSTING_WINDOWS_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    ENABLED_TOOLS_FIELD_NUMBER: _ClassVar[int]
    KNOWLEDGE_DOCUMENTS_FIELD_NUMBER: _ClassVar[int]
    REVIEW_FIELD_NUMBER: _ClassVar[int]
    brand: BrandProfile
    enabled_platforms: _containers.RepeatedScalarFieldContainer[_social_pb2.Platform]
    time_zone: str
    posting_windows: _containers.RepeatedCompositeFieldContainer[PostingWindow]
    models: ModelChoices
    enabled_tools: _containers.RepeatedScalarFieldContainer[str]
    knowledge_documents: _containers.RepeatedCompositeFieldContainer[KnowledgeDocument]
    review: ReviewSettings
    def __init__(self, brand: _Optional[_Union[BrandProfile, _Mapping]] = ..., enabled_platforms: _Optional[_Iterable[_Union[_social_pb2.Platform, str]]] = ..., time_zone: _Optional[str] = ..., posting_windows: _Optional[_Iterable[_Union[PostingWindow, _Mapping]]] = ..., models: _Optional[_Union[ModelChoices, _Mapping]] = ..., enabled_tools: _Optional[_Iterable[str]] = ..., knowledge_documents: _Optional[_Iterable[_Union[KnowledgeDocument, _Mapping]]] = ..., review: _Optional[_Union[ReviewSettings, _Mapping]] = ...) -> None: ...

class BrandProfile(_message.Message):
    __slots__ = ("voice", "audience", "banned_phrases", "required_disclosures", "default_hashtags", "banned_claims", "competitor_names", "max_hashtags", "allowed_hashtags", "allowed_link_domains", "links_forbidden")
    VOICE_FIELD_NUMBER: _ClassVar[int]
    AUDIENCE_FIELD_NUMBER: _ClassVar[int]
    BANNED_PHRASES_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_DISCLOSURES_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_HASHTAGS_FIELD_NUMBER: _ClassVar[int]
    BANNED_CLAIMS_FIELD_NUMBER: _ClassVar[int]
    COMPETITOR_NAMES_FIELD_NUMBER: _ClassVar[int]
    MAX_HASHTAGS_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_HASHTAGS_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_LINK_DOMAINS_FIELD_NUMBER: _ClassVar[int]
    LINKS_FORBIDDEN_FIELD_NUMBER: _ClassVar[int]
    voice: str
    audience: str
    banned_phrases: _containers.RepeatedScalarFieldContainer[str]
    required_disclosures: _containers.RepeatedScalarFieldContainer[str]
    default_hashtags: _containers.RepeatedScalarFieldContainer[str]
    banned_claims: _containers.RepeatedScalarFieldContainer[str]
    competitor_names: _containers.RepeatedScalarFieldContainer[str]
    max_hashtags: int
    allowed_hashtags: _containers.RepeatedScalarFieldContainer[str]
    allowed_link_domains: _containers.RepeatedScalarFieldContainer[str]
    links_forbidden: bool
    def __init__(self, voice: _Optional[str] = ..., audience: _Optional[str] = ..., banned_phrases: _Optional[_Iterable[str]] = ..., required_disclosures: _Optional[_Iterable[str]] = ..., default_hashtags: _Optional[_Iterable[str]] = ..., banned_claims: _Optional[_Iterable[str]] = ..., competitor_names: _Optional[_Iterable[str]] = ..., max_hashtags: _Optional[int] = ..., allowed_hashtags: _Optional[_Iterable[str]] = ..., allowed_link_domains: _Optional[_Iterable[str]] = ..., links_forbidden: _Optional[bool] = ...) -> None: ...

class ReviewSettings(_message.Message):
    __slots__ = ("policy", "required_approvals", "allow_self_approval")
    POLICY_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_APPROVALS_FIELD_NUMBER: _ClassVar[int]
    ALLOW_SELF_APPROVAL_FIELD_NUMBER: _ClassVar[int]
    policy: ApprovalPolicy
    required_approvals: int
    allow_self_approval: bool
    def __init__(self, policy: _Optional[_Union[ApprovalPolicy, str]] = ..., required_approvals: _Optional[int] = ..., allow_self_approval: _Optional[bool] = ...) -> None: ...

class PostingWindow(_message.Message):
    __slots__ = ("platform", "weekdays", "start_hour", "end_hour")
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    WEEKDAYS_FIELD_NUMBER: _ClassVar[int]
    START_HOUR_FIELD_NUMBER: _ClassVar[int]
    END_HOUR_FIELD_NUMBER: _ClassVar[int]
    platform: _social_pb2.Platform
    weekdays: _containers.RepeatedScalarFieldContainer[int]
    start_hour: int
    end_hour: int
    def __init__(self, platform: _Optional[_Union[_social_pb2.Platform, str]] = ..., weekdays: _Optional[_Iterable[int]] = ..., start_hour: _Optional[int] = ..., end_hour: _Optional[int] = ...) -> None: ...

class ModelChoices(_message.Message):
    __slots__ = ("router_model", "worker_model")
    ROUTER_MODEL_FIELD_NUMBER: _ClassVar[int]
    WORKER_MODEL_FIELD_NUMBER: _ClassVar[int]
    router_model: str
    worker_model: str
    def __init__(self, router_model: _Optional[str] = ..., worker_model: _Optional[str] = ...) -> None: ...

class KnowledgeDocument(_message.Message):
    __slots__ = ("id", "title", "body")
    ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    id: str
    title: str
    body: str
    def __init__(self, id: _Optional[str] = ..., title: _Optional[str] = ..., body: _Optional[str] = ...) -> None: ...
