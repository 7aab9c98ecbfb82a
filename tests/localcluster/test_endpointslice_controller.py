"""The EndpointSlice controller against the local API server, and the DNS names its slices make."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import dns.message
import dns.rcode
import pytest

from kubeapi.auth import Connection
from kubeapi.client import Client
from kubeapi.paths import ENDPOINT_SLICES, PODS, SERVICES
from localcluster.controllers.endpointslices.controller import EndpointSliceController
from localcluster.storage.resources import find
from petdns.answer.dispatch import dispatch
from petdns.answer.zone import RenderedZone
from petdns.schema.model import from_raw
from petdns.settings.values import Settings
from tests.localcluster.conftest import LocalApi
from tests.support.waiting import eventually

Obj = dict[str, Any]
MANAGED = "endpointslice.kubernetes.io/managed-by=endpointslice-controller.k8s.io"


@contextlib.asynccontextmanager
async def controller(api: LocalApi) -> AsyncIterator[tuple[EndpointSliceController, Client]]:
    """A running controller and a client for the test's own writes."""
    async with Client(Connection(server=api.url)) as client, Client(Connection(server=api.url)) as own:
        running = EndpointSliceController(own)
        task = asyncio.create_task(running.run())
        try:
            await asyncio.wait_for(running.synced.wait(), 10)
            yield running, client
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


def headless(name: str, *, selector: Obj | None = None, **spec: Any) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "labels": {"team": "pets"}},
        "spec": {
            "clusterIP": "None",
            "selector": {"app": name} if selector is None else selector,
            "ports": [{"name": "web", "port": 80, "protocol": "TCP"}],
            **spec,
        },
    }


async def start_pod(
    client: Client, ns: str, name: str, ip: str, *, app: str = "nginx", ready: bool = True, pet: bool = True
) -> Obj:
    """A pod (a pet of `app` when pet: hostname and subdomain set) with an IP and a Ready condition."""
    spec: Obj = {"containers": [{"name": "c", "image": "nginx:1.27"}], "nodeName": "node-1"}
    if pet:
        spec.update(hostname=name, subdomain=app)
    body = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": app}},
        "spec": spec,
    }
    await client.create(PODS, ns, body)
    return await set_ready(client, ns, name, ready, ip=ip)


async def set_ready(client: Client, ns: str, name: str, ready: bool, *, ip: str | None = None) -> Obj:
    status: Obj = {
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
    }
    if ip:
        status.update(podIP=ip, podIPs=[{"ip": ip}])
    return await client.patch(PODS, ns, name, {"status": status}, subresource="status")


async def slices_of(client: Client, ns: str, service: str) -> list[Obj]:
    items, _ = await client.list(
        ENDPOINT_SLICES, ns, label_selector=f"kubernetes.io/service-name={service},{MANAGED}"
    )
    return sorted(items, key=lambda s: s["metadata"]["name"])


def endpoints_of(slices: list[Obj]) -> dict[str, Obj]:
    return {e["targetRef"]["name"]: e for s in slices for e in s.get("endpoints") or []}


async def test_slices_follow_pods(api: LocalApi, ns: str) -> None:
    async with controller(api) as (_, client):
        svc = await client.create(SERVICES, ns, headless("nginx"))
        await start_pod(client, ns, "web-0", "10.244.0.10")
        await start_pod(client, ns, "web-1", "10.244.0.11", ready=False)
        await start_pod(client, ns, "other", "10.244.0.12", app="db")

        async def two_endpoints() -> bool:
            return len(endpoints_of(await slices_of(client, ns, "nginx"))) == 2

        await eventually(two_endpoints)
        (found,) = await slices_of(client, ns, "nginx")
        meta = found["metadata"]
        assert meta["name"].startswith("nginx-")
        assert meta["labels"] == {
            "team": "pets",
            "kubernetes.io/service-name": "nginx",
            "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
            "service.kubernetes.io/headless": "",
        }
        assert meta["ownerReferences"][0] | {"uid": ""} == {
            "apiVersion": "v1",
            "kind": "Service",
            "name": "nginx",
            "uid": "",
            "controller": True,
            "blockOwnerDeletion": True,
        }
        assert meta["ownerReferences"][0]["uid"] == svc["metadata"]["uid"]
        assert found["addressType"] == "IPv4"
        assert found["ports"] == [{"name": "web", "port": 80, "protocol": "TCP"}]
        web0 = endpoints_of([found])["web-0"]
        assert web0["addresses"] == ["10.244.0.10"] and web0["hostname"] == "web-0"
        assert web0["conditions"] == {"ready": True, "serving": True, "terminating": False}
        assert web0["nodeName"] == "node-1" and web0["targetRef"]["kind"] == "Pod"
        assert endpoints_of([found])["web-1"]["conditions"]["ready"] is False

        await set_ready(client, ns, "web-1", True)

        async def both_ready() -> bool:
            eps = endpoints_of(await slices_of(client, ns, "nginx"))
            return all(e["conditions"]["ready"] for e in eps.values()) and len(eps) == 2

        await eventually(both_ready)
        await client.delete(PODS, ns, "web-0", grace_seconds=0)

        async def web0_gone() -> bool:
            return set(endpoints_of(await slices_of(client, ns, "nginx"))) == {"web-1"}

        await eventually(web0_gone)
        shown = api.kubectl("get", "endpointslices", "-n", ns).stdout
        assert "10.244.0.11" in shown and found["metadata"]["name"] in shown


