"""Uncached reads before the writes a stale cache must not drive: adopting for a set, condemning a claim."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kubeapi.client import Client
from kubeapi.errors import NotFound
from kubeapi.paths import PODS
from petset_controller.core.model import OwnerRef
from petset_controller.runtime.outcome import Stop, Target
from petset_controller.runtime.setkinds import set_resource


async def the_set(client: Client, target: Target) -> dict[str, Any]:
    """The set still there, same UID, not being deleted (else Stop); its metadata."""
    ps = target.pet_set
    try:
        fresh = await client.get(set_resource(ps.kind), ps.namespace, ps.name)
    except NotFound:
        raise Stop(f"{ps.namespace}/{ps.name} is gone") from None
    meta: dict[str, Any] = fresh.get("metadata") or {}
    if meta.get("uid") != ps.uid or meta.get("deletionTimestamp"):
        raise Stop(f"{ps.namespace}/{ps.name} was replaced or is being deleted")
    return meta


async def condemning(client: Client, target: Target, claim: str, pods: Sequence[OwnerRef]) -> None:
    """Before a claim is handed to a pod: a cache behind the API (after a restart, or another
    controller's scale-up) must not condemn a claim that an in-range pet now uses. Stop unless the
    set's generation is the plan's and each pod is there with the UID the reference names."""
    ps = target.pet_set
    generation = (await the_set(client, target)).get("generation")
    if (generation if isinstance(generation, int) else 0) != ps.generation:
        raise Stop(f"{ps.namespace}/{ps.name} changed since it was read: claim {claim} kept")
    for ref in pods:
        try:
            pod = await client.get(PODS, ps.namespace, ref.name)
        except NotFound:
            raise Stop(f"pod {ref.name} is gone: claim {claim} kept") from None
        if (pod.get("metadata") or {}).get("uid") != ref.uid:
            raise Stop(f"pod {ref.name} was replaced: claim {claim} kept")
