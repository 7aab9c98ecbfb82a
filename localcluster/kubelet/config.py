"""The simulated kubelet's settings: its nodes, address ranges, default pod timing and worker count. Pure."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass


@dataclass(frozen=True)
class KubeletConfig:
    """The simulated nodes, address ranges and default timing (seconds)."""

    nodes: tuple[str, ...] = ("node-1", "node-2", "node-3")
    pod_cidr: str = "127.244.0.0/16"
    pod_cidr6: str | None = None  # set: pods also get an IPv6 address
    ready_after: float | None = None  # from start to Ready for every pod; None: as the readiness probes say
    stop_after: float = 0.0  # from deletion to stopped (capped by the grace period)
    node_cidr: str = "127.0.1.0/24"  # node N (counting from 1) gets address N of this range
    workers: int = 16  # pods synced at once
    run_pods: bool = False  # pods annotated `localcluster.petdns.dev/run: host` run as host processes
    zone: str = "cluster.local"  # the cluster domain pods run for real see in their resolv.conf
    pods_dir: str | None = None  # where pods run for real keep their files (None: a temporary directory)
    api: tuple[str, int] | None = None  # KUBERNETES_SERVICE_HOST and _PORT of pods run for real

    def __post_init__(self) -> None:
        if not self.nodes or len(set(self.nodes)) != len(self.nodes):
            raise ValueError("nodes must be a non-empty list of distinct names")
        if ipaddress.ip_network(self.pod_cidr).version != 4:
            raise ValueError(f"pod_cidr {self.pod_cidr} is not an IPv4 range")
        if self.pod_cidr6 is not None and ipaddress.ip_network(self.pod_cidr6).version != 6:
            raise ValueError(f"pod_cidr6 {self.pod_cidr6} is not an IPv6 range")
        if ipaddress.ip_network(self.node_cidr).num_addresses < len(self.nodes) + 2:
            raise ValueError(f"node_cidr {self.node_cidr} is too small for {len(self.nodes)} nodes")
        if (self.ready_after is not None and self.ready_after < 0) or self.stop_after < 0 or self.workers < 1:
            raise ValueError("ready_after and stop_after must be >= 0, workers >= 1")

    def host_ip(self, node: str) -> str:
        """The node's InternalIP."""
        return str(ipaddress.ip_network(self.node_cidr).network_address + self.nodes.index(node) + 1)

    @property
    def dns_address(self) -> str:
        """The cluster DNS address pods run for real are given: address 10 of the pod range, kept out of the
        address pool when pods run."""
        return str(ipaddress.ip_network(self.pod_cidr).network_address + 10)

    @property
    def pod_cidrs(self) -> tuple[str, ...]:
        """The pod ranges, IPv4 first."""
        return (self.pod_cidr,) if self.pod_cidr6 is None else (self.pod_cidr, self.pod_cidr6)
