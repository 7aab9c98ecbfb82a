#!/usr/bin/env python3
"""petdns watch mode on the local API server: sync time and RSS at scale, propagation, QPS during churn.

    .venv/bin/python bench/watch.py [--services 10000 --endpoints 100000] [--changes 1000] [--seconds 10]

Runs `petdns local` (the API server) and `petdns serve --kubeconfig` as separate processes on 127.0.0.1:
petdns pinned to CPU 0, the API server, this driver and dnsperf on CPU 1. Every process is bounded by
`timeout` and stopped by PID. Prints a table and the targets: ready < 10 s and RSS below CoreDNS's sizing
at 10k services / 100k endpoints, propagation p99 < 50 ms, QPS during 100 changes/s >= 90% of idle, no loss.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import struct
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))

import cluster
import procs
from loadgen import Run, dnsperf

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
Obj = dict[str, Any]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def petdns_exe() -> str:
    beside = Path(sys.executable).parent / "petdns"
    return str(beside) if beside.exists() else (shutil.which("petdns") or "petdns")


def coredns_sizing_mb(spec: cluster.Spec) -> float:
    """CoreDNS's published memory sizing for its kubernetes plugin: (pods + services) / 1000 + 54 MB."""
    return (spec.endpoints + spec.services) / 1000 + 54


def _user_managed(obj: Obj) -> Obj:
    """The object as a user's own: a Service without a selector, a slice without the controller's
    managed-by label, so that the local cluster's EndpointSlice controller (which keeps the slices of
    selector services equal to their pods, of which there are none here) leaves them as written."""
    if obj["kind"] == "Service":
        obj["spec"].pop("selector", None)
    elif obj["kind"] == "EndpointSlice":
        obj["metadata"].get("labels", {}).pop("endpointslice.kubernetes.io/managed-by", None)
    return obj


async def load_objects(api: str, objects: list[Obj], *, concurrency: int = 32) -> float:
    """Create every object through the API (namespaces first); returns seconds taken."""
    t0 = time.monotonic()
    async with aiohttp.ClientSession(api) as session:

        async def post(obj: Obj) -> None:
            meta = obj["metadata"]
            if obj["kind"] == "Namespace":
                path = "/api/v1/namespaces"
            elif obj["kind"] == "Service":
                path = f"/api/v1/namespaces/{meta['namespace']}/services"
            else:
                path = f"/apis/discovery.k8s.io/v1/namespaces/{meta['namespace']}/endpointslices"
            async with session.post(path, json=obj) as resp:
                if resp.status not in (201, 409):
                    raise RuntimeError(f"POST {path}: {resp.status} {await resp.text()}")

        namespaces = [o for o in objects if o["kind"] == "Namespace"]
        rest = [o for o in objects if o["kind"] != "Namespace"]
        for batch in (namespaces, rest):
            queue: asyncio.Queue[Obj] = asyncio.Queue()
            for obj in batch:
                queue.put_nowait(obj)

            async def worker(q: asyncio.Queue[Obj] = queue) -> None:
                while not q.empty():
                    await post(q.get_nowait())

            await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.monotonic() - t0


def wait_http(url: str, limit_s: float) -> float | None:
    """Seconds until GET url answers 200, or None."""
    import urllib.request  # noqa: PLC0415

    t0 = time.monotonic()
    while time.monotonic() - t0 < limit_s:
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status == 200:
                    return time.monotonic() - t0
        except OSError:
            pass
        time.sleep(0.05)
    return None


class Prober:
    """Asks one name over UDP as fast as answers come back."""

    def __init__(self, port: int, name: str) -> None:
        self.port = port
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.settimeout(0.2)
        wire = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
        self.question = wire + struct.pack("!HH", 1, 1)
        self.qid = 0

    def answer(self) -> str | None:
        """The first A record of the answer, or None."""
        self.qid = (self.qid + 1) & 0xFFFF
        self.sock.sendto(
            struct.pack("!HHHHHH", self.qid, 0, 1, 0, 0, 0) + self.question, ("127.0.0.1", self.port)
        )
        try:
            while True:
                reply = self.sock.recv(4096)
                if struct.unpack("!H", reply[:2])[0] == self.qid:
                    break
        except TimeoutError:
            return None
        if struct.unpack("!H", reply[6:8])[0] == 0:
            return None
        rdata = reply[-4:]  # the first answer of a one-answer reply ends the message
        return socket.inet_ntoa(rdata)


