"""Lookups beside the stored objects: uid to object, owner to dependents, namespace counts, Service IPs."""

from __future__ import annotations

from collections import Counter

from kubeapi.meta import Obj
from localcluster.storage.defaults import ClusterIPs, wants_cluster_ip
from localcluster.storage.kinds import rules_of
from localcluster.storage.meta import name_of, namespace_of, owner_uids, uid_of

Ref = tuple[str, str, str]  # (store_key, namespace, name)


class Indexes:
    """Updated by the store's state on every commit; read by the verbs and the garbage collector."""

    def __init__(self) -> None:
        self._by_uid: dict[str, Ref] = {}
        self._dependents: dict[str, set[Ref]] = {}
        self._ns_count: Counter[str] = Counter()
        self.ips = ClusterIPs()

    def ref_of_uid(self, uid: str) -> Ref | None:
        """Where the object with this uid is stored, if it is."""
        return self._by_uid.get(uid)

    def dependents_of(self, uid: str) -> list[Ref]:
        """Objects naming uid in their ownerReferences, in order."""
        return sorted(self._dependents.get(uid, ()))

    def has_dependents(self, uid: str) -> bool:
        """Whether any object names uid in its ownerReferences."""
        return bool(self._dependents.get(uid))

    def count_in(self, namespace: str) -> int:
        """How many objects live in a namespace."""
        return self._ns_count[namespace]

    def update(self, store_key: str, old: Obj | None, new: Obj | None) -> None:
        """Replace old's entries (None: an add) with new's (None: a removal)."""
        if old is not None:
            self._forget(store_key, old)
        if new is not None:
            self._learn(store_key, new)

    def _forget(self, store_key: str, old: Obj) -> None:
        ref = (store_key, namespace_of(old), name_of(old))
        self._by_uid.pop(uid_of(old), None)
        for owner in owner_uids(old):
            deps = self._dependents.get(owner)
            if deps is not None:
                deps.discard(ref)
                if not deps:
                    del self._dependents[owner]
        if ref[1]:
            self._ns_count[ref[1]] -= 1
        for ip in _service_ips(old):
            self.ips.release(ip)

    def _learn(self, store_key: str, new: Obj) -> None:
        ref = (store_key, namespace_of(new), name_of(new))
        self._by_uid[uid_of(new)] = ref
        for owner in owner_uids(new):
            self._dependents.setdefault(owner, set()).add(ref)
        if ref[1]:
            self._ns_count[ref[1]] += 1
        for ip in _service_ips(new):
            self.ips.mark(ip)


def _service_ips(obj: Obj) -> list[str]:
    if not rules_of(obj).cluster_ip:
        return []
    spec = obj.get("spec")
    if not isinstance(spec, dict) or not wants_cluster_ip(spec):
        return []
    return [str(ip) for ip in spec.get("clusterIPs") or [spec.get("clusterIP")] if ip and ip != "None"]
