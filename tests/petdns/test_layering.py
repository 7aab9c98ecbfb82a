"""petdns's own layering: no import circle between its modules, `dns` imports nothing else of petdns,
`schema` and `dns` stay pure (no asyncio, aiohttp or API client), lazy imports included."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).parents[2]
IMPURE = ("asyncio", "aiohttp", "kubeapi.client", "threading", "socket")


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at any depth (lazy imports count)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def _graph() -> dict[str, set[str]]:
    files = {_module(p): p for p in sorted((ROOT / "petdns").rglob("*.py"))}
    return {name: {m for m in _imports(path) if m in files and m != name} for name, path in files.items()}


def test_no_import_circle() -> None:
    graph = _graph()
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in path:
            raise AssertionError("import circle: " + " -> ".join((*path[path.index(name) :], name)))
        if name in done:
            return
        for dep in sorted(graph[name]):
            visit(dep, (*path, name))
        done.add(name)

    for name in sorted(graph):
        visit(name, ())


def test_dns_imports_nothing_else_of_petdns() -> None:
    for name, deps in _graph().items():
        if name.startswith("petdns.dns."):
            assert all(dep.startswith("petdns.dns") for dep in deps), (name, deps)


def test_pure_packages() -> None:
    for package in ("dns", "schema"):
        for path in sorted((ROOT / "petdns" / package).rglob("*.py")):
            bad = {m for m in _imports(path) if m.startswith(IMPURE)}
            assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"
