"""ESC/POS job bytes and the interpreter that turns them back into images."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from labels.escpos_jobs import (
    BAND_ROWS,
    Route,
    columns_of,
    label_job,
    native_code128,
    raster_bands,
    raster_job,
)
from labels.escpos_render import EscposError, TruncatedJob, UnknownCommand, interpret, render
from labels.layouts import A4_LABEL, RECEIPT_58, RECEIPT_80, LabelError, Language
from labels.layouts import render as draw
from labels.symbols import SymbolError, code128_bits, code128_modules, qr_bits
from tests.labels.label_support import label_id, sample_labels, zbar_texts

LABELS = sample_labels()


def test_raster_route_reproduces_the_rendered_label_dot_for_dot() -> None:
    image = draw(LABELS["pack"], RECEIPT_58, Language.ZH, qr=True)
    job = raster_job(image)
    assert job.count(b"\x1dv0\x00") == -(-image.height // BAND_ROWS)
    printed = render(job, RECEIPT_58.width_dots)
    rows = np.asarray(printed.convert("L"))[: image.height]
    assert np.array_equal(rows, np.asarray(image.convert("L")))


def test_raster_bands_pad_odd_widths_to_whole_bytes() -> None:
    bits = np.zeros((3, 10), dtype=bool)
    bits[:, 0] = bits[:, 9] = True
    image = Image.fromarray(~bits).convert("1")
    data = raster_bands(image)
    assert data[:8] == b"\x1dv0\x00\x02\x00\x03\x00"
    assert data[8:10] == bytes((0b10000000, 0b01000000))
    assert np.array_equal(np.asarray(render(data, 16).convert("L"))[:, :10] < 128, bits)


def test_native_code128_uses_code_set_b() -> None:
    assert native_code128("PK4JWTR283Q") == b"{BPK4JWTR283Q"
    assert native_code128("a{b") == b"{Ba{{b"
    with pytest.raises(LabelError):
        native_code128("包")


@pytest.mark.parametrize(
    ("payload", "text"),
    [
        (b"{BPK4JWTR283Q", "PK4JWTR283Q"),
        (b"{A" + b"AB12", "AB12"),
        (b"{C" + bytes((12, 34, 56)), "123456"),
        (b"{BBX{C" + bytes((1, 23)) + b"{BQ", "BX0123Q"),
        (b"{Ba{{b", "a{b"),
    ],
)
def test_interpreter_draws_native_code128_as_a_printer_would(payload: bytes, text: str) -> None:
    job = b"\x1b@\x1dh\x50\x1dw\x02\x1dH\x00\x1dk\x49" + bytes((len(payload),)) + payload
    printout = interpret(job, 576)
    assert printout.barcodes == [text]
    assert zbar_texts(printout.image) == [text]


def test_set_c_digits_must_be_binary_pairs() -> None:
    # "{C" followed by ASCII digits is a classic mistake: the printer reads 0x31 as value 49.
    printout = interpret(b"\x1dk\x49\x06{C1234", 576)
    assert printout.barcodes == ["49505152"]


def test_interpreter_renders_gb18030_text_in_kanji_mode() -> None:
    plain = render(b"\x1b@\x1c&" + "无菌".encode("gb18030") + b"\n", 384)
    ink = np.asarray(plain.convert("L")) < 128
    assert ink.any()
    # Two 24-dot GB18030 cells; ASCII would take 12 dots a character.
    assert np.flatnonzero(ink.any(axis=0)).max() < 48
    four_byte = "\U00020000".encode("gb18030")
    assert len(four_byte) == 4
    render(b"\x1c&" + four_byte + b"\n", 384)


def test_interpreter_wraps_long_lines_and_honours_alignment_and_size() -> None:
    text = b"X" * 40
    image = render(b"\x1b@" + text + b"\n", 384)
    assert image.height >= 2 * 24  # 40 cells of 12 dots do not fit on one 384-dot line
    centred = np.asarray(render(b"\x1ba\x01\x1d!\x11AB\n", 384).convert("L")) < 128
    columns = np.flatnonzero(centred.any(axis=0))
    assert abs((columns.min() + columns.max()) / 2 - 192) < 12
    assert centred.any(axis=1).sum() > 24  # double height


def test_native_qr_is_drawn_with_its_module_size() -> None:
    job = label_job(LABELS["badge"], RECEIPT_80, route=Route.NATIVE, qr=True)
    printout = interpret(job, RECEIPT_80.width_dots)
    assert printout.qr_codes == [label_id(LABELS["badge"])]
    side = qr_bits(label_id(LABELS["badge"]), 5, quiet_modules=0).shape[0]
    assert side % 5 == 0


@pytest.mark.parametrize(
    ("job", "message"),
    [
        (b"\x1b@\x1b\x99", "ESC 0x99 is not supported"),
        (b"\x1d\x99", "GS 0x99 is not supported"),
        (b"\x07", "control byte 0x07"),
        (b"\x1dk\x04ABC\x00", "barcode type 4 is not supported"),
        (b"\x1d(k\x03\x000\x41\x00", "only supported for QR code"),
        (b"\x1d(k\x03\x001\x52\x00", "QR function 82 is not supported"),
        (b"\x1ba\x07", "ESC a 7 is not an alignment"),
        (b"\x10\x05\x01", "DLE 0x05 is not supported"),
    ],
)
def test_unknown_commands_raise(job: bytes, message: str) -> None:
    with pytest.raises(UnknownCommand, match=message) as raised:
        interpret(job)
    assert raised.value.code == "escpos_unknown_command"


def test_truncated_jobs_raise() -> None:
    job = raster_job(draw(LABELS["set"], RECEIPT_58))
    with pytest.raises(TruncatedJob, match="job ends inside a command"):
        interpret(job[:100], RECEIPT_58.width_dots)


def test_images_wider_than_the_paper_are_refused() -> None:
    job = raster_job(draw(LABELS["set"], RECEIPT_80))
    with pytest.raises(EscposError, match="576 dots wide, but the paper has 384"):
        interpret(job, RECEIPT_58.width_dots)


def test_sheet_media_are_not_escpos_jobs() -> None:
    with pytest.raises(LabelError, match="sheet format"):
        label_job(LABELS["set"], A4_LABEL)


def test_columns_count_gb18030_characters_double() -> None:
    assert columns_of("PK12") == 4
    assert columns_of("包号12") == 6


def test_code128_symbol_rules() -> None:
    modules = code128_modules("PK4JWTR283Q")
    assert modules.startswith("11010") and modules.endswith("1100011101011")
    bits = code128_bits("PK4JWTR283Q", 3, 10)
    assert bits.shape == (10, (len(modules) + 20) * 3)
    for bad in ("", "包号"):
        with pytest.raises(SymbolError):
            code128_modules(bad)