async def test_services_without_selector_get_none_and_slices_go_with_their_service(
    api: LocalApi, ns: str
) -> None:
    async with controller(api) as (running, client):
        await client.create(SERVICES, ns, headless("bare", selector={}))
        external = {"type": "ExternalName", "externalName": "example.com", "selector": {"app": "nginx"}}
        await client.create(SERVICES, ns, {"metadata": {"name": "ext"}, "spec": external | {"ports": []}})
        await client.create(SERVICES, ns, headless("nginx"))
        await start_pod(client, ns, "web-0", "10.244.1.10")

        async def has_slice() -> bool:
            return len(endpoints_of(await slices_of(client, ns, "nginx"))) == 1

        await eventually(has_slice)
        await eventually(lambda: _true(running.idle))
        assert await slices_of(client, ns, "bare") == [] and await slices_of(client, ns, "ext") == []
        await client.delete(SERVICES, ns, "nginx")

        async def no_slices() -> bool:
            return await slices_of(client, ns, "nginx") == []

        await eventually(no_slices)


async def _true(value: bool) -> bool:
    return value


async def test_a_pod_change_rewrites_only_its_slice(api: LocalApi, ns: str) -> None:
    async with controller(api) as (running, client):
        await client.create(SERVICES, ns, headless("many", selector={"app": "many"}))
        await asyncio.gather(
            *(
                start_pod(client, ns, f"m-{i:03d}", f"10.245.{i // 200}.{i % 200 + 1}", app="many", pet=False)
                for i in range(150)
            )
        )

        async def all_in() -> bool:
            slices = await slices_of(client, ns, "many")
            return len(endpoints_of(slices)) == 150 and running.idle

        await eventually(all_in)
        before = await slices_of(client, ns, "many")
        assert len(before) == 2 and all(len(s["endpoints"]) <= 100 for s in before)
        versions = {s["metadata"]["name"]: s["metadata"]["resourceVersion"] for s in before}
        writes = running.writes
        holder = next(s["metadata"]["name"] for s in before if "m-042" in endpoints_of([s]))
        await set_ready(client, ns, "m-042", False)

        async def not_ready() -> bool:
            eps = endpoints_of(await slices_of(client, ns, "many"))
            return eps["m-042"]["conditions"]["ready"] is False and running.idle

        await eventually(not_ready)
        after = {
            s["metadata"]["name"]: s["metadata"]["resourceVersion"]
            for s in await slices_of(client, ns, "many")
        }
        assert after.keys() == versions.keys()
        assert {n for n in after if after[n] != versions[n]} == {holder}
        assert running.writes == writes + 1


