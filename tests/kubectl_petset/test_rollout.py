"""`kubectl petset rollout ...` against `petdns local` running the example PetSet: status waits, history
lists, undo returns, restart rolls.

One cluster, the steps in order as a user would take them. The main verbs go through the real kubectl
(which finds the plugin on its PATH); the rest call the plugin's `main` in this process (the same code,
without a second of interpreter start each). Pets of a changed template take a second to be Ready (the
local kubelet's `ready-after` annotation), so that `status` has a rollout to wait for.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from kubectl_petset.cli import main
from tests.support.process import KUBECTL, ROOT, LocalProcess

BIN = str(Path(sys.executable).parent)
EXAMPLE = str(ROOT / "config" / "examples" / "petset.yaml")
OLD_IMAGE = "gcr.io/google_containers/nginx-slim:0.8"
COMPLETE = re.compile(r"^petset rolling update complete 2 pods at revision (web-\w+)\.\.\.$")


class Cluster:
    def __init__(self, local: LocalProcess) -> None:
        self.local = local
        self.env = {
            **os.environ,
            "KUBECONFIG": local.kubeconfig,
            "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        }

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        """kubectl ARGS; kubectl's own commands also get a cache directory of the test's own."""
        cache = [] if args[0] == "petset" else [f"--cache-dir={self.local.directory / 'cache'}"]
        return subprocess.run(
            [KUBECTL, *args, *cache], capture_output=True, text=True, timeout=90, env=self.env, check=False
        )

    def plugin(self, *args: str) -> tuple[int, str, str]:
        """`kubectl petset ARGS` as the plugin's main runs it here: exit code, stdout, stderr."""
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main([*args, "--kubeconfig", self.local.kubeconfig])
        return code, out.getvalue(), err.getvalue()

    def ok(self, *args: str) -> str:
        done = self.run(*args)
        assert done.returncode == 0, (
            f"kubectl {' '.join(args)}: {done.returncode}\n{done.stdout}{done.stderr}"
        )
        return done.stdout

    def completed(self, *, kubectl: bool = False) -> tuple[list[str], str]:
        """`rollout status` until complete: the lines it printed and the revision it completed at."""
        args = ("rollout", "status", "petset/web", "--timeout=60s")
        if kubectl:
            text = self.ok("petset", *args)
        else:
            code, text, err = self.plugin(*args)
            assert code == 0, text + err
        lines = text.splitlines()
        match = COMPLETE.match(lines[-1])
        assert match, lines
        return lines, match.group(1)

    def patch_template(self, image: str, cause: str) -> None:
        """One change of the template (a new image, pets a second slow to be Ready) with its change-cause."""
        containers = json.loads(self.ok("get", "petset", "web", "-o", "json"))["spec"]["template"]["spec"][
            "containers"
        ]
        containers[0]["image"] = image
        patch = {
            "metadata": {"annotations": {"kubernetes.io/change-cause": cause}},
            "spec": {
                "template": {
                    "metadata": {"annotations": {"localcluster.petdns.dev/ready-after": "1"}},
                    "spec": {"containers": containers},
                }
            },
        }
        self.ok("patch", "petset", "web", "--type", "merge", "-p", json.dumps(patch))

    def images(self) -> list[str]:
        items = json.loads(self.ok("get", "pods", "-l", "app=nginx", "-o", "json"))["items"]
        return [
            pod["spec"]["containers"][0]["image"]
            for pod in sorted(items, key=lambda p: p["metadata"]["name"])
        ]


def test_rollout_verbs_on_the_example_petset(tmp_path: Path) -> None:
    # the example as the custom resource: an apps/v1alpha1 PetSet (v1.4) has no rolling updates
    example = tmp_path / "petset.yaml"
    example.write_text(
        Path(EXAMPLE).read_text().replace("apiVersion: apps/v1alpha1", "apiVersion: petdns.dev/v1")
    )
    local = LocalProcess(tmp_path, "-f", str(example), "--no-forward", "--no-metrics", "--ready-after", "0.3")
    try:
        _walk(Cluster(local))
    finally:
        assert local.stop() == 0


