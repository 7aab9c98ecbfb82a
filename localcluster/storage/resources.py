"""Resources the local control plane serves: names, scope, verbs, subresources, as discovery shows them."""

from __future__ import annotations

from dataclasses import dataclass, field

PETSET_GROUP = "petdns.dev"
ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True, slots=True)
class Resource:
    """One served resource in one group/version.

    `storage` names the storage it shares with other versions (apps/v1alpha1 PetSet and
    petdns.dev/v1 PetSet are one store); objects are returned with the apiVersion of the request.
    """

    group: str
    version: str
    plural: str
    kind: str
    singular: str
    namespaced: bool = True
    short_names: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()  # "status", "scale"
    verbs: tuple[str, ...] = ALL_VERBS
    storage: str = ""
    categories: tuple[str, ...] = ()
    printer_columns: tuple[tuple[str, str, str], ...] = field(default=())  # (name, type, JSONPath)

    @property
    def api_version(self) -> str:
        """`v1` for the core group, else `group/version`."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def store_key(self) -> str:
        """The storage this resource's objects live in (`plural.group` by default)."""
        return self.storage or (f"{self.plural}.{self.group}" if self.group else self.plural)

    @property
    def list_kind(self) -> str:
        """Kind of the list object."""
        return f"{self.kind}List"


_PETSET_COLUMNS = (
    ("Ready", "string", ".status.readyReplicas"),
    ("Replicas", "integer", ".spec.replicas"),
    ("Age", "date", ".metadata.creationTimestamp"),
)

# kubectl's columns for the v1.4 PetSet: NAME DESIRED CURRENT AGE
_ALPHA_PETSET_COLUMNS = (
    ("Desired", "integer", ".spec.replicas"),
    ("Current", "integer", ".status.replicas"),
    ("Age", "date", ".metadata.creationTimestamp"),
)


def _core(
    plural: str,
    kind: str,
    *,
    namespaced: bool = True,
    short: tuple[str, ...] = (),
    sub: tuple[str, ...] = (),
    verbs: tuple[str, ...] = ALL_VERBS,
) -> Resource:
    return Resource(
        "",
        "v1",
        plural,
        kind,
        kind.lower(),
        namespaced,
        short,
        sub,
        verbs,
        categories=("all",) if plural in ("pods", "services") else (),
    )


RESOURCES: tuple[Resource, ...] = (
    _core(
        "namespaces",
        "Namespace",
        namespaced=False,
        short=("ns",),
        sub=("status",),
        verbs=("create", "delete", "get", "list", "patch", "update", "watch"),
    ),
    _core("services", "Service", short=("svc",), sub=("status",)),
    _core("endpoints", "Endpoints", short=("ep",), verbs=("get", "list", "watch")),
    _core("pods", "Pod", short=("po",), sub=("status", "eviction")),
    _core("persistentvolumeclaims", "PersistentVolumeClaim", short=("pvc",), sub=("status",)),
    _core("persistentvolumes", "PersistentVolume", namespaced=False, short=("pv",), sub=("status",)),
    _core("nodes", "Node", namespaced=False, short=("no",), sub=("status",)),
    _core("events", "Event", short=("ev",)),
    _core("serviceaccounts", "ServiceAccount", short=("sa",)),
    _core("configmaps", "ConfigMap", short=("cm",)),
    Resource("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", "endpointslice"),
    Resource("coordination.k8s.io", "v1", "leases", "Lease", "lease"),
    Resource("storage.k8s.io", "v1", "storageclasses", "StorageClass", "storageclass", False, ("sc",)),
    Resource(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        "customresourcedefinition",
        False,
        ("crd", "crds"),
        ("status",),
    ),
    Resource("apps", "v1", "controllerrevisions", "ControllerRevision", "controllerrevision"),
    Resource(
        PETSET_GROUP,
        "v1",
        "petsets",
        "PetSet",
        "petset",
        short_names=("pets",),
        subresources=("status", "scale"),
        categories=("all",),
        printer_columns=_PETSET_COLUMNS,
    ),
    Resource(
        "apps",
        "v1alpha1",
        "petsets",
        "PetSet",
        "petset",
        subresources=("status", "scale"),
        storage=f"petsets.{PETSET_GROUP}",
        printer_columns=_ALPHA_PETSET_COLUMNS,
    ),
    # apps/v1 StatefulSet (its table columns are kubectl's built-in ones, in apiserver.tables)
    Resource(
        "apps",
        "v1",
        "statefulsets",
        "StatefulSet",
        "statefulset",
        short_names=("sts",),
        subresources=("status", "scale"),
        categories=("all",),
    ),
)

# group -> versions in preference order (the first is the preferred version)
GROUP_VERSIONS: dict[str, tuple[str, ...]] = {
    "": ("v1",),
    "apps": ("v1", "v1alpha1"),
    "discovery.k8s.io": ("v1",),
    "coordination.k8s.io": ("v1",),
    "storage.k8s.io": ("v1",),
    "apiextensions.k8s.io": ("v1",),
    PETSET_GROUP: ("v1",),
}

# the companions of a stateful app in users' manifests (their table columns are kubectl's built-in ones,
# in apiserver.tables)
RBAC_GROUP = "rbac.authorization.k8s.io"
RESOURCES += (
    _core("secrets", "Secret"),
    Resource(
        "policy",
        "v1",
        "poddisruptionbudgets",
        "PodDisruptionBudget",
        "poddisruptionbudget",
        short_names=("pdb",),
        subresources=("status",),
    ),
    Resource(
        "apps",
        "v1",
        "deployments",
        "Deployment",
        "deployment",
        short_names=("deploy",),
        subresources=("status", "scale"),
        categories=("all",),
    ),
    Resource(
        "apps",
        "v1",
        "replicasets",
        "ReplicaSet",
        "replicaset",
        short_names=("rs",),
        subresources=("status", "scale"),
        categories=("all",),
    ),
    Resource("batch", "v1", "jobs", "Job", "job", subresources=("status",), categories=("all",)),
    Resource(
        "networking.k8s.io",
        "v1",
        "networkpolicies",
        "NetworkPolicy",
        "networkpolicy",
        short_names=("netpol",),
    ),
    Resource(RBAC_GROUP, "v1", "roles", "Role", "role"),
    Resource(RBAC_GROUP, "v1", "rolebindings", "RoleBinding", "rolebinding"),
    Resource(RBAC_GROUP, "v1", "clusterroles", "ClusterRole", "clusterrole", False),
    Resource(RBAC_GROUP, "v1", "clusterrolebindings", "ClusterRoleBinding", "clusterrolebinding", False),
)
GROUP_VERSIONS.update(
    {"policy": ("v1",), "batch": ("v1",), "networking.k8s.io": ("v1",), RBAC_GROUP: ("v1",)}
)


def find(group: str, version: str, plural: str) -> Resource | None:
    """The resource served at /api(s)/<group>/<version>/<plural>, if any."""
    for res in RESOURCES:
        if res.group == group and res.version == version and res.plural == plural:
            return res
    return None


def by_kind(api_version: str, kind: str) -> Resource | None:
    """The resource an object of this apiVersion and kind belongs to."""
    for res in RESOURCES:
        if res.api_version == api_version and res.kind == kind:
            return res
    return None


def in_group_version(group: str, version: str) -> tuple[Resource, ...]:
    """Every resource served in a group/version, in discovery order."""
    return tuple(r for r in RESOURCES if r.group == group and r.version == version)
