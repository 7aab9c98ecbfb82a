"""The pure versioned object store behind the local API server: the verbs, their checks and their paging."""

from __future__ import annotations

import builtins
import random
import time
from collections.abc import Callable

from kubeapi.meta import Obj, rfc3339
from localcluster.storage.defaults import wants_cluster_ip
from localcluster.storage.deletion import GarbageCollector, check_preconditions, deleting
from localcluster.storage.errors import (
    ApiError,
    already_exists,
    bad_request,
    conflict,
    forbidden,
    invalid,
    not_found,
)
from localcluster.storage.journal import Journal
from localcluster.storage.kinds import KindRules, rules_for
from localcluster.storage.meta import clone, generated_name, meta, uuid_factory
from localcluster.storage.paging import Key, ListResult, decode_continue, encode_continue, page
from localcluster.storage.patch import APPLY, apply_config, apply_patch, decode_apply, media_type, patch_types
from localcluster.storage.resources import Resource
from localcluster.storage.scale import apply_scale, scale_view
from localcluster.storage.selectors import selector_matcher
from localcluster.storage.state import NAMESPACES, Event, StoreState, resource_of
from localcluster.storage.strategic import patch_kind
from localcluster.storage.validation import metadata_causes, name_causes
from localcluster.storage.writes import (
    admit_update,
    apply_defaults,
    check_body,
    check_content,
    check_schema,
    finish_update,
    merge_update,
    object_namespace,
    unchanged,
)

__all__ = ["ApiError", "Event", "ListResult", "Obj", "ObjectStore"]

DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
_GENERATE_ATTEMPTS = 8
_CONTINUE_EXPIRED = (
    "The provided continue parameter is too old to display a consistent list result. You can start a new "
    "list without the continue parameter, or use the continue token in this response to retrieve the "
    "remainder of the results. Continuing with the provided token results in an inconsistent list - objects "
    "that were created, modified, or deleted between the time the first chunk was returned and now may show "
    "up in the list."
)

_APPLY_NEEDS_MANAGER = ApiError(
    422,
    "Invalid",
    'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch',
    {"group": "meta.k8s.io", "kind": "PatchOptions"},
)


