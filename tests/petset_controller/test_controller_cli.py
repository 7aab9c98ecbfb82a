"""The petset-controller command: exit 2 with one line on bad config; runs, leads, stops on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from localcluster.storage.resources import find
from tests.localcluster.conftest import serving
from tests.petset_controller.harness import petset

COMMAND = [sys.executable, "-m", "petset_controller"]
NO_HTTP = ["--health-probe-bind-address", "0", "--metrics-bind-address", "0"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*COMMAND, *args], capture_output=True, text=True, timeout=30, check=False)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--kubeconfig", "/nonexistent/kubeconfig"], "cannot read kubeconfig"),
        (["--workers", "0", "--kubeconfig", "x"], "--workers must be at least 1"),
        (["--leader-elect", "--lease-duration", "5", "--kubeconfig", "x"], "longer than the renew deadline"),
        (["--retry-period", "-1"], "must be positive"),
        (["--no-such-flag"], "unrecognized arguments"),
        (["--metrics-bind-address", "8080", "--kubeconfig", "x"], "is not HOST:PORT, :PORT or 0"),
    ],
)
def test_bad_configuration_exits_2_with_one_line(args: list[str], says: str) -> None:
    done = run(*args)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("petset-controller: error: ") and says in lines[0]


def test_runs_leads_and_releases_on_sigterm(tmp_path: Path) -> None:
    pods, leases, petsets = (
        find("", "v1", "pods"),
        find("coordination.k8s.io", "v1", "leases"),
        find("petdns.dev", "v1", "petsets"),
    )
    assert pods is not None and leases is not None and petsets is not None
    with serving(tmp_path) as api:
        ns = api.namespace("cli")
        body = petset(replicas=2)
        body["metadata"]["namespace"] = ns
        api.call(lambda: api.store.create(petsets, ns, body))
        args = ["--kubeconfig", str(api.kubeconfig), "--namespace", ns, "--leader-elect", *NO_HTTP]
        proc = subprocess.Popen(
            [*COMMAND, *args, "--identity", "cli-test"], stderr=subprocess.PIPE, text=True
        )
        try:
            deadline = time.monotonic() + 20
            while not api.call(
                lambda: [p for p in api.store.list(pods, ns).items if p["metadata"]["name"] == "web-0"]
            ):
                assert proc.poll() is None and time.monotonic() < deadline, "web-0 was not created"
                time.sleep(0.05)
            lease = api.call(lambda: api.store.get(leases, "kube-system", "petset-controller"))
            assert lease["spec"]["holderIdentity"] == "cli-test"
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(15) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)
        lease = api.call(lambda: api.store.get(leases, "kube-system", "petset-controller"))
        assert lease["spec"]["holderIdentity"] == ""  # released on the way out
        names = [p["metadata"]["name"] for p in api.call(lambda: api.store.list(pods, ns).items)]
        assert names == ["web-0"]  # OrderedReady: web-1 waits for web-0, which no kubelet runs
