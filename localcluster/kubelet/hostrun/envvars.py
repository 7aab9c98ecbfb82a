"""Container environment (pure): `$(VAR)` expansion as upstream's, and the values of `env` entries."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from kubeapi.meta import Obj, dig

Lookup = Callable[[str], str | None]
# (kind, name, key) -> the value of a ConfigMap's or Secret's key (Secrets decoded), None when missing
Source = Callable[[str, str, str], str | None]


def expand(text: str, lookup: Lookup) -> str:
    """`$(NAME)` replaced by its value where known (left as written where not), `$$` an escaped `$`."""
    out: list[str] = []
    at = 0
    while at < len(text):
        char = text[at]
        if char != "$" or at + 1 >= len(text):
            out.append(char)
            at += 1
            continue
        nxt = text[at + 1]
        if nxt == "$":
            out.append("$")
            at += 2
        elif nxt == "(":
            end = text.find(")", at + 2)
            if end < 0:  # an incomplete reference stays as written
                out.append("$(")
                at += 2
                continue
            name = text[at + 2 : end]
            value = lookup(name)
            out.append(value if value is not None else text[at : end + 1])
            at = end + 1
        else:
            out.append("$" + nxt)
            at += 2
    return "".join(out)


def field_value(pod: Obj, path: str) -> str | None:
    """A `fieldRef.fieldPath` of the pod (None when unsupported or unset)."""
    simple = {
        "metadata.name": ("metadata", "name"),
        "metadata.namespace": ("metadata", "namespace"),
        "metadata.uid": ("metadata", "uid"),
        "status.podIP": ("status", "podIP"),
        "status.hostIP": ("status", "hostIP"),
        "spec.nodeName": ("spec", "nodeName"),
        "spec.serviceAccountName": ("spec", "serviceAccountName"),
    }
    if path in simple:
        value = dig(pod, *simple[path])
        return None if value is None else str(value)
    for prefix, field in (("metadata.labels", "labels"), ("metadata.annotations", "annotations")):
        if path.startswith(prefix + "['") and path.endswith("']"):
            value = (dig(pod, "metadata", field) or {}).get(path[len(prefix) + 2 : -2])
            return None if value is None else str(value)
        if path == prefix:
            items = sorted((dig(pod, "metadata", field) or {}).items())
            return "\n".join(f'{k}="{v}"' for k, v in items)
    return None


def env_value(entry: Obj, pod: Obj, source: Source, lookup: Lookup) -> str | None:
    """One `env` entry's value: `value` expanded, else its `valueFrom` (None when it cannot be read)."""
    if "value" in entry or "valueFrom" not in entry:
        return expand(str(entry.get("value") or ""), lookup)
    value_from = entry.get("valueFrom") or {}
    if isinstance(value_from.get("fieldRef"), dict):
        return field_value(pod, str(value_from["fieldRef"].get("fieldPath") or ""))
    for kind, key in (("ConfigMap", "configMapKeyRef"), ("Secret", "secretKeyRef")):
        ref = value_from.get(key)
        if isinstance(ref, dict):
            return source(kind, str(ref.get("name") or ""), str(ref.get("key") or ""))
    return None


def container_env(
    container: Obj, pod: Obj, base: Mapping[str, str], source: Source
) -> tuple[dict[str, str], list[str]]:
    """The container's environment: `base` then its `env` entries in order (each may refer to those before
    it), and the names whose values could not be read (left out, as an optional reference would be)."""
    env = dict(base)
    missing: list[str] = []
    for entry in container.get("env") or []:
        if not isinstance(entry, dict) or not entry.get("name"):
            continue
        value = env_value(entry, pod, source, env.get)
        if value is None:
            missing.append(str(entry["name"]))
        else:
            env[str(entry["name"])] = value
    return env, missing
