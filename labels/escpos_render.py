"""An ESC/POS interpreter: the bytes of a print job back to the image a printer would make.

It knows the commands Handoff's jobs use and the common text-formatting ones; anything else
raises UnknownCommand, so a test notices when the output grows a command nobody checked.
Text is drawn in font A cells (12 x 24 dots, 24 x 24 for GB18030 characters in Kanji mode);
``GS k`` Code 128 and ``GS ( k`` QR are drawn with whole-dot modules as a printer would.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Final

import numpy as np
from barcode.charsets import code128 as charset
from PIL import Image, ImageDraw

from labels.escpos_jobs import ASCII_DOTS, WIDE_DOTS
from labels.fonts import GlyphMissing, drawable, font
from labels.symbols import BoolArray, ErrorLevel, qr_bits

__all__ = ["EscposError", "Printout", "TruncatedJob", "UnknownCommand", "interpret", "render"]

_DEFAULT_LINE_SPACING: Final = 30
_HRI_GAP: Final = 4
_QR_LEVELS: Final[tuple[ErrorLevel, ...]] = ("L", "M", "Q", "H")


class EscposError(ValueError):
    """A job the interpreter cannot turn into an image."""

    code = "escpos_error"

    def __init__(self, offset: int, message: str) -> None:
        super().__init__(f"byte {offset}: {message}")
        self.offset = offset


class UnknownCommand(EscposError):
    """A command or control byte this interpreter does not implement."""

    code = "escpos_unknown_command"


class TruncatedJob(EscposError):
    """The job ends in the middle of a command."""

    code = "escpos_truncated"


@dataclass
class _State:
    align: int = 0
    bold: bool = False
    width_mul: int = 1
    height_mul: int = 1
    kanji: bool = False
    line_spacing: int = _DEFAULT_LINE_SPACING
    bar_height: int = 162
    bar_module: int = 3
    hri: int = 0
    qr_module: int = 3
    qr_level: ErrorLevel = "L"
    qr_data: bytes = b""


@dataclass
class Printout:
    """What a job printed: the image, the native symbols' data and how many cuts it made."""

    image: Image.Image
    barcodes: list[str] = field(default_factory=list)
    qr_codes: list[str] = field(default_factory=list)
    cuts: int = 0
    beeps: int = 0


@lru_cache(maxsize=4096)
def _glyph(char: str, wide: bool) -> BoolArray:
    """Return the cell for ``char``; a printer's font stands in as closely as the label font can."""
    width = WIDE_DOTS if wide else ASCII_DOTS
    try:
        shown = drawable(char)
    except GlyphMissing:
        box = np.zeros((24, width), dtype=bool)
        box[3:21, 2 : width - 2] = True
        box[5:19, 4 : width - 4] = False
        return box
    scratch = Image.new("L", (width * 3, 24), 0)
    draw = ImageDraw.Draw(scratch)
    draw.fontmode = "1"
    draw.text((0, 1), shown, font=font(22 if wide else 20), fill=255)
    right = scratch.getbbox()
    ink = scratch.crop((0, 0, max(right[2] if right else 1, 1), 24))
    if ink.width > width:  # squeeze wide Latin letters (m, W) into the fixed font-A cell
        ink = ink.resize((width, 24), Image.Resampling.BOX)
    cell = np.zeros((24, width), dtype=bool)
    cell[:, : ink.width] = np.asarray(ink) >= 128
    return cell


