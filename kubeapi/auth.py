"""Where the API is and who we are: in-cluster service account or kubeconfig, as a frozen connection value."""

from __future__ import annotations

import base64
import os
import ssl
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubeapi.decode import DecodeError, load_yaml

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")


class ConfigError(Exception):
    """No usable connection: the message says which file and field."""


@dataclass(frozen=True)
class Connection:
    """An API server and the credentials for it. A token file is re-read when it changes (rotation)."""

    server: str
    token: str = ""
    token_file: str = ""
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    # kubeconfig `*-data` fields, kept in memory (never left on disk)
    ca_data: bytes = field(default=b"", repr=False)
    cert_data: bytes = field(default=b"", repr=False)
    key_data: bytes = field(default=b"", repr=False)
    insecure: bool = False
    namespace: str = "default"
    _token_cache: dict[str, tuple[float, str]] = field(default_factory=dict, compare=False, repr=False)

    def bearer(self) -> str:
        """The bearer token to send now ("" for none)."""
        if not self.token_file:
            return self.token
        try:
            mtime = os.stat(self.token_file).st_mtime
        except OSError:
            return self.token
        cached = self._token_cache.get(self.token_file)
        if cached is None or cached[0] != mtime:
            cached = (mtime, Path(self.token_file).read_text().strip())
            self._token_cache[self.token_file] = cached
        return cached[1]

    def ssl_context(self) -> ssl.SSLContext | None:
        """TLS settings for https servers; None for plain http."""
        if not self.server.startswith("https:"):
            return None
        cafile = None if self.ca_data else self.ca_file or None  # the data wins, as in client-go
        ctx = ssl.create_default_context(cafile=cafile, cadata=_cadata(self.ca_data))
        if self.insecure:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if self.cert_data or self.key_data:
            _load_chain_from_data(ctx, self)
        elif self.cert_file:
            ctx.load_cert_chain(self.cert_file, self.key_file or None)
        return ctx


def _cadata(data: bytes) -> str | bytes | None:
    """CA data as `ssl` takes it: PEM text, or DER bytes."""
    if not data:
        return None
    return data.decode("ascii", "replace") if b"-----BEGIN" in data else data


def _load_chain_from_data(ctx: ssl.SSLContext, conn: Connection) -> None:
    """A client certificate and key given as data: `ssl` reads only files, so they go to a private
    directory for the call and are removed at once."""
    with tempfile.TemporaryDirectory(prefix="kubeapi-") as work:
        cert = Path(work, "cert.pem")
        key = Path(work, "key.pem")
        os.chmod(work, 0o700)
        cert.write_bytes(conn.cert_data or (Path(conn.cert_file).read_bytes() if conn.cert_file else b""))
        key_bytes = conn.key_data or (Path(conn.key_file).read_bytes() if conn.key_file else b"")
        if key_bytes:
            key.write_bytes(key_bytes)
        ctx.load_cert_chain(str(cert), str(key) if key_bytes else None)


def in_cluster(root: Path = SERVICE_ACCOUNT, env: Mapping[str, str] = os.environ) -> Connection:
    """The pod's service account: KUBERNETES_SERVICE_HOST/PORT, its token (re-read on rotation) and CA."""
    host, port = env.get("KUBERNETES_SERVICE_HOST"), env.get("KUBERNETES_SERVICE_PORT", "443")
    if not host:
        raise ConfigError("not in a cluster: KUBERNETES_SERVICE_HOST is not set")
    if not (root / "token").exists():
        raise ConfigError(f"not in a cluster: {root / 'token'} does not exist")
    host = f"[{host}]" if ":" in host else host
    namespace = (root / "namespace").read_text().strip() if (root / "namespace").exists() else "default"
    ca = root / "ca.crt"
    return Connection(
        f"https://{host}:{port}",
        token_file=str(root / "token"),
        ca_file=str(ca) if ca.exists() else "",
        namespace=namespace,
    )


