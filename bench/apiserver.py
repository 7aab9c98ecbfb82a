"""API server benchmark: watch fan-out latency and a paged list of 100,000 pods, server RSS for each.

Run: .venv/bin/python bench/apiserver.py [--watchers 100] [--updates 10000] [--pods 100000] [--page 500]
The server runs in a process of its own on 127.0.0.1 (bounded by `timeout`), so its RSS is its own.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
NS = "bench"
STAMP = re.compile(rb'"t":"([0-9.]+)"')


# --- the server process --------------------------------------------------------------------------------


def pod(index: int) -> dict[str, Any]:
    """A pod as a PetSet controller would make it: labels, owner, one container, a running status."""
    name = f"web-{index // 100:04d}-{index % 100}"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "labels": {"app": f"web-{index // 100:04d}", "statefulset.kubernetes.io/pod-name": name},
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1alpha1",
                    "kind": "PetSet",
                    "name": f"web-{index // 100:04d}",
                    "uid": "u",
                }
            ],
        },
        "spec": {
            "hostname": name,
            "subdomain": f"web-{index // 100:04d}",
            "nodeName": "node-1",
            "containers": [{"name": "nginx", "image": "nginx-slim:0.8", "ports": [{"containerPort": 80}]}],
        },
        "status": {"phase": "Running", "podIP": f"10.{index >> 16 & 255}.{index >> 8 & 255}.{index & 255}"},
    }


async def serve(pods: int) -> None:
    """Run the API server on a free port of 127.0.0.1 with `pods` pods preloaded; print the port."""
    sys.path.insert(0, str(ROOT))
    from localcluster.apiserver.server import ApiServer  # noqa: PLC0415
    from localcluster.storage.resources import find  # noqa: PLC0415
    from localcluster.storage.store import ObjectStore  # noqa: PLC0415

    store = ObjectStore()
    store.ensure_namespaces()
    store.create(find("", "v1", "namespaces"), None, {"metadata": {"name": NS}})
    pods_res = find("", "v1", "pods")
    for i in range(pods):
        store.create(pods_res, NS, pod(i))
    server = ApiServer(store)
    await server.start(HOST, 0)
    print(server.port, flush=True)
    await asyncio.Event().wait()


def run_server(pods: int) -> None:
    try:
        import uvloop  # noqa: PLC0415

        uvloop.run(serve(pods))
    except ImportError:
        asyncio.run(serve(pods))


@dataclass
class ServerProcess:
    """The server's process, its port, and its memory from /proc."""

    proc: subprocess.Popen[str]
    port: int

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def memory_mb(self) -> tuple[float, float]:
        """(VmRSS, VmHWM) of the server process, in MB."""
        fields = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = int(value.split()[0]) / 1024
        return fields["VmRSS"], fields["VmHWM"]

    @property
    def pid(self) -> int:
        """The Python process (the child of `timeout`)."""
        kids = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        return int(kids[0]) if kids else self.proc.pid


