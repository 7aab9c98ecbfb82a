"""Owns the HTTP face of the store: routing, handlers, watch, tables, discovery, openapi, protobuf, TLS.

Imports localcluster.storage, kubeapi and aiohttp; never localcluster.kubelet or localcluster.controllers.
"""
