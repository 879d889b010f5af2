"""Start service processes on loopback, wait until they report SERVING, stop them (demo, ``make up``, tests)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from common.teams import GATEWAY_METRICS_PORT, GATEWAY_PORT, TEAMS, TeamRegistry
from common.tls import TlsFiles, sync_channel

SERVICES = tuple(s.name for s in TEAMS.services())
"""Every service of the registry, teams first, in the order they start."""
DEFAULT_PORTS = {s.name: s.port for s in TEAMS.services()}
DEFAULT_METRICS_PORTS = {s.name: s.metrics_port for s in TEAMS.services()}
GATEWAY = "gateway"
"""The HTTP/JSON gateway (gateway_service): not a gRPC service of the registry, started after the supervisor."""
DEFAULT_GATEWAY_PORT = GATEWAY_PORT
DEFAULT_GATEWAY_METRICS_PORT = GATEWAY_METRICS_PORT


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def check_health(address: str, service: str = "", timeout_s: float = 1.0, tls: TlsFiles | None = None) -> str:
    """The serving status name of a server (``SERVING``, ``NOT_SERVING``, ...) or the gRPC error code name.

    Args:
        address: The server.
        service: The health service name ("" for the whole server).
        timeout_s: Deadline of the call.
        tls: Client certificate and CA when the server requires mutual TLS (``TLS_*``); plaintext when None.
    """
    with sync_channel(address, tls) as channel:
        try:
            # types-grpcio-health-checking declares no methods on HealthStub (a stub defect)
            response = health_pb2_grpc.HealthStub(channel).Check(  # type: ignore[attr-defined]
                health_pb2.HealthCheckRequest(service=service), timeout=timeout_s
            )
        except grpc.RpcError as exc:
            return exc.code().name
    return health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)


def check_http(url: str, timeout_s: float = 1.0) -> bool:
    """Whether ``url`` answers 200 (the gateway's /healthz)."""
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@dataclass
class ServiceProcess:
    """A running service process."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    metrics_port: int = 0

    @property
    def address(self) -> str:
        """Loopback address of the service."""
        return f"127.0.0.1:{self.port}"

    @property
    def metrics_url(self) -> str:
        """URL of the service's /metrics endpoint."""
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of the service's log."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class ServiceLauncher:
    """Runs the services of a team registry (the supervisor and every team) as separate processes on 127.0.0.1.

    Attributes:
        log_dir: Where each service writes ``<name>.log``.
        ports: gRPC port per service; defaults to the registry's ports.
        metrics_ports: /metrics port per service; defaults to the registry's ports.
        env: Extra environment for every service.
        registry: The services to run.
    """

    log_dir: Path
    ports: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_PORTS))
    metrics_ports: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_METRICS_PORTS))
    env: Mapping[str, str] = field(default_factory=dict)
    processes: dict[str, ServiceProcess] = field(default_factory=dict)
    registry: TeamRegistry = TEAMS
    gateway_port: int = DEFAULT_GATEWAY_PORT
    gateway_metrics_port: int = DEFAULT_GATEWAY_METRICS_PORT

    @property
    def tls(self) -> TlsFiles | None:
        """The TLS files the services get (``TLS_*`` in their environment), which the health checks use too."""
        return TlsFiles.from_environment(self.environment())

    def environment(self) -> dict[str, str]:
        """The environment every service process gets: ports, team addresses, loopback binding."""
        env = {**os.environ, "BIND_HOST": "127.0.0.1", "PYTHONUNBUFFERED": "1"}
        env.setdefault(
            "AUTH_DISABLED", "true"
        )  # every server binds loopback: the default tenant, no credentials
        for name, port in self.ports.items():
            env[self.registry.service(name).port_variable] = str(port)
            if name != self.registry.supervisor.name:
                env[self.registry.team(name).addr_variable] = f"127.0.0.1:{port}"
        return {**env, **self.env}

    def start(
        self, name: str, instance: str | None = None, port: int | None = None, metrics_port: int | None = None
    ) -> ServiceProcess:
        """Start one service process (``python -m <package>``).

        Args:
            name: The service.
            instance: Key of this process in ``processes`` (another replica of the same service); default ``name``.
            port: Its gRPC port (default: the service's port in ``ports``).
            metrics_port: Its /metrics port (default: the service's in ``metrics_ports``).
        """
        instance = instance or name
        port = port or self.ports[name]
        metrics_port = metrics_port if metrics_port is not None else self.metrics_ports[name]
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{instance}.log"
        spec = self.registry.service(name)
        env = {**self.environment(), spec.port_variable: str(port), "METRICS_PORT": str(metrics_port)}
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", spec.package],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=Path(__file__).resolve().parent.parent,
            )
        self.processes[instance] = ServiceProcess(instance, port, process, log_path, metrics_port)
        return self.processes[instance]

    def start_gateway(
        self, port: int | None = None, timeout_s: float = 30.0, metrics_port: int | None = None
    ) -> ServiceProcess:
        """Start the HTTP/JSON gateway (``python -m gateway_service``) in front of the running supervisor and wait
        until its /healthz answers.

        Args:
            port: Its HTTP port (default ``gateway_port``).
            timeout_s: How long to wait for /healthz.
            metrics_port: Its /metrics port (default ``gateway_metrics_port``; 0: none).

        Raises:
            RuntimeError: It exited or did not answer in time (with its log's tail).
        """
        port = port or self.gateway_port
        metrics_port = metrics_port if metrics_port is not None else self.gateway_metrics_port
        supervisor = self.registry.supervisor.name
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{GATEWAY}.log"
        env = {
            **self.environment(),
            "GATEWAY_PORT": str(port),
            "METRICS_PORT": str(metrics_port),
            "GATEWAY_SUPERVISOR_ADDR": f"127.0.0.1:{self.ports[supervisor]}",
        }
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "gateway_service"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=Path(__file__).resolve().parent.parent,
            )
        service = self.processes[GATEWAY] = ServiceProcess(GATEWAY, port, process, log_path, metrics_port)
        deadline = time.monotonic() + timeout_s
        while not check_http(f"http://127.0.0.1:{port}/healthz", 0.5):
            if process.poll() is not None:
                raise RuntimeError(f"{GATEWAY} exited with {process.returncode}; log:\n{service.log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{GATEWAY} is not answering after {timeout_s}s; log:\n{service.log_tail()}"
                )
            time.sleep(0.1)
        return service

    def wait_serving(self, names: Sequence[str], timeout_s: float = 30.0) -> None:
        """Block until every named service answers SERVING.

        Raises:
            RuntimeError: A process exited or did not become healthy in time (with its log's tail).
        """
        deadline = time.monotonic() + timeout_s
        pending = list(names)
        while pending:
            name = pending[0]
            service = self.processes[name]
            if service.process.poll() is not None:
                raise RuntimeError(
                    f"{name} exited with {service.process.returncode}; log:\n{service.log_tail()}"
                )
            if check_health(service.address, timeout_s=0.5, tls=self.tls) == "SERVING":
                pending.pop(0)
                continue
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} is not SERVING after {timeout_s}s; log:\n{service.log_tail()}")
            time.sleep(0.1)

    def start_all(self, names: Sequence[str] = SERVICES, timeout_s: float = 30.0) -> None:
        """Start services and wait until all of them serve."""
        for name in names:
            self.start(name)
        self.wait_serving(names, timeout_s)

    def stop(self, name: str, sig: int = signal.SIGTERM, timeout_s: float = 15.0) -> int | None:
        """Signal a service and wait for it to exit (SIGKILL after the timeout); returns its exit code."""
        service = self.processes.pop(name, None)
        if service is None or service.process.poll() is not None:
            return service.process.returncode if service else None
        service.process.send_signal(sig)
        try:
            return service.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            service.process.kill()
            return service.process.wait()

    def stop_all(self) -> None:
        """Stop every service, supervisor first."""
        for name in sorted(self.processes, key=lambda n: n != self.registry.supervisor.name):
            self.stop(name)


