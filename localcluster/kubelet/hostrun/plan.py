"""Whether a pod runs as host processes, and how (pure): per container the argv (the command found on the
host's PATH, `$(VAR)` expanded), environment, working directory and user; the sandbox's hostname, files and
bind mounts. The host is read only through `Host` (the process environment, uid, PATH lookups)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from kubeapi.meta import Obj, dig
from localcluster.kubelet.hostrun import envvars, identity

ANNOTATION = "localcluster.petdns.dev/run"
NOBODY = 65534
# mount points never covered by a volume, even in the sandbox's own mount namespace
SYSTEM_DIRS = frozenset(
    {"/", "/proc", "/sys", "/dev", "/etc", "/usr", "/bin", "/sbin", "/lib", "/lib64", "/run"}
)


@dataclass(frozen=True)
class Host:
    """What the plan reads of the host: the process environment and ids, PATH lookups, directories."""

    environ: Mapping[str, str]
    uid: int
    gid: int
    which: Callable[[str, str], str | None]  # (command, PATH) -> the executable's path
    isdir: Callable[[str], bool]


@dataclass(frozen=True)
class PodContext:
    """What the kubelet knows around the pod: the cluster's zone and DNS address, the pod's addresses, the
    API server, each claim volume's host directory and ConfigMap/Secret values."""

    zone: str
    nameserver: str
    pod_ips: tuple[str, ...]
    api: tuple[str, int] | None = None
    host_ip: str = ""
    claims: Mapping[str, str] = field(default_factory=dict)  # volume name -> host directory
    source: envvars.Source = lambda kind, name, key: None


@dataclass(frozen=True)
class ContainerPlan:
    """One container as a host process."""

    name: str
    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    workdir: str
    uid: int
    gid: int
    pre_stop: tuple[str, ...] | None = None  # an exec preStop handler, found on PATH
    pre_stop_http: Obj | None = None  # an httpGet preStop handler
    probes: tuple[tuple[str, Obj], ...] = ()  # (readiness|liveness|startup, probe)
    ports: tuple[tuple[str, int], ...] = ()  # named container ports


@dataclass(frozen=True)
class PodPlan:
    """The pod's sandbox and containers."""

    hostname: str
    resolv_conf: str
    hosts: str
    mounts: tuple[tuple[str, str], ...]  # (host directory, mount point)
    init: tuple[ContainerPlan, ...]
    containers: tuple[ContainerPlan, ...]
    restart_policy: str
    owned_dirs: tuple[str, ...]  # claim directories chowned to the containers' user

    def container(self, name: str) -> ContainerPlan | None:
        """A container (init or not) by name."""
        return next((c for c in (*self.init, *self.containers) if c.name == name), None)


@dataclass(frozen=True)
class NotRun:
    """Why the pod is simulated instead; `failed` is upstream's message for a command not found."""

    reason: str
    failed: str | None = None


def asks_to_run(pod: Obj) -> bool:
    """Whether the pod carries the annotation `localcluster.petdns.dev/run: host`."""
    return str((dig(pod, "metadata", "annotations") or {}).get(ANNOTATION) or "").strip().lower() == "host"


def user_of(pod: Obj, container: Obj, host: Host) -> tuple[int, int]:
    """(uid, gid): runAsUser/runAsGroup (container, else pod) when set; else the invoking user (SUDO_UID and
    SUDO_GID, or the current ids when not root); root without sudo runs as nobody."""
    own, pods = container.get("securityContext") or {}, dig(pod, "spec", "securityContext") or {}

    def asked(key: str) -> int | None:
        for context in (own, pods):
            value = context.get(key) if isinstance(context, dict) else None
            if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                return value
        return None

    uid, gid = asked("runAsUser"), asked("runAsGroup")
    if uid is not None:
        return uid, gid if gid is not None else uid
    sudo_uid, sudo_gid = host.environ.get("SUDO_UID", ""), host.environ.get("SUDO_GID", "")
    if sudo_uid.isdigit():
        invoking = (int(sudo_uid), int(sudo_gid) if sudo_gid.isdigit() else int(sudo_uid))
    elif host.uid != 0:
        invoking = (host.uid, host.gid)
    else:
        invoking = (NOBODY, NOBODY)
    return invoking[0], gid if gid is not None else invoking[1]


def _mounts(pod: Obj, claims: Mapping[str, str], host: Host) -> list[tuple[str, str]]:
    out: dict[str, str] = {}
    for container in [*(dig(pod, "spec", "initContainers") or []), *(dig(pod, "spec", "containers") or [])]:
        for mount in container.get("volumeMounts") or [] if isinstance(container, dict) else []:
            source = claims.get(str(mount.get("name")))
            target = str(mount.get("mountPath") or "").rstrip("/") or "/"
            if source and target not in SYSTEM_DIRS and target not in out and host.isdir(target):
                out[target] = source
    return [(source, target) for target, source in out.items()]


