"""OpenTelemetry set-up, configured only through the standard ``OTEL_*`` variables.

Traces are exported over OTLP when ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or the traces-specific variant) is set,
printed when ``OTEL_TRACES_EXPORTER=console``, and dropped otherwise (the trace context is still propagated).
"""

from __future__ import annotations

import os
from typing import Any
from uuid import UUID

import grpc
from langchain_core.callbacks import AsyncCallbackHandler
from langchain_core.outputs import LLMResult
from opentelemetry import trace
from opentelemetry.instrumentation.grpc import aio_client_interceptors, aio_server_interceptor
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
from opentelemetry.trace import Status, StatusCode

_provider: TracerProvider | None = None


def setup_tracing(default_service_name: str) -> TracerProvider:
    """Install the process's tracer provider once.

    Args:
        default_service_name: ``service.name`` unless ``OTEL_SERVICE_NAME`` overrides it.
    """
    global _provider
    if _provider is not None:
        return _provider
    name = os.environ.get("OTEL_SERVICE_NAME") or default_service_name
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: name}))
    exporters = {e.strip() for e in os.environ.get("OTEL_TRACES_EXPORTER", "otlp").split(",")}
    otlp_endpoint = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    if "otlp" in exporters and otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    if "console" in exporters:
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    trace.set_tracer_provider(provider)
    _provider = provider
    return provider


def shutdown_tracing() -> None:
    """Flush and stop the exporters."""
    if _provider is not None:
        _provider.shutdown()


def server_interceptors() -> list[grpc.aio.ServerInterceptor]:
    """OpenTelemetry interceptors for a grpc.aio server."""
    return [aio_server_interceptor()]


def client_interceptors() -> list[grpc.aio.ClientInterceptor]:
    """OpenTelemetry interceptors for a grpc.aio channel (propagate W3C trace context)."""
    return list(aio_client_interceptors())


TRACER_NAME = "marketing"


def tracer() -> trace.Tracer:
    """The tracer for the services' own spans (attributes under ``marketing.*``)."""
    return trace.get_tracer(TRACER_NAME)


class ModelCallSpans(AsyncCallbackHandler):
    """One span per chat-model call, with the OpenTelemetry GenAI attributes, as a child of the current span."""

    run_inline = True

    def __init__(self) -> None:
        self._spans: dict[UUID, trace.Span] = {}

    async def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[Any]],
        *,
        run_id: UUID,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        metadata = metadata or {}
        model = str(metadata.get("ls_model_name") or "unknown")
        span = tracer().start_span(
            f"chat {model}",
            kind=trace.SpanKind.CLIENT,
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": str(metadata.get("ls_provider") or "unknown"),
                "gen_ai.request.model": model,
                "marketing.agent": str(metadata.get("langgraph_node") or ""),
            },
        )
        self._spans[run_id] = span

    async def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        span = self._spans.pop(run_id, None)
        if span is None:
            return
        for generations in response.generations:
            for generation in generations:
                message = getattr(generation, "message", None)
                usage = getattr(message, "usage_metadata", None) or {}
                model = (getattr(message, "response_metadata", None) or {}).get("model_name")
                if model:
                    span.set_attribute("gen_ai.response.model", str(model))
                span.set_attribute("gen_ai.usage.input_tokens", int(usage.get("input_tokens", 0)))
                span.set_attribute("gen_ai.usage.output_tokens", int(usage.get("output_tokens", 0)))
        span.end()

    async def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        span = self._spans.pop(run_id, None)
        if span is None:
            return
        span.record_exception(error)
        span.set_attribute("error.type", type(error).__name__)
        span.set_status(Status(StatusCode.ERROR, str(error)[:200]))
        span.end()


def mark_error(span: trace.Span, error: BaseException | str, grpc_code: str | None = None) -> None:
    """Set a span's status to ERROR, with the gRPC status code when there is one."""
    if isinstance(error, BaseException):
        span.record_exception(error)
    if grpc_code:
        span.set_attribute("rpc.grpc.status_code", grpc.StatusCode[grpc_code].value[0])
        span.set_attribute("marketing.grpc_code", grpc_code)
    span.set_status(Status(StatusCode.ERROR, str(error)[:200]))
