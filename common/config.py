"""Every setting of every service, read from the environment in one place and validated at start-up."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
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
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from common.errors import ConfigError
from common.teams import GATEWAY_METRICS_PORT, TEAMS
from common.tls import check_certificates, check_key_matches, check_private_key


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value.strip()


class LlmProvider(StrEnum):
    """Which chat model backs the agents."""

    OFFLINE = "offline"
    OPENAI = "openai"
    ANTHROPIC = "anthropic"


# The model a provider gets when LLM_MODEL is unset.
DEFAULT_MODELS = {
    LlmProvider.OFFLINE: "gpt-4o-mini",
    LlmProvider.OPENAI: "gpt-4o-mini",
    LlmProvider.ANTHROPIC: "claude-haiku-4-5",
}
# Each real provider's own settings (the SDKs' variable names): (key variable, URL variable).
PROVIDER_VARIABLES = {
    LlmProvider.OPENAI: ("OPENAI_API_KEY", "OPENAI_BASE_URL"),
    LlmProvider.ANTHROPIC: ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"),
}
# Model names that only OpenAI serves: a sure sign of a model variable meant for another provider.
_OPENAI_ONLY_MODEL = re.compile(r"^(gpt-|chatgpt|o\d|text-|davinci)", re.IGNORECASE)


class LogFormat(StrEnum):
    """How log lines are rendered."""

    JSON = "json"
    CONSOLE = "console"


StructuredMethod = Literal["json_schema", "function_calling", "json_mode"]


class Price(BaseModel):
    """US dollars per million tokens: input and output, and where the provider prices them apart, input tokens
    read from its prompt cache and written to it (5-minute and 1-hour cache writes); unset means the input
    price."""

    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cache_read: Annotated[float, Field(ge=0)] | None = None
    cache_write: Annotated[float, Field(ge=0)] | None = None
    cache_write_1h: Annotated[float, Field(ge=0)] | None = None


@dataclass(frozen=True)
class ModelEndpoint:
    """Where one provider's calls go, with which key. Every chat model of a process that calls one endpoint
    shares its circuit breaker; ``name`` ("openai", "anthropic" or "backup") names that breaker and its health
    entry."""

    name: str
    provider: LlmProvider
    api_key: str | None = field(repr=False)
    base_url: str | None


@dataclass(frozen=True)
class ModelChoice:
    """One link of a role's provider chain: a model on an endpoint, its structured-output method and timeout."""

    slot: str  # "primary" or "backup"
    endpoint: ModelEndpoint
    model: str
    structured_method: StructuredMethod
    timeout_s: float


DEFAULT_TOOL_PRICES: dict[str, float] = {
    # List prices per call (2025): Tavily basic search 1 credit ($0.008), Serper $0.001 per query (smallest
    # pack), OpenAI gpt-image-1 medium 1024x1024 ~$0.042; GitHub, web pages, X and LinkedIn posting cost nothing
    # per call. Override with TOOL_PRICES='{"tavily": 0.005}' (merged over these).
    "tavily": 0.008,
    "serper": 0.001,
    "openai-images": 0.042,
}


