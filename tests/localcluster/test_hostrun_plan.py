"""The host-process plan (pure): whether a pod runs, its argv, environment, user, working directory and
the identity files a pet sees."""

from __future__ import annotations

import shutil
from typing import Any

from localcluster.kubelet.hostrun import envvars, identity
from localcluster.kubelet.hostrun.plan import ANNOTATION, Host, NotRun, PodContext, PodPlan, plan, user_of

ENV = {"PATH": "/usr/bin:/bin"}


def host(environ: dict[str, str] | None = None, uid: int = 0, dirs: tuple[str, ...] = ()) -> Host:
    return Host(
        environ=ENV if environ is None else environ,
        uid=uid,
        gid=uid,
        which=lambda cmd, path: shutil.which(cmd, path=path),
        isdir=lambda path: path in dirs,
    )


def pet(**container: Any) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "web-0",
            "namespace": "default",
            "uid": "u-1",
            "labels": {"app": "nginx"},
            "annotations": {ANNOTATION: "host"},
        },
        "spec": {
            "hostname": "web-0",
            "subdomain": "nginx",
            "nodeName": "node-1",
            "containers": [{"name": "main", "command": ["sh", "-c"], "args": ["sleep 1"], **container}],
        },
    }


CTX = PodContext(
    zone="cluster.local", nameserver="127.244.0.10", pod_ips=("127.244.0.11",), api=("127.0.0.1", 6443)
)


def test_expansion_as_upstream() -> None:
    known = {"A": "x", "B": "y"}.get
    assert envvars.expand("$(A)-$(B)", known) == "x-y"
    assert envvars.expand("$$(A) $(C) $A $", known) == "$(A) $(C) $A $"
    assert envvars.expand("$(A", known) == "$(A"


def test_a_pod_without_the_annotation_is_not_run() -> None:
    pod = pet()
    pod["metadata"]["annotations"] = {}
    made = plan(pod, CTX, host())
    assert isinstance(made, NotRun) and ANNOTATION in made.reason and made.failed is None


def test_a_command_not_found_says_so_as_upstream() -> None:
    made = plan(pet(command=["no-such-command-here"]), CTX, host())
    assert isinstance(made, NotRun)
    assert made.failed == 'exec: "no-such-command-here": executable file not found in $PATH'


def test_argv_env_and_field_references() -> None:
    env = [
        {"name": "NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "HOST_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}},
        {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
        {"name": "GREETING", "value": "hi $(NAME) at $(IP)"},
        {"name": "KEY", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "k"}}},
    ]
    ctx = PodContext(
        **{**CTX.__dict__, "host_ip": "127.0.1.1", "source": lambda kind, name, key: f"{kind}/{name}/{key}"}
    )
    made = plan(pet(env=env, args=["echo $(GREETING) $$(NAME)"]), ctx, host())
    assert isinstance(made, PodPlan)
    main = made.containers[0]
    assert main.argv == (shutil.which("sh", path=ENV["PATH"]), "-c", "echo hi web-0 at 127.244.0.11 $(NAME)")
    values = dict(main.env)
    assert values["HOST_IP"] == "127.0.1.1" and values["IP"] == "127.244.0.11"
    assert values["APP"] == "nginx" and values["KEY"] == "ConfigMap/cm/k" and values["HOSTNAME"] == "web-0"
    assert values["PATH"] == ENV["PATH"] and values["KUBERNETES_SERVICE_PORT"] == "6443"


def test_identity_files() -> None:
    pod = pet()
    assert identity.resolv_conf(pod, "cluster.local", "127.244.0.10") == (
        "search default.svc.cluster.local svc.cluster.local cluster.local\n"
        "nameserver 127.244.0.10\noptions ndots:5\n"
    )
    hosts = identity.hosts(pod, "cluster.local", ("127.244.0.11",))
    assert hosts.startswith("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n")
    assert hosts.endswith("127.244.0.11\tweb-0.nginx.default.svc.cluster.local\tweb-0\n")
    del pod["spec"]["subdomain"]
    assert identity.hosts(pod, "cluster.local", ("127.244.0.11",)).endswith("127.244.0.11\tweb-0\n")


def test_user_never_root_unless_asked() -> None:
    pod = pet()
    container = pod["spec"]["containers"][0]
    assert user_of(pod, container, host()) == (65534, 65534)
    assert user_of(pod, container, host({"SUDO_UID": "1000", "SUDO_GID": "100"})) == (1000, 100)
    assert user_of(pod, container, host(uid=1234)) == (1234, 1234)
    pod["spec"]["securityContext"] = {"runAsUser": 0, "runAsGroup": 0}
    assert user_of(pod, container, host()) == (0, 0)
    container["securityContext"] = {"runAsUser": 70}
    assert user_of(pod, container, host()) == (70, 0)


def test_working_dir_and_mounts() -> None:
    pod = pet(workingDir="/srv/app", volumeMounts=[{"name": "data", "mountPath": "/var/lib/data"}])
    pod["spec"]["volumes"] = [{"name": "data", "persistentVolumeClaim": {"claimName": "data-web-0"}}]
    ctx = PodContext(**{**CTX.__dict__, "claims": {"data": "/vol/pvc-1"}})
    made = plan(pod, ctx, host())
    assert isinstance(made, PodPlan)
    assert made.containers[0].workdir == "/vol/pvc-1" and made.mounts == ()
    made = plan(pod, ctx, host(dirs=("/srv/app", "/var/lib/data")))
    assert isinstance(made, PodPlan)
    assert made.containers[0].workdir == "/srv/app"
    assert made.mounts == (("/vol/pvc-1", "/var/lib/data"),) and made.owned_dirs == ("/vol/pvc-1",)
