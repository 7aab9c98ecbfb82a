"""Generate a synthetic cluster for the DNS benchmark, deterministically from a seed.

Shape: headless services whose pets are StatefulSet-style endpoints (hostname = pod name
``<svc>-<i>``, ready, targetRef Pod, one named port ``http`` 80/TCP) plus ClusterIP services
(one named port ``http`` 80/TCP, no EndpointSlices), spread round-robin over namespaces.

Files written into the output directory:

- ``objects.json``: a ``v1 List`` of Namespaces, Services and EndpointSlices (at most
  100 endpoints per slice), the input ``petdns serve --objects`` loads.
- ``cluster.local.zone`` and ``10.in-addr.arpa.zone``: the same records as zone files (TTL 5)
  for the C peers and for the answer check.
- ``queries.txt``: dnsperf input, shuffled: ~60% per-pet A, ~15% ``_http._tcp`` SRV, ~5%
  headless service A, ~5% ClusterIP A, ~5% PTR, ~10% names that do not exist (NXDOMAIN).
- ``storm.txt``: distinct random names under existing namespaces (all NXDOMAIN).
- ``params.json``: the parameters, so a driver can tell whether the files are current.

IP plan: pods from 10.244.0.0/14, ClusterIPs from 10.96.1.1 on (inside 10.96.0.0/12), so a
single ``10.in-addr.arpa`` zone covers every PTR.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ZONE = "cluster.local"
TTL = 5
SERIAL = 1
PORT_NAME = "http"
PORT = 80
SLICE_MAX = 100
NS_GLUE = "127.0.0.1"
SLICE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
STORM_FIRST = "abcdefghijklmnopqrstuvwxyz"
STORM_REST = STORM_FIRST + "0123456789"

# query mix in percent: (kind, weight)
MIX: tuple[tuple[str, int], ...] = (
    ("pet", 60),
    ("srv", 15),
    ("headless", 5),
    ("clusterip", 5),
    ("ptr", 5),
    ("nx", 10),
)


@dataclass(frozen=True)
class Spec:
    """What to generate. ``clusterip`` < 0 means one tenth of ``services``."""

    services: int = 1000
    endpoints: int = 10000
    clusterip: int = -1
    namespaces: int = 20
    queries: int = 50000
    storm: int = 1_000_000
    seed: int = 1
    objects_only: bool = False

    @property
    def n_clusterip(self) -> int:
        return self.services // 10 if self.clusterip < 0 else self.clusterip

    @property
    def n_headless(self) -> int:
        return self.services - self.n_clusterip


@dataclass(frozen=True)
class Pet:
    name: str
    ip: str


@dataclass
class Service:
    name: str
    namespace: str
    cluster_ip: str | None  # None: headless
    pets: list[Pet] = field(default_factory=list)

    @property
    def fqdn(self) -> str:
        return f"{self.name}.{self.namespace}.svc.{ZONE}"

    def pet_fqdn(self, pet: Pet) -> str:
        return f"{pet.name}.{self.fqdn}"


def validate(spec: Spec) -> None:
    if spec.n_headless < 1 or spec.n_clusterip < 0:
        raise ValueError("need at least one headless service and a non-negative ClusterIP count")
    if spec.endpoints < spec.n_headless:
        raise ValueError("every headless service needs at least one endpoint: raise --endpoints")
    if not 1 <= spec.namespaces <= spec.n_headless:
        raise ValueError("namespaces must be between 1 and the number of headless services")


def pod_ip(n: int) -> str:
    """The n-th pod address in 10.244.0.0/14, skipping .0 and .255."""
    third, fourth = divmod(n, 254)
    return f"10.{244 + third // 256}.{third % 256}.{fourth + 1}"


def cluster_ip(n: int) -> str:
    """The n-th ClusterIP, from 10.96.1.1 on, skipping .0 and .255."""
    third, fourth = divmod(n, 254)
    return f"10.{96 + (third + 1) // 256}.{(third + 1) % 256}.{fourth + 1}"


def _width(spec: Spec) -> int:
    return max(4, len(str(max(spec.n_headless, spec.n_clusterip) - 1)))


def probe_name(spec: Spec) -> str:
    """The last pet of the last headless service: answered once everything is loaded."""
    i = spec.n_headless - 1
    base, extra = divmod(spec.endpoints, spec.n_headless)
    svc = f"web-{i:0{_width(spec)}d}"
    return f"{svc}-{base + (1 if i < extra else 0) - 1}.{svc}.ns-{i % spec.namespaces:02d}.svc.{ZONE}"


def build_services(spec: Spec) -> list[Service]:
    validate(spec)
    width = _width(spec)
    base, extra = divmod(spec.endpoints, spec.n_headless)
    services: list[Service] = []
    ip_n = 0
    for i in range(spec.n_headless):
        svc = Service(f"web-{i:0{width}d}", f"ns-{i % spec.namespaces:02d}", None)
        for p in range(base + (1 if i < extra else 0)):
            svc.pets.append(Pet(f"{svc.name}-{p}", pod_ip(ip_n)))
            ip_n += 1
        services.append(svc)
    for j in range(spec.n_clusterip):
        services.append(Service(f"api-{j:0{width}d}", f"ns-{j % spec.namespaces:02d}", cluster_ip(j)))
    return services


def namespaces(services: list[Service]) -> list[str]:
    return sorted({s.namespace for s in services})


# ----------------------------------------------------------------------------- objects.json


def service_object(svc: Service) -> dict[str, Any]:
    ip = svc.cluster_ip or "None"
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": svc.name, "namespace": svc.namespace, "labels": {"app": svc.name}},
        "spec": {
            "type": "ClusterIP",
            "clusterIP": ip,
            "clusterIPs": [ip],
            "ipFamilies": ["IPv4"],
            "selector": {"app": svc.name},
            "ports": [{"name": PORT_NAME, "port": PORT, "protocol": "TCP", "targetPort": PORT}],
        },
    }


def slice_objects(svc: Service, rng: random.Random) -> Iterator[dict[str, Any]]:
    for start in range(0, len(svc.pets), SLICE_MAX):
        suffix = "".join(rng.choices(SLICE_ALPHABET, k=5))
        endpoints = [
            {
                "addresses": [pet.ip],
                "conditions": {"ready": True, "serving": True, "terminating": False},
                "hostname": pet.name,
                "targetRef": {"kind": "Pod", "name": pet.name, "namespace": svc.namespace},
            }
            for pet in svc.pets[start : start + SLICE_MAX]
        ]
        yield {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": f"{svc.name}-{suffix}",
                "namespace": svc.namespace,
                "labels": {
                    "kubernetes.io/service-name": svc.name,
                    "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
                },
            },
            "addressType": "IPv4",
            "endpoints": endpoints,
            "ports": [{"name": PORT_NAME, "port": PORT, "protocol": "TCP"}],
        }


def build_objects(services: list[Service], rng: random.Random) -> dict[str, Any]:
    items: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}} for ns in namespaces(services)
    ]
    for svc in services:
        items.append(service_object(svc))
        items.extend(slice_objects(svc, rng))
    return {"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": items}


# ----------------------------------------------------------------------------- zone files


def reverse_name(ip: str) -> str:
    return ".".join(reversed(ip.split("."))) + ".in-addr.arpa"


def records(services: list[Service]) -> Iterator[tuple[str, str, str]]:
    """(owner, type, rdata) for every service record, owners without the trailing dot."""
    srv = f"_{PORT_NAME}._tcp"
    for svc in services:
        if svc.cluster_ip is not None:
            yield svc.fqdn, "A", svc.cluster_ip
            for owner in (f"{srv}.{svc.fqdn}", svc.fqdn):
                yield owner, "SRV", f"0 100 {PORT} {svc.fqdn}."
            yield reverse_name(svc.cluster_ip), "PTR", f"{svc.fqdn}."
            continue
        weight = max(1, 100 // len(svc.pets))
        for pet in svc.pets:
            yield svc.fqdn, "A", pet.ip
            yield svc.pet_fqdn(pet), "A", pet.ip
            for owner in (f"{srv}.{svc.fqdn}", svc.fqdn):
                yield owner, "SRV", f"0 {weight} {PORT} {svc.pet_fqdn(pet)}."
            yield reverse_name(pet.ip), "PTR", f"{svc.pet_fqdn(pet)}."


def zone_header(origin: str) -> list[str]:
    return [
        f"$ORIGIN {origin}.\n",
        f"$TTL {TTL}\n",
        f"@ IN SOA ns.dns.{ZONE}. hostmaster.{ZONE}. {SERIAL} 7200 1800 86400 {TTL}\n",
        f"@ IN NS ns.dns.{ZONE}.\n",
    ]


def write_zones(services: list[Service], out: Path) -> int:
    fwd = [*zone_header(ZONE), f"ns.dns.{ZONE}. IN A {NS_GLUE}\n"]
    rev = zone_header("10.in-addr.arpa")
    n = 0
    for owner, rtype, rdata in records(services):
        (rev if rtype == "PTR" else fwd).append(f"{owner}. IN {rtype} {rdata}\n")
        n += 1
    (out / f"{ZONE}.zone").write_text("".join(fwd))
    (out / "10.in-addr.arpa.zone").write_text("".join(rev))
    return n


# ----------------------------------------------------------------------------- queries


def query_makers(services: list[Service], rng: random.Random) -> dict[str, Callable[[], str]]:
    headless = [s for s in services if s.cluster_ip is None]
    clusterip = [s for s in services if s.cluster_ip is not None]
    pets = [(s, p) for s in headless for p in s.pets]
    ns_names = namespaces(services)

    def pet() -> str:
        s, p = rng.choice(pets)
        return f"{s.pet_fqdn(p)} A"

    def ptr() -> str:
        if clusterip and rng.random() < len(clusterip) / (len(clusterip) + len(pets)):
            return f"{reverse_name(rng.choice(clusterip).cluster_ip or '')} PTR"
        return f"{reverse_name(rng.choice(pets)[1].ip)} PTR"

    def nx() -> str:
        s = rng.choice(headless)
        kind = rng.randrange(4)
        if kind == 0:  # a pet beyond the set's size
            return f"{s.name}-{len(s.pets) + rng.randrange(100)}.{s.fqdn} A"
        if kind == 1:  # unknown service in an existing namespace
            return f"nosuch-{rng.randrange(10**6)}.{rng.choice(ns_names)}.svc.{ZONE} A"
        if kind == 2:  # search-path expansion of "<svc>.<ns>" inside namespace <ns>
            return f"{s.name}.{s.namespace}.{s.namespace}.svc.{ZONE} A"
        return f"{s.name}.nosuch-ns.svc.{ZONE} A"  # unknown namespace

    return {
        "pet": pet,
        "srv": lambda: f"_{PORT_NAME}._tcp.{rng.choice(services).fqdn} SRV",
        "headless": lambda: f"{rng.choice(headless).fqdn} A",
        "clusterip": lambda: f"{rng.choice(clusterip).fqdn} A",
        "ptr": ptr,
        "nx": nx,
    }


def write_queries(services: list[Service], spec: Spec, out: Path, rng: random.Random) -> None:
    makers = query_makers(services, rng)
    mix = [(k, w) for k, w in MIX if k != "clusterip" or spec.n_clusterip > 0]
    kinds = rng.choices([k for k, _ in mix], weights=[w for _, w in mix], k=spec.queries)
    (out / "queries.txt").write_text("".join(makers[k]() + "\n" for k in kinds))


def storm_names(services: list[Service], count: int, rng: random.Random) -> Iterator[str]:
    """``count`` distinct NXDOMAIN names: 12 random characters under an existing namespace."""
    ns_names = namespaces(services)
    seen: set[str] = set()
    while len(seen) < count:
        label = rng.choice(STORM_FIRST) + "".join(rng.choices(STORM_REST, k=11))
        if label in seen:
            continue
        seen.add(label)
        yield f"{label}.{rng.choice(ns_names)}.svc.{ZONE} A\n"


def write_storm(services: list[Service], spec: Spec, out: Path, rng: random.Random) -> None:
    with (out / "storm.txt").open("w") as f:
        f.writelines(storm_names(services, spec.storm, rng))


# ----------------------------------------------------------------------------- driver


def params_path(out: Path) -> Path:
    return out / "params.json"


def read_spec(out: Path) -> Spec:
    """The parameters a cluster directory was written with."""
    params = json.loads(params_path(out).read_text())
    return Spec(**{k: v for k, v in params.items() if k in Spec.__dataclass_fields__})


def is_current(spec: Spec, out: Path) -> bool:
    try:
        return bool(json.loads(params_path(out).read_text()) == asdict(spec))
    except (OSError, ValueError):
        return False


def generate(spec: Spec, out: Path) -> list[Service]:
    """Write every file for ``spec`` into ``out``; returns the services."""
    out.mkdir(parents=True, exist_ok=True)
    params_path(out).unlink(missing_ok=True)
    services = build_services(spec)
    rng = random.Random(spec.seed)
    with (out / "objects.json").open("w") as f:
        json.dump(build_objects(services, rng), f, separators=(",", ":"))
    if not spec.objects_only:
        write_zones(services, out)
        write_queries(services, spec, out, random.Random(spec.seed + 1))
        write_storm(services, spec, out, random.Random(spec.seed + 2))
    params_path(out).write_text(json.dumps(asdict(spec), indent=1) + "\n")
    return services


def ensure(spec: Spec, out: Path) -> None:
    """Generate into ``out`` unless it already holds the files for ``spec``."""
    if not is_current(spec, out):
        generate(spec, out)


def parse_args(argv: list[str] | None) -> tuple[Spec, Path]:
    here = Path(__file__).resolve().parent
    d = Spec()
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--services", type=int, default=d.services, help="all services (headless + ClusterIP)")
    ap.add_argument("--endpoints", type=int, default=d.endpoints, help="pets, spread over headless services")
    ap.add_argument("--clusterip", type=int, default=d.clusterip, help="ClusterIP services (default 10%%)")
    ap.add_argument("--namespaces", type=int, default=d.namespaces)
    ap.add_argument("--queries", type=int, default=d.queries, help="lines in queries.txt")
    ap.add_argument("--storm", type=int, default=d.storm, help="lines in storm.txt")
    ap.add_argument("--seed", type=int, default=d.seed)
    ap.add_argument("--objects-only", action="store_true", help="write objects.json only")
    ap.add_argument("--out", type=Path, default=here / "out" / "cluster")
    a = ap.parse_args(argv)
    spec = Spec(
        services=a.services,
        endpoints=a.endpoints,
        clusterip=a.clusterip,
        namespaces=a.namespaces,
        queries=a.queries,
        storm=a.storm,
        seed=a.seed,
        objects_only=a.objects_only,
    )
    return spec, a.out


def main(argv: list[str] | None = None) -> int:
    spec, out = parse_args(argv)
    try:
        services = generate(spec, out)
    except ValueError as e:
        print(f"cluster: {e}", file=sys.stderr)
        return 2
    pets = sum(len(s.pets) for s in services)
    print(f"services={len(services)} headless={spec.n_headless} pets={pets} -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
