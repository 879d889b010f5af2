"""``marketing.research.v1.ResearchService``: the research team's tools for other internal services."""

from __future__ import annotations

import grpc
from marketing.research.v1 import research_pb2, research_pb2_grpc

from common.validation import check_range, check_text, raise_if_invalid
from research_service.knowledge_base import KnowledgeBase

DEFAULT_MAX_RESULTS = 5


class ResearchServicer(research_pb2_grpc.ResearchServiceServicer):
    """Direct access to the knowledge base search: the shared documents only, whoever the caller is. A tenant's
    own documents travel with its briefs (``TenantProfile.knowledge_documents``) and are searched only inside
    that tenant's team runs; this service keeps none of them."""

    def __init__(self, knowledge_base: KnowledgeBase) -> None:
        self.knowledge_base = knowledge_base

    async def SearchKnowledgeBase(
        self, request: research_pb2.SearchKnowledgeBaseRequest, context: grpc.aio.ServicerContext
    ) -> research_pb2.SearchKnowledgeBaseResponse:
        problems = check_text("query", request.query, max_chars=1000)
        if request.max_results:
            problems += check_range("max_results", request.max_results, 1, 50)
        raise_if_invalid(problems)
        hits = self.knowledge_base.search(request.query, request.max_results or DEFAULT_MAX_RESULTS)
        return research_pb2.SearchKnowledgeBaseResponse(
            results=[
                research_pb2.SearchResult(
                    document_id=h.document_id,
                    title=h.title,
                    source=h.source,
                    snippet=h.snippet,
                    score=h.score,
                )
                for h in hits
            ]
        )
