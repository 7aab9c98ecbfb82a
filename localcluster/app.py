"""Composition root of `petdns local`: the API server and, as tasks of one process, the kubelet, the
volume provisioner, the EndpointSlice controller, the PetSet controller and the DNS server."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import signal
import tempfile
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubeapi.auth import Connection
from kubeapi.client import Client
from localcluster.apiserver.kubeconfig import read_token, write_kubeconfig
from localcluster.apiserver.server import ApiServer, ServerConfig
from localcluster.apiserver.tls import ServingCert, serving_cert
from localcluster.controllers.deployments.controller import DeploymentController
from localcluster.controllers.disruption.controller import DisruptionController
from localcluster.controllers.endpointslices.controller import EndpointSliceController
from localcluster.controllers.protection.controller import ProtectionController
from localcluster.controllers.provisioner.controller import Provisioner, ProvisionerConfig
from localcluster.controllers.provisioner.volumes import private_dir
from localcluster.kubelet.hostrun.runtime import HostRuntime, available
from localcluster.kubelet.kubelet import Kubelet, KubeletConfig
from localcluster.seed import Planned, create_planned, plan_files
from localcluster.storage.journal import SqliteJournal
from localcluster.storage.schema.crds import ensure_crds
from localcluster.storage.store import ObjectStore
from petdns.answer.zone import RenderedZone
from petdns.app import Runtime, ServeOptions, run_loop, serving
from petdns.app import stop as stop_serving
from petdns.forward.forwarder import ForwardConfig
from petdns.forward.upstreams import Routes, Upstream, default_upstreams
from petdns.serve.lifecycle import Lifecycle
from petdns.settings.values import DEFAULT_MAX_UDP, PodsMode, Settings
from petset_controller.runtime.controller import Controller, ControllerConfig

log = logging.getLogger("localcluster")

START_NAMESPACES = ("default", "kube-system", "kube-public")
Address = tuple[str, int]
# /health, /ready and /metrics of the DNS server: apart from `petdns serve`'s :9153, :8080 and :8181
DEFAULT_HTTP: Address = ("127.0.0.1", 9154)


@dataclass(frozen=True, slots=True)
class LocalOptions:
    """Everything `petdns local` was asked to do."""

    api: tuple[str, int] = ("127.0.0.1", 6443)
    dns: tuple[str, int] | None = ("127.0.0.1", 5353)
    kubeconfig: str | None = None  # None: <state>/kubeconfig, else .petdns/kubeconfig
    state: str | None = None
    token_file: str | None = None
    files: tuple[str, ...] = ()
    zone: str = "cluster.local"
    kubelet: KubeletConfig = field(default_factory=KubeletConfig)
    upstreams: tuple[Upstream, ...] | None = None  # other names: None = resolv.conf's, () = refused
    resolv_conf: str = "/etc/resolv.conf"
    # the DNS server's HTTP addresses (None: DEFAULT_HTTP, where failing to bind is only a warning)
    health_listen: tuple[Address, ...] | None = None
    ready_listen: tuple[Address, ...] | None = None
    metrics_listen: tuple[Address, ...] | None = None
    lameduck: float = 0.0  # seconds of answering after a stop signal, with /ready already 503
    max_udp_size: int = DEFAULT_MAX_UDP  # the DNS server's largest UDP reply

    def forwarding(self) -> ForwardConfig | None:
        """Where names outside the cluster zone go (None: nowhere, they are refused)."""
        upstreams = self.upstreams
        if upstreams is None:
            try:
                text = Path(self.resolv_conf).read_text(errors="replace")
                upstreams = default_upstreams(text, [self.dns] if self.dns else [])
            except OSError:
                upstreams = ()
        return ForwardConfig(Routes(upstreams, {})) if upstreams else None

    def serve_options(self, conn: Connection) -> ServeOptions:
        """What the DNS server runs with: the cluster zone from the local API server, as `petdns serve`."""
        assert self.dns is not None
        host = self.dns[0]
        settings = Settings(
            zones=(self.zone,),
            pods=PodsMode.INSECURE,
            ns_addresses=(host,) if host not in _WILDCARD_TO_LOOPBACK else (),
            max_udp=self.max_udp_size,
        )
        given = {"/health": self.health_listen, "/ready": self.ready_listen, "/metrics": self.metrics_listen}
        http = {
            path: (DEFAULT_HTTP,) if addresses is None else addresses for path, addresses in given.items()
        }
        listen = [self.dns]
        if self.kubelet.run_pods and available() is None:  # the nameserver of pods run for real
            listen.append((self.kubelet.dns_address, 53))
        return ServeOptions(
            settings=settings,
            objects=(),
            listen=tuple(listen),
            kube=conn,
            health_listen=http["/health"],
            ready_listen=http["/ready"],
            metrics_listen=http["/metrics"],
            forward=self.forwarding(),
            lameduck=self.lameduck,
            default_http=frozenset(path for path, addresses in given.items() if addresses is None),
        )

    def kubeconfig_path(self) -> str:
        """Where the kubeconfig is written."""
        if self.kubeconfig:
            return self.kubeconfig
        return os.path.join(self.state or ".petdns", "kubeconfig")


@dataclass(slots=True)
class Running:
    """What a started local cluster offers its caller (tests, the banner)."""

    url: str
    kubeconfig: str
    dns: tuple[str, int] | None  # the bound address
    server: ApiServer
    kubelet: Kubelet
    zone: RenderedZone | None
    planned: list[Planned]
    created: list[str]
    dns_runtime: Runtime | None = None  # the DNS server, as `petdns serve` runs it


_WILDCARD_TO_LOOPBACK = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}


def reachable_host(host: str) -> str:
    """The address clients reach a listen host at: a wildcard address becomes loopback."""
    return _WILDCARD_TO_LOOPBACK.get(host, host)


def client_url(scheme: str, host: str, port: int) -> str:
    """The URL clients use for a listen address."""
    host = reachable_host(host)
    return f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"


def open_store(state: str | None) -> tuple[ObjectStore, SqliteJournal | None]:
    """The store, persisted in `<state>/state.db` when a state directory is given."""
    journal = None
    if state:
        os.makedirs(state, mode=0o700, exist_ok=True)  # an existing directory keeps the mode it has
        journal = SqliteJournal(os.path.join(state, "state.db"))
    store = ObjectStore(journal=journal)
    store.ensure_namespaces(START_NAMESPACES)
    ensure_crds(store.get, store.create)
    return store, journal


@contextlib.contextmanager
def _certificate(state: str | None, wanted: bool) -> Iterator[ServingCert | None]:
    """The serving certificate when TLS is wanted: kept in `<state>/tls`, else in a temporary directory."""
    if not wanted:
        yield None
    elif state:
        yield serving_cert(os.path.join(state, "tls"))
    else:
        with tempfile.TemporaryDirectory(prefix="petdns-tls-") as directory:
            yield serving_cert(directory)


@contextlib.contextmanager
def _volume_root(state: str | None) -> Iterator[str]:
    """Where volumes keep their data: `<state>/volumes`, else a temporary directory."""
    if state:
        root = os.path.join(state, "volumes")
        private_dir(root)
        yield root
    else:
        with tempfile.TemporaryDirectory(prefix="petdns-volumes-") as directory:
            yield directory


def try_lines(running: Running, zone: str) -> list[str]:
    """What to try next: the KUBECONFIG export, kubectl, a dig for a name the files create, and the DNS
    server's metrics."""
    lines = [f"export KUBECONFIG={os.path.abspath(running.kubeconfig)}", "kubectl get pods"]
    if running.dns is not None:
        host, port = running.dns
        lines.append(f"dig @{reachable_host(host)} -p {port} {example_name(running.planned, zone)}")
    if running.dns_runtime is not None:
        for paths, (host, port) in running.dns_runtime.http:
            if "/metrics" in paths:
                lines.append(f"curl -s {client_url('http', host, port)}/metrics")
                break
    return lines


