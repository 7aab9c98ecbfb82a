"""The service tree: namespaces, services, their endpoints (pets) and named ports, and why each is there
or not, from the catalog (what petdns answers from) and, when known, the pods behind it."""

from __future__ import annotations

from dataclasses import dataclass

from petdns.explain.facts import Facts, PodFacts, ServiceFacts, matches, show
from petdns.explain.near import near
from petdns.explain.report import Diagnosis
from petdns.schema.catalog import Catalog
from petdns.schema.model import Port, Service, ServiceKind
from petdns.schema.names import Parsed
from petdns.schema.packing import Endpoint
from petdns.schema.records import endpoint_label
from petdns.settings.values import Settings


@dataclass(frozen=True, slots=True)
class View:
    """What an explanation reads: the catalog and settings petdns answers from, and the raw-only facts."""

    catalog: Catalog
    settings: Settings
    facts: Facts

    def namespaces(self) -> set[str]:
        return set(self.catalog.namespaces) | {ns for ns, _ in self.catalog.services}

    def endpoints(self, svc: Service) -> list[tuple[Endpoint, str]]:
        """Every endpoint of the service's slices (ready or not), with the name it has or would have."""
        out = []
        for sl in self.catalog.slices_of((svc.namespace, svc.name)):
            for ep in sl.endpoints:
                for ip in ep.addresses:
                    out.append((ep, endpoint_label(ep, ip, self.settings)))
        return out


def base(svc: Service, zone: str) -> str:
    return f"{svc.name}.{svc.namespace}.svc.{zone}"


def namespace(view: View, d: Diagnosis, parsed: Parsed, head: str) -> bool:
    """The namespace level; `head` is the part of the name before the namespace (for suggestions)."""
    ns, tail = parsed.namespace, f"{parsed.tree}.{parsed.zone}"
    if view.catalog.namespace_exists(ns):
        return d.step("namespace", ns, True, f"namespace {ns} exists")
    d.step("namespace", ns, False, "no Namespace object and no Service in it")
    d.cause(f"namespace '{ns}' does not exist")
    d.suggest([f"{head}{other}.{tail}" for other in near(ns, view.namespaces())])
    return False


def service(view: View, d: Diagnosis, parsed: Parsed, head: str) -> Service | None:
    """The service level: found, or why not (a typo, another namespace, pods whose subdomain names it)."""
    ns, name, zone = parsed.namespace, parsed.service, parsed.zone
    svc = view.catalog.services.get((ns, name))
    if svc is None:
        d.step("service", name, False, f"no Service {ns}/{name}")
        elsewhere = sorted(k[0] for k in view.catalog.services if k[1] == name)
        subdomained = [p.name for p in view.facts.pods_in(ns) if p.subdomain == name]
        if subdomained:
            d.cause(
                f"pods {', '.join(subdomained)} have spec.subdomain '{name}' but namespace '{ns}' has no "
                f"service '{name}'",
                f"create a headless Service '{name}' (clusterIP: None) selecting them",
            )
        elif elsewhere:
            d.cause(
                f"no service '{name}' in namespace '{ns}'; it is in namespace {', '.join(elsewhere)}",
                f"ask {head}{name}.{elsewhere[0]}.svc.{zone}",
            )
        else:
            d.cause(f"no service '{name}' in namespace '{ns}'")
        in_ns = [k[1] for k in view.catalog.services if k[0] == ns]
        d.suggest([f"{head}{other}.{ns}.svc.{zone}" for other in near(name, in_ns)])
        d.suggest([f"{head}{name}.{other}.svc.{zone}" for other in elsewhere])
        return None
    if svc.kind is ServiceKind.HEADLESS:
        detail = "headless (clusterIP: None)"
    elif svc.kind is ServiceKind.CLUSTER_IP:
        detail = f"ClusterIP {', '.join(svc.cluster_ips)}"
    else:
        detail = f"ExternalName {svc.external_name}"
    d.step("service", name, True, f"Service {ns}/{name}: {detail}")
    return svc


def why_empty(view: View, d: Diagnosis, svc: Service) -> None:
    """A headless service whose name does not exist: no ready endpoint. Why."""
    eps = view.endpoints(svc)
    if not view.catalog.slices_of((svc.namespace, svc.name)):
        d.cause(
            f"headless service '{svc.name}' has no EndpointSlice (none is labelled "
            f"kubernetes.io/service-name={svc.name}), so its name does not exist"
        )
    elif not eps:
        d.cause(f"headless service '{svc.name}' has no endpoints (its EndpointSlices are empty)")
    else:
        not_ready = sorted({label for ep, label in eps if not ep.ready})
        d.cause(
            f"no endpoint of headless service '{svc.name}' is ready ({', '.join(not_ready)} "
            "not ready), so its name does not exist",
            _ready_fix(view.facts.services.get((svc.namespace, svc.name))),
        )
    _selector(view, d, svc)


