"""Owns custom resource schemas as a real API server applies them: the structural openAPIV3Schema of a CRD
version compiled once, pruning of unknown fields, defaults, value validation with upstream's messages, and
the `x-kubernetes-validations` CEL rules (with `oldSelf` on updates); the CRDs the local cluster ships.

Pure: imports localcluster.storage's errors, meta and resources, kubeapi.meta and .quantity, yaml, celpy
and the standard library (no aiohttp, asyncio).
"""
