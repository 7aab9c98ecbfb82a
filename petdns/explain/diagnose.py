"""One absolute name and type: petdns's own answer (the lookup), the name read level by level, the
records with the objects that make them, and, when it does not resolve, the causes with their fixes."""

from __future__ import annotations

from petdns.dns.constants import AAAA, CNAME, NOERROR, NXDOMAIN, PTR, SRV, TYPE_NAMES, A
from petdns.explain import services
from petdns.explain.near import distance, near
from petdns.explain.report import Cause, Diagnosis, Record
from petdns.explain.services import View
from petdns.schema.lookup import lookup, resolve
from petdns.schema.model import Service, ServiceKind
from petdns.schema.names import Kind, Parsed, parse, split, undashed
from petdns.schema.packing import Endpoint
from petdns.schema.records import RR
from petdns.settings.values import REVERSE_ZONES, PodsMode


def type_name(qtype: int) -> str:
    return TYPE_NAMES.get(qtype, f"TYPE{qtype}")


def diagnose(view: View, name: str, qtype: int, *, synced: bool = True) -> Diagnosis:
    """Explain (name, type) against the view; `resolves` is exactly petdns's answer having data."""
    name = name.rstrip(".").lower()
    d = Diagnosis(name, type_name(qtype))
    response = lookup(view.catalog, view.settings, name, qtype)
    parsed = parse(split(name), view.settings.served_zones)
    if response is None:
        d.rcode = "OUTSIDE"
        _outside(view, d, split(name))
        return d
    d.resolves = response.rcode == NOERROR and bool(response.answer)
    d.rcode = "NXDOMAIN" if response.rcode == NXDOMAIN else "NOERROR" if d.resolves else "NODATA"
    d.step("zone", parsed.zone, True, f"served zone {parsed.zone}")
    node = resolve(view.catalog, view.settings, parsed, name)
    _walk(view, d, parsed, name, node is not None)
    if node is not None and not d.resolves:
        _no_type(d, qtype, sorted(node.records), node.cname)
    for rr in response.answer:
        d.records.append(Record(rr.to_text(), made_by(view, rr, parsed)))
    if not synced and not d.resolves:
        d.rcode = "SERVFAIL"
        d.causes.insert(0, _not_synced())
    if d.rcode == "NXDOMAIN" and parsed.zone in REVERSE_ZONES:
        d.note("a reverse name petdns does not know is passed to the upstreams when forwarding is on")
    return d


def _not_synced() -> Cause:
    return Cause(
        "the server has not listed every resource from the API yet: misses answer SERVFAIL",
        "wait for /ready",
    )


def _walk(view: View, d: Diagnosis, parsed: Parsed, name: str, exists: bool) -> None:
    kind = parsed.kind
    if kind in (Kind.APEX, Kind.TREE, Kind.DNS_VERSION, Kind.NS_HOST):
        d.step(kind.value, name, True, "exists whatever the objects")
        return
    if kind is Kind.NONE:
        _grammar(view, d, parsed, name)
        return
    if kind is Kind.REVERSE:
        _reverse(view, d, parsed, exists)
        return
    d.step("tree", parsed.tree, True, f"{parsed.tree}.{parsed.zone}")
    labels = split(name)
    head = ".".join(labels[: len(labels) - len(split(parsed.zone)) - 2])
    head = f"{head}." if head else ""
    if kind is Kind.POD:
        _pod(view, d, parsed, head)
        return
    ns_ok = services.namespace(view, d, parsed, head)
    if kind is Kind.NAMESPACE:
        if ns_ok and parsed.tree == "pod" and not exists:
            d.cause(
                f"a namespace under pod.{parsed.zone} has no records of its own: pod names are "
                f"<dashed-ip>.{parsed.namespace}.pod.{parsed.zone}"
            )
        return
    head = head[: -len(parsed.service) - 1]
    svc = services.service(view, d, parsed, head)
    if svc is None:
        return
    if not ns_ok:
        return
    if kind is Kind.SERVICE:
        if svc.kind is ServiceKind.HEADLESS and not exists:
            services.why_empty(view, d, svc)
        elif svc.kind is ServiceKind.EXTERNAL_NAME:
            d.step("cname", svc.external_name, True, "every type but SRV is a CNAME to it")
    elif kind is Kind.ENDPOINT:
        if svc.kind is ServiceKind.EXTERNAL_NAME:
            d.step("endpoint", parsed.endpoint, False, "an ExternalName service has no endpoints")
            d.cause(f"service '{svc.name}' is an ExternalName service: it has no endpoint names")
        elif exists:
            d.step("endpoint", parsed.endpoint, True, "a ready endpoint has this name")
        else:
            services.why_no_pet(view, d, svc, parsed.endpoint, parsed.zone)
    elif kind is Kind.PORT:
        if exists:
            d.step("port", f"_{parsed.port}._{parsed.protocol}", True, "a named port")
        elif svc.kind is ServiceKind.EXTERNAL_NAME:
            d.cause(f"service '{svc.name}' is an ExternalName service: it has no SRV names")
        else:
            services.port_step(view, d, svc, parsed)
    if (svc.kind is ServiceKind.CLUSTER_IP and kind is not Kind.SERVICE) or _pets_expected(view, svc):
        _not_headless(d, svc)


