"""Carries out plan()'s actions through the API: idempotent writes, expectations, slow-start batches."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, assert_never

from kubeapi.client import MERGE_PATCH, STRATEGIC_PATCH, Client
from kubeapi.errors import AlreadyExists, ApiError, Conflict, Invalid, NotFound
from kubeapi.paths import CONTROLLER_REVISIONS, PERSISTENT_VOLUME_CLAIMS, PODS, ResourceRef
from petset_controller.core.actions import (
    Action,
    Adopt,
    CreateClaim,
    CreatePod,
    CreateRevision,
    DeletePod,
    DeleteRevision,
    Event,
    ExpandClaim,
    Release,
    RenumberRevision,
    RequeueAfter,
    UpdateClaimOwner,
    UpdatePodLabels,
    UpdateStatus,
)
from petset_controller.core.batches import MAX_BATCH, batch_sizes, describe, split, units
from petset_controller.core.model import controller_of
from petset_controller.core.spec import STATEFULSET_KIND
from petset_controller.runtime import expectations as seen
from petset_controller.runtime import rechecks
from petset_controller.runtime.events import EventRecorder, Gate, open_gate
from petset_controller.runtime.expectations import Check, Expectations
from petset_controller.runtime.outcome import Outcome, Stop, Target
from petset_controller.runtime.setkinds import set_resource

log = logging.getLogger("petset_controller.actions")


class Executor:
    """Runs one sync's actions for a set, recording what the informers must show before the next one."""

    def __init__(
        self,
        client: Client,
        *,
        expectations: Expectations,
        events: EventRecorder,
        gate: Gate = open_gate,
        monotonic: Callable[[], float] = time.monotonic,
        max_batch: int = MAX_BATCH,
    ) -> None:
        self.client = client
        self.expectations = expectations
        self.events = events
        self.gate = gate
        self.monotonic = monotonic
        self.max_batch = max_batch
        self.writes = 0

    async def execute(self, target: Target, actions: Sequence[Action]) -> Outcome:
        """Set writes, then pets (in order, or slow-start batches when Parallel), then status and pruning.

        The first failed pet write ends the pets' part; status and pruning are still written. A `Stop`
        (the cache is behind) ends the sync.
        """
        first, pets, last = split(actions)
        waits = [a.seconds for a in actions if isinstance(a, RequeueAfter)]
        requeue = min(waits) if waits else None
        try:
            if any(isinstance(a, Adopt) for a in first):
                await rechecks.the_set(self.client, target)
            for action in first:
                await self._one(target, action)
        except Stop as stop:
            return Outcome(requeue, stopped=str(stop))
        except ApiError as err:
            return Outcome(requeue, error=err)
        parallel = target.pet_set.spec.parallel
        try:
            error = await self._batches(target, units(target.pet_set, pets), grow=parallel)
        except Stop as stop:  # the cache is behind (a claim kept from the collector): the next sync decides
            return Outcome(requeue, stopped=str(stop))
        try:
            for action in last:
                await self._one(target, action)
        except ApiError as err:
            error = error or err
        return Outcome(requeue, error=error)

    async def _batches(self, target: Target, todo: list[list[Action]], *, grow: bool) -> ApiError | None:
        """Units in batches of 1, 2, 4 ... (or one by one); the first batch with a failure is the last."""
        done = 0
        for size in batch_sizes(len(todo), grow=grow, cap=self.max_batch):
            batch = todo[done : done + size]
            done += size
            results = await asyncio.gather(*(self._unit(target, u) for u in batch), return_exceptions=True)
            for result in results:
                if isinstance(result, ApiError):
                    return result
                if isinstance(result, BaseException):
                    raise result
        return None

    async def _unit(self, target: Target, unit: list[Action]) -> None:
        for action in unit:
            await self._one(target, action)

    async def _one(self, target: Target, action: Action) -> None:
        try:
            await self._dispatch(target, action)
        except ApiError as err:
            verb, kind, name = describe(action)
            message = f"{verb} {kind} {name} failed: {err}"
            self.events.record(target.pet_set, f"Failed{verb.capitalize()}", message=message, kind="Warning")
            raise

    async def _dispatch(self, target: Target, action: Action) -> None:
        """The handler of each Action type (an Action type without one is a type error)."""
        match action:
            case CreateClaim():
                await self.create_claim(target, action)
            case CreatePod():
                await self.create_pod(target, action)
            case DeletePod():
                await self.delete_pod(target, action)
            case UpdatePodLabels():
                await self.update_pod_labels(target, action)
            case UpdateClaimOwner():
                await self.update_claim_owner(target, action)
            case ExpandClaim():
                await self.expand_claim(target, action)
            case Adopt():
                await self.adopt(target, action)
            case Release():
                await self.release(target, action)
            case CreateRevision():
                await self.create_revision(target, action)
            case RenumberRevision():
                await self.renumber_revision(target, action)
            case DeleteRevision():
                await self.delete_revision(target, action)
            case UpdateStatus():
                await self.update_status(target, action)
            case Event():
                await self.event(target, action)
            case RequeueAfter():
                pass  # no write: execute() reads the delay into the Outcome
            case _:
                assert_never(action)

    # -- helpers ------------------------------------------------------------------------------------

    def _write(self, verb: str, *, kind: str, name: str) -> None:
        self.gate(verb, kind, name)
        self.writes += 1

    def _expect(self, target: Target, what: str, *, check: Check) -> None:
        key = (target.pet_set.namespace, target.pet_set.name)
        self.expectations.expect(key, what, seen=check, now=self.monotonic())

    async def _replaced(self, ref: ResourceRef, *, namespace: str, name: str, uid: str) -> bool:
        """Whether the object is gone or another object now has its name (an uncached read)."""
        try:
            found = await self.client.get(ref, namespace, name)
        except NotFound:
            return True
        return str((found.get("metadata") or {}).get("uid", "")) != uid

    async def _uid_checked(
        self, ref: ResourceRef, *, namespace: str, name: str, uid: str, write: Callable[[], Awaitable[Any]]
    ) -> bool:
        """Run a write guarded by the object's UID; False when the object is gone or was replaced."""
        try:
            await write()
        except NotFound:
            return False
        except (Conflict, Invalid):
            if await self._replaced(ref, namespace=namespace, name=name, uid=uid):
                return False
            raise
        return True

    async def _patch(
        self, ref: ResourceRef, target: Target, *, name: str, uid: str, patch: dict[str, Any], strategic: bool
    ) -> bool:
        ns = target.pet_set.namespace
        content_type = STRATEGIC_PATCH if strategic else MERGE_PATCH
        self._write("patch", kind=ref.plural, name=name)
        body = {**patch, "metadata": {**patch.get("metadata", {}), "uid": uid}}
        return await self._uid_checked(
            ref,
            namespace=ns,
            name=name,
            uid=uid,
            write=lambda: self.client.patch(ref, ns, name, body, content_type=content_type),
        )

    # -- pets ---------------------------------------------------------------------------------------

    async def create_claim(self, target: Target, action: CreateClaim) -> None:
        """A pet's claim; one that exists already is the one wanted (claims are found by name)."""
        ns = target.pet_set.namespace
        self._write("create", kind="PersistentVolumeClaim", name=action.name)
        uid = ""
        try:
            made = await self.client.create(PERSISTENT_VOLUME_CLAIMS, ns, dict(action.manifest))
            uid = str(made["metadata"]["uid"])
            message = f"created claim {action.name} for pet {action.pet}"
            self.events.record(target.pet_set, "SuccessfulCreate", message=message)
        except AlreadyExists:
            pass
        self._expect(target, f"claim {action.name}", check=seen.claim_created(ns, action.name, uid=uid))

    async def create_pod(self, target: Target, action: CreatePod) -> None:
        """A pet's pod; AlreadyExists means the cache is behind, and the informer will show it."""
        ns = target.pet_set.namespace
        self._write("create", kind="Pod", name=action.name)
        uid = ""
        try:
            made = await self.client.create(PODS, ns, dict(action.manifest))
            uid = str(made["metadata"]["uid"])
            self.events.record(target.pet_set, "SuccessfulCreate", message=f"created pet {action.name}")
        except AlreadyExists:
            pass
        self._expect(target, f"pod {action.name}", check=seen.pod_created(ns, action.name, uid=uid))

    async def delete_pod(self, target: Target, action: DeletePod) -> None:
        """Graceful delete of exactly that pod (UID precondition); gone already is fine."""
        ns = target.pet_set.namespace
        self._write("delete", kind="Pod", name=action.name)
        deleted = await self._uid_checked(
            PODS,
            namespace=ns,
            name=action.name,
            uid=action.uid,
            write=lambda: self.client.delete(PODS, ns, action.name, preconditions={"uid": action.uid}),
        )
        if deleted:
            message = f"deleted pet {action.name} ({action.reason})"
            self.events.record(target.pet_set, "SuccessfulDelete", message=message)
        self._expect(
            target, f"pod {action.name} deleting", check=seen.pod_deleting(ns, action.name, uid=action.uid)
        )

    async def update_pod_labels(self, target: Target, action: UpdatePodLabels) -> None:
        """Identity labels merged back in."""
        wanted = dict(action.labels)
        patch = {"metadata": {"labels": wanted}}
        await self._patch(PODS, target, name=action.name, uid=action.uid, patch=patch, strategic=False)

        def test(pod: Any) -> bool:
            return all(pod.labels.get(k) == v for k, v in wanted.items())

        ns = target.pet_set.namespace
        self._expect(
            target,
            f"labels of {action.name}",
            check=seen.pod_matches(ns, action.name, uid=action.uid, test=test),
        )

    async def update_claim_owner(self, target: Target, action: UpdateClaimOwner) -> None:
        """A claim's ownerReferences set to what the retention policy asks (the whole list). A reference
        to a pod condemns the claim (the collector deletes it with the pod): only after uncached reads
        show the set's spec as the plan saw it and that pod alive (`rechecks.condemning`)."""
        condemning = [r for r in action.owners if r.kind == "Pod"]
        if condemning:
            await rechecks.condemning(self.client, target, action.name, condemning)
        owners = [r.to_raw() for r in action.owners]
        patch = {"metadata": {"ownerReferences": owners or None}}
        await self._patch(
            PERSISTENT_VOLUME_CLAIMS, target, name=action.name, uid=action.uid, patch=patch, strategic=False
        )
        wanted = set(action.owners)
        ns = target.pet_set.namespace
        check = seen.claim_matches(
            ns, action.name, uid=action.uid, test=lambda c: set(c.owner_refs) == wanted
        )
        self._expect(target, f"owners of claim {action.name}", check=check)

    async def expand_claim(self, target: Target, action: ExpandClaim) -> None:
        """A bound claim's storage request raised to its template's (the API server refuses lowering it)."""
        patch = {"spec": {"resources": {"requests": {"storage": action.storage}}}}
        ref, name, uid = PERSISTENT_VOLUME_CLAIMS, action.name, action.uid
        if await self._patch(ref, target, name=name, uid=uid, patch=patch, strategic=False):
            message = f"expanding claim {name} from {action.previous} to {action.storage}"
            self.events.record(target.pet_set, "ExpandingClaim", message=message)
        test = lambda c: c.request == action.storage  # noqa: E731
        check = seen.claim_matches(target.pet_set.namespace, name, uid=uid, test=test)
        self._expect(target, f"request of claim {name}", check=check)

    # -- the set's own objects ---------------------------------------------------------------------

    async def adopt(self, target: Target, action: Adopt) -> None:
        """The set's controller reference added to an orphan (a strategic merge keyed by owner UID)."""
        ref = PODS if action.kind == "Pod" else CONTROLLER_REVISIONS
        patch = {"metadata": {"ownerReferences": [action.owner.to_raw()]}}
        await self._patch(ref, target, name=action.name, uid=action.uid, patch=patch, strategic=True)
        self._expect_owner(target, kind=action.kind, name=action.name, uid=action.uid, owner=action.owner.uid)

    async def release(self, target: Target, action: Release) -> None:
        """The set's reference removed from an object it no longer selects."""
        ref = PODS if action.kind == "Pod" else CONTROLLER_REVISIONS
        patch = {"metadata": {"ownerReferences": [{"$patch": "delete", "uid": action.owner_uid}]}}
        await self._patch(ref, target, name=action.name, uid=action.uid, patch=patch, strategic=True)
        self._expect_owner(target, kind=action.kind, name=action.name, uid=action.uid, owner="")

    def _expect_owner(self, target: Target, *, kind: str, name: str, uid: str, owner: str) -> None:
        def test(obj: Any) -> bool:
            ref = controller_of(obj.owner_refs)
            return (ref.uid if ref is not None else "") == owner

        ns = target.pet_set.namespace
        check = (
            seen.pod_matches(ns, name, uid=uid, test=test)
            if kind == "Pod"
            else seen.revision_matches(ns, name, uid=uid, test=test)
        )
        self._expect(target, f"owner of {kind} {name}", check=check)

    async def create_revision(self, target: Target, action: CreateRevision) -> None:
        """A new revision; a name already taken ends the sync until the cache shows whose it is."""
        ns = target.pet_set.namespace
        self._write("create", kind="ControllerRevision", name=action.name)
        try:
            await self.client.create(CONTROLLER_REVISIONS, ns, dict(action.manifest))
        except AlreadyExists:
            self._expect(target, f"revision {action.name}", check=seen.revision_present(ns, action.name))
            raise Stop(f"revision {action.name} exists but is not in the cache yet") from None
        self._expect(target, f"revision {action.name}", check=seen.revision_present(ns, action.name))

    async def renumber_revision(self, target: Target, action: RenumberRevision) -> None:
        """An old revision made the newest again (a rollback)."""
        ns = target.pet_set.namespace
        self._write("patch", kind="ControllerRevision", name=action.name)
        try:
            await self.client.patch(CONTROLLER_REVISIONS, ns, action.name, {"revision": action.revision})
        except NotFound:
            return
        check = seen.revision_matches(ns, action.name, uid="", test=lambda r: r.revision == action.revision)
        self._expect(target, f"revision {action.name} renumbered", check=check)

    async def delete_revision(self, target: Target, action: DeleteRevision) -> None:
        """A revision beyond the history limit (UID precondition)."""
        ns = target.pet_set.namespace
        self._write("delete", kind="ControllerRevision", name=action.name)
        await self._uid_checked(
            CONTROLLER_REVISIONS,
            namespace=ns,
            name=action.name,
            uid=action.uid,
            write=lambda: self.client.delete(
                CONTROLLER_REVISIONS, ns, action.name, preconditions={"uid": action.uid}
            ),
        )
        check = seen.revision_matches(ns, action.name, uid=action.uid, test=lambda _: False)
        self._expect(target, f"revision {action.name} deleted", check=check)

    async def update_status(self, target: Target, action: UpdateStatus) -> None:
        """The status subresource, conditional on the cached resourceVersion (a conflict waits for the
        newer set to reach the cache)."""
        ps, where = target.pet_set, set_resource(target.pet_set.kind)
        status = action.status.to_raw()
        if ps.kind != STATEFULSET_KIND:  # apps/v1 StatefulSetStatus has no selector field
            status["selector"] = str(ps.spec.selector)
        meta = {"name": ps.name, "namespace": ps.namespace, "resourceVersion": target.resource_version}
        body = {"apiVersion": where.api_version, "kind": ps.kind, "metadata": meta, "status": status}
        self._write("update", kind=f"{ps.kind}/status", name=ps.name)
        try:
            written = await self.client.replace(where, ps.namespace, ps.name, body, subresource="status")
        except NotFound:
            return
        except Conflict:
            log.debug("%s/%s: status conflict; waiting for the newer set", ps.namespace, ps.name)
        else:
            if (written.get("metadata") or {}).get("resourceVersion") == target.resource_version:
                return  # nothing changed, so no event will come
        check = seen.set_moved_past(ps.namespace, ps.name, version=target.resource_version)
        self._expect(target, "status written", check=check)

    async def event(self, target: Target, action: Event) -> None:
        """An event the plan asked for."""
        self.events.record(target.pet_set, action.reason, message=action.message, kind=action.type)
