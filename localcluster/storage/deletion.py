"""Deletion semantics: finalizers, graceful pods, owner-reference cascades and namespace termination."""

from __future__ import annotations

import logging
from collections.abc import Callable

from kubeapi.meta import Obj, rfc3339
from localcluster.storage.errors import ApiError, bad_request, conflict, forbidden
from localcluster.storage.kinds import rules_of
from localcluster.storage.meta import clone, finalizers_of, meta, owner_uids, uid_of
from localcluster.storage.resources import Resource
from localcluster.storage.state import NAMESPACES, Ref, StoreState, resource_of

FOREGROUND = "foregroundDeletion"
ORPHAN = "orphan"
POLICIES = ("Background", "Foreground", "Orphan")
log = logging.getLogger(__name__)


def deleting(obj: Obj) -> bool:
    """Whether obj has a deletionTimestamp."""
    return bool(meta(obj).get("deletionTimestamp"))


def policy_for(obj: Obj, propagation: str | None) -> str:
    """The propagation policy: the requested one, else one named by a finalizer, else Background."""
    if propagation:
        if propagation not in POLICIES:
            raise bad_request(
                f"propagationPolicy {propagation!r} is not supported: use one of {', '.join(POLICIES)}"
            )
        return propagation
    fins = finalizers_of(obj)
    if ORPHAN in fins:
        return "Orphan"
    return "Foreground" if FOREGROUND in fins else "Background"


def check_preconditions(res: Resource, obj: Obj, preconditions: Obj | None) -> None:
    """409 when a DeleteOptions precondition (uid, resourceVersion) does not hold."""
    for field, label in (("uid", "UID"), ("resourceVersion", "ResourceVersion")):
        want = (preconditions or {}).get(field)
        have = meta(obj).get(field)
        if want and str(want) != str(have):
            msg = f"Precondition failed: {label} in precondition: {want}, {label} in object meta: {have}"
            raise conflict(res, str(meta(obj).get("name")), msg)


def check_deletable(res: Resource, obj: Obj) -> None:
    """403 for objects their kind protects from deletion (the cluster's own namespaces)."""
    name = str(meta(obj).get("name"))
    if name in rules_of(obj).protected_names:
        raise forbidden(res, name, f"this {res.singular} may not be deleted")


