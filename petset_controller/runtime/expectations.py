"""Per-set expectations: writes the informers have not shown yet, so a stale cache never drives a sync."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from petset_controller.core.model import Claim, Pod, Revision

log = logging.getLogger("petset_controller.expectations")
SetKey = tuple[str, str]  # (namespace, name) of a PetSet


class Observed(Protocol):
    """What the informers hold now, by namespace and name."""

    def pod(self, namespace: str, name: str) -> Pod | None:
        """The cached pod."""

    def claim(self, namespace: str, name: str) -> Claim | None:
        """The cached claim."""

    def revision(self, namespace: str, name: str) -> Revision | None:
        """The cached ControllerRevision."""

    def set_version(self, namespace: str, name: str) -> str:
        """The cached PetSet's resourceVersion ('' when absent)."""


Check = Callable[[Observed], bool]


@dataclass(frozen=True, slots=True)
class Expectation:
    """A write whose effect the cache must show (`seen`) before the set is planned again."""

    what: str
    seen: Check
    deadline: float


class Expectations:
    """Pending expectations per set; one that outlives `timeout` seconds is dropped with a warning."""

    def __init__(self, *, timeout: float = 30.0) -> None:
        self.timeout = timeout
        self._pending: dict[SetKey, list[Expectation]] = {}
        self.expired = 0

    def expect(self, key: SetKey, what: str, *, seen: Check, now: float) -> None:
        """Record that the cache must come to show `what`."""
        self._pending.setdefault(key, []).append(Expectation(what, seen, now + self.timeout))

    def wait(self, key: SetKey, observed: Observed, *, now: float) -> float | None:
        """Seconds until the earliest unmet expectation of the set times out; None when all are met."""
        pending = self._pending.get(key)
        if not pending:
            return None
        left = []
        for item in pending:
            if item.seen(observed):
                continue
            if item.deadline <= now:
                self.expired += 1
                log.warning("%s/%s: gave up waiting to observe %s", key[0], key[1], item.what)
                continue
            left.append(item)
        if not left:
            del self._pending[key]
            return None
        self._pending[key] = left
        return min(item.deadline for item in left) - now

    def count(self, key: SetKey) -> int:
        """Expectations recorded for the set and not yet checked off."""
        return len(self._pending.get(key, ()))

    def forget(self, key: SetKey) -> None:
        """Drop everything for a set (it was deleted)."""
        self._pending.pop(key, None)


def pod_created(namespace: str, name: str, *, uid: str) -> Check:
    """The cache shows the pod (with this UID, or any UID when uid is '')."""

    def seen(observed: Observed) -> bool:
        pod = observed.pod(namespace, name)
        return pod is not None and (not uid or pod.uid == uid)

    return seen


def pod_deleting(namespace: str, name: str, *, uid: str) -> Check:
    """The cache shows the pod terminating, gone, or replaced."""

    def seen(observed: Observed) -> bool:
        pod = observed.pod(namespace, name)
        return pod is None or pod.uid != uid or pod.terminating

    return seen


def pod_matches(namespace: str, name: str, *, uid: str, test: Callable[[Pod], bool]) -> Check:
    """The cache shows the pod passing `test`, or the pod is gone or replaced."""

    def seen(observed: Observed) -> bool:
        pod = observed.pod(namespace, name)
        return pod is None or pod.uid != uid or test(pod)

    return seen


def claim_created(namespace: str, name: str, *, uid: str) -> Check:
    """The cache shows the claim (with this UID, or any when uid is '')."""

    def seen(observed: Observed) -> bool:
        claim = observed.claim(namespace, name)
        return claim is not None and (not uid or claim.uid == uid)

    return seen


def claim_matches(namespace: str, name: str, *, uid: str, test: Callable[[Claim], bool]) -> Check:
    """The cache shows the claim passing `test`, or the claim is gone or replaced."""

    def seen(observed: Observed) -> bool:
        claim = observed.claim(namespace, name)
        return claim is None or claim.uid != uid or test(claim)

    return seen


def revision_present(namespace: str, name: str) -> Check:
    """The cache shows a revision of this name."""
    return lambda observed: observed.revision(namespace, name) is not None


def revision_matches(namespace: str, name: str, *, uid: str, test: Callable[[Revision], bool]) -> Check:
    """The cache shows the revision passing `test`, or it is gone or replaced (uid '' matches any)."""

    def seen(observed: Observed) -> bool:
        revision = observed.revision(namespace, name)
        return revision is None or (bool(uid) and revision.uid != uid) or test(revision)

    return seen


def set_moved_past(namespace: str, name: str, *, version: str) -> Check:
    """The cache holds a newer version of the PetSet than `version` (or none at all)."""
    return lambda observed: observed.set_version(namespace, name) != version
