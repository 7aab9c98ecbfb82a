"""A StatefulSet-style cluster as users write it (a headless Service, pets with hostname and subdomain)
and the EndpointSlice the EndpointSlice controller writes for it, with one knob per way it goes wrong."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Pet:
    name: str
    ip: str
    hostname: str | None = None  # None: the pod's own name, as a StatefulSet sets it; "" unset
    subdomain: str = "nginx"
    app: str = "nginx"  # the pod's app label
    ready: bool = True
    namespace: str = "default"


@dataclass(frozen=True)
class Cluster:
    service: str = "nginx"
    namespace: str = "default"
    cluster_ip: str = "None"
    selector: str | None = "nginx"  # None: no selector
    publish_not_ready: bool = False
    pets: tuple[Pet, ...] = (Pet("web-0", "10.244.0.10"), Pet("web-1", "10.244.1.11"))
    slice: bool = True  # the controller has written the slice
    namespaces: tuple[str, ...] = ("default", "prod")

    def with_pet(self, index: int, **changes: object) -> Cluster:
        pets = list(self.pets)
        pets[index] = replace(pets[index], **changes)  # type: ignore[arg-type]
        return replace(self, pets=tuple(pets))

    def yaml(self) -> str:
        docs = [f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n" for ns in self.namespaces]
        selector = f"  selector:\n    app: {self.selector}\n" if self.selector is not None else ""
        docs.append(
            f"apiVersion: v1\nkind: Service\nmetadata:\n  name: {self.service}\n"
            f"  namespace: {self.namespace}\n"
            f"spec:\n  clusterIP: {self.cluster_ip}\n{selector}"
            f"  publishNotReadyAddresses: {str(self.publish_not_ready).lower()}\n"
            "  ports:\n    - name: web\n      port: 80\n      protocol: TCP\n"
        )
        docs += [_pod(p) for p in self.pets]
        if self.slice:
            docs.append(self._slice())
        return "---\n".join(docs)

    def _slice(self) -> str:
        """As the EndpointSlice controller writes it: selected pods only, hostname only for a pod whose
        hostname is set and whose subdomain is the service, ready unless not Ready and not published."""
        lines = []
        for p in self.pets:
            if self.selector is None or p.app != self.selector or p.namespace != self.namespace:
                continue
            hostname = p.name if p.hostname is None else p.hostname
            named = hostname and p.subdomain == self.service
            ready = str(self.publish_not_ready or p.ready).lower()
            lines.append(f"  - addresses: [{p.ip}]\n")
            if named:
                lines.append(f"    hostname: {hostname}\n")
            lines.append(
                f"    conditions:\n      ready: {ready}\n      serving: {str(p.ready).lower()}\n"
                f"    targetRef:\n      kind: Pod\n      name: {p.name}\n      namespace: {p.namespace}\n"
            )
        endpoints = "\n" + "".join(lines) if lines else " []\n"
        return (
            f"apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: {self.service}-7xk2p\n"
            f"  namespace: {self.namespace}\n  labels:\n    kubernetes.io/service-name: {self.service}\n"
            "    endpointslice.kubernetes.io/managed-by: endpointslice-controller.k8s.io\n"
            "addressType: IPv4\nports:\n  - name: web\n    port: 80\n    protocol: TCP\n"
            f"endpoints:{endpoints}"
        )


def _pod(p: Pet) -> str:
    hostname = p.name if p.hostname is None else p.hostname
    spec = (f"  hostname: {hostname}\n" if hostname else "") + (
        f"  subdomain: {p.subdomain}\n" if p.subdomain else ""
    )
    return (
        f"apiVersion: v1\nkind: Pod\nmetadata:\n  name: {p.name}\n  namespace: {p.namespace}\n"
        f"  labels:\n    app: {p.app}\n    statefulset.kubernetes.io/pod-name: {p.name}\n"
        f"spec:\n{spec}  containers:\n    - name: nginx\n      image: registry.k8s.io/nginx-slim:0.8\n"
        f"status:\n  phase: Running\n  podIP: {p.ip}\n  podIPs:\n    - ip: {p.ip}\n"
        f'  conditions:\n    - type: Ready\n      status: "{"True" if p.ready else "False"}"\n'
    )
