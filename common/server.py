"""One async gRPC server bootstrap for every service: health, reflection, interceptors, graceful shutdown."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from grpc_status import rpc_status

from common.config import Settings
from common.errors import ServiceError
from common.interceptors import RequestT, ResponseT, rewrap_handler
from common.llm.breakers import LlmHealth
from common.logging import get_logger
from common.metrics import MetricsInterceptor
from common.overload import OverloadInterceptor, UndecodableRequestInterceptor
from common.teams import TEAMS
from common.telemetry import server_interceptors
from common.tls import add_port, check_bind, tls_files

log = get_logger(__name__)

Registrar = Callable[[grpc.aio.Server], None]


@dataclass(frozen=True)
class ServiceRegistration:
    """A servicer to add to the server, with its fully qualified service name."""

    name: str
    register: Registrar


class ErrorMappingInterceptor(grpc.aio.ServerInterceptor):
    """Turns exceptions escaping a handler into proper gRPC statuses.

    ``ServiceError`` becomes its own code with rich details (``google.rpc.BadRequest`` and friends); anything
    else becomes ``INTERNAL`` with a generic message, logged with its traceback, never ``UNKNOWN``.
    """

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[RequestT, ResponseT] | None]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[RequestT, ResponseT] | None:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        method = handler_call_details.method
        return rewrap_handler(handler, lambda b: _wrap_unary(b, method), lambda b: _wrap_stream(b, method))


async def _abort(context: grpc.aio.ServicerContext[Any, Any], exc: BaseException, method: str) -> None:
    if isinstance(exc, ServiceError):
        status = rpc_status.to_status(exc.to_status())
        log.info("rpc_rejected", method=method, code=exc.code.name, error=exc.message)
        await context.abort(status.code, status.details, status.trailing_metadata)
    log.exception("rpc_failed", method=method, error=str(exc))
    await context.abort(grpc.StatusCode.INTERNAL, "internal error; the server log has the details")


def _wrap_unary(behaviour: Callable[..., Any], method: str) -> Callable[..., Any]:
    async def handler(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        try:
            return await behaviour(request, context)
        except (asyncio.CancelledError, grpc.aio.AbortError):
            raise
        except Exception as exc:
            await _abort(context, exc, method)

    return handler


def _wrap_stream(behaviour: Callable[..., Any], method: str) -> Callable[..., Any]:
    async def handler(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[Any]:
        try:
            async for response in behaviour(request, context):
                yield response
        except (asyncio.CancelledError, grpc.aio.AbortError):
            raise
        except Exception as exc:
            await _abort(context, exc, method)

    return handler


def server_options(settings: Settings) -> list[tuple[str, Any]]:
    """Channel arguments shared by servers: explicit message limits, keepalive policy, and a maximum connection
    age, so that clients reconnect now and then, re-resolve DNS and spread over replicas added since (in-flight
    calls get the team call timeout to finish on the old connection)."""
    options: list[tuple[str, Any]] = [
        ("grpc.max_receive_message_length", settings.grpc_max_message_bytes),
        ("grpc.max_send_message_length", settings.grpc_max_message_bytes),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
    ]
    if settings.grpc_max_connection_age_s:
        options += [
            ("grpc.max_connection_age_ms", int(settings.grpc_max_connection_age_s * 1000)),
            ("grpc.max_connection_age_grace_ms", int((settings.team_call_timeout_s + 10) * 1000)),
        ]
    return options


@dataclass
class ServiceParts:
    """What a service's builder returns: its servicers and the hooks of its shutdown."""

    registrations: list[ServiceRegistration]
    on_stop: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    # Server interceptors of this service, after the shared ones (the teams' loopback rule without TLS).
    interceptors: list[grpc.aio.ServerInterceptor] = field(default_factory=list)
    # The service checks every caller's credential (the supervisor with an OAuth2 issuer or API keys): it may then
    # bind beyond loopback without TLS.
    authenticates_callers: bool = False
    before_stop: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    after_start: list[Callable[[RunningServer], Awaitable[None]]] = field(default_factory=list)


@dataclass
class RunningServer:
    """A started server, its bound port and its health servicer."""

    name: str
    server: grpc.aio.Server
    port: int
    health: health.aio.HealthServicer
    service_names: tuple[str, ...]
    on_stop: Sequence[Callable[[], Awaitable[None]]] = field(default_factory=tuple)
    before_stop: Sequence[Callable[[], Awaitable[None]]] = field(default_factory=tuple)

    async def stop(self, grace: float) -> None:
        """Graceful shutdown: report NOT_SERVING, stop accepting, drain in-flight calls for ``grace`` seconds."""
        await self.health.enter_graceful_shutdown()
        for callback in self.before_stop:
            await callback()
        log.info("server_stopping", service=self.name, grace_s=grace)
        await self.server.stop(grace)
        for callback in self.on_stop:
            await callback()
        log.info("server_stopped", service=self.name)


def _interceptors(
    settings: Settings, own: Sequence[grpc.aio.ServerInterceptor]
) -> list[grpc.aio.ServerInterceptor]:
    """The interceptor chain, outermost first: telemetry, metrics, the service's own, decoding, overload, errors."""
    return [
        *server_interceptors(),
        MetricsInterceptor(),
        *own,
        UndecodableRequestInterceptor(),
        OverloadInterceptor.from_settings(settings),
        ErrorMappingInterceptor(),
    ]


