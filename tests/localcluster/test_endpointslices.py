"""The desired EndpointSlices of a Service and the writes that reach them (pure)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from kubeapi.labels import parse
from localcluster.controllers.endpointslices.model import (
    Pod,
    Service,
    Slice,
    pod_from_raw,
    selector_pairs,
    service_from_raw,
    slice_from_raw,
)
from localcluster.controllers.endpointslices.slices import Draft, Plan, manifest, plan, selects
from localcluster.controllers.endpointslices.tracker import SliceTracker

Obj = dict[str, Any]
NS = "default"
_uids = itertools.count(1)


def service(
    name: str = "nginx",
    *,
    selector: dict[str, str] | None = None,
    ports: list[Obj] | None = None,
    cluster_ip: str = "None",
    labels: dict[str, str] | None = None,
    publish_not_ready: bool = False,
    families: list[str] | None = None,
    uid: str = "svc-uid",
    kind: str = "ClusterIP",
) -> Service:
    spec: Obj = {
        "type": kind,
        "clusterIP": cluster_ip,
        "selector": {"app": "web"} if selector is None else selector,
        "ports": [{"name": "web", "port": 80, "protocol": "TCP", "targetPort": 80}]
        if ports is None
        else ports,
        "publishNotReadyAddresses": publish_not_ready,
    }
    if families:
        spec["ipFamilies"] = families
    meta: Obj = {"name": name, "namespace": NS, "uid": uid, "labels": labels or {}}
    return service_from_raw({"kind": "Service", "metadata": meta, "spec": spec})


def pod(
    name: str,
    ip: str | list[str] | None = "10.0.0.1",
    *,
    labels: dict[str, str] | None = None,
    ready: bool = True,
    hostname: str = "",
    subdomain: str = "",
    phase: str = "Running",
    deleting: bool = False,
    ports: list[Obj] | None = None,
    namespace: str = NS,
    uid: str = "",
) -> Pod:
    ips = [ip] if isinstance(ip, str) else ip or []
    meta: Obj = {
        "name": name,
        "namespace": namespace,
        "uid": uid or f"uid-{name}",
        "labels": {"app": "web"} if labels is None else labels,
    }
    if deleting:
        meta["deletionTimestamp"] = "2030-01-01T00:00:00Z"
    spec: Obj = {"nodeName": "node-1", "containers": [{"name": "c", "ports": ports or []}]}
    if hostname:
        spec["hostname"] = hostname
    if subdomain:
        spec["subdomain"] = subdomain
    status: Obj = {
        "phase": phase,
        "podIPs": [{"ip": a} for a in ips],
        "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
    }
    if ips:
        status["podIP"] = ips[0]
    return pod_from_raw({"kind": "Pod", "metadata": meta, "spec": spec, "status": status})


def web(count: int, *, start: int = 0) -> list[Pod]:
    return [pod(f"web-{i}", f"10.0.{i // 250}.{i % 250 + 1}") for i in range(start, start + count)]


def stored(svc: Service, draft: Draft, *, generation: int = 1) -> Slice:
    """A draft as the API server would hold it after the write."""
    raw = manifest(svc, draft)
    meta = raw["metadata"]
    meta["name"] = draft.name or f"{svc.name}-{next(_uids):05d}"
    meta.pop("generateName", None)
    meta.update(uid=f"slice-{meta['name']}", generation=generation, resourceVersion=str(next(_uids)))
    found = slice_from_raw(raw)
    assert found is not None
    return found


def apply(svc: Service, existing: list[Slice], todo: Plan) -> list[Slice]:
    """The slices after a plan is carried out."""
    gone = {s.name for s in todo.delete} | {d.name for d in todo.update}
    kept = [s for s in existing if s.name not in gone]
    return kept + [stored(svc, d) for d in [*todo.update, *todo.create]]


def converge(svc: Service, pods: list[Pod], existing: list[Slice] | None = None) -> list[Slice]:
    slices = apply(svc, existing or [], plan(svc, pods, existing or []))
    assert plan(svc, pods, slices).empty, "a second plan must find nothing to do"
    return slices


def by_pod(slices: list[Slice]) -> dict[str, tuple[str, Any]]:
    return {e.target[1]: (s.name, e) for s in slices for e in s.endpoints}


# -- the endpoints ------------------------------------------------------------------------------------


def test_one_slice_with_the_selected_pods_in_name_order() -> None:
    pods = [*web(3), pod("other", "10.0.9.9", labels={"app": "db"})]
    pods.append(pod("elsewhere", "10.0.9.8", namespace="other"))
    todo = plan(service(), pods, [])
    assert not todo.update and not todo.delete
    (draft,) = todo.create
    assert draft.address_type == "IPv4"
    assert [e.target[1] for e in draft.endpoints] == ["web-0", "web-1", "web-2"]
    assert draft.endpoints[0].addresses == ("10.0.0.1",)
    assert draft.endpoints[0].node == "node-1"
    assert draft.endpoints[0].target == (NS, "web-0", "uid-web-0")


@pytest.mark.parametrize(
    ("hostname", "subdomain", "expected"),
    [
        ("web-0", "nginx", "web-0"),  # hostname and the Service as subdomain
        ("web-0", "other", ""),  # another subdomain
        ("web-0", "", ""),  # no subdomain
        ("", "nginx", ""),  # no hostname
    ],
)
def test_hostname_only_with_the_service_as_subdomain(hostname: str, subdomain: str, expected: str) -> None:
    (draft,) = plan(service(), [pod("web-0", hostname=hostname, subdomain=subdomain)], []).create
    assert draft.endpoints[0].hostname == expected
    raw = manifest(service(), draft)["endpoints"][0]
    assert raw.get("hostname", "") == expected


@pytest.mark.parametrize(
    ("phase", "ip", "included"),
    [
        ("Running", "10.0.0.1", True),
        ("Pending", "10.0.0.1", True),
        ("Running", None, False),  # no IP yet
        ("Failed", "10.0.0.1", False),
        ("Succeeded", "10.0.0.1", False),
    ],
)
def test_pods_without_an_ip_or_finished_are_skipped(phase: str, ip: str | None, included: bool) -> None:
    (draft,) = plan(service(), [pod("web-0", ip, phase=phase)], []).create
    assert len(draft.endpoints) == (1 if included else 0)


@pytest.mark.parametrize(
    ("ready", "deleting", "publish", "conditions"),
    [
        (True, False, False, (True, True, False)),
        (False, False, False, (False, False, False)),
        (True, True, False, (False, True, True)),  # terminating: serving but not ready
        (False, True, False, (False, False, True)),
        (False, False, True, (True, False, False)),  # publishNotReadyAddresses: always ready
        (True, True, True, (True, True, True)),
    ],
)
def test_conditions(ready: bool, deleting: bool, publish: bool, conditions: tuple[bool, bool, bool]) -> None:
    svc = service(publish_not_ready=publish)
    (draft,) = plan(svc, [pod("web-0", ready=ready, deleting=deleting)], []).create
    endpoint = draft.endpoints[0]
    assert (endpoint.ready, endpoint.serving, endpoint.terminating) == conditions
    raw = manifest(svc, draft)["endpoints"][0]["conditions"]
    assert raw == dict(zip(("ready", "serving", "terminating"), conditions, strict=True))


# -- ports ------------------------------------------------------------------------------------------------


def test_ports_resolve_numbers_and_names_and_split_pods_that_differ() -> None:
    svc = service(
        ports=[
            {"name": "http", "port": 80, "protocol": "TCP", "targetPort": "http", "appProtocol": "http"},
            {"name": "metrics", "port": 9100, "protocol": "TCP", "targetPort": 9100},
        ]
    )
    pods = [
        pod("a", "10.0.0.1", ports=[{"name": "http", "containerPort": 8080, "protocol": "TCP"}]),
        pod("b", "10.0.0.2", ports=[{"name": "http", "containerPort": 8080, "protocol": "TCP"}]),
        pod("c", "10.0.0.3", ports=[{"name": "http", "containerPort": 9090, "protocol": "TCP"}]),
        pod("d", "10.0.0.4", ports=[{"name": "http", "containerPort": 8080, "protocol": "UDP"}]),
        pod("e", "10.0.0.5"),
    ]
    slices = converge(svc, pods)
    got = {tuple(e.target[1] for e in s.endpoints): [(p.name, p.port) for p in s.ports] for s in slices}
    assert got == {
        ("a", "b"): [("http", 8080), ("metrics", 9100)],
        ("c",): [("http", 9090), ("metrics", 9100)],
        ("d", "e"): [("metrics", 9100)],  # no TCP port named http: that port is left out for them
    }
    raw = manifest(svc, plan(svc, pods[:1], []).create[0])
    assert raw["ports"] == [
        {"name": "http", "port": 8080, "protocol": "TCP", "appProtocol": "http"},
        {"name": "metrics", "port": 9100, "protocol": "TCP"},
    ]


def test_a_headless_service_without_ports() -> None:
    (draft,) = plan(service(ports=[]), web(1), []).create
    assert draft.ports == () and "ports" not in manifest(service(ports=[]), draft)


# -- metadata ----------------------------------------------------------------------------------------


def test_labels_owner_and_generate_name() -> None:
    labels = {"team": "a", "kubernetes.io/service-name": "spoof", "service.kubernetes.io/headless": "x"}
    svc = service(labels=labels)
    raw = manifest(svc, plan(svc, web(1), []).create[0])
    meta = raw["metadata"]
    assert meta["generateName"] == "nginx-" and "name" not in meta
    assert meta["labels"] == {
        "team": "a",
        "kubernetes.io/service-name": "nginx",
        "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
        "service.kubernetes.io/headless": "",
    }
    assert meta["ownerReferences"] == [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "name": "nginx",
            "uid": "svc-uid",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    assert raw["apiVersion"] == "discovery.k8s.io/v1" and raw["kind"] == "EndpointSlice"
    clustered = service(cluster_ip="10.96.1.1")
    labels_of = manifest(clustered, plan(clustered, web(1), []).create[0])["metadata"]["labels"]
    assert "service.kubernetes.io/headless" not in labels_of


def test_a_service_label_change_rewrites_labels_only() -> None:
    svc = service()
    slices = converge(svc, web(3))
    relabelled = service(labels={"tier": "front"})
    todo = plan(relabelled, web(3), slices)
    assert not todo.create and not todo.delete
    (draft,) = todo.update
    assert draft.name == slices[0].name and draft.endpoints == list(slices[0].endpoints)
    assert manifest(relabelled, draft)["metadata"]["labels"]["tier"] == "front"


# -- sizes and families ------------------------------------------------------------------------------


def test_at_most_100_endpoints_per_slice() -> None:
    todo = plan(service(), web(250), [])
    assert [len(d.endpoints) for d in todo.create] == [100, 100, 50]
    assert len({e.target[1] for d in todo.create for e in d.endpoints}) == 250
    assert [len(d.endpoints) for d in plan(service(), web(7), [], max_endpoints=3).create] == [3, 3, 1]


def test_address_families() -> None:
    dual = [pod(f"web-{i}", [f"10.0.0.{i + 1}", f"fd00::{i + 1}"]) for i in range(2)]
    single = plan(service(), dual, []).create
    assert [(d.address_type, len(d.endpoints)) for d in single] == [("IPv4", 2)]
    both = plan(service(families=["IPv4", "IPv6"]), dual, []).create
    assert [(d.address_type, len(d.endpoints)) for d in both] == [("IPv4", 2), ("IPv6", 2)]
    assert both[1].endpoints[0].addresses == ("fd00::1",)
    v6_only = plan(service(families=["IPv6"], cluster_ip="fd00:96::1"), dual, []).create
    assert [d.address_type for d in v6_only] == ["IPv6"]
    # a dual-stack Service whose pods have no IPv6 address: an empty IPv6 placeholder
    v4_pods = plan(service(families=["IPv4", "IPv6"]), web(2), []).create
    assert [(d.address_type, len(d.endpoints)) for d in v4_pods] == [("IPv4", 2), ("IPv6", 0)]
    # dropping a family deletes its slices
    svc = service(families=["IPv4", "IPv6"])
    slices = converge(svc, dual)
    todo = plan(service(), dual, slices)
    assert [s.address_type for s in todo.delete] == ["IPv6"] and not todo.create and not todo.update


# -- diffs --------------------------------------------------------------------------------------------


def test_unchanged_slices_are_not_written() -> None:
    slices = converge(service(), web(250))
    assert len(slices) == 3
    assert plan(service(), list(reversed(web(250))), slices).empty


def test_a_pod_change_rewrites_only_its_slice() -> None:
    slices = converge(service(), web(250))
    pods = web(250)
    pods[120] = pod("web-120", "10.0.0.121", ready=False)
    holder = by_pod(slices)["web-120"][0]
    todo = plan(service(), pods, slices)
    assert not todo.create and not todo.delete
    (draft,) = todo.update
    assert draft.name == holder
    assert len(draft.endpoints) == 100
    assert [e.target[1] for e in draft.endpoints] == [
        e.target[1] for e in next(s for s in slices if s.name == holder).endpoints
    ]
    after = apply(service(), slices, todo)
    assert by_pod(after)["web-120"][1].ready is False
    assert {n: s for n, (s, _) in by_pod(after).items()} == {n: s for n, (s, _) in by_pod(slices).items()}


def test_new_pods_fill_existing_slices_before_new_ones() -> None:
    slices = converge(service(), web(150))  # 100 + 50
    todo = plan(service(), web(180), slices)
    assert not todo.create and not todo.delete
    (draft,) = todo.update
    assert len(draft.endpoints) == 80
    # the best fit: 30 new endpoints go to the slice they fill most closely
    small = converge(service(), web(60))
    small = [*small, *converge(service(), web(90, start=200))[:1]]  # slices of 60 and 90 endpoints
    todo = plan(service(), [*web(60), *web(90, start=200), *web(5, start=400)], small)
    (draft,) = todo.update
    assert len(draft.endpoints) == 95 and not todo.create


def test_removed_pods_shrink_their_slice_and_empty_slices_go() -> None:
    slices = converge(service(), web(150))
    full = next(s for s in slices if len(s.endpoints) == 100)
    small = next(s for s in slices if len(s.endpoints) == 50)
    in_full = {e.target[1] for e in full.endpoints}
    todo = plan(service(), [p for p in web(150) if p.name in in_full], slices)
    assert [s.name for s in todo.delete] == [small.name] and not todo.update and not todo.create
    todo = plan(service(), [p for p in web(150) if p.name in in_full and p.name != "web-0"], slices)
    assert [d.name for d in todo.update] == [full.name] and [s.name for s in todo.delete] == [small.name]
    assert len(todo.update[0].endpoints) == 99


def test_no_pods_left_keeps_one_placeholder() -> None:
    slices = converge(service(), web(150))
    todo = plan(service(), [], slices)
    assert not todo.create and len(todo.update) == 1 and len(todo.delete) == 1
    (draft,) = todo.update
    assert draft.endpoints == [] and draft.ports == () and draft.name in {s.name for s in slices}
    raw = manifest(service(), draft)
    assert raw["endpoints"] == [] and "ports" not in raw
    placeholder = apply(service(), slices, todo)
    assert len(placeholder) == 1
    assert plan(service(), [], placeholder).empty  # the placeholder stays as it is
    # pods coming back reuse the placeholder
    todo = plan(service(), web(2), placeholder)
    assert not todo.create and not todo.delete and todo.update[0].name == placeholder[0].name


def test_duplicates_stale_and_foreign_owner_slices() -> None:
    svc = service()
    slices = converge(svc, web(3))
    copy = stored(svc, Draft("IPv4", slices[0].ports, list(slices[0].endpoints[:2])))
    todo = plan(svc, web(3), [*slices, copy])
    assert [s.name for s in todo.delete] == [max(copy.name, slices[0].name)]
    assert not todo.create and not todo.update
    old_owner = stored(service(uid="old-uid"), Draft("IPv4", slices[0].ports, list(slices[0].endpoints)))
    todo = plan(svc, web(3), [old_owner])
    assert [s.name for s in todo.delete] == [old_owner.name]  # another Service's slice is never reused
    assert len(todo.create) == 1


def test_a_slice_with_foreign_content_is_rewritten() -> None:
    svc = service()
    (found,) = converge(svc, web(2))
    raw = manifest(svc, Draft("IPv4", found.ports, list(found.endpoints), found.name))
    raw["endpoints"][0]["zone"] = "elsewhere"
    raw["metadata"].update(uid=found.uid, generation=2, resourceVersion="99")
    edited = slice_from_raw(raw)
    assert edited is not None and not edited.canonical
    todo = plan(svc, web(2), [edited])
    assert [d.name for d in todo.update] == [found.name] and not todo.create and not todo.delete
    assert "zone" not in manifest(svc, todo.update[0])["endpoints"][0]


@pytest.mark.parametrize(
    "svc",
    [service(selector={}), service(kind="ExternalName", selector={"app": "web"})],
    ids=["no-selector", "external-name"],
)
def test_services_without_a_selector_get_no_slices(svc: Service) -> None:
    assert svc.selector is None
    assert plan(svc, web(3), []).empty
    managed = converge(service(), web(3))
    assert plan(svc, web(3), managed).delete == managed


def test_slices_being_deleted_are_ignored_and_a_deleting_service_gets_no_new_ones() -> None:
    svc = service()
    (found,) = converge(svc, web(1))
    raw = manifest(svc, Draft("IPv4", found.ports, list(found.endpoints), found.name))
    raw["metadata"].update(uid=found.uid, deletionTimestamp="2030-01-01T00:00:00Z")
    going = slice_from_raw(raw)
    assert going is not None
    assert len(plan(svc, web(1), [going]).create) == 1
    assert (
        plan(
            service_from_raw(
                {
                    "metadata": {"name": "nginx", "deletionTimestamp": "x"},
                    "spec": {"selector": {"app": "web"}},
                }
            ),
            web(1),
            [],
        ).create
        == []
    )


def test_only_managed_slices_are_read() -> None:
    assert slice_from_raw({"metadata": {"name": "x", "labels": {"kubernetes.io/service-name": "s"}}}) is None
    labels = {
        "kubernetes.io/service-name": "s",
        "endpointslice.kubernetes.io/managed-by": "someone-else",
    }
    assert slice_from_raw({"metadata": {"name": "x", "labels": labels}}) is None


def test_a_service_selector_is_a_label_selector_of_its_pairs() -> None:
    svc = service(selector={"tier": "front", "app": "web"})
    assert svc.selector == parse("app=web,tier=front")
    assert selector_pairs(svc.selector) == (("app", "web"), ("tier", "front"))
    assert selects(svc, pod("a", labels={"app": "web", "tier": "front", "x": "y"}))
    assert not selects(svc, pod("b", labels={"app": "web"}))
    assert not selects(svc, pod("c", labels={"app": "web", "tier": "front"}, namespace="other"))


def test_the_tracker_tells_own_writes_from_others() -> None:
    svc = service()
    (found,) = converge(svc, web(1))
    key = (NS, svc.name)
    tracker = SliceTracker()
    assert tracker.should_sync(key, found) and not tracker.stale(key, [found])
    tracker.wrote(key, found.uid, found.generation + 1)
    assert not tracker.should_sync(key, found) and tracker.stale(key, [found])  # the cache lags
    tracker.wrote(key, found.uid, found.generation)
    assert not tracker.stale(key, [found])
    tracker.deleted(key, found.uid)
    assert tracker.stale(key, [found]) and tracker.stale(key, []) is False
    assert tracker.handle_deletion(key, found.uid)  # its own delete: nothing to do
    assert not tracker.handle_deletion(key, found.uid)  # someone else's: the Service needs it back
