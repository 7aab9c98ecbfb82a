"""`kubectl petset why POD`: the pet's DNS name, from its PetSet's serviceName (else the pod's subdomain),
diagnosed by `petdns explain` against one list of the cluster's objects."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from kubeapi import auth
from kubeapi.client import Client
from kubeapi.errors import NotFound
from kubeapi.paths import PETSETS, PODS, ResourceRef
from petdns.dns.constants import A
from petdns.explain.objects import view_of
from petdns.explain.report import Diagnosis
from petdns.explain.search import explain
from petdns.explain_command import listed
from petdns.settings.values import Settings

STATEFULSETS = ResourceRef("apps", "v1", "statefulsets")
OWNERS = {"PetSet": PETSETS, "StatefulSet": STATEFULSETS}


class WhyError(Exception):
    """The pod cannot be diagnosed (absent, or the API cannot be read)."""


def pet_name(pod: Mapping[str, Any], owner: Mapping[str, Any] | None, zone: str) -> str:
    """The name peers use for the pet: `<hostname>.<serviceName>.<ns>.svc.<zone>.`; the pod's own hostname
    and subdomain stand in for what its set does not say."""
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    hostname = spec.get("hostname") or meta.get("name")
    service = ((owner or {}).get("spec") or {}).get("serviceName") or spec.get("subdomain") or ""
    labels = [str(hostname), str(service), str(meta.get("namespace") or "default"), "svc", zone]
    return ".".join(label for label in labels if label) + "."


def _controller(pod: Mapping[str, Any]) -> tuple[str, str] | None:
    """The pod's controlling set; without one, the PetSet its name says (`web` for `web-0`)."""
    meta = pod.get("metadata") or {}
    for ref in meta.get("ownerReferences") or []:
        if ref.get("controller") and ref.get("kind") in OWNERS:
            return str(ref["kind"]), str(ref["name"])
    stem, _, ordinal = str(meta.get("name") or "").rpartition("-")
    return ("PetSet", stem) if stem and ordinal.isdigit() else None


async def _gather(conn: auth.Connection, namespace: str, pod_name: str) -> tuple[Any, Any, list[Any]]:
    async with Client(conn, timeout=10, retries=1) as client:
        try:
            pod = await client.get(PODS, namespace, pod_name)
        except NotFound:
            raise WhyError(f'pods "{pod_name}" not found in namespace {namespace}') from None
        owner = None
        found = _controller(pod)
        if found is not None:
            try:
                owner = await client.get(OWNERS[found[0]], namespace, found[1])
            except NotFound:
                owner = None
        return pod, owner, await listed(client)


def why(conn: auth.Connection, namespace: str, pod_name: str, *, zone: str = "cluster.local") -> Diagnosis:
    """The diagnosis of the pet's name, as `petdns explain` gives it."""
    pod, owner, raws = asyncio.run(_gather(conn, namespace, pod_name))
    view, _ = view_of(raws, Settings(zones=(zone,)), strict=False)
    return explain(view, pet_name(pod, owner, zone), A, namespace=namespace)
