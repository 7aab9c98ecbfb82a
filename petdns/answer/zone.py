"""The rendered zone: wire-ready answers per (name, type), updated incrementally, and the served zones."""

from __future__ import annotations

import itertools
import struct
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

from petdns.answer.deferral import DEFER_FROM, MARKER, Addresses, Deferred
from petdns.answer.fasttable import Mirror
from petdns.answer.heads import DYNAMIC, ZoneHead, fallthrough_zones, within, zone_of
from petdns.answer.owned import join_owned, split_owned
from petdns.answer.render import address_body, ptr_body, quick_body, render, render_records
from petdns.answer.rotation import RotatedCut, rotation_of
from petdns.dns.constants import AA, AAAA, CNAME, IN, MIN_UDP, NOERROR, NS, PTR, QR, SOA, SRV, TXT, A
from petdns.dns.wire import headers, split_labels, wire_name
from petdns.schema.bulk import paused_gc
from petdns.schema.catalog import Catalog, SvcKey, Touched
from petdns.schema.lookup import Response
from petdns.schema.model import KubeObject
from petdns.schema.records import (
    Node,
    PlainName,
    namespace_nodes,
    ptr_node,
    reverse_targets,
    service_nodes,
    static_nodes,
)
from petdns.settings.values import PodsMode, Settings

_TYPE_CLASS: Final = {t: struct.pack("!HH", t, IN) for t in (A, NS, CNAME, SOA, PTR, TXT, AAAA, SRV)}
OPT_SIZE: Final = 11  # an OPT record without options
_ANSWERED: Final = QR | AA | NOERROR
_LENGTHS: Final = tuple(bytes((n,)) for n in range(256))  # a label's length byte
_SRV_DEFERRED: Final = (_TYPE_CLASS[SRV], None, None)

# A rendered name: (zone head, type+class, header variants, body, type+class, header variants, body, ...);
# header variants and body are None for a type that the full path answers.
Rendered = tuple[Any, ...]
# a truncated rendering: header variants, body (with loadbalance, a `RotatedCut` for a turning body)
Cut = tuple[tuple[bytes, bytes, bytes, bytes], bytes | RotatedCut]


