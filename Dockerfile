# syntax=docker/dockerfile:1
#
# One image, two programs:
#   petdns serve ...        the cluster DNS server (the default command)
#   petset-controller ...   the PetSet controller (--entrypoint petset-controller, or `command:` in a pod)
#
# Runs as the numeric user 65532 with a read-only root filesystem: nothing is written outside /tmp
# (mount an emptyDir there in Kubernetes; the manifests in config/ do).
#
# Port 53 below 1024 as a non-root user: docker (20.10 and later) and containerd 2 open all ports to
# unprivileged users inside a container's network namespace already. Elsewhere set the namespaced,
# Kubernetes-safe sysctl net.ipv4.ip_unprivileged_port_start=53 on the pod, as config/dns/ does.
# The NET_BIND_SERVICE capability that config/dns/ adds (with allowPrivilegeEscalation: false and
# every other capability dropped) is not enough on its own: container runtimes do not pass added
# capabilities on to a non-root process, and the Python interpreter carries no file capabilities.
# See docs/deploy.md.

ARG PYTHON_IMAGE=python:3.12-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
# A C compiler for the compiled UDP loop (petdns/_fastloop.c); the image's Python has its headers.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml setup.py README.md ./
COPY petdns/ petdns/
COPY kubeapi/ kubeapi/
COPY petset_controller/ petset_controller/
COPY localcluster/ localcluster/
COPY kubectl_petset/ kubectl_petset/
# The wheel first (with the compiled loop: the build fails rather than ship an image without it), then
# a virtualenv holding it and its dependencies (all published as wheels for CPython 3.12 on amd64 and
# arm64). pip compiles the bytecode here, so the read-only final image never needs to write any.
RUN python -m pip wheel --no-cache-dir --no-deps --wheel-dir /wheels . \
    && python -m venv /opt/petdns \
    && /opt/petdns/bin/pip install --no-cache-dir /wheels/petdns-*.whl \
    && /opt/petdns/bin/petdns --help >/dev/null \
    && /opt/petdns/bin/python -c "import petdns._fastloop" \
    && /opt/petdns/bin/petset-controller --help >/dev/null

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="petdns" \
      org.opencontainers.image.description="Kubernetes cluster DNS for pets, and the PetSet controller" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/opt/petdns/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    TMPDIR=/tmp
COPY --from=builder /opt/petdns /opt/petdns
USER 65532:65532
WORKDIR /tmp
# DNS over UDP and TCP, /health, /ready, metrics
EXPOSE 53/udp 53/tcp 8080 8181 9153
# For docker and compose; Kubernetes ignores it and uses the probes in config/dns/. Images run as
# petset-controller answer /healthz on :8081 instead: start those with --no-healthcheck (or a
# --health-cmd of their own).
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:8080/health', timeout=2)"]
ENTRYPOINT ["petdns"]
# Without --objects, serve watches the cluster through the pod's service account.
CMD ["serve", "--listen", "0.0.0.0:53", "--zone", "cluster.local", "--health-listen", ":8080", "--ready-listen", ":8181"]
