"""Turn a label into the bytes of one ESC/POS print job.

Two routes. ``raster``: the rendered 1-bit label as ``GS v 0`` bands, so what prints is exactly
what ``layouts.render`` drew. ``native``: the printer's own fonts (Chinese in GB18030 after
``FS &``), its ``GS k`` Code 128 (code set B, ``{B``) and its ``GS ( k`` QR code: smaller jobs
and sharper text, at the mercy of the printer's firmware.

The bytes are composed here rather than through python-escpos's builders: its 58 mm profiles
declare no hardware barcodes, its builders print to stdout, and it has no Chinese text mode.
python-escpos carries the finished bytes to the device (see printers.py).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

import numpy as np
from PIL import Image

from labels.layouts import Label, LabelDoc, LabelError, Language, Media, compose, render
from labels.symbols import CODE128_QUIET_MODULES, BoolArray

__all__ = [
    "ASCII_DOTS",
    "BAND_ROWS",
    "WIDE_DOTS",
    "Route",
    "columns_of",
    "label_job",
    "native_code128",
    "native_code128_modules",
    "native_job",
    "raster_bands",
    "raster_job",
]

ESC: Final = b"\x1b"
GS: Final = b"\x1d"
FS: Final = b"\x1c"
LF: Final = b"\n"
INIT: Final = ESC + b"@"
KANJI_ON: Final = FS + b"&"
KANJI_OFF: Final = FS + b"."
PARTIAL_CUT_AFTER_FEED: Final = GS + b"V" + bytes((66, 0))

# Font A on 203 dpi printers: ASCII cells are 12 x 24 dots, GB18030 (Kanji mode) cells 24 x 24.
ASCII_DOTS: Final = 12
WIDE_DOTS: Final = 24
# Small bands keep each GS v 0 within the receive buffer of cheap 58 mm printers.
BAND_ROWS: Final = 240
_FEED_LINES: Final = 4
_BAR_HEIGHT_DOTS: Final = 80
_QR_MODULE_DOTS: Final = 5


class Route(StrEnum):
    """How a label reaches the paper."""

    RASTER = "raster"
    NATIVE = "native"


def _u16(value: int) -> bytes:
    return bytes((value & 0xFF, value >> 8))


def raster_bands(image: Image.Image, band_rows: int = BAND_ROWS) -> bytes:
    """Return ``GS v 0`` commands that print ``image`` (1-bit, black = 0) top to bottom."""
    black: BoolArray = np.asarray(image.convert("L")) < 128
    height, width = black.shape
    width_bytes = (width + 7) // 8
    padded = np.zeros((height, width_bytes * 8), dtype=bool)
    padded[:, :width] = black
    packed = np.packbits(padded, axis=1)  # MSB first: the leftmost dot is bit 7
    out = bytearray()
    for top in range(0, height, band_rows):
        band = packed[top : top + band_rows]
        out += GS + b"v0\x00" + _u16(width_bytes) + _u16(band.shape[0]) + band.tobytes()
    return bytes(out)


def raster_job(image: Image.Image) -> bytes:
    """Return a whole job printing ``image`` at the left edge, then feeding and cutting."""
    return (
        INIT
        + ESC
        + b"a\x00"
        + raster_bands(image)
        + ESC
        + b"d"
        + bytes((_FEED_LINES,))
        + PARTIAL_CUT_AFTER_FEED
    )


def columns_of(text: str) -> int:
    """Return how many font-A columns ``text`` takes: two for each GB18030 (non-ASCII) character."""
    return sum(1 if ord(c) < 128 else 2 for c in text)


def _wrap_columns(text: str, columns: int) -> list[str]:
    lines: list[str] = []
    current = ""
    for char in text:
        if current and columns_of(current + char) > columns:
            cut = current.rfind(" ")
            if cut > 0 and char != " " and current.isascii():
                lines.append(current[:cut])
                current = current[cut + 1 :] + char
            else:
                lines.append(current.rstrip())
                current = char.lstrip()
        else:
            current += char
    if current or not lines:
        lines.append(current)
    return lines


def native_code128(data: str) -> bytes:
    """Return ``GS k`` data for Code 128 in code set B: ``{B`` then the text, ``{`` doubled."""
    if not data or any(not 32 <= ord(c) <= 126 for c in data):
        raise LabelError(f"{data!r} cannot be printed as a native Code 128 (code set B)")
    return b"{B" + data.replace("{", "{{").encode("ascii")


def native_code128_modules(data: str) -> int:
    """Return the width in modules of ``data`` in code set B: start, data, check and stop."""
    return 11 * (len(data) + 2) + 13


def _text(line: str) -> bytes:
    return line.encode("gb18030") + LF


def native_job(doc: LabelDoc, media: Media, *, qr: bool = False) -> bytes:
    """Return a job printing ``doc`` with the printer's fonts, barcode and QR commands."""
    columns = media.width_dots // ASCII_DOTS
    modules = native_code128_modules(doc.code) + 2 * CODE128_QUIET_MODULES
    module_dots = min(6, media.width_dots // modules)
    if module_dots < 2:
        raise LabelError(
            f"{doc.code!r} is too long for a native barcode on {media.name} paper; "
            "use the raster route"
        )
    everything = [doc.title, *(f.caption + f.value for f in doc.fields), *doc.heading]
    everything += [cell for row in doc.table for cell in row]
    wide = not all(text.isascii() for text in everything)

    out = bytearray(INIT)
    out += KANJI_ON if wide else KANJI_OFF
    out += ESC + b"a\x01" + ESC + b"E\x01" + GS + b"!\x11"
    for line in _wrap_columns(doc.title, columns // 2):
        out += _text(line)
    out += GS + b"!\x00" + ESC + b"E\x00" + ESC + b"a\x00"
    out += _text("-" * columns)
    caption_columns = max(columns_of(f.caption) for f in doc.fields) + 2
    if caption_columns > columns // 2:
        caption_columns = 0
    for item in doc.fields:
        if caption_columns:
            caption = item.caption + " " * (caption_columns - columns_of(item.caption))
            value_lines = _wrap_columns(item.value, columns - caption_columns)
            out += ESC + b"E\x01" + caption.encode("gb18030") + ESC + b"E\x00"
            out += _text(value_lines[0])
            for line in value_lines[1:]:
                out += _text(" " * caption_columns + line)
        else:
            out += ESC + b"E\x01" + _text(item.caption) + ESC + b"E\x00"
            for line in _wrap_columns(item.value, columns - 2):
                out += _text("  " + line)
    out += ESC + b"J" + bytes((12,)) + ESC + b"a\x01"
    code = native_code128(doc.code)
    out += GS + b"h" + bytes((_BAR_HEIGHT_DOTS,)) + GS + b"w" + bytes((module_dots,))
    out += GS + b"H\x02" + GS + b"f\x00"
    out += GS + b"k" + bytes((73, len(code))) + code
    out += LF
    if qr:
        data = doc.code.encode("utf-8")
        out += GS + b"(k" + _u16(4) + b"1A2\x00"  # model 2
        out += GS + b"(k" + _u16(3) + b"1C" + bytes((_QR_MODULE_DOTS,))
        out += GS + b"(k" + _u16(3) + b"1E1"  # error correction M
        out += GS + b"(k" + _u16(len(data) + 3) + b"1P0" + data
        out += GS + b"(k" + _u16(3) + b"1Q0"
        out += LF
    out += ESC + b"a\x00"
    if doc.table or doc.heading:
        out += _text("-" * columns)
        for index, row in enumerate((doc.heading, *doc.table)):
            number, ident, name = row
            prefix = number + " " * max(1, 4 - columns_of(number)) + ident
            prefix += " " * max(1, 17 - columns_of(prefix))
            names = _wrap_columns(name, max(8, columns - columns_of(prefix)))
            if index == 0:
                out += ESC + b"E\x01"
            out += _text(prefix + names[0])
            for line in names[1:]:
                out += _text(" " * columns_of(prefix) + line)
            if index == 0:
                out += ESC + b"E\x00"
    out += ESC + b"d" + bytes((_FEED_LINES,)) + PARTIAL_CUT_AFTER_FEED
    return bytes(out)


def label_job(
    label: Label,
    media: Media,
    language: Language = Language.ZH,
    *,
    route: Route = Route.RASTER,
    qr: bool = False,
) -> bytes:
    """Return the ESC/POS job that prints ``label`` on ``media`` by ``route``."""
    if media.height_dots is not None:
        raise LabelError(f"{media.name} is a sheet format; ESC/POS jobs are for roll printers")
    if route == Route.NATIVE:
        return native_job(compose(label, language), media, qr=qr)
    return raster_job(render(label, media, language, qr=qr))