def _ready_fix(sf: ServiceFacts | None) -> str:
    fix = "make the pods Ready (their readiness probe)"
    if sf is None or not sf.publish_not_ready:
        fix += ", or set publishNotReadyAddresses: true on the service to publish them before"
    return fix


def _selector(view: View, d: Diagnosis, svc: Service) -> None:
    """Pod-side causes for a service's missing endpoints: its selector and the pods it selects."""
    sf = view.facts.services.get((svc.namespace, svc.name))
    if sf is None or not view.facts.pods_known:
        return
    if sf.selector is None:
        d.cause(
            f"service '{svc.name}' has no selector: its EndpointSlices are not written for it",
            "add spec.selector matching the pods' labels, or write the EndpointSlice yourself",
        )
        return
    pods = view.facts.pods_in(svc.namespace)
    chosen = [p for p in pods if matches(sf.selector, p.labels)]
    if not chosen:
        close = [p for p in pods if _close_labels(sf.selector, p)]
        named = ", ".join(f"{p.name} ({show(p.labels)})" for p in close[:3])
        d.cause(
            f"service '{svc.name}' selects {show(sf.selector)}; no pod in namespace "
            f"'{svc.namespace}' has those labels" + (f": {named}" if named else ""),
            "make spec.selector match the pods' labels (spec.template.metadata.labels)",
        )
        return
    for pod in chosen:
        _pod_state(view, d, svc, pod, sf)


def _close_labels(selector: tuple[tuple[str, str], ...], pod: PodFacts) -> bool:
    have = dict(pod.labels)
    return any(k in have for k, _ in selector)


def _pod_state(view: View, d: Diagnosis, svc: Service, pod: PodFacts, sf: ServiceFacts) -> None:
    if not pod.ips:
        d.cause(f"pod {pod.name} has no IP yet (phase {pod.phase or 'Pending'})", "wait for it to start")
    elif pod.ready is False and not sf.publish_not_ready and not _published(view, svc, pod):
        d.cause(
            f"pod {pod.name} is not Ready and service '{svc.name}' has publishNotReadyAddresses false",
            _ready_fix(sf),
        )


def _published(view: View, svc: Service, pod: PodFacts) -> bool:
    """A ready endpoint of the service has the pod's address (the slice knows better than the pod)."""
    return any(ep.ready and set(ep.addresses) & set(pod.ips) for ep, _ in view.endpoints(svc))


def why_no_pet(view: View, d: Diagnosis, svc: Service, label: str, zone: str) -> None:
    """`<label>.<svc>...` does not exist: the endpoint is there but not ready, or how the pod misses."""
    eps = view.endpoints(svc)
    named = [ep for ep, name in eps if name == label]
    if named:
        ips = ", ".join(ip for ep in named for ip in ep.addresses)
        d.step("endpoint", label, False, f"endpoint {label} ({ips}) is not ready")
        d.cause(
            f"endpoint {label} ({ips}) of service '{svc.name}' is not ready",
            _ready_fix(view.facts.services.get((svc.namespace, svc.name))),
        )
        return
    d.step("endpoint", label, False, f"no endpoint of {svc.namespace}/{svc.name} is named {label}")
    pods = [p for p in view.facts.pods_in(svc.namespace) if label in (p.name, p.hostname)]
    if pods:
        for pod in pods:
            _pod_causes(view, d, svc, pod, label)
    else:
        _other_namespaces(view, d, svc, label, zone)
        unnamed = [ep for ep in (e for e, _ in eps) if not ep.hostname and ep.pod_name == label]
        for ep in unnamed:
            d.cause(
                f"the endpoint of pod {label} ({', '.join(ep.addresses)}) has no hostname: the "
                f"EndpointSlice controller sets it only when the pod's spec.hostname is set and its "
                f"spec.subdomain is '{svc.name}'",
                f"set spec.hostname: {label} and spec.subdomain: {svc.name} on the pod",
            )
    d.cause(f"no endpoint of service '{svc.name}' is named '{label}'")
    if not [ep for ep, _ in eps if ep.ready] and svc.kind is ServiceKind.HEADLESS:
        why_empty(view, d, svc)
    if not pods:  # a pod that could be the name is explained above: no guessing at other names
        names = [name for ep, name in eps if ep.ready]
        names += [p.hostname or p.name for p in view.facts.pods_in(svc.namespace) if p.subdomain == svc.name]
        d.suggest([f"{n}.{base(svc, zone)}" for n in near(label, names)])