def _pets_expected(view: View, svc: Service) -> bool:
    if svc.kind is not ServiceKind.CLUSTER_IP:
        return False
    pods = view.facts.pods_in(svc.namespace)
    return any(p.subdomain == svc.name for p in pods) or any(ep.hostname for ep, _ in view.endpoints(svc))


def _not_headless(d: Diagnosis, svc: Service) -> None:
    if svc.kind is not ServiceKind.CLUSTER_IP:
        return
    d.note(
        f"service '{svc.name}' is not headless (clusterIP {svc.cluster_ips[0]}): its name answers the "
        "ClusterIP and its SRV records target the service, not the pets; the specification promises pet "
        "names only under a headless service",
        "create it with spec.clusterIP: None (clusterIP cannot be changed in place)",
    )


def _grammar(view: View, d: Diagnosis, parsed: Parsed, name: str) -> None:
    """In a zone, but no node of the schema: say which label breaks the grammar."""
    zone = parsed.zone
    rest = split(name)[: len(split(name)) - len(split(zone))]
    tree = rest[-1]
    if tree not in ("svc", "pod"):
        d.step("tree", tree, False, "not svc or pod")
        d.cause(f"'{tree}' is not a tree of {zone}: names are <service>.<namespace>.svc.{zone}")
        body = ".".join(rest[:-1])
        d.suggest([f"{body}.{t}.{zone}" if body else f"{t}.{zone}" for t in near(tree, ("svc", "pod"))])
        if len(rest) <= 3 and tree in view.namespaces():  # `web-0.nginx.default` + zone: no `svc`
            d.suggest([f"{'.'.join(rest)}.svc.{zone}"])
        return
    d.step("tree", tree, True, f"{tree}.{zone}")
    head = rest[:-2]
    if tree == "pod":
        d.cause(f"pod names have one label before the namespace: <dashed-ip>.<namespace>.pod.{zone}")
        return
    ports = head[:-1]
    if len(ports) == 2 and not all(p.startswith("_") for p in ports):
        d.step("port", ".".join(ports), False, "SRV names are _<port>._<proto>")
        d.cause("SRV names have underscores (RFC 2782)")
        d.suggest([".".join(f"_{p.lstrip('_')}" for p in ports) + "." + ".".join(rest[2:]) + f".{zone}"])
        return
    d.step("name", ".".join(head), False, f"{len(head)} labels before the namespace")
    d.cause(
        f"a name under svc.{zone} has one to three labels before the namespace: "
        "<service>, <pet>.<service> or _<port>._<proto>.<service>"
    )


def _pod(view: View, d: Diagnosis, parsed: Parsed, head: str) -> None:
    if view.settings.pods is PodsMode.DISABLED:
        d.step("pod", parsed.endpoint, False, "pod records are disabled")
        d.cause("pod records are off", "serve with --pods insecure or --pods verified")
        return
    if not services.namespace(view, d, parsed, head):
        return
    ip = undashed(parsed.endpoint)
    if ip is None:
        d.step("pod", parsed.endpoint, False, "not an IP address spelled with dashes")
        d.cause(f"'{parsed.endpoint}' is not an IP address with dashes for dots (e.g. 10-244-0-10)")
        return
    live = view.catalog.pods_by_ip.get(ip, set())
    if view.settings.pods is PodsMode.VERIFIED and not any(ns == parsed.namespace for ns, _ in live):
        d.step("pod", parsed.endpoint, False, f"no live pod in {parsed.namespace} has IP {ip}")
        where = sorted({ns for ns, _ in live})
        d.cause(
            f"no running pod in namespace '{parsed.namespace}' has IP {ip} (--pods verified)"
            + (f"; namespace {', '.join(where)} has one" if where else "")
        )
        return
    d.step("pod", parsed.endpoint, True, f"IP {ip}")


def _reverse(view: View, d: Diagnosis, parsed: Parsed, exists: bool) -> None:
    ip = parsed.ip
    d.step("reverse", ip, exists, f"PTR of {ip}")
    if exists:
        return
    not_ready = [
        (key, ep)
        for key in view.catalog.services
        for sl in view.catalog.slices_of(key)
        for ep in sl.endpoints
        if ip in ep.addresses and not ep.ready
    ]
    if not_ready:
        key, _ = not_ready[0]
        d.cause(f"{ip} is an endpoint of service {key[0]}/{key[1]} that is not ready")
        return
    slices = [sl for sls in view.catalog.slices.values() for sl in sls.values()]
    orphan = [sl for sl in slices if any(ip in ep.addresses for ep in sl.endpoints)]
    if orphan:
        sl = orphan[0]
        d.cause(
            f"{ip} is in EndpointSlice {sl.namespace}/{sl.name}, whose service '{sl.service}' does not exist"
        )
        return
    pods = [p for p in view.facts.pods.values() if ip in p.ips]
    d.cause(
        f"no ClusterIP and no ready endpoint has the address {ip}"
        + (f"; pod {pods[0].namespace}/{pods[0].name} has it but no service selects it" if pods else "")
    )


