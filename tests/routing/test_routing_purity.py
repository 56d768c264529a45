"""routing/ is a pure library: no web, database or server code."""

from __future__ import annotations

import ast
from pathlib import Path

ROUTING = Path(__file__).resolve().parents[2] / "routing"
FORBIDDEN = (
    "sqlalchemy",
    "fastapi",
    "starlette",
    "uvicorn",
    "psycopg",
    "alembic",
    "server",
    "web",
    "scanner_agent",
)


def test_routing_imports_nothing_from_the_server_side() -> None:
    offenders = []
    for path in ROUTING.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                if name.split(".")[0] in FORBIDDEN:
                    offenders.append(f"{path.name}: {name}")
    assert offenders == []
