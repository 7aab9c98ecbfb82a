"""Pods run as real host processes (`petdns local --run-pods` and the pod annotation
`localcluster.petdns.dev/run: host`): the pure plan (`plan`, `envvars`, `identity`, `status`), the
sandbox of a pod (`holder`, run inside `unshare`; `sandbox`, `logfiles`), probes (`probes`, `probestate`),
its supervision (`podrun`) and the runtime the kubelet and the API server use (`runtime`). May import
kubeapi and localcluster.kubelet; the pure modules import no asyncio, aiohttp or sockets, and `holder` only
the standard library."""
