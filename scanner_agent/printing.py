"""Print what the station asked for, after the scan is committed: labels, beeps, slips.

Requests wait in the outbox's ``prints`` table; this worker takes them one at a time, builds
the ESC/POS bytes with labels (the box label when a box is sealed, the pack label when a set
is packed; the buzzer or a slip for a refusal) and sends them through
``labels.printers.PrintJobs``, which keeps every job and its bytes. A request that was being
sent when the agent stopped is marked ``unconfirmed``, never sent twice on its own.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any, Final

from labels.escpos_jobs import label_job
from labels.layouts import (
    BoxLabel,
    CycleCard,
    Label,
    LabelError,
    Language,
    Media,
    PackLabel,
)
from labels.printers import PrinterError, PrintJobs, PrintUnconfirmed
from scanner_agent.config import Language as StationLanguage
from scanner_agent.config import PrinterConfig
from scanner_agent.outbox import Outbox, PrintRow

__all__ = ["PrintWorker", "build_job", "refusal_slip"]

log = logging.getLogger(__name__)
_INIT: Final = b"\x1b@"
_CUT: Final = b"\x1bd\x03\x1dVB\x00"


def _ascii(text: str) -> str:
    return "".join(c if 0x20 <= ord(c) < 0x7F else "?" for c in text)


def refusal_slip(code: str, why: str, at: datetime) -> bytes:
    """A short slip saying what was refused and why (ASCII, the printer's own font)."""
    lines = [
        "REFUSED / " + at.strftime("%Y-%m-%d %H:%M:%S"),
        "code: " + _ascii(repr(code) if not code.isprintable() else code)[:64],
        "why: " + _ascii(why)[:160],
    ]
    body = b"".join(line.encode("ascii") + b"\n" for line in lines)
    return (
        _INIT
        + b"\x1bE\x01"
        + body[: body.index(b"\n") + 1]
        + b"\x1bE\x00"
        + (body[body.index(b"\n") + 1 :])
        + _CUT
    )


def _label(row: PrintRow) -> Label:
    f: dict[str, Any] = row.facts
    if row.kind == "box_label":
        return BoxLabel(
            box_id=f["box_id"],
            origin=f["origin"],
            destination=f["destination"],
            temperature_class=f["temperature_class"],
            seal_number=f["seal_number"],
            sealed_at=datetime.fromisoformat(f["sealed_at"]),
            count=int(f["count"]),
        )
    if row.kind == "cycle_card":
        return CycleCard(
            cycle_id=f["cycle_id"],
            number=f["number"],
            wash=bool(f["wash"]),
            machine=f["machine"],
            program=f["program"],
            opened_at=datetime.fromisoformat(f["opened_at"]),
            operator=f["operator"],
        )
    return PackLabel(
        pack_id=f["pack_id"],
        set_name=f["set_name"],
        packer=f["packer"],
        sterilizer=f["sterilizer"],
        load_number=f["load_number"],
        sterilized_on=date.fromisoformat(f["sterilized_on"]),
        expires_on=date.fromisoformat(f["expires_on"]),
        destination=f["destination"],
        packaging=f.get("packaging", ""),
    )


def build_job(
    row: PrintRow, printer: PrinterConfig, media: Media, language: StationLanguage
) -> bytes:
    """The ESC/POS bytes for one request; raise LabelError if its facts cannot be printed."""
    if row.kind == "refusal":
        if printer.refusal == "beep":
            return printer.beep_bytes()
        return refusal_slip(str(row.facts["code"]), str(row.facts["why"]), datetime.now())
    return label_job(_label(row), media, Language(language.value))


class PrintWorker:
    """Drains print requests to the station's printer."""

    def __init__(
        self,
        outbox: Outbox,
        printer: PrinterConfig,
        media: Media,
        language: StationLanguage,
        jobs_dir: Path,
        *,
        wake: threading.Event,
        on_problem: Callable[[str], None] | None = None,
        on_printed: Callable[[str], None] | None = None,
    ) -> None:
        self.outbox = outbox
        self.printer = printer
        self.media = media
        self.language = language
        self.jobs = PrintJobs(jobs_dir)
        self.wake = wake
        self.on_problem = on_problem
        self.on_printed = on_printed

    def print_one(self) -> bool:
        """Print the oldest request; return False if there was none."""
        row = self.outbox.claim_print()
        if row is None:
            return False
        try:
            data = build_job(row, self.printer, self.media, self.language)
        except (LabelError, KeyError, ValueError) as error:
            self.outbox.settle_print(row.seq, "failed", None, f"cannot print: {error}")
            self._problem(f"{row.description}: cannot print: {error}")
            return True
        try:
            job = self.jobs.submit(self.printer.url, data, row.description)
        except PrinterError as error:
            status = "unconfirmed" if isinstance(error, PrintUnconfirmed) else "failed"
            self.outbox.settle_print(row.seq, status, error.job_id, error.message)
            self._problem(f"{row.description}: {error}")
            return True
        self.outbox.settle_print(row.seq, "sent", job.job_id, None)
        if self.on_printed is not None and row.kind != "refusal":
            self.on_printed(f"printed {row.description}")
        return True

    def _problem(self, text: str) -> None:
        log.warning("%s", text)
        if self.on_problem is not None:
            self.on_problem(text)

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            if not self.print_one():
                self.wake.wait(0.5)
                self.wake.clear()
