"""``marketing.content.v1.ContentService``: the content team's SEO analyser for other internal services."""

from __future__ import annotations

import grpc
from marketing.content.v1 import content_pb2, content_pb2_grpc

from common.errors import FieldViolation
from common.validation import check_text, raise_if_invalid
from content_service.seo import SeoReport, analyze_seo

MAX_TEXT_CHARS = 200_000
MAX_KEYWORDS = 20
MAX_RESEARCH_TEXTS = 20
MAX_RESEARCH_TEXT_CHARS = 100_000


def report_to_proto(report: SeoReport) -> content_pb2.SeoReport:
    """SEO report to protobuf."""
    return content_pb2.SeoReport(
        word_count=report.word_count,
        sentence_count=report.sentence_count,
        flesch_reading_ease=report.flesch_reading_ease,
        flesch_kincaid_grade=report.flesch_kincaid_grade,
        title=report.title,
        title_length=report.title_length,
        meta_description=report.meta_description,
        meta_description_length=report.meta_description_length,
        keyword_densities=[
            content_pb2.KeywordDensity(
                keyword=k.keyword, occurrences=k.occurrences, density_percent=k.density_percent
            )
            for k in report.keyword_densities
        ],
        headings=[content_pb2.Heading(level=h.level, text=h.text) for h in report.headings],
        issues=list(report.issues),
        score=report.score,
        keyword_suggestions=[
            content_pb2.KeywordSuggestion(
                keyword=k.keyword, research_count=k.research_count, article_count=k.article_count
            )
            for k in report.keyword_suggestions
        ],
    )


class ContentServicer(content_pb2_grpc.ContentServiceServicer):
    """Direct access to the SEO analyser (with keyword suggestions from research texts)."""

    async def AnalyzeSeo(
        self, request: content_pb2.AnalyzeSeoRequest, context: grpc.aio.ServicerContext
    ) -> content_pb2.AnalyzeSeoResponse:
        problems = check_text("text", request.text, max_chars=MAX_TEXT_CHARS)
        problems += check_text("title", request.title, max_chars=500, required=False)
        problems += check_text("meta_description", request.meta_description, max_chars=1000, required=False)
        if len(request.keywords) > MAX_KEYWORDS:
            problems.append(FieldViolation("keywords", f"at most {MAX_KEYWORDS} keywords"))
        for index, keyword in enumerate(request.keywords):
            problems += check_text(f"keywords[{index}]", keyword, max_chars=100)
        if len(request.research_texts) > MAX_RESEARCH_TEXTS:
            problems.append(FieldViolation("research_texts", f"at most {MAX_RESEARCH_TEXTS} texts"))
        for index, research in enumerate(request.research_texts[:MAX_RESEARCH_TEXTS]):
            problems += check_text(f"research_texts[{index}]", research, max_chars=MAX_RESEARCH_TEXT_CHARS)
        raise_if_invalid(problems)
        report = analyze_seo(
            request.text,
            list(request.keywords),
            request.title,
            request.meta_description,
            research_texts=list(request.research_texts),
        )
        return content_pb2.AnalyzeSeoResponse(report=report_to_proto(report))
