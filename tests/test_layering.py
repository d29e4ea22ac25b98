"""The folders are the architecture: common/ imports neither side; workers never import the
client or the CLI (product.md)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def imported_modules(folder: str) -> dict[str, set[str]]:
    """Module file -> every module it imports (top level or inside functions)."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / folder).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
        found[str(path.relative_to(ROOT))] = names
    return found


def test_common_imports_neither_producer_nor_workers():
    offenders = {
        path: sorted(n for n in names if n.split(".")[0] in ("producer", "workers"))
        for path, names in imported_modules("common").items()
    }
    assert {p: n for p, n in offenders.items() if n} == {}


def test_workers_never_import_the_client_or_the_cli():
    offenders = {
        path: sorted(n for n in names if n in ("producer.client", "producer.cli"))
        for path, names in imported_modules("workers").items()
    }
    assert {p: n for p, n in offenders.items() if n} == {}
