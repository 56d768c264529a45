"""Codes typed (or piped) on standard input, one per line."""

from __future__ import annotations

import sys
import threading
from typing import TextIO

from scanner_agent.config import StdinInput
from scanner_agent.inputs.base import Emit, Scan

__all__ = ["StdinScanner"]


class StdinScanner:
    """Each line is one code; only the line ending is removed."""

    def __init__(self, config: StdinInput, stream: TextIO | None = None) -> None:
        self.config = config
        self.name = config.name
        self.stream = stream or sys.stdin

    def describe(self) -> str:
        return "standard input" + (" (typed)" if self.config.typed else "")

    def run(self, emit: Emit, stop: threading.Event) -> None:
        for line in self.stream:
            if stop.is_set():
                return
            text = line.rstrip("\r\n")
            if text:
                emit(Scan(text, self.name, typed=self.config.typed))
