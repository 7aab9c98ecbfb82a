"""`kubectl petset why POD` through the real kubectl, which finds the plugin on its PATH."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.localcluster.conftest import KUBECTL, serving

BIN = str(Path(sys.executable).parent)
MANIFESTS = """
apiVersion: v1
kind: Service
metadata: {name: nginx, namespace: shop}
spec: {clusterIP: None, selector: {app: nginx}, ports: [{port: 80, name: web}]}
---
apiVersion: petdns.dev/v1
kind: PetSet
metadata: {name: web, namespace: shop}
spec:
  serviceName: nginx
  replicas: 1
  selector: {matchLabels: {app: nginx}}
  template:
    metadata: {labels: {app: nginx}}
    spec: {containers: [{name: nginx, image: nginx}]}
---
apiVersion: v1
kind: Pod
metadata: {name: web-0, namespace: shop, labels: {app: nginx}}
spec: {hostname: web-0, subdomain: ngnix, containers: [{name: nginx, image: nginx}]}
"""


def _kubectl(kubeconfig: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(
        [KUBECTL, *args], input=stdin, capture_output=True, text=True, timeout=60, env=env, check=False
    )


def test_why_names_the_misspelt_subdomain_of_a_pet(tmp_path: Path) -> None:
    with serving(tmp_path) as api:
        assert _kubectl(api.kubeconfig, "create", "namespace", "shop").returncode == 0
        applied = _kubectl(api.kubeconfig, "apply", "-f", "-", stdin=MANIFESTS)
        assert applied.returncode == 0, applied.stderr
        plugins = _kubectl(api.kubeconfig, "plugin", "list")
        assert "kubectl-petset" in plugins.stdout, plugins.stdout + plugins.stderr
        done = _kubectl(api.kubeconfig, "petset", "why", "web-0", "-n", "shop")
        assert done.returncode == 1, done.stdout + done.stderr
        assert "web-0.nginx.shop.svc.cluster.local" in done.stdout
        assert (
            "pod web-0 has subdomain 'ngnix'; the headless service is 'nginx': set spec.subdomain: nginx"
            in (done.stdout)
        )
        as_json = _kubectl(api.kubeconfig, "petset", "why", "web-0", "-n", "shop", "-o", "json")
        assert as_json.returncode == 1 and json.loads(as_json.stdout)["resolves"] is False
        missing = _kubectl(api.kubeconfig, "petset", "-n", "shop", "why", "web-9")
        assert missing.returncode == 2
        assert missing.stderr.strip() == 'kubectl petset: error: pods "web-9" not found in namespace shop'
