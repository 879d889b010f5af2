"""Edge hardening: security headers, a request size limit, the CORS allow-list, and the request metrics."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from opentelemetry import propagate
from opentelemetry.trace import SpanKind
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from common.config import Settings
from common.logging import get_logger
from common.telemetry import tracer
from gateway_service.errors import problem_response
from gateway_service.metrics import HttpMetrics

log = get_logger(__name__)

CONSOLE_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
# /docs sets its own policy, as strict but for its inline script's hash (gateway_service/docs.py). GraphiQL is off:
# /graphql takes POSTs from any GraphQL client.


def install(app: FastAPI, settings: Settings) -> None:
    """Add the middlewares: CORS only for ``GATEWAY_CORS_ORIGINS``, trace context, body limit, metrics, security
    headers."""
    if settings.gateway_cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.gateway_cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["authorization", "content-type", "last-event-id", "traceparent"],
        )
    app.add_middleware(TraceContext)  # every request continues its caller's trace
    app.add_middleware(BodyLimit, limit=settings.gateway_max_body_bytes)
    app.add_middleware(
        HttpMetrics
    )  # outermost of these: every answer is counted, a 413 or a CORS refusal too

    @app.middleware("http")
    async def harden(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.monotonic()
        response = await call_next(request)
        path = request.url.path
        if path != "/healthz":  # one JSON line per request (no query string: it may name people's data)
            log.info(
                "gateway_request",
                method=request.method,
                path=path,
                status=response.status_code,
                duration_ms=round((time.monotonic() - started) * 1000, 1),
            )
        response.headers.setdefault("Content-Security-Policy", CONSOLE_CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")  # no-referrer would make Origin "null"
        response.headers.setdefault("X-Frame-Options", "DENY")
        if path.startswith("/console"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response


class TraceContext:
    """ASGI middleware: continue the caller's W3C trace (``traceparent``) in a server span, so the gRPC client
    interceptors carry it on to the supervisor."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
        parent = propagate.extract(headers)
        name = f"{scope['method']} {scope['path']}"
        with tracer().start_as_current_span(name, context=parent, kind=SpanKind.SERVER):
            await self.app(scope, receive, send)


class BodyLimit:
    """ASGI middleware: a request body over ``limit`` bytes gets 413, whether it declares its length or is chunked
    (read up to the limit, then replayed to the app; never more than the limit in memory)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        length = headers.get("content-length")
        too_large = problem_response(413, f"the request body exceeds {self.limit} bytes")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            await too_large(scope, receive, send)
            return
        if length is not None or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)  # the server delivers at most content-length bytes
            return
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            size += len(message.get("body", b""))
            if size > self.limit:
                await too_large(scope, receive, send)
                return
            if message["type"] != "http.request" or not message.get("more_body", False):
                break
        replay = iter(messages)

        async def replayed() -> Message:
            return next(replay, None) or await receive()

        await self.app(scope, replayed, send)
