"""Split a serial scanner's byte stream into codes: CR, LF, CRLF, STX…ETX, prefix/suffix.

The parser is incremental (feed it whatever ``read`` returned) and never guesses: a frame it
cannot trust (too long, a stray STX, bytes outside printable ASCII apart from the GS1
separator, a missing prefix or suffix) comes out as a Frame with ``problem`` set, so the
station can refuse it out loud instead of dropping or repairing it.
"""

from __future__ import annotations

from dataclasses import dataclass

from scanner_agent.config import Framing

__all__ = ["Frame", "FrameParser"]

STX, ETX, CR, LF, GS = 0x02, 0x03, 0x0D, 0x0A, 0x1D


@dataclass(frozen=True, slots=True)
class Frame:
    """One framed code (``text``) or the bytes of a bad one (``problem`` set)."""

    text: str
    raw: bytes
    problem: str | None = None


def _printable(raw: bytes) -> str | None:
    for index, b in enumerate(raw):
        if b == GS or 0x20 <= b < 0x7F:
            continue
        return f"byte 0x{b:02X} at position {index + 1} is not printable"
    return None


class FrameParser:
    """Incremental framing for one serial input."""

    def __init__(
        self, framing: Framing, prefix: str = "", suffix: str = "", max_length: int = 256
    ) -> None:
        self.framing = framing
        self.prefix = prefix.encode("ascii")
        self.suffix = suffix.encode("ascii")
        self.max_length = max_length
        self._buffer = bytearray()
        self._in_frame = False  # STX/ETX: inside a frame
        self._pending_cr = False  # EOL/CRLF: the last byte was CR
        self._overflow = False

    def feed(self, data: bytes) -> list[Frame]:
        """Take more bytes; return the frames they completed."""
        if self.framing == Framing.STX_ETX:
            return self._feed_stx(data)
        return self._feed_lines(data)

    def pending(self) -> bytes:
        """Bytes waiting for their terminator (a frame cut off so far)."""
        return bytes(self._buffer)

    def flush(self) -> list[Frame]:
        """End of input (port closed): what is buffered is a truncated frame."""
        if not self._buffer and not self._in_frame:
            return []
        raw = bytes(self._buffer)
        self._buffer.clear()
        self._in_frame = self._pending_cr = self._overflow = False
        return [Frame(raw.decode("latin-1"), raw, "frame cut off: no terminator came")]

    def _grow(self, b: int) -> None:
        if len(self._buffer) >= self.max_length:
            self._overflow = True
        else:
            self._buffer.append(b)

    def _finish(self, *, missing_start: bool = False) -> Frame | None:
        raw = bytes(self._buffer)
        overflow = self._overflow
        self._buffer.clear()
        self._overflow = False
        if not raw and not overflow:
            return None  # an empty line: nothing was scanned
        text = raw.decode("latin-1")
        if overflow:
            return Frame(text, raw, f"frame longer than {self.max_length} bytes (noise?)")
        if missing_start:
            return Frame(text, raw, "frame without its start (STX): cut off or noise")
        problem = _printable(raw)
        if problem is not None:
            return Frame(text, raw, problem)
        if self.prefix:
            if not raw.startswith(self.prefix):
                return Frame(text, raw, f"frame does not start with prefix {self.prefix!r}")
            raw = raw[len(self.prefix) :]
        if self.suffix:
            if not raw.endswith(self.suffix):
                return Frame(text, raw, f"frame does not end with suffix {self.suffix!r}")
            raw = raw[: -len(self.suffix)]
        return Frame(raw.decode("ascii"), raw)

    def _feed_lines(self, data: bytes) -> list[Frame]:
        frames: list[Frame] = []

        def done() -> None:
            frame = self._finish()
            if frame is not None:
                frames.append(frame)

        for b in data:
            if self.framing == Framing.CR:
                if b == CR:
                    done()
                else:
                    self._grow(b)
            elif self.framing == Framing.LF:
                if b == LF:
                    done()
                else:
                    self._grow(b)
            elif self.framing == Framing.CRLF:
                if self._pending_cr:
                    self._pending_cr = False
                    if b == LF:
                        done()
                        continue
                    self._grow(CR)
                if b == CR:
                    self._pending_cr = True
                else:
                    self._grow(b)
            else:  # EOL: CR, LF or CRLF
                if b == LF and self._pending_cr:
                    self._pending_cr = False
                    continue
                self._pending_cr = b == CR
                if b in (CR, LF):
                    done()
                else:
                    self._grow(b)
        return frames

    def _feed_stx(self, data: bytes) -> list[Frame]:
        frames: list[Frame] = []
        for b in data:
            if b == STX:
                if self._buffer or self._overflow:
                    raw = bytes(self._buffer)
                    self._buffer.clear()
                    self._overflow = False
                    problem = (
                        "frame cut off: a new STX came first"
                        if self._in_frame
                        else "bytes outside any frame"
                    )
                    frames.append(Frame(raw.decode("latin-1"), raw, problem))
                self._in_frame = True
            elif b == ETX:
                frame = self._finish(missing_start=not self._in_frame)
                self._in_frame = False
                if frame is not None:
                    frames.append(frame)
            elif self._in_frame:
                self._grow(b)
            elif b not in (CR, LF):
                self._grow(b)  # bytes outside a frame: reported when ETX or STX comes
                if len(self._buffer) >= self.max_length:
                    raw = bytes(self._buffer)
                    self._buffer.clear()
                    frames.append(Frame(raw.decode("latin-1"), raw, "bytes outside any frame"))
        return frames
