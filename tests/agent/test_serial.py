"""The serial input on real pseudo-terminals: framing, unplug and replug, a missing port."""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from scanner_agent.config import SerialInput
from scanner_agent.inputs.base import Scan
from scanner_agent.inputs.serial_port import SerialScanner, find_by_usb
from tests.agent.support import PtyScanner

CODE, CODE2 = "BX0000001C8", "TR00000001X"


class _Running:
    def __init__(self, config: SerialInput) -> None:
        self.scans: queue.Queue[Scan] = queue.Queue()
        self.statuses: queue.Queue[str] = queue.Queue()
        self.stop = threading.Event()
        self.scanner = SerialScanner(config, on_status=self.statuses.put)
        self.thread = threading.Thread(target=self.scanner.run, args=(self.scans.put, self.stop))
        self.thread.start()

    def opened(self) -> str:
        return self.statuses.get(timeout=10)

    def next(self) -> Scan:
        return self.scans.get(timeout=10)


@pytest.fixture
def running() -> Iterator[list[_Running]]:
    started: list[_Running] = []
    yield started
    for each in started:
        each.stop.set()
        each.thread.join(timeout=5)


def test_codes_arrive_in_awkward_chunks(pty_scanner: PtyScanner, running: list[_Running]) -> None:
    config = SerialInput(kind="serial", port=pty_scanner.path, framing="crlf")
    reader = _Running(config)
    running.append(reader)
    assert reader.opened().endswith(f"reading {pty_scanner.path}")
    stream = f"{CODE}\r\n{CODE2}\r\n".encode()
    for start in range(0, len(stream), 5):
        pty_scanner.send(stream[start : start + 5])
    assert [reader.next().text, reader.next().text] == [CODE, CODE2]


def test_an_unplugged_scanner_is_found_again(tmp_path: Path, running: list[_Running]) -> None:
    link = tmp_path / "usb-Scanner-if00"  # like /dev/serial/by-id/…
    first = PtyScanner()
    os.symlink(first.path, link)
    reader = _Running(SerialInput(kind="serial", port=str(link), framing="cr"))
    running.append(reader)
    reader.opened()
    first.send(CODE.encode() + b"\r")
    assert reader.next().text == CODE
    first.send(b"BX00")  # unplugged in the middle of a code …
    time.sleep(0.3)  # … after the reader took those bytes (a hang-up discards unread ones)
    first.close()
    link.unlink()
    cut = reader.next()
    assert (cut.text, cut.problem) == ("BX00", "frame cut off: no terminator came")
    second = PtyScanner()
    os.symlink(second.path, link)
    try:
        reader.opened()
        second.send(CODE2.encode() + b"\r")
        assert reader.next().text == CODE2
    finally:
        second.close()


def test_two_readers_cannot_share_a_port(pty_scanner: PtyScanner, running: list[_Running]) -> None:
    config = SerialInput(kind="serial", port=pty_scanner.path, framing="cr")
    first = _Running(config)
    running.append(first)
    first.opened()
    second = _Running(config)
    running.append(second)
    with pytest.raises(queue.Empty):
        second.statuses.get(timeout=1.0)  # exclusive: the second one keeps retrying
    pty_scanner.send(CODE.encode() + b"\r")
    assert first.next().text == CODE


def test_no_port_has_a_made_up_usb_id() -> None:
    assert find_by_usb("ffff:fffe") is None
