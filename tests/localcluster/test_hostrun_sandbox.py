"""A pod's sandbox and supervision with real processes: identity inside (hostname, FQDN, resolv.conf) with
the host's files untouched, CRI log files, restarts, preStop and stop, nothing left running."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from localcluster.kubelet.hostrun import sandbox
from localcluster.kubelet.hostrun.plan import ANNOTATION, Host, PodContext, PodPlan, plan
from localcluster.kubelet.hostrun.runtime import HostRuntime, available

pytestmark = pytest.mark.skipif(
    available() is not None or os.geteuid() != 0, reason="needs root, unshare and nsenter"
)
HOST = Host(
    environ={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
    uid=0,
    gid=0,
    which=lambda cmd, path: shutil.which(cmd, path=path),
    isdir=os.path.isdir,
)
CTX = PodContext(zone="cluster.local", nameserver="127.244.0.10", pod_ips=("127.244.0.11",))


@pytest.fixture(autouse=True)
async def _runtimes_shut_down(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Every runtime a test made ends its pods, also when the test fails (no sandbox outlives it)."""
    made: list[HostRuntime] = []
    make = HostRuntime

    def tracked(*args: Any, **kwargs: Any) -> HostRuntime:
        runtime = make(*args, **kwargs)
        made.append(runtime)
        return runtime

    monkeypatch.setitem(globals(), "HostRuntime", tracked)
    yield
    for runtime in made:
        await runtime.shutdown()


def pod(script: str, **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "web-0",
            "namespace": "default",
            "uid": "uid-1",
            "annotations": {ANNOTATION: "host"},
        },
        "spec": {
            "hostname": "web-0",
            "subdomain": "nginx",
            "containers": [{"name": "main", "command": ["sh", "-c", script]}],
            **spec,
        },
    }


