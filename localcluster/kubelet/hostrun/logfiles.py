"""Container output in the CRI log format the kubelet writes: `<RFC 3339 nanoseconds> <stream> F <line>`,
one file per run of a container, `<pod dir>/<container>/<restartCount>.log`."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import BinaryIO

MAX_LINE = 16 * 1024  # longer lines are split into partial (P) lines, as the kubelet's


def stamp(ns: int) -> str:
    """RFC 3339 with nanoseconds, UTC."""
    seconds, nanos = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{nanos:09d}Z"


def cri_line(stream: str, text: bytes, *, full: bool, ns: int | None = None) -> bytes:
    """One log line (text without its newline)."""
    when = stamp(time.time_ns() if ns is None else ns)
    return f"{when} {stream} {'F' if full else 'P'} ".encode() + text + b"\n"


def log_path(pod_dir: Path, container: str, restarts: int) -> Path:
    """Where one run of a container logs."""
    return pod_dir / container / f"{restarts}.log"


def runs(pod_dir: Path, container: str) -> list[Path]:
    """A container's log files, oldest run first."""
    directory = pod_dir / container
    if not directory.is_dir():
        return []
    found = [p for p in directory.glob("*.log") if p.stem.isdigit()]
    return sorted(found, key=lambda p: int(p.stem))


def _write(out: BinaryIO, stream: str, line: bytes) -> None:
    for at in range(0, len(line) - MAX_LINE, MAX_LINE):
        out.write(cri_line(stream, line[at : at + MAX_LINE], full=False))
    rest = len(line) % MAX_LINE or (MAX_LINE if line else 0)
    out.write(cri_line(stream, line[len(line) - rest :], full=True))


async def pump(reader: asyncio.StreamReader, stream: str, out: BinaryIO) -> None:
    """Copy a pipe into the log file, line by line, until it closes."""
    pending = b""
    while True:
        chunk = await reader.read(65536)
        if not chunk:
            break
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            _write(out, stream, line)
        while len(pending) > MAX_LINE:
            out.write(cri_line(stream, pending[:MAX_LINE], full=False))
            pending = pending[MAX_LINE:]
        out.flush()
    if pending:
        out.write(cri_line(stream, pending, full=True))
        out.flush()
