"""Owns the pure object store: versioned objects, per-kind rules, patch, deletion and GC, paging, journal.

Imports only kubeapi.meta, kubeapi.labels, kubeapi.codec, yaml and the standard library (no aiohttp, asyncio).
"""
