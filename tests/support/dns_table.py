"""The DNS conversation table: one row per question against tests/data/cluster.yaml.

Each row is run through the pure lookup, the rendered zone (fast and full paths) and the running
server over UDP and TCP. Answers are zone-file lines, compared as sets; TTL 5 unless said otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from petdns.schema.loader import load_files
from petdns.schema.model import KubeObject
from petdns.settings.values import PodsMode, Settings

CLUSTER = str(Path(__file__).parents[1] / "data" / "cluster.yaml")
NOERROR, NXDOMAIN, REFUSED = 0, 3, 5
Z = "cluster.local"

SETTINGS = {
    "default": Settings(ns_addresses=("127.0.0.1",)),
    "insecure": Settings(pods=PodsMode.INSECURE, ns_addresses=("127.0.0.1",)),
    "verified": Settings(pods=PodsMode.VERIFIED, ns_addresses=("127.0.0.1",)),
    "podnames": Settings(endpoint_pod_names=True, ns_addresses=("127.0.0.1",)),
    "ptrpets": Settings(ptr_hostname_only=True, ns_addresses=("127.0.0.1",)),
}


def objects() -> list[KubeObject]:
    """The table's cluster."""
    return load_files([CLUSTER]).objects


@dataclass(frozen=True)
class Case:
    """One question and what a conforming server answers."""

    name: str
    qtype: str
    rcode: int
    answer: frozenset[str] = field(default_factory=frozenset)
    settings: str = "default"
    additional: frozenset[str] | None = None  # None: not checked

    @property
    def id(self) -> str:
        return f"{self.settings}:{self.qtype}:{self.name}"


def rr(owner: str, rtype: str, rdata: str, ttl: int = 5) -> str:
    return f"{owner}. {ttl} IN {rtype} {rdata}"


def case(
    name: str,
    qtype: str,
    rcode: int,
    *answers: str,
    settings: str = "default",
    additional: tuple[str, ...] | None = None,
) -> Case:
    return Case(
        name,
        qtype,
        rcode,
        frozenset(answers),
        settings,
        None if additional is None else frozenset(additional),
    )


NGINX = f"nginx.default.svc.{Z}"
PEERS = f"peers.apps.svc.{Z}"
API = f"api.default.svc.{Z}"
V6_API_PTR = "0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.0.d.f.ip6.arpa"

