"""Project invariants checked on the source (a small custom lint)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PURE_LIBRARIES = ("labels", "routing")
PURE_MODULES = (
    "server/custody/lifecycle.py",
    "server/custody/chain.py",
    "server/custody/projection.py",
)
FORBIDDEN_IN_PURE = ("sqlalchemy", "fastapi", "starlette", "server.models", "server.db", "psycopg")


def _python_files(*folders: str) -> list[Path]:
    return [path for folder in folders for path in (ROOT / folder).rglob("*.py")]


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_business_rules_and_libraries_import_no_web_or_database_code() -> None:
    offenders = []
    for path in _python_files(*PURE_LIBRARIES) + [ROOT / module for module in PURE_MODULES]:
        for name in _imports(path):
            if name.startswith(FORBIDDEN_IN_PURE):
                offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert offenders == []


def test_no_commit_outside_the_unit_of_work() -> None:
    allowed = {"server/db.py", "server/deps.py"}
    offenders = []
    for path in _python_files("server", "web", "scanner_agent"):
        if str(path.relative_to(ROOT)) in allowed:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr == "commit":
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []


def test_custody_events_are_never_updated_or_deleted_in_code() -> None:
    offenders = []
    for path in _python_files("server", "web", "scanner_agent"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in {"update", "delete"}
                and node.args
                and isinstance(node.args[0], ast.Name)
                and node.args[0].id in {"CustodyEvent", "LedgerHead"}
            ):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
            if isinstance(node, ast.Attribute) and node.attr == "delete":
                source = ast.unparse(node)
                if "session.delete" in source:
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} {source}")
    assert offenders == []
