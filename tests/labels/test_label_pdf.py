"""A4 PDFs: sheets of labels and long load sheets split into pages."""

from __future__ import annotations

from datetime import datetime

import pytest
from PIL import PdfParser

from labels.identity import Kind, make_id
from labels.layouts import A4_LABEL, A4_PAGE, RECEIPT_80, LoadItem, LoadSheet, render
from labels.pdf import A4_2X5, labels_pdf, pages_pdf
from tests.labels.label_support import CHINA, sample_labels

LABELS = sample_labels()
A4_POINTS = (595.2, 841.92)  # 210 x 297 mm at 72 points per inch


def _pages(pdf: bytes) -> list[tuple[float, float]]:
    parsed = PdfParser.PdfParser(buf=pdf)
    sizes = []
    for page in parsed.pages:
        box = parsed.read_indirect(page)[b"MediaBox"]
        sizes.append((round(float(box[2]), 2), round(float(box[3]), 2)))
    return sizes


def test_labels_fill_sheets_of_ten_after_skipped_cells() -> None:
    images = [render(LABELS[k], A4_LABEL) for k in ("pack", "box", "set", "badge")] * 3
    pdf = labels_pdf(images, skip=3)
    assert pdf.startswith(b"%PDF")
    assert _pages(pdf) == [A4_POINTS, A4_POINTS]  # 3 skipped + 12 labels = 15 cells
    assert len(_pages(labels_pdf(images[:7], A4_2X5, skip=3))) == 1


def test_sheet_labels_must_be_rendered_for_the_cell() -> None:
    with pytest.raises(ValueError, match="cells are 1240x701"):
        labels_pdf([render(LABELS["set"], RECEIPT_80)])
    with pytest.raises(ValueError, match="no labels"):
        labels_pdf([])
    with pytest.raises(ValueError, match="skip must be 0-9"):
        labels_pdf([render(LABELS["set"], A4_LABEL)], skip=10)


def test_long_load_sheet_is_split_into_pages() -> None:
    packs = tuple(LoadItem(make_id(Kind.PACK, f"{n:08d}"), f"换药包 {n}") for n in range(150))
    sheet = LoadSheet(
        make_id(Kind.CYCLE, "7JZ3XA00"), "1号灭菌器", "134 °C", datetime.now(CHINA), "李强", packs
    )
    image = render(sheet, A4_PAGE)
    pdf = pages_pdf(image)
    pages = _pages(pdf)
    assert len(pages) >= 2 and set(pages) == {A4_POINTS}
    with pytest.raises(ValueError, match="an A4 page is 2480"):
        pages_pdf(render(sheet, RECEIPT_80))
