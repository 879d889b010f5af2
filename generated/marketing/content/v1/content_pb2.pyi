from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AnalyzeSeoRequest(_message.Message):
    __slots__ = ("text", "keywords", "title", "meta_description", "research_texts")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    KEYWORDS_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    META_DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    RESEARCH_TEXTS_FIELD_NUMBER: _ClassVar[int]
    text: str
    keywords: _containers.RepeatedScalarFieldContainer[str]
    title: str
    meta_description: str
    research_texts: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, text: _Optional[str] = ..., keywords: _Optional[_Iterable[str]] = ..., title: _Optional[str] = ..., meta_description: _Optional[str] = ..., research_texts: _Optional[_Iterable[str]] = ...) -> None: ...

class KeywordDensity(_message.Message):
    __slots__ = ("keyword", "occurrences", "density_percent")
    KEYWORD_FIELD_NUMBER: _ClassVar[int]
    OCCURRENCES_FIELD_NUMBER: _ClassVar[int]
    DENSITY_PERCENT_FIELD_NUMBER: _ClassVar[int]
    keyword: str
    occurrences: int
    density_percent: float
    def __init__(self, keyword: _Optional[str] = ..., occurrences: _Optional[int] = ..., density_percent: _Optional[float] = ...) -> None: ...

class KeywordSuggestion(_message.Message):
    __slots__ = ("keyword", "research_count", "article_count")
    KEYWORD_FIELD_NUMBER: _ClassVar[int]
    RESEARCH_COUNT_FIELD_NUMBER: _ClassVar[int]
    ARTICLE_COUNT_FIELD_NUMBER: _ClassVar[int]
    keyword: str
    research_count: int
    article_count: int
    def __init__(self, keyword: _Optional[str] = ..., research_count: _Optional[int] = ..., article_count: _Optional[int] = ...) -> None: ...

class Heading(_message.Message):
    __slots__ = ("level", "text")
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    level: int
    text: str
    def __init__(self, level: _Optional[int] = ..., text: _Optional[str] = ...) -> None: ...

class SeoReport(_message.Message):
    __slots__ = ("word_count", "sentence_count", "flesch_reading_ease", "flesch_kincaid_grade", "title", "title_length", "meta_description", "meta_description_length", "keyword_densities", "headings", "issues", "score", "keyword_suggestions")
    WORD_COUNT_FIELD_NUMBER: _ClassVar[int]
    SENTENCE_COUNT_FIELD_NUMBER: _ClassVar[int]
    FLESCH_READING_EASE_FIELD_NUMBER: _ClassVar[int]
    FLESCH_KINCAID_GRADE_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    TITLE_LENGTH_FIELD_NUMBER: _ClassVar[int]
    META_DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    META_DESCRIPTION_LENGTH_FIELD_NUMBER: _ClassVar[int]
    KEYWORD_DENSITIES_FIELD_NUMBER: _ClassVar[int]
    HEADINGS_FIELD_NUMBER: _ClassVar[int]
    ISSUES_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    KEYWORD_SUGGESTIONS_FIELD_NUMBER: _ClassVar[int]
    word_count: int
    sentence_count: int
    flesch_reading_ease: float
    flesch_kincaid_grade: float
    title: str
    title_length: int
    meta_description: str
    meta_description_length: int
    keyword_densities: _containers.RepeatedCompositeFieldContainer[KeywordDensity]
    headings: _containers.RepeatedCompositeFieldContainer[Heading]
    issues: _containers.RepeatedScalarFieldContainer[str]
    score: int
    keyword_suggestions: _containers.RepeatedCompositeFieldContainer[KeywordSuggestion]
    def __init__(self, word_count: _Optional[int] = ..., sentence_count: _Optional[int] = ..., flesch_reading_ease: _Optional[float] = ..., flesch_kincaid_grade: _Optional[float] = ..., title: _Optional[str] = ..., title_length: _Optional[int] = ..., meta_description: _Optional[str] = ..., meta_description_length: _Optional[int] = ..., keyword_densities: _Optional[_Iterable[_Union[KeywordDensity, _Mapping]]] = ..., headings: _Optional[_Iterable[_Union[Heading, _Mapping]]] = ..., issues: _Optional[_Iterable[str]] = ..., score: _Optional[int] = ..., keyword_suggestions: _Optional[_Iterable[_Union[KeywordSuggestion, _Mapping]]] = ...) -> None: ...

class AnalyzeSeoResponse(_message.Message):
    __slots__ = ("report",)
    REPORT_FIELD_NUMBER: _ClassVar[int]
    report: SeoReport
    def __init__(self, report: _Optional[_Union[SeoReport, _Mapping]] = ...) -> None: ...
