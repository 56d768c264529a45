"""Shared parts for the label tests: sample labels and a TCP capture 'printer' on 127.0.0.1."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

import numpy as np
from PIL import Image
from pyzbar import pyzbar

from labels.identity import Kind, make_id
from labels.layouts import (
    BoxLabel,
    CycleCard,
    Label,
    LoadItem,
    LoadSheet,
    PackLabel,
    SetTag,
    StaffBadge,
)

CHINA = timezone(timedelta(hours=8))
STATUS_REQUEST = b"\x10\x04\x01"


def sample_labels() -> dict[str, Label]:
    """One label of every kind, with Chinese names as a clinic would use them."""
    return {
        "pack": PackLabel(
            pack_id=make_id(Kind.PACK, "4JWTR283"),
            set_name="腹部手术包",
            packer="张敏",
            sterilizer="1号脉动真空灭菌器",
            load_number="20261122-03",
            sterilized_on=date(2026, 11, 22),
            expires_on=date(2027, 5, 21),
            destination="城关镇卫生院",
            packaging="无纺布",
        ),
        "box": BoxLabel(
            box_id=make_id(Kind.SPECIMEN_BOX, "FREFMCT6"),
            origin="城关镇卫生院",
            destination="区域检验中心",
            temperature_class="2-8C",
            seal_number="S0012345",
            sealed_at=datetime(2026, 11, 22, 9, 30, tzinfo=CHINA),
            count=12,
        ),
        "set": SetTag(make_id(Kind.INSTRUMENT_SET, "3F0XVCDK"), "口腔器械包", "城关镇卫生院", 14),
        "badge": StaffBadge(make_id(Kind.PERSON, "RR0PE8QT"), "王芳", "物流专员", "县人民医院"),
        "load": LoadSheet(
            load_id=make_id(Kind.CYCLE, "7JZ3XA00"),
            sterilizer="1号灭菌器",
            program="134℃ 4 min",
            started_at=datetime(2026, 11, 22, 10, 0, tzinfo=CHINA),
            operator="李强",
            packs=(
                LoadItem(make_id(Kind.PACK, "0MH0ZXCN"), "换药包"),
                LoadItem(make_id(Kind.PACK, "6DQ0G7RE"), "缝合包"),
            ),
        ),
        "cycle": CycleCard(
            cycle_id=make_id(Kind.CYCLE, "9KQ2WD10"),
            number="W20261122-02",
            wash=True,
            machine="全自动清洗消毒器1",
            program="标准程序",
            opened_at=datetime(2026, 11, 22, 8, 40, tzinfo=CHINA),
            operator="李强",
        ),
    }


def label_id(label: Label) -> str:
    for name in ("pack_id", "box_id", "set_id", "badge_id", "load_id", "cycle_id"):
        if hasattr(label, name):
            return str(getattr(label, name))
    raise AssertionError(label)


def zbar_texts(image: Image.Image | np.ndarray, *, qr: bool = False) -> list[str]:
    """Plain pyzbar on an image, Code 128 (and QR when asked) only."""
    symbols = [pyzbar.ZBarSymbol.CODE128] + ([pyzbar.ZBarSymbol.QRCODE] if qr else [])
    array = np.asarray(image.convert("L")) if isinstance(image, Image.Image) else image
    return [r.data.decode("latin-1") for r in pyzbar.decode(array, symbols=symbols)]


@dataclass
class CaptureServer:
    """A one-connection TCP 'printer': records every byte until the client closes.

    ``status_answer`` is sent back when a DLE EOT 1 status request arrives; ``reset_after``
    makes it abort the connection (RST) after that many bytes, as a printer losing power would.
    """

    status_answer: bytes | None = None
    reset_after: int | None = None
    data: bytearray = field(default_factory=bytearray)
    port: int = 0
    _thread: threading.Thread | None = None
    _listener: socket.socket | None = None

    @property
    def url(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def start(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.settimeout(10)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        assert self._listener is not None
        connection, _ = self._listener.accept()
        connection.settimeout(10)
        with connection:
            while True:
                chunk = connection.recv(65536)
                if not chunk:
                    return
                self.data += chunk
                if self.reset_after is not None and len(self.data) >= self.reset_after:
                    linger = struct.pack("ii", 1, 0)
                    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
                    return
                if self.status_answer is not None and self.data.endswith(STATUS_REQUEST):
                    connection.sendall(self.status_answer)

    def received(self) -> bytes:
        """Wait for the client to finish and return what it sent."""
        assert self._thread is not None and self._listener is not None
        self._thread.join(timeout=10)
        self._listener.close()
        assert not self._thread.is_alive(), "the capture server never saw the end of the job"
        return bytes(self.data)


@contextmanager
def capture_server(
    *, status_answer: bytes | None = None, reset_after: int | None = None
) -> Iterator[CaptureServer]:
    server = CaptureServer(status_answer=status_answer, reset_after=reset_after)
    server.start()
    try:
        yield server
    finally:
        if server._listener is not None:
            server._listener.close()


@contextmanager
def refusing_port() -> Iterator[int]:
    """A port on 127.0.0.1 that refuses connections: bound but not listening, held till exit."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        yield int(holder.getsockname()[1])
