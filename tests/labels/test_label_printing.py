"""Every label kind printed through real transports, rendered back from the bytes and scanned.

TCP goes to a capture server on 127.0.0.1, serial through a pseudo-terminal, file to a file.
USB is the one transport that cannot be simulated here: only its URL parsing and its
"device not found" error are tested.
"""

from __future__ import annotations

import os
import threading
import tty
from pathlib import Path

import pytest

from labels.decode import decode
from labels.escpos_jobs import Route, label_job
from labels.escpos_render import interpret
from labels.layouts import RECEIPT_58, RECEIPT_80, Language, Media
from labels.printers import (
    BadPrinterUrl,
    JobStatus,
    PrinterNotFound,
    PrinterOffline,
    PrintJobs,
    PrintUnconfirmed,
    UnknownJob,
    deliver,
    parse_printer_url,
)
from tests.labels.label_support import (
    STATUS_REQUEST,
    capture_server,
    label_id,
    refusing_port,
    sample_labels,
    zbar_texts,
)

LABELS = sample_labels()


@pytest.mark.parametrize("route", list(Route))
@pytest.mark.parametrize("media", [RECEIPT_58, RECEIPT_80], ids=lambda m: m.name)
@pytest.mark.parametrize("kind", list(LABELS))
def test_every_label_prints_through_a_socket_and_scans_back(
    kind: str, media: Media, route: Route, tmp_path: Path
) -> None:
    label = LABELS[kind]
    job = label_job(label, media, Language.ZH, route=route, qr=True)
    with capture_server() as printer:
        record = PrintJobs(tmp_path).submit(printer.url, job, kind)
        captured = printer.received()
    assert captured == job
    assert record.status == JobStatus.SENT and record.attempts == 1

    printout = interpret(captured, media.width_dots)
    assert printout.cuts == 1
    assert zbar_texts(printout.image) == [label_id(label)]
    assert zbar_texts(printout.image, qr=True).count(label_id(label)) == 2
    assert [read.text for read in decode(printout.image)] == [label_id(label)]
    if route == Route.NATIVE:
        assert printout.barcodes == printout.qr_codes == [label_id(label)]


def test_english_labels_print_natively_too(tmp_path: Path) -> None:
    for label in LABELS.values():
        job = label_job(label, RECEIPT_80, Language.EN, route=Route.NATIVE)
        with capture_server() as printer:
            deliver(printer.url, job)
            image = interpret(printer.received(), RECEIPT_80.width_dots).image
        assert zbar_texts(image) == [label_id(label)]


def test_native_route_sends_chinese_in_gb18030_after_kanji_mode() -> None:
    job = label_job(LABELS["pack"], RECEIPT_58, Language.ZH, route=Route.NATIVE)
    assert b"\x1c&" in job
    assert "无菌物品包".encode("gb18030") in job
    assert "城关镇卫生院".encode("gb18030") in job
    assert b"\x1dk\x49\x0d{B" + label_id(LABELS["pack"]).encode() in job


def test_serial_printer_through_a_pseudo_terminal(tmp_path: Path) -> None:
    job = label_job(LABELS["box"], RECEIPT_58, Language.ZH)
    master, slave = os.openpty()
    tty.setraw(master)
    received = bytearray()

    def drain() -> None:
        # The pty buffer is a few kB, so the job must be read while it is written.
        while len(received) < len(job):
            received.extend(os.read(master, 65536))

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        url = f"serial://{os.ttyname(slave)}?baud=19200&timeout=5"
        record = PrintJobs(tmp_path).submit(url, job, "box")
        reader.join(timeout=10)
    finally:
        os.close(slave)
        os.close(master)
    assert record.status == JobStatus.SENT
    assert bytes(received) == job
    image = interpret(bytes(received), RECEIPT_58.width_dots).image
    assert zbar_texts(image) == [label_id(LABELS["box"])]


def test_file_printer_writes_the_job(tmp_path: Path) -> None:
    job = label_job(LABELS["set"], RECEIPT_80, Language.EN, route=Route.NATIVE)
    target = tmp_path / "lp0"
    record = PrintJobs(tmp_path / "jobs").submit(f"file://{target}", job, "set")
    assert record.status == JobStatus.SENT
    assert target.read_bytes() == job


def test_offline_printer_fails_the_job_and_resend_is_explicit(tmp_path: Path) -> None:
    jobs = PrintJobs(tmp_path)
    job = label_job(LABELS["badge"], RECEIPT_80, Language.ZH)
    with refusing_port() as port, pytest.raises(PrinterOffline) as raised:
        jobs.submit(f"tcp://127.0.0.1:{port}?timeout=2", job, "badge")
    error = raised.value
    assert error.code == "printer_offline"
    assert f"127.0.0.1:{port} is offline or unreachable: connection refused" in str(error)
    assert error.job_id is not None
    failed = jobs.get(error.job_id)
    assert failed.status == JobStatus.FAILED and failed.attempts == 1
    assert failed.error_code == "printer_offline"
    assert [j.job_id for j in jobs.all()] == [error.job_id]

    # Nothing is retried behind anyone's back: the job stays failed until someone resends it.
    assert jobs.get(error.job_id).status == JobStatus.FAILED
    with capture_server() as printer:
        sent = jobs.resend(error.job_id, printer.url)
        assert printer.received() == job
    assert sent.status == JobStatus.SENT and sent.attempts == 2
    assert jobs.get(error.job_id).printer == printer.url
    assert jobs.payload(error.job_id) == job