def _other_namespaces(view: View, d: Diagnosis, svc: Service, label: str, zone: str) -> None:
    """A pet whose pod is in another namespace: it is named only under a service of its own."""
    for (ns, _), pod in sorted(view.facts.pods.items()):
        if ns != svc.namespace and label in (pod.name, pod.hostname) and pod.subdomain == svc.name:
            d.cause(
                f"pod {pod.name} (subdomain {svc.name}) is in namespace '{ns}', service '{svc.name}' in "
                f"'{svc.namespace}': a pod is named only under a service of its own namespace",
                f"create the headless service '{svc.name}' in namespace '{ns}' and ask "
                f"{label}.{svc.name}.{ns}.svc.{zone}",
            )


def _pod_causes(view: View, d: Diagnosis, svc: Service, pod: PodFacts, label: str) -> None:
    """Why a pod that could be `label` has no name under the service, in the controller's order."""
    sf = view.facts.services.get((svc.namespace, svc.name))
    if not pod.hostname:
        d.cause(
            f"pod {pod.name} has no spec.hostname, so its endpoint has no name",
            f"set spec.hostname: {pod.name} (a StatefulSet sets it for its pods)",
        )
    elif pod.hostname != label:
        d.cause(f"pod {pod.name} has spec.hostname '{pod.hostname}', not '{label}'")
    if pod.subdomain != svc.name:
        what = f"subdomain '{pod.subdomain}'" if pod.subdomain else "no spec.subdomain"
        headless = "headless " if svc.kind is ServiceKind.HEADLESS else ""
        d.cause(
            f"pod {pod.name} has {what}; the {headless}service is '{svc.name}'",
            f"set spec.subdomain: {svc.name} (a StatefulSet's spec.serviceName)",
        )
    if sf is not None and sf.selector is not None and not matches(sf.selector, pod.labels):
        d.cause(
            f"service '{svc.name}' selects {show(sf.selector)}; pod {pod.name} has labels {show(pod.labels)}",
            "make the service's spec.selector match the pod's labels",
        )
    elif sf is not None and sf.selector is None:
        d.cause(f"service '{svc.name}' has no selector: no EndpointSlice is written for pod {pod.name}")
    if sf is not None:
        _pod_state(view, d, svc, pod, sf)


def port_step(view: View, d: Diagnosis, svc: Service, parsed: Parsed) -> None:
    """`_<port>._<proto>.<svc>...` does not exist: which ports the service has."""
    if svc.kind is ServiceKind.CLUSTER_IP:
        ports: list[Port] = list(svc.ports)
        where = "service"
    else:
        ports = [p for sl in view.catalog.slices_of((svc.namespace, svc.name)) for p in sl.ports]
        where = "ready endpoints' EndpointSlice"
    label = f"_{parsed.port}._{parsed.protocol}"
    same = [p for p in ports if p.name == parsed.port]
    if same and all(p.protocol != parsed.protocol for p in same):
        d.step("port", label, False, f"port {parsed.port} is {same[0].protocol}")
        d.cause(
            f"port '{parsed.port}' of service '{svc.name}' is {same[0].protocol.upper()}, not "
            f"{parsed.protocol.upper()}",
            f"ask _{parsed.port}._{same[0].protocol}.{base(svc, parsed.zone)}",
        )
        return
    if same:
        d.step("port", label, False, f"port {parsed.port} has no ready endpoint")
        why_empty(view, d, svc)
        return
    named = sorted({p.name for p in ports if p.name})
    d.step("port", label, False, f"{where} ports: {', '.join(named) or 'none named'}")
    if ports and not named:
        d.cause(
            f"the ports of service '{svc.name}' have no names; SRV names need named ports",
            "set spec.ports[].name",
        )
    else:
        d.cause(f"service '{svc.name}' has no port named '{parsed.port}'")
    d.suggest([f"_{n}._{parsed.protocol}.{base(svc, parsed.zone)}" for n in near(parsed.port, named)])
    if svc.kind is ServiceKind.HEADLESS and not [ep for ep, _ in view.endpoints(svc) if ep.ready]:
        why_empty(view, d, svc)
