"""Relative names: the search path a pod's resolver walks (`<ns>.svc.<zone> svc.<zone> <zone>`,
`ndots:5`), what each try gets, and where the name the asker probably meant lives."""

from __future__ import annotations

from petdns.explain.diagnose import diagnose
from petdns.explain.report import Cause, Diagnosis, Tried
from petdns.explain.services import View
from petdns.schema.names import find_zone, split

NDOTS = 5


def search_list(namespace: str, zone: str) -> tuple[str, ...]:
    """The search domains kubelet writes into a pod's resolv.conf (ClusterFirst)."""
    return (f"{namespace}.svc.{zone}", f"svc.{zone}", zone)


def candidates(name: str, namespace: str, zone: str) -> list[str]:
    """The names a resolver tries, in order: absolute first only with `ndots` dots or more."""
    expanded = [f"{name}.{domain}" for domain in search_list(namespace, zone)]
    return [name, *expanded] if name.count(".") >= NDOTS else [*expanded, name]


def explain(
    view: View, name: str, qtype: int, *, namespace: str = "default", synced: bool = True
) -> Diagnosis:
    """Explain a name as asked: absolute (a trailing dot, or already in a served zone) as it is; else as
    the asker's resolver expands it from `namespace`, the first try that resolves answering."""
    asked = name.strip().lower()
    relative = name.rstrip(".").lower()
    if (
        asked.endswith(".")
        or not view.settings.zones
        or find_zone(split(relative), view.settings.served_zones) is not None
    ):
        return diagnose(view, relative, qtype, synced=synced)
    zone = view.settings.zones[0]
    tries = [(c, diagnose(view, c, qtype, synced=synced)) for c in candidates(relative, namespace, zone)]
    searched = [Tried(c, d.rcode) for c, d in tries]
    chosen = next((d for _, d in tries if d.resolves), None)
    if chosen is None:
        as_is = next(d for c, d in tries if c == relative)
        best = max((d for _, d in tries), key=lambda d: sum(s.ok for s in d.steps))
        chosen = as_is if as_is.did_you_mean else best  # a misspelt zone: the name was meant as it is
        _elsewhere(view, chosen, relative, namespace=namespace, zone=zone, qtype=qtype)
    chosen.asked, chosen.searched = name, searched
    return chosen


def _elsewhere(view: View, d: Diagnosis, name: str, *, namespace: str, zone: str, qtype: int) -> None:
    """A relative name that no try reaches: is it a name in another namespace (the `ndots` trap)?"""
    for other in sorted(view.namespaces() - {namespace}):
        full = f"{name}.{other}.svc.{zone}"
        if diagnose(view, full, qtype).resolves:
            d.causes.insert(
                0,
                Cause(
                    f"'{name}' asked from namespace '{namespace}' never reaches {full} (the search path "
                    f"adds {', '.join(search_list(namespace, zone))})",
                    f"ask {name}.{other} (or the full name {full}.)",
                ),
            )
            d.suggest([full])
            return
