"""The peer finder's decisions, pure: the name to ask, this pet's own name, the nameserver, the SRV reply
read as a set of peers, and when to run which script (as kubernetes/contrib's peer-finder: a script runs
when the set changed and holds this pet; on-start once, then on-change on every later change)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import dnslib

POLL_PERIOD = 1.0  # seconds between lookups, as upstream


class PeersError(ValueError):
    """Arguments or files that leave nothing to look up."""


def namespace_domain(namespace: str, domain: str | None, resolv_conf: str) -> str:
    """`<ns>.svc.<zone>`: the namespace given (else the first `<ns>.svc.<zone>` of the search line of
    resolv.conf, as a pod's is written), in the cluster domain given (else the zone after the first
    `svc.` of the search line); PeersError when that leaves something unknown."""
    if namespace and domain:
        return f"{namespace}.svc.{domain.strip('.')}"
    for line in resolv_conf.splitlines():
        words = line.split()
        if words[:1] != ["search"]:
            continue
        for word in words[1:]:
            labels = word.strip(".").split(".")
            at = labels.index("svc") if "svc" in labels[:2] else -1
            if at < 0 or at == len(labels) - 1 or (at == 0 and not namespace):
                continue
            zone = domain.strip(".") if domain else ".".join(labels[at + 1 :])
            return f"{namespace or labels[0]}.svc.{zone}"
    missing = (
        "no --domain and no svc.<zone>"
        if namespace
        else "no --namespace, no POD_NAMESPACE and no <ns>.svc.<zone>"
    )
    raise PeersError(f"{missing} in the search line of resolv.conf")


def nameserver(text: str | None, resolv_conf: str) -> tuple[str, int]:
    """(address, port) from `IP`, `IP:PORT` or `[IPv6]:PORT`, else resolv.conf's first nameserver."""
    if not text:
        for line in resolv_conf.splitlines():
            words = line.split()
            if words[:1] == ["nameserver"] and len(words) > 1:
                return words[1].split("%")[0], 53
        raise PeersError("no --nameserver and no nameserver line in resolv.conf")
    if match := re.fullmatch(r"\[([0-9a-fA-F:.]+)\](?::(\d+))?", text):
        return match.group(1), int(match.group(2) or 53)
    host, sep, port = text.rpartition(":")
    if sep and ":" not in host and port.isdigit():
        return host, int(port)
    return text, 53


def own_names(service_domain: str, hostname: str, fqdn: str, given: str | None) -> frozenset[str]:
    """The names this pet may appear under: --self if given, else `<hostname>.<service domain>` (as
    upstream) and the host's FQDN (`hostname -f`)."""
    if given:
        return frozenset({given.strip(".").lower()})
    short = hostname.split(".", maxsplit=1)[0]
    return frozenset({f"{short}.{service_domain}".lower(), fqdn.strip(".").lower()} - {""})


def srv_query(name: str, ident: int) -> bytes:
    """The SRV question for `name` (absolute), recursion desired."""
    record = dnslib.DNSRecord.question(name.strip(".") + ".", "SRV")
    record.header.id = ident
    return bytes(record.pack())


@dataclass(frozen=True)
class Reply:
    peers: frozenset[str]  # the SRV targets, lower case, without the trailing dot
    truncated: bool = False


def read_reply(data: bytes, ident: int) -> Reply:
    """The peers an SRV reply names (none on NXDOMAIN or NODATA); PeersError on another id or rcode."""
    try:
        record = dnslib.DNSRecord.parse(data)
    except dnslib.DNSError as err:
        raise PeersError(f"malformed reply: {err}") from None
    if record.header.id != ident:
        raise PeersError("reply to another query")
    if record.header.tc:
        return Reply(frozenset(), truncated=True)
    rcode = record.header.rcode
    if rcode not in (dnslib.RCODE.NOERROR, dnslib.RCODE.NXDOMAIN):
        raise PeersError(f"lookup failed: {dnslib.RCODE.get(rcode)}")
    targets = {str(rr.rdata.target).strip(".").lower() for rr in record.rr if rr.rtype == dnslib.QTYPE.SRV}
    return Reply(frozenset(targets))


def stdin_text(peers: Iterable[str]) -> str:
    """What a script reads: the peers sorted, one per line."""
    return "".join(f"{peer}\n" for peer in sorted(peers))


@dataclass
class PeerFinder:
    """The loop's state: the last set a script ran with, and the script the next change runs."""

    me: frozenset[str]
    on_start: str | None
    on_change: str | None
    peers: frozenset[str] = field(default_factory=frozenset)
    script: str | None = None

    def __post_init__(self) -> None:
        self.script = self.on_start or self.on_change  # without on-start, on-change runs at start

    @property
    def done(self) -> bool:
        """Nothing left to run: after on-start without on-change."""
        return not self.script

    def decide(self, found: frozenset[str]) -> str | None:
        """The script to run with `found` now, or None: unchanged, or this pet not in it yet."""
        if self.done or found == self.peers or not (found & self.me):
            return None
        return self.script

    def ran(self, found: frozenset[str]) -> None:
        """The script ran with `found`: later changes run on-change (or nothing)."""
        self.peers = found
        self.script = self.on_change
