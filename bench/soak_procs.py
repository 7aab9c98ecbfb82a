"""The soak's processes: `petdns local` on fixed ports with a state directory (killed with SIGKILL and
restarted on the same ports), the separate `petdns serve` watching it through the fault proxy, a second
PetSet controller, and kubectl. Every process is stopped by its PID."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[1]
LOCALHOST = "127.0.0.1"
PYTHON = sys.executable
KUBECTL = str(Path(sys.executable).with_name("kubectl"))


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port free for TCP and UDP on 127.0.0.1 right now."""
    while True:
        with socket.socket(socket.AF_INET, kind) as s:
            s.bind((LOCALHOST, 0))
            port = int(s.getsockname()[1])
        other = socket.SOCK_DGRAM if kind == socket.SOCK_STREAM else socket.SOCK_STREAM
        with socket.socket(socket.AF_INET, other) as s:
            try:
                s.bind((LOCALHOST, port))
            except OSError:
                continue
        return port


def api_answers(port: int) -> bool:
    """GET /api answers (any HTTP status counts as up)."""
    try:
        with urllib.request.urlopen(f"http://{LOCALHOST}:{port}/api", timeout=1):
            return True
    except urllib.error.HTTPError:
        return True
    except (OSError, ValueError):
        return False


class Proc:
    """A child process with its output in a log file; stopped by its PID."""

    def __init__(self, name: str, command: list[str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log: IO[bytes] = self.log_path.open("ab")
        self._log.write(f"\n=== {time.strftime('%H:%M:%S')} {' '.join(command)}\n".encode())
        self._log.flush()
        self.proc = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT, cwd=ROOT)

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL, at once."""
        if self.alive:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self._log.close()

    def stop(self, timeout: float = 15) -> int:
        """SIGTERM, then SIGKILL after `timeout`; the exit code."""
        if self.alive:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(timeout=10)
        self._log.close()
        return code


class LocalCluster:
    """`petdns local --state DIR -f FILE --no-forward` on fixed ports of 127.0.0.1."""

    def __init__(self, work: Path, manifest: Path, *, ready_after: float = 0.5) -> None:
        self.work = work
        self.state = work / "state"
        self.manifest = manifest
        self.api_port = free_port()
        self.dns_port = free_port(socket.SOCK_DGRAM)
        self.kubeconfig = self.state / "kubeconfig"
        self.ready_after = ready_after
        self.proc: Proc | None = None
        self.starts = 0

    def command(self) -> list[str]:
        return [
            *(PYTHON, "-m", "petdns", "local", "--state", str(self.state), "-f", str(self.manifest)),
            *("--api", f"{LOCALHOST}:{self.api_port}", "--dns", f"{LOCALHOST}:{self.dns_port}"),
            *("--no-forward", "--no-metrics", "--log-level", "warning"),
            *("--health-listen", f"{LOCALHOST}:0", "--ready-listen", f"{LOCALHOST}:0"),
            *("--ready-after", str(self.ready_after)),
        ]

    def start(self, timeout: float = 30) -> float:
        """Start it and wait until the API answers; seconds it took."""
        started = time.monotonic()
        self.proc = Proc("petdns-local", self.command(), self.work)
        self.starts += 1
        deadline = started + timeout
        while time.monotonic() < deadline:
            if not self.proc.alive:
                raise RuntimeError(
                    f"petdns local exited {self.proc.proc.returncode}; see {self.proc.log_path}"
                )
            if self.kubeconfig.exists() and api_answers(self.api_port):
                return time.monotonic() - started
            time.sleep(0.05)
        raise RuntimeError(f"petdns local did not answer within {timeout} s; see {self.proc.log_path}")

    def kill9(self) -> None:
        if self.proc is not None:
            self.proc.kill()

    def stop(self) -> None:
        if self.proc is not None and self.proc.alive:
            self.proc.stop()

    def kubectl(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [KUBECTL, f"--kubeconfig={self.kubeconfig}", f"--cache-dir={self.work / 'kubectl-cache'}", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def proxied_kubeconfig(path: Path, proxy_port: int) -> Path:
    """A kubeconfig for the separate DNS server: the API server through the fault proxy."""
    path.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: soak\n"
        f"clusters:\n- name: soak\n  cluster:\n    server: http://{LOCALHOST}:{proxy_port}\n"
        "users:\n- name: soak\n  user: {}\n"
        "contexts:\n- name: soak\n  context:\n    cluster: soak\n    user: soak\n"
    )
    return path


class SeparateServer:
    """`petdns serve --kubeconfig K --no-forward --listen 127.0.0.1:PORT`, its API through the proxy."""

    def __init__(self, work: Path, kubeconfig: Path) -> None:
        self.port = free_port(socket.SOCK_DGRAM)
        self.ready_port = free_port()
        self.proc = Proc(
            "petdns-serve",
            [
                *(PYTHON, "-m", "petdns", "serve", "--kubeconfig", str(kubeconfig), "--no-forward"),
                *("--listen", f"{LOCALHOST}:{self.port}", "--no-metrics", "--lameduck", "0"),
                *("--ready-listen", f"{LOCALHOST}:{self.ready_port}", "--log-level", "warning"),
            ],
            work,
        )

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.proc.alive:
                raise RuntimeError(f"petdns serve exited; see {self.proc.log_path}")
            url = f"http://{LOCALHOST}:{self.ready_port}/ready"
            with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"petdns serve not ready within {timeout} s; see {self.proc.log_path}")


def second_controller(work: Path, kubeconfig: Path, index: int) -> Proc:
    """`python -m petset_controller --kubeconfig K` (no leader election): races the embedded one."""
    return Proc(
        f"controller-{index}",
        [PYTHON, "-m", "petset_controller", "--kubeconfig", str(kubeconfig), "--log-level", "warning"],
        work,
    )
