"""The kubeconfig that points kubectl and client libraries at the local API server."""

from __future__ import annotations

import base64
import os
import tempfile
from typing import Any

import yaml

CONTEXT = "petdns-local"


def kubeconfig(
    server: str, *, token: str | None = None, ca_pem: bytes | None = None, namespace: str = "default"
) -> dict[str, Any]:
    """A kubeconfig: one cluster (with its CA, if any), one user (with the token, if any), one context."""
    user: dict[str, Any] = {"token": token} if token else {}
    cluster: dict[str, Any] = {"server": server}
    if ca_pem:
        cluster["certificate-authority-data"] = base64.b64encode(ca_pem).decode()
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CONTEXT, "cluster": cluster}],
        "users": [{"name": CONTEXT, "user": user}],
        "contexts": [
            {"name": CONTEXT, "context": {"cluster": CONTEXT, "user": CONTEXT, "namespace": namespace}}
        ],
        "current-context": CONTEXT,
        "preferences": {},
    }


def write_kubeconfig(
    path: str, server: str, *, token: str | None = None, ca_pem: bytes | None = None
) -> None:
    """Write the kubeconfig atomically, readable by its owner only (it may hold a token)."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    text = yaml.safe_dump(kubeconfig(server, token=token, ca_pem=ca_pem), sort_keys=False)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".kubeconfig-")
    try:
        with os.fdopen(fd, "w") as out:
            out.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def read_token(path: str) -> str:
    """The bearer token in a token file (first line, surrounding whitespace dropped); ValueError if empty."""
    with open(path) as f:
        token = f.readline().strip()
    if not token:
        raise ValueError(f"{path}: empty token file")
    return token
