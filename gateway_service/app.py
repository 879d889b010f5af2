"""The gateway's FastAPI application: REST under /v1/, /openapi.json, /docs, /graphql, /console, /healthz."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import grpc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from common.config import Settings
from common.logging import get_logger
from gateway_service import console, docs, graphql_api, hardening, rest
from gateway_service.errors import FieldViolationModel, grpc_problem, problem_response
from gateway_service.grpc_client import Supervisor, open_channel
from gateway_service.oidc import OidcClient
from gateway_service.session import SessionSealer

log = get_logger(__name__)

DESCRIPTION = """HTTP/JSON gateway of the marketing agent teams: every operation calls the supervisor's gRPC API
with the caller's credential (`Authorization: Bearer <API key or OAuth2 access token>`). Errors are RFC 9457
problem details; the supervisor's per-tenant and per-key rate limits and quotas answer 429 with `Retry-After`."""


def create_app(settings: Settings, channel: grpc.aio.Channel | None = None) -> FastAPI:
    """The application; it opens its own channel to the supervisor unless one is given (tests)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = channel is None
        opened = open_channel(settings) if own else channel
        assert opened is not None
        app.state.supervisor = Supervisor(
            opened, settings.gateway_call_timeout_s, settings.gateway_wait_timeout_s
        )
        yield
        if app.state.oidc is not None:
            await app.state.oidc.aclose()
        if own:
            await opened.close()

    app = FastAPI(
        title="Marketing agent teams gateway",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_url="/openapi.json",
        docs_url=None,  # docs.install: Swagger UI from the installed package, not a CDN
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.sealer = SessionSealer(settings.gateway_session_secret)
    app.state.oidc = OidcClient.from_settings(settings)  # the console's sign-in through AUTH_ISSUER, or None
    _install_errors(app)
    hardening.install(app, settings)
    app.include_router(rest.router)
    app.include_router(graphql_api.router(settings), include_in_schema=False)
    app.include_router(console.router, include_in_schema=False)
    app.mount("/console/static", console.static_files(), name="console-static")
    docs.install(app)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/console", status_code=303)

    app.openapi = lambda: _openapi(app, settings)  # type: ignore[method-assign]
    return app


def _install_errors(app: FastAPI) -> None:
    """Every error as problem details; no traceback ever reaches a caller."""

    @app.exception_handler(grpc.aio.AioRpcError)
    async def on_grpc(_: Request, exc: grpc.aio.AioRpcError) -> JSONResponse:
        return grpc_problem(exc)

    @app.exception_handler(RequestValidationError)
    async def on_validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        violations = [
            FieldViolationModel(field=".".join(str(p) for p in e["loc"][1:]) or "body", description=e["msg"])
            for e in exc.errors()
        ]
        return problem_response(422, "the request is not valid", violations=violations)

    @app.exception_handler(StarletteHTTPException)
    async def on_http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem_response(exc.status_code, str(exc.detail), dict(exc.headers or {}))

    @app.exception_handler(console.SignInRequired)
    async def on_sign_in(_: Request, __: console.SignInRequired) -> RedirectResponse:
        return RedirectResponse("/console/sign-in", status_code=303)

    @app.exception_handler(PermissionError)
    async def on_forbidden(request: Request, exc: PermissionError) -> Response:
        return console.page(request, "error.html", 403, title="Forbidden", message=str(exc), signed_in=False)

    @app.exception_handler(Exception)
    async def on_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("gateway request failed", path=request.url.path)
        return problem_response(502, "the gateway could not complete the request")


def _openapi(app: FastAPI, settings: Settings) -> dict[str, Any]:
    """OpenAPI 3.1 with the bearer scheme, and OpenID Connect when ``AUTH_ISSUER`` is set."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
    requirements: list[dict[str, list[str]]] = [{"HTTPBearer": []}]
    if settings.auth_issuer:
        schemes["oauth2"] = {
            "type": "openIdConnect",
            "openIdConnectUrl": settings.auth_issuer.rstrip("/") + "/.well-known/openid-configuration",
        }
        requirements.append({"oauth2": ["marketing.tasks.read", "marketing.tasks.write"]})
    for path in schema["paths"].values():
        for operation in path.values():
            operation["security"] = requirements
    app.openapi_schema = schema
    return schema