class Settings(BaseSettings):
    """Configuration of the four services. Each field is read from the upper-case variable of the same name."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", frozen=True)

    # Network: where each service listens and where the supervisor finds the teams. Loopback by default: binding
    # beyond it needs TLS (common/tls.py), so deployments set BIND_HOST=0.0.0.0 next to the TLS_* files.
    bind_host: str = "127.0.0.1"
    # Mutual TLS between the services (common/tls.py): all three files or none; TLS_SERVER_NAME is the name a
    # client expects in a server's certificate when the address's host is not in it (a headless Service's name).
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    tls_ca_file: Path | None = None
    tls_server_name: str | None = None
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

    # Chat model: the primary provider (LLM_ROUTER_PROVIDER may give routers another one).
    llm_provider: LlmProvider = LlmProvider.OFFLINE
    llm_model: str = DEFAULT_MODELS[LlmProvider.OFFLINE]  # the provider's default model when unset
    llm_router_provider: LlmProvider | None = None
    llm_router_model: str | None = None
    llm_structured_method: StructuredMethod = "json_schema"
    offline_llm_latency_ms: int = Field(0, ge=0, le=60_000)
    llm_timeout_s: float = Field(60.0, gt=0, le=600)
    llm_temperature: float = Field(0.2, ge=0, le=2)
    llm_max_attempts: int = Field(3, ge=1, le=10)
    llm_retry_max_wait_s: float = Field(20.0, ge=0, le=300)
    openai_api_key: str | None = Field(None, repr=False)
    openai_base_url: str | None = None
    anthropic_api_key: str | None = Field(None, repr=False)
    anthropic_base_url: str | None = None
    # A circuit breaker per provider endpoint: consecutive failed calls (after their retries) that open it, and
    # how long the provider is then skipped before one trial call.
    llm_breaker_fail_max: int = Field(5, ge=1, le=100)
    llm_breaker_reset_timeout_s: float = Field(30.0, gt=0, le=3600)
    # The backup provider, used when the primary still fails after its retries (or its breaker is open).
    llm_backup_provider: Literal["openai", "anthropic"] | None = None
    llm_backup_model: str | None = None
    llm_backup_router_model: str | None = None
    llm_backup_structured_method: StructuredMethod | None = None
    llm_backup_timeout_s: float | None = Field(None, gt=0, le=600)
    # The backup's own key and URL; unset, the backup uses its provider's (OPENAI_* or ANTHROPIC_*).
    llm_backup_api_key: str | None = Field(
        None,
        repr=False,
        validation_alias=AliasChoices(
            "llm_backup_api_key", "llm_backup_openai_api_key", "llm_backup_anthropic_api_key"
        ),
    )
    llm_backup_base_url: str | None = Field(
        None,
        validation_alias=AliasChoices(
            "llm_backup_base_url", "llm_backup_openai_base_url", "llm_backup_anthropic_base_url"
        ),
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

    # Human review (issue 17; supervisor_service.reviews): brand rules, the moderation model, rounds, expiry sweep.
    moderation_model: str | None = None  # e.g. "omni-moderation-latest": drafts go to OpenAI /v1/moderations
    moderation_api_key: str | None = Field(None, repr=False)  # default: OPENAI_API_KEY
    moderation_base_url: str | None = None  # default: OPENAI_BASE_URL, else https://api.openai.com/v1
    review_max_rounds: int = Field(
        3, ge=1, le=20
    )  # change requests per team call before a rejection is final
    review_expiry_poll_s: float = Field(
        30.0, gt=0, le=3600
    )  # how often pending reviews past their time expire

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

    # Budgets, quotas and rate limits (issue 16; see common/budget.py, common/quotas.py, common/rate_limit.py).
    rate_limit_tenant_rps: float = Field(0.0, ge=0, le=1_000_000)  # 0: no limit unless the tenant sets one
    rate_limit_tenant_burst: int = Field(20, ge=1, le=1_000_000)
    rate_limit_key_rps: float = Field(0.0, ge=0, le=1_000_000)
    rate_limit_key_burst: int = Field(10, ge=1, le=1_000_000)
    # US dollars per call of a tool's external service, for GetUsage (service names as ListTools shows them).
    tool_prices: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_TOOL_PRICES))
    metrics_tenant_label: bool = True  # false: tenant metrics are labelled "all" (many tenants)
    tenant_limits_cache_s: float = Field(10.0, ge=0, le=3600)  # how long a replica reuses a tenant's limits

    # Durable task intake (SubmitTask; supervisor_service/queue/). No BROKER_URL: the records database is the queue.
    broker_url: str | None = Field(None, repr=False)  # amqp://user:pass@host:5672/vhost selects RabbitMQ
    broker_queue: str = Field("marketing.tasks", pattern=r"^[A-Za-z0-9_.:-]{1,200}$")
    broker_queue_type: Literal["classic", "quorum"] = "classic"  # quorum: RabbitMQ 4.x (2 priority levels)
    queue_capacity: int = Field(8, ge=1, le=10_000)  # tasks one replica runs at once (the broker's prefetch)
    queue_max_deliveries: int = Field(5, ge=1, le=100)  # deliveries before a task is dead-lettered
    queue_retry_delay_s: float = Field(1.0, ge=0, le=3600)  # wait before a failed delivery is retried
    queue_poll_s: float = Field(0.5, gt=0, le=60)  # embedded queue: how often an idle replica looks for work
    queue_lease_s: float = Field(
        30.0, gt=0, le=3600
    )  # embedded queue: a dead replica's task is redelivered after
    queue_tenant_max_running: int = Field(0, ge=0, le=100_000)  # per-tenant running cap (0: unlimited)
    queue_fair_burst: int = Field(8, ge=1, le=100_000)  # RabbitMQ: a tenant's queued tasks before it yields
    watch_poll_s: float = Field(0.25, gt=0, le=60)  # WatchWorkflow without REDIS_URL: how often to look
    webhook_secret: str | None = Field(None, repr=False)  # HMAC-SHA256 key of the webhook signatures
    webhook_max_attempts: int = Field(6, ge=1, le=50)
    webhook_backoff_s: float = Field(1.0, ge=0, le=3600)  # first retry delay; doubles per attempt
    webhook_timeout_s: float = Field(10.0, gt=0, le=300)
    webhook_allow_private_networks: bool = False  # notify_url may resolve to private addresses

    # HTTP/JSON gateway (gateway_service/): REST, GraphQL and the review console in front of the supervisor.
    gateway_port: int = Field(8080, ge=1, le=65535)
    # The gateway's /metrics port (9180, common/teams.py) when METRICS_PORT is unset; 0: no endpoint.
    gateway_metrics_port: int = Field(GATEWAY_METRICS_PORT, ge=0, le=65535)
    gateway_supervisor_addr: str = Field(
        f"127.0.0.1:{TEAMS.supervisor.port}", min_length=1
    )  # where the gateway calls the supervisor
    gateway_call_timeout_s: float = Field(30.0, gt=0, le=600)  # deadline of each gRPC call
    gateway_wait_timeout_s: float = Field(120.0, gt=0, le=3600)  # POST /v1/tasks?wait=true: longest wait
    gateway_cors_origins: list[str] = Field(default_factory=list)  # allowed browser origins (JSON list)
    gateway_max_body_bytes: int = Field(1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    gateway_session_secret: str | None = Field(None, repr=False)  # signs console sessions; random per start
    gateway_cookie_secure: bool = False  # console cookie only over HTTPS (set behind TLS)
    gateway_graphql_max_depth: int = Field(8, ge=2, le=50)
    gateway_graphql_max_tokens: int = Field(2000, ge=50, le=100_000)
    # Console sign-in through the OpenID issuer AUTH_ISSUER (authorization code + PKCE; gateway_service/oidc.py).
    gateway_oidc_client_id: str | None = None  # the console's client id; unset: no issuer sign-in
    gateway_oidc_client_secret: str | None = Field(None, repr=False)  # unset: a public client (PKCE alone)
    gateway_oidc_scopes: str = "openid marketing.tasks.read marketing.reviews.write"  # space-separated
    gateway_public_url: str | None = None  # external origin of the redirect_uri; unset: the request's

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

    @model_validator(mode="before")
    @classmethod
    def _provider_default_model(cls, data: Any) -> Any:
        """LLM_MODEL unset: the default model of the provider it is for (LLM_PROVIDER, else the routers')."""
        if not isinstance(data, dict) or data.get("llm_model"):
            return data
        provider = str(data.get("llm_provider") or LlmProvider.OFFLINE).strip().lower()
        if provider == LlmProvider.OFFLINE:
            provider = str(data.get("llm_router_provider") or provider).strip().lower()
        defaults = {p.value: model for p, model in DEFAULT_MODELS.items()}  # an unknown provider fails later
        return {**data, "llm_model": defaults.get(provider, DEFAULT_MODELS[LlmProvider.OFFLINE])}

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
        "anthropic_base_url",
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

    @field_validator(
        "gateway_oidc_client_id", "gateway_oidc_client_secret", "gateway_public_url", mode="before"
    )
    @classmethod
    def _blank_gateway_value_is_unset(cls, value: Any) -> Any:
        return (value.strip() or None) if isinstance(value, str) else value

    @field_validator("gateway_oidc_scopes")
    @classmethod
    def _oidc_scopes(cls, value: str) -> str:
        scopes = value.split()
        if "openid" not in scopes:
            raise ValueError("must include openid (space-separated scopes)")
        if any(not re.fullmatch(r"[\x21\x23-\x5b\x5d-\x7e]+", scope) for scope in scopes):
            raise ValueError("a scope has a character RFC 6749 does not allow")
        return " ".join(dict.fromkeys(scopes))

    @field_validator("gateway_public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().rstrip("/")
        if not re.fullmatch(r"https?://[^/?#\s@]+", value):  # the console's links are absolute (/console/...)
            raise ValueError("must be the console's origin: http(s)://host[:port], without a path")
        return value

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

    @field_validator("tool_prices")
    @classmethod
    def _tool_prices_ok(cls, value: dict[str, float]) -> dict[str, float]:
        if any(price < 0 or price != price for price in value.values()):
            raise ValueError("tool prices must be non-negative US dollars per call")
        return {**DEFAULT_TOOL_PRICES, **value}

    @field_validator("redis_url")
    @classmethod
    def _known_redis(cls, value: str | None) -> str | None:
        if value and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value or None

    @field_validator("broker_url")
    @classmethod
    def _known_broker(cls, value: str | None) -> str | None:
        if value and not value.startswith(("amqp://", "amqps://")):
            raise ValueError("must start with amqp:// or amqps://")
        return value or None

    @field_validator("knowledge_dir")
    @classmethod
    def _existing_dir(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_dir():
            raise ValueError(f"{value} is not a directory")
        return value

    @field_validator("tls_cert_file", "tls_key_file", "tls_ca_file", "tls_server_name", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("tls_cert_file", "tls_key_file", "tls_ca_file")
    @classmethod
    def _pem_file(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        """The file exists and holds what the variable names: a certificate chain, a private key, a CA bundle."""
        if value is None:
            return None
        try:
            data = value.read_bytes()
        except OSError as exc:
            raise ValueError(f"cannot read {value}: {exc.strerror or exc}") from None
        if info.field_name == "tls_key_file":
            check_private_key(data)
        else:
            check_certificates(data, bundle=info.field_name == "tls_ca_file")
        return value

    @field_validator("tls_server_name")
    @classmethod
    def _host_name(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?", value):
            raise ValueError("must be a DNS name without scheme or port (a name in the servers' certificate)")
        return value

    def role_provider(self, router: bool) -> LlmProvider:
        """The provider of routers (``LLM_ROUTER_PROVIDER``, else ``LLM_PROVIDER``) or of workers."""
        return (self.llm_router_provider if router else None) or self.llm_provider

    def endpoint_of(self, provider: LlmProvider) -> ModelEndpoint:
        """A real provider's own endpoint (``OPENAI_*`` or ``ANTHROPIC_*``)."""
        if provider is LlmProvider.ANTHROPIC:
            return ModelEndpoint(provider.value, provider, self.anthropic_api_key, self.anthropic_base_url)
        return ModelEndpoint(provider.value, provider, self.openai_api_key, self.openai_base_url)

    def backup_endpoint(self) -> ModelEndpoint | None:
        """The backup's endpoint: its own (``LLM_BACKUP_API_KEY``/``LLM_BACKUP_BASE_URL``) or its provider's."""
        if self.llm_backup_provider is None:
            return None
        provider = LlmProvider(self.llm_backup_provider)
        if self.llm_backup_api_key or self.llm_backup_base_url:
            return ModelEndpoint("backup", provider, self.llm_backup_api_key, self.llm_backup_base_url)
        return self.endpoint_of(provider)

    def model_chain(self, router: bool) -> tuple[ModelChoice, ...]:
        """The providers a role's calls go to, in order: the primary, then the backup; empty for the offline
        model. ``load_settings`` has checked that every link is complete."""
        provider = self.role_provider(router)
        if provider is LlmProvider.OFFLINE:
            return ()
        model = (self.llm_router_model if router else None) or self.llm_model
        chain = [
            ModelChoice(
                "primary", self.endpoint_of(provider), model, self.llm_structured_method, self.llm_timeout_s
            )
        ]
        if (backup := self.backup_endpoint()) is not None:
            chain.append(
                ModelChoice(
                    "backup",
                    backup,
                    self.backup_model(router) or model,
                    self.llm_backup_structured_method or self.llm_structured_method,
                    self.llm_backup_timeout_s or self.llm_timeout_s,
                )
            )
        return tuple(chain)

    def backup_model(self, router: bool) -> str | None:
        """The backup's model for a role (``LLM_BACKUP_ROUTER_MODEL``, ``LLM_BACKUP_MODEL``); None: the
        primary's."""
        return (self.llm_backup_router_model if router else None) or self.llm_backup_model

    def llm_endpoints(self) -> dict[str, ModelEndpoint]:
        """Every provider endpoint the routers' and workers' chains call, by name."""
        return {c.endpoint.name: c.endpoint for router in (False, True) for c in self.model_chain(router)}

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
    if problem := console_sign_in_problem(settings):
        raise ConfigError(f"invalid configuration: {problem}")
    if problems := llm_problems(settings):
        raise ConfigError("invalid configuration: " + "; ".join(dict.fromkeys(problems)))
    if problem := tls_problem(settings):
        raise ConfigError(f"invalid configuration: {problem}")
    return settings


def console_sign_in_problem(settings: Settings) -> str | None:
    """What makes the console's sign-in through the issuer unusable: a client id without AUTH_ISSUER, a client
    secret without a client id."""
    if settings.gateway_oidc_client_id is None:
        if settings.gateway_oidc_client_secret is not None:
            return "GATEWAY_OIDC_CLIENT_SECRET is set but GATEWAY_OIDC_CLIENT_ID is not"
        return None
    if not settings.auth_issuer:
        return "GATEWAY_OIDC_CLIENT_ID needs AUTH_ISSUER (the OpenID issuer the console signs in through)"
    return None


def tls_problem(settings: Settings) -> str | None:
    """What makes the TLS settings unusable: a partial set of files (naming the missing ones), a key that is not
    the certificate's, or TLS_SERVER_NAME without TLS."""
    files = {"TLS_CERT_FILE": settings.tls_cert_file, "TLS_KEY_FILE": settings.tls_key_file}
    files["TLS_CA_FILE"] = settings.tls_ca_file
    missing = [name for name, path in files.items() if path is None]
    if len(missing) == len(files):
        if settings.tls_server_name:
            return "TLS_SERVER_NAME is set but TLS is off: set TLS_CERT_FILE, TLS_KEY_FILE and TLS_CA_FILE"
        return None
    if missing:
        present = [name for name in files if name not in missing]
        return (
            "TLS_CERT_FILE, TLS_KEY_FILE and TLS_CA_FILE go together: "
            f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} missing ({', '.join(present)} set)"
        )
    assert settings.tls_cert_file and settings.tls_key_file
    try:
        check_key_matches(settings.tls_cert_file.read_bytes(), settings.tls_key_file.read_bytes())
    except (OSError, ValueError) as exc:
        return f"TLS_KEY_FILE={str(settings.tls_key_file)!r}: {exc}"
    return None


def llm_problems(settings: Settings) -> list[str]:
    """What makes the model settings unusable, each naming its variables: a provider without a key or URL, a
    router on another provider without its own model, a backup on another provider without its model, a model
    meant for another provider, a structured-output method the provider lacks."""
    problems: list[str] = []
    for router, variable in ((False, "LLM_PROVIDER"), (True, "LLM_ROUTER_PROVIDER")):
        provider = settings.role_provider(router)
        if provider is LlmProvider.OFFLINE or (router and settings.llm_router_provider is None):
            continue
        key, url = PROVIDER_VARIABLES[provider]
        if not (settings.endpoint_of(provider).api_key or settings.endpoint_of(provider).base_url):
            problems.append(f"{variable}={provider} needs {key} or {url}")
        if (
            router
            and provider is not settings.llm_provider
            and settings.llm_provider is not LlmProvider.OFFLINE
        ):
            if not settings.llm_router_model:
                problems.append(
                    f"LLM_ROUTER_PROVIDER={provider} differs from LLM_PROVIDER={settings.llm_provider}: set "
                    f"LLM_ROUTER_MODEL to a {provider} model (LLM_MODEL names the {settings.llm_provider} one)"
                )
    problems += _backup_problems(settings)
    problems += _model_problems(settings)
    return problems


def _backup_problems(settings: Settings) -> list[str]:
    backup = settings.backup_endpoint()
    if backup is None:
        return []
    problems = []
    if not (backup.api_key or backup.base_url):
        key, url = PROVIDER_VARIABLES[backup.provider]
        problems.append(
            f"LLM_BACKUP_PROVIDER={backup.provider} needs LLM_BACKUP_API_KEY or LLM_BACKUP_BASE_URL (or {key} "
            f"or {url})"
        )
    missing = [
        router
        for router in (False, True)
        if settings.role_provider(router) not in (LlmProvider.OFFLINE, backup.provider)
        and not settings.backup_model(router)
    ]
    if missing:
        variable = "LLM_BACKUP_MODEL" if False in missing else "LLM_BACKUP_ROUTER_MODEL (or LLM_BACKUP_MODEL)"
        backed_up = settings.role_provider(missing[0])
        problems.append(
            f"LLM_BACKUP_PROVIDER={backup.provider} backs up {backed_up} calls, whose model it cannot serve: set "
            f"{variable} to the {backup.provider} model to use"
        )
    return problems


def _model_problems(settings: Settings) -> list[str]:
    """Models and structured-output methods the provider of their chain link cannot serve."""
    problems = []
    for router in (False, True):
        for choice in settings.model_chain(router):
            if choice.endpoint.provider is not LlmProvider.ANTHROPIC:
                continue
            inherited = choice.slot == "backup" and not settings.backup_model(router)  # the primary's model
            if not inherited and _OPENAI_ONLY_MODEL.match(choice.model):
                problems.append(
                    f"{_model_variable(settings, choice, router)}={choice.model!r} is an OpenAI model, but its "
                    f"provider is anthropic: name a Claude model (for example {DEFAULT_MODELS[LlmProvider.ANTHROPIC]})"
                )
            if router and choice.structured_method == "json_mode":
                variable = (
                    "LLM_BACKUP_STRUCTURED_METHOD" if choice.slot == "backup" else "LLM_STRUCTURED_METHOD"
                )
                problems.append(
                    f"{variable}=json_mode is not offered by anthropic: use json_schema or function_calling"
                )
    return problems


def _model_variable(settings: Settings, choice: ModelChoice, router: bool) -> str:
    """The variable a chain link's model came from."""
    if choice.slot == "backup":
        if router and settings.llm_backup_router_model:
            return "LLM_BACKUP_ROUTER_MODEL"
        if settings.llm_backup_model:
            return "LLM_BACKUP_MODEL"
    return "LLM_ROUTER_MODEL" if router and settings.llm_router_model else "LLM_MODEL"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, loaded once."""
    return load_settings()
