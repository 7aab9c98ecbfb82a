"""An EndpointSlice's endpoints held in one string (100k endpoints as tuples of strings cost about 25 MB,
packed about 3): per endpoint, "1" when ready, its addresses joined by commas, its hostname and its pod
name, apart by `FIELD`; endpoints apart by `RECORD`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final, NamedTuple


class Endpoint(NamedTuple):
    """One EndpointSlice endpoint: ready means `conditions.ready` true or absent.

    `pod_name` (from targetRef) is kept only for endpoints without a hostname: only they can be named
    after their pod.
    """

    addresses: tuple[str, ...]
    ready: bool
    hostname: str
    pod_name: str


FIELD: Final = "\x1f"  # between an endpoint's fields
RECORD: Final = "\x1e"  # between endpoints


def pack_endpoints(endpoints: tuple[Endpoint, ...]) -> str | tuple[Endpoint, ...]:
    """Endpoints as one string: per endpoint, "1" when ready, its addresses joined by commas, its
    hostname and its pod name, apart by `FIELD`, endpoints apart by `RECORD`; the tuple itself when
    a field holds a separator (or an address a comma), which the string could not give back."""
    parts = []
    for ep in endpoints:
        addresses = ",".join(ep.addresses)
        part = record(ep.ready, addresses, ep.hostname, ep.pod_name)
        commas = len(ep.addresses) - 1 if ep.addresses else 0
        if part.count(FIELD) != 3 or RECORD in part or addresses.count(",") != commas or "" in ep.addresses:
            return endpoints
        parts.append(part)
    return RECORD.join(parts)


def record(ready: bool, addresses: str, hostname: str, pod_name: str) -> str:
    """One endpoint's record (`addresses` joined by commas), as `pack_endpoints` lays it out."""
    return f"{'1' if ready else ''}{FIELD}{addresses}{FIELD}{hostname}{FIELD}{pod_name}"


def unpack_endpoints(packed: str) -> tuple[Endpoint, ...]:
    """`pack_endpoints` undone."""
    if not packed:
        return ()
    out = []
    for record in packed.split(RECORD):
        ready, addresses, hostname, pod_name = record.split(FIELD)
        addrs = tuple(addresses.split(",")) if addresses else ()
        out.append(Endpoint(addrs, ready == "1", hostname, pod_name))
    return tuple(out)


def ready_addresses(packed: str | tuple[Endpoint, ...]) -> Iterator[str]:
    """The addresses of the ready endpoints of a packed string (or of the tuple kept instead), in order,
    read as they are."""
    if isinstance(packed, tuple):
        for ep in packed:
            if ep.ready:
                yield from ep.addresses
        return
    for record in packed.split(RECORD) if packed else ():
        if record[0] == "1":
            addresses = record.split(FIELD, 2)[1]
            if addresses:
                yield from addresses.split(",")
