"""Shared Kubernetes API access: raw shapes, async client, store and reflector."""
