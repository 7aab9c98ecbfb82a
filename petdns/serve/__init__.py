"""petdns.serve: UDP and TCP transports, watch cache, HTTP endpoints, metrics, logs, lifecycle, reload.

May import petdns.dns, schema, answer, forward and settings, kubeapi and aiohttp; not app or cli."""