def example_name(planned: list[Planned], zone: str) -> str:
    """The first pet's DNS name (else the first Service's) among the planned objects."""
    for _, ref, namespace, raw in planned:
        spec = raw.get("spec") or {}
        if ref.plural == "petsets" and spec.get("serviceName"):
            return f"{raw['metadata']['name']}-0.{spec['serviceName']}.{namespace}.svc.{zone}"
    for _, ref, namespace, raw in planned:
        if ref.plural == "services" and not ref.group:
            return f"{raw['metadata']['name']}.{namespace}.svc.{zone}"
    return f"web-0.nginx.default.svc.{zone}"


@contextlib.asynccontextmanager
async def _tasks(
    factories: list[tuple[str, Callable[[], Coroutine[Any, Any, None]]]],
) -> AsyncIterator[list[asyncio.Task[None]]]:
    """Run each component as a named task; cancel them (last started first) on the way out."""
    tasks = [asyncio.create_task(make(), name=name) for name, make in factories]
    try:
        yield tasks
    finally:
        for task in reversed(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def run_local(
    options: LocalOptions,
    *,
    stop: asyncio.Event | None = None,
    started: Callable[[Running], None] = lambda running: None,
    handle_signals: bool = True,
) -> None:
    """Serve the local cluster until `stop` is set (or SIGINT/SIGTERM). The files are read before
    anything starts (ManifestError for a bad one) and created once every component runs.

    With a token file every request needs `Authorization: Bearer <token>`, and the server speaks HTTPS
    with a self-signed certificate (kubectl sends credentials only over TLS); the kubeconfig carries both.
    """
    planned = plan_files(list(options.files))
    stop = stop or asyncio.Event()
    lifecycle = Lifecycle()
    if handle_signals:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, _on_signal, sig, stop, lifecycle)
    token = read_token(options.token_file) if options.token_file else None
    kubeconfig = options.kubeconfig_path()
    store, journal = open_store(options.state)
    pods_runtime = pod_runtime(options)
    server = ApiServer(store, config=ServerConfig(token=token), runtime=pods_runtime)
    try:
        with _certificate(options.state, token is not None) as cert, _volume_root(options.state) as volumes:
            await server.start(*options.api, tls=cert.server_context() if cert else None)
            url = client_url(server.scheme, options.api[0], server.port)
            os.makedirs(os.path.dirname(os.path.abspath(kubeconfig)), exist_ok=True)
            write_kubeconfig(kubeconfig, url, token=token, ca_pem=cert.ca_pem() if cert else None)
            log.info("API server at %s; kubeconfig written to %s", url, kubeconfig)
            conn = Connection(server=url, token=token or "", ca_file=cert.cert_file if cert else "")
            await _serve_components(
                options,
                pods_runtime=pods_runtime,
                conn=conn,
                server=server,
                url=url,
                kubeconfig=kubeconfig,
                volumes=volumes,
                planned=planned,
                stop=stop,
                lifecycle=lifecycle,
                started=started,
            )
    finally:
        await server.stop()
        if journal is not None:
            journal.close()


