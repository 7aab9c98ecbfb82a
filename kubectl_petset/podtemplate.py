"""A pod template in `kubectl describe`'s words (its "Pod Template:" block, tabs left as kubectl leaves them
in `rollout history --revision`). Pure.

Covered: labels, annotations, service account, init and app containers (image, ports, host ports, command,
args, resources, probes' presence, environment, mounts), the common volume types, node selectors and
tolerations. Other volume types are named by their type only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

MAX_ANNOTATION = 140
SKIPPED_ANNOTATIONS = frozenset({"kubectl.kubernetes.io/last-applied-configuration"})
_VOLUME_TYPES = {
    "persistentVolumeClaim": (
        "PersistentVolumeClaim (a reference to a PersistentVolumeClaim in the same namespace)",
        (("ClaimName", "claimName", ""), ("ReadOnly", "readOnly", False)),
    ),
    "emptyDir": (
        "EmptyDir (a temporary directory that shares a pod's lifetime)",
        (("Medium", "medium", ""), ("SizeLimit", "sizeLimit", "<unset>")),
    ),
    "configMap": (
        "ConfigMap (a volume populated by a ConfigMap)",
        (("Name", "name", ""), ("Optional", "optional", False)),
    ),
    "secret": (
        "Secret (a volume populated by a Secret)",
        (("SecretName", "secretName", ""), ("Optional", "optional", False)),
    ),
    "hostPath": (
        "HostPath (bare host directory volume)",
        (("Path", "path", ""), ("HostPathType", "type", "<none>")),
    ),
}


def _m(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _items(value: object) -> list[Mapping[str, Any]]:
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []


def _go(value: object) -> str:
    """A value as Go's %v prints it (booleans lower case)."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def _pairs(title: str, values: Mapping[str, Any]) -> list[str]:
    """`title:\\tk=v` then `\\tk=v` for the rest, sorted; `<none>` when empty."""
    keys = sorted(values)
    if not keys:
        return [f"{title}:\t<none>"]
    return [f"{title}:\t{keys[0]}={values[keys[0]]}", *(f"\t{key}={values[key]}" for key in keys[1:])]


def _annotations(title: str, values: Mapping[str, Any]) -> list[str]:
    keys = sorted(key for key in values if key not in SKIPPED_ANNOTATIONS)
    if not keys:
        return [f"{title}:\t<none>"]
    lines: list[str] = []
    for at, key in enumerate(keys):
        lead = f"{title}:\t" if at == 0 else "\t"
        value = str(values[key]).removesuffix("\n")
        if len(value) + len(key) + 2 > MAX_ANNOTATION or "\n" in value:
            lines.append(f"{lead}{key}:")
            for part in value.split("\n"):
                cut = MAX_ANNOTATION - 2
                lines.append(f"\t  {part[:cut] + '...' if len(part) > cut else part}")
        else:
            lines.append(f"{lead}{key}: {value}")
    return lines


def _ports(ports: list[Mapping[str, Any]], field: str) -> str:
    texts = []
    for port in ports:
        text = f"{port.get(field) or 0}/{port.get('protocol') or 'TCP'}"
        texts.append(f"{text} ({port['name']})" if port.get("name") else text)
    return ", ".join(texts)


def _port_lines(ports: list[Mapping[str, Any]], field: str, one: str, many: str) -> str:
    text = _ports(ports, field)
    return f"    {many}:\t{text}" if "," in text else f"    {one}:\t{text or '<none>'}"


def _container(container: Mapping[str, Any]) -> list[str]:
    ports = _items(container.get("ports"))
    lines = [
        f"   {container.get('name', '')}:",
        f"    Image:\t{container.get('image', '')}",
        _port_lines(ports, "containerPort", "Port", "Ports"),
        _port_lines(ports, "hostPort", "Host Port", "Host Ports"),
    ]
    for title, key in (("Command", "command"), ("Args", "args")):
        words = container.get(key)
        if isinstance(words, list) and words:
            lines.append(f"    {title}:")
            lines.extend(f"      {part}" for word in words for part in str(word).split("\n"))
    resources = _m(container.get("resources"))
    for title, key in (("Limits", "limits"), ("Requests", "requests")):
        amounts = _m(resources.get(key))
        if amounts:
            lines.append(f"    {title}:")
            lines.extend(f"      {name}:\t{amounts[name]}" for name in sorted(amounts))
    for title, key in (
        ("Liveness", "livenessProbe"),
        ("Readiness", "readinessProbe"),
        ("Startup", "startupProbe"),
    ):
        if key in container:
            lines.append(f"    {title}:\t{_probe(_m(container.get(key)))}")
    lines.extend(_environment(_items(container.get("env"))))
    lines.extend(_mounts(_items(container.get("volumeMounts"))))
    return lines


