"""The catalog: current model objects with the indexes DNS reads, and what each change touched."""

from __future__ import annotations

from dataclasses import dataclass, field

from petdns.schema.model import EndpointSlice, KubeObject, Namespace, Pod, Service, ServiceKind
from petdns.schema.names import dashed

SvcKey = tuple[str, str]  # (namespace, service name)
Refs = SvcKey | tuple[SvcKey, ...]  # one service (its canonical key object) or several
GROUP = 256  # the addresses of a /24
_BYTES = {str(n): n for n in range(GROUP)}  # a byte's canonical text: no sign, no leading zero


def last_byte(ip: str) -> tuple[str, int] | None:
    """An address whose last dot-separated part is a canonical byte (IPv4, IPv4-mapped IPv6): the text
    before that dot and the byte; None for anything else. The two give the text back exactly."""
    group, dot, last = ip.rpartition(".")
    n = _BYTES.get(last) if dot else None
    return None if n is None else (group, n)


def _services(refs: Refs) -> tuple[SvcKey, ...]:
    """The keys an index entry holds: one key object, or a tuple of them."""
    return (refs,) if isinstance(refs[0], str) else refs


class IpIndex:
    """IP -> the services it maps back to, as a dict would hold it, without a string per address: an
    address whose last dot-separated part is a canonical byte (IPv4, IPv4-mapped IPv6) is held under its
    text before that dot, in a list of 256 slots by that byte (None: no such address; a /24 costs 2 KB,
    where a dict of its addresses cost 9); the text before it and the byte give the address back, so a
    lookup matches exactly the texts a dict would. Other addresses are held by their text."""

    __slots__ = ("groups", "others")

    def __init__(self) -> None:
        self.groups: dict[str, list[Refs | None]] = {}
        self.others: dict[str, Refs] = {}

    def __len__(self) -> int:
        return sum(GROUP - slots.count(None) for slots in self.groups.values()) + len(self.others)

    def get(self, ip: str) -> Refs | None:
        slot = last_byte(ip)
        if slot is None:
            return self.others.get(ip)
        slots = self.groups.get(slot[0])
        return None if slots is None else slots[slot[1]]

    def add(self, ip: str, key: SvcKey) -> None:
        """`key` (a canonical key object) among the services of `ip`."""
        slot = last_byte(ip)
        if slot is None:
            refs = self.others.get(ip)
            self.others[ip] = key if refs is None else (*_services(refs), key)
            return
        slots = self.groups.get(slot[0])
        if slots is None:
            slots = self.groups[slot[0]] = [None] * GROUP
        refs = slots[slot[1]]
        slots[slot[1]] = key if refs is None else (*_services(refs), key)

    def discard(self, ip: str, key: SvcKey) -> None:
        """`key` no longer among the services of `ip` (the address goes with its last one, a /24 with
        its last address)."""
        slot = last_byte(ip)
        slots = None if slot is None else self.groups.get(slot[0])
        refs = self.others.get(ip) if slot is None else None if slots is None else slots[slot[1]]
        if refs is None:
            return
        keys = _services(refs)
        rest = tuple(k for k in keys if k != key)
        if len(rest) == len(keys):
            return
        left = rest if len(rest) > 1 else rest[0] if rest else None
        if slot is None:
            if left is None:
                del self.others[ip]
            else:
                self.others[ip] = left
            return
        if slots is not None:
            slots[slot[1]] = left
            if left is None and slots.count(None) == GROUP:
                del self.groups[slot[0]]


@dataclass
class Touched:
    """What a change may have altered: services (with their slices), reverse IPs and namespaces."""

    services: set[SvcKey] = field(default_factory=set)
    ips: set[str] = field(default_factory=set)
    namespaces: set[str] = field(default_factory=set)
    pods: bool = False
    # services touched only through some endpoints: the labels those endpoints may be named by
    # (absent: every name of the service may have changed)
    labels: dict[SvcKey, set[str]] = field(default_factory=dict)

    def merge(self, other: Touched) -> None:
        """Add what another change touched."""
        for key in other.services:
            mine_full = key in self.services and key not in self.labels
            if mine_full or key not in other.labels:
                self.labels.pop(key, None)
            else:
                self.labels[key] = self.labels.get(key, set()) | other.labels[key]
        self.services |= other.services
        self.ips |= other.ips
        self.namespaces |= other.namespaces
        self.pods = self.pods or other.pods


