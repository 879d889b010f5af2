# One image for every service; the command picks the service: python -m <name>_service
# (supervisor by default). Build: docker build -t marketing-agents .
#
# Stage 1 builds a virtual environment with the runtime dependencies of pyproject.toml (not the dev extra), each
# pinned by requirements.lock. Stage 2 is a clean slim image with that environment, the source and nothing else.
FROM python:3.11.14-slim-trixie AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml requirements.lock ./
RUN python -m venv /opt/venv \
 && python -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies'], sep='\n')" \
      > requirements.txt \
 && /opt/venv/bin/pip install --no-cache-dir -c requirements.lock -r requirements.txt

FROM python:3.11.14-slim-trixie
# The source runs from /app (PYTHONPATH), so package data such as the SQL migrations and the research knowledge
# base are there as in the repository. DATA_DIR holds the SQLite files when DATABASE_URL is not set; matplotlib
# (research charts) keeps its font cache in /tmp, which is writable even with a read-only root file system. /certs is
# where docker-compose.yml's `certs` service writes the mTLS files (a new named volume takes the owner of the image's
# folder, so user 10001 can write there). BIND_HOST is left at its default, 127.0.0.1: binding beyond loopback needs
# TLS_CERT_FILE, TLS_KEY_FILE and TLS_CA_FILE, and compose and Kubernetes set all four.
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app:/app/generated \
    DATA_DIR=/var/lib/marketing-agents \
    MPLCONFIGDIR=/tmp/matplotlib
RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid 10001 --home-dir /app --shell /usr/sbin/nologin app \
 && mkdir -p /var/lib/marketing-agents /certs \
 && chown 10001:10001 /var/lib/marketing-agents /certs
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY generated ./generated
COPY common ./common
# The HTTP/JSON gateway (not a team: written by hand). It listens on GATEWAY_PORT (8080) and serves /metrics on 9180
# (both in EXPOSE below); docker-compose.yml publishes 8080 and checks GET /healthz.
COPY gateway_service ./gateway_service
# BEGIN generated from common/teams.py (make deploy-files): service packages
COPY research_service ./research_service
COPY content_service ./content_service
COPY social_service ./social_service
COPY supervisor_service ./supervisor_service
USER 10001:10001
# gRPC: research 50052, content 50053, social 50054, supervisor 50051; the gateway's HTTP: 8080.
# Prometheus /metrics on the second port of each.
EXPOSE 50052 9102 50053 9103 50054 9104 50051 9101 8080 9180
# END generated: service packages
# gRPC health protocol, over mutual TLS when TLS_CERT_FILE, TLS_KEY_FILE and TLS_CA_FILE are set (the service's own
# files). Each service listens on its own port: set GRPC_HEALTH_ADDR for a team
# (docker run -e GRPC_HEALTH_ADDR=127.0.0.1:50052 ... python -m research_service). docker-compose.yml sets its own
# check per service, and Kubernetes ignores this one (exec probes running the same check in deploy/k8s).
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["sh", "-c", "python -m common.healthcheck \"${GRPC_HEALTH_ADDR:-127.0.0.1:50051}\" || exit 1"]
CMD ["python", "-m", "supervisor_service"]
