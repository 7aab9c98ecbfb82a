"""`petdns explain` over a table of broken clusters, each written as users write it (a headless Service,
StatefulSet-style pods with hostname and subdomain, the EndpointSlice as the controller writes it):
the verdict, the fix and the near misses; and every verdict agrees with petdns's own answer."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import yaml

from kubeapi.manifests import documents
from petdns.explain.objects import parse_type, view_of
from petdns.explain.report import Diagnosis
from petdns.explain.search import explain
from petdns.schema.lookup import lookup
from petdns.settings.values import Settings
from tests.support.pets import Cluster, Pet
from tests.test_layering import IO, MODULES, imports

IMPURE = ("kubeapi.client", "petdns.serve", "petdns.answer", "petdns.forward", "petdns.app", "petdns.cli")

PET = "web-0.nginx.default.svc.cluster.local"
OK = Cluster()
NOT_READY = OK.with_pet(0, ready=False)


@dataclass(frozen=True)
class Row:
    id: str
    cluster: Cluster
    verdict: str  # a part of the verdict line
    name: str = PET
    qtype: str = "A"
    namespace: str = "default"
    resolves: bool = False
    fix: str = ""  # a part of the fix
    causes: tuple[str, ...] = ()  # parts of other causes (combinations)
    notes: tuple[str, ...] = ()
    did_you_mean: tuple[str, ...] = ()
    without_pods: bool = False  # the objects a server that does not watch pods has


ROWS = [
    Row("healthy", OK, f"{PET} A resolves: 1 record", resolves=True),
    Row(
        "subdomain typo",
        OK.with_pet(0, subdomain="ngnix"),
        "pod web-0 has subdomain 'ngnix'; the headless service is 'nginx'",
        fix="set spec.subdomain: nginx",
    ),
    Row(
        "subdomain unset",
        OK.with_pet(0, subdomain=""),
        "pod web-0 has no spec.subdomain; the headless service is 'nginx'",
        fix="set spec.subdomain: nginx",
    ),
    Row(
        "hostname unset",
        OK.with_pet(0, hostname=""),
        "pod web-0 has no spec.hostname",
        fix="set spec.hostname: web-0",
    ),
    Row(
        "not headless: the pet name still resolves, with a warning",
        replace(OK, cluster_ip="10.96.0.50"),
        f"{PET} A resolves",
        resolves=True,
        notes=("service 'nginx' is not headless (clusterIP 10.96.0.50)",),
    ),
    Row(
        "not headless: SRV targets the service",
        replace(OK, cluster_ip="10.96.0.50"),
        "resolves: 1 record",
        name="_web._tcp.nginx.default.svc.cluster.local",
        qtype="SRV",
        resolves=True,
        notes=("its SRV records target the service, not the pets",),
    ),
    Row(
        "selector misses the pod's labels",
        OK.with_pet(0, app="ngnix"),
        "service 'nginx' selects app=nginx; pod web-0 has labels app=ngnix",
        fix="spec.selector match the pod's labels",
    ),
    Row(
        "selector misses every pod: the service name does not exist",
        replace(OK, selector="nginx-pets"),
        "service 'nginx' selects app=nginx-pets; no pod in namespace 'default' has those labels",
        name="nginx.default.svc.cluster.local",
        causes=("headless service 'nginx' has no endpoints",),
    ),
    Row(
        "not ready, publishNotReadyAddresses false",
        NOT_READY,
        "endpoint web-0 (10.244.0.10) of service 'nginx' is not ready",
        fix="set publishNotReadyAddresses: true",
    ),
    Row(
        "not ready, publishNotReadyAddresses true",
        replace(NOT_READY, publish_not_ready=True),
        "resolves",
        resolves=True,
    ),
    Row(
        "no hostname in the slice, pods unknown (a server that does not watch them)",
        OK.with_pet(0, subdomain="ngnix"),
        "the endpoint of pod web-0 (10.244.0.10) has no hostname",
        fix="spec.subdomain: nginx",
        without_pods=True,
    ),
    Row(
        "typo in the service",
        OK,
        "no service 'ngnix' in namespace 'default'",
        name="web-0.ngnix.default.svc.cluster.local",
        did_you_mean=(PET,),
    ),
    Row(
        "typo in the pet",
        OK,
        "no endpoint of service 'nginx' is named 'wbe-0'",
        name="wbe-0.nginx.default.svc.cluster.local",
        did_you_mean=(PET,),
    ),
    Row(
        "typo in the zone",
        OK,
        "did you mean web-0.nginx.default.svc.cluster.local?",
        name="web-0.nginx.default.svc.cluster.locl.",
        did_you_mean=(PET,),
    ),
    Row(
        "no svc label",
        OK,
        "'default' is not a tree of cluster.local",
        name="web-0.nginx.default.cluster.local",
        did_you_mean=(PET,),
    ),
    Row(
        "wrong namespace",
        OK,
        "no service 'nginx' in namespace 'prod'; it is in namespace default",
        name="web-0.nginx.prod.svc.cluster.local",
        fix=f"ask {PET}",
        did_you_mean=(PET,),
    ),
    Row(
        "search path from another namespace (ndots)",
        OK,
        "'web-0.nginx' asked from namespace 'prod' never reaches web-0.nginx.default.svc.cluster.local",
        name="web-0.nginx",
        namespace="prod",
        fix="ask web-0.nginx.default",
    ),
    Row("search path from the same namespace", OK, f"{PET} A resolves", name="web-0.nginx", resolves=True),
    Row(
        "pods name a service that does not exist",
        replace(OK, service="web"),
        "pods web-0, web-1 have spec.subdomain 'nginx' but namespace 'default' has no service 'nginx'",
        fix="create a headless Service 'nginx'",
    ),
    Row(
        "service without a selector and no slice",
        replace(OK, selector=None, slice=False),
        "service 'nginx' has no selector: its EndpointSlices are not written for it",
        name="nginx.default.svc.cluster.local",
        causes=("headless service 'nginx' has no EndpointSlice",),
    ),
    Row(
        "AAAA of an IPv4 pet", OK, "exists but has no AAAA records (it has A, SRV)", qtype="AAAA", fix="ask A"
    ),
    Row(
        "unknown port name",
        OK,
        "service 'nginx' has no port named 'http'",
        name="_http._tcp.nginx.default.svc.cluster.local",
        qtype="SRV",
    ),
    Row(
        "port protocol",
        OK,
        "port 'web' of service 'nginx' is TCP, not UDP",
        name="_web._udp.nginx.default.svc.cluster.local",
        qtype="SRV",
        fix="ask _web._tcp.nginx.default.svc.cluster.local",
    ),
    Row(
        "PTR of a pet", OK, "resolves: 1 record", name="10.0.244.10.in-addr.arpa.", qtype="PTR", resolves=True
    ),
    Row(
        "PTR of a not-ready pet",
        NOT_READY,
        "10.244.0.10 is an endpoint of service default/nginx that is not ready",
        name="10.0.244.10.in-addr.arpa.",
        qtype="PTR",
    ),
    Row(
        "subdomain typo and not ready",
        OK.with_pet(0, subdomain="ngnix", ready=False),
        "pod web-0 has subdomain 'ngnix'",
        causes=("pod web-0 is not Ready and service 'nginx' has publishNotReadyAddresses false",),
    ),
    Row(
        "selector miss and hostname unset",
        OK.with_pet(0, app="web", hostname=""),
        "pod web-0 has no spec.hostname",
        causes=("service 'nginx' selects app=nginx; pod web-0 has labels app=web",),
    ),
    Row(
        "not headless and subdomain typo",
        replace(OK, cluster_ip="10.96.0.50").with_pet(0, subdomain="ngnix"),
        "pod web-0 has subdomain 'ngnix'",
        notes=("service 'nginx' is not headless",),
    ),
    Row(
        "pet in another namespace than its service",
        OK.with_pet(0, namespace="prod"),
        "pod web-0 (subdomain nginx) is in namespace 'prod', service 'nginx' in 'default'",
        fix="create the headless service 'nginx' in namespace 'prod'",
    ),
]


def diagnosis(tmp_path: Path, row: Row) -> tuple[Diagnosis, bool]:
    path = tmp_path / "cluster.yaml"
    text = row.cluster.yaml()
    if row.without_pods:
        text = "---\n".join(d for d in text.split("---\n") if "\nkind: Pod\n" not in d)
    path.write_text(text)
    view, skipped = view_of(documents(str(path)), Settings(), strict=True)
    assert not skipped
    qtype = parse_type(row.qtype)
    found = explain(view, row.name, qtype, namespace=row.namespace)
    answer = lookup(view.catalog, view.settings, found.name, qtype)
    return found, answer is not None and answer.rcode == 0 and bool(answer.answer)


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_verdicts(tmp_path: Path, row: Row) -> None:
    found, answered = diagnosis(tmp_path, row)
    shown = found.to_text()
    assert found.resolves is row.resolves is answered, shown
    assert row.verdict in found.verdict, shown
    assert row.fix in found.fix, shown
    messages = [c.message for c in found.causes]
    for part in row.causes:
        assert any(part in m for m in messages), shown
    for part in row.notes:
        assert any(part in n.message for n in found.notes), shown
    for name in row.did_you_mean:
        assert name in found.did_you_mean, shown
    yaml.safe_dump(found.to_json())  # plain data all the way down


def test_a_resolving_name_lists_its_records_and_the_objects_that_make_them(tmp_path: Path) -> None:
    found, _ = diagnosis(tmp_path, Row("srv", OK, "", name="nginx.default.svc.cluster.local", qtype="SRV"))
    assert [r.text for r in found.records] == [
        "nginx.default.svc.cluster.local. 5 IN SRV 0 50 80 web-0.nginx.default.svc.cluster.local.",
        "nginx.default.svc.cluster.local. 5 IN SRV 0 50 80 web-1.nginx.default.svc.cluster.local.",
    ]
    assert found.records[0].made_by == (
        "Service default/nginx",
        "EndpointSlice default/nginx-7xk2p endpoint 10.244.0.10 hostname web-0 (Pod default/web-0)",
    )
    assert [(s.level, s.label, s.ok) for s in found.steps] == [
        ("zone", "cluster.local", True),
        ("tree", "svc", True),
        ("namespace", "default", True),
        ("service", "nginx", True),
    ]


def test_pets_keep_their_names_when_a_second_pet_is_added(tmp_path: Path) -> None:
    cluster = replace(OK, pets=(*OK.pets, Pet("web-2", "10.244.2.12")))
    found, _ = diagnosis(tmp_path, Row("three", cluster, "", name="web-2.nginx.default.svc.cluster.local"))
    assert found.resolves


def test_the_explainer_is_pure() -> None:
    impure = {
        f"{module} imports {name}"
        for module, path in MODULES.items()
        if module.startswith("petdns.explain.") or module == "petdns.explain"
        for name in imports(path)
        if name.split(".")[0] in IO or name.startswith(IMPURE)
    }
    assert not impure, impure