def test_connection_lost_midway_is_unconfirmed(tmp_path: Path) -> None:
    jobs = PrintJobs(tmp_path)
    payload = b"\x1b@" + b"\n" * (32 * 1024 * 1024)  # far more than the socket buffers hold
    with capture_server(reset_after=1) as printer:
        with pytest.raises(PrintUnconfirmed) as raised:
            jobs.submit(printer.url + "?timeout=5", payload, "big")
        printer.received()
    assert raised.value.code == "print_unconfirmed"
    assert "check the printer before sending again" in str(raised.value)
    assert raised.value.job_id is not None
    assert jobs.get(raised.value.job_id).status == JobStatus.UNCONFIRMED


def test_status_confirmation(tmp_path: Path) -> None:
    jobs = PrintJobs(tmp_path)
    job = label_job(LABELS["set"], RECEIPT_58, Language.ZH)
    with capture_server(status_answer=b"\x12") as printer:
        record = jobs.submit(printer.url + "?confirm=status", job, "set")
        assert printer.received() == job + STATUS_REQUEST
    assert record.status == JobStatus.SENT
    # The interpreter treats the real-time status request as printing nothing.
    interpret(job + STATUS_REQUEST, RECEIPT_58.width_dots)

    with capture_server() as silent:
        with pytest.raises(PrintUnconfirmed, match="did not answer the status request"):
            jobs.submit(silent.url + "?confirm=status&timeout=0.3", job, "set")
        silent.received()


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("192.168.1.50:9100", "expected scheme://"),
        ("http://printer", "unknown scheme 'http'"),
        ("tcp://", "needs a host"),
        ("tcp://printer:70000", "port must be a number"),
        ("tcp://printer?speed=2", "unknown option 'speed'"),
        ("tcp://printer?timeout=0", "timeout=0 is outside"),
        ("tcp://printer?confirm=yes", "the only confirmation is 'status'"),
        ("serial://dev/ttyUSB0", "needs a device path"),
        ("serial:///dev/ttyUSB0?baud=fast", "baud='fast' is not a number"),
        ("serial:///dev/ttyUSB0?parity=X", "use N, E, O, M or S"),
        ("usb://0416", "usb://VID:PID"),
        ("usb://416:5011", "4 hex digits"),
        ("file://printer.bin", "absolute path"),
    ],
)
def test_bad_printer_urls_name_the_problem(url: str, problem: str) -> None:
    with pytest.raises(BadPrinterUrl) as raised:
        parse_printer_url(url)
    assert raised.value.code == "bad_printer_url"
    assert problem in str(raised.value)
    assert repr(url) in str(raised.value)


def test_bad_url_records_no_job(tmp_path: Path) -> None:
    with pytest.raises(BadPrinterUrl):
        PrintJobs(tmp_path).submit("lpt1", b"x")
    assert PrintJobs(tmp_path).all() == []


def test_printer_urls_parse() -> None:
    tcp = parse_printer_url("tcp://10.0.0.7")
    assert (tcp.host, tcp.port, tcp.confirm) == ("10.0.0.7", 9100, False)
    serial = parse_printer_url("serial:///dev/ttyUSB0?baud=115200&parity=e&flow=xonxoff")
    assert (serial.path, serial.baud, serial.parity, serial.flow) == (
        "/dev/ttyUSB0",
        115200,
        "E",
        "xonxoff",
    )
    usb = parse_printer_url("usb://04b8:0E15?out_ep=0x02")
    assert (usb.vendor_id, usb.product_id, usb.out_ep) == (0x04B8, 0x0E15, 2)
    assert parse_printer_url("file:///dev/usb/lp0").path == "/dev/usb/lp0"


def test_usb_printer_not_found(tmp_path: Path) -> None:
    # No USB printer can be simulated in the test environment; this checks the error path only.
    with pytest.raises(PrinterNotFound) as raised:
        PrintJobs(tmp_path).submit("usb://0416:5011?timeout=1", b"\x1b@", "usb")
    assert raised.value.code == "printer_not_found"
    assert "USB 0416:5011 is not connected" in str(raised.value)
    assert PrintJobs(tmp_path).get(str(raised.value.job_id)).status == JobStatus.FAILED


def test_missing_serial_device_and_file_directory(tmp_path: Path) -> None:
    with pytest.raises(PrinterNotFound, match="no such file or directory"):
        deliver("serial:///dev/ttyHANDOFF404", b"x")
    with pytest.raises(PrinterNotFound, match="cannot be opened"):
        deliver(f"file://{tmp_path}/missing/dir/lp0", b"x")


def test_unknown_jobs(tmp_path: Path) -> None:
    jobs = PrintJobs(tmp_path)
    with pytest.raises(UnknownJob, match="not a print job ID"):
        jobs.get("../../etc/passwd")
    with pytest.raises(UnknownJob, match="no print job"):
        jobs.resend("20261122-093012-a1b2c3")
