"""The cells of kubectl's StatefulSet columns: READY (ready/desired), and CONTAINERS and IMAGES of -o wide."""

from __future__ import annotations

from typing import Any

from kubeapi.meta import Obj
from localcluster.storage.meta import field_path


def _containers(obj: Obj) -> list[Obj]:
    found = field_path(obj, "spec.template.spec.containers")
    return [c for c in found if isinstance(c, dict)] if isinstance(found, list) else []


def set_ready(obj: Obj, _now: float) -> Any:
    """`1/2`: status.readyReplicas out of spec.replicas."""
    ready, wanted = field_path(obj, "status.readyReplicas"), field_path(obj, "spec.replicas")
    return f"{ready if isinstance(ready, int) else 0}/{wanted if isinstance(wanted, int) else 0}"


def set_containers(obj: Obj, _now: float) -> Any:
    """The template's container names, comma-separated."""
    return ",".join(str(c.get("name", "")) for c in _containers(obj))


def set_images(obj: Obj, _now: float) -> Any:
    """The template's container images, comma-separated."""
    return ",".join(str(c.get("image", "")) for c in _containers(obj))
