"""OpenTelemetry set-up, configured only through the standard ``OTEL_*`` variables.

Traces are exported over OTLP when ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or the traces-specific variant) is set,
printed when ``OTEL_TRACES_EXPORTER=console``, and dropped otherwise (the trace context is still propagated).
"""

from __future__ import annotations

import os

from opentelemetry import trace
from opentelemetry.instrumentation.grpc import aio_client_interceptors, aio_server_interceptor
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

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


def server_interceptors() -> list:
    """OpenTelemetry interceptors for a grpc.aio server."""
    return [aio_server_interceptor()]


def client_interceptors() -> list:
    """OpenTelemetry interceptors for a grpc.aio channel (propagate W3C trace context)."""
    return list(aio_client_interceptors())
