"""The team side of identity: who a team call is for, from the metadata the supervisor sends.

The supervisor authenticates the caller and passes the tenant and subject on every team call as
``x-marketing-tenant`` / ``x-marketing-subject`` metadata. A team binds ``Principal(tenant, subject, ALL_SCOPES,
AuthMethod.SERVICE)`` for the duration of the call (so every store query and tool reads the tenant from
``current_tenant()``). A call without the metadata is refused (``UNAUTHENTICATED``, reason ``missing_tenant``)
unless ``AUTH_DISABLED=true``, where it runs as the default tenant; a malformed tenant id is refused with reason
``bad_tenant``. Health and reflection need nothing.

Whether the metadata can be trusted is the channel's business (mTLS, or loopback-only team ports): that check is
another interceptor, chained before this one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import grpc
from grpc_status import rpc_status

from common.auth.principal import (
    ALL_SCOPES,
    ANONYMOUS,
    SUBJECT_METADATA,
    TENANT_METADATA,
    AuthMethod,
    Principal,
    acting_as,
    valid_tenant_id,
)
from common.config import Settings
from common.errors import ServiceError, Unauthenticated
from common.interceptors import Behaviour, RequestT, ResponseT, rewrap_handler
from common.logging import get_logger
from common.tls import refuse_unless_loopback, tls_files

log = get_logger(__name__)

EXEMPT_PREFIXES = (
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1alpha.ServerReflection/",
    "/grpc.reflection.v1.ServerReflection/",
)
"""Methods that need no identity: health checks and server reflection."""

MAX_SUBJECT_CHARS = 256
SERVICE_SUBJECT = "service"
"""The subject of a call whose metadata names a tenant but no subject."""


def exempt(method: str) -> bool:
    """Whether a method needs no identity (health, reflection)."""
    return method.startswith(EXEMPT_PREFIXES)


def _metadata_value(metadata: Sequence[tuple[str, Any]] | None, key: str) -> str | None:
    for name, value in metadata or ():
        if name.lower() == key:
            return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return None


def principal_from_metadata(metadata: Sequence[tuple[str, Any]] | None, auth_disabled: bool) -> Principal:
    """The principal a team call acts as.

    Args:
        metadata: The call's invocation metadata.
        auth_disabled: ``AUTH_DISABLED``: a call without tenant metadata is the default tenant's.

    Raises:
        Unauthenticated: No tenant metadata while authentication is on (``missing_tenant``), a malformed tenant id
            (``bad_tenant``) or subject (``bad_subject``).
    """
    tenant = _metadata_value(metadata, TENANT_METADATA)
    if tenant is None or tenant == "":
        if auth_disabled:
            return ANONYMOUS
        raise Unauthenticated(
            f"team calls must carry the caller's tenant in {TENANT_METADATA} metadata", "missing_tenant"
        )
    if not valid_tenant_id(tenant):
        raise Unauthenticated(
            f"{TENANT_METADATA} must be a tenant id: 2-63 lower-case letters, digits and '-'", "bad_tenant"
        )
    subject = _metadata_value(metadata, SUBJECT_METADATA) or SERVICE_SUBJECT
    if len(subject) > MAX_SUBJECT_CHARS or not subject.isprintable():
        raise Unauthenticated(
            f"{SUBJECT_METADATA} must be at most {MAX_SUBJECT_CHARS} printable characters", "bad_subject"
        )
    return Principal(tenant, subject, ALL_SCOPES, AuthMethod.SERVICE)


async def _refuse(context: grpc.aio.ServicerContext[Any, Any], error: ServiceError, method: str) -> None:
    status = rpc_status.to_status(error.to_status())
    log.info("team_call_refused", method=method, code=error.code.name, error=error.message)
    await context.abort(status.code, status.details, status.trailing_metadata)


def _refusing(error: ServiceError, method: str, streaming: bool, loopback_only: bool) -> Behaviour:
    """A behaviour that answers every call with ``error`` (a caller that is not loopback, when only loopback may
    call, is refused for that first)."""

    async def unary(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        if loopback_only:
            await refuse_unless_loopback(context, method)
        await _refuse(context, error, method)

    async def stream(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[Any]:
        if loopback_only:
            await refuse_unless_loopback(context, method)
        await _refuse(context, error, method)
        yield  # pragma: no cover (abort raises)

    return stream if streaming else unary


def _acting_unary(behaviour: Behaviour, principal: Principal, method: str, loopback_only: bool) -> Behaviour:
    async def handler(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        if loopback_only:
            await refuse_unless_loopback(context, method)
        with acting_as(principal):
            return await behaviour(request, context)

    return handler


def _acting_stream(behaviour: Behaviour, principal: Principal, method: str, loopback_only: bool) -> Behaviour:
    async def handler(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[Any]:
        if loopback_only:
            await refuse_unless_loopback(context, method)
        with acting_as(principal):
            async for response in behaviour(request, context):
                yield response

    return handler


class TeamIdentityInterceptor(grpc.aio.ServerInterceptor):
    """Binds the principal a team call acts as (from the supervisor's metadata) inside the handler's task."""

    def __init__(self, auth_disabled: bool, loopback_only: bool = False) -> None:
        """
        Args:
            auth_disabled: ``AUTH_DISABLED``: calls without tenant metadata run as the default tenant.
            loopback_only: Refuse peers that are not loopback first (TLS off: the metadata is trusted only from this
                machine). One wrapper does both checks, so a streamed answer passes one extra generator, not two.
        """
        self.auth_disabled = auth_disabled
        self.loopback_only = loopback_only

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[RequestT, ResponseT] | None]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[RequestT, ResponseT] | None:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or exempt(method):
            return handler
        try:
            principal = principal_from_metadata(handler_call_details.invocation_metadata, self.auth_disabled)
        except ServiceError as error:
            refusal = error
            return rewrap_handler(
                handler,
                lambda _: _refusing(refusal, method, False, self.loopback_only),
                lambda _: _refusing(refusal, method, True, self.loopback_only),
            )
        loopback_only = self.loopback_only
        return rewrap_handler(
            handler,
            lambda b: _acting_unary(b, principal, method, loopback_only),
            lambda b: _acting_stream(b, principal, method, loopback_only),
        )


def team_interceptors(settings: Settings) -> list[grpc.aio.ServerInterceptor]:
    """The identity interceptor of a team service: without TLS it first refuses callers that are not loopback, then
    binds the tenant the supervisor names (``build_team_service`` installs it on every team)."""
    if settings.auth_disabled:
        log.warning(
            "team_auth_disabled", detail="team calls without tenant metadata run as the default tenant"
        )
    return [TeamIdentityInterceptor(settings.auth_disabled, loopback_only=tls_files(settings) is None)]
