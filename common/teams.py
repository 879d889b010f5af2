"""The team registry: every agent team, declared once.

Everything that lists teams derives from this module: configuration (``<TEAM>_PORT``, ``<TEAM>_ADDR``), the launcher
(``make up``/``make demo``), the supervisor's routing options and prompt, the in-process test stack, and the deploy
files (compose, Kustomize, Prometheus), which ``make deploy-files`` generates from it. Adding a team means writing its
package (``<name>_service/``) and adding one ``TeamSpec`` to ``TEAMS``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

_NAME = re.compile(r"^[a-z][a-z0-9]{1,30}$")


@dataclass(frozen=True)
class ServiceSpec:
    """A service process: its name, its Python package and its default ports.

    Attributes:
        name: Lower-case name (``research``); it names the environment variables (``RESEARCH_PORT``).
        package: The package run with ``python -m`` (``research_service``).
        port: Default gRPC port.
        metrics_port: Default port of ``/metrics``.
    """

    name: str
    package: str
    port: int
    metrics_port: int

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"service name {self.name!r} must be 2-31 lower-case letters or digits")

    @property
    def port_variable(self) -> str:
        """The variable that overrides the listening port (``RESEARCH_PORT``)."""
        return f"{self.name.upper()}_PORT"


@dataclass(frozen=True)
class TeamSpec(ServiceSpec):
    """An agent team: a service the supervisor routes work to.

    Attributes:
        description: One line on what the team does; the supervisor's router shows it to the model.
        artifact_kinds: Lower-case ``ArtifactKind`` suffixes the team produces (``research_brief``).
        keywords: Task words that make keyword routing (the fallback) pick the team; ``word*`` is a prefix.
        default_route: Keyword routing picks this team when no team's keyword matches.
        uses_knowledge_documents: Briefs to the team carry the tenant's knowledge-base documents.
        tenant_secrets: Names of the tenant secrets the team keeps (``TeamService/SetTenantSecrets``).
        audit_log: The team records audit events of its own (``TeamService/ListAuditEvents``), which the
            supervisor's ``AdminService/ListAuditEvents`` merges with its own.
    """

    description: str = ""
    artifact_kinds: tuple[str, ...] = ()
    keywords: tuple[str, ...] = field(default=())
    default_route: bool = False
    uses_knowledge_documents: bool = False
    tenant_secrets: tuple[str, ...] = ()
    audit_log: bool = False

    @property
    def addr_variable(self) -> str:
        """The variable that tells the supervisor where the team is (``RESEARCH_ADDR``)."""
        return f"{self.name.upper()}_ADDR"

    @property
    def default_addr(self) -> str:
        """Where the supervisor finds the team when ``<TEAM>_ADDR`` is unset."""
        return f"localhost:{self.port}"


@dataclass(frozen=True)
class TeamRegistry:
    """The teams, in the order work flows between them (earlier teams' artifacts feed later ones)."""

    teams: tuple[TeamSpec, ...]
    supervisor: ServiceSpec

    def __post_init__(self) -> None:
        names = [s.name for s in self.services()]
        if len(set(names)) != len(names):
            raise ValueError(f"service names must be unique: {names}")
        ports = [
            GATEWAY_PORT,
            GATEWAY_METRICS_PORT,
            *(p for s in self.services() for p in (s.port, s.metrics_port)),
        ]
        if len(set(ports)) != len(ports):
            raise ValueError(f"default ports must be unique (the gateway's included): {ports}")

    def __iter__(self) -> Iterator[TeamSpec]:
        return iter(self.teams)

    def __len__(self) -> int:
        return len(self.teams)

    @property
    def names(self) -> tuple[str, ...]:
        """Team names in flow order."""
        return tuple(t.name for t in self.teams)

    def team(self, name: str) -> TeamSpec:
        """A team by name.

        Raises:
            KeyError: No team has that name.
        """
        for spec in self.teams:
            if spec.name == name:
                return spec
        raise KeyError(f"unknown team {name!r}; known: {', '.join(self.names)}")

    def services(self) -> tuple[ServiceSpec, ...]:
        """Every service process: the teams, then the supervisor (the order they start in)."""
        return (*self.teams, self.supervisor)

    def service(self, name: str) -> ServiceSpec:
        """A service (a team or the supervisor) by name."""
        if name == self.supervisor.name:
            return self.supervisor
        return self.team(name)

    def with_team(self, spec: TeamSpec) -> TeamRegistry:
        """A registry with one more team (tests add a toy team this way)."""
        return TeamRegistry((*self.teams, spec), self.supervisor)

    def only(self, names: Sequence[str]) -> TeamRegistry:
        """A registry with a subset of the teams, in registry order."""
        return TeamRegistry(tuple(t for t in self.teams if t.name in names), self.supervisor)


GATEWAY_PORT = 8080
GATEWAY_METRICS_PORT = 9180
"""The HTTP/JSON gateway's default ports (gateway_service: HTTP, and its /metrics). It is not a gRPC service of the
registry, but its ports are taken: 9180 keeps clear of the services' 9101-9104, of the next teams' 9105+ and their
replicas' +10 steps, and of node_exporter's 9100."""

SUPERVISOR = ServiceSpec("supervisor", "supervisor_service", 50051, 9101)

TEAMS = TeamRegistry(
    teams=(
        TeamSpec(
            "research",
            "research_service",
            50052,
            9102,
            description="market, audience and competitor research, trends, data and sources, summarised as a "
            "cited brief",
            artifact_kinds=("search_results", "research_brief", "repository_metrics", "chart", "web_pages"),
            uses_knowledge_documents=True,
            keywords=(
                "research*", "analy*", "market", "competit*", "trend*", "audience*", "persona*", "insight*",
                "data", "statistic*", "github", "study", "studies", "survey*", "landscape", "compar*",
                "investigat*", "benchmark*", "source*", "campaign*", "launch*", "go-to-market", "gtm",
            ),
        ),
        TeamSpec(
            "content",
            "content_service",
            50053,
            9103,
            description="long-form writing (articles, blog posts, newsletters, landing pages) with an SEO "
            "analysis, and images",
            artifact_kinds=("article", "seo_report", "image", "image_brief"),
            keywords=(
                "write", "writing", "article*", "blog*", "content", "copy", "copywriting", "seo", "newsletter*",
                "email*", "landing page", "whitepaper*", "case study", "guide*", "ebook*", "headline*",
                "press release", "story", "stories", "campaign*", "launch*", "go-to-market", "gtm",
                "image", "images", "illustration*", "banner*", "visual*", "graphic*",
            ),
            default_route=True,
        ),
        TeamSpec(
            "social",
            "social_service",
            50054,
            9104,
            description="social media posts fitted to each platform (X, LinkedIn) and a posting schedule",
            artifact_kinds=("social_post", "posting_schedule"),
            tenant_secrets=("x_bearer_token", "linkedin_access_token", "linkedin_author_urn"),
            audit_log=True,  # approvals applied to posts, publish attempts and their outcomes
            keywords=(
                "social", "tweet*", "twitter", "x", "x.com", "linkedin", "instagram", "facebook", "tiktok",
                "thread*", "hashtag*", "schedul*", "posting", "promot*", "announc*", "campaign*", "launch*",
                "go-to-market", "gtm",
            ),
        ),
    ),
    supervisor=SUPERVISOR,
)  # fmt: skip
"""The deployed teams. Add a ``TeamSpec`` here (and write its package) to add a team."""
