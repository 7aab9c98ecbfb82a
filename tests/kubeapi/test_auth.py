"""Connections from kubeconfig files and from a service-account directory."""

from __future__ import annotations

import base64
import os
import time
from pathlib import Path

import pytest
import yaml

from kubeapi.auth import ConfigError, from_kubeconfig, in_cluster, load


def _kubeconfig(tmp_path: Path, user: dict[str, object], cluster: dict[str, object] | None = None) -> str:
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "main",
        "clusters": [{"name": "c", "cluster": cluster or {"server": "https://10.0.0.1:6443/"}}],
        "users": [{"name": "u", "user": user}],
        "contexts": [
            {"name": "main", "context": {"cluster": "c", "user": "u", "namespace": "apps"}},
            {"name": "other", "context": {"cluster": "c", "user": "u"}},
        ],
    }
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def test_token_ca_data_and_context(tmp_path: Path) -> None:
    ca = base64.b64encode(b"-----BEGIN CERTIFICATE-----\n").decode()
    path = _kubeconfig(
        tmp_path, {"token": "abc"}, {"server": "https://10.0.0.1:6443/", "certificate-authority-data": ca}
    )
    conn = from_kubeconfig(path)
    assert conn.server == "https://10.0.0.1:6443" and conn.bearer() == "abc" and conn.namespace == "apps"
    assert conn.ca_data == b"-----BEGIN CERTIFICATE-----\n" and conn.ca_file == ""  # in memory, no file
    assert from_kubeconfig(path, "other").namespace == "default"


def test_relative_files_resolve_against_the_kubeconfig(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("from-file\n")
    path = _kubeconfig(
        tmp_path,
        {"tokenFile": "token", "client-certificate": "c.pem", "client-key": "k.pem"},
        {"server": "http://127.0.0.1:8080", "insecure-skip-tls-verify": True},
    )
    conn = from_kubeconfig(path)
    assert conn.bearer() == "from-file"
    assert conn.cert_file == str(tmp_path / "c.pem") and conn.key_file == str(tmp_path / "k.pem")
    assert conn.insecure and conn.ssl_context() is None  # plain http


def test_errors_name_the_file_and_entry(tmp_path: Path) -> None:
    path = _kubeconfig(tmp_path, {"token": "x"})
    with pytest.raises(ConfigError, match=r"config: contexts has no entry named 'nope'"):
        from_kubeconfig(path, "nope")
    with pytest.raises(ConfigError, match="cannot read kubeconfig"):
        from_kubeconfig(str(tmp_path / "absent"))


def test_in_cluster_token_is_reread_when_rotated(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("one")
    (tmp_path / "namespace").write_text("kube-system")
    conn = in_cluster(tmp_path, {"KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "443"})
    assert conn.server == "https://[fd00::1]:443" and conn.namespace == "kube-system"
    assert conn.bearer() == "one"
    (tmp_path / "token").write_text("two")
    later = time.time() + 5
    os.utime(tmp_path / "token", (later, later))
    assert conn.bearer() == "two"
    with pytest.raises(ConfigError):
        in_cluster(tmp_path, {})


def test_load_prefers_flag_then_env(tmp_path: Path) -> None:
    path = _kubeconfig(tmp_path, {"token": "t"})
    assert load(path, env={}).server == "https://10.0.0.1:6443"
    assert load(None, env={"KUBECONFIG": path}).bearer() == "t"
    with pytest.raises(ConfigError):
        load(None, env={"HOME": str(tmp_path / "nohome")})


def test_a_kubeconfig_nested_too_deep_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text("a: " + "[" * 10_000 + "]" * 10_000 + "\n")
    with pytest.raises(ConfigError, match=r"cannot read kubeconfig: .*deep"):
        from_kubeconfig(str(path))
