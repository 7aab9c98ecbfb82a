"""Pods run as real host processes (`petdns local --run-pods`): sandboxes, containers, probes and restarts.
May import kubeapi and localcluster.kubelet; pure modules (probestate) import no asyncio or sockets."""
