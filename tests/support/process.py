"""`petdns local` as a process of its own, and the real kubectl and dig that drive it."""

from __future__ import annotations

import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).parents[2]
KUBECTL = str(Path(sys.executable).with_name("kubectl"))
T = TypeVar("T")


def wait_for(check: Callable[[], T | None], *, timeout: float = 20, every: float = 0.05, what: str = "") -> T:
    """Poll check until it returns something truthy; AssertionError naming `what` after timeout."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what or check}: last {last!r}")


class LocalProcess:
    """`python -m petdns local` on free ports with a state directory; reads the lines it prints."""

    def __init__(self, directory: Path, *args: str, timeout: float = 30) -> None:
        self.directory = directory
        command = [sys.executable, "-m", "petdns", "local", "--api", "127.0.0.1:0", "--dns", "127.0.0.1:0"]
        command += ["--state", str(directory / "state"), "--log-level", "warning", *args]
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1, cwd=ROOT
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.printed: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        self.kubeconfig, self.dns_host, self.dns_port = self._banner(timeout)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def _banner(self, timeout: float) -> tuple[str, str, int]:
        kubeconfig = ""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            self.printed.append(line)
            if match := re.search(r"export KUBECONFIG=(\S+)", line):
                kubeconfig = match.group(1)
            if match := re.search(r"dig @(\S+) -p (\d+) ", line):
                return kubeconfig, match.group(1), int(match.group(2))
        self.kill()
        err = self.proc.stderr.read() if self.proc.stderr else ""
        raise AssertionError(f"petdns local printed no dig line: {self.printed}\n{err}")

    def kubectl(self, *args: str, check: bool = True, stdin: str | None = None) -> str:
        """kubectl against this cluster; raises with its output when check and it fails."""
        done = subprocess.run(
            [KUBECTL, f"--kubeconfig={self.kubeconfig}", f"--cache-dir={self.directory / 'cache'}", *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)}: {done.returncode}\n{done.stdout}{done.stderr}")
        return done.stdout

    def kubectl_watch(self, *args: str) -> subprocess.Popen[str]:
        """A long-running kubectl (get -w); the caller stops it."""
        return subprocess.Popen(
            [KUBECTL, f"--kubeconfig={self.kubeconfig}", f"--cache-dir={self.directory / 'cache'}", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )

    def dig(self, name: str, qtype: str = "A") -> list[str]:
        """`dig +short` answers (sorted)."""
        dig = shutil.which("dig")
        assert dig, "dig is installed by `make test` (bind9-dnsutils)"
        done = subprocess.run(
            [dig, f"@{self.dns_host}", "-p", str(self.dns_port), name, qtype, "+short", "+tries=1"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        return sorted(line for line in done.stdout.splitlines() if line and not line.startswith(";"))

    def stop(self, sig: int = signal.SIGTERM) -> int:
        """Stop it with a signal; its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill()
            raise

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
