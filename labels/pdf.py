"""A4 PDFs for office printers: sheets of die-cut labels, and long documents split into pages.

Pages are 1-bit images at 300 dpi written by Pillow, so what prints is exactly what
``layouts.render`` drew, barcode modules included. Print them at 100 % ("actual size").
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
from PIL import Image

from labels.layouts import A4_LABEL, A4_PAGE, Media

__all__ = ["A4_2X5", "SheetFormat", "labels_pdf", "pages_pdf"]

_A4_MM: Final = (210.0, 297.0)


@dataclass(frozen=True, slots=True)
class SheetFormat:
    """A sheet of equal labels in a grid; ``cell`` is the Media each label is rendered for."""

    name: str
    columns: int
    rows: int
    cell: Media
    left_mm: float = 0.0
    top_mm: float = 0.0
    page_mm: tuple[float, float] = _A4_MM

    @property
    def per_page(self) -> int:
        return self.columns * self.rows


# The common A4 sheet of ten 105 × 59.4 mm labels, edge to edge.
A4_2X5: Final = SheetFormat("a4-2x5", columns=2, rows=5, cell=A4_LABEL)


def _page(media: Media) -> tuple[int, int]:
    return round(_A4_MM[0] * media.dpi / 25.4), round(_A4_MM[1] * media.dpi / 25.4)


def _save(pages: Sequence[Image.Image], dpi: int) -> bytes:
    buffer = io.BytesIO()
    pages[0].save(
        buffer, "PDF", resolution=float(dpi), save_all=True, append_images=list(pages[1:])
    )
    return buffer.getvalue()


def labels_pdf(
    images: Sequence[Image.Image], sheet: SheetFormat = A4_2X5, *, skip: int = 0
) -> bytes:
    """Place label images (rendered for ``sheet.cell``) on as many sheets as needed.

    ``skip`` leaves that many cells empty at the start, to use up a partly used sheet.
    """
    if not images:
        raise ValueError("no labels to place")
    if not 0 <= skip < sheet.per_page:
        raise ValueError(f"skip must be 0-{sheet.per_page - 1} cells")
    cell = sheet.cell
    if cell.height_dots is None:
        raise ValueError(f"{cell.name} has no fixed height; it is not a sheet label")
    for index, image in enumerate(images):
        if image.size != (cell.width_dots, cell.height_dots):
            raise ValueError(
                f"label {index + 1} is {image.size[0]}x{image.size[1]} dots; "
                f"{sheet.name} cells are {cell.width_dots}x{cell.height_dots}"
            )
    page_size = (
        round(sheet.page_mm[0] * cell.dpi / 25.4),
        round(sheet.page_mm[1] * cell.dpi / 25.4),
    )
    left, top = round(sheet.left_mm * cell.dpi / 25.4), round(sheet.top_mm * cell.dpi / 25.4)
    pages: list[Image.Image] = []
    for slot, image in enumerate(images, start=skip):
        position = slot % sheet.per_page
        if position == 0 or not pages:
            pages.append(Image.new("1", page_size, 1))
        column, row = position % sheet.columns, position // sheet.columns
        pages[-1].paste(
            image.convert("1"), (left + column * cell.width_dots, top + row * cell.height_dots)
        )
    return _save(pages, cell.dpi)


def pages_pdf(image: Image.Image, media: Media = A4_PAGE) -> bytes:
    """Split a long document (rendered for ``media``) into A4 pages, cutting between lines."""
    width, height = _page(media)
    if image.width != width:
        raise ValueError(f"the document is {image.width} dots wide; an A4 page is {width}")
    ink = np.asarray(image.convert("L")) < 128
    blank_rows: npt.NDArray[np.bool_] = np.logical_not(ink.any(axis=1))
    pages: list[Image.Image] = []
    top = 0
    while top < image.height:
        # The document carries its own top margin; later pages get the page margin instead.
        offset = 0 if not pages else media.margin_dots
        usable = height - media.margin_dots - offset
        bottom = min(top + usable, image.height)
        if bottom < image.height:
            # Cut at the lowest blank row in the page's last third, so no text line is split.
            start = top + usable * 2 // 3
            blank = np.flatnonzero(blank_rows[start:bottom])
            if blank.size:
                bottom = start + int(blank[-1]) + 1
        page = Image.new("1", (width, height), 1)
        page.paste(image.crop((0, top, width, bottom)), (0, offset))
        pages.append(page)
        top = bottom
    return _save(pages, media.dpi)
