"""What the person at the station sees: one console line per scan, and sync news.

Lines are plain when the output is not a terminal (a log, a test), coloured on a terminal.
Refusals can also sound the printer's buzzer or print a slip (see printing.py).
"""

from __future__ import annotations

import sys
import threading
from datetime import datetime
from typing import Final

from rich.console import Console
from rich.markup import escape

from scanner_agent.config import Language
from scanner_agent.stations import Reaction, Verdict
from scanner_agent.sync import BatchResult

__all__ = ["Feedback"]

_MARKS: Final = {
    Verdict.RECORDED: ("✓", "green"),
    Verdict.ADDED: ("+", "green"),
    Verdict.SIGNED_IN: ("→", "cyan"),
    Verdict.SIGNED_OUT: ("←", "cyan"),
    Verdict.STEP: ("⚙", "cyan"),
    Verdict.REPEAT: ("↺", "yellow"),
    Verdict.REFUSED: ("✗", "bold red"),
    Verdict.ASKING: ("…", "cyan"),
}
_WORDS: Final = {
    Language.EN: {v: v.value.replace("_", " ") for v in Verdict},
    Language.ZH: {
        Verdict.RECORDED: "已记录",
        Verdict.ADDED: "已加入",
        Verdict.SIGNED_IN: "已登录",
        Verdict.SIGNED_OUT: "已退出",
        Verdict.STEP: "步骤",
        Verdict.REPEAT: "重复读取",
        Verdict.REFUSED: "拒绝",
        Verdict.ASKING: "请求服务器",
    },
}


class Feedback:
    """Write station lines to a rich console (thread-safe)."""

    def __init__(self, language: Language = Language.ZH, console: Console | None = None) -> None:
        self.language = language
        # Bound to the real stdout now: labels.printers swaps sys.stdout for a moment while it
        # imports python-escpos (in the printer's thread), which would swallow a line.
        self.console = console or Console(file=sys.stdout, soft_wrap=True, highlight=False)
        self._lock = threading.Lock()

    def _line(self, mark: str, style: str, text: str) -> None:
        stamp = datetime.now().strftime("%H:%M:%S")
        with self._lock:
            self.console.print(f"{stamp} [{style}]{mark}[/] {text}", soft_wrap=True)
            self.console.file.flush()

    def scan(self, reaction: Reaction, pending: int | None = None) -> None:
        """One line for one scan: its mark, the code, the verdict and why."""
        mark, style = _MARKS[reaction.verdict]
        word = _WORDS[self.language][reaction.verdict]
        queued = f" (queued {pending})" if pending else ""
        code = escape(repr(reaction.code) if not reaction.code.isprintable() else reaction.code)
        self._line(mark, style, f"{code} {word}: {escape(reaction.message)}{queued}")

    def status(self, text: str) -> None:
        """A line about the agent itself (inputs opened, server reachable …)."""
        self._line("·", "dim", escape(text))

    def problem(self, text: str) -> None:
        self._line("!", "yellow", escape(text))

    def batch(self, result: BatchResult) -> None:
        """A summary per synced batch, and a line for every flagged or rejected event."""
        by_seq = {p.seq: p for p in result.events}
        counts: dict[str, int] = {}
        for answer in result.answers:
            counts[answer.status] = counts.get(answer.status, 0) + 1
            if answer.status in ("flagged", "rejected"):
                event = by_seq[answer.seq]
                reason = answer.reason_zh if self.language == Language.ZH else answer.reason
                style = "bold red" if answer.status == "rejected" else "yellow"
                mark = "✗" if answer.status == "rejected" else "!"
                why = escape(reason or answer.code or "")
                self._line(mark, style, f"{event.item} {event.type} {answer.status}: {why}")
        summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
        again = f"; {len(result.pending)} to send again" if result.pending else ""
        self._line("⇅", "dim", f"sync: {summary or 'nothing answered'}{again}")
