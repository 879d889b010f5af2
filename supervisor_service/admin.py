"""``marketing.admin.v1.AdminService``: tenants, their API keys and their audit log (scope ``marketing.admin``).

The authentication interceptor binds the caller (``common.auth.principal``). A platform administrator (a principal
of ``AUTH_PLATFORM_TENANT``, or anyone when ``AUTH_DISABLED=true``) manages every tenant; any other administrator
manages only its own tenant, and another tenant's resources answer ``NOT_FOUND``. Creating, listing and deleting
tenants is for platform administrators only (``PERMISSION_DENIED``).

Social credentials are input only: handed to the team that uses them (``push_tenant_secrets``) before they are
stored encrypted, and never returned or logged.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import grpc
from google.protobuf import field_mask_pb2, timestamp_pb2
from google.protobuf.descriptor import Descriptor
from marketing.admin.v1 import admin_pb2, admin_pb2_grpc
from marketing.social.v1 import social_pb2
from marketing.team.v1 import team_pb2
from marketing.tenant.v1 import tenant_pb2

from common.agents.profile import (
    MAX_BRAND_ITEM_CHARS,
    MAX_BRAND_ITEMS,
    MAX_BRAND_TEXT_CHARS,
    MAX_MODEL_NAME_CHARS,
    MAX_WINDOWS,
)
from common.auth.principal import (
    DEFAULT_TENANT,
    AuthMethod,
    Principal,
    Scope,
    acting_as,
    current_principal,
    system_principal,
    valid_tenant_id,
)
from common.config import DEFAULT_TOOL_PRICES, Settings
from common.errors import (
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ServiceError,
    Unauthenticated,
)
from common.logging import get_logger
from common.secrets import DecryptionError, Keyring, SecretsUnavailable
from common.server import ServiceRegistration
from common.storage import Store
from common.storage.database import Database
from common.storage.pages import BadPageToken
from common.validation import check_range, check_text, raise_if_invalid
from supervisor_service.limits import LIMIT_FIELDS, PLATFORM_ONLY, check_limits, limit_roots, limits_blob
from supervisor_service.team_audit import (
    SUPERVISOR_SOURCE,
    TeamAuditReader,
    newest_first_key,
    no_team_audit,
)
from supervisor_service.tenants import (
    SECRET_NAMES,
    AlreadyExists,
    ApiKeyRecord,
    Audit,
    AuditEvent,
    TenantRecord,
    TenantStore,
    api_key_id,
)
from supervisor_service.usage import usage_range, usage_report

log = get_logger(__name__)

SERVICE_NAME = admin_pb2.DESCRIPTOR.services_by_name["AdminService"].full_name

TenantEraser = Callable[[str], Awaitable[int]]
"""Erases a tenant's workflows and team data everywhere; returns the number of workflows erased."""
SecretsPusher = Callable[[str, dict[str, str]], Awaitable[None]]
"""Hands a tenant's secrets (by name; an empty value deletes one) to the team that uses them."""
ToolNames = Callable[[], Awaitable[Collection[str]]]
"""The names of the tools the teams offer (as ListTools shows them)."""

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
MAX_DISPLAY_NAME = 200
MAX_BRAND_TEXT = MAX_BRAND_TEXT_CHARS  # the agents use no more: longer is refused, not clipped
MAX_LIST_ITEMS = MAX_BRAND_ITEMS
MAX_PHRASE = MAX_BRAND_ITEM_CHARS
MAX_TOOLS = 100
MAX_DOCUMENTS = 50
MAX_DOCUMENTS_BYTES = 1_000_000
MAX_TITLE = 300
MAX_RETENTION_DAYS = 36_500
MAX_SECRET_CHARS = 4096
MODEL_NAME = re.compile(rf"^[A-Za-z0-9][A-Za-z0-9._:/@+-]{{0,{MAX_MODEL_NAME_CHARS - 1}}}$")
TOOL_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
DOCUMENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
HASHTAG = re.compile(r"^#?\w{1,100}$")
TOKEN = re.compile(r"^[\x21-\x7e]+$")  # printable ASCII, no spaces
LINKEDIN_URN = re.compile(r"^urn:li:(person|organization):[A-Za-z0-9_-]{1,100}$")
UPDATABLE = ("display_name", "profile", "retention_days", "social_credentials", *LIMIT_FIELDS)
"""The fields UpdateTenant changes; ``*`` means all but ``social_credentials`` (input only, so a read-modify-write
never sees them and must not wipe them)."""
_SUBMESSAGES = cast(
    dict[str, Descriptor],
    {
        "profile": tenant_pb2.TenantProfile.DESCRIPTOR,
        "social_credentials": admin_pb2.SocialCredentials.DESCRIPTOR,
        "default_budget": team_pb2.Budget.DESCRIPTOR,
        "budget_ceiling": team_pb2.Budget.DESCRIPTOR,
        "quotas": admin_pb2.TenantQuotas.DESCRIPTOR,
        "rate_limits": admin_pb2.RateLimits.DESCRIPTOR,
    },
)
PLATFORMS = frozenset(v for v in social_pb2.Platform.values() if v != social_pb2.PLATFORM_UNSPECIFIED)
SCOPES = frozenset(s.value for s in Scope)


