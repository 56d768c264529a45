"""Serial scanners (USB CDC-ACM, USB-serial, RS-232) through pyserial, with reconnect."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import serial
from serial.tools import list_ports

from scanner_agent.config import SerialInput
from scanner_agent.inputs.base import Emit, Scan, backoff_delays
from scanner_agent.inputs.framing import FrameParser

__all__ = ["SerialScanner", "find_by_usb"]

log = logging.getLogger(__name__)


def find_by_usb(usb: str) -> str | None:
    """Return the device path of the first serial port with USB ``VID:PID``, if any."""
    vendor, product = (int(part, 16) for part in usb.split(":"))
    for port in sorted(list_ports.comports(), key=lambda p: p.device):
        if port.vid == vendor and port.pid == product:
            return str(port.device)
    return None


class SerialScanner:
    """Read framed codes from a serial port; reopen it when it goes away."""

    def __init__(
        self, config: SerialInput, *, on_status: Callable[[str], None] | None = None
    ) -> None:
        self.config = config
        self.name = config.name
        self.on_status = on_status
        self.opened = threading.Event()  # set while the port is open (tests wait on it)

    def describe(self) -> str:
        where = self.config.port or f"USB {self.config.usb}"
        return f"serial {where} ({self.config.baud} baud, {self.config.framing.value})"

    def _path(self) -> str | None:
        if self.config.port is not None:
            return self.config.port
        assert self.config.usb is not None
        return find_by_usb(self.config.usb)

    def run(self, emit: Emit, stop: threading.Event) -> None:
        delays = backoff_delays()
        complained = False
        while not stop.is_set():
            path = self._path()
            try:
                if path is None:
                    raise serial.SerialException(f"no serial port with USB ID {self.config.usb}")
                # exclusive: a second agent (or a modem prober) cannot read the same port.
                port = serial.Serial(path, self.config.baud, timeout=0.2, exclusive=True)
            except (serial.SerialException, OSError) as error:
                if not complained:
                    log.warning("%s: cannot open (%s); retrying", self.name, error)
                    complained = True
                stop.wait(delays())
                continue
            complained = False
            delays = backoff_delays()
            log.info("%s: reading %s", self.name, path)
            if self.on_status is not None:
                self.on_status(f"{self.name}: reading {path}")
            try:
                self._read(port, emit, stop)
            except (serial.SerialException, OSError) as error:
                log.warning("%s: %s went away (%s); reconnecting", self.name, path, error)
            finally:
                self.opened.clear()
                port.close()

    def _read(self, port: serial.Serial, emit: Emit, stop: threading.Event) -> None:
        parser = FrameParser(
            self.config.framing, self.config.prefix, self.config.suffix, self.config.max_length
        )
        self.opened.set()
        try:
            while not stop.is_set():
                data = port.read(max(1, port.in_waiting))
                if not data:
                    continue
                for frame in parser.feed(data):
                    emit(Scan(frame.text, self.name, problem=frame.problem))
        finally:
            for frame in parser.flush():
                emit(Scan(frame.text, self.name, problem=frame.problem))
