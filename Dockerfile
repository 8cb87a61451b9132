# syntax=docker/dockerfile:1
# One image for the whole platform; the command picks the role:
#   code location (default CMD)   dagster code-server start -h 0.0.0.0 -p 4000 -m ras_assets.definitions
#   delivery + callback API       python -m ras_api --host 0.0.0.0 --port 8080 --proxy-headers
#   Dagster webserver (ECS)       dagster-webserver -h 0.0.0.0 -p 3000 -w /opt/dagster/dagster_home/workspace.yaml
#   Dagster daemon (ECS)          dagster-daemon run -w /opt/dagster/dagster_home/workspace.yaml
#   run workers                   started by the run launcher (`dagster api execute_run ...`)
# See docs/deployment.md.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Dependencies first, from pyproject.toml alone, so a code change does not reinstall them.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt
COPY . .
RUN pip install --no-deps . \
    && python -c "import ras_core, ras_platform, ras_api, ras_assets, resources, sensors"

FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DAGSTER_HOME=/opt/dagster/dagster_home \
    RAS_PROFILE=production
RUN groupadd --system --gid 10001 ras \
    && useradd --system --uid 10001 --gid ras --home-dir /home/ras --create-home ras
COPY --from=build /opt/venv /opt/venv
# Instance and workspace of the ECS webserver/daemon; harmless for the other roles. The Helm chart
# mounts its own dagster.yaml and workspace.yaml over these.
COPY --chown=ras:ras deploy/dagster.production.yaml /opt/dagster/dagster_home/dagster.yaml
COPY --chown=ras:ras deploy/workspace.production.yaml /opt/dagster/dagster_home/workspace.yaml
USER ras
WORKDIR /home/ras
EXPOSE 4000
CMD ["dagster", "code-server", "start", "-h", "0.0.0.0", "-p", "4000", "-m", "ras_assets.definitions"]
