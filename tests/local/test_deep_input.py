"""`petdns local -f` with a manifest nested too deeply: one line naming the file, exit 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize("levels", [1_000, 10_000])
def test_local_f_too_deep_exits_2_with_one_line(tmp_path: Path, levels: int) -> None:
    path = tmp_path / "deep.yaml"
    spec = "".join("  " * (i + 1) + "a:\n" for i in range(levels)) + "  " * (levels + 1) + "b: 1\n"
    path.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: deep\ndata:\n" + spec)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "petdns",
            "local",
            "-f",
            str(path),
            *("--api", "127.0.0.1:0", "--dns", "127.0.0.1:0"),
            *("--kubeconfig", str(tmp_path / "kubeconfig"), "--state", str(tmp_path / "state")),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert done.returncode == 2, done.stderr[-2000:]
    (line,) = done.stderr.splitlines()
    assert str(path) in line and "nested more than 100 levels deep" in line