def _probe(probe: Mapping[str, Any]) -> str:
    action = "unknown"
    if "httpGet" in probe:
        get = _m(probe["httpGet"])
        scheme = str(get.get("scheme") or "HTTP").lower()
        action = f"http-get {scheme}://{get.get('host', '')}:{get.get('port', '')}{get.get('path', '')}"
    elif "tcpSocket" in probe:
        sock = _m(probe["tcpSocket"])
        action = f"tcp-socket {sock.get('host', '')}:{sock.get('port', '')}"
    elif "exec" in probe:
        action = "exec [" + " ".join(str(word) for word in _m(probe["exec"]).get("command") or []) + "]"
    timings = (
        ("delay", "initialDelaySeconds", 0),
        ("timeout", "timeoutSeconds", 1),
        ("period", "periodSeconds", 10),
    )
    text = " ".join(f"{name}={probe.get(key, default)}s" for name, key, default in timings)
    counts = f"#success={probe.get('successThreshold', 1)} #failure={probe.get('failureThreshold', 3)}"
    return f"{action} {text} {counts}"


def _environment(env: list[Mapping[str, Any]]) -> list[str]:
    if not env:
        return ["    Environment:\t<none>"]
    lines = ["    Environment:"]
    for var in env:
        name, source = var.get("name", ""), _m(var.get("valueFrom"))
        if not source:
            parts = str(var.get("value", "")).split("\n")
            lines.append(f"      {name}:\t{parts[0]}")
            lines.extend(f"      \t{part}" for part in parts[1:])
        elif "fieldRef" in source:
            ref = _m(source["fieldRef"])
            lines.append(f"      {name}:\t ({ref.get('apiVersion', 'v1')}:{ref.get('fieldPath', '')})")
        else:
            kind, ref = next(iter(source.items()))
            ref = _m(ref)
            lines.append(
                f"      {name}:\t<set to the key '{ref.get('key', '')}' in {kind} '{ref.get('name', '')}'>"
            )
    return lines


def _mounts(mounts: list[Mapping[str, Any]]) -> list[str]:
    if not mounts:
        return ["    Mounts:\t<none>"]
    lines = ["    Mounts:"]
    for mount in sorted(mounts, key=lambda m: str(m.get("mountPath", ""))):
        flags = ["ro" if mount.get("readOnly") else "rw"]
        if mount.get("subPath"):
            flags.append(f'path="{mount["subPath"]}"')
        lines.append(f"      {mount.get('mountPath', '')} from {mount.get('name', '')} ({','.join(flags)})")
    return lines


def _volumes(volumes: list[Mapping[str, Any]]) -> list[str]:
    if not volumes:
        return ["  Volumes:\t<none>"]
    lines = ["  Volumes:"]
    for volume in volumes:
        lines.append(f"   {volume.get('name', '')}:")
        kind = next((key for key in volume if key != "name"), "")
        described = _VOLUME_TYPES.get(kind)
        if described is None:
            lines.append(f"    Type:\t{kind[:1].upper() + kind[1:] or '<unknown>'}")
            continue
        title, fields = described
        source = _m(volume.get(kind))
        lines.append(f"    Type:\t{title}")
        lines.extend(f"    {label}:\t{_go(source.get(key, default))}" for label, key, default in fields)
    return lines


def _tolerations(tolerations: list[Mapping[str, Any]]) -> list[str]:
    if not tolerations:
        return ["  Tolerations:\t<none>"]
    lines = []
    for at, tol in enumerate(sorted(tolerations, key=lambda t: str(t.get("key", "")))):
        text = str(tol.get("key", ""))
        text += f"={tol['value']}" if tol.get("value") else ""
        text += f":{tol['effect']}" if tol.get("effect") else ""
        if tol.get("operator") == "Exists" and not tol.get("value"):
            text += " op=Exists" if tol.get("key") or tol.get("effect") else "op=Exists"
        if isinstance(tol.get("tolerationSeconds"), int):
            text += f" for {tol['tolerationSeconds']}s"
        lines.append(("  Tolerations:\t" if at == 0 else "\t") + text)
    return lines


def describe_template(template: Mapping[str, Any]) -> str:
    """The "Pod Template:" block of `kubectl describe`, each line ending in a newline."""
    meta, spec = _m(template.get("metadata")), _m(template.get("spec"))
    lines = ["Pod Template:", *_pairs("  Labels", _m(meta.get("labels")))]
    if _m(meta.get("annotations")):
        lines.extend(_annotations("  Annotations", _m(meta.get("annotations"))))
    if spec.get("serviceAccountName"):
        lines.append(f"  Service Account:\t{spec['serviceAccountName']}")
    init = _items(spec.get("initContainers"))
    if init:
        lines.append("  Init Containers:")
        lines.extend(line for container in init for line in _container(container))
    containers = _items(spec.get("containers"))
    lines.append("  Containers:" if containers else "  Containers: <none>")
    lines.extend(line for container in containers for line in _container(container))
    lines.extend(_volumes(_items(spec.get("volumes"))))
    if spec.get("priorityClassName"):
        lines.append(f"  Priority Class Name:\t{spec['priorityClassName']}")
    lines.extend(_pairs("  Node-Selectors", _m(spec.get("nodeSelector"))))
    lines.extend(_tolerations(_items(spec.get("tolerations"))))
    return "".join(f"{line}\n" for line in lines)
