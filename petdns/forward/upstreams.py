"""Upstream servers (pure): addresses, resolv.conf, stub domains and which upstreams serve a name."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

DNS_PORT = 53
_WILDCARDS = ("0.0.0.0", "::")


@dataclass(frozen=True, slots=True, order=True)
class Upstream:
    """One upstream server: an IP literal (IPv6 possibly with `%scope`) and a port."""

    host: str
    port: int = DNS_PORT

    @property
    def family(self) -> socket.AddressFamily:
        return socket.AF_INET6 if ":" in self.host else socket.AF_INET

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def _ip(text: str) -> str:
    address, percent, scope = text.partition("%")
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        raise ValueError(f"{text!r} is not an IP address") from None
    if percent and (ip.version != 6 or not scope):
        raise ValueError(f"{text!r} is not an IP address")
    return str(ip) + percent + scope


def parse_upstream(text: str) -> Upstream:
    """`1.1.1.1`, `1.1.1.1:53`, `::1`, `[::1]` or `[::1]:5353` (the port defaults to 53)."""
    text = text.strip()
    port = DNS_PORT
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise ValueError(f"upstream {text!r} is not IP[:PORT]")
        port_text = rest[1:] if rest else str(DNS_PORT)
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    else:
        host, port_text = text, str(DNS_PORT)
    if not port_text.isdigit() or not 0 < int(port_text) <= 65535:
        raise ValueError(f"upstream {text!r}: bad port")
    port = int(port_text)
    try:
        return Upstream(_ip(host), port)
    except ValueError:
        raise ValueError(f"upstream {text!r} is not IP[:PORT]") from None


def nameservers(resolv_conf: str) -> list[str]:
    """The `nameserver` addresses of a resolv.conf text, in order (malformed lines are skipped)."""
    found = []
    for line in resolv_conf.splitlines():
        fields = line.split("#", 1)[0].split(";", 1)[0].split()
        if len(fields) >= 2 and fields[0] == "nameserver":
            try:
                found.append(_ip(fields[1]))
            except ValueError:
                continue
    return found


def _is_loopback(host: str) -> bool:
    return ipaddress.ip_address(host.partition("%")[0]).is_loopback


def default_upstreams(resolv_conf: str, listen: Iterable[tuple[str, int]]) -> tuple[Upstream, ...]:
    """resolv.conf's nameservers on port 53, without the ones that are this server's own addresses
    (a listen address on port 53, or a loopback address when listening on a wildcard on port 53)."""
    own = [(host, port) for host, port in listen if port == DNS_PORT]
    out = []
    for host in nameservers(resolv_conf):
        if any(h == host or (h in _WILDCARDS and _is_loopback(host)) for h, _ in own):
            continue
        upstream = Upstream(host)
        if upstream not in out:
            out.append(upstream)
    return tuple(out)


def _domain(text: str) -> str:
    name = text.strip().lower().rstrip(".")
    labels = name.split(".") if name else []
    if any(not label or len(label) > 63 for label in labels) or len(name) > 253:
        raise ValueError(f"{text!r} is not a domain name")
    return name


def parse_stub_domain(text: str) -> tuple[str, tuple[Upstream, ...]]:
    """`example.internal=10.0.0.53[:port][,IP[:port]...]` into (domain, upstreams)."""
    domain, sep, servers = text.partition("=")
    if not sep or not servers.strip():
        raise ValueError(f"stub domain {text!r} is not DOMAIN=IP[:PORT][,IP[:PORT]...]")
    upstreams = tuple(dict.fromkeys(parse_upstream(s) for s in servers.split(",") if s.strip()))
    return _domain(domain), upstreams


def _wire(domain: str) -> bytes:
    if not domain:
        return b"\x00"
    return b"".join(bytes((len(label),)) + label.encode() for label in domain.split(".")) + b"\x00"


class Routes:
    """Upstreams by domain: the longest stub domain that a name is in, else the default upstreams.

    Names in an `excepted` domain (CoreDNS's `forward . ... { except ZONES }`) go to no upstream,
    unless a longer stub domain holds them."""

    def __init__(
        self,
        default: Sequence[Upstream] = (),
        stubs: Mapping[str, Sequence[Upstream]] | None = None,
        excepted: Iterable[str] = (),
    ) -> None:
        self.default = tuple(default)
        self.stubs = {_domain(d): tuple(u) for d, u in (stubs or {}).items() if u}
        self.excepted = tuple(dict.fromkeys(_domain(d) for d in excepted))
        self._by_wire: dict[bytes, tuple[Upstream, ...]] = {_wire(d): u for d, u in self.stubs.items()}
        for domain in self.excepted:
            self._by_wire.setdefault(_wire(domain), ())
        if self.default:
            self._by_wire.setdefault(b"\x00", self.default)

    def route(self, name: bytes) -> tuple[Upstream, ...]:
        """The upstreams for a well-formed lower-case wire name; () when none serves it."""
        by_wire, i = self._by_wire, 0
        while i < len(name):
            found = by_wire.get(name[i:])
            if found is not None:
                return found
            if name[i] == 0:
                break
            i += name[i] + 1
        return ()

    @property
    def upstreams(self) -> tuple[Upstream, ...]:
        """Every distinct upstream, defaults first."""
        return tuple(dict.fromkeys([*self.default, *(u for ups in self.stubs.values() for u in ups)]))

    def __bool__(self) -> bool:
        return any(self._by_wire.values())
