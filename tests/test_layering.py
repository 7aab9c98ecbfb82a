"""The house's layering, from every import statement (lazy ones, and those under `try` and `if`, included):
kubeapi below all, petdns and petset_controller apart, localcluster and the kubectl plugin on top, pure
sub-packages pure."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
PACKAGES = ("kubeapi", "petdns", "petset_controller", "localcluster", "kubectl_petset")
IO = ("asyncio", "aiohttp", "kubeapi.client", "uvloop", "socket", "threading")

# package -> what no module in it may import (a name covers its sub-modules)
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "kubeapi": ("petdns", "petset_controller", "localcluster", "kubectl_petset"),
    "petdns": ("petset_controller", "localcluster", "kubectl_petset"),
    "petset_controller": ("petdns", "localcluster", "kubectl_petset"),
    "localcluster": ("kubectl_petset",),
    "kubectl_petset": ("localcluster",),
    "petdns.dns": (
        *IO,
        "petdns.schema",
        "petdns.answer",
        "petdns.forward",
        "petdns.serve",
        "petdns.settings",
    ),
    "petdns.schema": (*IO, "petdns.answer", "petdns.forward", "petdns.serve", "petdns.app"),
    "petdns.answer": ("asyncio", "aiohttp", "kubeapi.client", "petdns.forward", "petdns.serve", "petdns.app"),
    "petdns.forward": ("petdns.answer", "petdns.app", "petdns.cli"),
    "petdns.serve": ("petdns.app", "petdns.cli"),
    "petdns.settings.values": ("petdns",),
    "petdns.plugins": (
        *IO,
        "petdns.schema",
        "petdns.answer",
        "petdns.forward",
        "petdns.serve",
        "petdns.settings",
    ),
    "petset_controller.core": (*IO, "petset_controller.runtime"),
    "localcluster.kubelet.scheduler": IO,
    "localcluster.kubelet.podlife": IO,
    "localcluster.kubelet.podstatus": IO,
    "localcluster.kubelet.nodes": IO,
    "localcluster.kubelet.ipam": IO,
    "localcluster.controllers.endpointslices.model": IO,
    "localcluster.controllers.endpointslices.slices": IO,
    "localcluster.controllers.provisioner.volumes": IO,
    "localcluster.controllers.protection.rules": IO,
    "localcluster.kubelet.affinity": IO,
    "localcluster.apiserver.podlog": IO,
    "localcluster.apiserver.crilog": IO,
    "localcluster.kubelet.hostrun.probestate": (*IO, "subprocess"),
    "localcluster.kubelet.hostrun.listeners": (*IO, "subprocess"),
    "localcluster.kubelet.hostrun.plan": (*IO, "subprocess"),
    "localcluster.kubelet.hostrun.envvars": (*IO, "subprocess"),
    "localcluster.kubelet.hostrun.identity": (*IO, "subprocess"),
    "localcluster.kubelet.hostrun.status": (*IO, "subprocess"),
    "petdns.peers.core": (*IO, "subprocess"),
    "localcluster.storage": (
        "aiohttp",
        "asyncio",
        "uvloop",
        "kubeapi.client",
        "localcluster.apiserver",
        "localcluster.kubelet",
        "localcluster.controllers",
    ),
}
# the one way up: `petdns local` hands its arguments to the local cluster's own command line
ALLOWED = {("petdns.cli", "localcluster.cli")}


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module(p): p for package in PACKAGES for p in sorted((ROOT / package).rglob("*.py"))}


MODULES = _modules()


def imports(path: Path) -> Iterator[str]:
    """Every module an import statement anywhere in the file names (`from a import b` gives a.b when
    that is a module, else a)."""
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                yield full if full in MODULES else node.module
        elif isinstance(node, ast.ImportFrom):
            pytest.fail(f"{path.relative_to(ROOT)}: relative import")


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_point_down(package: str) -> None:
    bad = [
        f"{module} imports {name}"
        for module, path in MODULES.items()
        if _under(module, package)
        for name in imports(path)
        if any(_under(name, f) for f in FORBIDDEN[package]) and (module, name) not in ALLOWED
    ]
    assert not bad, "\n".join(bad)


def test_only_the_petdns_command_line_reaches_the_local_cluster() -> None:
    reaching = {
        (module, name)
        for module, path in MODULES.items()
        if not _under(module, "localcluster")
        for name in imports(path)
        if _under(name, "localcluster")
    }
    assert reaching == ALLOWED


def test_no_import_circle() -> None:
    graph = {m: {n for n in imports(p) if n in MODULES and n != m} for m, p in MODULES.items()}
    # a package's __init__ is imported with each of its modules: count that edge too
    for module in MODULES:
        parent = module.rpartition(".")[0]
        if parent in graph:
            graph[module].add(parent)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    assert not circles, circles


def test_every_package_says_what_it_owns_and_may_import() -> None:
    for module, path in MODULES.items():
        if path.name == "__init__.py":
            doc = ast.get_docstring(ast.parse(path.read_text())) or ""
            assert len(doc.splitlines()) >= 2 and "import" in doc.lower(), f"{module}: {doc!r}"


def test_no_module_over_400_lines() -> None:
    long = {m: n for m, p in MODULES.items() if (n := len(p.read_text().splitlines())) > 400}
    assert not long, long
