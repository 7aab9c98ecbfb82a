"""Owns the embedded Kubernetes-API-compatible control plane: storage, apiserver, kubelet, controllers, app.

Imports kubeapi and third-party libraries only; of the rest, only the `petdns local` command imports it.
"""
