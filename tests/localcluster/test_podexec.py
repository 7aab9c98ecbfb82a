"""`kubectl exec` and `kubectl logs` against containers that run for real: a PodRuntime that runs commands
on this host (`env -i PATH=...` as the way in) and serves log files the test writes in the CRI format,
plugged into a real API server; driven by the real kubectl and the official Python client's `stream()`."""

from __future__ import annotations

import fcntl
import os
import pathlib
import select
import struct
import subprocess
import termios
import time
from collections.abc import Iterator

import pytest
import websocket
import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.stream import stream

from tests.localcluster.conftest import LocalApi, serving
from tests.localcluster.test_kubectl import lines_of, wait_line

NO_CONTAINERS = "pods run no containers in petdns local: exec is not available (pod {} is simulated"


class HostRuntime:
    """Containers "run" on the host: every container of a pod in `running` can be entered; log files are
    `<root>/<ns>/<pod>/<container>/<n>.log`."""

    def __init__(self, root: pathlib.Path) -> None:
        self.root = root
        self.running: set[tuple[str, str]] = set()

    def enter_argv(self, namespace: str, pod: str, container: str) -> list[str] | None:
        if (namespace, pod) not in self.running:
            return None
        return ["env", "-i", "PATH=/usr/bin:/bin"]

    def log_files(self, namespace: str, pod: str, container: str) -> list[pathlib.Path]:
        folder = self.root / namespace / pod / container
        return sorted(folder.glob("*.log"), key=lambda p: int(p.stem)) if folder.is_dir() else []

    def log(self, namespace: str, pod: str, container: str, run: int, *lines: str) -> pathlib.Path:
        """Append CRI lines (`<stamp> <stream> <F|P> <text>`) to a run's file."""
        path = self.root / namespace / pod / container / f"{run}.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as handle:
            handle.writelines(line + "\n" for line in lines)
        return path


def pod(name: str) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": name,
                "annotations": {"kubectl.kubernetes.io/default-container": "web"},
            },
            "spec": {"containers": [{"name": "web", "image": "sh"}, {"name": "side", "image": "sh"}]},
        }
    )


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalApi, HostRuntime]]:
    runtime = HostRuntime(tmp_path_factory.mktemp("logs"))
    with serving(tmp_path_factory.mktemp("podexec")) as api:
        api.server.pod_proxy.runtime = runtime
        api.kubectl("apply", "-f", "-", stdin=pod("web-0") + "---\n" + pod("sim-0"))
        runtime.running.add(("default", "web-0"))
        yield api, runtime


@pytest.fixture(scope="module")
def core(env: tuple[LocalApi, HostRuntime]) -> k8s.CoreV1Api:
    api, _ = env
    config = k8s.Configuration()
    k8s_config.load_kube_config(config_file=str(api.kubeconfig), client_configuration=config)
    return k8s.CoreV1Api(k8s.ApiClient(config))


def test_exec_streams_stdout_stderr_and_the_exit_code(env: tuple[LocalApi, HostRuntime]) -> None:
    api, _ = env
    done = api.kubectl("exec", "web-0", "--", "sh", "-c", "echo out; echo err >&2; exit 3", check=False)
    assert (done.stdout, done.returncode) == ("out\n", 3)
    assert "err\n" in done.stderr
    ok = api.kubectl("exec", "web-0", "-c", "side", "--", "sh", "-c", "echo $PATH ${HOME:-unset}")
    assert ok.stdout == "/usr/bin:/bin unset\n"  # env -i: only what the way in sets


def test_exec_pipes_stdin_to_its_end(env: tuple[LocalApi, HostRuntime]) -> None:
    api, _ = env
    big = "".join(f"line {n}\n" for n in range(20000))
    done = api.kubectl(
        "exec", "-i", "web-0", "--", "sh", "-c", "tr a-z A-Z | awk 'END {print NR, $0}'", stdin=big
    )
    assert done.stdout == "20000 LINE 19999\n"


def test_exec_refused_where_no_container_runs(env: tuple[LocalApi, HostRuntime]) -> None:
    api, _ = env
    done = api.kubectl("exec", "sim-0", "--", "true", check=False)
    assert done.returncode == 1 and NO_CONTAINERS.format("sim-0") in done.stderr


def test_official_client_stream(core: k8s.CoreV1Api) -> None:
    resp = stream(
        core.connect_get_namespaced_pod_exec,
        "web-0",
        "default",
        container="web",
        command=["sh", "-c", "read x; echo got $x; echo oops >&2; exit 5"],
        stdin=True,
        stdout=True,
        stderr=True,
        tty=False,
        _preload_content=False,
    )
    resp.write_stdin("hello\n")
    resp.run_forever(timeout=10)
    assert resp.read_stdout() == "got hello\n" and resp.read_stderr() == "oops\n"
    assert resp.returncode == 5
    text = stream(
        core.connect_get_namespaced_pod_exec,
        "web-0",
        "default",
        container="web",
        command=["sh", "-c", "test -t 0 && echo terminal"],
        stdin=False,
        stdout=True,
        stderr=False,
        tty=True,
    )
    assert text.strip() == "terminal"


STAMPS = [f"2026-12-04T16:00:0{n}.12345678{n}Z" for n in range(10)]