def _code128_modules(payload: str, offset: int) -> str:
    """Encode ESC/POS ``GS k`` CODE128 data (``{A``/``{B``/``{C`` set switches) to modules."""
    if len(payload) < 2 or payload[0] != "{" or payload[1] not in "ABC":
        raise EscposError(offset, "CODE128 data must start with {A, {B or {C")
    values: list[int] = []
    tables = {"A": charset.A, "B": charset.B}
    current = payload[1]
    values.append(charset.START_CODES[current])
    i = 2
    while i < len(payload):
        char = payload[i]
        if char == "{":
            if i + 1 >= len(payload):
                raise EscposError(offset, "CODE128 data ends after '{'")
            code = payload[i + 1]
            i += 2
            if code in "ABC":
                values.append({"A": 101, "B": 100, "C": 99}[code])
                current = code
            elif code == "1":
                values.append(102)
            elif code == "{":
                values.append(tables[current]["{"] if current != "C" else -1)
            else:
                raise EscposError(offset, f"CODE128 escape '{{{code}' is not supported")
            if values[-1] < 0:
                raise EscposError(offset, "'{' cannot be encoded in code set C")
            continue
        if current == "C":
            values.append(ord(char))  # set C takes binary values 0-99, one per byte
            if values[-1] > 99:
                raise EscposError(offset, f"code set C value {values[-1]} is over 99")
        else:
            table = tables[current]
            if char not in table:
                raise EscposError(offset, f"{char!r} is not in CODE128 code set {current}")
            values.append(table[char])
        i += 1
    check = (values[0] + sum(i * v for i, v in enumerate(values[1:], start=1))) % 103
    modules: str = "".join(charset.CODES[v] for v in [*values, check]) + charset.STOP + "11"
    return modules


