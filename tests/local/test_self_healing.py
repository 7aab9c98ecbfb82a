"""replaceUnhealthy on `petdns local`, driven by kubectl: a rollout stuck on a bad template converges once the
template is fixed, with no pod deleted by hand (the classic StatefulSet trap)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.process import LocalProcess, wait_for

NEVER_READY = "localcluster.petdns.dev/ready-after"
MANIFEST = """
apiVersion: v1
kind: Service
metadata: {name: heal, labels: {app: heal}}
spec:
  clusterIP: None
  selector: {app: heal}
  ports: [{port: 80, name: web}]
---
apiVersion: petdns.dev/v1
kind: PetSet
metadata: {name: heal}
spec:
  serviceName: heal
  replicas: 3
  selector: {matchLabels: {app: heal}}
  updateStrategy:
    type: RollingUpdate
    rollingUpdate: {replaceUnhealthy: true, unhealthyAfterSeconds: 1}
  template:
    metadata: {labels: {app: heal}}
    spec:
      terminationGracePeriodSeconds: 0
      containers: [{name: web, image: "web:1"}]
"""


def _status(local: LocalProcess) -> dict[str, object]:
    found: dict[str, object] = json.loads(local.kubectl("get", "petset", "heal", "-o", "json"))["status"]
    return found


def _converged(local: LocalProcess, image: str) -> bool:
    status = _status(local)
    pods = json.loads(local.kubectl("get", "pods", "-l", "app=heal", "-o", "json"))["items"]
    images = {p["spec"]["containers"][0]["image"] for p in pods if "deletionTimestamp" not in p["metadata"]}
    return (
        status.get("readyReplicas") == 3
        and status.get("updatedReplicas") == 3
        and status.get("currentRevision") == status.get("updateRevision")
        and images == {image}
    )


def _template_patch(image: str, annotations: dict[str, str] | None) -> str:
    template = {
        "metadata": {"annotations": annotations},
        "spec": {"containers": [{"name": "web", "image": image}]},
    }
    return json.dumps({"spec": {"template": template}})


def test_a_rollout_stuck_on_a_bad_template_heals_once_it_is_fixed(tmp_path: Path) -> None:
    local = LocalProcess(tmp_path, "--ready-after", "0.1")
    try:
        local.kubectl("apply", "-f", "-", stdin=MANIFEST)
        wait_for(lambda: _converged(local, "web:1"), what="three Ready pets", timeout=30)
        # a bad template: the replaced pet never turns Ready, and the ordered rollout stops there
        local.kubectl(
            "patch",
            "petset",
            "heal",
            "--type",
            "merge",
            "-p",
            _template_patch("web:2", {NEVER_READY: "never"}),
        )
        wait_for(
            lambda: "heal-2" in str(_status(local).get("conditions")) and "not Ready" in str(_status(local)),
            what="the rollout stuck on heal-2",
            timeout=30,
        )
        assert _status(local).get("updatedReplicas") == 1
        # the fix: a new template; heal-2 runs the bad, now outdated revision and is never Ready
        local.kubectl(
            "patch", "petset", "heal", "--type", "merge", "-p", _template_patch("web:3", {NEVER_READY: "0.1"})
        )
        wait_for(lambda: _converged(local, "web:3"), what="the rollout to heal by itself", timeout=60)
        # kubectl prints the replacement as upstream prints Events
        table = local.kubectl(
            "get", "events", "--field-selector", "reason=ReplacingUnhealthyPet"
        ).splitlines()
        assert table[0].split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
        assert "ReplacingUnhealthyPet   petset/heal   pet heal-2 runs outdated revision" in table[1], table
    finally:
        assert local.stop() == 0
