"""Generate the deploy files' lists of teams from the team registry (common/teams.py).

    python deploy/generate.py          # rewrite what is stale (`make deploy-files`)
    python deploy/generate.py --check  # exit 1 and name the stale files, writing nothing

Whole files, which start with a "Generated ..." line (edit the registry or the template, never the file):
  deploy/prometheus.yml             a scrape job per service, and the gateway's (common/teams.py GATEWAY_*)
  deploy/k8s/base/supervisor-scaling.yaml  KEDA's ScaledObject of the supervisor on the task queue's length
  deploy/k8s/base/<team>.yaml       one per team, from deploy/templates/team.yaml.tmpl (${name}, ${package},
                                    ${port}, ${metrics_port}); a generated manifest of a team that is no longer
                                    in the registry is stale, and deleted when writing
Marked blocks, between "# BEGIN generated from common/teams.py (make deploy-files): <block>" and
"# END generated: <block>"; the rest of these files is hand-written and kept as it is:
  docker-compose.yml                 the team services, the supervisor's <TEAM>_ADDR and depends_on, Prometheus's
                                     depends_on (the gateway too)
  Dockerfile                         the service packages and EXPOSE (every service's ports and the gateway's)
  deploy/k8s/base/kustomization.yaml the team manifests among the resources
  deploy/k8s/base/config.env         <TEAM>_ADDR (headless Services in the base's namespace)
  deploy/k8s/overlays/dev/kustomization.yaml  <TEAM>_ADDR in the dev namespace
A block is rendered without indentation and indented like its BEGIN line.

Tests render for another registry (a fourth team) with ``render_all(registry)``; this file is a script, not a
package module (deploy/ holds data, and the image leaves it out), so they load it by path.
"""

from __future__ import annotations

import argparse
import re
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from string import Template

ROOT = Path(__file__).resolve().parents[1]
if __name__ == "__main__" and str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # `python deploy/generate.py` puts deploy/, not the root, on sys.path

from common.teams import GATEWAY_METRICS_PORT, GATEWAY_PORT, TEAMS, TeamRegistry  # noqa: E402

COMPOSE = Path("docker-compose.yml")
DOCKERFILE = Path("Dockerfile")
PROMETHEUS = Path("deploy/prometheus.yml")
K8S_BASE = Path("deploy/k8s/base")
KUSTOMIZATION = K8S_BASE / "kustomization.yaml"
CONFIG_ENV = K8S_BASE / "config.env"
DEV_KUSTOMIZATION = Path("deploy/k8s/overlays/dev/kustomization.yaml")
TEAM_TEMPLATE = Path("deploy/templates/team.yaml.tmpl")
SUPERVISOR_SCALING = K8S_BASE / "supervisor-scaling.yaml"

WHOLE_FILE_HEADER = (
    "# Generated from common/teams.py by `make deploy-files` (deploy/generate.py): do not edit.\n"
)
TEAM_MANIFEST_HEADER = (
    f"# Generated from common/teams.py and {TEAM_TEMPLATE.as_posix()} by `make deploy-files`: do not edit.\n"
)
BEGIN = "# BEGIN generated from common/teams.py (make deploy-files): "
END = "# END generated: "
_MARKER = re.compile(rf"^(?P<indent> *)(?P<kind>{re.escape(BEGIN)}|{re.escape(END)})(?P<block>.+?)\s*$")


class GenerateError(Exception):
    """A hand-written file lacks a block's markers, or has markers the generator does not know."""


# --- Whole files ---------------------------------------------------------------------------------------------


_PROMETHEUS = """\
# Prometheus scrapes each service's /metrics endpoint (README, "Observability") in docker-compose.yml.
# DNS service discovery finds every replica of a service (`docker compose up --scale research=3`).
global:
  scrape_interval: 15s
rule_files:
  - alerts.yml  # deploy/alerts.yml: spend, quotas, errors, breakers, latency (README, "Budgets, quotas and limits")
scrape_configs:
"""


def render_prometheus(registry: TeamRegistry) -> str:
    """deploy/prometheus.yml: a job per service, the supervisor first, then the gateway (not in the registry)."""
    targets = [(s.name, s.metrics_port) for s in (registry.supervisor, *registry)] + [
        ("gateway", GATEWAY_METRICS_PORT)
    ]
    jobs = "".join(
        f"  - job_name: {name}\n    dns_sd_configs: [{{names: [{name}], type: A, port: {port}}}]\n"
        for name, port in targets
    )
    return WHOLE_FILE_HEADER + _PROMETHEUS + jobs