async def start_server(
    name: str,
    registrations: Sequence[ServiceRegistration],
    settings: Settings,
    port: int,
    host: str | None = None,
    on_stop: Sequence[Callable[[], Awaitable[None]]] = (),
    before_stop: Sequence[Callable[[], Awaitable[None]]] = (),
    interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
    authenticates_callers: bool = False,
) -> RunningServer:
    """Build, bind and start a grpc.aio server with health, reflection and the shared interceptors.

    The port is bound with mutual TLS when ``TLS_*`` are set, in plaintext otherwise; without TLS the server only
    binds loopback.

    Args:
        name: Service name for logs ("supervisor", "research", ...).
        registrations: The servicers this process serves.
        settings: Process settings.
        port: Port to bind; 0 picks a free one (tests).
        host: Interface to bind; defaults to ``BIND_HOST``.
        on_stop: Callbacks awaited after the server has drained.
        before_stop: Callbacks awaited when shutdown starts, before draining.
        interceptors: The service's own interceptors, after the metrics (so refusals are counted) and before the
            overload caps (so refused calls take no slot).
        authenticates_callers: The service checks every caller's credential (see ``common.tls.check_bind``).

    Raises:
        ConfigError: The host is beyond loopback with neither TLS nor authenticated callers, or AUTH_DISABLED is
            on beyond loopback.
    """
    address = f"{host or settings.bind_host}:{port}"
    check_bind(host or settings.bind_host, settings, authenticates_callers)
    server = grpc.aio.server(
        interceptors=_interceptors(settings, interceptors), options=server_options(settings)
    )
    for registration in registrations:
        registration.register(server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    service_names = tuple(r.name for r in registrations)
    reflection.enable_server_reflection(
        (*service_names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME),
        server,
    )
    tls = tls_files(settings)
    bound = add_port(server, address, tls)
    if bound == 0:
        raise RuntimeError(f"{name}: could not bind {address}")
    await server.start()
    for service_name in ("", *service_names):
        await health_servicer.set(service_name, health_pb2.HealthCheckResponse.SERVING)
    log.info("server_started", service=name, port=bound, services=list(service_names), tls=tls is not None)
    return RunningServer(
        name, server, bound, health_servicer, service_names, tuple(on_stop), tuple(before_stop)
    )


async def serve_until_signal(running: RunningServer, grace: float) -> None:
    """Wait for SIGTERM or SIGINT, then shut the server down gracefully."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    server_done = asyncio.ensure_future(running.server.wait_for_termination())
    stop_requested = asyncio.ensure_future(stop.wait())
    await asyncio.wait({server_done, stop_requested}, return_when=asyncio.FIRST_COMPLETED)
    if stop_requested.done():
        await running.stop(grace)
    server_done.cancel()
    stop_requested.cancel()


Builder = Callable[[Settings], Awaitable[ServiceParts]]
"""A service's ``build(settings)``: its servicers and the hooks of its start and shutdown."""


async def start_service(
    name: str, build: Builder, settings: Settings, port: int, host: str | None = None
) -> RunningServer:
    """The one start-up path of a service (processes and in-process tests alike): build its parts, start the
    server, run the after-start hooks, and mirror the breakers of the model providers it calls in its health
    service (``dependency.llm.<endpoint>``).

    Args:
        name: The service's name.
        build: The service's builder.
        settings: Process settings.
        port: Port to bind; 0 picks a free one.
        host: Interface to bind; defaults to ``BIND_HOST``.
    """
    parts = await build(settings)
    llm_health = LlmHealth(settings)
    try:
        running = await start_server(
            name,
            parts.registrations,
            settings,
            port,
            host=host,
            on_stop=[*parts.on_stop, llm_health.stop],
            before_stop=parts.before_stop,
            interceptors=parts.interceptors,
            authenticates_callers=parts.authenticates_callers,
        )
    except BaseException:  # nothing serves: stop the loops the builder started, close what it opened
        for callback in (*parts.before_stop, *parts.on_stop):
            await callback()
        raise
    for hook in parts.after_start:
        await hook(running)
    await llm_health.start(running.health)
    return running


def run_service(name: str, build: Builder) -> None:
    """Entry point of a service process: settings, logs, tracing, serve until SIGTERM/SIGINT.

    A bad setting exits with status 2 and a message naming the variable.
    """
    import sys

    from common.config import get_settings
    from common.errors import ConfigError
    from common.logging import configure_logging
    from common.telemetry import setup_tracing, shutdown_tracing

    try:
        settings = get_settings()
        # Before anything listens, /metrics included; the supervisor's credentials are checked once it is built.
        check_bind(settings.bind_host, settings, authenticates_callers=name == TEAMS.supervisor.name)
    except ConfigError as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    configure_logging(name, settings.log_level, settings.log_format)
    setup_tracing(name)
    if metrics_port := settings.metrics_port_of(name):
        from common.metrics import start_metrics_server

        start_metrics_server(settings.bind_host, metrics_port)

    async def main() -> None:
        running = await start_service(name, build, settings, settings.port_of(name))
        await serve_until_signal(running, settings.shutdown_grace_s)
        shutdown_tracing()

    try:
        asyncio.run(main())
    except ConfigError as exc:  # raised while connecting to a configured dependency (database, cache)
        print(f"{name}: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