async def test_edits_and_deletes_by_others_are_repaired(api: LocalApi, ns: str) -> None:
    async with controller(api) as (running, client):
        await client.create(SERVICES, ns, headless("nginx"))
        for i in range(3):
            await start_pod(client, ns, f"web-{i}", f"10.244.2.{i + 10}")

        async def three() -> bool:
            return len(endpoints_of(await slices_of(client, ns, "nginx"))) == 3 and running.idle

        await eventually(three)
        (found,) = await slices_of(client, ns, "nginx")
        edited = dict(found, endpoints=found["endpoints"][:1])
        await client.replace(ENDPOINT_SLICES, ns, found["metadata"]["name"], edited)
        await eventually(three)
        unmanaged = {
            "metadata": {"name": "by-hand", "labels": {"kubernetes.io/service-name": "nginx"}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.9.9.9"]}],
        }
        await client.create(ENDPOINT_SLICES, ns, unmanaged)
        (current,) = await slices_of(client, ns, "nginx")
        duplicate = {
            "metadata": {
                "name": "nginx-copy",
                "labels": current["metadata"]["labels"],
                "ownerReferences": current["metadata"]["ownerReferences"],
            },
            "addressType": "IPv4",
            "ports": current["ports"],
            "endpoints": current["endpoints"][:2],
        }
        await client.create(ENDPOINT_SLICES, ns, duplicate)
        await client.delete(ENDPOINT_SLICES, ns, current["metadata"]["name"])

        async def repaired() -> bool:
            slices = await slices_of(client, ns, "nginx")
            names = [s["metadata"]["name"] for s in slices]
            return (
                len(slices) == 1
                and len(endpoints_of(slices)) == 3
                and current["metadata"]["name"] not in names
            )

        await eventually(repaired)
        kept = await client.get(ENDPOINT_SLICES, ns, "by-hand")  # not managed: left alone
        assert kept["endpoints"] == unmanaged["endpoints"]


async def test_selector_changes_move_endpoints_and_no_selector_removes_slices(api: LocalApi, ns: str) -> None:
    async with controller(api) as (_, client):
        await client.create(SERVICES, ns, headless("front", selector={"app": "a"}))
        await start_pod(client, ns, "a-0", "10.244.5.10", app="a", pet=False)
        await start_pod(client, ns, "b-0", "10.244.5.11", app="b", pet=False)

        async def serves(names: set[str]) -> bool:
            return set(endpoints_of(await slices_of(client, ns, "front"))) == names

        await eventually(lambda: serves({"a-0"}))
        await client.patch(SERVICES, ns, "front", {"spec": {"selector": {"app": "b"}}})
        await eventually(lambda: serves({"b-0"}))
        current = await client.get(SERVICES, ns, "front")
        current["spec"].pop("selector")
        await client.replace(SERVICES, ns, "front", current)

        async def none_left() -> bool:
            return await slices_of(client, ns, "front") == []

        await eventually(none_left)


async def test_a_restarted_controller_writes_nothing(api: LocalApi, ns: str) -> None:
    async with controller(api) as (running, client):
        await client.create(SERVICES, ns, headless("nginx"))
        await client.create(SERVICES, ns, headless("empty", selector={"app": "none"}))
        await start_pod(client, ns, "web-0", "10.244.3.10")

        async def settled() -> bool:
            empty = await slices_of(client, ns, "empty")  # a placeholder: no endpoints
            return (
                bool(endpoints_of(await slices_of(client, ns, "nginx"))) and len(empty) == 1 and running.idle
            )

        await eventually(settled)
        (placeholder,) = await slices_of(client, ns, "empty")
        assert placeholder["endpoints"] == [] and "ports" not in placeholder
    async with controller(api) as (again, client):
        await eventually(lambda: _true(again.idle))
        assert again.writes == 0


async def test_the_slices_make_dns_names(api: LocalApi, ns: str) -> None:
    async with controller(api) as (_, client):
        await client.create(SERVICES, ns, headless("nginx"))
        await start_pod(client, ns, "web-0", "10.244.4.10")
        await start_pod(client, ns, "web-1", "10.244.4.11")

        async def both() -> bool:
            return len(endpoints_of(await slices_of(client, ns, "nginx"))) == 2

        await eventually(both)
        zone = RenderedZone(Settings())
        objects = []
        for ref, kind in ((SERVICES, "Service"), (ENDPOINT_SLICES, "EndpointSlice")):
            items, _ = await client.list(ref, ns)
            objects += [from_raw({"kind": kind, **item}) for item in items]
        zone.load(o for o in objects if o is not None)

        def ask(name: str, qtype: str) -> set[str]:
            reply = dispatch(zone, dns.message.make_query(name, qtype).to_wire())
            assert reply is not None
            msg = dns.message.from_wire(reply)
            assert msg.rcode() == dns.rcode.NOERROR
            return {rd.to_text() for rrset in msg.answer for rd in rrset}

        assert ask(f"web-0.nginx.{ns}.svc.cluster.local", "A") == {"10.244.4.10"}
        assert ask(f"nginx.{ns}.svc.cluster.local", "A") == {"10.244.4.10", "10.244.4.11"}
        srv = ask(f"_web._tcp.nginx.{ns}.svc.cluster.local", "SRV")
        assert {r.split()[-1] for r in srv} == {f"web-{i}.nginx.{ns}.svc.cluster.local." for i in range(2)}


@pytest.mark.slow
async def test_a_thousand_services_and_ten_thousand_pods(api: LocalApi) -> None:
    ns = api.namespace("scale")
    services, pods = find("", "v1", "services"), find("", "v1", "pods")
    assert services is not None and pods is not None

    def populate() -> None:
        for s in range(1000):
            body = headless(f"svc-{s}", selector={"app": f"svc-{s}"})
            api.store.create(services, ns, body)
            for p in range(10):
                n = s * 10 + p
                ip = f"10.{100 + n // 62500}.{n // 250 % 250}.{n % 250 + 1}"
                api.store.create(
                    pods,
                    ns,
                    {
                        "metadata": {"name": f"svc-{s}-{p}", "labels": {"app": f"svc-{s}", "tier": "web"}},
                        "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]},
                        "status": {
                            "phase": "Running",
                            "podIP": ip,
                            "conditions": [{"type": "Ready", "status": "True"}],
                        },
                    },
                )

    api.call(populate)
    async with controller(api) as (running, client):
        started = asyncio.get_running_loop().time()
        await eventually(lambda: _true(running.idle), timeout=60)
        took = asyncio.get_running_loop().time() - started
        items, _ = await client.list(ENDPOINT_SLICES, ns)
        assert len(items) == 1000 and sum(len(s["endpoints"]) for s in items) == 10_000
        assert running.writes == 1000 and took < 30
        writes = running.writes
        await set_ready(client, ns, "svc-500-3", False)

        async def flipped() -> bool:
            return running.writes == writes + 1 and running.idle

        await eventually(flipped, timeout=5)
