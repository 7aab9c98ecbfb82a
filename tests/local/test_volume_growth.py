"""Growing pets' volumes on `petdns local`, driven by kubectl: a PetSet's claim template patched from 1Gi to
2Gi grows every pet's claim (through FileSystemResizePending while the pet runs) and the PetSet says so; a
class that does not allow expansion gives the refusal condition and one Warning event, until it does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.support.process import LocalProcess, wait_for

SIZE = "/spec/volumeClaimTemplates/0/spec/resources/requests/storage"
MANIFEST = """
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: fixed}
provisioner: localcluster.petdns.dev/hostpath
volumeBindingMode: Immediate
---
apiVersion: v1
kind: Service
metadata: {name: db}
spec:
  clusterIP: None
  selector: {app: db}
  ports: [{port: 5432, name: pg}]
---
apiVersion: petdns.dev/v1
kind: PetSet
metadata: {name: db}
spec:
  serviceName: db
  replicas: 3
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      terminationGracePeriodSeconds: 0
      containers: [{name: pg, image: "postgres:16"}]
  volumeClaimTemplates:
    - metadata: {name: data}
      spec:
        accessModes: [ReadWriteOnce]
        resources: {requests: {storage: 1Gi}}
---
apiVersion: petdns.dev/v1
kind: PetSet
metadata: {name: cache}
spec:
  serviceName: db
  replicas: 1
  selector: {matchLabels: {app: cache}}
  template:
    metadata: {labels: {app: cache}}
    spec:
      terminationGracePeriodSeconds: 0
      containers: [{name: redis, image: "redis:7"}]
  volumeClaimTemplates:
    - metadata: {name: data}
      spec:
        accessModes: [ReadWriteOnce]
        storageClassName: fixed
        resources: {requests: {storage: 1Gi}}
"""


def _grow(local: LocalProcess, name: str, size: str) -> None:
    patch = json.dumps([{"op": "replace", "path": SIZE, "value": size}])
    local.kubectl("patch", "petsets.petdns.dev", name, "--type", "json", "-p", patch)


def _claims(local: LocalProcess) -> dict[str, tuple[str, str]]:
    """Claim name -> (phase, capacity)."""
    items = json.loads(local.kubectl("get", "pvc", "-o", "json"))["items"]
    return {
        c["metadata"]["name"]: (
            (c.get("status") or {}).get("phase", ""),
            ((c.get("status") or {}).get("capacity") or {}).get("storage", ""),
        )
        for c in items
    }


def _condition(local: LocalProcess, name: str, kind: str) -> dict[str, Any]:
    status = json.loads(local.kubectl("get", "petsets.petdns.dev", name, "-o", "json")).get("status") or {}
    return next((c for c in status.get("conditions") or () if c["type"] == kind), {})


def _ready(local: LocalProcess, name: str, replicas: int) -> bool:
    status = json.loads(local.kubectl("get", "petsets.petdns.dev", name, "-o", "json")).get("status") or {}
    return bool(status.get("readyReplicas") == replicas)


def test_a_grown_template_grows_every_pets_claim(tmp_path: Path) -> None:
    local = LocalProcess(tmp_path, "--ready-after", "0.1")
    try:
        local.kubectl("apply", "-f", "-", stdin=MANIFEST)
        wait_for(lambda: _ready(local, "db", 3) and _ready(local, "cache", 1), what="ready pets", timeout=30)
        assert {v for k, v in _claims(local).items()} == {("Bound", "1Gi")}
        _grow(local, "db", "2Gi")
        _grow(local, "cache", "2Gi")
        resized = wait_for(
            lambda: (
                _condition(local, "db", "VolumesResized").get("status") == "True"
                and _condition(local, "db", "VolumesResized")
            ),
            what="db's claims at 2Gi",
            timeout=30,
        )
        assert resized["message"] == "3 of 3 claims of template data at 2Gi"
        claims = _claims(local)
        assert {claims[f"data-db-{i}"] for i in range(3)} == {("Bound", "2Gi")}
        rows = [r.split() for r in local.kubectl("get", "pvc", "--no-headers").splitlines()]
        assert sorted(r[0] for r in rows if r[3] == "2Gi") == ["data-db-0", "data-db-1", "data-db-2"]
        refused = wait_for(
            lambda: _condition(local, "cache", "VolumeResizeRefused"), what="the refusal", timeout=30
        )
        assert (refused["status"], refused["reason"]) == ("True", "ExpansionNotAllowed")
        assert refused["message"] == (
            "claim data-cache-0 cannot grow to 2Gi: its StorageClass fixed does not allow volume expansion"
        )
        assert _claims(local)["data-cache-0"] == ("Bound", "1Gi")
        assert (
            _condition(local, "cache", "VolumesResized")["message"] == "0 of 1 claims of template data at 2Gi"
        )
        events = local.kubectl("get", "events", "--field-selector", "reason=VolumeResizeRefused").splitlines()
        assert (
            len(events) == 2
            and "Warning   VolumeResizeRefused   petset/cache   claim data-cache-0" in events[1]
        )
        # the class allows it now: the claim grows and the refusal goes
        local.kubectl(
            "patch", "storageclass", "fixed", "--type", "merge", "-p", '{"allowVolumeExpansion": true}'
        )
        wait_for(
            lambda: _condition(local, "cache", "VolumesResized").get("status") == "True",
            what="cache's claim at 2Gi",
            timeout=30,
        )
        assert _condition(local, "cache", "VolumeResizeRefused") == {}
        assert _claims(local)["data-cache-0"] == ("Bound", "2Gi")
        expanding = local.kubectl("get", "events", "--field-selector", "reason=ExpandingClaim", "-o", "json")
        messages = sorted(e["message"] for e in json.loads(expanding)["items"])
        assert messages == [
            f"expanding claim data-{n} from 1Gi to 2Gi" for n in ("cache-0", "db-0", "db-1", "db-2")
        ]
    finally:
        assert local.stop() == 0
