"""The gRPC server interceptor that authenticates each call, checks its scope and binds its principal.

Authentication runs inside the handler's own task (the handler is rewrapped), so ``acting_as(principal)`` holds
for the whole handler, unary or streaming, and the error statuses go through ``context.abort`` with a
``google.rpc.ErrorInfo`` (the server span records the code). Health and reflection need no credential; every
other method must be in the method -> scope table, else it is refused (fail closed).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from grpc_status import rpc_status
from opentelemetry import trace

from common.auth.authenticator import Authenticator
from common.auth.principal import Principal, Scope, acting_as
from common.errors import ConfigError, PermissionDenied, ServiceError
from common.interceptors import Behaviour, RequestT, ResponseT, rewrap_handler
from common.logging import get_logger

log = get_logger(__name__)

OPEN_METHOD_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")
"""Methods anyone may call: health checks and server reflection."""

TENANT_ATTRIBUTE = "marketing.tenant_id"
AUTH_METHOD_ATTRIBUTE = "marketing.auth.method"


def required_scopes_for(
    service: ServiceDescriptor, table: Mapping[str, Scope], *, default: Scope | None = None
) -> dict[str, Scope]:
    """The scope of each method of a service, keyed by full method name (``/package.Service/Method``).

    Args:
        service: The service's descriptor, e.g. ``supervisor_pb2.DESCRIPTOR.services_by_name["SupervisorService"]``.
        table: Scope per method name (``"RunTask"``).
        default: The scope of the methods the table does not name (e.g. ``Scope.ADMIN`` for a whole service).

    Raises:
        ConfigError: A method of the service has no scope, or the table names a method the service lacks.
    """
    names = [method.name for method in service.methods]
    unknown = sorted(set(table) - set(names))
    if unknown:
        raise ConfigError(
            f"scope table names methods {service.full_name} does not have: {', '.join(unknown)}"
        )
    scopes: dict[str, Scope] = {}
    missing: list[str] = []
    for name in names:
        scope = table.get(name, default)
        if scope is None:
            missing.append(name)
        else:
            scopes[f"/{service.full_name}/{name}"] = scope
    if missing:
        raise ConfigError(f"no scope for {service.full_name} methods: {', '.join(missing)}")
    return scopes


class AuthInterceptor(grpc.aio.ServerInterceptor):
    """Authenticates every call except health and reflection, then checks the method's scope.

    No or bad credentials: ``UNAUTHENTICATED``; a method missing from the table (``method_not_allowed``) or a
    caller without its scope (``missing_scope``): ``PERMISSION_DENIED``. Both carry a ``google.rpc.ErrorInfo``.
    Place it after the OpenTelemetry interceptor so the span it annotates is the call's server span.

    Args:
        authenticator: Turns the ``authorization`` metadata into a principal.
        required_scopes: Scope per full method name (build it with ``required_scopes_for``).
    """

    def __init__(self, authenticator: Authenticator, required_scopes: Mapping[str, Scope]) -> None:
        self._authenticator = authenticator
        self._required = dict(required_scopes)

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[RequestT, ResponseT] | None]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[RequestT, ResponseT] | None:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or method.startswith(OPEN_METHOD_PREFIXES):
            return handler
        gate = _Gate(
            self._authenticator,
            method,
            self._required.get(method),
            _authorization(handler_call_details.invocation_metadata),
        )
        return rewrap_handler(handler, gate.wrap_unary, gate.wrap_stream)


def _authorization(metadata: Sequence[tuple[str, str | bytes]] | None) -> str | None:
    """The ``authorization`` metadata value; several values count as malformed (an empty one)."""
    values = [value for key, value in metadata or () if key.lower() == "authorization"]
    if not values:
        return None
    if len(values) > 1 or not isinstance(values[0], str):
        return ""
    return values[0]


class _Gate:
    """The admission check of one call, run inside its handler."""

    def __init__(
        self, authenticator: Authenticator, method: str, scope: Scope | None, authorization: str | None
    ) -> None:
        self.authenticator = authenticator
        self.method = method
        self.scope = scope
        self.authorization = authorization

    async def admit(self, context: grpc.aio.ServicerContext[Any, Any]) -> Principal:
        """The caller's principal, or an abort with the status of the refusal."""
        try:
            principal = await self.authenticator.authenticate(self.authorization)
            self._authorize(principal)
        except ServiceError as exc:
            log.info(
                "rpc_refused",
                method=self.method,
                code=exc.code.name,
                reason=getattr(exc, "reason", None),
                error=exc.message,
            )
            status = rpc_status.to_status(exc.to_status())
            await context.abort(status.code, status.details, status.trailing_metadata)
            raise  # context.abort raises AbortError; this line is never reached
        except Exception as exc:  # the key store or the issuer failed in an unexpected way
            log.exception("authentication_failed", method=self.method, error=f"{type(exc).__name__}: {exc}")
            await context.abort(grpc.StatusCode.UNAVAILABLE, "authentication is unavailable; try again later")
            raise
        span = trace.get_current_span()
        span.set_attribute(TENANT_ATTRIBUTE, principal.tenant_id)
        span.set_attribute(AUTH_METHOD_ATTRIBUTE, principal.method.value)
        return principal

    def _authorize(self, principal: Principal) -> None:
        if self.scope is None:
            raise PermissionDenied(
                f"{self.method} is not open to callers on this server", "method_not_allowed"
            )
        if not principal.has(self.scope):
            raise PermissionDenied(f"{self.method} needs the scope {self.scope.value}", "missing_scope")

    def wrap_unary(self, behaviour: Behaviour) -> Behaviour:
        async def handler(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            principal = await self.admit(context)
            with acting_as(principal):
                return await behaviour(request, context)

        return handler

    def wrap_stream(self, behaviour: Behaviour) -> Behaviour:
        async def handler(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[Any]:
            principal = await self.admit(context)
            with acting_as(principal):
                async for response in behaviour(request, context):
                    yield response

        return handler