class Catalog:
    """Objects by key, slices by service, and IP indexes (for PTR and pod records)."""

    def __init__(self) -> None:
        self.namespaces: set[str] = set()
        self.services: dict[SvcKey, Service] = {}
        self.slices: dict[SvcKey, dict[str, EndpointSlice]] = {}
        self.pods: dict[tuple[str, str], Pod] = {}
        self.pods_by_ip: dict[str, set[tuple[str, str]]] = {}
        self._slice_owner: dict[tuple[str, str], SvcKey] = {}
        # IP -> the service(s) it maps back to; one canonical key object when single (100k IPs, few bytes)
        self._ip_services = IpIndex()
        self._keys: dict[SvcKey, SvcKey] = {}
        self._ns_services: dict[str, int] = {}
        self.serial = 0  # unix time of the last change, set by the owner of the catalog

    # -- reads ---------------------------------------------------------------------------------------

    def namespace_exists(self, name: str) -> bool:
        """A namespace exists if its object does, or if it holds a service."""
        return name in self.namespaces or self._ns_services.get(name, 0) > 0

    def slices_of(self, key: SvcKey) -> list[EndpointSlice]:
        """The EndpointSlices labelled for a service, by name (answers do not depend on history)."""
        owned = self.slices.get(key)
        return [owned[name] for name in sorted(owned)] if owned else []

    def services_of_ip(self, ip: str) -> tuple[SvcKey, ...]:
        """The services an IP maps back to (ClusterIP or ready endpoint), sorted."""
        refs = self._ip_services.get(ip)
        return () if refs is None else tuple(sorted(_services(refs)))

    def service_ips(self, key: SvcKey) -> frozenset[str]:
        """IPs that map back to the service: its ClusterIPs and its ready endpoint addresses."""
        svc = self.services.get(key)
        if svc is None or svc.kind is ServiceKind.EXTERNAL_NAME:
            return frozenset()
        ips = set(svc.cluster_ips)
        for sl in self.slices_of(key):
            ips.update(sl.ready_addresses())
        return frozenset(ips)

    # -- writes --------------------------------------------------------------------------------------

    def upsert(self, obj: KubeObject) -> Touched:
        """Add or replace one object."""
        if isinstance(obj, Namespace):
            self.namespaces.add(obj.name)
            return Touched(namespaces={obj.name})
        if isinstance(obj, Service):
            key = (obj.namespace, obj.name)
            old = self.service_ips(key)
            if key not in self.services:
                self._ns_services[obj.namespace] = self._ns_services.get(obj.namespace, 0) + 1
            self.services[key] = obj
            return self._reindex(key, old, Touched(namespaces={obj.namespace}))
        if isinstance(obj, EndpointSlice):
            partial = self._replace_endpoints(obj)
            if partial is not None:
                return partial
            touched = self._drop_slice(obj.namespace, obj.name)
            if obj.service:
                key = (obj.namespace, obj.service)
                old = self.service_ips(key)
                self.slices.setdefault(key, {})[obj.name] = obj
                self._slice_owner[(obj.namespace, obj.name)] = key
                touched.merge(self._reindex(key, old, Touched()))
            return touched
        return self._upsert_pod(obj)

    def delete(self, kind: str, namespace: str, name: str) -> Touched:
        """Remove one object by kind and key; removing what is absent touches nothing."""
        if kind == "Namespace":
            if name not in self.namespaces:
                return Touched()
            self.namespaces.discard(name)
            return Touched(namespaces={name})
        if kind == "Service":
            key = (namespace, name)
            old = self.service_ips(key)
            if self.services.pop(key, None) is None:
                return Touched()
            self._ns_services[namespace] -= 1
            return self._reindex(key, old, Touched(namespaces={namespace}))
        if kind == "EndpointSlice":
            return self._drop_slice(namespace, name)
        if kind == "Pod":
            return self._drop_pod((namespace, name))
        return Touched()

    def _replace_endpoints(self, obj: EndpointSlice) -> Touched | None:
        """A slice update that only changed some endpoints: touched names are those endpoints' (or None)."""
        key = self._slice_owner.get((obj.namespace, obj.name))
        if key is None or key != (obj.namespace, obj.service):
            return None
        previous = self.slices[key][obj.name]
        if previous.ports != obj.ports or previous.address_type != obj.address_type:
            return None
        changed = set(previous.endpoints) ^ set(obj.endpoints)
        old = self.service_ips(key)
        self.slices[key][obj.name] = obj
        ips = {ip for ep in changed for ip in ep.addresses}
        labels = {label for ep in changed for label in (ep.hostname, ep.pod_name) if label}
        labels |= {dashed(ip) for ip in ips}
        touched = self._reindex(key, old, Touched(), changed_ips=ips)
        touched.labels[key] = labels
        return touched

    def _drop_slice(self, namespace: str, name: str) -> Touched:
        key = self._slice_owner.pop((namespace, name), None)
        if key is None:
            return Touched()
        old = self.service_ips(key)
        owned = self.slices[key]
        del owned[name]
        if not owned:
            del self.slices[key]
        return self._reindex(key, old, Touched())

    def _reindex(
        self, key: SvcKey, old: frozenset[str], touched: Touched, changed_ips: set[str] | None = None
    ) -> Touched:
        """Move the PTR index of a service from its old IPs to its current ones.

        Touched IPs: all of the service's old and new IPs, or (when only some endpoints changed) theirs.
        """
        new = self.service_ips(key)
        key = self._keys.setdefault(key, key)
        for ip in old - new:
            self._ip_services.discard(ip, key)
        for ip in new - old:
            self._ip_services.add(ip, key)
        touched.services.add(key)
        touched.ips |= (old | new) if changed_ips is None else ((old ^ new) | changed_ips)
        return touched

    def _upsert_pod(self, pod: Pod) -> Touched:
        key = (pod.namespace, pod.name)
        touched = self._drop_pod(key)
        self.pods[key] = pod
        if not pod.terminating:
            for ip in pod.ips:
                self.pods_by_ip.setdefault(ip, set()).add(key)
        touched.pods = True
        return touched

    def _drop_pod(self, key: tuple[str, str]) -> Touched:
        pod = self.pods.pop(key, None)
        if pod is None:
            return Touched()
        for ip in pod.ips:
            refs = self.pods_by_ip.get(ip)
            if refs is not None:
                refs.discard(key)
                if not refs:
                    del self.pods_by_ip[ip]
        return Touched(pods=True)
