"""PetSet controller benchmark: a Parallel set of 1,000 pets created and Ready, and no-op reconcile CPU.

Run: .venv/bin/python bench/controller.py [--replicas 1000] [--reconciles 200] [--timeout 120]
The local API server and the test kubelet (pets Ready as soon as their claims are bound) run in
processes of their own on 127.0.0.1, each bounded by `timeout`; the controller runs in this process,
so the CPU it measures is the controller's own.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kubeapi.auth import Connection  # noqa: E402
from kubeapi.client import Client  # noqa: E402
from kubeapi.paths import PETSETS  # noqa: E402
from petset_controller.core.plan import plan  # noqa: E402
from petset_controller.runtime.controller import Controller, ControllerConfig  # noqa: E402

HOST = "127.0.0.1"
NS = "default"
NAME = "web"


def petset(replicas: int) -> dict[str, Any]:
    """A Parallel set with one claim template."""
    claim = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
    return {
        "apiVersion": "petdns.dev/v1",
        "kind": "PetSet",
        "metadata": {"name": NAME, "namespace": NS},
        "spec": {
            "replicas": replicas,
            "podManagementPolicy": "Parallel",
            "serviceName": "nginx",
            "selector": {"matchLabels": {"app": NAME}},
            "template": {
                "metadata": {"labels": {"app": NAME}},
                "spec": {"containers": [{"name": "nginx", "image": "nginx-slim:0.8"}]},
            },
            "volumeClaimTemplates": [{"metadata": {"name": "www"}, "spec": claim}],
        },
    }


# --- helper processes ----------------------------------------------------------------------------------


async def serve_api() -> None:
    """The local API server on a free port of 127.0.0.1; prints the port."""
    from localcluster.apiserver.server import ApiServer  # noqa: PLC0415
    from localcluster.storage.store import ObjectStore  # noqa: PLC0415

    store = ObjectStore()
    store.ensure_namespaces()
    server = ApiServer(store)
    await server.start(HOST, 0)
    print(server.port, flush=True)
    await asyncio.Event().wait()


async def run_kubelet(url: str) -> None:
    """The test kubelet, reacting to watches: binds claims, then binds and readies pods at once."""
    from tests.petset_controller.kubelet import Kubelet  # noqa: PLC0415

    async with Client(Connection(url)) as client:
        print("ready", flush=True)
        await Kubelet(client, namespace=NS).run(workers=16)


def run(coro: Any) -> Any:
    """Run on uvloop where it is installed (as the controller's command does)."""
    try:
        import uvloop  # noqa: PLC0415
    except ImportError:
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


@contextlib.contextmanager
def helper(*args: str, limit: float) -> Iterator[str]:
    """This script in another role, stopped by `timeout` after `limit` s at the latest; its first line."""
    command = ["timeout", str(int(limit)), sys.executable, __file__, *args]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if not line:
            raise RuntimeError(f"{' '.join(args)} did not start")
        yield line
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        proc.wait(10)


# --- measurements --------------------------------------------------------------------------------------


async def wait_for(check: Any, *, deadline: float, what: str) -> float:
    """Poll a condition every 20 ms until it holds; the time it was first seen."""
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not reached in time")
        await asyncio.sleep(0.02)
    return time.monotonic()


def counts(controller: Controller) -> tuple[int, int]:
    """(pods that exist, pods Running and Ready) of the set, as the controller's cache has them."""
    pods = controller.cache.pods_of((NS, NAME))
    return len(pods), sum(1 for p in pods if p.running_ready)


async def create_all(controller: Controller, *, replicas: int, deadline: float) -> dict[str, Any]:
    """Create the set and time until every pet exists, is Ready, and the status says so."""
    client = controller.client
    await wait_for(lambda: controller.synced, deadline=deadline, what="caches synced")
    cpu0 = time.process_time()
    began = time.monotonic()
    await client.create(PETSETS, NS, petset(replicas))
    created = await wait_for(lambda: counts(controller)[0] == replicas, deadline=deadline, what="created")
    ready = await wait_for(lambda: counts(controller)[1] == replicas, deadline=deadline, what="Ready")

    def reported() -> bool:
        found = controller.cache.sets.get((NS, NAME))
        return found is not None and found.pet_set.status.ready_replicas == replicas

    status = await wait_for(reported, deadline=deadline, what="status readyReplicas")
    await wait_for(lambda: controller.idle, deadline=deadline, what="idle")
    return {
        "replicas": replicas,
        "all_created_s": round(created - began, 2),
        "all_ready_s": round(ready - began, 2),
        "status_ready_s": round(status - began, 2),
        "controller_cpu_s": round(time.process_time() - cpu0, 2),
        "syncs": controller.stats.syncs,
        "planned": controller.stats.planned,
        "waited_on_expectations": controller.stats.waited,
        "writes": controller.executor.writes,
        "expectations_expired": controller.expectations.expired,
        "failed_syncs": controller.stats.failed,
    }


async def noop_reconciles(controller: Controller, *, count: int) -> dict[str, Any]:
    """Reconcile the converged set `count` times through the controller's sync; CPU per reconcile."""
    writes = controller.executor.writes
    if os.environ.get("BENCH_PROFILE"):
        await profile(controller, count=count, path=os.environ["BENCH_PROFILE"])
    samples = []
    for _ in range(count):
        cpu = time.process_time()
        outcome = await controller.sync((NS, NAME))
        samples.append(time.process_time() - cpu)
        assert outcome.error is None
    assert controller.executor.writes == writes, "a converged set should need no writes"
    samples.sort()
    planning = plan_only(controller, count=count)
    return {
        "reconciles": count,
        "median_ms": round(1000 * statistics.median(samples), 3),
        "plan_only_median_ms": round(1000 * statistics.median(planning), 3),
        "p90_ms": round(1000 * samples[int(0.9 * (count - 1))], 3),
        "max_ms": round(1000 * samples[-1], 3),
        "writes": controller.executor.writes - writes,
    }


def plan_only(controller: Controller, *, count: int) -> list[float]:
    """CPU of the pure plan() alone on the same cached inputs (what the shell adds is the difference)."""
    cached = controller.cache.sets[(NS, NAME)]
    pods, claims = controller.cache.pods_of((NS, NAME)), controller.cache.claims_of(cached.pet_set)
    revisions = controller.cache.revisions_in(NS)
    samples = []
    for _ in range(count):
        cpu = time.process_time()
        plan(cached.pet_set, pods, claims, revisions, time.time())
        samples.append(time.process_time() - cpu)
    return samples


async def profile(controller: Controller, *, count: int, path: str) -> None:
    """The same reconciles under cProfile, written to `path` (BENCH_PROFILE=FILE)."""
    import cProfile  # noqa: PLC0415

    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(count):
        await controller.sync((NS, NAME))
    profiler.disable()
    profiler.dump_stats(path)


async def bench(url: str, args: argparse.Namespace) -> dict[str, Any]:
    async with Client(Connection(url), user_agent="petset-controller-bench") as client:
        controller = Controller(client, config=ControllerConfig(workers=4))
        task = asyncio.create_task(controller.run())
        try:
            deadline = time.monotonic() + args.timeout
            created = await create_all(controller, replicas=args.replicas, deadline=deadline)
            noop = await noop_reconciles(controller, count=args.reconciles)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    return {"create": created, "noop_reconcile": noop}


def report(results: dict[str, Any]) -> None:
    for name, part in results.items():
        print(f"{name}:")
        for key, value in part.items():
            print(f"  {key:<24} {value}")
    ready, noop = results["create"]["all_ready_s"], results["noop_reconcile"]["median_ms"]
    print(f"  target 1,000 pets Ready: {ready:.1f} s < 30 s {'PASS' if ready < 30 else 'FAIL'}")
    print(f"  target no-op reconcile CPU: {noop:.2f} ms < 5 ms {'PASS' if noop < 5 else 'FAIL'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, default=1000)
    parser.add_argument("--reconciles", type=int, default=200)
    parser.add_argument("--timeout", type=float, default=120, help="bound on the whole run, seconds")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--kubelet", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        run(serve_api())
        return 0
    if args.kubelet:
        run(run_kubelet(args.kubelet))
        return 0
    limit = args.timeout + 30
    with helper("--serve", limit=limit) as port:
        url = f"http://{HOST}:{port}"
        with helper("--kubelet", url, limit=limit):
            results = run(asyncio.wait_for(bench(url, args), args.timeout + 10))
    report(results)
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "controller.json").write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