def _on_signal(sig: int, stop: asyncio.Event, lifecycle: Lifecycle) -> None:
    """SIGINT or SIGTERM: the first stops the cluster (the DNS server's lame duck first), the next ones
    cut the lame duck short."""
    stop.set()
    lifecycle.signal(sig)


def pod_runtime(options: LocalOptions) -> HostRuntime | None:
    """With `--run-pods` on a host that can: the runtime the kubelet runs pods with and the API server
    enters and reads them through (pods' files under `<state>/pods`, else a temporary directory)."""
    if not options.kubelet.run_pods or available() is not None:
        return None
    return HostRuntime(os.path.join(options.state, "pods") if options.state else None)


async def _serve_components(
    options: LocalOptions,
    *,
    pods_runtime: HostRuntime | None,
    conn: Connection,
    server: ApiServer,
    url: str,
    kubeconfig: str,
    volumes: str,
    planned: list[Planned],
    stop: asyncio.Event,
    lifecycle: Lifecycle,
    started: Callable[[Running], None],
) -> None:
    async with contextlib.AsyncExitStack() as stack:

        def client(agent: str) -> Client:
            made = Client(conn, user_agent=f"petdns-local/{agent}")
            stack.push_async_callback(made.close)
            return made

        kubelet_config = options.kubelet
        if kubelet_config.run_pods:
            api = (reachable_host(options.api[0]), server.port)
            kubelet_config = dataclasses.replace(kubelet_config, zone=options.zone, api=api)
        kubelet = Kubelet(client("kubelet"), kubelet_config, pods_runtime)
        provisioner = Provisioner(client("provisioner"), ProvisionerConfig(volume_root=volumes))
        slices = EndpointSliceController(client("endpointslice-controller"))
        controller = Controller(
            client("petset-controller"), config=ControllerConfig(manage_statefulsets=True)
        )
        factories: list[tuple[str, Callable[[], Coroutine[Any, Any, None]]]] = [
            ("provisioner", provisioner.run),
            ("kubelet", kubelet.run),
            ("endpointslice-controller", slices.run),
            ("deployment-controller", DeploymentController(client("deployment-controller")).run),
            ("disruption-controller", DisruptionController(client("disruption-controller")).run),
            ("petset-controller", controller.run),
            ("protection-controller", ProtectionController(client("protection-controller")).run),
        ]
        runtime = None
        if options.dns is not None:
            dns_options = options.serve_options(conn)
            zone = RenderedZone(dns_options.settings)
            runtime = await stack.enter_async_context(
                serving(dns_options, zone, lifecycle=lifecycle, client=client("dns"))
            )
        async with _tasks(factories) as tasks:
            created = await create_planned(client("seed"), planned)
            for line in created:
                log.info("%s", line)
            running = Running(
                url,
                kubeconfig,
                runtime.server.bound[0] if runtime else None,
                server,
                kubelet,
                runtime.server.zone if runtime else None,
                planned,
                created,
                runtime,
            )
            started(running)
            await _until_stopped(stop, tasks)
            log.info("stopping")
            if runtime is not None:
                if not lifecycle.stopping:
                    lifecycle.signal()
                await stop_serving(runtime)


async def _until_stopped(stop: asyncio.Event, tasks: list[asyncio.Task[None]]) -> None:
    """Until `stop` is set; RuntimeError naming a component that stopped by itself."""
    waiter = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    for task in done:
        if task is not waiter and not task.cancelled() and task.exception() is not None:
            raise RuntimeError(f"{task.get_name()} stopped: {task.exception()!r}")


def run(options: LocalOptions, *, started: Callable[[Running], None] = lambda running: None) -> None:
    """Run `run_local` until a signal, on the event loop every petdns command uses."""
    run_loop(run_local(options, started=started))
