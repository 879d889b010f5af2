"""The caller of an RPC: a principal of one tenant, with scopes; visible to the code handling its call.

The supervisor's authentication interceptor binds the principal for the duration of a call; the supervisor passes
the tenant and subject to the teams in call metadata, and a team's identity interceptor binds them again there.
Every store query and every team call of a request reads the tenant from here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from enum import StrEnum

import structlog
from opentelemetry import trace

DEFAULT_TENANT = "default"
"""The tenant of every call when AUTH_DISABLED=true (make demo, make up, tests)."""

TENANT_ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
"""A tenant id: 2-63 lower-case letters, digits and '-', starting with a letter or digit."""

TENANT_METADATA = "x-marketing-tenant"
SUBJECT_METADATA = "x-marketing-subject"
"""Call metadata that carries the caller's tenant and subject from the supervisor to the teams."""


class Scope(StrEnum):
    """What a credential allows."""

    TASKS_WRITE = "marketing.tasks.write"  # run, resume, cancel and delete workflows
    TASKS_READ = "marketing.tasks.read"  # read workflows, list tools
    REVIEWS_WRITE = "marketing.reviews.write"  # decide reviews
    ADMIN = "marketing.admin"  # manage tenants, API keys, the audit log


ALL_SCOPES = frozenset(Scope)


class AuthMethod(StrEnum):
    """How the principal was established."""

    JWT = "jwt"
    API_KEY = "api_key"
    DISABLED = "disabled"  # AUTH_DISABLED=true: the default tenant, every scope
    SERVICE = "service"  # a team call from the supervisor (tenant and subject from metadata)
    SYSTEM = "system"  # background work of the service itself (retention purge, resumed workflows)


@dataclass(frozen=True)
class Principal:
    """Who is calling, for which tenant, allowed to do what."""

    tenant_id: str
    subject: str
    scopes: frozenset[str]
    method: AuthMethod

    @property
    def actor(self) -> str:
        """How the audit log names the caller: ``jwt:<subject>``, ``api_key:<id>``, ``system``, ``anonymous``."""
        if self.method is AuthMethod.DISABLED:
            return "anonymous"
        if self.method is AuthMethod.SYSTEM:
            return "system"
        return f"{self.method.value}:{self.subject}"

    def has(self, scope: Scope) -> bool:
        """Whether the principal holds a scope."""
        return scope.value in self.scopes


ANONYMOUS = Principal(DEFAULT_TENANT, "anonymous", ALL_SCOPES, AuthMethod.DISABLED)


def system_principal(tenant_id: str) -> Principal:
    """The service itself acting for a tenant (retention purge, a resumed workflow)."""
    return Principal(tenant_id, "system", ALL_SCOPES, AuthMethod.SYSTEM)


_CURRENT: ContextVar[Principal | None] = ContextVar("principal", default=None)


def current_principal() -> Principal | None:
    """The principal of the call being handled (None outside one)."""
    return _CURRENT.get()


def current_tenant() -> str:
    """The tenant of the call being handled.

    Raises:
        LookupError: No principal is bound: code that reads tenant data outside a call (a bug, never a default).
    """
    principal = _CURRENT.get()
    if principal is None:
        raise LookupError("no principal is bound: tenant data read outside an authenticated call")
    return principal.tenant_id


@contextmanager
def acting_as(principal: Principal) -> Iterator[Principal]:
    """Bind a principal for the code inside; its tenant goes into the logs and onto the current span."""
    trace.get_current_span().set_attribute("marketing.tenant_id", principal.tenant_id)
    token = _CURRENT.set(principal)
    with structlog.contextvars.bound_contextvars(tenant_id=principal.tenant_id):
        try:
            yield principal
        finally:
            _CURRENT.reset(token)


def valid_tenant_id(tenant_id: str) -> bool:
    """Whether a string is a well-formed tenant id."""
    return bool(TENANT_ID.match(tenant_id))
