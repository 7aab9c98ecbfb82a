"""Imports point down only: kubeapi below all, petdns and petset_controller apart, localcluster on top."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
# package -> packages it must never import (at module level)
FORBIDDEN = {
    "kubeapi": {"petdns", "petset_controller", "localcluster"},
    "petdns": {"petset_controller", "localcluster"},
    "petset_controller": {"petdns", "localcluster"},
}


def _top_level_imports(path: Path) -> set[str]:
    """Packages imported at module level (imports inside functions are lazy and allowed for entry points)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_point_down(package: str) -> None:
    for path in sorted((ROOT / package).rglob("*.py")):
        bad = _top_level_imports(path) & FORBIDDEN[package]
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"
