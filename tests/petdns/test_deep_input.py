"""Deeply nested YAML in `--objects`, `--config` and a live reload: one line naming the file, exit 2,
the settings in force kept; never a RecursionError."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from petdns.schema.loader import load_files
from petdns.serve.metrics import ReloadCounts
from petdns.serve.reload import Reloader


def deep_service(levels: int) -> str:
    """A Service whose spec nests `levels` mappings deep (block style, as an editor writes YAML)."""
    spec = "".join("  " * (i + 1) + "a:\n" for i in range(levels)) + "  " * (levels + 1) + "b: 1\n"
    return "apiVersion: v1\nkind: Service\nmetadata:\n  name: deep\nspec:\n" + spec


def deep_config(levels: int) -> str:
    return "ttl: " + "[" * levels + "]" * levels + "\n"


def _petdns(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "petdns", "serve", *args],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        check=False,
    )


@pytest.mark.parametrize("levels", [1_000, 10_000])
def test_serve_objects_too_deep_exits_2_with_one_line(tmp_path: Path, levels: int) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text(deep_service(levels))
    done = _petdns("--objects", str(path), "--listen", "127.0.0.1:0", "--no-forward")
    assert done.returncode == 2, done.stderr[-2000:]
    (line,) = done.stderr.splitlines()
    assert str(path) in line and "nested more than 100 levels deep" in line


@pytest.mark.parametrize("levels", [1_000, 10_000])
def test_serve_config_too_deep_exits_2_with_one_line(tmp_path: Path, levels: int) -> None:
    path = tmp_path / "petdns.yaml"
    path.write_text(deep_config(levels))
    done = _petdns("--config", str(path))
    assert done.returncode == 2, done.stderr[-2000:]
    (line,) = done.stderr.splitlines()
    assert str(path) in line and "nested more than 100 levels deep" in line


def test_a_reload_of_deep_files_logs_one_line_and_keeps_the_settings(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = tmp_path / "petdns.yaml"
    objects = tmp_path / "objects.yaml"
    objects.write_text(deep_service(2))
    config.write_text(f"ttl: 5\nobjects: [{objects}]\n")
    applied: list[dict[str, Any]] = []

    def apply(values: dict[str, Any]) -> None:
        load_files(values["objects"])
        applied.append(values)

    counts = ReloadCounts()
    reloader = Reloader(str(config), {}, apply, counts)
    assert reloader.reload() is True
    caplog.set_level(logging.INFO, "petdns.reload")
    objects.write_text(deep_service(10_000))
    for levels_file in (objects, config):  # first the objects file the config names, then the config
        if levels_file is config:
            config.write_text(deep_config(10_000))
        else:
            config.write_text(f"ttl: 6\nobjects: [{objects}]\n")
        caplog.clear()
        assert reloader.reload() is False
        (record,) = caplog.records
        assert record.levelno == logging.ERROR and record.exc_info is None
        message = record.getMessage()
        assert "\n" not in message and str(levels_file) in message
        assert "nested more than 100 levels deep" in message and "keeping the settings in force" in message
    assert [values["ttl"] for values in applied] == [5]
    assert counts.applied == 1 and counts.failed == 2
