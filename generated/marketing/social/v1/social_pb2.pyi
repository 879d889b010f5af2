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
PLATFORM_UNSPECIFIED: Platform
PLATFORM_X: Platform
PLATFORM_LINKEDIN: Platform

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
