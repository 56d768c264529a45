"""Printing after commit, to a TCP capture printer; what it printed is decoded back."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from labels.decode import decode
from labels.escpos_render import interpret
from labels.identity import Kind, make_id
from labels.layouts import RECEIPT_58, PackLabel, render
from labels.layouts import Language as LabelLanguage
from scanner_agent.config import AgentConfig, Language
from scanner_agent.inputs.base import Scan
from scanner_agent.outbox import Outbox
from scanner_agent.printing import PrintWorker
from scanner_agent.stations import CallResult, Outcome, Station, Verdict
from tests.agent.support import CapturePrinter
from tests.support.server import free_port

BADGE, CHECKER = make_id(Kind.PERSON, "00000001"), make_id(Kind.PERSON, "00000002")
BOX, TRAY = make_id(Kind.SPECIMEN_BOX, "0000000A"), make_id(Kind.INSTRUMENT_SET, "0000000B")
PACK = make_id(Kind.PACK, "0000000C")
STERILIZER, LOAD = make_id(Kind.MACHINE, "0000000D"), make_id(Kind.CYCLE, "0000000E")


def _setup(tmp_path: Path, url: str, mode: str, refusal: str = "beep") -> tuple[Any, ...]:
    config = AgentConfig(
        site="T01",
        server_url="http://127.0.0.1:1",
        device_token="token",
        outbox=tmp_path / "outbox.db",
        inputs=[{"kind": "stdin"}],
        station={"mode": mode, "destination": "LAB"},
        printer={"url": url, "refusal": refusal},
        _env_file=None,
    )
    assert config.printer is not None
    outbox = Outbox(config.outbox)
    worker = PrintWorker(
        Outbox(config.outbox),
        config.printer,
        RECEIPT_58,
        Language.EN,
        tmp_path / "jobs",
        wake=threading.Event(),
    )
    return Station(config), outbox, worker


def _scan_all(station: Station, outbox: Outbox, codes: list[str]) -> list[Verdict]:
    state = station.initial()
    at = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
    verdicts = []
    for code in codes:
        at += timedelta(seconds=5)
        scan = Scan(code, "s", at=at)
        reaction = station.handle(state, scan)
        outbox.record(scan, reaction)
        state = reaction.state
        verdicts.append(reaction.verdict)
    return verdicts


def test_sealing_prints_a_box_label_that_scans(
    tmp_path: Path, capture_printer: CapturePrinter
) -> None:
    station, outbox, worker = _setup(tmp_path, capture_printer.url, "clinic_dispatch")
    _scan_all(station, outbox, [BADGE, BOX, "COUNT:4", "S-004512"])
    assert worker.print_one() is True
    assert worker.print_one() is False
    printout = interpret(capture_printer.job(), RECEIPT_58.width_dots)
    assert printout.cuts == 1
    assert [read.text for read in decode(printout.image)] == [BOX]
    (row,) = outbox.prints()
    assert (row["kind"], row["status"]) == ("box_label", "sent")
    assert (tmp_path / "jobs" / f"{row['job_id']}.bin").exists()


def test_packing_prints_the_server_s_pack_record(
    tmp_path: Path, capture_printer: CapturePrinter
) -> None:
    station, outbox, worker = _setup(tmp_path, capture_printer.url, "cssd")
    _scan_all(station, outbox, [BADGE, "STEP:PACK", TRAY])
    before = outbox.state()
    assert before is not None
    closing = Scan(CHECKER, "s", at=datetime(2026, 12, 2, 9, 1, tzinfo=UTC))
    asked = station.handle(before, closing)
    scan_seq = outbox.record(closing, asked)
    assert outbox.calls()[0]["status"] == "calling"
    assert worker.print_one() is False  # nothing to print before the server's answer
    answer = {
        "barcode": PACK, "set": TRAY, "set_name_zh": "换药包", "set_name_en": "Dressing set",
        "packer": BADGE, "packaging_material": "nonwoven", "packed_at": "2026-12-02T12:01:00Z",
        "destination": "T01", "load": None, "sterilizer": None, "sterilized_on": None,
        "expires_on": "2027-05-31",
    }  # fmt: skip
    final = station.settle(before, closing, asked, CallResult(Outcome.DONE, 201, answer))
    outbox.settle_call(scan_seq, CallResult(Outcome.DONE, 201, answer), final)
    assert worker.print_one() is True
    printout = interpret(capture_printer.job(), RECEIPT_58.width_dots)
    assert [read.text for read in decode(printout.image)] == [PACK]
    packed_on = datetime(2026, 12, 2, 12, 1, tzinfo=UTC).astimezone().date()  # the PC's day
    expected = PackLabel(
        PACK, "换药包", BADGE, "—", "—", packed_on, date(2027, 5, 31), "T01", "nonwoven",
    )  # fmt: skip
    drawn = render(expected, RECEIPT_58, LabelLanguage.EN).convert("1")
    assert printout.image.convert("1").crop((0, 0, *drawn.size)).tobytes() == drawn.tobytes()
    (call,) = outbox.calls()
    assert (call["status"], call["http_status"], call["answer"]) == ("done", 201, answer)
    assert outbox.scans()[-1]["verdict"] == "recorded"
    assert outbox.state() == final.state


def test_opening_a_load_prints_its_card_that_scans(
    tmp_path: Path, capture_printer: CapturePrinter
) -> None:
    station, outbox, worker = _setup(tmp_path, capture_printer.url, "cssd")
    _scan_all(station, outbox, [BADGE, "STEP:LOAD"])
    before = outbox.state()
    assert before is not None
    opening = Scan(STERILIZER, "s", at=datetime(2026, 12, 2, 9, 1, tzinfo=UTC))
    asked = station.handle(before, opening)
    scan_seq = outbox.record(opening, asked)
    answer = {"barcode": LOAD, "number": "L20261202-01", "kind": "sterilization",
              "machine": "ST1", "program": "134C 4 min", "items": []}  # fmt: skip
    final = station.settle(before, opening, asked, CallResult(Outcome.DONE, 201, answer))
    outbox.settle_call(scan_seq, CallResult(Outcome.DONE, 201, answer), final)
    assert worker.print_one() is True
    printout = interpret(capture_printer.job(), RECEIPT_58.width_dots)
    assert [read.text for read in decode(printout.image)] == [LOAD]  # scanned at unload, release
    assert outbox.prints()[0]["kind"] == "cycle_card"


def test_a_refusal_sounds_the_buzzer(tmp_path: Path, capture_printer: CapturePrinter) -> None:
    station, outbox, worker = _setup(tmp_path, capture_printer.url, "lab_receipt")
    assert _scan_all(station, outbox, [BOX]) == [Verdict.REFUSED]
    worker.print_one()
    job = capture_printer.job()
    assert job == bytes.fromhex("1b42020a")
    assert interpret(job).beeps == 2


def test_a_refusal_prints_a_slip(tmp_path: Path, capture_printer: CapturePrinter) -> None:
    station, outbox, worker = _setup(tmp_path, capture_printer.url, "lab_receipt", "slip")
    _scan_all(station, outbox, ["BX\x00\x01oops"])
    worker.print_one()
    printout = interpret(capture_printer.job(), RECEIPT_58.width_dots)
    assert printout.cuts == 1
    assert printout.image.height > 60  # three lines of text


def test_an_offline_printer_fails_the_job_not_the_station(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    station, outbox, worker = _setup(tmp_path, f"tcp://127.0.0.1:{port}?timeout=1", "lab_receipt")
    _scan_all(station, outbox, [BOX])
    worker.print_one()
    (row,) = outbox.prints()
    assert row["status"] == "failed"
    assert "offline or unreachable" in row["error"]


def test_a_job_cut_off_by_a_crash_is_unconfirmed_not_resent(tmp_path: Path) -> None:
    station, outbox, _ = _setup(tmp_path, "tcp://127.0.0.1:9", "lab_receipt")
    _scan_all(station, outbox, [BOX])
    assert outbox.claim_print() is not None  # then the agent dies
    restarted = Outbox(tmp_path / "outbox.db")
    assert restarted.interrupted_prints() == 1
    assert restarted.claim_print() is None
    assert restarted.prints()[0]["status"] == "unconfirmed"