async def until(check: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


def lines(path: Path) -> list[str]:
    return [line.split(" ", 3)[3] for line in path.read_text().splitlines()] if path.exists() else []


async def test_identity_logs_and_stop(tmp_path: Path) -> None:
    before = Path("/etc/resolv.conf").read_bytes(), Path("/etc/hosts").read_bytes()
    script = "hostname; hostname -f; cat /etc/resolv.conf; echo oops >&2; id -u; sleep 1000"
    raw = pod(script)
    made = plan(raw, CTX, HOST)
    assert isinstance(made, PodPlan)
    runtime = HostRuntime(str(tmp_path), notify=lambda key: None)
    events: list[tuple[str, str, str]] = []
    run = runtime.start(
        ("default", "web-0"), raw, made, pod_ip="127.244.0.11", event=lambda *e: events.append(e)
    )
    log = tmp_path / "default_web-0_uid-1" / "main" / "0.log"
    await until(lambda: "sleep" not in lines(log) and len(lines(log)) >= 7)
    text = lines(log)
    assert text[:2] == ["web-0", "web-0.nginx.default.svc.cluster.local"]
    assert "search default.svc.cluster.local svc.cluster.local cluster.local" in text
    assert "nameserver 127.244.0.10" in text and "oops" in text and "65534" in text
    assert " stderr F oops" in log.read_text()
    assert runtime.log_files("default", "web-0", "main") == [log]
    argv = runtime.enter_argv("default", "web-0", "main")
    assert argv is not None
    done = await asyncio.create_subprocess_exec(*argv, "hostname", stdout=asyncio.subprocess.PIPE)
    assert (await done.communicate())[0] == b"web-0\n"
    assert (Path("/etc/resolv.conf").read_bytes(), Path("/etc/hosts").read_bytes()) == before
    assert run.sandbox is not None
    holder = run.sandbox.pid
    run.stop(5.0)
    await asyncio.wait_for(run.stopped.wait(), 10)
    assert not sandbox.alive(holder)
    assert run.view().containers["main"]["state"]["terminated"]["exitCode"] == 143
    assert ("Started", "Started container main", "Normal") in events
    await runtime.shutdown()


async def test_restarts_and_completion(tmp_path: Path) -> None:
    raw = pod("echo run; exit 3", restartPolicy="OnFailure")
    raw["spec"]["initContainers"] = [{"name": "init", "command": ["sh", "-c", "echo init"]}]
    made = plan(raw, CTX, HOST)
    assert isinstance(made, PodPlan)
    runtime = HostRuntime(str(tmp_path), notify=lambda key: None)
    run = runtime.start(("default", "web-0"), raw, made, pod_ip="127.244.0.11", event=lambda *e: None)
    main = run.containers[0]
    await until(lambda: main.restarts >= 1 and "waiting" in main.state)
    view = run.view()
    assert view.initialized and view.init["init"]["state"]["terminated"]["reason"] == "Completed"
    assert view.containers["main"]["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert view.containers["main"]["lastState"]["terminated"]["exitCode"] == 3
    assert len(runtime.log_files("default", "web-0", "main")) == 2
    await runtime.shutdown()
    assert run.stopped.is_set()


async def test_probes_drive_readiness_and_liveness(tmp_path: Path) -> None:
    flag = tmp_path / "ready-flag"
    raw = pod("sleep 1000", terminationGracePeriodSeconds=1, securityContext={"runAsUser": 0})
    main = raw["spec"]["containers"][0]
    main["readinessProbe"] = {"exec": {"command": ["test", "-e", str(flag)]}, "periodSeconds": 1}
    made = plan(raw, CTX, HOST)
    assert isinstance(made, PodPlan)
    runtime = HostRuntime(str(tmp_path / "pods"), notify=lambda key: None)
    events: list[tuple[str, str, str]] = []
    run = runtime.start(
        ("default", "web-0"), raw, made, pod_ip="127.244.0.11", event=lambda *e: events.append(e)
    )
    await until(lambda: any(e[0] == "Unhealthy" for e in events))
    assert not run.containers[0].ready and "running" in run.containers[0].state
    flag.touch()
    await until(lambda: run.containers[0].ready)
    await runtime.shutdown()

    events.clear()
    main["livenessProbe"] = {"exec": {"command": ["false"]}, "periodSeconds": 1, "failureThreshold": 1}
    del main["readinessProbe"]
    made = plan(raw, CTX, HOST)
    assert isinstance(made, PodPlan)
    run = runtime.start(
        ("default", "web-0"), raw, made, pod_ip="127.244.0.11", event=lambda *e: events.append(e)
    )
    await until(lambda: run.containers[0].restarts >= 1)
    reasons = [e[0] for e in events]
    assert reasons.index("Unhealthy") < reasons.index("Killing")
    assert ("Unhealthy", "Liveness probe failed: ", "Warning") in events
    assert "Container main failed liveness probe, will be restarted" in [e[1] for e in events]
    assert run.containers[0].last_state["terminated"]["exitCode"] == 143
    await runtime.shutdown()


async def test_pre_stop_runs_before_sigterm(tmp_path: Path) -> None:
    flag = tmp_path / "flag"
    script = f'trap "cat {flag}; exit 0" TERM; echo up; while true; do sleep 0.1; done'
    raw = pod(script, securityContext={"runAsUser": 0})
    main = raw["spec"]["containers"][0]
    main["lifecycle"] = {"preStop": {"exec": {"command": ["sh", "-c", f"echo pre-stop > {flag}"]}}}
    made = plan(raw, CTX, HOST)
    assert isinstance(made, PodPlan)
    runtime = HostRuntime(str(tmp_path / "pods"), notify=lambda key: None)
    run = runtime.start(("default", "web-0"), raw, made, pod_ip="127.244.0.11", event=lambda *e: None)
    log = tmp_path / "pods" / "default_web-0_uid-1" / "main" / "0.log"
    await until(lambda: lines(log) == ["up"])
    run.stop(5.0)
    await asyncio.wait_for(run.stopped.wait(), 10)
    assert lines(log) == ["up", "pre-stop"]
    assert run.view().containers["main"]["state"]["terminated"]["reason"] == "Completed"
    await runtime.shutdown()


async def test_working_directory_under_a_private_directory_is_known_to_a_non_root_user(
    tmp_path: Path,
) -> None:
    private = tmp_path / "private"
    work = private / "claim"
    work.mkdir(parents=True)
    private.chmod(0o700)
    os.chown(work, 65534, 65534)
    raw = pod("pwd; echo made > file; cat file; id -u")
    raw["spec"]["containers"][0]["workingDir"] = str(work)
    made = plan(raw, CTX, HOST)
    assert isinstance(made, PodPlan)
    runtime = HostRuntime(str(tmp_path / "pods"), notify=lambda key: None)
    run = runtime.start(("default", "web-0"), raw, made, pod_ip="127.244.0.11", event=lambda *e: None)
    log = tmp_path / "pods" / "default_web-0_uid-1" / "main" / "0.log"
    await until(lambda: len(lines(log)) >= 3)
    assert lines(log)[:3] == [str(work), "made", "65534"]
    assert (work / "file").read_text() == "made\n"
    run.stop(1.0)
    await asyncio.wait_for(run.stopped.wait(), 10)
    await runtime.shutdown()


LISTEN_EVERYWHERE = (
    "import socket, time\n"
    "s = socket.socket()\n"
    "s.bind(('0.0.0.0', 0))\n"
    "s.listen()\n"
    "print(s.getsockname()[1], flush=True)\n"
    "time.sleep(100)\n"
)


async def test_a_bind_to_every_address_is_told_in_an_event(tmp_path: Path) -> None:
    raw = pod('exec /usr/bin/python3 -c "$CODE"')
    raw["spec"]["containers"][0]["env"] = [{"name": "CODE", "value": LISTEN_EVERYWHERE}]
    made = plan(raw, CTX, HOST)
    assert isinstance(made, PodPlan)
    runtime = HostRuntime(str(tmp_path), notify=lambda key: None)
    events: list[tuple[str, str, str]] = []
    runtime.start(("default", "web-0"), raw, made, pod_ip="127.244.0.11", event=lambda *e: events.append(e))
    log = tmp_path / "default_web-0_uid-1" / "main" / "0.log"
    await until(lambda: len(lines(log)) >= 1)
    port = int(lines(log)[0])
    await until(lambda: any(e[0] == "WildcardBind" for e in events))
    _, text, kind = next(e for e in events if e[0] == "WildcardBind")
    assert kind == "Warning" and f"0.0.0.0:{port}/tcp" in text and "bind $(POD_IP) (127.244.0.11)" in text
