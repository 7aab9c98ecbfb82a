"""Resource references and their REST paths (`/api/v1/...`, `/apis/<group>/<version>/...`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ResourceRef:
    """A resource as the REST API names it."""

    group: str
    version: str
    plural: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        """`v1` or `group/version`."""
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(
        self, namespace: str | None = None, name: str | None = None, subresource: str | None = None
    ) -> str:
        """The collection, object or subresource path; namespace None lists across namespaces."""
        parts = ["/api/v1" if not self.group else f"/apis/{self.group}/{self.version}"]
        if self.namespaced and namespace:
            parts.append(f"namespaces/{namespace}")
        parts.append(self.plural)
        if name:
            parts.append(name)
            if subresource:
                parts.append(subresource)
        return "/".join(parts)


NAMESPACES = ResourceRef("", "v1", "namespaces", namespaced=False)
SERVICES = ResourceRef("", "v1", "services")
PODS = ResourceRef("", "v1", "pods")
PERSISTENT_VOLUME_CLAIMS = ResourceRef("", "v1", "persistentvolumeclaims")
PERSISTENT_VOLUMES = ResourceRef("", "v1", "persistentvolumes", namespaced=False)
NODES = ResourceRef("", "v1", "nodes", namespaced=False)
STORAGE_CLASSES = ResourceRef("storage.k8s.io", "v1", "storageclasses", namespaced=False)
EVENTS = ResourceRef("", "v1", "events")
ENDPOINT_SLICES = ResourceRef("discovery.k8s.io", "v1", "endpointslices")
LEASES = ResourceRef("coordination.k8s.io", "v1", "leases")
CONTROLLER_REVISIONS = ResourceRef("apps", "v1", "controllerrevisions")
PETSETS = ResourceRef("petdns.dev", "v1", "petsets")
