"""The simulated kubelet and scheduler: nodes, pod placement, addresses, pod lifecycle and status.
May import kubeapi and localcluster.apiserver.discovery; pure modules import no asyncio, aiohttp or client."""
