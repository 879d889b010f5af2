"""Every setting of every service, read from the environment in one place and validated at start-up."""

from __future__ import annotations

import os
import re
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from common.errors import ConfigError
from common.teams import TEAMS


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value.strip()


class LlmProvider(StrEnum):
    """Which chat model backs the agents."""

    OFFLINE = "offline"
    OPENAI = "openai"


class LogFormat(StrEnum):
    """How log lines are rendered."""

    JSON = "json"
    CONSOLE = "console"


StructuredMethod = Literal["json_schema", "function_calling", "json_mode"]


class Price(BaseModel):
    """US dollars per million tokens."""

    input: float = Field(ge=0)
    output: float = Field(ge=0)


class Settings(BaseSettings):
    """Configuration of the four services. Each field is read from the upper-case variable of the same name."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", frozen=True)

    # Network: where each service listens and where the supervisor finds the teams.
    bind_host: str = "0.0.0.0"
    supervisor_port: int = Field(TEAMS.supervisor.port, ge=1, le=65535)
    # Per team of the registry (common/teams.py): <TEAM>_PORT, its listening port, and <TEAM>_ADDR, where the
    # supervisor finds it (any gRPC target). Collected from the environment by ``_team_endpoints``.
    team_ports: dict[str, Annotated[int, Field(ge=1, le=65535)]] = Field(default_factory=dict)
    team_addrs: dict[str, Annotated[str, AfterValidator(_not_blank)]] = Field(default_factory=dict)
    metrics_port: int | None = Field(None, ge=0, le=65535)
    grpc_max_message_bytes: int = Field(4 * 1024 * 1024, ge=64 * 1024, le=64 * 1024 * 1024)
    shutdown_grace_s: float = Field(10.0, ge=0, le=300)
    grpc_max_connection_age_s: float = Field(300.0, ge=0, le=86400)

    # Supervisor behaviour.
    task_timeout_s: float = Field(300.0, gt=0, le=3600)
    team_call_timeout_s: float = Field(120.0, gt=0, le=3600)
    team_call_max_attempts: int = Field(3, ge=1, le=10)
    team_retry_backoff_s: float = Field(0.2, ge=0, le=30)
    supervisor_max_steps: int = Field(8, ge=1, le=50)
    breaker_fail_max: int = Field(3, ge=1, le=100)
    breaker_reset_timeout_s: float = Field(30.0, gt=0, le=3600)

    # Teams.
    team_max_steps: int = Field(8, ge=2, le=50)
    worker_max_tool_rounds: int = Field(3, ge=1, le=10)
    knowledge_dir: Path | None = None

    # Chat model: the primary provider.
    llm_provider: LlmProvider = LlmProvider.OFFLINE
    llm_model: str = "gpt-4o-mini"
    llm_router_model: str | None = None
    llm_structured_method: StructuredMethod = "json_schema"
    offline_llm_latency_ms: int = Field(0, ge=0, le=60_000)
    llm_timeout_s: float = Field(60.0, gt=0, le=600)
    llm_temperature: float = Field(0.2, ge=0, le=2)
    llm_max_attempts: int = Field(3, ge=1, le=10)
    llm_retry_max_wait_s: float = Field(20.0, ge=0, le=300)
    openai_api_key: str | None = Field(None, repr=False)
    openai_base_url: str | None = None
    # The backup provider, used when the primary still fails after its retries.
    llm_backup_provider: Literal["openai"] | None = None
    llm_backup_model: str | None = None
    llm_backup_router_model: str | None = None
    llm_backup_structured_method: StructuredMethod | None = None
    llm_backup_timeout_s: float | None = Field(None, gt=0, le=600)
    llm_backup_api_key: str | None = Field(
        None, repr=False, validation_alias=AliasChoices("llm_backup_api_key", "llm_backup_openai_api_key")
    )
    llm_backup_base_url: str | None = Field(
        None, validation_alias=AliasChoices("llm_backup_base_url", "llm_backup_openai_base_url")
    )
    # Price table (US dollars per million tokens), merged over the built-in one: {"model": {"input": x, "output": y}}.
    llm_prices: dict[str, Price] = Field(default_factory=dict)

    # Persistence and cache.
    database_url: str | None = Field(None, repr=False)
    data_dir: Path = Path(".data")
    database_pool_size: int = Field(10, ge=1, le=200)
    resume_on_start: bool = True
    workflow_heartbeat_s: float = Field(5.0, gt=0, le=300)
    redis_url: str | None = Field(None, repr=False)
    cache_ttl_s: float = Field(3600.0, ge=0, le=30 * 86400)
    cache_ttls: dict[str, float] = Field(
        default_factory=dict
    )  # per tool, e.g. {"search_knowledge_base": 600}
    cache_max_entries: int = Field(10_000, ge=1, le=10_000_000)

    # External APIs behind the tools (common/tools/http.py). A service is on when its key or its URL is set.
    external_timeout_s: float = Field(15.0, gt=0, le=300)
    external_max_attempts: int = Field(3, ge=1, le=10)
    external_retry_max_wait_s: float = Field(30.0, ge=0, le=600)
    external_breaker_fail_max: int = Field(5, ge=1, le=100)
    external_breaker_reset_timeout_s: float = Field(60.0, gt=0, le=3600)
    web_search_provider: Literal["auto", "tavily", "serper", "off"] = "auto"
    tavily_api_key: str | None = Field(None, repr=False)
    tavily_base_url: str | None = None
    serper_api_key: str | None = Field(None, repr=False)
    serper_base_url: str | None = None
    github_token: str | None = Field(None, repr=False)
    github_api_url: str | None = None
    fetch_max_bytes: int = Field(2_000_000, ge=1024, le=50_000_000)
    fetch_allow_private_networks: bool = False
    image_model: str | None = None
    images_api_key: str | None = Field(None, repr=False)
    images_base_url: str | None = None
    social_publish: Literal["dry-run", "live"] = "dry-run"
    publisher_poll_s: float = Field(5.0, gt=0, le=3600)
    publisher_lease_s: float = Field(120.0, gt=0, le=86400)
    x_bearer_token: str | None = Field(None, repr=False)
    x_api_url: str | None = None
    linkedin_access_token: str | None = Field(None, repr=False)
    linkedin_api_url: str | None = None
    linkedin_author_urn: str | None = None
    linkedin_version: str = Field("202510", pattern=r"^\d{6}$")

    # Identity (common/auth/): OAuth2 access tokens from an OpenID issuer, tenants' API keys, or nothing on loopback.
    auth_disabled: bool = False  # only when every server binds loopback: every call is the default tenant's
    auth_issuer: str | None = None  # OIDC issuer; keys from its discovery document
    auth_jwks_url: str | None = None  # or the JWKS document directly
    auth_audience: str | None = None  # the "aud" access tokens must carry
    auth_tenant_claim: str = Field("tenant_id", min_length=1, max_length=100)
    auth_clock_skew_s: float = Field(60.0, ge=0, le=600)
    auth_jwks_refresh_min_s: float = Field(
        30.0, ge=0, le=86400
    )  # an unknown "kid" refetches keys at most this often
    auth_platform_tenant: str = Field(
        "platform", pattern=r"^[a-z0-9][a-z0-9-]{1,62}$"
    )  # its admins manage tenants
    secrets_key_file: Path | None = None  # AES-GCM keys for tenant secrets at rest (first line = current key)
    retention_purge_interval_s: float = Field(3600.0, gt=0, le=7 * 86400)

    # Overload protection (see common/overload.py).
    max_concurrent_workflows: int = Field(64, ge=1, le=100_000)
    max_concurrent_briefs: int = Field(32, ge=1, le=100_000)
    overload_retry_after_s: float = Field(1.0, gt=0, le=300)

    # Logging.
    log_level: str = "INFO"
    log_format: LogFormat = LogFormat.JSON

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level

    @model_validator(mode="before")
    @classmethod
    def _team_endpoints(cls, data: Any) -> Any:
        """Collect ``<TEAM>_PORT``/``<TEAM>_ADDR`` of every registered team (keyword overrides first, then the
        environment, case-insensitive), defaulting to the registry's ports."""
        if not isinstance(data, dict):
            return data
        environment = {key.lower(): value for key, value in os.environ.items()}
        ports: dict[str, object] = {}
        addrs: dict[str, object] = {}
        for team in TEAMS:
            port_key, addr_key = team.port_variable.lower(), team.addr_variable.lower()
            ports[team.name] = data.pop(port_key, environment.get(port_key, team.port))
            addrs[team.name] = data.pop(addr_key, environment.get(addr_key, team.default_addr))
        return {**data, "team_ports": ports, "team_addrs": addrs}

    @field_validator("bind_host")
    @classmethod
    def _bind_host(cls, value: str) -> str:
        return _not_blank(value)

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str | None) -> str | None:
        if value and not value.startswith(("postgresql://", "postgres://", "sqlite:///")):
            raise ValueError("must start with postgresql://, postgres:// or sqlite:///")
        return value or None

    @field_validator(
        "tavily_base_url",
        "serper_base_url",
        "github_api_url",
        "images_base_url",
        "x_api_url",
        "linkedin_api_url",
    )
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/") if value else None

    @field_validator("auth_issuer", "auth_jwks_url")
    @classmethod
    def _auth_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must start with https:// (or http:// on loopback)")
        return value.rstrip("/") if value else None

    @field_validator("secrets_key_file")
    @classmethod
    def _existing_file(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"{value} is not a file")
        return value

    @field_validator("redis_url")
    @classmethod
    def _known_redis(cls, value: str | None) -> str | None:
        if value and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value or None

    @field_validator("knowledge_dir")
    @classmethod
    def _existing_dir(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_dir():
            raise ValueError(f"{value} is not a directory")
        return value

    def team_addr(self, team: str) -> str:
        """Where the supervisor finds a team (``<TEAM>_ADDR``, else the registry's default)."""
        return self.team_addrs.get(team) or TEAMS.team(team).default_addr

    def metrics_port_of(self, service: str) -> int:
        """Port of a service's /metrics endpoint: METRICS_PORT, else the registry's; 0 means no endpoint."""
        if self.metrics_port is not None:
            return self.metrics_port
        return TEAMS.service(service).metrics_port

    def port_of(self, service: str) -> int:
        """Listening port of a service by name (``SUPERVISOR_PORT``, ``<TEAM>_PORT``)."""
        if service == TEAMS.supervisor.name:
            return self.supervisor_port
        return self.team_ports.get(service) or TEAMS.team(service).port


def _variable(location: tuple[int | str, ...]) -> str:
    """The environment variable a validation error is about."""
    if len(location) >= 2 and location[0] in ("team_ports", "team_addrs"):
        team = TEAMS.team(str(location[1]))
        return team.port_variable if location[0] == "team_ports" else team.addr_variable
    return str(location[0]).upper() if location else "?"


def load_settings(**overrides: object) -> Settings:
    """Read and validate the settings.

    Args:
        **overrides: Values that take precedence over the environment (tests use this).

    Raises:
        ConfigError: A variable has a bad value; the message names the variable.
    """
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            problems.append(f"{_variable(error['loc'])}={error.get('input')!r}: {error['msg']}")
        raise ConfigError("invalid configuration: " + "; ".join(problems)) from None
    except SettingsError as exc:
        field = re.search(r'field "(\w+)"', str(exc))
        name = field.group(1).upper() if field else "?"
        raise ConfigError(
            f"invalid configuration: {name} is not valid JSON ({exc.__cause__ or exc})"
        ) from None
    if (settings.auth_issuer or settings.auth_jwks_url) and not settings.auth_audience:
        raise ConfigError(
            "invalid configuration: AUTH_ISSUER/AUTH_JWKS_URL need AUTH_AUDIENCE (the tokens' aud)"
        )
    if settings.llm_provider is LlmProvider.OPENAI and not (
        settings.openai_api_key or settings.openai_base_url
    ):
        raise ConfigError(
            "invalid configuration: LLM_PROVIDER=openai needs OPENAI_API_KEY or OPENAI_BASE_URL"
        )
    return settings


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, loaded once."""
    return load_settings()
