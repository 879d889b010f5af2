"""Fake X API v2 and LinkedIn Posts API on loopback, speaking their real protocols.

X: ``POST /2/tweets`` with ``Authorization: Bearer``, JSON ``{"text"}``; 201 ``{"data": {"id", "text"}}``; errors
as ``{"title", "detail", "type", "status"}``. LinkedIn: ``POST /rest/posts`` with ``Authorization: Bearer``,
``LinkedIn-Version`` and ``X-Restli-Protocol-Version: 2.0.0``; 201 with an empty body and the post URN in
``x-restli-id``; errors as ``{"status", "serviceErrorCode", "code", "message"}``.
"""

from __future__ import annotations

import itertools
import re
import threading

from tests.fakes.http_api import FakeApi, Recorded, Response

X_TOKEN = "x-test-token"
LINKEDIN_TOKEN = "li-test-token"


def _unauthorized_x() -> Response:
    return Response(
        401,
        {"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"},
    )


class FakeX(FakeApi):
    """X API v2: creates posts (tweets) and remembers them."""

    def __init__(self, token: str = X_TOKEN) -> None:
        super().__init__()
        self.token = token
        self.posts: dict[str, str] = {}
        self._ids = itertools.count(1_860_000_000_000_000_001)
        self._id_lock = threading.Lock()
        self.route("POST", "/2/tweets", self._create)

    def _create(self, request: Recorded, match: re.Match[str]) -> Response:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return _unauthorized_x()
        body = request.json()
        if not isinstance(body, dict) or not isinstance(body.get("text"), str) or not body["text"]:
            return Response(
                400,
                {"errors": [{"message": "$.text: must not be empty"}], "title": "Invalid Request",
                 "detail": "One or more parameters to your request was invalid.",
                 "type": "https://api.twitter.com/2/problems/invalid-request"},
            )  # fmt: skip
        if body["text"] in self.posts.values():
            return Response(
                403,
                {"detail": "You are not allowed to create a Tweet with duplicate content.", "type": "about:blank",
                 "title": "Forbidden", "status": 403},
            )  # fmt: skip
        with self._id_lock:
            post_id = str(next(self._ids))
        self.posts[post_id] = body["text"]
        return Response(
            201, {"data": {"id": post_id, "text": body["text"], "edit_history_tweet_ids": [post_id]}}
        )

    def tweets(self) -> list[Recorded]:
        """Every ``POST /2/tweets`` received."""
        return self.calls("POST", "/2/tweets")


class FakeLinkedIn(FakeApi):
    """LinkedIn Posts API: creates posts and answers their URN in ``x-restli-id``."""

    def __init__(self, token: str = LINKEDIN_TOKEN) -> None:
        super().__init__()
        self.token = token
        self.posts: dict[str, dict] = {}
        self._ids = itertools.count(7_300_000_000_000_000_001)
        self._id_lock = threading.Lock()
        self.route("POST", "/rest/posts", self._create)

    def _create(self, request: Recorded, match: re.Match[str]) -> Response:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return Response(
                401,
                {"status": 401, "serviceErrorCode": 65600, "code": "INVALID_ACCESS_TOKEN",
                 "message": "Invalid access token"},
            )  # fmt: skip
        if not re.fullmatch(r"\d{6}", request.headers.get("linkedin-version", "")):
            return Response(
                426,
                {"status": 426, "code": "NONEXISTENT_VERSION", "message": "Requested version is not active"},
            )
        if request.headers.get("x-restli-protocol-version") != "2.0.0":
            return Response(400, {"status": 400, "message": "X-Restli-Protocol-Version 2.0.0 is required"})
        body = request.json()
        required = {"author", "commentary", "visibility", "distribution", "lifecycleState"}
        if (
            not isinstance(body, dict)
            or not required <= body.keys()
            or not body["author"].startswith("urn:li:")
        ):
            return Response(
                422,
                {"status": 422, "code": "UNPROCESSABLE_ENTITY",
                 "message": "ERROR :: /author :: is not a valid urn or a required field is missing"},
            )  # fmt: skip
        with self._id_lock:
            urn = f"urn:li:share:{next(self._ids)}"
        self.posts[urn] = body
        return Response(201, None, {"x-restli-id": urn, "x-linkedin-id": urn.rsplit(":", 1)[1]})

    def created(self) -> list[Recorded]:
        """Every ``POST /rest/posts`` received."""
        return self.calls("POST", "/rest/posts")