_SUPERVISOR_SCALING = """\
# KEDA scales the supervisor on the length of the SubmitTask queue (README, "Queued tasks"): RabbitMQ's ready
# messages in BROKER_QUEUE, read with the BROKER_URL of the supervisor's own environment (hostFromEnv). Target:
# two replicas' worth of work (2 x QUEUE_CAPACITY) waiting per replica. Needs KEDA in the cluster (keda.sh); KEDA
# owns the replica count once it runs (an HPA of its own), so do not add a CPU HPA for the supervisor.
# Without BROKER_URL the queue is the records database: swap the trigger for KEDA's postgresql scaler with
#   query: SELECT count(*) FROM queued_tasks WHERE state = 'queued'
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: ${name}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: ${name}
  minReplicaCount: 2
  maxReplicaCount: 20
  pollingInterval: 15
  cooldownPeriod: 300
  triggers:
    - type: rabbitmq
      metadata:
        protocol: amqp
        mode: QueueLength
        queueName: marketing.tasks
        value: "16"
        hostFromEnv: BROKER_URL
"""


def render_supervisor_scaling(registry: TeamRegistry) -> str:
    """deploy/k8s/base/supervisor-scaling.yaml: KEDA's ScaledObject of the supervisor, on the task queue."""
    return WHOLE_FILE_HEADER + Template(_SUPERVISOR_SCALING).substitute(name=registry.supervisor.name)


def render_team_manifests(registry: TeamRegistry, root: Path) -> dict[Path, str]:
    """deploy/k8s/base/<team>.yaml for every team, from the template."""
    template = Template((root / TEAM_TEMPLATE).read_text(encoding="utf-8"))
    return {
        K8S_BASE / f"{team.name}.yaml": TEAM_MANIFEST_HEADER
        + template.substitute(
            name=team.name, package=team.package, port=team.port, metrics_port=team.metrics_port
        )
        for team in registry
    }


# --- Marked blocks -------------------------------------------------------------------------------------------


def _namespace(root: Path, kustomization: Path) -> str:
    match = re.search(r"^namespace: *(\S+) *$", (root / kustomization).read_text(encoding="utf-8"), re.M)
    if not match:
        raise GenerateError(f"{kustomization} sets no namespace")
    return match.group(1)


def _compose_team_services(registry: TeamRegistry, root: Path) -> str:
    return "\n".join(
        f"{team.name}:\n"
        "  <<: *service\n"
        f'  command: ["python", "-m", "{team.package}"]\n'
        "  healthcheck:\n"
        "    <<: *healthcheck\n"
        f'    test: ["CMD", "python", "-m", "common.healthcheck", "127.0.0.1:{team.port}"]\n'
        for team in registry
    )


def _compose_team_addresses(registry: TeamRegistry, root: Path) -> str:
    return "".join(f"{team.addr_variable}: dns:///{team.name}:{team.port}\n" for team in registry)


def _compose_team_dependencies(registry: TeamRegistry, root: Path) -> str:
    return "".join(f"{team.name}: {{condition: service_healthy}}\n" for team in registry)


def _compose_prometheus_dependencies(registry: TeamRegistry, root: Path) -> str:
    return f"depends_on: [{', '.join(s.name for s in (registry.supervisor, *registry))}, gateway]\n"


def _kustomization_team_manifests(registry: TeamRegistry, root: Path) -> str:
    return "".join(f"- {team.name}.yaml\n" for team in registry)


def _headless_addresses(registry: TeamRegistry, namespace: str, prefix: str = "") -> str:
    return "".join(
        f"{prefix}{team.addr_variable}=dns:///{team.name}-headless.{namespace}.svc.cluster.local:{team.port}\n"
        for team in registry
    )


def _config_env_team_addresses(registry: TeamRegistry, root: Path) -> str:
    return _headless_addresses(registry, _namespace(root, KUSTOMIZATION))


def _dev_team_addresses(registry: TeamRegistry, root: Path) -> str:
    return _headless_addresses(registry, _namespace(root, DEV_KUSTOMIZATION), prefix="- ")


def _dockerfile_packages(registry: TeamRegistry, root: Path) -> str:
    services = registry.services()
    copies = "".join(f"COPY {s.package} ./{s.package}\n" for s in services if "." not in s.package)
    grpc = ", ".join(f"{s.name} {s.port}" for s in services)
    ports = " ".join(str(p) for s in services for p in (s.port, s.metrics_port))
    return (
        f"{copies}USER 10001:10001\n# gRPC: {grpc}; the gateway's HTTP: {GATEWAY_PORT}.\n"
        f"# Prometheus /metrics on the second port of each.\nEXPOSE {ports} {GATEWAY_PORT} {GATEWAY_METRICS_PORT}\n"
    )


Block = Callable[[TeamRegistry, Path], str]
"""Renders a block's lines, unindented, each ending with a newline, from the registry (and the repository root)."""


@dataclass(frozen=True)
class MarkedFile:
    """A hand-written file with generated blocks."""

    path: Path
    blocks: dict[str, Block]