@dataclass(frozen=True)
class TenantChanges:
    """The columns an update changes (None: unchanged)."""

    display_name: str | None
    profile: bytes | None
    retention_days: int | None
    limits: bytes | None = None


REFUSALS = frozenset({"INVALID_ARGUMENT", "FAILED_PRECONDITION", "PERMISSION_DENIED"})
"""Codes of a team that refuses the secrets (any other failure is UNAVAILABLE: try again)."""


class Unavailable(ServiceError):
    """A service this call depends on did not answer; nothing was changed."""

    code = grpc.StatusCode.UNAVAILABLE


async def _erase_nothing(tenant_id: str) -> int:
    return 0


async def _push_nowhere(tenant_id: str, secrets: dict[str, str]) -> None:
    return None


# --- validation --------------------------------------------------------------------------------------------


def _check_list(
    field: str, values: Sequence[str], max_items: int, pattern: re.Pattern[str] | None = None
) -> list[FieldViolation]:
    problems = []
    if len(values) > max_items:
        problems.append(FieldViolation(field, f"must hold at most {max_items} items (got {len(values)})"))
    for i, value in enumerate(values[:max_items]):
        problems += check_text(f"{field}[{i}]", value, max_chars=MAX_PHRASE)
        if pattern is not None and value and not pattern.match(value):
            problems.append(FieldViolation(f"{field}[{i}]", f"must match {pattern.pattern}"))
    return problems


def _check_brand(field: str, brand: tenant_pb2.BrandProfile) -> list[FieldViolation]:
    problems = check_text(f"{field}.voice", brand.voice, max_chars=MAX_BRAND_TEXT, required=False)
    problems += check_text(f"{field}.audience", brand.audience, max_chars=MAX_BRAND_TEXT, required=False)
    problems += _check_list(f"{field}.banned_phrases", brand.banned_phrases, MAX_LIST_ITEMS)
    problems += _check_list(f"{field}.required_disclosures", brand.required_disclosures, MAX_LIST_ITEMS)
    problems += _check_list(f"{field}.default_hashtags", brand.default_hashtags, MAX_LIST_ITEMS, HASHTAG)
    return problems


def _check_platforms(field: str, platforms: Sequence[int]) -> list[FieldViolation]:
    problems = []
    for i, platform in enumerate(platforms):
        if platform not in PLATFORMS:
            problems.append(
                FieldViolation(f"{field}[{i}]", f"unknown or unspecified Platform value {platform}")
            )
        elif platform in platforms[:i]:
            problems.append(FieldViolation(f"{field}[{i}]", "is listed twice"))
    return problems


