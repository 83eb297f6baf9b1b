# crowdwatch single-machine service (LAPI + agent, SQLite) in a container.
# UNTESTED where no Docker engine runs (the development machine has none): treat as a
# starting point. Build: docker build -t crowdwatch .
# Run, watching the host's logs read-only and keeping state in a volume:
#   docker run -d --name crowdwatch -p 127.0.0.1:8080:8080 \
#     -v /var/log:/var/log:ro -v crowdwatch-etc:/etc/crowdwatch -v crowdwatch-data:/var/lib/crowdwatch \
#     crowdwatch
# Then describe the logs to follow in /etc/crowdwatch/acquis.yaml (volume) and `docker kill -s HUP crowdwatch`.
FROM python:3.11-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels \
    && mkdir -p /etc/crowdwatch /var/lib/crowdwatch
# the LAPI listens on all interfaces inside the container; publish the port explicitly
ENV CROWDWATCH_LISTEN=0.0.0.0:8080
EXPOSE 8080
VOLUME ["/etc/crowdwatch", "/var/lib/crowdwatch"]
STOPSIGNAL SIGTERM
# runs as root inside the container (reads the mounted logs; /etc/crowdwatch present: system layout)
CMD ["sh", "-c", "exec crowdwatch run --listen \"$CROWDWATCH_LISTEN\""]
