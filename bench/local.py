"""`petdns local` figures: create-to-resolvable for the example, Ready-to-A-record lag, and a local
cluster of many PetSets (time until every pet resolves, and the process's RSS).

Run: .venv/bin/python bench/local.py [--sets 100] [--pets 10] [--lag-pets 40]
`petdns local` runs as a process of its own (as `make run` starts it); kubectl creates the objects,
dnspython polls the DNS server, and a watch of the API gives the moment each pod became Ready.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import dns.asyncquery
import dns.exception
import dns.message
import dns.query
import dns.rcode
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kubeapi import auth  # noqa: E402
from kubeapi.client import Client  # noqa: E402
from kubeapi.paths import PODS  # noqa: E402
from tests.support.process import LocalProcess  # noqa: E402

EXAMPLE = ROOT / "config" / "examples" / "petset.yaml"


def resolves(host: str, port: int, name: str) -> bool:
    """One A query over UDP: an answer with data."""
    try:
        reply = dns.query.udp(dns.message.make_query(name, "A"), host, port=port, timeout=0.5)
    except (TimeoutError, OSError, dns.exception.DNSException):
        return False
    return reply.rcode() == dns.rcode.NOERROR and bool(reply.answer)


def wait_all(host: str, port: int, names: list[str], timeout: float) -> float:
    """Seconds until every name resolves (polling the ones still missing)."""
    start, missing = time.monotonic(), list(names)
    while missing:
        if time.monotonic() - start > timeout:
            raise SystemExit(f"{len(missing)} names still unresolved after {timeout} s, e.g. {missing[0]}")
        missing = [n for n in missing if not resolves(host, port, n)]
        if missing:
            time.sleep(0.005)
    return time.monotonic() - start


def rss_mb(pid: int) -> float:
    """Resident set size of a process, MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def example_create(work: Path) -> dict[str, float]:
    """kubectl create of the example until web-0 and web-1 resolve (default readiness delay)."""
    local = LocalProcess(work / "example")
    try:
        start = time.monotonic()
        local.kubectl("create", "-f", str(EXAMPLE))
        names = [f"web-{i}.nginx.default.svc.cluster.local" for i in (0, 1)]
        wait_all(local.dns_host, local.dns_port, names, 60)
        return {
            "create_to_both_resolvable_s": round(time.monotonic() - start, 3),
        }
    finally:
        local.stop()


async def _ready_times(kubeconfig: str, names: set[str], out: dict[str, float], done: asyncio.Event) -> None:
    """Record when the watch shows each named pod Ready (monotonic time of arrival)."""
    async with Client(auth.load(kubeconfig, None)) as client:
        _, rv = await client.list(PODS, "default")
        async for event in client.watch(PODS, "default", resource_version=rv):
            obj: dict[str, Any] = event["object"]
            name = obj.get("metadata", {}).get("name", "")
            conditions = obj.get("status", {}).get("conditions") or []
            if (
                name in names
                and name not in out
                and any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
            ):
                out[name] = time.monotonic()
                if len(out) == len(names):
                    done.set()
                    return


async def _answers(host: str, port: int, fqdn: str) -> bool:
    try:
        reply = await dns.asyncquery.udp(dns.message.make_query(fqdn, "A"), host, port=port, timeout=0.5)
    except (TimeoutError, OSError, dns.exception.DNSException):
        return False
    return reply.rcode() == dns.rcode.NOERROR and bool(reply.answer)


def ready_to_record(work: Path, pets: int, policy: str) -> dict[str, Any]:
    """A set of `pets` under `policy`: lag from each pod's Ready (as a watch of the API sees it) to the
    first A answer for it, polling every unanswered name concurrently every millisecond."""
    local = LocalProcess(work / f"lag-{policy}")
    try:
        docs = list(yaml.safe_load_all(EXAMPLE.read_text()))
        docs[1]["spec"].update(replicas=pets, podManagementPolicy=policy)
        names = {f"web-{i}" for i in range(pets)}
        ready: dict[str, float] = {}
        answered: dict[str, float] = {}

        async def poll(name: str) -> None:
            if await _answers(local.dns_host, local.dns_port, f"{name}.nginx.default.svc.cluster.local"):
                answered.setdefault(name, time.monotonic())

        async def run() -> None:
            done = asyncio.Event()
            watcher = asyncio.create_task(_ready_times(local.kubeconfig, names, ready, done))
            await asyncio.sleep(0.3)
            await asyncio.to_thread(local.kubectl, "create", "-f", "-", stdin=yaml.safe_dump_all(docs))
            deadline = time.monotonic() + 120
            while len(answered) < pets and time.monotonic() < deadline:
                await asyncio.gather(*(poll(n) for n in sorted(names - answered.keys())))
                await asyncio.sleep(0.001)
            await asyncio.wait_for(done.wait(), 30)
            watcher.cancel()

        asyncio.run(run())
        lags = sorted(max(0.0, answered[n] - ready[n]) * 1000 for n in names)
        return {
            "pets": pets,
            "lag_p50_ms": round(statistics.median(lags), 1),
            "lag_p90_ms": round(lags[min(len(lags) - 1, int(len(lags) * 0.9))], 1),
            "lag_max_ms": round(lags[-1], 1),
        }
    finally:
        local.stop()


def many_sets(work: Path, sets: int, pets: int) -> dict[str, Any]:
    """`sets` PetSets of `pets` pets (OrderedReady, each with its headless Service) until all resolve."""
    local = LocalProcess(work / "many")
    try:
        service, petset = list(yaml.safe_load_all(EXAMPLE.read_text()))
        docs: list[Any] = []
        for i in range(sets):
            svc, ps = json.loads(json.dumps(service)), json.loads(json.dumps(petset))
            svc["metadata"] = {"name": f"svc{i}", "labels": {"app": f"app{i}"}}
            svc["spec"]["selector"] = {"app": f"app{i}"}
            ps["metadata"] = {"name": f"db{i}"}
            ps["spec"].update(serviceName=f"svc{i}", replicas=pets)
            ps["spec"]["template"]["metadata"]["labels"] = {"app": f"app{i}"}
            docs += [svc, ps]
        names = [f"db{i}-{j}.svc{i}.default.svc.cluster.local" for i in range(sets) for j in range(pets)]
        start = time.monotonic()
        local.kubectl("create", "-f", "-", stdin=yaml.safe_dump_all(docs))
        wait_all(local.dns_host, local.dns_port, names, 600)
        elapsed = time.monotonic() - start
        return {
            "sets": sets,
            "pets": sets * pets,
            "all_resolvable_s": round(elapsed, 2),
            "rss_mb": round(rss_mb(local.proc.pid), 1),
        }
    finally:
        local.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", type=int, default=100)
    parser.add_argument("--pets", type=int, default=10)
    parser.add_argument("--lag-pets", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="petdns-bench-local-") as directory:
        work = Path(directory)
        results = {
            "example": example_create(work),
            "ready_to_a_record_one_at_a_time": ready_to_record(work, args.lag_pets // 2, "OrderedReady"),
            "ready_to_a_record_all_at_once": ready_to_record(work, args.lag_pets, "Parallel"),
            "many_sets": many_sets(work, args.sets, args.pets),
        }
    for section, figures in results.items():
        print(f"{section}:")
        for key, value in figures.items():
            print(f"  {key:30} {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