async def propagation(
    api: str, dns_port: int, svc: cluster.Service, slice_obj: Obj, changes: int
) -> list[float]:
    """Milliseconds from an EndpointSlice write to the DNS answer that shows it, per change."""
    prober = Prober(dns_port, svc.pet_fqdn(svc.pets[0]))
    meta = slice_obj["metadata"]
    path = f"/apis/discovery.k8s.io/v1/namespaces/{meta['namespace']}/endpointslices/{meta['name']}"
    latencies = []
    async with aiohttp.ClientSession(api) as session:
        for i in range(changes):
            ip = f"10.250.{i // 250}.{i % 250 + 1}"
            patch = {
                "endpoints": [dict(slice_obj["endpoints"][0], addresses=[ip]), *slice_obj["endpoints"][1:]]
            }
            t0 = time.perf_counter()
            async with session.patch(
                path, data=json.dumps(patch), headers={"Content-Type": "application/merge-patch+json"}
            ) as resp:
                if resp.status != 200:
                    raise RuntimeError(f"PATCH: {resp.status} {await resp.text()}")
            deadline = t0 + 5
            while prober.answer() != ip:
                if time.perf_counter() > deadline:
                    raise RuntimeError(f"change {i} not seen in DNS after 5 s")
            latencies.append((time.perf_counter() - t0) * 1000)
    return latencies