def _no_type(d: Diagnosis, qtype: int, types: list[int], cname: str) -> None:
    have = ", ".join(type_name(t) for t in types) or "no records"
    d.step("type", type_name(qtype), False, f"the name has {have}")
    if cname and qtype == SRV:
        d.cause("an ExternalName service answers SRV with no data (it is only a CNAME)")
        return
    fix = ""
    if qtype == A and AAAA in types:
        fix = "its addresses are IPv6: ask AAAA"
    elif qtype == AAAA and A in types:
        fix = "its addresses are IPv4: ask A"
    elif qtype == PTR:
        fix = "PTR names are under in-addr.arpa and ip6.arpa"
    d.cause(f"{d.name} exists but has no {type_name(qtype)} records (it has {have})", fix)


def _outside(view: View, d: Diagnosis, labels: tuple[str, ...]) -> None:
    """Not in a served zone: forwarded (or refused); a near miss of a zone is named."""
    d.step("zone", ".".join(labels[-2:]), False, "not in a zone petdns serves")
    for zone in view.settings.zones:
        zl = split(zone)
        tail = labels[-len(zl) :] if len(labels) >= len(zl) else ()
        if tail and distance(".".join(tail), zone) <= 2:
            d.suggest([".".join(labels[: len(labels) - len(zl)] + zl)])
    zones = ", ".join(view.settings.zones)
    if d.did_you_mean:
        d.cause(f"{d.name} is not in a zone petdns serves; did you mean {d.did_you_mean[0]}?")
    d.cause(
        f"{d.name} is not in a zone petdns serves ({zones}): it is forwarded upstream, or refused "
        "with --no-forward"
    )


def made_by(view: View, rr: RR, parsed: Parsed) -> tuple[str, ...]:
    """The objects behind one answer record."""
    if rr.rtype == CNAME:
        return (f"Service {parsed.namespace}/{parsed.service} spec.externalName",)
    if parsed.kind in (Kind.APEX, Kind.TREE, Kind.DNS_VERSION, Kind.NS_HOST):
        return ("the zone settings",)
    if parsed.kind is Kind.POD:
        pods = sorted(view.catalog.pods_by_ip.get(str(rr.rdata), ()))
        return tuple(f"Pod {ns}/{n}" for ns, n in pods) or (f"--pods {view.settings.pods.value}",)
    ip = str(rr.rdata) if rr.rtype in (A, AAAA) else parsed.ip
    if rr.rtype in (SRV, PTR) and isinstance(rr.rdata, (tuple, str)):
        target = rr.rdata[3] if isinstance(rr.rdata, tuple) else rr.rdata
        return _target_objects(view, str(target), ip)
    return _address_objects(view, rr.name, ip)


def _target_objects(view: View, target: str, ip: str) -> tuple[str, ...]:
    tp = parse(split(target), view.settings.served_zones)
    key = (tp.namespace, tp.service)
    svc = view.catalog.services.get(key)
    if svc is None:
        return ()
    if tp.kind is Kind.SERVICE and svc.kind is ServiceKind.CLUSTER_IP:
        return (f"Service {key[0]}/{key[1]} spec.clusterIPs",)
    out = [f"Service {key[0]}/{key[1]}"]
    for sl in view.catalog.slices_of(key):
        for ep in sl.endpoints:
            if ep.ready and (tp.endpoint in (ep.hostname, ep.pod_name) or ip in ep.addresses):
                out.append(_endpoint_text(view, sl.namespace, sl.name, ep))
    return tuple(dict.fromkeys(out))


def _address_objects(view: View, name: str, ip: str) -> tuple[str, ...]:
    parsed = parse(split(name), view.settings.served_zones)
    key = (parsed.namespace, parsed.service)
    svc = view.catalog.services.get(key)
    if svc is None:
        return ()
    if ip in svc.cluster_ips:
        return (f"Service {key[0]}/{key[1]} spec.clusterIPs",)
    out = [f"Service {key[0]}/{key[1]}"]
    for sl in view.catalog.slices_of(key):
        out += [
            _endpoint_text(view, sl.namespace, sl.name, ep)
            for ep in sl.endpoints
            if ep.ready and ip in ep.addresses
        ]
    return tuple(dict.fromkeys(out))


def _endpoint_text(view: View, namespace: str, slice_name: str, ep: Endpoint) -> str:
    who = f"EndpointSlice {namespace}/{slice_name} endpoint {', '.join(ep.addresses)}"
    if ep.hostname:
        who += f" hostname {ep.hostname}"
        pods = [
            p
            for p in view.facts.pods_in(namespace)
            if p.hostname == ep.hostname and set(p.ips) & set(ep.addresses)
        ]
        who += "".join(f" (Pod {namespace}/{p.name})" for p in pods)
    elif ep.pod_name:
        who += f" (Pod {namespace}/{ep.pod_name})"
    return who
