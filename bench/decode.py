#!/usr/bin/env python3
"""JSON decoders on 100,000 pod watch lines: the standard library, orjson (kubeapi's choice) and msgspec.

    .venv/bin/python bench/decode.py [--lines 100000]

msgspec is measured only when installed (`pip install msgspec`); it is not a dependency.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

POD: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {
        "name": "web-0",
        "namespace": "default",
        "uid": "3f1c6a0e-8e5b-4c1e-9a52-7f6b2a0c9d11",
        "resourceVersion": "123456",
        "creationTimestamp": "2026-11-25T20:00:00Z",
        "labels": {
            "app": "nginx",
            "statefulset.kubernetes.io/pod-name": "web-0",
            "controller-revision-hash": "web-6d5f8",
        },
        "ownerReferences": [
            {
                "apiVersion": "petdns.dev/v1",
                "kind": "PetSet",
                "name": "web",
                "uid": "u",
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
    },
    "spec": {
        "hostname": "web-0",
        "subdomain": "nginx",
        "nodeName": "node-1",
        "containers": [
            {
                "name": "nginx",
                "image": "registry.k8s.io/nginx-slim:0.8",
                "ports": [{"containerPort": 80, "name": "web", "protocol": "TCP"}],
                "volumeMounts": [{"name": "www", "mountPath": "/usr/share/nginx/html"}],
            }
        ],
        "volumes": [{"name": "www", "persistentVolumeClaim": {"claimName": "www-web-0"}}],
    },
    "status": {
        "phase": "Running",
        "podIP": "10.244.0.10",
        "podIPs": [{"ip": "10.244.0.10"}],
        "hostIP": "10.0.0.1",
        "conditions": [{"type": "Ready", "status": "True"}],
    },
}


def decoders() -> dict[str, Callable[[bytes], Any]]:
    found: dict[str, Callable[[bytes], Any]] = {"json": json.loads}
    try:
        import orjson  # noqa: PLC0415

        found["orjson"] = orjson.loads
    except ImportError:
        pass
    try:
        import msgspec  # noqa: PLC0415

        found["msgspec"] = msgspec.json.decode
    except ImportError:
        pass
    return found


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--lines", type=int, default=100_000)
    args = ap.parse_args()
    lines = [
        json.dumps(
            {"type": "MODIFIED", "object": dict(POD, metadata=dict(POD["metadata"], name=f"web-{i}"))}
        ).encode()
        for i in range(args.lines)
    ]
    results = {}
    for name, loads in decoders().items():
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            for line in lines:
                loads(line)
            best = min(best, time.perf_counter() - t0)
        results[name] = best
    for name, secs in results.items():
        print(f"{name:8s} {secs:6.3f} s for {args.lines} lines  ({results['json'] / secs:.1f}x json)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
