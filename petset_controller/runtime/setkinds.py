"""The set kinds' REST resources: PetSets (petdns.dev/v1) and apps/v1 StatefulSets."""

from __future__ import annotations

from kubeapi.paths import PETSETS, ResourceRef
from petset_controller.core.spec import STATEFULSET_KIND

STATEFULSETS = ResourceRef("apps", "v1", "statefulsets")


def set_resource(kind: str) -> ResourceRef:
    """Where sets of a kind are read and their status written."""
    return STATEFULSETS if kind == STATEFULSET_KIND else PETSETS
