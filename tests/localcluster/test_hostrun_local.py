"""`petdns local --run-pods` with real processes: a pet runs as a host process with its identity (hostname,
FQDN, resolv.conf), is stopped by `kubectl delete pod` and comes back; pods not run say why; the host's
/etc files are untouched and nothing is left running after exit."""

from __future__ import annotations

import ipaddress
import json
import os
import random
from collections.abc import Iterator
from pathlib import Path

import dns.message
import dns.query
import pytest

from localcluster.kubelet.hostrun.runtime import available
from localcluster.kubelet.hostrun.sandbox import alive
from tests.support.process import LocalProcess, wait_for

pytestmark = pytest.mark.skipif(
    available() is not None or os.geteuid() != 0, reason="needs root, unshare and nsenter"
)
SCRIPT = "hostname; hostname -f; cat /etc/resolv.conf; sleep 1000"
MANIFEST = """
apiVersion: v1
kind: Service
metadata: {name: nginx}
spec:
  clusterIP: None
  selector: {app: nginx}
  ports: [{port: 80, name: web}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: web}
spec:
  serviceName: nginx
  replicas: 1
  selector: {matchLabels: {app: nginx}}
  template:
    metadata:
      labels: {app: nginx}
      annotations: {localcluster.petdns.dev/run: host}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - {name: main, image: busybox, command: [sh, -c, "SCRIPT"]}
---
apiVersion: v1
kind: Pod
metadata: {name: plain}
spec:
  containers: [{name: main, image: busybox, command: [sh, -c, "sleep 1000"]}]
---
apiVersion: v1
kind: Pod
metadata:
  name: missing
  annotations: {localcluster.petdns.dev/run: host}
spec:
  containers: [{name: main, image: busybox, command: [no-such-command-on-this-host]}]
---
apiVersion: v1
kind: Service
metadata: {name: files}
spec:
  clusterIP: None
  selector: {app: files}
  ports: [{port: 8080, name: http}]
---
apiVersion: v1
kind: Pod
metadata:
  name: files
  labels: {app: files}
  annotations: {localcluster.petdns.dev/run: host}
spec:
  containers:
  - name: main
    image: python
    command: [sh, -c, "sleep 1; exec python3 -m http.server 8080 --bind $(POD_IP)"]
    env: [{name: POD_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}]
    ports: [{containerPort: 8080, name: http}]
    readinessProbe: {httpGet: {path: /, port: http}, periodSeconds: 1}
""".replace("SCRIPT", SCRIPT)


@pytest.fixture
def local(tmp_path: Path) -> Iterator[LocalProcess]:
    (tmp_path / "web.yaml").write_text(MANIFEST)
    second = random.choice([n for n in range(100, 250) if n != 244])  # apart from the default 127.244/16
    cidr = f"127.{second}.{random.randrange(0, 255)}.0/24"  # and from other clusters
    listen = ("127.0.0.1:0",)
    running = LocalProcess(
        tmp_path,
        "--run-pods",
        "--no-forward",
        "--pod-cidr",
        cidr,
        "-f",
        str(tmp_path / "web.yaml"),
        *("--health-listen", *listen, "--ready-listen", *listen, "--metrics-listen", *listen),
    )
    try:
        yield running
    finally:
        running.stop()


def holders(state: Path) -> dict[str, int]:
    """The sandbox holders running for pods under this state directory: pod directory -> host PID."""
    found = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if not argv[0].endswith(b"unshare") and any(a.endswith(b"hostrun/holder.py") for a in argv):
            resolv = argv[argv.index(b"--resolv") + 1].decode()
            if resolv.startswith(str(state)) and alive(int(proc.name)):
                found[Path(resolv).parent.name] = int(proc.name)
    return found


def pets(state: Path) -> dict[str, int]:
    """The holders of web-0's sandboxes."""
    return {d: pid for d, pid in holders(state).items() if d.startswith("default_web-0_")}


def pod_ip(local: LocalProcess) -> str:
    return str(json.loads(local.kubectl("get", "pod", "web-0", "-o", "json"))["status"]["podIP"])


def log_lines(state: Path, directory: str) -> list[str]:
    path = state / "pods" / directory / "main" / "0.log"
    return [line.split(" ", 3)[3] for line in path.read_text().splitlines()] if path.exists() else []