def test_logs_from_files(env: tuple[LocalApi, HostRuntime]) -> None:
    api, runtime = env
    runtime.log("default", "web-0", "web", 0, f"{STAMPS[0]} stdout F first run")
    runtime.log(
        "default",
        "web-0",
        "web",
        1,
        f"{STAMPS[1]} stdout F one",
        f"{STAMPS[2]} stderr P tw",
        f"{STAMPS[3]} stderr F o",
        f"{STAMPS[4]} stdout F three",
    )
    runtime.log("default", "web-0", "side", 0, f"{STAMPS[5]} stdout F beside")
    assert api.kubectl("logs", "web-0").stdout == "one\ntwo\nthree\n"
    assert api.kubectl("logs", "web-0", "--tail=2").stdout == "two\nthree\n"
    assert api.kubectl("logs", "web-0", "--limit-bytes=6").stdout == "one\ntw"
    assert api.kubectl("logs", "web-0", "--since-time=2026-12-04T16:00:03Z").stdout == "three\n"
    assert api.kubectl("logs", "web-0", "--previous").stdout == "first run\n"
    assert api.kubectl("logs", "web-0", "-c", "side", "--timestamps").stdout == f"{STAMPS[5]} beside\n"
    stamped = api.kubectl("logs", "web-0", "--timestamps", "--tail=2").stdout
    assert stamped == f"{STAMPS[2]} two\n{STAMPS[4]} three\n"
    missing = api.kubectl("logs", "web-0", "-c", "side", "--previous", check=False)
    assert 'previous terminated container "side" in pod "web-0" not found' in missing.stderr
    simulated = api.kubectl("logs", "sim-0", check=False)  # no files: the simulated lifecycle's answer
    assert "pod sim-0 does not have a host assigned" in simulated.stderr


def test_logs_follow_until_the_container_restarts(env: tuple[LocalApi, HostRuntime]) -> None:
    api, runtime = env
    runtime.log("default", "web-0", "side", 1, f"{STAMPS[6]} stdout F start")
    follow = api.kubectl_background("logs", "-f", "web-0", "-c", "side")
    try:
        lines = lines_of(follow)
        assert wait_line(lines, "start") == "start"
        runtime.log("default", "web-0", "side", 1, f"{STAMPS[7]} stdout F later")
        assert wait_line(lines, "later") == "later"
        time.sleep(0.3)
        assert follow.poll() is None
        runtime.log("default", "web-0", "side", 2, f"{STAMPS[8]} stdout F next run")
        assert follow.wait(timeout=10) == 0
    finally:
        follow.kill()
        follow.wait()


def test_logs_follow_until_the_pod_is_gone(env: tuple[LocalApi, HostRuntime]) -> None:
    api, runtime = env
    api.kubectl("apply", "-f", "-", stdin=pod("brief-0"))
    runtime.log("default", "brief-0", "web", 0, f"{STAMPS[9]} stdout F hello")
    runtime.running.add(("default", "brief-0"))
    follow = api.kubectl_background("logs", "-f", "brief-0")
    try:
        assert wait_line(lines_of(follow), "hello") == "hello"
        api.kubectl("delete", "pod", "brief-0", "--wait=false")
        assert follow.wait(timeout=10) == 0
    finally:
        follow.kill()
        follow.wait()


def test_exec_ends_with_the_client(env: tuple[LocalApi, HostRuntime], tmp_path: pathlib.Path) -> None:
    api, _ = env
    mark = tmp_path / "alive"
    cmd = f"while true; do date > {mark}; sleep 0.1; done"
    running = subprocess.Popen(api.kubectl_args("exec", "web-0", "--", "sh", "-c", cmd))
    deadline = time.monotonic() + 10
    while not mark.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    running.kill()
    running.wait()
    time.sleep(0.5)
    before = mark.stat().st_mtime
    time.sleep(0.5)
    assert mark.stat().st_mtime == before  # the command was killed with the connection


def frames(url: str, protocol: str, *send: bytes) -> list[bytes]:
    """Every data message of one exec over a plain WebSocket client, after sending `send`."""
    ws = websocket.create_connection(url, subprotocols=[protocol], timeout=10)
    try:
        assert ws.getsubprotocol() == protocol
        for data in send:
            ws.send_binary(data)
        got = []
        while True:
            opcode, data = ws.recv_data(control_frame=False)
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                return got
            got.append(bytes(data))
    finally:
        ws.close()


def test_channel_framing_v4_and_resize(env: tuple[LocalApi, HostRuntime]) -> None:
    api, _ = env
    base = api.url.replace("http", "ws", 1) + "/api/v1/namespaces/default/pods/web-0/exec?container=web"
    echo = frames(base + "&command=echo&command=hi&stdout=true&stderr=true", "v4.channel.k8s.io")
    assert echo == [b"\x01", b"\x01hi\n", b'\x03{"metadata":{},"status":"Success"}']
    tty = (
        base
        + "&command=sh&command=-c&command=read+x%3B+stty+size&stdin=true&stdout=true&stderr=false&tty=true"
    )
    got = frames(tty, "v5.channel.k8s.io", b'\x04{"Width":100,"Height":30}', b"\x00go\r")
    out = b"".join(f[1:] for f in got if f[:1] == b"\x01")
    assert out.split() == [b"go", b"30", b"100"] and got[-1][:1] == b"\x03"


def test_kubectl_exec_with_a_terminal(env: tuple[LocalApi, HostRuntime]) -> None:
    api, _ = env
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 120, 0, 0))
    args = api.kubectl_args("exec", "-ti", "web-0", "--", "sh", "-c", "read x; stty size; tty; exit 4")
    kubectl = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave)
    os.close(slave)
    out = b""
    try:
        time.sleep(0.5)
        os.write(master, b"go\r")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if not select.select([master], [], [], 0.1)[0]:
                continue
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: kubectl has exited and closed the terminal
                break
            if not chunk:
                break
            out += chunk
        assert kubectl.wait(timeout=10) == 4
    finally:
        kubectl.kill()
        os.close(master)
    text = out.decode()
    assert "33 120\r\n/dev/pts/" in text and "command terminated with exit code 4" in text