class _Interpreter:
    def __init__(self, data: bytes, width: int) -> None:
        self.data = data
        self.width = width
        self.pos = 0
        self.rows: list[BoolArray] = []
        self.line: list[tuple[BoolArray, int]] = []  # glyph bitmaps and their height
        self.line_width = 0
        self.state = _State()
        self.out = Printout(Image.new("1", (width, 1), 1))

    # -- reading ------------------------------------------------------------------------------
    def take(self, count: int) -> bytes:
        if self.pos + count > len(self.data):
            raise TruncatedJob(self.pos, f"job ends inside a command (needs {count} more bytes)")
        chunk = self.data[self.pos : self.pos + count]
        self.pos += count
        return chunk

    def byte(self) -> int:
        return self.take(1)[0]

    # -- output -------------------------------------------------------------------------------
    def emit(self, block: BoolArray) -> None:
        """Print ``block`` (height x any width <= paper) at the current alignment."""
        height, width = block.shape
        if width > self.width:
            raise EscposError(self.pos, f"{width} dots wide, but the paper has {self.width}")
        left = {0: 0, 1: (self.width - width) // 2, 2: self.width - width}[self.state.align]
        rows = np.zeros((height, self.width), dtype=bool)
        rows[:, left : left + width] = block
        self.rows.append(rows)

    def feed(self, dots: int) -> None:
        if dots > 0:
            self.rows.append(np.zeros((dots, self.width), dtype=bool))

    def flush_line(self, *, feed: bool) -> None:
        if not self.line:
            if feed:
                self.feed(self.state.line_spacing)
            return
        height = max(h for _, h in self.line)
        block = np.zeros((height, self.line_width), dtype=bool)
        x = 0
        for glyph, h in self.line:
            block[height - h :, x : x + glyph.shape[1]] = glyph
            x += glyph.shape[1]
        self.emit(block)
        self.feed(max(0, self.state.line_spacing - height))
        self.line, self.line_width = [], 0

    def put_char(self, char: str, wide: bool) -> None:
        glyph = _glyph(char, wide)
        if self.state.bold:
            glyph = glyph | np.pad(glyph[:, :-1], ((0, 0), (1, 0)))
        glyph = np.repeat(np.repeat(glyph, self.state.height_mul, 0), self.state.width_mul, 1)
        if self.line_width + glyph.shape[1] > self.width:
            self.flush_line(feed=False)
        self.line.append((glyph, glyph.shape[0]))
        self.line_width += glyph.shape[1]

    # -- commands -----------------------------------------------------------------------------
    def run(self) -> Printout:
        while self.pos < len(self.data):
            start = self.pos
            b = self.byte()
            if b == 0x0A:
                self.flush_line(feed=True)
            elif b == 0x0D:
                continue
            elif b == 0x1B:
                self.esc(start)
            elif b == 0x1D:
                self.gs(start)
            elif b == 0x1C:
                self.fs(start)
            elif b == 0x10:
                self.dle(start)
            elif b < 0x20 or b == 0x7F:
                raise UnknownCommand(start, f"control byte 0x{b:02X} is not supported")
            else:
                self.text_byte(b, start)
        self.flush_line(feed=False)
        image = np.vstack(self.rows) if self.rows else np.zeros((1, self.width), dtype=bool)
        self.out.image = Image.fromarray(np.logical_not(image)).convert("1")
        return self.out

    def text_byte(self, b: int, start: int) -> None:
        if b < 0x80:
            self.put_char(chr(b), wide=False)
            return
        if not self.state.kanji:
            self.put_char(bytes((b,)).decode("cp437"), wide=False)
            return
        second = self.byte()
        raw = bytes((b, second))
        if 0x30 <= second <= 0x39:
            raw += self.take(2)
        try:
            char = raw.decode("gb18030")
        except UnicodeDecodeError:
            raise EscposError(start, f"bytes {raw.hex(' ')} are not GB18030") from None
        self.put_char(char, wide=True)

    def esc(self, start: int) -> None:
        c = self.byte()
        s = self.state
        if c == ord("@"):
            self.flush_line(feed=False)
            self.state = _State()
        elif c == ord("!"):
            n = self.byte()
            s.bold = bool(n & 0x08)
            s.height_mul = 2 if n & 0x10 else 1
            s.width_mul = 2 if n & 0x20 else 1
        elif c == ord("E"):
            s.bold = bool(self.byte() & 1)
        elif c == ord("a"):
            n = self.byte()
            s.align = n - 48 if n >= 48 else n
            if s.align not in (0, 1, 2):
                raise UnknownCommand(start, f"ESC a {n} is not an alignment")
        elif c == ord("d"):
            self.flush_line(feed=False)
            self.feed(s.line_spacing * self.byte())
        elif c == ord("J"):
            self.flush_line(feed=False)
            self.feed(self.byte())
        elif c == ord("B"):
            self.out.beeps += self.byte()  # buzzer: n beeps of t x 50 ms (Xprinter, TM-U220)
            self.byte()
        elif c == ord("2"):
            s.line_spacing = _DEFAULT_LINE_SPACING
        elif c == ord("3"):
            s.line_spacing = self.byte()
        elif c in (ord("t"), ord("M"), ord("-"), ord("G"), ord("V"), ord("{")):
            self.byte()  # code table, font, underline, double-strike, rotation, upside-down
        else:
            raise UnknownCommand(start, f"ESC 0x{c:02X} is not supported")

    def fs(self, start: int) -> None:
        c = self.byte()
        if c == ord("&"):
            self.state.kanji = True
        elif c == ord("."):
            self.state.kanji = False
        elif c in (ord("!"), ord("C"), ord("-")):
            self.byte()  # Kanji print mode, code system, underline
        else:
            raise UnknownCommand(start, f"FS 0x{c:02X} is not supported")

    def dle(self, start: int) -> None:
        c = self.byte()
        if c == 0x04:
            self.byte()  # real-time status request: it prints nothing
        else:
            raise UnknownCommand(start, f"DLE 0x{c:02X} is not supported")

    def gs(self, start: int) -> None:
        c = self.byte()
        s = self.state
        if c == ord("!"):
            n = self.byte()
            s.width_mul, s.height_mul = (n >> 4) + 1, (n & 0x0F) + 1
            if s.width_mul > 8 or s.height_mul > 8:
                raise UnknownCommand(start, f"GS ! 0x{n:02X} is not a character size")
        elif c == ord("h"):
            s.bar_height = self.byte()
        elif c == ord("w"):
            s.bar_module = self.byte()
        elif c == ord("H"):
            n = self.byte()
            s.hri = n - 48 if n >= 48 else n
        elif c in (ord("f"), ord("B"), ord("L"), ord("W")):
            self.take(2 if c in (ord("L"), ord("W")) else 1)  # HRI font, reverse, margins
        elif c == ord("V"):
            self.flush_line(feed=False)
            if self.byte() in (65, 66, 97, 98, 103, 104):
                self.take(1)
            self.out.cuts += 1
        elif c == ord("k"):
            self.barcode(start)
        elif c == ord("(") and self.data[self.pos : self.pos + 1] == b"k":
            self.pos += 1
            self.qr(start)
        elif c == ord("v") and self.data[self.pos : self.pos + 1] == b"0":
            self.pos += 1
            self.raster(start)
        else:
            raise UnknownCommand(start, f"GS 0x{c:02X} is not supported")

    def raster(self, start: int) -> None:
        mode = self.byte()
        if mode not in (0, 1, 2, 3, 48, 49, 50, 51):
            raise UnknownCommand(start, f"GS v 0 mode {mode} is not supported")
        width_bytes = int.from_bytes(self.take(2), "little")
        height = int.from_bytes(self.take(2), "little")
        packed = np.frombuffer(self.take(width_bytes * height), dtype=np.uint8)
        bits = np.unpackbits(packed.reshape(height, width_bytes), axis=1).astype(bool)
        if mode & 1:
            bits = np.repeat(bits, 2, axis=1)
        if mode & 2:
            bits = np.repeat(bits, 2, axis=0)
        self.flush_line(feed=False)
        self.emit(bits)

    def barcode(self, start: int) -> None:
        kind = self.byte()
        if kind != 73:
            raise UnknownCommand(start, f"GS k barcode type {kind} is not supported (only CODE128)")
        payload = self.take(self.byte()).decode("latin-1")
        modules = _code128_modules(payload, start)
        s = self.state
        if not 1 <= s.bar_module <= 6:
            raise EscposError(start, f"GS w {s.bar_module}: module width must be 1-6 dots")
        row = np.repeat(np.frombuffer(modules.encode(), dtype=np.uint8) == ord("1"), s.bar_module)
        self.flush_line(feed=False)
        text = _readable(payload)
        self.out.barcodes.append(text)
        if s.hri in (1, 3):
            self.hri(text)
        self.emit(np.repeat(row[np.newaxis, :], s.bar_height, axis=0))
        if s.hri in (2, 3):
            self.feed(_HRI_GAP)
            self.hri(text)

    def hri(self, text: str) -> None:
        glyphs = [_glyph(c, False) for c in text]
        self.emit(np.hstack(glyphs) if glyphs else np.zeros((24, 1), dtype=bool))

    def qr(self, start: int) -> None:
        length = int.from_bytes(self.take(2), "little")
        body = self.take(length)
        if length < 2 or body[0] != ord("1"):
            raise UnknownCommand(start, "GS ( k is only supported for QR code (cn = 49)")
        fn, args = body[1], body[2:]
        s = self.state
        if fn == ord("A"):
            if args[:1] != b"2":
                raise UnknownCommand(start, "only QR model 2 is supported")
        elif fn == ord("C"):
            s.qr_module = args[0]
        elif fn == ord("E"):
            if not 48 <= args[0] <= 51:
                raise UnknownCommand(start, f"QR error correction {args[0]} is not 48-51")
            s.qr_level = _QR_LEVELS[args[0] - 48]
        elif fn == ord("P"):
            s.qr_data = bytes(args[1:])
        elif fn == ord("Q"):
            text = s.qr_data.decode("utf-8")
            self.flush_line(feed=False)
            self.out.qr_codes.append(text)
            self.emit(qr_bits(text, s.qr_module, level=s.qr_level, quiet_modules=0))
        else:
            raise UnknownCommand(start, f"GS ( k QR function {fn} is not supported")


def _readable(payload: str) -> str:
    """Return the characters a scanner reports for ``GS k`` CODE128 data (switches removed)."""
    out: list[str] = []
    current = payload[1]
    i = 2
    while i < len(payload):
        if payload[i] == "{":
            code = payload[i + 1]
            if code in "ABC":
                current = code
            elif code == "{":
                out.append("{")
            i += 2
            continue
        out.append(f"{ord(payload[i]):02d}" if current == "C" else payload[i])
        i += 1
    return "".join(out)


def interpret(data: bytes, width_dots: int = 576) -> Printout:
    """Run a job on a virtual printer ``width_dots`` wide; raise EscposError on what it can't do."""
    return _Interpreter(data, width_dots).run()


def render(data: bytes, width_dots: int = 576) -> Image.Image:
    """Return the 1-bit image a job prints on paper ``width_dots`` wide."""
    return interpret(data, width_dots).image
