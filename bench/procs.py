"""Server processes for the benchmark: started pinned and time-bounded, sampled from /proc, stopped by PID."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import struct
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
LOCALHOST = "127.0.0.1"


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (index 0 = state, 1 = ppid)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rfind(")") + 2 :].split()


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields is not None:
            kids.setdefault(int(fields[1]), []).append(int(entry.name))
    return kids


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (not ``pid`` itself)."""
    kids = _children()
    found: list[int] = []
    todo = list(kids.get(pid, []))
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(kids.get(p, []))
    return found


def start_time(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[19]) if fields is not None else None


def cpu_ticks(pids: list[int]) -> int:
    """utime + stime of ``pids`` (all threads), in clock ticks."""
    total = 0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is not None:
            total += int(fields[11]) + int(fields[12])
    return total


def _status_kb(pid: int, path: str, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/{path}").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_kb(pids: list[int]) -> int:
    """Sum of VmRSS (pages shared between forked processes count once per process)."""
    return sum(_status_kb(p, "status", "VmRSS") for p in pids)


def pss_kb(pids: list[int]) -> int:
    """Sum of Pss: shared pages split between the processes that map them."""
    return sum(_status_kb(p, "smaps_rollup", "Pss") for p in pids)


def core_ticks(cpu: int) -> tuple[int, int]:
    """(busy, total) ticks of one CPU from /proc/stat; busy includes irq and softirq, steal is left out."""
    for line in Path("/proc/stat").read_text().splitlines():
        parts = line.split()
        if parts[0] == f"cpu{cpu}":
            user, nice, system, idle, iowait, irq, softirq = (int(x) for x in parts[1:8])
            busy = user + nice + system + irq + softirq
            return busy, busy + idle + iowait
    return 0, 0


def port_is_free(port: int) -> bool:
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind((LOCALHOST, port))
            except OSError:
                return False
    return True


def free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind((LOCALHOST, 0))
            port = int(s.getsockname()[1])
        if port_is_free(port):
            return port
    raise RuntimeError("no free port on 127.0.0.1")


def wait_port_free(port: int, limit_s: float = 15.0) -> bool:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if port_is_free(port):
            return True
        time.sleep(0.2)
    return False


def encode_name(name: str) -> bytes:
    return b"".join(bytes([len(label)]) + label.encode() for label in name.rstrip(".").split(".")) + b"\0"


QTYPES = {"A": 1, "NS": 2, "SOA": 6, "PTR": 12, "TXT": 16, "AAAA": 28, "SRV": 33}  # the types the files name


def query_packet(qid: int, name: str, qtype: int, flags: int = 0) -> bytes:
    """A plain IN query of one question, without EDNS."""
    return (
        struct.pack("!HHHHHH", qid & 0xFFFF, flags, 1, 0, 0, 0)
        + encode_name(name)
        + struct.pack("!HH", qtype, 1)
    )


def query_once(port: int, name: str, qtype: int = 1, timeout_s: float = 0.5) -> tuple[int, int] | None:
    """Send one UDP query to 127.0.0.1:port; (rcode, answer count) or None on timeout."""
    qid = int.from_bytes(os.urandom(2), "big")
    packet = query_packet(qid, name, qtype)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout_s)
        try:
            s.sendto(packet, (LOCALHOST, port))
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                reply = s.recv(65535)
                if len(reply) >= 12 and struct.unpack("!H", reply[:2])[0] == qid:
                    _, flags, _, ancount = struct.unpack("!HHHH", reply[:8])
                    return flags & 0xF, ancount
        except OSError:
            return None
    return None


@dataclass
class Server:
    """A server started as ``timeout LIMIT taskset -c CPU CMD...``; ``popen.pid`` is the timeout process."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def pids(self) -> list[int]:
        return descendants(self.popen.pid)

    def alive(self) -> bool:
        return self.popen.poll() is None

    def not_ready_reason(self, limit_s: float) -> str:
        code = self.popen.poll()
        if code is None:
            return f"did not answer within {limit_s:.0f} s"
        return f"exited with code {code} before answering (log: {self.log})"

    def log_tail(self, lines: int = 10) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def wait_ready(self, port: int, name: str, limit_s: float) -> bool:
        """Poll with a real query until it is answered NOERROR with data (bounded)."""
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline and self.alive():
            got = query_once(port, name)
            if got is not None and got[0] == 0 and got[1] > 0:
                return True
            time.sleep(0.2)
        return False

    def stop(self, grace_s: float = 10.0) -> None:
        """SIGTERM the timeout process (it passes the signal on), then SIGKILL leftovers by PID."""
        tree = [(p, start_time(p)) for p in self.pids()]
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=grace_s)
        for pid, started in tree:
            if started is not None and start_time(pid) == started:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


def start(name: str, cmd: list[str], *, cpu: str, limit_s: float, log: Path, cwd: Path) -> Server:
    """Start ``cmd`` pinned to ``cpu``, killed by ``timeout`` after ``limit_s`` whatever happens."""
    log.parent.mkdir(parents=True, exist_ok=True)
    argv = ["timeout", "-k", "5", str(int(limit_s)), "taskset", "-c", cpu, *cmd]
    with log.open("wb") as out:
        popen = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd=cwd
        )
    return Server(name, popen, log)