MARKED_FILES = (
    MarkedFile(
        COMPOSE,
        {
            "team services": _compose_team_services,
            "team addresses": _compose_team_addresses,
            "team dependencies": _compose_team_dependencies,
            "scrape targets": _compose_prometheus_dependencies,
        },
    ),
    MarkedFile(DOCKERFILE, {"service packages": _dockerfile_packages}),
    MarkedFile(KUSTOMIZATION, {"team manifests": _kustomization_team_manifests}),
    MarkedFile(CONFIG_ENV, {"team addresses": _config_env_team_addresses}),
    MarkedFile(DEV_KUSTOMIZATION, {"team addresses": _dev_team_addresses}),
)


def render_marked(marked: MarkedFile, registry: TeamRegistry, root: Path) -> str:
    """The file with each block between its markers replaced by what the registry renders."""
    lines = (root / marked.path).read_text(encoding="utf-8").splitlines(keepends=True)
    output: list[str] = []
    seen: set[str] = set()
    open_block: str | None = None
    for number, line in enumerate(lines, start=1):
        match = _MARKER.match(line)
        if match is None:
            if open_block is None:
                output.append(line)
            continue
        block, where = match.group("block"), f"{marked.path}:{number}"
        if match.group("kind") == BEGIN:
            if open_block is not None:
                raise GenerateError(f"{where}: block {block!r} begins inside block {open_block!r}")
            if block not in marked.blocks:
                raise GenerateError(f"{where}: unknown block {block!r}; known: {', '.join(marked.blocks)}")
            if block in seen:
                raise GenerateError(f"{where}: block {block!r} appears twice")
            output.append(line)
            output.append(textwrap.indent(marked.blocks[block](registry, root), match.group("indent")))
            seen.add(block)
            open_block = block
        else:
            if block != open_block:
                raise GenerateError(f"{where}: END of {block!r} without its BEGIN")
            output.append(line)
            open_block = None
    if open_block is not None:
        raise GenerateError(f"{marked.path}: block {open_block!r} has no END line")
    if missing := [block for block in marked.blocks if block not in seen]:
        raise GenerateError(f"{marked.path}: no markers for block(s) {', '.join(map(repr, missing))}")
    return "".join(output)


# --- All of them ---------------------------------------------------------------------------------------------


def render_all(registry: TeamRegistry = TEAMS, root: Path = ROOT) -> dict[Path, str]:
    """Every generated file's content, by path relative to the repository root.

    Args:
        registry: The teams to render for.
        root: The repository, where the team template and the hand-written parts of the marked files are read.

    Raises:
        GenerateError: A marked file's markers are missing or wrong.
    """
    manifests = render_team_manifests(registry, root)
    if KUSTOMIZATION in manifests:
        raise GenerateError(
            f"a team cannot be named {KUSTOMIZATION.stem!r}: its manifest would be {KUSTOMIZATION}"
        )
    files = {
        PROMETHEUS: render_prometheus(registry),
        SUPERVISOR_SCALING: render_supervisor_scaling(registry),
        **manifests,
    }
    for marked in MARKED_FILES:
        files[marked.path] = render_marked(marked, registry, root)
    return files


def orphans(files: dict[Path, str], root: Path = ROOT) -> list[Path]:
    """Generated team manifests in the Kustomize base whose team is not among the rendered files."""
    found = []
    for path in sorted((root / K8S_BASE).glob("*.yaml")):
        relative = path.relative_to(root)
        if relative not in files and path.read_text(encoding="utf-8").startswith(TEAM_MANIFEST_HEADER):
            found.append(relative)
    return found


def stale(registry: TeamRegistry = TEAMS, root: Path = ROOT) -> list[Path]:
    """Files that differ from what the registry renders, are missing, or are manifests of a removed team."""
    files = render_all(registry, root)
    different = [
        path
        for path, text in files.items()
        if not (root / path).is_file() or (root / path).read_text(encoding="utf-8") != text
    ]
    return different + orphans(files, root)


def write(registry: TeamRegistry = TEAMS, root: Path = ROOT) -> list[Path]:
    """Write the stale files and delete the manifests of removed teams; returns what changed."""
    files = render_all(registry, root)
    changed = []
    for path, text in files.items():
        target = root / path
        if not target.is_file() or target.read_text(encoding="utf-8") != text:
            target.write_text(text, encoding="utf-8", newline="\n")
            changed.append(path)
    for path in orphans(files, root):
        (root / path).unlink()
        changed.append(path)
    return changed


def main(argv: list[str] | None = None, root: Path = ROOT) -> int:
    """The command line: write the stale files, or with ``--check`` only name them (exit 1)."""
    parser = argparse.ArgumentParser(
        description="Generate the deploy files' team lists from common/teams.py."
    )
    parser.add_argument("--check", action="store_true", help="exit 1 when a file is stale, writing nothing")
    args = parser.parse_args(argv)
    try:
        if args.check:
            if outdated := stale(TEAMS, root):
                print("stale deploy files (run `make deploy-files`):", *map(str, outdated), sep="\n  ")
                return 1
            print("deploy files are up to date with common/teams.py")
            return 0
        for path in write(TEAMS, root):
            print(f"{'wrote' if (root / path).exists() else 'deleted'} {path}")
    except GenerateError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
