"""The controller's /healthz, /readyz and /metrics, as a Deployment's probes and Prometheus read them."""

from __future__ import annotations

import re
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from aiohttp.test_utils import make_mocked_request
from prometheus_client.parser import text_string_to_metric_families

from kubeapi.auth import Connection
from kubeapi.client import Client
from localcluster.storage.resources import find
from petset_controller.runtime import probes
from petset_controller.runtime.controller import Controller
from tests.localcluster.conftest import serving
from tests.petset_controller.harness import petset
from tests.petset_controller.test_controller_cli import COMMAND


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_readyz_waits_for_the_informers() -> None:
    async with Client(Connection(server="http://127.0.0.1:9")) as client:
        controller = Controller(client)
        handlers = probes.routes(controller, health_paths=True, metrics_path=True)
        request = make_mocked_request("GET", "/readyz")
        assert (await handlers["/readyz"](request)).status == 503
        assert (await handlers["/healthz"](request)).status == 200
        for reflector in controller.reflectors:
            reflector.synced.set()
        assert (await handlers["/readyz"](request)).status == 200


def test_probes_and_metrics_of_a_running_controller(tmp_path: Path) -> None:
    petsets = find("petdns.dev", "v1", "petsets")
    assert petsets is not None
    with serving(tmp_path) as api:
        ns = api.namespace("http")
        body = petset(replicas=2)
        body["metadata"]["namespace"] = ns
        api.call(lambda: api.store.create(petsets, ns, body))
        args = ["--kubeconfig", str(api.kubeconfig), "--namespace", ns, "--leader-elect"]
        args += ["--health-probe-bind-address", "127.0.0.1:0", "--metrics-bind-address", "127.0.0.1:0"]
        proc = subprocess.Popen(
            [*COMMAND, *args, "--identity", "http-test"], stderr=subprocess.PIPE, text=True
        )
        killer = threading.Timer(60, proc.kill)  # a hang fails the test instead of blocking the run
        killer.start()
        try:
            assert proc.stderr is not None
            ports = []
            while len(ports) < 2:
                line = proc.stderr.readline()
                assert line, "exited before serving HTTP"
                found = re.search(r"serving HTTP on 127\.0\.0\.1:(\d+)", line)
                if found:
                    ports.append(int(found.group(1)))
            health, metrics = (f"http://127.0.0.1:{port}" for port in ports)
            assert _get(f"{health}/healthz") == (200, "OK")
            deadline = time.monotonic() + 20
            while _get(f"{health}/readyz")[0] != 200:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            assert _get(f"{metrics}/healthz")[0] == 404  # each listener serves what it was given
            while True:
                status, text = _get(f"{metrics}/metrics")
                samples = _samples(text)
                created = samples.get(("petset_status_replicas", (("namespace", ns), ("petset", "web")))) or 0
                if status == 200 and created >= 1:
                    break
                assert time.monotonic() < deadline, text
                time.sleep(0.1)
            queue = (("name", "petset"),)
            assert samples[("petset_replicas", (("namespace", ns), ("petset", "web")))] == 2
            assert samples[("leader_election_master_status", (("name", "petset-controller"),))] == 1
            assert samples[("workqueue_adds_total", queue)] >= 1
            assert samples[("workqueue_work_duration_seconds_count", queue)] >= 1
            assert samples[("workqueue_queue_duration_seconds_count", queue)] >= 1
            assert (
                samples[
                    ("controller_runtime_reconcile_total", (("controller", "petset"), ("result", "success")))
                ]
                >= 1
            )
            stopped = (("controller", "petset"), ("result", "requeue"))  # early stops: the cache behind
            assert samples[("controller_runtime_reconcile_total", stopped)] >= 0
            assert ("workqueue_depth", queue) in samples and ("process_cpu_seconds_total", ()) in samples
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(15) == 0
        finally:
            killer.cancel()
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)