@contextlib.contextmanager
def server_process(*, pods: int, limit: float) -> Iterator[ServerProcess]:
    """Start the server (killed by `timeout` after `limit` seconds at the latest), stop it by PID."""
    command = ["timeout", str(int(limit)), sys.executable, __file__, "--serve", "--pods", str(pods)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError("the server did not start")
        yield ServerProcess(proc, int(line))
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        proc.wait(10)


# --- watch fan-out -------------------------------------------------------------------------------------


@dataclass
class WatchStats:
    """What one watcher received: event count and a delivery latency per event."""

    events: int = 0
    latencies: list[float] = field(default_factory=list)


async def watcher(session: aiohttp.ClientSession, url: str, stats: WatchStats, opened: asyncio.Event) -> None:
    """Read one watch stream, timestamping each line as its chunk arrives."""
    async with session.get(url) as resp:
        resp.raise_for_status()
        opened.set()
        rest = b""
        async for chunk in resp.content.iter_any():
            now = time.time()
            lines = (rest + chunk).split(b"\n")
            rest = lines.pop()
            for line in lines:
                match = STAMP.search(line)
                if match is not None:
                    stats.events += 1
                    stats.latencies.append(now - float(match[1]))


async def start_watchers(
    session: aiohttp.ClientSession, base: str, count: int, rv: str
) -> tuple[list[WatchStats], list[asyncio.Task[None]]]:
    url = f"{base}/api/v1/namespaces/{NS}/configmaps?watch=1&resourceVersion={rv}"
    stats = [WatchStats() for _ in range(count)]
    opened = [asyncio.Event() for _ in range(count)]
    tasks = [asyncio.create_task(watcher(session, url, s, o)) for s, o in zip(stats, opened, strict=True)]
    await asyncio.wait_for(asyncio.gather(*(o.wait() for o in opened)), 30)
    return stats, tasks


async def write_updates(session: aiohttp.ClientSession, base: str, *, updates: int, objects: int) -> float:
    """Merge-patch ConfigMaps one after another (one request in flight), each stamped with its send time."""
    headers = {"Content-Type": "application/merge-patch+json"}
    began = time.monotonic()
    for i in range(updates):
        body = json.dumps({"data": {"t": repr(time.time()), "i": str(i)}})
        url = f"{base}/api/v1/namespaces/{NS}/configmaps/cm-{i % objects}"
        async with session.patch(url, data=body, headers=headers) as resp:
            resp.raise_for_status()
            await resp.read()
    return time.monotonic() - began


async def fan_out(base: str, *, watchers: int, updates: int, deadline: float) -> dict[str, Any]:
    objects = 10
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        for i in range(objects):
            body = {"metadata": {"name": f"cm-{i}"}, "data": {"t": "0"}}
            async with session.post(f"{base}/api/v1/namespaces/{NS}/configmaps", json=body) as resp:
                resp.raise_for_status()
        async with session.get(f"{base}/api/v1/namespaces/{NS}/configmaps") as resp:
            rv = (await resp.json())["metadata"]["resourceVersion"]
        stats, tasks = await start_watchers(session, base, watchers, rv)
        write_seconds = await write_updates(session, base, updates=updates, objects=objects)
        while min(s.events for s in stats) < updates and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    latencies = sorted(x for s in stats for x in s.latencies)
    return {
        "watchers": watchers,
        "updates": updates,
        "complete_watchers": sum(1 for s in stats if s.events == updates),
        "events_received": sum(s.events for s in stats),
        "write_per_s": updates / write_seconds,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))],
        "max_ms": 1000 * latencies[-1],
    }


# --- paged list ----------------------------------------------------------------------------------------


async def paged_list(base: str, *, page: int) -> dict[str, Any]:
    """List every pod of the namespace in pages of `page`, decoding each page as a client would."""
    count, pages, token = 0, 0, ""
    began = time.monotonic()
    async with aiohttp.ClientSession() as session:
        while True:
            params = {"limit": str(page), **({"continue": token} if token else {})}
            async with session.get(f"{base}/api/v1/namespaces/{NS}/pods", params=params) as resp:
                resp.raise_for_status()
                body = json.loads(await resp.read())
            count += len(body["items"])
            pages += 1
            token = body["metadata"].get("continue", "")
            if not token:
                break
    return {"items": count, "pages": pages, "seconds": time.monotonic() - began}


# --- driver --------------------------------------------------------------------------------------------


async def measure(server: ServerProcess, coro: Any) -> dict[str, Any]:
    """The result of a benchmark part with the server's memory right after it."""
    result: dict[str, Any] = await coro
    rss, peak = server.memory_mb()
    return {**result, "server_rss_mb": round(rss, 1), "server_peak_rss_mb": round(peak, 1)}


def report(name: str, result: dict[str, Any], targets: dict[str, tuple[str, float]]) -> None:
    print(f"{name}:")
    for key, value in result.items():
        print(f"  {key:<20} {value:.1f}" if isinstance(value, float) else f"  {key:<20} {value}")
    for label, (key, limit) in targets.items():
        verdict = "PASS" if result[key] < limit else "FAIL"
        print(f"  target {label}: {result[key]:.1f} < {limit:g} {verdict}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--watchers", type=int, default=100)
    parser.add_argument("--updates", type=int, default=10_000)
    parser.add_argument("--pods", type=int, default=100_000)
    parser.add_argument("--page", type=int, default=500)
    parser.add_argument("--timeout", type=float, default=300, help="bound on each part, seconds")
    parser.add_argument("--skip-watch", action="store_true")
    parser.add_argument("--skip-list", action="store_true")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        run_server(args.pods)
        return 0
    results = {}
    if not args.skip_watch:
        with server_process(pods=0, limit=args.timeout + 30) as server:
            deadline = time.monotonic() + args.timeout
            coro = fan_out(server.url, watchers=args.watchers, updates=args.updates, deadline=deadline)
            results["watch"] = asyncio.run(measure(server, coro))
        report("watch fan-out", results["watch"], {"p99 delivery ms": ("p99_ms", 50)})
    if not args.skip_list:
        began = time.monotonic()
        with server_process(pods=args.pods, limit=args.timeout + 30) as server:
            print(f"(server started with {args.pods} pods in {time.monotonic() - began:.1f} s)")
            results["list"] = asyncio.run(measure(server, paged_list(server.url, page=args.page)))
        report("paged list", results["list"], {"total s": ("seconds", 5)})
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "apiserver.json").write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