def from_kubeconfig(path: str, context: str | None = None) -> Connection:
    """A kubeconfig's current (or named) context: token, client certificate, CA data or files."""
    try:
        doc = load_yaml(Path(path).read_text(), path)
    except OSError as err:
        raise ConfigError(f"{path}: cannot read kubeconfig: {err}") from None
    except DecodeError as err:
        raise ConfigError(f"{path}: cannot read kubeconfig: {err.detail}") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: not a kubeconfig")
    name = context or doc.get("current-context")
    if not name:
        raise ConfigError(f"{path}: no current-context and no --context given")
    ctx = _named(doc, "contexts", name, path)["context"]
    cluster = _named(doc, "clusters", ctx.get("cluster", ""), path)["cluster"]
    user = _named(doc, "users", ctx["user"], path)["user"] if ctx.get("user") else {}
    base = Path(path).resolve().parent
    user = user or {}
    if "exec" in user or "auth-provider" in user:
        return _through_official_loader(path, name, ctx.get("namespace", "default"))
    server = cluster.get("server")
    if not server:
        raise ConfigError(f"{path}: cluster {ctx.get('cluster')!r} has no server")
    return Connection(
        server=str(server).rstrip("/"),
        token=str(user.get("token", "")),
        token_file=_file(base, user.get("tokenFile")),
        ca_file=_file(base, cluster.get("certificate-authority")),
        cert_file=_file(base, user.get("client-certificate")),
        key_file=_file(base, user.get("client-key")),
        ca_data=_data(cluster, "certificate-authority-data"),
        cert_data=_data(user, "client-certificate-data"),
        key_data=_data(user, "client-key-data"),
        insecure=bool(cluster.get("insecure-skip-tls-verify", False)),
        namespace=str(ctx.get("namespace", "default")),
    )


def load(
    kubeconfig: str | None = None, context: str | None = None, env: Mapping[str, str] = os.environ
) -> Connection:
    """--kubeconfig, else $KUBECONFIG, else in-cluster, else ~/.kube/config."""
    if kubeconfig:
        return from_kubeconfig(kubeconfig, context)
    if env.get("KUBECONFIG"):
        return from_kubeconfig(env["KUBECONFIG"].split(os.pathsep)[0], context)
    if env.get("KUBERNETES_SERVICE_HOST"):
        return in_cluster(env=env)
    home = Path(env.get("HOME", "~")).expanduser() / ".kube" / "config"
    if home.exists():
        return from_kubeconfig(str(home), context)
    raise ConfigError("no kubeconfig (--kubeconfig, $KUBECONFIG, ~/.kube/config) and not in a cluster")


def _named(doc: dict[str, Any], section: str, name: str, path: str) -> dict[str, Any]:
    for entry in doc.get(section) or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            return entry
    raise ConfigError(f"{path}: {section} has no entry named {name!r}")


def _file(base: Path, value: object) -> str:
    return str(base / str(value)) if value else ""


def _data(section: Mapping[str, Any], key: str) -> bytes:
    """A base64 `*-data` field, decoded (the data wins over its file, as client-go does)."""
    data = section.get(key)
    return base64.b64decode(str(data)) if data else b""


def _through_official_loader(path: str, context: str, namespace: str) -> Connection:
    """exec and auth-provider plugins: let the official client's loader run them, when it is installed."""
    try:
        from kubernetes import client, config  # noqa: PLC0415
    except ImportError:
        raise ConfigError(f"{path}: exec/auth-provider credentials need the `kubernetes` package") from None
    cfg = client.Configuration()
    config.load_kube_config(config_file=path, context=context, client_configuration=cfg)  # type: ignore[no-untyped-call]
    token = str(cfg.api_key.get("authorization", "")).removeprefix("Bearer ").strip()
    return Connection(
        server=str(cfg.host).rstrip("/"),
        token=token,
        ca_file=cfg.ssl_ca_cert or "",
        cert_file=cfg.cert_file or "",
        key_file=cfg.key_file or "",
        insecure=not cfg.verify_ssl,
        namespace=namespace,
    )