class RenderedZone:
    """Catalog plus rendered answers; every change re-renders only the names it touches."""

    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.catalog = Catalog()
        self._clock = clock
        self._own: dict[bytes, Rendered] | None = {}  # the nodes, when the compiled table does not hold them
        self._owned: dict[SvcKey, bytes] = {}  # a service's rendered names (`join_owned`)
        self._parents: dict[str, tuple[bytes, ZoneHead | None]] = {}  # `_wire_head`'s recent parents
        dynamic = settings.pods is not PodsMode.DISABLED
        zones = sorted(settings.served_zones, key=len, reverse=True)
        self.heads = {z: ZoneHead(z, dynamic_pods=dynamic and z in settings.zones) for z in zones}
        self._by_wire = {head.wire: head for head in self.heads.values()}
        self.lock = threading.Lock()  # held by writers and by the full path (`dispatch`)
        self._synced = True  # False while a watch has not delivered its first list: misses are SERVFAIL
        self.max_udp = settings.max_udp  # UDP replies at most this; our OPT records advertise it
        self.mirror = Mirror(self, DYNAMIC)  # the compiled loop's copy of `nodes`, `truncated` and the heads
        # lower-case wire name -> rendered node: the compiled table itself when it holds the same nodes
        # (not with loadbalance: its turning bodies are left out there), else a dict of our own
        self.nodes: Mapping[bytes, Rendered] = self._own
        if self.mirror.table is not None and not settings.loadbalance:
            self.nodes, self._own = self.mirror.table, None
        self.opts: dict[bytes, tuple[bytes, int]] = {}  # a query's OPT -> (reply OPT, size limit of the rest)
        # answers too big for UDP, truncated for the common limits (`truncation_limits`) when the full
        # path first renders them: wire name -> {(type+class, limit): cut}, dropped when the name is
        # rendered again or cleared (`_set`, `_clear`)
        self.truncated: dict[bytes, dict[tuple[bytes, int], Cut]] = {}
        self.truncation_limits = tuple(
            sorted({MIN_UDP, MIN_UDP - OPT_SIZE, self.max_udp - OPT_SIZE})
        )  # no EDNS; EDNS 512; EDNS at or above our size
        self._fallthrough = False
        self.deferred = Deferred()  # what a large batch left to be rendered when first asked
        self.defer_from = DEFER_FROM
        self.turns = itertools.count()  # the full path's rotations (`loadbalance`)
        self._stamp()

    @property
    def fallthrough(self) -> bool:
        """Whether names of the reverse zones that do not exist are forwarded rather than NXDOMAIN."""
        return self._fallthrough

    @fallthrough.setter
    def fallthrough(self, value: bool) -> None:
        self._fallthrough = value
        zones = fallthrough_zones(self.settings)
        for name, head in self.heads.items():  # NXDOMAIN under a head that may fall through: full path
            head.fallthrough = value and any(within(z, name) or within(name, z) for z in zones)
        self.mirror.heads(self)

    def falls_through(self, name: str) -> bool:
        """Whether an NXDOMAIN for this lower-case name goes on to forwarding (when forwarding)."""
        return self._fallthrough and any(within(name, z) for z in fallthrough_zones(self.settings))

    @property
    def deferring(self) -> bool:
        """Whether some names wait under markers (`petdns.answer.deferral`)."""
        return bool(self.deferred)

    @property
    def synced(self) -> bool:
        """False while a watch has not delivered its first list: misses are SERVFAIL."""
        return self._synced

    @synced.setter
    def synced(self, value: bool) -> None:
        self._synced = value
        self.mirror.heads(self)

    # -- changes ---------------------------------------------------------------------------------------

    def load(self, objects: Iterable[KubeObject]) -> None:
        """Apply many objects, rendering each touched name once at the end (the cyclic collector paused:
        rendering makes no cycles worth a walk over every name made so far)."""
        with paused_gc():
            self.update(objects, ())

    def update(self, upserts: Iterable[KubeObject], deletes: Iterable[tuple[str, str, str]]) -> None:
        """Apply a batch of changes (deletes by kind, namespace, name first), rendering touched names once."""
        with self.lock:
            touched = Touched()
            for kind, namespace, name in deletes:
                touched.merge(self.catalog.delete(kind, namespace, name))
            for obj in upserts:
                touched.merge(self.catalog.upsert(obj))
            self._render(touched)

    def apply(self, obj: KubeObject) -> None:
        """Add or replace one object."""
        with self.lock:
            self._render(self.catalog.upsert(obj))

    def delete(self, kind: str, namespace: str, name: str) -> None:
        """Remove one object."""
        with self.lock:
            self._render(self.catalog.delete(kind, namespace, name))

    def _stamp(self) -> None:
        """Move the SOA serial to now; the SOA pieces and apex nodes change only when the serial does."""
        serial = max(int(self._clock()), self.catalog.serial)
        if serial == self.catalog.serial and self.nodes:
            return
        self.catalog.serial = serial
        for head in self.heads.values():
            head.set_soa(self.settings, serial)
        self.mirror.heads(self)
        for name, node in static_nodes(self.settings, serial):
            self._put(name, node)

    def _render(self, touched: Touched) -> None:
        if not (touched.services or touched.ips or touched.namespaces):
            return
        self._stamp()
        deferring, waiting = self.deferring, self.deferred.services
        defer = len(touched.services) >= self.defer_from
        for key in touched.services:
            if key in waiting:  # still waiting: answered from the catalog until first asked
                continue
            if defer and key not in self._owned and self._defer_service(key):
                continue
            self._render_service(key, touched.labels.get(key))
        self._render_reverse(self._defer_reverse(touched.ips, len(touched.ips) >= self.defer_from))
        for ns in touched.namespaces:
            present = dict(namespace_nodes(self.catalog, self.settings, ns))
            for zone in self.settings.zones:
                for name in (f"{ns}.svc.{zone}", f"{ns}.pod.{zone}"):
                    self._put_or_clear(name, present.get(name))
        if self.deferring != deferring:
            self.mirror.heads(self)

    def _render_reverse(self, ips: Iterable[str]) -> None:
        ttl, loadbalance = self.settings.ttl, self.settings.loadbalance
        for owner, targets in reverse_targets(self.catalog, self.settings, ips):
            if not targets:
                self._clear(wire_name(owner))
            elif len(targets) > 1 or loadbalance or not self._put_ptr(owner, targets[0], ttl):
                self._put(owner, ptr_node(owner, targets, ttl))

    def render_waiting(self, wire: bytes) -> bool:
        """Render the group waiting under a marker at or above a lower-case wire name, if any (a name
        first asked; under `lock`); whether there was one."""
        marker = self.deferred.under(wire)
        if marker is None:
            return False
        entry = self.deferred.take(marker)
        if isinstance(entry, Addresses):
            self._clear(marker)
            self._render_reverse(entry)
        else:
            self._render_service(entry)  # its markers are what it owned: replaced or cleared
        if not self.deferred:
            self.mirror.heads(self)
        return True

    def _defer_service(self, key: SvcKey) -> bool:
        """Leave a service not rendered yet to be rendered when first asked: a marker at its name in
        each cluster zone; False (render it now) when it has no such names."""
        if key not in self.catalog.services:
            return False
        named = [self._wire_and_head(f"{key[1]}.{key[0]}.svc.{zone}") for zone in self.settings.zones]
        if any(head is None for _, head in named):
            return False
        wires = tuple(wire for wire, _ in named)
        for wire in wires:
            self._set(wire, MARKER)
        self._owned[key] = join_owned(wires, wires)
        self.deferred.add_service(key, wires)
        return True

    def _defer_reverse(self, ips: set[str], defer: bool) -> Iterable[str]:
        """The addresses whose PTR names are to be rendered now; the others join (with `defer`, start)
        their /24's wait, their present renderings cleared."""
        if not ips or not (defer or self.deferred):
            return ips
        now, markers, stale = self.deferred.split_reverse(ips, defer, self._reverse_marker)
        for wire in markers:
            self._set(wire, MARKER)
        for wire in stale:
            if wire in self.nodes:
                self._clear(wire)
        return now

    def _reverse_marker(self, group: str) -> bytes | None:
        """The marker of a /24's reverse name: its wire form, when below a served zone and not a name
        of its own (or its marker already); None where it may not wait."""
        wire, head = self._wire_and_head(group)
        if head is None or len(wire) <= len(head.wire):
            return None
        return wire if self.nodes.get(wire, MARKER) is MARKER else None

    def _render_service(self, key: SvcKey, labels: set[str] | None = None) -> None:
        """Render a service's names; with `labels`, endpoint names not among them are unchanged: kept."""
        plain: list[PlainName] | None = None if self.settings.loadbalance else []
        nodes = service_nodes(self.catalog, self.settings, key, rendered_only=True, plain=plain)
        names = tuple(f"{key[1]}.{key[0]}.svc.{zone}" for zone in self.settings.zones)
        base_wires = tuple(self._wire_of(name) for name in names)
        previous = split_owned(self._owned.pop(key, b""), base_wires)
        kept = set(previous) if labels is not None else set()
        bases = set(names)
        wires = []
        for name, node in nodes.items():
            if labels is not None:
                label, _, rest = name.partition(".")
                if rest in bases and not label.startswith("_") and label not in labels:
                    wire = wire_name(name)
                    if wire in kept:
                        wires.append(wire)
                        continue
            wires.append(self._put(name, node))
        ttl = self.settings.ttl
        parent: tuple[str, bytes, ZoneHead | None] = ("", b"", None)
        for item in plain or ():
            if parent[0] != item.base:
                parent = (item.base, *self._wire_head(item.base))
            raw = item.label.encode()
            wire = _LENGTHS[len(raw)] + raw + parent[1]
            if labels is not None and item.label not in labels and wire in kept:
                wires.append(wire)
            else:
                wires.append(self._put_plain(wire, self._by_wire.get(wire, parent[2]), item, ttl))
        keep = set(wires)
        for wire in previous:
            if wire not in keep:
                self._clear(wire)
        if wires:
            self._owned[key] = join_owned(wires, base_wires)

    def _put_plain(self, wire: bytes, head: ZoneHead | None, item: PlainName, ttl: int) -> bytes:
        """`_put` of an endpoint's name with one address (as `records` would make its node), from
        the address alone: its record, and SRV deferred when it has any."""
        if head is None:
            raise ValueError(f"{wire!r} is in no served zone")
        rtype = AAAA if ":" in item.ip else A
        body = address_body(rtype, ttl, item.ip)
        node: Rendered = (head, _TYPE_CLASS[rtype], headers(_ANSWERED, 1, 0, 0), body)
        if item.srv:
            node += _SRV_DEFERRED
        self._set(wire, node)
        return wire

    def _put_or_clear(self, name: str, node: Node | None) -> None:
        if node is None:
            self._clear(wire_name(name))
        else:
            self._put(name, node)

    def _put(self, name: str, node: Node) -> bytes:
        wire, head = self._wire_head(name)
        if node.cname:
            self._set(wire, (DYNAMIC,))
            return wire
        rendered: list[Any] = [head]
        loadbalance = self.settings.loadbalance
        labels = None
        deferred = node.deferred
        for rtype, (answer, additional) in node.records.items():
            if rtype in deferred:
                rendered += (_TYPE_CLASS[rtype], None, None)
                continue
            if not loadbalance:
                quick = quick_body(name, len(wire), answer, additional)
                if quick is not None:
                    rendered += (_TYPE_CLASS[rtype], headers(_ANSWERED, len(answer), 0, 0), quick)
                    continue
            labels = labels or split_labels(name)
            if loadbalance:
                response = Response(NOERROR, answer=answer, additional=additional)
                r = render(labels, response)
                body = rotation_of(r.body, response, r.counts)
            else:
                r = render_records(labels, name, answer, additional, self._wire_of)
                body = r.body
            if body is None:
                rendered += (_TYPE_CLASS[rtype], None, None)
            else:
                rendered += (_TYPE_CLASS[rtype], headers(r.flags, *r.counts), body)
        self._set(wire, tuple(rendered))
        return wire

    def _put_ptr(self, owner: str, target: str, ttl: int) -> bool:
        """`_put` of a reverse name with one PTR, the target's wire form built on its parent's (a
        service's name, kept for its next endpoint); False when the body would need compression."""
        if target.rpartition(".")[2] == owner.rpartition(".")[2]:
            return False
        wire, head = self._wire_head(owner)
        body = ptr_body(ttl, self._wire_of(target))
        self._set(wire, (head, _TYPE_CLASS[PTR], headers(_ANSWERED, 1, 0, 0), body))
        return True

    def _set(self, wire: bytes, node: Rendered) -> None:
        """A name's rendering, in the compiled table (without truncated renderings) and our own dict;
        the truncated renderings of the one before go with it."""
        if self.truncated:
            self.truncated.pop(wire, None)
        if self._own is None:  # the table is `nodes`; every body is plain bytes (no loadbalance)
            self.mirror.table.put(wire, node)  # type: ignore[union-attr]
        else:
            self._own[wire] = node
            self.mirror.put(wire, node)

    def _wire_head(self, name: str) -> tuple[bytes, ZoneHead]:
        """A served name's wire form and zone head (ValueError for a name outside the served zones)."""
        wire, head = self._wire_and_head(name)
        if head is None:
            raise ValueError(f"{wire!r} is in no served zone")
        return wire, head

    def _wire_of(self, name: str) -> bytes:
        """`wire_name`, through the parents kept by `_wire_and_head`."""
        return self._wire_and_head(name)[0]

    def _wire_and_head(self, name: str) -> tuple[bytes, ZoneHead | None]:
        """A name's wire form and zone head, through the wire form and head of its parent, kept for the
        next names under the same parent (a service's pets, a /24's PTRs)."""
        label, dot, rest = name.partition(".")
        if not dot:
            wire = wire_name(name)
            return wire, self._head_or_none(wire)
        parent = self._parents.get(rest)
        if parent is None:
            if len(self._parents) >= 4096:
                self._parents.clear()
            parent_wire = wire_name(rest)
            parent = self._parents[rest] = (parent_wire, self._head_or_none(parent_wire))
        raw = label.encode()
        wire = _LENGTHS[len(raw)] + raw + parent[0]
        return wire, self._by_wire.get(wire, parent[1])  # the name itself may be a zone apex

    def _clear(self, wire: bytes) -> None:
        if self._own is not None:
            self._own.pop(wire, None)
        self.truncated.pop(wire, None)
        self.mirror.clear(wire)

    def _head_or_none(self, wire: bytes) -> ZoneHead | None:
        for head in self.heads.values():  # longest first
            if wire.endswith(head.wire):
                return head
        return None

    # -- which zone ------------------------------------------------------------------------------------

    def zone_of(self, name: bytes) -> tuple[ZoneHead, int] | None:
        """The served zone of a well-formed wire name and the zone's offset in it; None if outside."""
        return zone_of(self._by_wire, name)

    def serves(self, name: bytes) -> bool:
        """Whether a well-formed lower-case wire name is in a served zone (cluster or reverse)."""
        return self.zone_of(name) is not None
