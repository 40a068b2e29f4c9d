# Veille — one image for every role (veille run --role all|poller|sender|bot).
FROM python:3.11-slim AS build
WORKDIR /app
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY classifiers ./classifiers
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install . \
    && /opt/venv/bin/python -I -m classifiers.gazetteer_build \
    && /opt/venv/bin/python -I -m classifiers.region_shapes_build

FROM python:3.11-slim
RUN groupadd --system --gid 10001 veille \
    && useradd --system --uid 10001 --gid veille --home-dir /app veille
WORKDIR /app
COPY --from=build /opt/venv /opt/venv
COPY feeds.yaml ./
RUN mkdir -p /app/state && chown 10001:10001 /app/state
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    VEILLE_STATE_DIR=/app/state \
    VEILLE_METRICS_PORT=9108 \
    VEILLE_METRICS_HOST=0.0.0.0 \
    VEILLE_WEBHOOK_LISTEN=0.0.0.0
USER 10001:10001
VOLUME ["/app/state"]
EXPOSE 9108
HEALTHCHECK --interval=60s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:9108/healthz', timeout=4).status == 200 else 1)"]
ENTRYPOINT ["veille"]
CMD ["run", "--role", "all"]
