"""Which objects are served (the kubernetes plugin's `namespaces`, `labels`, `namespace_labels`,
`noendpoints`), judged on raw objects: the watch asks the API server for as much of it as it can
(one watch per namespace, the label selector, no EndpointSlice watch) and filters the rest here;
object files are filtered here whole. Objects left out make no names: their names are NXDOMAIN."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kubeapi.labels import Selector, parse

Raw = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Scope:
    """What is served: every object unless narrowed."""

    namespaces: frozenset[str] = frozenset()  # empty: every namespace
    labels: Selector = field(default_factory=Selector)  # Services and EndpointSlices
    namespace_labels: Selector | None = None  # None: namespaces are not chosen by their labels
    noendpoints: bool = False  # no EndpointSlices: no headless, endpoint or endpoint reverse names

    @classmethod
    def of(
        cls,
        namespaces: Iterable[str] = (),
        labels: str = "",
        namespace_labels: str = "",
        *,
        noendpoints: bool = False,
    ) -> Scope:
        """From the settings' texts; SelectorError (a ValueError) for a malformed selector."""
        return cls(
            frozenset(namespaces),
            parse(labels),
            parse(namespace_labels) if namespace_labels.strip() else None,
            noendpoints,
        )

    @property
    def everything(self) -> bool:
        """Nothing is narrowed."""
        return self == Scope()

    def admits(self, raw: Raw, kind: str | None = None) -> bool:
        """Whether a raw object may be served, its namespace's labels aside (`namespace_selected`)."""
        kind = kind or str(raw.get("kind", ""))
        meta = raw.get("metadata") or {}
        namespace = str(meta.get("name" if kind == "Namespace" else "namespace") or "")
        if self.namespaces and namespace not in self.namespaces:
            return False
        if kind == "EndpointSlice" and self.noendpoints:
            return False
        if kind in ("Service", "EndpointSlice") and not self.labels.empty:
            return self.labels.matches(_labels(meta))
        return True

    def namespace_selected(self, namespace: Raw) -> bool:
        """Whether a raw Namespace's labels choose it (always, without `namespace_labels`)."""
        return self.namespace_labels is None or self.namespace_labels.matches(
            _labels(namespace.get("metadata") or {})
        )

    def filter(self, raws: Iterable[Raw]) -> list[Raw]:
        """The objects of a whole set (object files) that are served: with `namespace_labels`, only
        those in a namespace of the set whose labels match."""
        kept = [raw for raw in raws if self.admits(raw)]
        if self.namespace_labels is None:
            return kept
        chosen = {
            str((raw.get("metadata") or {}).get("name") or "")
            for raw in kept
            if raw.get("kind") == "Namespace" and self.namespace_selected(raw)
        }
        return [raw for raw in kept if _namespace_of(raw) in chosen]


def _namespace_of(raw: Raw) -> str:
    meta = raw.get("metadata") or {}
    return str(meta.get("name" if raw.get("kind") == "Namespace" else "namespace") or "")


def _labels(meta: Mapping[str, Any]) -> Mapping[str, str]:
    labels = meta.get("labels")
    return {str(k): str(v) for k, v in labels.items()} if isinstance(labels, Mapping) else {}
