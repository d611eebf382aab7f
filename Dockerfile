# The runner's image: `streamlake serve`, the Prefect runner of every deployment in
# flows/deployments.py (infra/runner.py runs it on ECS Fargate). CDK builds it at
# deploy time from the repository root; .dockerignore admits only what it needs.
# Everything installs from uv.lock, without any dependency group (tests and CDK,
# the Athena emulator, checkov).

# A patch release; to pin its digest as well (a list covering arm64 and amd64):
# docker buildx imagetools inspect python:3.11.15-slim-bookworm
ARG PYTHON_IMAGE=python:3.11.15-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
# The Makefile's uv (UV_VERSION).
RUN pip install --no-cache-dir --disable-pip-version-check uv==0.13.8
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1 \
    UV_PYTHON_DOWNLOADS=never
WORKDIR /app
# The dependencies first: their layer outlives changes of the code.
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-default-groups --no-install-project
COPY README.md dbt_project.yml profiles.yml ./
COPY ingestion ./ingestion
COPY flows ./flows
COPY dbt_project ./dbt_project
COPY grafana ./grafana
# The command line mounts `emulate-athena`; its dependencies (a dev group) are not installed.
COPY athena_emulator ./athena_emulator
# The project itself, editable: flows find the dbt project beside their package.
RUN uv sync --frozen --no-default-groups

FROM ${PYTHON_IMAGE}
RUN useradd --system --user-group --uid 10001 --create-home --home-dir /home/streamlake streamlake
WORKDIR /app
# Root-owned code; the runner writes only dbt's target/ and logs/ and its home.
COPY --from=build /app /app
RUN mkdir /app/target /app/logs && chown streamlake:streamlake /app/target /app/logs
# Prefect's runner webserver answers /health on 127.0.0.1 only (no port is
# published; the task's security group has no inbound rule): 200 while the runner
# has polled the Prefect API within the last tolerance x 10 s, 503 after. Six
# missed polls: a brief outage of the API does not get a running transform killed.
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DBT_SEND_ANONYMOUS_USAGE_STATS=false \
    PREFECT_HOME=/home/streamlake/.prefect \
    PREFECT_SERVER_ANALYTICS_ENABLED=false \
    PREFECT_RUNNER_SERVER_ENABLE=true \
    PREFECT_RUNNER_SERVER_HOST=127.0.0.1 \
    PREFECT_RUNNER_SERVER_PORT=8080 \
    PREFECT_RUNNER_SERVER_MISSED_POLLS_TOLERANCE=6
USER streamlake
# Slim images have no curl. ECS runs the task definition's copy of this check.
HEALTHCHECK --interval=30s --timeout=10s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/health', timeout=5)"]
ENTRYPOINT ["streamlake"]
CMD ["serve"]
