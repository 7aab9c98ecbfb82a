"""What the API server needs from a kubelet that runs containers for real: how to enter a running
container (for `pods/exec`) and where its log files are (for `pods/log`). The kubelet implements it
structurally; the API server never imports the kubelet."""

from __future__ import annotations

import pathlib
from typing import Protocol


class PodRuntime(Protocol):
    """The containers a kubelet runs as host processes."""

    def enter_argv(self, namespace: str, pod: str, container: str) -> list[str] | None:
        """The argv prefix that runs a command inside the running container's sandbox as the container's
        user, working directory and environment; None when that container is not running for real."""
        ...

    def log_files(self, namespace: str, pod: str, container: str) -> list[pathlib.Path]:
        """The container's log files (CRI format), one per run, oldest first; [] when it never ran
        for real."""
        ...
