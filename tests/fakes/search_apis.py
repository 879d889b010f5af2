"""Fake Tavily and Serper search APIs: their paths, auth headers, request and response shapes and error bodies."""

from __future__ import annotations

import re
from typing import Any

from tests.fakes.http_api import FakeApi, Recorded, Response

__all__ = ["FakeSerper", "FakeTavily", "SearchHit"]

SearchHit = tuple[str, str, str]  # title, url, snippet


class FakeTavily(FakeApi):
    """``POST /search`` with ``Authorization: Bearer <key>``; answers ``{query, results, response_time}``."""

    def __init__(self, hits: list[SearchHit], api_key: str = "tvly-test") -> None:
        super().__init__()
        self.hits = hits
        self.api_key = api_key
        self.route("POST", "/search", self._search)

    def _search(self, request: Recorded, match: re.Match[str]) -> Response:
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return Response(401, {"detail": {"error": "Unauthorized: missing or invalid API key."}})
        body: dict[str, Any] = request.json() or {}
        if not isinstance(body.get("query"), str) or not body["query"].strip():
            return Response(400, {"detail": {"error": "Query is missing."}})
        count = int(body.get("max_results") or 5)
        results = [
            {"title": t, "url": u, "content": s, "score": round(0.9 - n * 0.1, 2), "raw_content": None}
            for n, (t, u, s) in enumerate(self.hits[:count])
        ]
        return Response(
            200,
            {"query": body["query"], "follow_up_questions": None, "answer": None, "images": [],
             "results": results, "response_time": 0.42},
        )  # fmt: skip


class FakeSerper(FakeApi):
    """``POST /search`` with ``X-API-KEY``; answers ``{searchParameters, organic: [{title, link, snippet, position}]}``."""

    def __init__(self, hits: list[SearchHit], api_key: str = "serper-test") -> None:
        super().__init__()
        self.hits = hits
        self.api_key = api_key
        self.route("POST", "/search", self._search)

    def _search(self, request: Recorded, match: re.Match[str]) -> Response:
        if request.headers.get("x-api-key") != self.api_key:
            return Response(403, {"message": "Unauthorized.", "statusCode": 403})
        body: dict[str, Any] = request.json() or {}
        count = int(body.get("num") or 10)
        organic = [
            {"title": t, "link": u, "snippet": s, "position": n}
            for n, (t, u, s) in enumerate(self.hits[:count], start=1)
        ]
        return Response(
            200,
            {"searchParameters": {"q": body.get("q"), "type": "search", "num": count, "engine": "google"},
             "organic": organic, "credits": 1},
        )  # fmt: skip