class ObjectStore:
    """Versioned objects of every served resource; one global resourceVersion; listeners see each change.

    The state (objects, indexes, journal, event window) and the garbage collector are collaborators; the
    per-kind rules come from `kinds.RULES`.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        window: int = 50_000,
        journal: Journal | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._clock = clock
        self._rng: random.Random = rng or random.SystemRandom()
        self._new_uid = uuid_factory(self._rng)
        self._state = StoreState(window=window, journal=journal)
        self._gc = GarbageCollector(self._state, clock=clock)

    @property
    def resource_version(self) -> int:
        """The global resourceVersion: the number of the last committed change."""
        return self._state.resource_version

    def subscribe(self, listener: Callable[[Event], None]) -> Callable[[], None]:
        """Call listener synchronously after each committed change; returns the unsubscribe function."""
        return self._state.subscribe(listener)

    def check_fresh(self, resource_version: int) -> None:
        """Raise 410 Expired when changes after resource_version are no longer all kept."""
        self._state.check_fresh(resource_version)

    def events_after(
        self, res: Resource, namespace: str | None, resource_version: int
    ) -> builtins.list[Event]:
        """Kept events of res's storage (and namespace, if given) after resource_version, oldest first."""
        return self._state.events_after(res, namespace, resource_version)

    def ensure_namespaces(self, names: tuple[str, ...] = DEFAULT_NAMESPACES) -> None:
        """Create the namespaces a cluster starts with, where missing."""
        res = resource_of(NAMESPACES)
        for name in names:
            if self._state.namespace_obj(name) is None:
                self.create(res, None, {"metadata": {"name": name}})

    # --- create ------------------------------------------------------------------------------------------

    def create(self, res: Resource, namespace: str | None, obj: Obj, *, dry_run: bool = False) -> Obj:
        """Store a new object: server metadata, defaults, name checks; 409 when the name is taken."""
        new = self._prepare_create(res, namespace, check_body(res, obj))
        if dry_run:
            return new
        committed = clone(self._state.put(res.store_key, new, added=True))
        self._gc.collect_dangling(res.store_key, committed)
        return committed

    def _prepare_create(self, res: Resource, namespace: str | None, new: Obj) -> Obj:
        m = meta(new)
        ns = object_namespace(res, namespace, new)
        if m.get("resourceVersion"):
            raise bad_request("resourceVersion should not be set on objects to be created")
        for key in ("uid", "selfLink", "deletionTimestamp", "deletionGracePeriodSeconds", "generation"):
            m.pop(key, None)
        name = str(m.get("name") or "")
        prefix = str(m.get("generateName") or "")
        rules = rules_for(res.kind)
        causes = name_causes(rules.name_rule, name or (prefix + "x" if prefix else "")) + metadata_causes(new)
        if causes:
            raise invalid(res, name, causes)
        if ns:
            self._check_namespace_open(res, ns, name or prefix)
        if not name:
            name = self._free_name(res, ns, prefix)
            m["name"] = name
        elif self._state.find(res.store_key, ns, name) is not None:
            raise already_exists(res, name)
        m["uid"] = self._new_uid()
        m["creationTimestamp"] = rfc3339(self._clock())
        self._fill(res, rules, new)
        return check_schema(res, None, new, self._state.find)

    def _fill(self, res: Resource, rules: KindRules, new: Obj) -> None:
        """What the kind's rules add to a new object: generation, defaults, a cluster IP."""
        if rules.generation:
            meta(new)["generation"] = 1
        apply_defaults(rules, new)
        check_content(res, rules, new)
        if rules.cluster_ip:
            self._allocate_cluster_ip(res, new)

    def _check_namespace_open(self, res: Resource, ns: str, name: str) -> None:
        found = self._state.namespace_obj(ns)
        if found is None:
            raise not_found(resource_of(NAMESPACES), ns)
        if deleting(found):
            msg = f"unable to create new content in namespace {ns} because it is being terminated"
            raise forbidden(res, name, msg)

    def _free_name(self, res: Resource, ns: str, prefix: str) -> str:
        for _ in range(_GENERATE_ATTEMPTS):
            name = generated_name(prefix, self._rng)
            if self._state.find(res.store_key, ns, name) is None:
                return name
        raise already_exists(res, name)

    def _allocate_cluster_ip(self, res: Resource, new: Obj) -> None:
        spec = new.setdefault("spec", {})
        if not wants_cluster_ip(spec):
            if spec.get("clusterIP") == "None":
                spec["clusterIPs"] = ["None"]
            return
        asked = spec.get("clusterIP") or (spec.get("clusterIPs") or [""])[0]
        if asked:
            cause = self._state.indexes.ips.check(str(asked))
            if cause is not None:
                raise invalid(res, str(meta(new).get("name")), [cause])
        ip = str(asked or self._state.indexes.ips.next_free())
        spec["clusterIP"], spec["clusterIPs"] = ip, [ip]
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")

    # --- read --------------------------------------------------------------------------------------------

    def get(
        self, res: Resource, namespace: str | None, name: str, *, subresource: str = "", copy: bool = True
    ) -> Obj:
        """One object (or its `scale` view); 404 when absent. copy=False: the stored object, read-only."""
        found = self._state.existing(res, namespace, name)
        if subresource == "scale":
            return scale_view(found)
        return clone(found) if copy else found

    def list(
        self,
        res: Resource,
        namespace: str | None,
        *,
        label_selector: str = "",
        field_selector: str = "",
        limit: int = 0,
        continue_token: str = "",
        copy: bool = True,
    ) -> ListResult:
        """Objects in key order (namespace, name), filtered, optionally paged; namespace None = all.

        copy=False returns the stored objects themselves, to be read (serialized) and never changed.
        """
        matches = selector_matcher(label_selector, field_selector, res.kind)
        list_rv, after = self._list_start(continue_token)
        keys = self._state.keys(res.store_key)
        only_ns = namespace if res.namespaced and namespace else None
        found = page(
            keys,
            self._state.objects(res.store_key),
            span=keys.span(only_ns, after),
            limit=limit,
            matches=matches,
        )
        items = [clone(obj) for obj in found.items] if copy else found.items
        if found.last is None:
            return ListResult(items, str(list_rv), "", None)
        remaining = None if label_selector or field_selector else found.remaining
        return ListResult(items, str(list_rv), encode_continue(list_rv, found.last), remaining)

    def _list_start(self, continue_token: str) -> tuple[int, Key | None]:
        """The list's resourceVersion and the key a continued list starts after; 410 for a stale token."""
        rv = self._state.resource_version
        if not continue_token:
            return rv, None
        list_rv, after = decode_continue(continue_token)
        if list_rv < 0:
            return rv, after
        if list_rv < self._state.floor and list_rv != rv:
            fresh = encode_continue(-1, after)
            raise ApiError(410, "Expired", _CONTINUE_EXPIRED, metadata={"continue": fresh})
        return list_rv, after

    # --- update and patch --------------------------------------------------------------------------------

    def update(
        self,
        res: Resource,
        namespace: str | None,
        name: str,
        obj: Obj,
        *,
        subresource: str = "",
        dry_run: bool = False,
    ) -> Obj:
        """PUT: replace the object (409 on a stale metadata.resourceVersion); `status` and `scale` too."""
        old = self._state.existing(res, namespace, name)
        if subresource == "scale":
            new = apply_scale(res, old, obj, name=name)
            return scale_view(self._commit_update(res, old, new, dry_run=dry_run))
        body = check_body(res, obj)
        object_namespace(res, namespace, body)
        new = merge_update(res, old, body, name=name, subresource=subresource)
        return self._commit_update(res, old, new, dry_run=dry_run)

    def _commit_update(self, res: Resource, old: Obj, new: Obj, *, dry_run: bool) -> Obj:
        asked = meta(new).get("resourceVersion")
        if asked and str(asked) != meta(old).get("resourceVersion"):
            raise conflict(res, str(meta(old).get("name")))
        meta(new)["resourceVersion"] = meta(old).get("resourceVersion")
        apply_defaults(rules_for(res.kind), new)  # the kind's own defaults before the CRD schema's
        new = finish_update(res, old, check_schema(res, old, new, self._state.find))
        admit_update(res, old, new, self._state.find)
        if unchanged(old, new) or dry_run:
            return clone(new)
        committed, _ = self._gc.write(res.store_key, new)
        return clone(committed)

    def patch(
        self,
        res: Resource,
        namespace: str | None,
        name: str,
        body: bytes,
        content_type: str,
        *,
        subresource: str = "",
        field_manager: str = "",
        force: bool = False,
        dry_run: bool = False,
    ) -> Obj:
        """PATCH with any supported patch type; apply creates the object when absent."""
        del force  # no field ownership is tracked, so there are no conflicts to force
        ctype = media_type(content_type)
        kind = patch_kind(res.kind, res.group)
        if ctype not in patch_types(kind):
            apply_patch({}, body, ctype, kind=kind)  # raises the 415
        if ctype == APPLY:
            if not field_manager:
                raise _APPLY_NEEDS_MANAGER
            found = self._state.find(res.store_key, namespace or "" if res.namespaced else "", name)
            if found is None and not subresource:
                return self._apply_create(res, namespace, name, decode_apply(body), dry_run=dry_run)
        old = self._state.existing(res, namespace, name)
        view = scale_view(old) if subresource == "scale" else clone(old)
        patched = apply_patch(view, body, ctype, kind="Scale" if subresource == "scale" else kind)
        if subresource == "scale":
            new = apply_scale(res, old, patched, name=name)
            return scale_view(self._commit_update(res, old, new, dry_run=dry_run))
        patched = check_body(res, patched)
        object_namespace(res, meta(old).get("namespace"), patched)
        new = merge_update(res, old, patched, name=name, subresource=subresource)
        return self._commit_update(res, old, new, dry_run=dry_run)

    def _apply_create(
        self, res: Resource, namespace: str | None, name: str, applied: Obj, *, dry_run: bool
    ) -> Obj:
        body_name = meta(applied).get("name")
        if body_name != name:
            raise bad_request(
                f"the name of the object ({body_name}) does not match the name on the URL ({name})"
            )
        return self.create(res, namespace, apply_config(res.kind, {}, applied), dry_run=dry_run)

    # --- delete ------------------------------------------------------------------------------------------

    def delete(
        self,
        res: Resource,
        namespace: str | None,
        name: str,
        *,
        propagation: str | None = None,
        grace_seconds: int | None = None,
        preconditions: Obj | None = None,
        dry_run: bool = False,
    ) -> tuple[Obj, bool]:
        """Delete or mark for deletion; returns (object, gone): gone=False when it stays for now."""
        found = self._state.existing(res, namespace, name)
        check_preconditions(res, found, preconditions)
        return self._gc.delete(res, found, propagation=propagation, grace=grace_seconds, dry_run=dry_run)

    def delete_collection(
        self,
        res: Resource,
        namespace: str | None,
        *,
        label_selector: str = "",
        field_selector: str = "",
        propagation: str | None = None,
        grace_seconds: int | None = None,
        dry_run: bool = False,
    ) -> builtins.list[Obj]:
        """Delete every matching object; returns what each delete returned."""
        listed = self.list(
            res, namespace, label_selector=label_selector, field_selector=field_selector, copy=False
        )
        out = []
        for item in listed.items:
            m = meta(item)
            found = self._state.find(res.store_key, str(m.get("namespace") or ""), str(m["name"]))
            if found is None:
                continue  # gone with an owner deleted earlier in this loop
            obj, _ = self._gc.delete(
                res, found, propagation=propagation, grace=grace_seconds, dry_run=dry_run
            )
            out.append(obj)
        return out
