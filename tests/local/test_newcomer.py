"""A newcomer's first command: `make run` from a fresh copy of the tree prints a dig line that answers."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.support.process import ROOT

VENV = Path(sys.executable).parents[1]


def _fresh_copy(target: Path) -> None:
    """The files a clone would hold (tracked and new, not ignored), with their times kept."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, listed):
        source = ROOT / name.decode()
        if source.is_file():
            (target / name.decode()).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name.decode())


def test_make_run_prints_a_dig_line_that_answers(tmp_path: Path) -> None:
    tree = tmp_path / "petdns"
    _fresh_copy(tree)
    started = time.monotonic()
    # the virtualenv of this run stands in for the one `make run` would install (-o: never remade)
    stamp = VENV / ".installed"
    command = ["make", "--no-print-directory", "-o", str(stamp), "run", f"VENV={VENV}", f"STAMP={stamp}"]
    command += ["API=127.0.0.1:0", "LISTEN=127.0.0.1:0"]
    proc = subprocess.Popen(
        command, cwd=tree, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    try:
        assert proc.stdout is not None
        printed = []
        for line in proc.stdout:
            printed.append(line)
            if line.strip().startswith("dig @"):
                break
        dig_line = printed[-1].split()
        assert dig_line[0] == "dig" and re.fullmatch(
            r"web-0\.nginx\.default\.svc\.cluster\.local", dig_line[-1]
        )
        answer: list[str] = []
        while time.monotonic() - started < 30 and not answer:
            done = subprocess.run(
                [*dig_line, "+short"], capture_output=True, text=True, timeout=10, check=True
            )
            answer = done.stdout.split()
            time.sleep(0.1)
        assert answer and answer[0].startswith("127.244."), "".join(printed)
        assert (tree / ".petdns" / "kubeconfig").exists()
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in its terminal does: make and petdns local
        try:
            proc.wait(timeout=20)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