def test_a_pet_runs_for_real(local: LocalProcess) -> None:
    etc = Path("/etc/resolv.conf").read_bytes(), Path("/etc/hosts").read_bytes()
    state = local.directory / "state"
    first = wait_for(lambda: pets(state), timeout=30, what="the pet's sandbox")
    ((directory, holder),) = first.items()
    assert directory.startswith("default_web-0_")
    lines = wait_for(lambda: log_lines(state, directory) if len(log_lines(state, directory)) >= 5 else None)
    assert lines[:2] == ["web-0", "web-0.nginx.default.svc.cluster.local"]
    assert "search default.svc.cluster.local svc.cluster.local cluster.local" in lines
    args = [str(arg) for arg in local.proc.args]  # type: ignore[union-attr]
    nameserver = str(ipaddress.ip_network(args[args.index("--pod-cidr") + 1]).network_address + 10)
    assert f"nameserver {nameserver}" in lines
    query = dns.message.make_query("web-0.nginx.default.svc.cluster.local", "A")

    def answered() -> list[str]:
        answer = dns.query.udp(query, nameserver, port=53, timeout=5)
        return [str(r) for rrset in answer.answer for r in rrset]

    assert wait_for(answered, what="the pet's name from its nameserver") == [pod_ip(local)]
    assert local.kubectl("logs", "web-0").splitlines()[:2] == lines[:2]
    assert local.kubectl("exec", "web-0", "--", "hostname", "-f") == "web-0.nginx.default.svc.cluster.local\n"
    pod = json.loads(local.kubectl("get", "pod", "web-0", "-o", "json"))
    main = pod["status"]["containerStatuses"][0]
    assert pod["status"]["phase"] == "Running" and "running" in main["state"] and main["ready"]

    events = local.kubectl("get", "events", "-o", "json")
    reasons = {(e["involvedObject"]["name"], e["reason"]): e["message"] for e in json.loads(events)["items"]}
    assert "no annotation localcluster.petdns.dev/run: host" in reasons[("plain", "NotRun")]
    assert reasons[("missing", "Failed")] == (
        'exec: "no-such-command-on-this-host": executable file not found in $PATH'
    )
    assert ("web-0", "NotRun") not in reasons and ("web-0", "Started") in reasons

    def files_ready() -> list[bool]:
        listed = json.loads(
            local.kubectl("get", "endpointslices", "-l", "kubernetes.io/service-name=files", "-o", "json")
        )
        return [e["conditions"]["ready"] for s in listed["items"] for e in s.get("endpoints") or []]

    assert files_ready() == [False]  # the server is not up yet: not Ready, not in DNS
    wait_for(lambda: files_ready() == [True], timeout=20, what="the files pod Ready by its probe")
    assert ("files", "Unhealthy") in reasons

    local.kubectl("delete", "pod", "web-0", "--wait=true")
    assert not alive(holder)
    again = wait_for(
        lambda: {d: p for d, p in pets(state).items() if d != directory}, timeout=30, what="back"
    )
    ((directory2, holder2),) = again.items()
    wait_for(lambda: log_lines(state, directory2)[:1] == ["web-0"], what="the new pet's logs")
    assert not (state / "pods" / directory).exists()  # removed with its pod
    assert (Path("/etc/resolv.conf").read_bytes(), Path("/etc/hosts").read_bytes()) == etc

    assert local.stop() == 0
    assert not alive(holder2) and not holders(state)


def test_without_the_flag_nothing_runs(tmp_path: Path) -> None:
    (tmp_path / "web.yaml").write_text(MANIFEST)
    listen = ("127.0.0.1:0",)
    local = LocalProcess(
        tmp_path,
        "--no-forward",
        "-f",
        str(tmp_path / "web.yaml"),
        *("--health-listen", *listen, "--ready-listen", *listen, "--metrics-listen", *listen),
    )
    try:
        wait_for(lambda: "Running" in local.kubectl("get", "pod", "web-0"), what="web-0 Running")
        events = json.loads(local.kubectl("get", "events", "-o", "json"))["items"]
        assert not [e for e in events if e["reason"] in ("NotRun", "Failed", "Started")]
        assert not holders(tmp_path / "state") and not (tmp_path / "state" / "pods").exists()
    finally:
        assert local.stop() == 0