RUN_DIR = Path(".run")
REPLICA_PORT_STEP = 10


def replica_ports(base: int, replicas: int) -> list[int]:
    """Ports of a team's replicas: the base port, then +10, +20, ..."""
    return [base + REPLICA_PORT_STEP * n for n in range(replicas)]


def up(replicas: dict[str, int], run_dir: Path = RUN_DIR, timeout_s: float = 60) -> ServiceLauncher:
    """Start every service of the registry in the background on its standard ports, with extra replicas of some
    teams, then the gateway (``GATEWAY_PORT``, default 8080; /metrics on ``GATEWAY_METRICS_PORT``, default 9180).

    Each process writes ``<run_dir>/<instance>.log`` and ``.pid``; the supervisor's team address lists every replica.
    """
    launcher = ServiceLauncher(
        log_dir=run_dir,
        gateway_port=int(os.environ.get("GATEWAY_PORT", DEFAULT_GATEWAY_PORT)),
        gateway_metrics_port=int(os.environ.get("GATEWAY_METRICS_PORT", DEFAULT_GATEWAY_METRICS_PORT)),
    )
    addresses = {}
    for team in TEAMS:
        ports = replica_ports(team.port, replicas.get(team.name, 1))
        addresses[team.addr_variable] = "ipv4:" + ",".join(f"127.0.0.1:{p}" for p in ports)
    launcher.env = addresses
    started = []
    for team in TEAMS:
        for n, port in enumerate(replica_ports(team.port, replicas.get(team.name, 1))):
            instance = team.name if n == 0 else f"{team.name}-{n + 1}"
            metrics = team.metrics_port + REPLICA_PORT_STEP * n
            started.append(launcher.start(team.name, instance=instance, port=port, metrics_port=metrics).name)
    started.append(launcher.start(TEAMS.supervisor.name).name)
    for name in started:
        (run_dir / f"{name}.pid").write_text(str(launcher.processes[name].process.pid))
    launcher.wait_serving(started, timeout_s)
    gateway = launcher.start_gateway(timeout_s=timeout_s)
    (run_dir / f"{GATEWAY}.pid").write_text(str(gateway.process.pid))
    return launcher


