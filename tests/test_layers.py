"""The import rule of DESIGN.md: protocol <- storage <- scheduler <- chatd, nothing imports chatd,
and each third-party library stays in its own layer."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OURS = {"chatd", "protocol", "storage", "scheduler"}
MAY_IMPORT = {
    "protocol": set(),
    "storage": {"protocol"},
    "scheduler": {"storage", "protocol"},
    "chatd": {"protocol", "storage", "scheduler", "chatd"},
}
# Third-party libraries that only one package may import.
OWNED_BY = {
    "starlette": "chatd",
    "uvicorn": "chatd",
    "redis": "chatd",
    "sqlalchemy": "storage",
    "alembic": "storage",
    "aiosqlite": "storage",
    "apscheduler": "scheduler",
}
# chatd may name SQLAlchemy's connection type to pass it through, never build SQL.
ALLOWED_EXCEPTIONS = {("chatd", "sqlalchemy.ext.asyncio")}


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
    return found


def _modules() -> list[tuple[str, Path]]:
    return [(package, path) for package in sorted(OURS) for path in sorted((ROOT / package).rglob("*.py"))]


@pytest.mark.parametrize(("package", "path"), _modules(), ids=lambda v: str(v))
def test_imports_flow_one_way(package: str, path: Path) -> None:
    for name in _imports(path):
        top = name.split(".")[0]
        if top in OURS:
            assert top in MAY_IMPORT[package] or top == package, f"{path.relative_to(ROOT)} imports {name}"
        owner = OWNED_BY.get(top)
        if owner is not None and (package, name) not in ALLOWED_EXCEPTIONS:
            assert owner == package, f"{path.relative_to(ROOT)} imports {name}, which belongs to {owner}/"
