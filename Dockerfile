# syntax=docker/dockerfile:1
# Unisson's image: `docker build -t unisson .`, then for example
#   docker run --env-file .env -v unisson-data:/data -p 8080:8080 unisson            (bot and publication)
#   docker run --env-file .env unisson run --role dispatcher                         (one of several publishers)
#   docker run --env-file .env unisson db upgrade                                    (after each update)
# See config/compose.example.yaml for PostgreSQL, Synapse and several processes.
#
# tests/integration/test_dockerfile.py runs the builder stage's RUN lines and starts the entry point the way
# this file says: keep the builder to ENV, WORKDIR, COPY and RUN.

# Both stages use one base image: the virtual environment's interpreter links to its Python.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- builder: a wheel of Unisson, installed with its dependencies into a virtual environment ---------------
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    VIRTUAL_ENV=/opt/unisson
WORKDIR /src
RUN python -m venv "$VIRTUAL_ENV"
ENV PATH="$VIRTUAL_ENV/bin:$PATH"
COPY pyproject.toml README.md ./
COPY hub ./hub
COPY bot ./bot
COPY sandbox ./sandbox
RUN pip wheel --no-deps --wheel-dir dist .
# Binary wheels only (but one): nothing is compiled, so the slim image needs no compiler.
# feedgen is published as source only: it is pure Python, so building it needs no compiler either.
RUN pip install --only-binary=:all: --no-binary=feedgen dist/*.whl

# --- the image: the virtual environment alone, run by an unprivileged user ---------------------------------
FROM ${PYTHON_IMAGE}
ENV VIRTUAL_ENV=/opt/unisson
ENV PATH="$VIRTUAL_ENV/bin:$PATH" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    UNISSON_DATA_DIR=/data \
    UNISSON_MATRIX_STORE_PATH=/data/matrix \
    UNISSON_HTTP_HOST=0.0.0.0 \
    UNISSON_HTTP_PORT=8080
RUN groupadd --system --gid 10001 unisson \
    && useradd --system --uid 10001 --gid unisson --home-dir /data --no-create-home --shell /usr/sbin/nologin unisson \
    && mkdir -p /data \
    && chown unisson:unisson /data \
    && chmod 0700 /data
COPY --from=builder /opt/unisson /opt/unisson
USER unisson
WORKDIR /data
# The embedded SQLite database, the generated key file (when UNISSON_ENCRYPTION_KEYS is empty) and the bot's
# Matrix store: back this volume up.
VOLUME /data
EXPOSE 8080
# No curl in the slim image: Python asks /healthz on the port the process listens on.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; h = os.environ.get('UNISSON_HTTP_HOST', '127.0.0.1'); h = '127.0.0.1' if h in ('', '0.0.0.0', '::') else h; urllib.request.urlopen(f\"http://{h}:{os.environ.get('UNISSON_HTTP_PORT', '8080')}/healthz\", timeout=4)"]
ENTRYPOINT ["unisson"]
CMD ["run"]
