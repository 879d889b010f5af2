"""``python -m gateway_service``: the HTTP/JSON gateway on ``BIND_HOST``:``GATEWAY_PORT`` (uvicorn), its Prometheus
``/metrics`` on ``METRICS_PORT`` (default ``GATEWAY_METRICS_PORT``, 9180)."""

from __future__ import annotations

import sys

import uvicorn

from common.config import Settings, load_settings
from common.errors import ConfigError
from common.logging import configure_logging, get_logger
from common.metrics import start_metrics_server
from common.telemetry import setup_tracing, shutdown_tracing
from common.tls import is_loopback_host
from gateway_service.app import create_app


def check_gateway_bind(settings: Settings) -> None:
    """``AUTH_DISABLED=true`` only on loopback: beyond it the gateway would hand anyone the default tenant.

    Raises:
        ConfigError: BIND_HOST is not loopback while AUTH_DISABLED is true.
    """
    if settings.auth_disabled and not is_loopback_host(settings.bind_host):
        raise ConfigError(
            f"refusing AUTH_DISABLED=true beyond loopback: BIND_HOST={settings.bind_host} is not a loopback "
            "address; configure AUTH_ISSUER or API keys on the supervisor, or bind 127.0.0.1"
        )


def gateway_metrics_port(settings: Settings) -> int:
    """The port of the gateway's /metrics: ``METRICS_PORT``, else ``GATEWAY_METRICS_PORT``; 0 means none."""
    return settings.metrics_port if settings.metrics_port is not None else settings.gateway_metrics_port


def main() -> int:
    """Serve until SIGTERM/SIGINT (uvicorn drains open requests first)."""
    try:
        settings = load_settings()
        check_gateway_bind(settings)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    configure_logging("gateway", settings.log_level, settings.log_format.value)
    setup_tracing("gateway")
    get_logger(__name__).info("gateway starting", host=settings.bind_host, port=settings.gateway_port)
    if metrics_port := gateway_metrics_port(settings):
        start_metrics_server(settings.bind_host, metrics_port)
    config = uvicorn.Config(
        create_app(settings),
        host=settings.bind_host,
        port=settings.gateway_port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=int(settings.shutdown_grace_s) or 1,
    )
    try:
        uvicorn.Server(config).run()
    finally:
        shutdown_tracing()
    return 0


if __name__ == "__main__":
    sys.exit(main())
