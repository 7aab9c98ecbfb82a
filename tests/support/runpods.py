"""What the `petdns local --run-pods` tests share: whether this host can run pods, the extra manifests
(a pod without the annotation, one whose command the host lacks, `petdns peers` pets, etcd pets), the
host processes of a pet, and the Ready addresses seen through DNS."""

from __future__ import annotations

import base64
import json
import os
import shutil
import sys
import urllib.request
from pathlib import Path
from typing import Any

import dns.message
import dns.query
import dns.rcode

from tests.support.process import ROOT, LocalProcess

RAFT = ROOT / "config" / "examples" / "run-pods" / "raft.yaml"
QUIET = ("--health-listen", "127.0.0.1:0", "--ready-listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0")
ANNOTATED = "annotations: {localcluster.petdns.dev/run: host}"
CLAIM = """  volumeClaimTemplates:
  - metadata: {name: data}
    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 16Mi}}}
"""

# PETDNS is replaced by the petdns script next to the test's Python: it runs as root (runAsUser: 0) since
# the project's Python may live where other users cannot read
EXTRA = f"""apiVersion: v1
kind: Pod
metadata: {{name: plain, labels: {{kind: plain}}}}
spec:
  terminationGracePeriodSeconds: 0
  containers: [{{name: main, image: busybox, command: [sleep, "3600"]}}]
---
apiVersion: v1
kind: Pod
metadata: {{name: missing, {ANNOTATED}}}
spec:
  terminationGracePeriodSeconds: 0
  containers: [{{name: main, image: busybox, command: [no-such-command-here]}}]
---
apiVersion: v1
kind: Service
metadata: {{name: peers}}
spec: {{clusterIP: None, publishNotReadyAddresses: true, selector: {{app: peers}}, ports: [{{port: 80}}]}}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {{name: peers}}
spec:
  serviceName: peers
  replicas: 3
  podManagementPolicy: Parallel
  selector: {{matchLabels: {{app: peers}}}}
  template:
    metadata:
      labels: {{app: peers}}
      {ANNOTATED}
    spec:
      terminationGracePeriodSeconds: 1
      securityContext: {{runAsUser: 0}}
      containers:
      - name: finder
        image: petdns
        env: [{{name: POD_NAMESPACE, valueFrom: {{fieldRef: {{fieldPath: metadata.namespace}}}}}}]
        command: [PETDNS, peers, --service, peers]
        args: [--on-start, cat > on-start.txt, --on-change, cat > on-change.txt]
        volumeMounts: [{{name: data, mountPath: /data}}]
{CLAIM}"""

ETCD_ARGS = [
    "--name=$(POD_NAME)",
    "--data-dir=etcd-data",
    "--discovery-srv=etcd.default.svc.cluster.local",
    "--initial-advertise-peer-urls=https://$(POD_NAME).etcd.default.svc.cluster.local:2380",
    "--listen-peer-urls=https://$(POD_IP):2380",
    "--peer-auto-tls",
    "--listen-client-urls=http://$(POD_IP):2379",
    "--advertise-client-urls=http://$(POD_IP):2379",
    "--initial-cluster-token=petdns-etcd",
    "--initial-cluster-state=new",
]
ETCD = f"""---
apiVersion: v1
kind: Service
metadata: {{name: etcd}}
spec:
  clusterIP: None
  publishNotReadyAddresses: true
  selector: {{app: etcd}}
  ports: [{{name: etcd-server-ssl, port: 2380}}, {{name: etcd-client, port: 2379}}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {{name: etcd}}
spec:
  serviceName: etcd
  replicas: 3
  podManagementPolicy: Parallel
  selector: {{matchLabels: {{app: etcd}}}}
  template:
    metadata:
      labels: {{app: etcd}}
      {ANNOTATED}
    spec:
      terminationGracePeriodSeconds: 2
      initContainers:  # etcd's DNS bootstrap wants every member's SRV record there before it starts
      - name: wait-for-peers
        image: busybox
        command: [sh, -c]
        args:
        - until [ "$$(getent hosts etcd-0.etcd etcd-1.etcd etcd-2.etcd | wc -l)" = 3 ]; do sleep 0.2; done
      containers:
      - name: etcd
        image: quay.io/coreos/etcd:v3.4
        env:
        - {{name: POD_NAME, valueFrom: {{fieldRef: {{fieldPath: metadata.name}}}}}}
        - {{name: POD_IP, valueFrom: {{fieldRef: {{fieldPath: status.podIP}}}}}}
        command: [etcd]
        args: {json.dumps(ETCD_ARGS)}
        ports: [{{name: client, containerPort: 2379}}, {{name: peer, containerPort: 2380}}]
        readinessProbe: {{httpGet: {{path: /health, port: client}}, periodSeconds: 1}}
        volumeMounts: [{{name: data, mountPath: /var/lib/etcd}}]
{CLAIM}"""


def raft_status(address: str) -> dict[str, Any] | None:
    """A Raft pet's /status at HOST:PORT (no proxy), None while it does not answer."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"http://{address}/status", timeout=1) as response:
            found: dict[str, Any] = json.load(response)
            return found
    except OSError:
        return None


def why_not() -> str | None:
    """Why this host cannot run pods for real (None: it can)."""
    if not sys.platform.startswith("linux"):
        return "--run-pods is Linux only"
    if os.geteuid() != 0:
        return "--run-pods needs root for the UTS, mount and PID namespaces"
    if not (shutil.which("unshare") and shutil.which("nsenter")):
        return "--run-pods needs util-linux unshare and nsenter"
    return None


def extra_manifest(directory: Path) -> Path:
    """EXTRA (and ETCD where etcd is installed) written to a file, PETDNS filled in."""
    path = directory / "extra.yaml"
    text = EXTRA.replace("PETDNS", str(Path(sys.executable).with_name("petdns")))
    path.write_text(text + (ETCD if shutil.which("etcd") else ""))
    return path


def host_processes(pod: str, ip: str) -> list[int]:
    """Host PIDs of processes started with POD_NAME=pod and POD_IP=ip in their environment."""
    wanted = {f"POD_NAME={pod}".encode(), f"POD_IP={ip}".encode()}
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = set((entry / "environ").read_bytes().split(b"\0"))
        except OSError:
            continue
        if wanted <= environ:
            found.append(int(entry.name))
    return found


def addresses(pods: dict[str, dict[str, Any]], *, ready_only: bool) -> dict[str, str]:
    """{pod name: pod IP} of the running pods (Ready ones only when asked)."""
    out = {}
    for name, pod in pods.items():
        state = pod.get("status", {})
        ready = any(c["type"] == "Ready" and c["status"] == "True" for c in state.get("conditions", []))
        if state.get("podIP") and not pod["metadata"].get("deletionTimestamp") and (ready or not ready_only):
            out[name] = str(state["podIP"])
    return out


def ready_ips(local: LocalProcess, name: str = "raft-ready.default.svc.cluster.local") -> list[str]:
    """A records of a headless service without publishNotReadyAddresses: its Ready pets."""
    query = dns.message.make_query(name, "A")
    reply = dns.query.udp(query, local.dns_host, port=local.dns_port, timeout=2)
    if reply.rcode() != dns.rcode.NOERROR:
        return []
    return sorted(r.to_text() for rrset in reply.answer for r in rrset)


def etcd_call(ip: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """etcd's v3 JSON gateway (keys and values base64)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(f"http://{ip}:2379/v3/{path}", json.dumps(body).encode())
    with opener.open(request, timeout=5) as response:
        found: dict[str, Any] = json.load(response)
        return found


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()
