# One image for the four services; the command picks the service (python -m <name>_service).
# Health checks are per service (docker-compose.yml), since each listens on its own port.
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/venv
COPY requirements.lock pyproject.toml README.md ./
COPY common ./common
COPY generated ./generated
COPY supervisor_service ./supervisor_service
COPY research_service ./research_service
COPY content_service ./content_service
COPY social_service ./social_service
RUN /opt/venv/bin/pip install -c requirements.lock .

FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 PATH=/opt/venv/bin:$PATH
RUN useradd --create-home --uid 10001 app
COPY --from=build /opt/venv /opt/venv
USER app
WORKDIR /home/app
EXPOSE 50051 50052 50053 50054 9101 9102 9103 9104
CMD ["python", "-m", "supervisor_service"]
