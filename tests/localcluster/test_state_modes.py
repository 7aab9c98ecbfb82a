"""What `petdns local --state` keeps on disk is its owner's only: files 0600, directories 0700."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from localcluster.apiserver.kubeconfig import write_kubeconfig
from localcluster.app import _volume_root, open_store
from localcluster.controllers.provisioner.volumes import private_dir, volume_path
from localcluster.storage.resources import find

CONFIG_MAPS = find("", "v1", "configmaps")


def mode(path: Path | str) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def test_state_db_its_wal_and_the_state_dir(tmp_path: Path) -> None:
    state = tmp_path / "state"
    store, journal = open_store(str(state))
    assert journal is not None
    store.create(CONFIG_MAPS, "default", {"metadata": {"name": "c"}, "data": {"k": "v"}})
    assert mode(state) == 0o700
    files = sorted(p.name for p in state.iterdir())
    assert "state.db" in files and "state.db-wal" in files, files
    for name in files:
        assert mode(state / name) == 0o600, name
    journal.close()


def test_an_old_state_db_is_made_private_when_opened(tmp_path: Path) -> None:
    state = tmp_path / "state"
    _, journal = open_store(str(state))
    assert journal is not None
    journal.close()
    for path in state.iterdir():
        path.chmod(0o644)
    _, journal = open_store(str(state))
    assert journal is not None
    for path in state.iterdir():
        assert mode(path) == 0o600, path.name
    journal.close()


def test_volume_dirs(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    with _volume_root(str(state)) as root:
        assert mode(root) == 0o700
        path = volume_path(root, "pvc-1")
        private_dir(path)
        assert mode(path) == 0o700


def test_kubeconfig(tmp_path: Path) -> None:
    path = tmp_path / "kubeconfig"
    write_kubeconfig(str(path), "http://127.0.0.1:1", token="secret")
    assert mode(path) == 0o600
