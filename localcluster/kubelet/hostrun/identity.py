"""A pet's identity inside its sandbox (pure): hostname, /etc/resolv.conf and /etc/hosts as a kubelet
writes them for a pod in the cluster's DNS."""

from __future__ import annotations

from typing import Any

from kubeapi.meta import Obj

HOSTS_HEAD = (
    "# Kubernetes-managed hosts file.\n"
    "127.0.0.1\tlocalhost\n"
    "::1\tlocalhost ip6-localhost ip6-loopback\n"
    "fe00::0\tip6-localnet\n"
    "fe00::0\tip6-mcastprefix\n"
    "fe00::1\tip6-allnodes\n"
    "fe00::2\tip6-allrouters\n"
)


def _spec(pod: Obj) -> dict[str, Any]:
    spec = pod.get("spec")
    return spec if isinstance(spec, dict) else {}


def hostname(pod: Obj) -> str:
    """spec.hostname, else the pod's name (cut to 63 characters, as upstream)."""
    name = str(_spec(pod).get("hostname") or (pod.get("metadata") or {}).get("name") or "pod")
    return name[:63].rstrip("-.")


def fqdn(pod: Obj, zone: str) -> str | None:
    """`<hostname>.<subdomain>.<ns>.svc.<zone>` for a pod with a subdomain, else None."""
    subdomain = _spec(pod).get("subdomain")
    if not subdomain:
        return None
    namespace = (pod.get("metadata") or {}).get("namespace") or "default"
    return f"{hostname(pod)}.{subdomain}.{namespace}.svc.{zone}"


def resolv_conf(pod: Obj, zone: str, nameserver: str) -> str:
    """The pod's resolv.conf under dnsPolicy ClusterFirst (dnsConfig's searches and options added)."""
    namespace = (pod.get("metadata") or {}).get("namespace") or "default"
    searches = [f"{namespace}.svc.{zone}", f"svc.{zone}", zone]
    servers = [nameserver]
    options = {"ndots": "5"}
    config = _spec(pod).get("dnsConfig")
    if isinstance(config, dict):
        searches += [str(s) for s in config.get("searches") or [] if str(s) not in searches]
        servers += [str(s) for s in config.get("nameservers") or [] if str(s) not in servers]
        for option in config.get("options") or []:
            if isinstance(option, dict) and option.get("name"):
                options[str(option["name"])] = str(option.get("value") or "")
    lines = [f"search {' '.join(searches)}", *(f"nameserver {s}" for s in servers[:3])]
    words = [f"{k}:{v}" if v else k for k, v in options.items()]
    lines.append(f"options {' '.join(words)}")
    return "\n".join(lines) + "\n"


def hosts(pod: Obj, zone: str, pod_ips: tuple[str, ...]) -> str:
    """The pod's /etc/hosts: localhost lines, then each pod IP with the pod's names, then hostAliases."""
    name = hostname(pod)
    full = fqdn(pod, zone)
    names = f"{full}\t{name}" if full else name
    text = HOSTS_HEAD + "".join(f"{ip}\t{names}\n" for ip in pod_ips)
    aliases = [a for a in _spec(pod).get("hostAliases") or [] if isinstance(a, dict) and a.get("ip")]
    if aliases:
        text += "\n# Entries added by HostAliases.\n"
        for alias in aliases:
            text += f"{alias['ip']}\t" + "\t".join(str(h) for h in alias.get("hostnames") or []) + "\n"
    return text