class GarbageCollector:
    """The store's write and delete paths, with the garbage collector and namespace controller run inline."""

    def __init__(self, state: StoreState, *, clock: Callable[[], float]) -> None:
        self._state = state
        self._indexes = state.indexes
        self._clock = clock

    def write(self, store_key: str, new: Obj) -> tuple[Obj, bool]:
        """Commit an update; an object being deleted with no finalizers left (and no grace) goes instead."""
        if self._finished(new):
            return self.remove(store_key, new), True
        old = self._state.find(store_key, str(meta(new).get("namespace") or ""), str(meta(new).get("name")))
        released = set(owner_uids(old or {})) - set(owner_uids(new))
        added = set(owner_uids(new)) - set(owner_uids(old or {}))
        committed = self._state.put(store_key, new, added=False)
        for owner_uid in sorted(released):  # an owner waiting for this dependent may be done now
            self._settle_foreground(owner_uid)
        if added:
            self.collect_dangling(store_key, committed, added)
        return committed, False

    def collect_dangling(self, store_key: str, obj: Obj, uids: set[str] | None = None) -> None:
        """References to owners that do not exist (`uids`: the ones to check, default all): an object whose
        owners are all gone is deleted, one with a live owner loses the references to the gone ones, as
        the garbage collector treats dangling owner references."""
        gone = {
            uid for uid in (uids if uids is not None else owner_uids(obj)) if self._state.owner(uid) is None
        }
        if not gone:
            return
        ref = (store_key, str(meta(obj).get("namespace") or ""), str(meta(obj).get("name")))
        self._let_go(ref, obj, gone, propagation="Background")

    def _finished(self, obj: Obj) -> bool:
        m = meta(obj)
        if not m.get("deletionTimestamp") or m.get("finalizers") or m.get("deletionGracePeriodSeconds", 0):
            return False
        return not rules_of(obj).holds_objects or not self._indexes.count_in(str(m.get("name")))

    def remove(self, store_key: str, obj: Obj) -> Obj:
        """Drop obj, then cascade: dependents, owners in foreground deletion, a terminating namespace."""
        final = self._state.drop(store_key, obj)
        uid = uid_of(obj)
        for ref in self._indexes.dependents_of(uid):
            self._release_or_delete(ref, uid, propagation="Background")
        for owner_uid in owner_uids(obj):
            self._settle_foreground(owner_uid)
        ns = str(meta(obj).get("namespace") or "")
        if ns:
            self._settle_namespace(ns)
        return final

    def _release_or_delete(self, ref: Ref, owner_uid: str, *, propagation: str) -> None:
        """A dependent of an owner being removed: deleted unless another owner lives (then the references
        to the owner and to any gone ones go)."""
        dependent = self._state.by_ref(ref)
        if dependent is None:
            return
        gone = {owner_uid} | {
            u for u in owner_uids(dependent) if u != owner_uid and self._state.owner(u) is None
        }
        self._let_go(ref, dependent, gone, propagation=propagation)

    def _let_go(self, ref: Ref, obj: Obj, gone: set[str], *, propagation: str) -> None:
        """An object losing the owners `gone`: deleted when they are all it had, else their references go."""
        if gone >= set(owner_uids(obj)):
            self._cascade_delete(ref, obj, propagation=propagation)
            return
        for uid in sorted(gone):
            self._drop_owner_ref(ref, uid)

    def _cascade_delete(self, ref: Ref, obj: Obj, *, propagation: str) -> None:
        """Delete a dependent as the garbage collector would: a refusal (a protected namespace) is logged."""
        try:
            res = resource_of(ref[0])
            check_deletable(res, obj)
            if rules_of(obj).holds_objects:
                self._delete_namespace(res, obj, dry_run=False)
            else:
                self._delete_obj(ref, obj, propagation=propagation, grace=None)
        except ApiError as err:
            log.warning("garbage collection of %s skipped: %s", "/".join(ref), err.message)

    def _drop_owner_ref(self, ref: Ref, owner_uid: str) -> None:
        dependent = self._state.by_ref(ref)
        if dependent is None:
            return
        new = clone(dependent)
        refs = [r for r in meta(new).get("ownerReferences") or [] if r.get("uid") != owner_uid]
        if refs:
            meta(new)["ownerReferences"] = refs
        else:
            meta(new).pop("ownerReferences", None)
        self.write(ref[0], new)

    def _settle_foreground(self, owner_uid: str) -> None:
        """An owner in foreground deletion loses its finalizer once its last dependent is gone."""
        found = self._state.owner(owner_uid)
        if found is None or self._indexes.has_dependents(owner_uid):
            return
        (store_key, _, _), owner = found
        if not deleting(owner) or FOREGROUND not in finalizers_of(owner):
            return
        new = clone(owner)
        _set_finalizers(new, [f for f in finalizers_of(new) if f != FOREGROUND])
        self.write(store_key, new)

    def _settle_namespace(self, name: str) -> None:
        """A terminating namespace goes once nothing is left in it."""
        ns = self._state.namespace_obj(name)
        if ns is None or not deleting(ns) or self._indexes.count_in(name):
            return
        new = clone(ns)
        new.setdefault("spec", {})["finalizers"] = []
        if self._finished(new):
            self.remove(NAMESPACES, new)

    # --- delete ------------------------------------------------------------------------------------------

    def delete(
        self, res: Resource, obj: Obj, *, propagation: str | None, grace: int | None, dry_run: bool
    ) -> tuple[Obj, bool]:
        """Delete or mark for deletion (dry_run: only compute the result); returns (object, gone)."""
        ref = (res.store_key, str(meta(obj).get("namespace") or ""), str(meta(obj).get("name")))
        check_deletable(res, obj)
        if rules_of(obj).holds_objects:
            return self._delete_namespace(res, obj, dry_run=dry_run)
        if dry_run:
            new = self._marked(obj, policy_for(obj, propagation), rules_of(obj).grace(obj, grace))
            return (new, False) if new is not None else (clone(obj), True)
        return self._delete_obj(ref, obj, propagation=propagation, grace=grace)

    def _marked(self, obj: Obj, policy: str, grace: int) -> Obj | None:
        """obj with deletionTimestamp set when the deletion has to wait (grace or finalizers), else None."""
        fins = [f for f in finalizers_of(obj) if f != ORPHAN]
        if policy == "Foreground" and self._indexes.has_dependents(uid_of(obj)) and FOREGROUND not in fins:
            fins.append(FOREGROUND)
        if policy != "Foreground":
            fins = [f for f in fins if f != FOREGROUND]
        if not grace and not fins:
            return None
        new = clone(obj)
        m = meta(new)
        m["deletionTimestamp"] = rfc3339(self._clock() + grace)
        m["deletionGracePeriodSeconds"] = grace
        _set_finalizers(new, fins)
        if m.get("generation"):
            m["generation"] = int(m["generation"]) + 1
        return new

    def _delete_obj(
        self, ref: Ref, obj: Obj, *, propagation: str | None, grace: int | None
    ) -> tuple[Obj, bool]:
        store_key = ref[0]
        policy = policy_for(obj, propagation)
        if deleting(obj):
            return self._delete_again(store_key, obj, rules_of(obj).grace(obj, grace))
        uid = uid_of(obj)
        if policy == "Orphan":
            for dep in self._indexes.dependents_of(uid):
                self._drop_owner_ref(dep, uid)
        new = self._marked(obj, policy, rules_of(obj).grace(obj, grace))
        if new is None:
            return self.remove(store_key, obj), True
        current, gone = self.write(store_key, new)
        if policy == "Foreground" and not gone:
            for dep in self._indexes.dependents_of(uid):
                self._release_or_delete(dep, uid, propagation="Foreground")
            self._settle_foreground(uid)
            after = self._state.find(*ref)
            return (clone(after), False) if after is not None else (clone(current), True)
        return clone(current), gone

    def _delete_again(self, store_key: str, obj: Obj, grace: int) -> tuple[Obj, bool]:
        """A second delete shortens a pod's grace period (0 removes it once no finalizers remain)."""
        current = meta(obj).get("deletionGracePeriodSeconds") or 0
        if grace >= current:
            return clone(obj), False
        new = clone(obj)
        meta(new)["deletionGracePeriodSeconds"] = grace
        meta(new)["deletionTimestamp"] = rfc3339(self._clock() + grace)
        out, gone = self.write(store_key, new)
        return clone(out), gone

    def _delete_namespace(self, res: Resource, obj: Obj, *, dry_run: bool) -> tuple[Obj, bool]:
        name = str(meta(obj).get("name"))
        if deleting(obj):
            return clone(obj), False
        new = clone(obj)
        meta(new)["deletionTimestamp"] = rfc3339(self._clock())
        meta(new)["deletionGracePeriodSeconds"] = 0
        new.setdefault("status", {})["phase"] = "Terminating"
        if dry_run:
            return new, False
        marked = clone(self._state.put(res.store_key, new, added=False))
        for ref in list(self._state.in_namespace(name)):
            found = self._state.by_ref(ref)
            if found is not None and not deleting(found):
                self._delete_obj(ref, found, propagation=None, grace=None)
        self._settle_namespace(name)
        after = self._state.namespace_obj(name)
        return (clone(after), False) if after is not None else (marked, True)


def _set_finalizers(obj: Obj, fins: list[str]) -> None:
    if fins:
        meta(obj)["finalizers"] = fins
    else:
        meta(obj).pop("finalizers", None)
