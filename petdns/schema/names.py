"""Pure query-name parser: which node of the cluster-DNS schema a lower-case name denotes."""

from __future__ import annotations

import enum
import ipaddress
from dataclasses import dataclass

from petdns.settings.values import REVERSE_ZONES


class Kind(enum.Enum):
    """What a name denotes."""

    OUTSIDE = "outside"  # not in any served zone
    NONE = "none"  # in a zone, but the grammar has no such node
    APEX = "apex"
    TREE = "tree"  # svc.<zone> or pod.<zone>
    NAMESPACE = "namespace"  # <ns>.svc.<zone> or <ns>.pod.<zone>
    SERVICE = "service"
    ENDPOINT = "endpoint"
    PORT = "port"  # _port._proto.<svc>.<ns>.svc.<zone>
    POD = "pod"  # <dashed-ip>.<ns>.pod.<zone>
    DNS_VERSION = "dns-version"
    NS_HOST = "ns-host"  # ns.dns.<zone>
    REVERSE = "reverse"  # a full IPv4 or IPv6 reverse name


@dataclass(frozen=True, slots=True)
class Parsed:
    """A parsed name; fields beyond `kind` and `zone` are set as the kind needs them."""

    kind: Kind
    zone: str = ""
    tree: str = ""  # "svc" or "pod"
    namespace: str = ""
    service: str = ""
    endpoint: str = ""
    port: str = ""
    protocol: str = ""
    ip: str = ""


OUTSIDE = Parsed(Kind.OUTSIDE)


def split(name: str) -> tuple[str, ...]:
    """Labels of a dotted name, root excluded."""
    name = name.rstrip(".")
    return tuple(name.split(".")) if name else ()


def find_zone(labels: tuple[str, ...], zones: tuple[str, ...]) -> str | None:
    """The longest served zone that the name is in (at a label boundary), if any."""
    best: str | None = None
    for zone in zones:
        zl = split(zone)
        if (
            len(labels) >= len(zl)
            and labels[len(labels) - len(zl) :] == zl
            and (best is None or len(zl) > len(split(best)))
        ):
            best = zone
    return best


def parse(labels: tuple[str, ...], zones: tuple[str, ...]) -> Parsed:
    """Parse lower-case labels against the served zones (cluster zones and reverse zones)."""
    zone = find_zone(labels, zones)
    if zone is None:
        return OUTSIDE
    rest = labels[: len(labels) - len(split(zone))]
    if not rest:
        return Parsed(Kind.APEX, zone)
    if zone in REVERSE_ZONES:
        return _reverse(rest, zone)
    return _forward(rest, zone)


def _forward(rest: tuple[str, ...], zone: str) -> Parsed:
    if rest == ("dns-version",):
        return Parsed(Kind.DNS_VERSION, zone)
    if rest == ("ns", "dns"):
        return Parsed(Kind.NS_HOST, zone)
    tree = rest[-1]
    if tree not in ("svc", "pod"):
        return Parsed(Kind.NONE, zone)
    head = rest[:-1]
    if not head:
        return Parsed(Kind.TREE, zone, tree=tree)
    namespace = head[-1]
    head = head[:-1]
    if not head:
        return Parsed(Kind.NAMESPACE, zone, tree=tree, namespace=namespace)
    if tree == "pod":
        if len(head) != 1:
            return Parsed(Kind.NONE, zone)
        return Parsed(Kind.POD, zone, tree=tree, namespace=namespace, endpoint=head[0])
    service = head[-1]
    head = head[:-1]
    if not head:
        return Parsed(Kind.SERVICE, zone, tree=tree, namespace=namespace, service=service)
    if len(head) == 1:
        return Parsed(Kind.ENDPOINT, zone, tree=tree, namespace=namespace, service=service, endpoint=head[0])
    if len(head) == 2 and all(label.startswith("_") and len(label) > 1 for label in head):
        port, protocol = (label[1:] for label in head)
        return Parsed(
            Kind.PORT, zone, tree=tree, namespace=namespace, service=service, port=port, protocol=protocol
        )
    return Parsed(Kind.NONE, zone)


def _reverse(rest: tuple[str, ...], zone: str) -> Parsed:
    if zone == "in-addr.arpa":
        if len(rest) == 4 and all(label.isdigit() and label.isascii() for label in rest):
            try:
                return Parsed(Kind.REVERSE, zone, ip=str(ipaddress.IPv4Address(".".join(reversed(rest)))))
            except ValueError:
                pass
        return Parsed(Kind.NONE, zone)
    hexdigits = "0123456789abcdef"
    if len(rest) == 32 and all(len(label) == 1 and label in hexdigits for label in rest):
        nibbles = "".join(reversed(rest))
        ip = ":".join(nibbles[i : i + 4] for i in range(0, 32, 4))
        return Parsed(Kind.REVERSE, zone, ip=str(ipaddress.IPv6Address(ip)))
    return Parsed(Kind.NONE, zone)


def reverse_name(ip: str) -> str:
    """The PTR owner name of an IP (d.c.b.a.in-addr.arpa or 32 nibbles under ip6.arpa)."""
    if ":" not in ip:  # canonical dotted quad: no need to parse it
        return ".".join(reversed(ip.split("."))) + ".in-addr.arpa"
    return ipaddress.ip_address(ip).reverse_pointer


def dashed(ip: str) -> str:
    """An address as one label: `.` and `:` become `-`; a trailing `-` gets a `0` (CoreDNS)."""
    label = ip.replace(".", "-").replace(":", "-")
    return label + "0" if label.endswith("-") else label


def undashed(label: str) -> str | None:
    """The address a pod label spells (insecure-mode parsing), or None when it is not an IP."""
    ipv4 = label.count("-") == 3 and "--" not in label
    text = label.replace("-", "." if ipv4 else ":")
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None
