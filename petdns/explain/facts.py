"""What the schema model leaves out and only an explanation needs: pod names, labels and readiness, and
service selectors. Read leniently from raw objects (the model has checked what DNS itself reads)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

Pairs = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class PodFacts:
    """A pod as the EndpointSlice controller sees it."""

    namespace: str
    name: str
    hostname: str
    subdomain: str
    labels: Pairs
    ready: bool | None  # None: no Ready condition given
    ips: tuple[str, ...]
    phase: str
    terminating: bool = False

    def label(self, key: str) -> str | None:
        return dict(self.labels).get(key)


@dataclass(frozen=True, slots=True)
class ServiceFacts:
    """A service's selector (None: no selector, slices are written by hand) and publishNotReadyAddresses."""

    namespace: str
    name: str
    selector: Pairs | None
    publish_not_ready: bool


@dataclass
class Facts:
    """Raw-only facts by (namespace, name); `pods_known` is False when no pods were given (a server that
    does not watch them): pod-side causes are then not looked for."""

    pods: dict[tuple[str, str], PodFacts] = field(default_factory=dict)
    services: dict[tuple[str, str], ServiceFacts] = field(default_factory=dict)
    pods_known: bool = False

    def add(self, raw: Mapping[str, Any]) -> None:
        """Take what is needed from one raw object (any kind; others are ignored)."""
        kind = raw.get("kind")
        meta = _map(raw.get("metadata"))
        name = _text(meta.get("name"))
        namespace = _text(meta.get("namespace")) or "default"
        if kind == "Pod" and name:
            self.pods[(namespace, name)] = pod_facts(raw)
        elif kind == "Service" and name:
            spec = _map(raw.get("spec"))
            selector = spec.get("selector")
            self.services[(namespace, name)] = ServiceFacts(
                namespace,
                name,
                _pairs(selector) if isinstance(selector, Mapping) and selector else None,
                spec.get("publishNotReadyAddresses") is True,
            )

    def pods_in(self, namespace: str) -> list[PodFacts]:
        return [p for key, p in sorted(self.pods.items()) if key[0] == namespace]


def read(raws: Iterable[Mapping[str, Any]], *, pods_known: bool) -> Facts:
    """Facts of many raw objects."""
    facts = Facts(pods_known=pods_known)
    for raw in raws:
        facts.add(raw)
    return facts


def pod_facts(raw: Mapping[str, Any]) -> PodFacts:
    meta, spec, status = _map(raw.get("metadata")), _map(raw.get("spec")), _map(raw.get("status"))
    ips = [_text(p.get("ip")) for p in _list(status.get("podIPs")) if isinstance(p, Mapping)]
    if not any(ips) and status.get("podIP"):
        ips = [_text(status.get("podIP"))]
    conditions = [
        c for c in _list(status.get("conditions")) if isinstance(c, Mapping) and c.get("type") == "Ready"
    ]
    ready = conditions[0].get("status") == "True" if conditions else None
    return PodFacts(
        namespace=_text(meta.get("namespace")) or "default",
        name=_text(meta.get("name")),
        hostname=_text(spec.get("hostname")),
        subdomain=_text(spec.get("subdomain")),
        labels=_pairs(meta.get("labels")),
        ready=ready,
        ips=tuple(ip for ip in ips if ip),
        phase=_text(status.get("phase")),
        terminating=bool(meta.get("deletionTimestamp")),
    )


def matches(selector: Pairs, labels: Pairs) -> bool:
    have = dict(labels)
    return all(have.get(k) == v for k, v in selector)


def show(pairs: Pairs) -> str:
    """`a=b,c=d`, as kubectl prints selectors."""
    return ",".join(f"{k}={v}" for k, v in pairs) or "(none)"


def _map(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _pairs(value: object) -> Pairs:
    if not isinstance(value, Mapping):
        return ()
    return tuple(sorted((str(k), str(v)) for k, v in value.items()))
