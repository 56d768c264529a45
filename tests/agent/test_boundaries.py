"""The agent is a separate deployable: it talks HTTP to the server and never imports it."""

from __future__ import annotations

import ast
import io
import threading
from pathlib import Path

from scanner_agent.config import StdinInput
from scanner_agent.inputs.base import Scan
from scanner_agent.inputs.stdin import StdinScanner

ROOT = Path(__file__).resolve().parents[2]


def test_the_agent_imports_no_server_or_web_code() -> None:
    offenders = []
    for path in (ROOT / "scanner_agent").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert isinstance(node, ast.Import | ast.ImportFrom)  # only these have names
                if name.split(".")[0] in {"server", "web", "sqlalchemy", "fastapi", "routing"}:
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {name}")
    assert offenders == []


def test_stdin_lines_are_scans_with_only_the_line_ending_removed() -> None:
    stream = io.StringIO("BX0000001C8\r\n\n  bx 0000-001c8 \nlast")
    scans: list[Scan] = []
    StdinScanner(StdinInput(kind="stdin"), stream).run(scans.append, threading.Event())
    assert [(s.text, s.typed) for s in scans] == [
        ("BX0000001C8", True),
        ("  bx 0000-001c8 ", True),
        ("last", True),
    ]
