"""``marketing.content.v1.ContentService``: the content team's SEO analyser for other internal services."""

from __future__ import annotations

import grpc
from marketing.content.v1 import content_pb2, content_pb2_grpc

from common.errors import FieldViolation
from common.validation import check_text, raise_if_invalid
from content_service.seo import SeoReport, analyze_seo

MAX_TEXT_CHARS = 200_000
MAX_KEYWORDS = 20


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
    )


class ContentServicer(content_pb2_grpc.ContentServiceServicer):
    """Direct access to the SEO analyser."""

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
        raise_if_invalid(problems)
        report = analyze_seo(request.text, list(request.keywords), request.title, request.meta_description)
        return content_pb2.AnalyzeSeoResponse(report=report_to_proto(report))