CASES = [
    # per-pet records of a StatefulSet-style headless service
    case(f"web-0.{NGINX}", "A", NOERROR, rr(f"web-0.{NGINX}", "A", "10.244.0.10")),
    case(f"web-1.{NGINX}", "A", NOERROR, rr(f"web-1.{NGINX}", "A", "10.244.1.11")),
    case(f"web-2.{NGINX}", "A", NXDOMAIN),  # not ready: no name at all
    case(f"web-0.{NGINX}", "AAAA", NOERROR),  # NODATA
    case(f"web-0.{NGINX}", "SOA", NOERROR),
    case(f"web-0.{NGINX}", "TXT", NOERROR),
    case(f"web-0.{NGINX}", "SRV", NOERROR, rr(f"web-0.{NGINX}", "SRV", f"0 100 80 web-0.{NGINX}.")),
    case(f"web-9.{NGINX}", "A", NXDOMAIN),
    # the headless service itself
    case(NGINX, "A", NOERROR, rr(NGINX, "A", "10.244.0.10"), rr(NGINX, "A", "10.244.1.11")),
    case(NGINX, "AAAA", NOERROR),
    case(NGINX, "CNAME", NOERROR),
    case(
        NGINX,
        "SRV",
        NOERROR,
        rr(NGINX, "SRV", f"0 50 80 web-0.{NGINX}."),
        rr(NGINX, "SRV", f"0 50 80 web-1.{NGINX}."),
    ),
    case(
        f"_web._tcp.{NGINX}",
        "SRV",
        NOERROR,
        rr(f"_web._tcp.{NGINX}", "SRV", f"0 50 80 web-0.{NGINX}."),
        rr(f"_web._tcp.{NGINX}", "SRV", f"0 50 80 web-1.{NGINX}."),
        additional=(rr(f"web-0.{NGINX}", "A", "10.244.0.10"), rr(f"web-1.{NGINX}", "A", "10.244.1.11")),
    ),
    case(f"web.tcp.{NGINX}", "SRV", NXDOMAIN),  # RFC 2782 names only: the underscores are required
    case(f"_web._tcp.{NGINX}", "A", NOERROR),
    case(f"_web._udp.{NGINX}", "SRV", NXDOMAIN),
    case(f"_http._tcp.{NGINX}", "SRV", NXDOMAIN),
    case(f"_tcp.{NGINX}", "SRV", NXDOMAIN),  # empty non-terminal, as CoreDNS
    case(f"_web._tcp.web-0.{NGINX}", "SRV", NXDOMAIN),  # too long
    case(f"a.b.c.{NGINX}", "A", NXDOMAIN),
    # dual-stack pets (publishNotReadyAddresses folded into ready by the slice controller; nil = ready)
    case(f"peer-0.{PEERS}", "A", NOERROR, rr(f"peer-0.{PEERS}", "A", "10.244.3.20")),
    case(f"peer-0.{PEERS}", "AAAA", NOERROR, rr(f"peer-0.{PEERS}", "AAAA", "fd00:244::20")),
    case(f"peer-1.{PEERS}", "AAAA", NOERROR, rr(f"peer-1.{PEERS}", "AAAA", "fd00:244::21")),
    case(PEERS, "AAAA", NOERROR, rr(PEERS, "AAAA", "fd00:244::20"), rr(PEERS, "AAAA", "fd00:244::21")),
    case(
        f"_gossip._tcp.{PEERS}",
        "SRV",
        NOERROR,
        rr(f"_gossip._tcp.{PEERS}", "SRV", f"0 25 7000 peer-0.{PEERS}."),
        rr(f"_gossip._tcp.{PEERS}", "SRV", f"0 25 7000 peer-1.{PEERS}."),
    ),
    # endpoints without hostnames: dashed IP, or pod name with endpoint_pod_names; slice port = target port
    case(
        f"10-244-4-30.nohost.default.svc.{Z}",
        "A",
        NOERROR,
        rr(f"10-244-4-30.nohost.default.svc.{Z}", "A", "10.244.4.30"),
    ),
    case(f"nohost-abc.nohost.default.svc.{Z}", "A", NXDOMAIN),
    case(
        f"nohost-abc.nohost.default.svc.{Z}",
        "A",
        NOERROR,
        rr(f"nohost-abc.nohost.default.svc.{Z}", "A", "10.244.4.30"),
        settings="podnames",
    ),
    case(f"10-244-4-30.nohost.default.svc.{Z}", "A", NXDOMAIN, settings="podnames"),
    case(
        f"_http._tcp.nohost.default.svc.{Z}",
        "SRV",
        NOERROR,
        rr(f"_http._tcp.nohost.default.svc.{Z}", "SRV", f"0 50 8080 10-244-4-30.nohost.default.svc.{Z}."),
        rr(f"_http._tcp.nohost.default.svc.{Z}", "SRV", f"0 50 8080 10-244-4-31.nohost.default.svc.{Z}."),
    ),
    # headless with no ready endpoint; headless without ports
    case(f"lonely.default.svc.{Z}", "A", NXDOMAIN),
    case(f"lonely-0.lonely.default.svc.{Z}", "A", NXDOMAIN),
    case(f"noports.default.svc.{Z}", "A", NOERROR, rr(f"noports.default.svc.{Z}", "A", "10.244.6.50")),
    case(f"noports.default.svc.{Z}", "SRV", NOERROR),
    case(
        f"np-0.noports.default.svc.{Z}", "A", NOERROR, rr(f"np-0.noports.default.svc.{Z}", "A", "10.244.6.50")
    ),
    # ClusterIP services, dual-stack, named and unnamed ports
    case(API, "A", NOERROR, rr(API, "A", "10.96.0.10")),
    case(API, "AAAA", NOERROR, rr(API, "AAAA", "fd00:96::10")),
    case(API, "TXT", NOERROR),
    case(
        f"_http._tcp.{API}",
        "SRV",
        NOERROR,
        rr(f"_http._tcp.{API}", "SRV", f"0 50 80 {API}."),
        additional=(rr(API, "A", "10.96.0.10"), rr(API, "AAAA", "fd00:96::10")),
    ),
    case(f"_dns._udp.{API}", "SRV", NOERROR, rr(f"_dns._udp.{API}", "SRV", f"0 50 53 {API}.")),
    case(f"_dns._tcp.{API}", "SRV", NXDOMAIN),
    case(
        API,
        "SRV",
        NOERROR,
        rr(API, "SRV", f"0 16 80 {API}."),
        rr(API, "SRV", f"0 16 53 {API}."),
        rr(API, "SRV", f"0 16 9090 {API}."),
    ),
    case(f"x.{API}", "A", NXDOMAIN),
    case(
        f"be-0.backend.default.svc.{Z}", "A", NOERROR, rr(f"be-0.backend.default.svc.{Z}", "A", "10.244.7.60")
    ),
    case(f"backend.default.svc.{Z}", "A", NOERROR, rr(f"backend.default.svc.{Z}", "A", "10.96.0.20")),
    # ExternalName
    case(f"ext.default.svc.{Z}", "A", NOERROR, rr(f"ext.default.svc.{Z}", "CNAME", "example.com.")),
    case(f"ext.default.svc.{Z}", "CNAME", NOERROR, rr(f"ext.default.svc.{Z}", "CNAME", "example.com.")),
    case(f"ext.default.svc.{Z}", "SRV", NOERROR),
    case(f"www.ext.default.svc.{Z}", "A", NXDOMAIN),
    case(f"_http._tcp.ext.default.svc.{Z}", "SRV", NXDOMAIN),
    case(
        f"alias.default.svc.{Z}",
        "A",
        NOERROR,
        rr(f"alias.default.svc.{Z}", "CNAME", f"{API}."),
        rr(API, "A", "10.96.0.10"),
    ),
    case(f"ipext.default.svc.{Z}", "A", NXDOMAIN),
    # reverse lookups: ClusterIPs, ready endpoints (one PTR per selecting service), IPv6
    case(
        "10.0.244.10.in-addr.arpa", "PTR", NOERROR, rr("10.0.244.10.in-addr.arpa", "PTR", f"web-0.{NGINX}.")
    ),
    case("10.0.96.10.in-addr.arpa", "PTR", NOERROR, rr("10.0.96.10.in-addr.arpa", "PTR", f"{API}.")),
    case(V6_API_PTR, "PTR", NOERROR, rr(V6_API_PTR, "PTR", f"{API}.")),
    case(
        "70.8.244.10.in-addr.arpa",
        "PTR",
        NOERROR,
        rr("70.8.244.10.in-addr.arpa", "PTR", f"s-0.shared-a.default.svc.{Z}."),
        rr("70.8.244.10.in-addr.arpa", "PTR", f"10-244-8-70.shared-b.default.svc.{Z}."),
    ),
    case("12.2.244.10.in-addr.arpa", "PTR", NXDOMAIN),  # not ready
    # ptr_hostname_only: a pet's IP answers only its pet names; other IPs as before
    case(
        "70.8.244.10.in-addr.arpa",
        "PTR",
        NOERROR,
        rr("70.8.244.10.in-addr.arpa", "PTR", f"s-0.shared-a.default.svc.{Z}."),
        settings="ptrpets",
    ),
    case(
        "10.0.244.10.in-addr.arpa",
        "PTR",
        NOERROR,
        rr("10.0.244.10.in-addr.arpa", "PTR", f"web-0.{NGINX}."),
        settings="ptrpets",
    ),
    case(
        "10.0.96.10.in-addr.arpa",
        "PTR",
        NOERROR,
        rr("10.0.96.10.in-addr.arpa", "PTR", f"{API}."),
        settings="ptrpets",
    ),
    case("1.1.1.1.in-addr.arpa", "PTR", NXDOMAIN),
    case("10.0.244.10.in-addr.arpa", "A", NOERROR),
    case(
        "in-addr.arpa",
        "SOA",
        NOERROR,
        rr("in-addr.arpa", "SOA", "ns.dns.in-addr.arpa. hostmaster.in-addr.arpa. SERIAL 7200 1800 86400 5"),
    ),
    # namespaces, trees, apex, schema version, too-short and unknown names
    case(f"default.svc.{Z}", "A", NOERROR),
    case(f"quiet.svc.{Z}", "A", NOERROR),  # a namespace without services exists
    case(f"missing.svc.{Z}", "A", NXDOMAIN),
    case(f"svc.{Z}", "A", NOERROR),
    case(f"pod.{Z}", "A", NOERROR),
    case(Z, "SOA", NOERROR, rr(Z, "SOA", f"ns.dns.{Z}. hostmaster.{Z}. SERIAL 7200 1800 86400 5")),
    case(Z, "NS", NOERROR, rr(Z, "NS", f"ns.dns.{Z}."), additional=(rr(f"ns.dns.{Z}", "A", "127.0.0.1"),)),
    case(Z, "A", NOERROR),
    case(Z, "TXT", NOERROR),
    case(f"ns.dns.{Z}", "A", NOERROR, rr(f"ns.dns.{Z}", "A", "127.0.0.1")),
    case(f"dns-version.{Z}", "TXT", NOERROR, rr(f"dns-version.{Z}", "TXT", '"1.1.0"', ttl=28800)),
    case(f"dns-version.{Z}", "A", NOERROR),
    case(f"foo.{Z}", "A", NXDOMAIN),
    case(f"nginx.default.{Z}", "A", NXDOMAIN),
    # pod records in the three modes
    case(f"10-244-0-10.default.pod.{Z}", "A", NXDOMAIN),
    case(f"default.pod.{Z}", "A", NXDOMAIN),
    case(
        f"1-2-3-4.default.pod.{Z}",
        "A",
        NOERROR,
        rr(f"1-2-3-4.default.pod.{Z}", "A", "1.2.3.4"),
        settings="insecure",
    ),
    case(f"1-2-3-4.default.pod.{Z}", "AAAA", NOERROR, settings="insecure"),
    case(
        f"fd00--1.quiet.pod.{Z}",
        "AAAA",
        NOERROR,
        rr(f"fd00--1.quiet.pod.{Z}", "AAAA", "fd00::1"),
        settings="insecure",
    ),
    case(f"not-an-ip.default.pod.{Z}", "A", NXDOMAIN, settings="insecure"),
    case(f"1-2-3-4.missing.pod.{Z}", "A", NXDOMAIN, settings="insecure"),
    case(f"default.pod.{Z}", "A", NOERROR, settings="insecure"),
    case(
        f"10-244-0-10.default.pod.{Z}",
        "A",
        NOERROR,
        rr(f"10-244-0-10.default.pod.{Z}", "A", "10.244.0.10"),
        settings="verified",
    ),
    case(
        f"fd00-244--80.default.pod.{Z}",
        "AAAA",
        NOERROR,
        rr(f"fd00-244--80.default.pod.{Z}", "AAAA", "fd00:244::80"),
        settings="verified",
    ),
    case(f"1-2-3-4.default.pod.{Z}", "A", NXDOMAIN, settings="verified"),
    case(f"10-244-9-90.default.pod.{Z}", "A", NXDOMAIN, settings="verified"),  # terminating
    case(f"10-244-0-10.apps.pod.{Z}", "A", NXDOMAIN, settings="verified"),  # other namespace
    # outside every served zone
    case("example.com", "A", REFUSED),
    case("notcluster.local", "A", REFUSED),
]
