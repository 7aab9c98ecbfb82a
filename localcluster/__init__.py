"""Embedded Kubernetes-API-compatible control plane for local runs and tests."""