def _base_env(pod: Obj, ctx: PodContext, host: Host) -> dict[str, str]:
    env = {
        "PATH": host.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "HOSTNAME": identity.hostname(pod),
    }
    if ctx.api is not None:
        env.update(KUBERNETES_SERVICE_HOST=ctx.api[0], KUBERNETES_SERVICE_PORT=str(ctx.api[1]))
        env.update(KUBERNETES_SERVICE_PORT_HTTPS=str(ctx.api[1]))
    return env


def _find(command: str, path: str, host: Host) -> str | None:
    if "/" in command:
        return command if host.which(command, path) else None
    return host.which(command, path)


def _container(pod: Obj, container: Obj, ctx: PodContext, host: Host, workdir: str) -> ContainerPlan | NotRun:
    name = str(container.get("name") or "")
    command = [str(c) for c in container.get("command") or []]
    args = [str(a) for a in container.get("args") or []]
    if not command:
        return NotRun(f"container {name} has no command (the image's entrypoint is not known on the host)")
    base = _base_env(pod, ctx, host)
    env, _ = envvars.container_env(container, pod, base, ctx.source)
    argv = [envvars.expand(word, env.get) for word in (*command, *args)]
    found = _find(argv[0], env.get("PATH", ""), host)
    if found is None:
        failed = f'exec: "{argv[0]}": executable file not found in $PATH'
        return NotRun(f"container {name}: command {argv[0]!r} not found on the host", failed)
    pre_stop = None
    handler = dig(container, "lifecycle", "preStop", "exec", "command")
    if isinstance(handler, list) and handler:
        words = [str(w) for w in handler]
        found_stop = _find(words[0], env.get("PATH", ""), host)
        pre_stop = (found_stop, *words[1:]) if found_stop else None
    asked = str(container.get("workingDir") or "")
    uid, gid = user_of(pod, container, host)
    probes = tuple(
        (kind, container[f"{kind}Probe"])
        for kind in ("readiness", "liveness", "startup")
        if isinstance(container.get(f"{kind}Probe"), dict)
    )
    ports = tuple(
        (str(p["name"]), int(p["containerPort"]))
        for p in container.get("ports") or []
        if isinstance(p, dict) and p.get("name") and isinstance(p.get("containerPort"), int)
    )
    return ContainerPlan(
        name=name,
        argv=(found, *argv[1:]),
        env=tuple(sorted(env.items())),
        workdir=asked if asked and host.isdir(asked) else workdir,
        uid=uid,
        gid=gid,
        pre_stop=pre_stop,
        pre_stop_http=http
        if isinstance(http := dig(container, "lifecycle", "preStop", "httpGet"), dict)
        else None,
        probes=probes,
        ports=ports,
    )


def plan(pod: Obj, ctx: PodContext, host: Host) -> PodPlan | NotRun:
    """How the pod runs on the host, or why it does not (the annotation missing, a command not found)."""
    if not asks_to_run(pod):
        return NotRun(f"the pod has no annotation {ANNOTATION}: host; its containers are simulated")
    known = {"podIP": ctx.pod_ips[0], "podIPs": [{"ip": ip} for ip in ctx.pod_ips]} if ctx.pod_ips else {}
    if ctx.host_ip:
        known.update(hostIP=ctx.host_ip, hostIPs=[{"ip": ctx.host_ip}])
    pod = {**pod, "status": {**(pod.get("status") or {}), **known}}  # as the status is about to say
    spec = pod.get("spec") or {}
    claim_dirs = [ctx.claims[v["name"]] for v in spec.get("volumes") or [] if v.get("name") in ctx.claims]
    workdir = claim_dirs[0] if claim_dirs else "/"
    built: dict[str, list[ContainerPlan]] = {"initContainers": [], "containers": []}
    for key, into in built.items():
        for container in spec.get(key) or []:
            if not isinstance(container, dict):
                continue
            made = _container(pod, container, ctx, host, workdir)
            if isinstance(made, NotRun):
                return made
            into.append(made)
    if not built["containers"]:
        return NotRun("the pod has no containers")
    return PodPlan(
        hostname=identity.hostname(pod),
        resolv_conf=identity.resolv_conf(pod, ctx.zone, ctx.nameserver),
        hosts=identity.hosts(pod, ctx.zone, ctx.pod_ips),
        mounts=tuple(_mounts(pod, ctx.claims, host)),
        init=tuple(built["initContainers"]),
        containers=tuple(built["containers"]),
        restart_policy=str(spec.get("restartPolicy") or "Always"),
        owned_dirs=tuple(claim_dirs),
    )