async def churn(api: str, targets: list[tuple[cluster.Service, Obj]], rate: float, seconds: float) -> int:
    """Apply `rate` EndpointSlice changes per second for `seconds`; returns how many were applied."""
    done = 0
    async with aiohttp.ClientSession(api) as session:
        t0 = time.monotonic()
        while time.monotonic() - t0 < seconds:
            _svc, obj = targets[done % len(targets)]
            meta = obj["metadata"]
            path = f"/apis/discovery.k8s.io/v1/namespaces/{meta['namespace']}/endpointslices/{meta['name']}"
            ready = done % 2 == 0
            eps = [dict(e, conditions={"ready": ready or j > 0}) for j, e in enumerate(obj["endpoints"])]
            async with session.patch(
                path,
                data=json.dumps({"endpoints": eps}),
                headers={"Content-Type": "application/merge-patch+json"},
            ) as resp:
                await resp.read()
            done += 1
            await asyncio.sleep(max(0.0, t0 + done / rate - time.monotonic()))
    return done


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--services", type=int, default=10_000)
    ap.add_argument("--endpoints", type=int, default=100_000)
    ap.add_argument("--changes", type=int, default=1000, help="EndpointSlice writes for the propagation run")
    ap.add_argument("--rate", type=float, default=100.0, help="changes per second during the churn run")
    ap.add_argument("--seconds", type=int, default=10, help="length of each dnsperf run")
    ap.add_argument("--quick", action="store_true", help="1,000 services / 10,000 endpoints, 200 changes")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:  # noqa: PLR0915
    args = parse_args(argv)
    if args.quick:
        args.services, args.endpoints, args.changes, args.seconds = 1000, 10_000, 200, 5
    spec = cluster.Spec(services=args.services, endpoints=args.endpoints, queries=20_000, storm=0)
    data = OUT / f"watch-{spec.services}-{spec.endpoints}"
    cluster.ensure(spec, data)
    services = cluster.build_services(spec)
    objects = [_user_managed(o) for o in json.loads((data / "objects.json").read_text())["items"]]
    slices = {
        (o["metadata"]["namespace"], o["metadata"]["labels"]["kubernetes.io/service-name"]): o
        for o in objects
        if o["kind"] == "EndpointSlice"
    }
    headless = [s for s in services if s.cluster_ip is None]
    results: dict[str, Any] = {"services": spec.services, "endpoints": spec.endpoints}
    with tempfile.TemporaryDirectory(prefix="petdns-watch-") as tmp:
        work = Path(tmp)
        api_port, dns_port, ready_port = procs.free_port(), procs.free_port(), procs.free_port()
        kubeconfig = work / "kubeconfig"
        api = procs.start(
            "api",
            [
                "nice",
                "-n",
                "19",
                petdns_exe(),
                "local",
                "--api",
                f"127.0.0.1:{api_port}",
                "--kubeconfig",
                str(kubeconfig),
                "--log-level",
                "warning",
            ],
            cpu="1",
            limit_s=3600,
            log=OUT / "logs" / "watch-api.log",
            cwd=work,
        )
        srv = None
        try:
            if wait_http(f"http://127.0.0.1:{api_port}/readyz", 60) is None:
                raise RuntimeError("API server did not start")
            api_url = f"http://127.0.0.1:{api_port}"
            secs = asyncio.run(load_objects(api_url, objects))
            log(f"loaded {len(objects)} objects through the API in {secs:.1f} s")
            srv = procs.start(
                "petdns",
                [
                    petdns_exe(),
                    "serve",
                    "--kubeconfig",
                    str(kubeconfig),
                    "--listen",
                    f"127.0.0.1:{dns_port}",
                    "--ready-listen",
                    f"127.0.0.1:{ready_port}",
                    "--log-level",
                    "warning",
                    "--no-forward",  # the traffic stays here: nothing goes to the machine's resolver
                ],
                cpu="0",
                limit_s=3000,
                log=OUT / "logs" / "watch-petdns.log",
                cwd=work,
            )
            ready = wait_http(f"http://127.0.0.1:{ready_port}/ready", 300)
            if ready is None:
                raise RuntimeError(f"petdns not ready: {srv.log_tail()}")
            time.sleep(1)
            results["ready_s"] = ready
            results["rss_mb"] = procs.rss_kb(srv.pids()) / 1024
            log(f"petdns ready after {ready:.2f} s, RSS {results['rss_mb']:.1f} MB")
            svc = headless[len(headless) // 2]
            lat = asyncio.run(
                propagation(api_url, dns_port, svc, slices[(svc.namespace, svc.name)], args.changes)
            )
            lat.sort()
            results["propagation_ms"] = {
                "p50": statistics.median(lat),
                "p99": lat[int(len(lat) * 0.99) - 1],
                "max": lat[-1],
                "n": len(lat),
            }
            log(
                f"propagation over {len(lat)} changes: p50 {results['propagation_ms']['p50']:.2f} ms, "
                f"p99 {results['propagation_ms']['p99']:.2f} ms"
            )
            queries = data / "queries.txt"
            # dnsperf shares CPU 1 with the API server and the change writer: both run at nice 19 so the
            # load generator is not starved and the QPS figures show petdns, not the generator
            os.nice(19)
            kw: dict[str, Any] = {
                "loadgen_cpu": 1,
                "server_cpu": 0,
                "server_pids": srv.pids,
                "nice_adjust": -19,
            }
            # one pass first, as run.py warms up: names a large list left waiting are rendered when first
            # asked, so the first pass measures that and the runs after it the steady state
            first: Run = dnsperf(dns_port, queries, 60, max_runs=1, **kw)
            results["first_pass_qps"], results["first_pass_s"] = first.qps, first.wall_s
            log(f"first pass over the queries (names rendered when first asked): {first.qps:.0f} qps")
            idle: Run = dnsperf(dns_port, queries, args.seconds, **kw)
            targets = [(s, slices[(s.namespace, s.name)]) for s in headless[:200]]

            async def churning() -> tuple[Run, int]:
                writer = asyncio.create_task(churn(api_url, targets, args.rate, args.seconds + 1))
                run = await asyncio.to_thread(dnsperf, dns_port, queries, args.seconds, **kw)
                return run, await writer

            busy, applied = asyncio.run(churning())
            results["idle_qps"], results["churn_qps"] = idle.qps, busy.qps
            results["rss_after_mb"] = procs.rss_kb(srv.pids()) / 1024
            results["churn_changes"] = applied
            results["churn_lost"], results["idle_lost"] = busy.lost, idle.lost
            results["idle_qps_per_core"], results["churn_qps_per_core"] = idle.qps_per_core, busy.qps_per_core
            log(
                f"QPS idle {idle.qps:.0f} (lost {idle.lost}), during {applied} changes: {busy.qps:.0f} "
                f"(lost {busy.lost})"
            )
        finally:
            if srv is not None:
                srv.stop()
            api.stop()
    report(results, spec, args)
    (OUT / "watch-results.json").write_text(json.dumps(results, indent=1) + "\n")
    return 0


def report(r: dict[str, Any], spec: cluster.Spec, args: argparse.Namespace) -> None:
    sizing = coredns_sizing_mb(spec)
    prop = r["propagation_ms"]
    ratio = r["churn_qps"] / r["idle_qps"] if r["idle_qps"] else 0.0
    print(f"cluster: {spec.services} services, {spec.endpoints} endpoints (through the local API server)")
    print(f"ready after {r['ready_s']:.2f} s; RSS {r['rss_mb']:.1f} MB (CoreDNS sizing {sizing:.0f} MB)")
    print(
        f"first pass over the queries: {r['first_pass_s']:.1f} s, {r['first_pass_qps']:.0f} QPS (names "
        f"rendered when first asked); RSS after the runs {r['rss_after_mb']:.1f} MB"
    )
    print(
        f"propagation, {prop['n']} EndpointSlice writes: p50 {prop['p50']:.2f} ms, p99 {prop['p99']:.2f} ms, "
        f"max {prop['max']:.2f} ms"
    )
    print(
        f"QPS idle {r['idle_qps']:.0f}, during {r['churn_changes']} changes at {args.rate:.0f}/s "
        f"{r['churn_qps']:.0f} = {ratio:.2f}x, lost {r['churn_lost']}"
    )
    print(
        f"QPS per petdns core: {r['idle_qps_per_core']:.0f} idle, {r['churn_qps_per_core']:.0f} during churn"
    )
    print("targets:")
    for ok, text in (
        (r["ready_s"] < 10, f"ready < 10 s: {r['ready_s']:.2f} s"),
        (
            max(r["rss_mb"], r["rss_after_mb"]) < sizing,
            f"RSS < {sizing:.0f} MB: {max(r['rss_mb'], r['rss_after_mb']):.1f} MB",
        ),
        (prop["p99"] < 50, f"propagation p99 < 50 ms: {prop['p99']:.2f} ms"),
        (
            ratio >= 0.9 and r["churn_lost"] == 0,
            f"QPS during churn >= 0.9x idle, no loss: {ratio:.2f}x, lost {r['churn_lost']}",
        ),
    ):
        print(f"  {'PASS' if ok else 'FAIL'}  {text}")


if __name__ == "__main__":
    raise SystemExit(main())