def _walk(kube: Cluster) -> None:
    # status waits for the example's pets, then names the revision they run
    _, first = kube.completed()

    # a template change: status waits through the rollout; history lists both revisions
    kube.patch_template("nginx-slim:0.9", "image 0.9")
    lines, second = kube.completed()
    assert second != first
    assert any(line.lower().startswith("waiting for") for line in lines[:-1]), lines
    assert kube.images() == ["nginx-slim:0.9", "nginx-slim:0.9"]
    assert kube.ok("petset", "rollout", "history", "petsets/web") == (
        "petset.petdns.dev/web \nREVISION  CHANGE-CAUSE\n1         <none>\n2         image 0.9\n\n"
    )
    one = kube.ok("petset", "rollout", "history", "web", "--revision=1")
    assert one.startswith("petset.petdns.dev/web with revision #1\nPod Template:\n  Labels:\tapp=nginx\n")
    assert f"    Image:\t{OLD_IMAGE}\n" in one and "    Port:\t80/TCP (web)\n" in one
    assert kube.plugin("rollout", "history", "web", "--revision=7") == (
        1,
        "",
        "error: unable to find the specified revision\n",
    )

    # undo: a dry run changes nothing; then the template returns and the pets follow
    code, dry, _ = kube.plugin("rollout", "undo", "web", "--dry-run=client")
    assert code == 0 and dry.startswith("petset.petdns.dev/web will roll back to Pod Template:\n")
    assert dry.endswith(" (dry run)\n")
    assert kube.ok("petset", "rollout", "undo", "web") == "petset.petdns.dev/web rolled back\n"
    _, back = kube.completed()
    assert back == first
    assert kube.images() == [OLD_IMAGE, OLD_IMAGE]
    assert kube.plugin("rollout", "history", "web") == (
        0,
        "petset.petdns.dev/web \nREVISION  CHANGE-CAUSE\n2         image 0.9\n3         <none>\n\n",
        "",
    )
    skipped = "petset.petdns.dev/web skipped rollback (current template already matches revision 3)\n"
    assert kube.plugin("rollout", "undo", "web", "--to-revision=3") == (0, skipped, "")

    # restart: the template is stamped, every pet is replaced with the stamp
    assert kube.ok("petset", "rollout", "restart", "web") == "petset.petdns.dev/web restarted\n"
    _, restarted = kube.completed(kubectl=True)
    assert restarted != first
    pods = json.loads(kube.ok("get", "pods", "-l", "app=nginx", "-o", "json"))["items"]
    stamps = {pod["metadata"]["annotations"].get("kubectl.kubernetes.io/restartedAt") for pod in pods}
    assert len(pods) == 2 and len(stamps) == 1
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", str(stamps.pop()))

    # a rollout that cannot finish: --watch=false prints once, --timeout gives up
    stuck = {
        "spec": {"template": {"metadata": {"annotations": {"localcluster.petdns.dev/ready-after": "never"}}}}
    }
    kube.ok("patch", "petset", "web", "--type", "merge", "-p", json.dumps(stuck))
    code, once, _ = kube.plugin("rollout", "status", "web", "--watch=false")
    assert code == 0 and len(once.splitlines()) == 1, once
    code, waited, err = kube.plugin("rollout", "status", "web", "--timeout=700ms")
    assert (code, err) == (1, "error: timed out waiting for the condition\n")
    done = ("petset rolling update complete", "partitioned roll out complete")
    assert waited and not any(line.startswith(done) for line in waited.splitlines()), waited

    # what kubectl refuses for a StatefulSet, and what is not there
    for verb in ("pause", "resume"):
        refused = f'error: petsets.petdns.dev "web" {verb[:-1]}ing is not supported\n'
        assert kube.plugin("rollout", verb, "web") == (1, "", refused)
    absent = 'Error from server (NotFound): petsets.petdns.dev "db" not found\n'
    assert kube.plugin("rollout", "status", "db") == (1, "", absent)