def _check_time_zone(field: str, time_zone: str) -> list[FieldViolation]:
    if not time_zone:
        return []
    try:
        zoneinfo.ZoneInfo(time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return [FieldViolation(field, "must be an IANA time zone such as Europe/Berlin")]
    return []


def _check_window(field: str, window: tenant_pb2.PostingWindow) -> list[FieldViolation]:
    problems = []
    if window.platform != social_pb2.PLATFORM_UNSPECIFIED and window.platform not in PLATFORMS:
        problems.append(FieldViolation(f"{field}.platform", f"unknown Platform value {window.platform}"))
    for i, day in enumerate(window.weekdays):
        problems += check_range(f"{field}.weekdays[{i}]", day, 1, 7)
        if day in window.weekdays[:i]:
            problems.append(FieldViolation(f"{field}.weekdays[{i}]", "is listed twice"))
    problems += check_range(f"{field}.start_hour", window.start_hour, 0, 23)
    problems += check_range(f"{field}.end_hour", window.end_hour, 1, 24)
    if window.end_hour <= window.start_hour:
        problems.append(FieldViolation(f"{field}.end_hour", "must be after start_hour"))
    return problems


def _check_models(field: str, models: tenant_pb2.ModelChoices) -> list[FieldViolation]:
    return [
        FieldViolation(f"{field}.{name}", f"must be a model name matching {MODEL_NAME.pattern}")
        for name, value in (("router_model", models.router_model), ("worker_model", models.worker_model))
        if value and not MODEL_NAME.match(value)
    ]


def _check_tools(field: str, tools: Sequence[str], known: Collection[str] | None) -> list[FieldViolation]:
    if len(tools) > MAX_TOOLS:
        return [FieldViolation(field, f"must hold at most {MAX_TOOLS} tools (got {len(tools)})")]
    problems = []
    for i, name in enumerate(tools):
        if not TOOL_NAME.match(name):
            problems.append(FieldViolation(f"{field}[{i}]", "must be a tool name as ListTools shows it"))
        elif known is not None and name not in known:
            problems.append(
                FieldViolation(f"{field}[{i}]", f"unknown tool {name!r}; ListTools shows the tools")
            )
        elif name in tools[:i]:
            problems.append(FieldViolation(f"{field}[{i}]", "is listed twice"))
    return problems


def _check_documents(field: str, documents: Sequence[tenant_pb2.KnowledgeDocument]) -> list[FieldViolation]:
    if len(documents) > MAX_DOCUMENTS:
        return [FieldViolation(field, f"must hold at most {MAX_DOCUMENTS} documents (got {len(documents)})")]
    problems = []
    seen: set[str] = set()
    size = 0
    for i, document in enumerate(documents):
        if not DOCUMENT_ID.match(document.id):
            problems.append(
                FieldViolation(
                    f"{field}[{i}].id",
                    "must be 1-128 letters, digits, '-', '_' or '.', not starting with one of those marks",
                )
            )
        elif document.id in seen:
            problems.append(FieldViolation(f"{field}[{i}].id", f"{document.id!r} is used twice"))
        seen.add(document.id)
        problems += check_text(f"{field}[{i}].title", document.title, max_chars=MAX_TITLE, required=False)
        problems += check_text(f"{field}[{i}].body", document.body, max_chars=MAX_DOCUMENTS_BYTES)
        size += len(document.title.encode()) + len(document.body.encode())
    if size > MAX_DOCUMENTS_BYTES:
        problems.append(FieldViolation(field, f"must total at most {MAX_DOCUMENTS_BYTES} bytes (got {size})"))
    return problems


def check_profile(
    field: str, profile: tenant_pb2.TenantProfile, known_tools: Collection[str] | None = None
) -> list[FieldViolation]:
    """Violations of a tenant profile; ``known_tools`` (when known) are the tool names ``enabled_tools`` may use."""
    problems = _check_brand(f"{field}.brand", profile.brand)
    problems += _check_platforms(f"{field}.enabled_platforms", profile.enabled_platforms)
    problems += _check_time_zone(f"{field}.time_zone", profile.time_zone)
    if len(profile.posting_windows) > MAX_WINDOWS:
        problems.append(
            FieldViolation(f"{field}.posting_windows", f"must hold at most {MAX_WINDOWS} windows")
        )
    for i, window in enumerate(profile.posting_windows[:MAX_WINDOWS]):
        problems += _check_window(f"{field}.posting_windows[{i}]", window)
    problems += _check_models(f"{field}.models", profile.models)
    problems += _check_tools(f"{field}.enabled_tools", profile.enabled_tools, known_tools)
    problems += _check_documents(f"{field}.knowledge_documents", profile.knowledge_documents)
    return problems


def check_credentials(field: str, values: Mapping[str, str]) -> list[FieldViolation]:
    """Violations of social credentials; descriptions never repeat a value."""
    problems = []
    for name, value in values.items():
        if not value:
            continue
        if len(value) > MAX_SECRET_CHARS:
            problems.append(
                FieldViolation(f"{field}.{name}", f"must be at most {MAX_SECRET_CHARS} characters")
            )
        elif name == "linkedin_author_urn" and not LINKEDIN_URN.match(value):
            problems.append(
                FieldViolation(f"{field}.{name}", "must be urn:li:person:<id> or urn:li:organization:<id>")
            )
        elif not TOKEN.match(value):
            problems.append(FieldViolation(f"{field}.{name}", "must be printable ASCII without spaces"))
    return problems


def _check_tenant_id(field: str, tenant_id: str) -> list[FieldViolation]:
    if not valid_tenant_id(tenant_id):
        return [
            FieldViolation(
                field, "must be 2-63 lower-case letters, digits and '-', starting with a letter or digit"
            )
        ]
    return []


def _check_page(page_size: int, page_token: str) -> list[FieldViolation]:
    problems = check_range("page_size", page_size, 0, MAX_PAGE_SIZE)
    problems += check_text("page_token", page_token, max_chars=1000, required=False)
    return problems


def credentials_of(message: admin_pb2.SocialCredentials) -> dict[str, str]:
    """Every credential of the message by name (empty values included: they clear)."""
    return {name: getattr(message, name) for name in SECRET_NAMES}


def _path_ok(path: str) -> bool:
    root, _, rest = path.partition(".")
    if path == "*" or (root in UPDATABLE and not rest):
        return True
    message = _SUBMESSAGES.get(root)
    return message is not None and bool(field_mask_pb2.FieldMask(paths=[rest]).IsValidForDescriptor(message))


def check_mask(paths: Sequence[str]) -> list[FieldViolation]:
    """Violations of an UpdateTenant field mask (AIP-134): unknown or output-only paths."""
    return [
        FieldViolation(
            f"update_mask.paths[{i}]",
            f"unknown or output-only field {path!r}; updatable: {', '.join(UPDATABLE)} and their subfields",
        )
        for i, path in enumerate(paths)
        if not _path_ok(path)
    ]


def _changed_secrets(update: admin_pb2.SocialCredentials, paths: Sequence[str]) -> dict[str, str] | None:
    """The credentials a mask changes (all for ``social_credentials``, else the named ones), validated; None when
    it names none."""
    if "social_credentials" in paths:
        values = credentials_of(update)
    else:
        names = [p.partition(".")[2] for p in paths if p.startswith("social_credentials.")]
        if not names:
            return None
        values = {name: getattr(update, name) for name in names}
    raise_if_invalid(check_credentials("tenant.social_credentials", values))
    return values


def _with_parents(update: admin_pb2.Tenant, paths: Sequence[str]) -> admin_pb2.Tenant:
    """A copy of ``update`` where the messages on the way to each path are present, so that a path whose
    message the request leaves out is cleared (AIP-134) rather than skipped."""
    source = admin_pb2.Tenant()
    source.CopyFrom(update)
    for path in paths:
        message: Any = source
        for name in path.split(".")[:-1]:
            message = getattr(message, name)
            message.SetInParent()
    return source


def mask_paths(request: admin_pb2.UpdateTenantRequest) -> list[str]:
    """The mask's paths in canonical form: ``*`` expanded, or the populated fields when the mask is empty."""
    paths = list(request.update_mask.paths)
    if not paths:
        tenant = request.tenant
        populated = {
            "display_name": bool(tenant.display_name),
            "profile": tenant.HasField("profile"),
            "retention_days": bool(tenant.retention_days),
            "social_credentials": tenant.HasField("social_credentials"),
            **{name: tenant.HasField(name) for name in LIMIT_FIELDS},
        }
        paths = [name for name, present in populated.items() if present]
    if "*" in paths:
        paths = [p for p in paths if p != "*"] + ["display_name", "profile", "retention_days"]
    canonical = field_mask_pb2.FieldMask()
    canonical.CanonicalFormFromMask(field_mask_pb2.FieldMask(paths=paths))
    return list(canonical.paths)


# --- conversion --------------------------------------------------------------------------------------------


def _timestamp(moment: datetime | None) -> timestamp_pb2.Timestamp | None:
    if moment is None:
        return None
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def tenant_to_proto(record: TenantRecord) -> admin_pb2.Tenant:
    """A tenant row as the API shows it: which credentials are set, never the credentials."""
    tenant = admin_pb2.Tenant(
        id=record.id,
        display_name=record.display_name,
        profile=tenant_pb2.TenantProfile.FromString(record.profile),
        retention_days=record.retention_days,
        social_credentials_status=admin_pb2.SocialCredentialsStatus(
            x_configured="x_bearer_token" in record.secret_names,
            linkedin_configured={"linkedin_access_token", "linkedin_author_urn"} <= record.secret_names,
        ),
        create_time=_timestamp(record.created_at),
        update_time=_timestamp(record.updated_at),
    )
    tenant.MergeFromString(record.limits)
    return tenant


def api_key_to_proto(record: ApiKeyRecord) -> admin_pb2.ApiKey:
    """An API key row as the API shows it (never the key or its hash)."""
    return admin_pb2.ApiKey(
        id=record.id,
        tenant_id=record.tenant_id,
        display_name=record.display_name,
        scopes=sorted(record.scopes),
        create_time=_timestamp(record.created_at),
        expire_time=_timestamp(record.expires_at),
        last_use_time=_timestamp(record.last_used_at),
        revoke_time=_timestamp(record.revoked_at),
    )


def event_to_proto(event: AuditEvent) -> admin_pb2.AuditEvent:
    """An audit event row as the API shows it."""
    return admin_pb2.AuditEvent(
        id=event.id,
        tenant_id=event.tenant_id,
        actor=event.actor,
        action=event.action,
        resource=event.resource,
        time=_timestamp(event.at),
        details=event.details,
        source=SUPERVISOR_SOURCE,
    )


# --- the servicer ------------------------------------------------------------------------------------------


class AdminServicer(admin_pb2_grpc.AdminServiceServicer):
    """Validates, authorizes (platform or own tenant) and audits every change to tenants and API keys."""

    def __init__(
        self,
        store: TenantStore,
        platform_tenant: str,
        *,
        erase_tenant_data: TenantEraser | None = None,
        push_tenant_secrets: SecretsPusher | None = None,
        known_tools: ToolNames | None = None,
        team_audit: TeamAuditReader | None = None,
    ) -> None:
        """Args:
        store: Tenants, API keys and the audit log.
        platform_tenant: ``AUTH_PLATFORM_TENANT``: its administrators manage every tenant.
        erase_tenant_data: Erases a deleted tenant's workflows and team data; returns the workflows erased.
        push_tenant_secrets: Hands a tenant's social credentials to the team that uses them.
        known_tools: The tool names ``profile.enabled_tools`` may name; without it any well-formed name passes.
        team_audit: Reads the teams' own audit logs (publish attempts ...), merged into ListAuditEvents.
        """
        self.store = store
        self.team_audit = team_audit or no_team_audit
        self.platform_tenant = platform_tenant
        self.erase_tenant_data = erase_tenant_data or _erase_nothing
        self.push_tenant_secrets = push_tenant_secrets or _push_nowhere
        self.known_tools = known_tools
        self.tool_prices: Mapping[str, float] = dict(
            DEFAULT_TOOL_PRICES
        )  # GetUsage's unit prices (TOOL_PRICES)

    # --- who may do what ----------------------------------------------------------------------------------

    @staticmethod
    def _admin() -> Principal:
        principal = current_principal()
        if principal is None:
            raise Unauthenticated(
                "this call needs credentials: authorization: Bearer <token or API key>", "missing_credentials"
            )
        if not principal.has(Scope.ADMIN):
            raise PermissionDenied(f"this call needs the {Scope.ADMIN.value} scope", "missing_scope")
        return principal

    def _is_platform(self, principal: Principal) -> bool:
        return principal.tenant_id == self.platform_tenant or principal.method is AuthMethod.DISABLED

    def _platform_admin(self) -> Principal:
        principal = self._admin()
        if not self._is_platform(principal):
            raise PermissionDenied(
                f"only administrators of the platform tenant ({self.platform_tenant}) manage tenants",
                "platform_admin_required",
            )
        return principal

    def _authorize(self, principal: Principal, tenant_id: str) -> None:
        """Another tenant's resources answer NOT_FOUND, as a missing tenant does (existence is not leaked)."""
        if not self._is_platform(principal) and tenant_id != principal.tenant_id:
            raise NotFound(f"tenant {tenant_id} not found")

    async def _existing(self, tenant_id: str) -> TenantRecord:
        record = await self.store.get_tenant(tenant_id)
        if record is None:
            raise NotFound(f"tenant {tenant_id} not found")
        return record

    # --- callbacks ----------------------------------------------------------------------------------------

    async def _tool_names(self, profile: tenant_pb2.TenantProfile) -> Collection[str] | None:
        if self.known_tools is None or not profile.enabled_tools:
            return None
        try:
            return set(await self.known_tools())
        except Exception as exc:  # the teams are down: check the names' form only
            log.warning("tool_names_unavailable", error=type(exc).__name__)
            return None

    async def _push(self, tenant_id: str, values: Mapping[str, str]) -> None:
        """Hand the secrets to the team before storing them: a failure leaves nothing half-written."""
        try:
            with acting_as(system_principal(tenant_id)):  # team calls carry the tenant the secrets belong to
                await self.push_tenant_secrets(tenant_id, dict(values))
        except ServiceError:
            raise
        except Exception as exc:
            code = exc.code().name if isinstance(exc, grpc.aio.AioRpcError) else str(getattr(exc, "code", ""))
            log.warning("tenant_secrets_push_failed", tenant=tenant_id, error=type(exc).__name__, code=code)
            if code in REFUSALS:  # the team's details are not repeated: they might quote a value
                raise FailedPrecondition(
                    f"the team that uses the social credentials of tenant {tenant_id} refused them ({code}); "
                    "nothing was changed"
                ) from None
            raise Unavailable(
                f"the social credentials of tenant {tenant_id} could not be handed to the team that uses them "
                f"({code or type(exc).__name__}); nothing was changed, try again"
            ) from None

    def _need_keyring(self, values: Mapping[str, str]) -> None:
        if any(values.values()) and self.store.keyring is None:
            raise SecretsUnavailable("social credentials")

    # --- tenants ------------------------------------------------------------------------------------------

    async def CreateTenant(
        self, request: admin_pb2.CreateTenantRequest, context: grpc.aio.ServicerContext
    ) -> admin_pb2.CreateTenantResponse:
        principal = self._platform_admin()
        tenant = request.tenant
        problems = _check_tenant_id("tenant.id", tenant.id)
        problems += check_text(
            "tenant.display_name", tenant.display_name, max_chars=MAX_DISPLAY_NAME, required=False
        )
        problems += check_profile("tenant.profile", tenant.profile, await self._tool_names(tenant.profile))
        problems += check_range("tenant.retention_days", tenant.retention_days, 0, MAX_RETENTION_DAYS)
        secrets = credentials_of(tenant.social_credentials)
        problems += check_credentials("tenant.social_credentials", secrets)
        problems += check_limits("tenant", tenant)
        raise_if_invalid(problems)
        self._need_keyring(secrets)
        if any(secrets.values()):
            if await self.store.get_tenant(tenant.id) is not None:
                raise AlreadyExists(f"tenant {tenant.id} already exists")
            await self._push(tenant.id, secrets)
        record = await self.store.create_tenant(
            tenant.id,
            tenant.display_name.strip() or tenant.id,
            Audit(principal.actor),
            profile=tenant.profile.SerializeToString(),
            retention_days=tenant.retention_days,
            secrets=secrets,
            limits=limits_blob(tenant),
        )
        log.info("tenant_created", tenant=tenant.id, actor=principal.actor)
        return admin_pb2.CreateTenantResponse(tenant=tenant_to_proto(record))

    async def GetTenant(
        self, request: admin_pb2.GetTenantRequest, context: grpc.aio.ServicerContext
    ) -> admin_pb2.GetTenantResponse:
        principal = self._admin()
        raise_if_invalid(_check_tenant_id("tenant_id", request.tenant_id))
        self._authorize(principal, request.tenant_id)
        return admin_pb2.GetTenantResponse(tenant=tenant_to_proto(await self._existing(request.tenant_id)))

    async def UpdateTenant(
        self, request: admin_pb2.UpdateTenantRequest, context: grpc.aio.ServicerContext
    ) -> admin_pb2.UpdateTenantResponse:
        principal = self._admin()
        tenant_id = request.tenant.id
        problems = _check_tenant_id("tenant.id", tenant_id) + check_mask(request.update_mask.paths)
        paths = mask_paths(request) if not problems else []
        if not problems and not paths:
            problems.append(
                FieldViolation("update_mask", "names no field, and the tenant sets none to change")
            )
        raise_if_invalid(problems)
        self._authorize(principal, tenant_id)
        if limit_roots(paths) & PLATFORM_ONLY and not self._is_platform(principal):
            raise PermissionDenied(
                "only platform administrators change a tenant's budget ceiling, quotas and rate limits",
                "platform_admin_required",
            )
        current = await self._existing(tenant_id)
        changes = await self._merge(request.tenant, current, paths)
        secrets = _changed_secrets(request.tenant.social_credentials, paths)
        if secrets is not None:
            self._need_keyring(secrets)
            secrets = {**await self._stored_secrets(tenant_id, secrets), **secrets}
            await self._push(tenant_id, secrets)
        record = await self.store.update_tenant(
            tenant_id,
            Audit(principal.actor, {"paths": ",".join(paths)}),
            display_name=changes.display_name,
            profile=changes.profile,
            retention_days=changes.retention_days,
            secrets=secrets,
            limits=changes.limits,
        )
        if record is None:  # deleted meanwhile
            raise NotFound(f"tenant {tenant_id} not found")
        log.info("tenant_updated", tenant=tenant_id, paths=paths, actor=principal.actor)
        return admin_pb2.UpdateTenantResponse(tenant=tenant_to_proto(record))

    async def _merge(
        self, update: admin_pb2.Tenant, current: TenantRecord, paths: Sequence[str]
    ) -> TenantChanges:
        """The changed columns: the masked fields of ``update`` merged into ``current``, validated."""
        merged = admin_pb2.Tenant(
            display_name=current.display_name,
            profile=tenant_pb2.TenantProfile.FromString(current.profile),
            retention_days=current.retention_days,
        )
        merged.MergeFromString(current.limits)
        plain = [p for p in paths if not p.startswith("social_credentials")]
        if plain:
            field_mask_pb2.FieldMask(paths=plain).MergeMessage(
                _with_parents(update, plain), merged, replace_message_field=True, replace_repeated_field=True
            )
        roots = {p.partition(".")[0] for p in plain}
        problems = []
        if "display_name" in roots:
            problems += check_text("tenant.display_name", merged.display_name, max_chars=MAX_DISPLAY_NAME)
        if "profile" in roots:
            problems += check_profile(
                "tenant.profile", merged.profile, await self._tool_names(merged.profile)
            )
        if "retention_days" in roots:
            problems += check_range("tenant.retention_days", merged.retention_days, 0, MAX_RETENTION_DAYS)
        if limit_roots(plain):
            problems += check_limits("tenant", merged)
        raise_if_invalid(problems)
        return TenantChanges(
            display_name=merged.display_name.strip() if "display_name" in roots else None,
            profile=merged.profile.SerializeToString() if "profile" in roots else None,
            retention_days=merged.retention_days if "retention_days" in roots else None,
            limits=limits_blob(merged) if limit_roots(plain) else None,
        )

    async def _stored_secrets(self, tenant_id: str, changed: Mapping[str, str]) -> dict[str, str]:
        """The credentials a change keeps: every name, empty unless stored and not changed."""
        kept = dict.fromkeys(SECRET_NAMES, "")
        if set(changed) == set(SECRET_NAMES):
            return kept
        try:
            return {**kept, **await self.store.tenant_secrets(tenant_id)}
        except DecryptionError as exc:
            raise FailedPrecondition(
                f"the stored social credentials of tenant {tenant_id} do not decrypt with the keys of "
                f"SECRETS_KEY_FILE ({exc}); replace them all with update_mask social_credentials"
            ) from None

    async def ListTenants(
        self, request: admin_pb2.ListTenantsRequest, context: grpc.aio.ServicerContext
    ) -> admin_pb2.ListTenantsResponse:
        self._platform_admin()
        raise_if_invalid(_check_page(request.page_size, request.page_token))
        try:
            records, token = await self.store.list_tenants(
                request.page_size or DEFAULT_PAGE_SIZE, request.page_token
            )
        except BadPageToken as exc:
            raise InvalidArgument([FieldViolation("page_token", str(exc))]) from None
        return admin_pb2.ListTenantsResponse(
            tenants=[tenant_to_proto(r) for r in records], next_page_token=token
        )

    async def DeleteTenant(
        self, request: admin_pb2.DeleteTenantRequest, context: grpc.aio.ServicerContext
    ) -> admin_pb2.DeleteTenantResponse:
        principal = self._platform_admin()
        tenant_id = request.tenant_id
        raise_if_invalid(_check_tenant_id("tenant_id", tenant_id))
        if tenant_id == self.platform_tenant:
            raise FailedPrecondition(f"the platform tenant ({tenant_id}) cannot be deleted")
        await self._existing(tenant_id)
        try:
            with acting_as(system_principal(tenant_id)):  # team calls carry the tenant to erase
                erased = await self.erase_tenant_data(tenant_id)
        except ServiceError:
            raise
        except Exception as exc:
            log.warning("tenant_erasure_failed", tenant=tenant_id, error=type(exc).__name__)
            raise Unavailable(
                f"tenant {tenant_id} could not be erased everywhere ({type(exc).__name__}); it is kept, try again"
            ) from None
        audit = Audit(principal.actor, {"erased_workflows": str(erased)})
        await self.store.delete_tenant(tenant_id, audit, recorded_under=self.platform_tenant)
        log.info("tenant_deleted", tenant=tenant_id, erased_workflows=erased, actor=principal.actor)
        return admin_pb2.DeleteTenantResponse(erased_workflows=erased)

    # --- API keys -----------------------------------------------------------------------------------------

    async def CreateApiKey(
        self, request: admin_pb2.CreateApiKeyRequest, context: grpc.aio.ServicerContext
    ) -> admin_pb2.CreateApiKeyResponse:
        principal = self._admin()
        problems = _check_tenant_id("tenant_id", request.tenant_id)
        problems += check_text(
            "display_name", request.display_name, max_chars=MAX_DISPLAY_NAME, required=False
        )
        problems += check_scopes("scopes", request.scopes)
        expires_at = request.expire_time.ToDatetime(UTC) if request.HasField("expire_time") else None
        if expires_at is not None and expires_at <= datetime.now(UTC):
            problems.append(FieldViolation("expire_time", "must be in the future"))
        raise_if_invalid(problems)
        self._authorize(principal, request.tenant_id)
        created = await self.store.create_api_key(
            request.tenant_id,
            request.display_name.strip(),
            set(request.scopes),
            Audit(principal.actor),
            expires_at,
        )
        if created is None:
            raise NotFound(f"tenant {request.tenant_id} not found")
        record, key = created
        log.info("api_key_created", tenant=request.tenant_id, api_key_id=record.id, actor=principal.actor)
        return admin_pb2.CreateApiKeyResponse(api_key=api_key_to_proto(record), key=key)

    async def ListApiKeys(
        self, request: admin_pb2.ListApiKeysRequest, context: grpc.aio.ServicerContext
    ) -> admin_pb2.ListApiKeysResponse:
        principal = self._admin()
        problems = _check_tenant_id("tenant_id", request.tenant_id)
        raise_if_invalid(problems + _check_page(request.page_size, request.page_token))
        self._authorize(principal, request.tenant_id)
        await self._existing(request.tenant_id)
        try:
            records, token = await self.store.list_api_keys(
                request.tenant_id, request.page_size or DEFAULT_PAGE_SIZE, request.page_token
            )
        except BadPageToken as exc:
            raise InvalidArgument([FieldViolation("page_token", str(exc))]) from None
        return admin_pb2.ListApiKeysResponse(
            api_keys=[api_key_to_proto(r) for r in records], next_page_token=token
        )

    async def RevokeApiKey(
        self, request: admin_pb2.RevokeApiKeyRequest, context: grpc.aio.ServicerContext
    ) -> admin_pb2.RevokeApiKeyResponse:
        principal = self._admin()
        problems = _check_tenant_id("tenant_id", request.tenant_id)
        key_id = api_key_id(request.api_key_id)
        if key_id is None:
            problems.append(
                FieldViolation("api_key_id", "must be the key's id: 12 hex digits (or mka_<12 hex>)")
            )
        raise_if_invalid(problems)
        assert key_id is not None
        self._authorize(principal, request.tenant_id)
        record = await self.store.revoke_api_key(request.tenant_id, key_id, Audit(principal.actor))
        if record is None:
            raise NotFound(f"api key {key_id} of tenant {request.tenant_id} not found")
        log.info("api_key_revoked", tenant=request.tenant_id, api_key_id=key_id, actor=principal.actor)
        return admin_pb2.RevokeApiKeyResponse(api_key=api_key_to_proto(record))

    # --- audit log ----------------------------------------------------------------------------------------

    async def ListAuditEvents(
        self, request: admin_pb2.ListAuditEventsRequest, context: grpc.aio.ServicerContext
    ) -> admin_pb2.ListAuditEventsResponse:
        principal = self._admin()
        problems = _check_tenant_id("tenant_id", request.tenant_id)
        raise_if_invalid(problems + _check_page(request.page_size, request.page_token))
        self._authorize(principal, request.tenant_id)
        tenant_id, page_size = request.tenant_id, request.page_size or DEFAULT_PAGE_SIZE
        try:
            before = self.store.events_cursor(tenant_id, request.page_token)
            events, token = await self.store.list_events(tenant_id, page_size, request.page_token)
        except BadPageToken as exc:
            raise InvalidArgument([FieldViolation("page_token", str(exc))]) from None
        # The teams' own events (the social team's publish attempts) from the same cursor, merged newest first;
        # the next page continues after the last event shown, in every log.
        teams = await self.team_audit(tenant_id, page_size, before)
        merged = sorted(
            [event_to_proto(e) for e in events] + teams.events, key=newest_first_key, reverse=True
        )
        page = merged[:page_size]
        more = bool(token) or teams.more or len(merged) > page_size
        if more and page:
            last = page[-1]
            token = self.store.events_token(tenant_id, last.time.ToDatetime(UTC), last.id)
        return admin_pb2.ListAuditEventsResponse(
            audit_events=page, next_page_token=token if more else "", unreachable_sources=teams.unreachable
        )

    async def GetUsage(
        self, request: admin_pb2.GetUsageRequest, context: grpc.aio.ServicerContext
    ) -> admin_pb2.GetUsageResponse:
        """A tenant's usage for billing (``supervisor_service.usage``); another tenant's is NOT_FOUND."""
        principal = self._admin()
        problems = _check_tenant_id("tenant_id", request.tenant_id)
        start, end, more = usage_range(
            request.start_time if request.HasField("start_time") else None,
            request.end_time if request.HasField("end_time") else None,
            datetime.now(UTC),
        )
        if request.group_by not in admin_pb2.UsageGrouping.values():
            more.append(FieldViolation("group_by", f"unknown UsageGrouping value {request.group_by}"))
        raise_if_invalid(problems + more)
        self._authorize(principal, request.tenant_id)
        await self._existing(request.tenant_id)
        return await usage_report(
            Store(self.store.db), request.tenant_id, start, end, request.group_by, self.tool_prices
        )


def check_scopes(field: str, scopes: Iterable[str]) -> list[FieldViolation]:
    """Violations of an API key's scopes: at least one, each known."""
    scopes = list(scopes)
    if not scopes:
        return [FieldViolation(field, f"must name at least one scope: {', '.join(sorted(SCOPES))}")]
    return [
        FieldViolation(f"{field}[{i}]", f"unknown scope {scope!r}; known: {', '.join(sorted(SCOPES))}")
        for i, scope in enumerate(scopes)
        if scope not in SCOPES
    ]


# --- wiring ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AdminParts:
    """What the supervisor serves and shares: the AdminService registration, the servicer and the tenant store
    (the API-key lookup of the authentication interceptor, the tenants' profiles and retention, the audit log)."""

    registration: ServiceRegistration
    servicer: AdminServicer
    store: TenantStore


async def build_admin(
    settings: Settings,
    database: Database,
    *,
    erase_tenant_data: TenantEraser | None = None,
    push_tenant_secrets: SecretsPusher | None = None,
    known_tools: ToolNames | None = None,
    team_audit: TeamAuditReader | None = None,
) -> AdminParts:
    """The AdminService of the supervisor, on its records database.

    Loads ``SECRETS_KEY_FILE``, and creates the platform tenant (and, with ``AUTH_DISABLED=true``, the default
    tenant) when they do not exist.

    Args:
        settings: ``AUTH_PLATFORM_TENANT``, ``SECRETS_KEY_FILE``, ``AUTH_DISABLED``.
        database: The supervisor's records database, migrated with ``supervisor_service`` (``open_store(settings,
            "supervisor", migrations=("supervisor_service",))``).
        erase_tenant_data: See :class:`AdminServicer`.
        push_tenant_secrets: See :class:`AdminServicer`.
        known_tools: See :class:`AdminServicer`.
        team_audit: See :class:`AdminServicer`.

    Raises:
        ConfigError: A malformed key file.
    """
    store = TenantStore(database, Keyring.from_path(settings.secrets_key_file))
    await store.ensure_tenant(settings.auth_platform_tenant, "Platform")
    if settings.auth_disabled:
        await store.ensure_tenant(DEFAULT_TENANT, "Default")
    servicer = AdminServicer(
        store,
        settings.auth_platform_tenant,
        erase_tenant_data=erase_tenant_data,
        push_tenant_secrets=push_tenant_secrets,
        known_tools=known_tools,
        team_audit=team_audit,
    )
    servicer.tool_prices = settings.tool_prices
    registration = ServiceRegistration(
        SERVICE_NAME, lambda server: admin_pb2_grpc.add_AdminServiceServicer_to_server(servicer, server)
    )
    return AdminParts(registration, servicer, store)