def down(run_dir: Path = RUN_DIR, timeout_s: float = 15) -> list[str]:
    """Stop what ``up`` started (SIGTERM, supervisor first, SIGKILL after the timeout); returns the stopped names."""
    pid_files = sorted(run_dir.glob("*.pid"), key=lambda p: p.stem != TEAMS.supervisor.name)
    stopped = []
    for pid_file in pid_files:
        pid = int(pid_file.read_text())
        try:
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                os.kill(pid, 0)
                time.sleep(0.1)
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        pid_file.unlink()
        stopped.append(pid_file.stem)
    return stopped


def main(argv: list[str] | None = None) -> int:
    """``python -m common.launcher up [--replicas research=2,content=2]`` / ``down``."""
    import argparse

    parser = argparse.ArgumentParser(description="Run every service in the background on 127.0.0.1.")
    parser.add_argument("command", choices=["up", "down"])
    parser.add_argument("--replicas", default="", help="extra replicas, e.g. research=2,social=3")
    args = parser.parse_args(argv)
    if args.command == "down":
        for name in down():
            print(f"stopped {name}")
        return 0
    replicas = {}
    for item in filter(None, args.replicas.split(",")):
        team, _, count = item.partition("=")
        if team not in TEAMS.names or not count.isdigit() or not 1 <= int(count) <= 9:
            parser.error(f"--replicas: {item!r} is not <{'|'.join(TEAMS.names)}>=<1-9>")
        replicas[team] = int(count)
    if any(RUN_DIR.glob("*.pid")):
        parser.error("services from an earlier `make up` are still recorded in .run/: run `make down` first")
    try:
        launcher = up(replicas)
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        down()
        return 1
    for name, process in launcher.processes.items():
        print(f"{name}: {process.address} (pid {process.process.pid}, log {process.log_path})")
    print(f"review console: {console_url(launcher)}  (REST /v1/, /docs, /graphql)")
    if gateway_metrics := launcher.processes[GATEWAY].metrics_port:
        print(f"gateway metrics: http://127.0.0.1:{gateway_metrics}/metrics")
    return 0


def console_url(launcher: ServiceLauncher) -> str:
    """The review console's URL of a launcher's gateway."""
    return f"http://{launcher.processes[GATEWAY].address}/console"


if __name__ == "__main__":
    sys.exit(main())
