"""Code 128 and QR bitmaps in which every module is a whole number of printer dots.

python-barcode's ImageWriter draws float-width rectangles, which at 203 dpi gives bars of uneven
width that scanners reject; so only its module string is used and the bars are repeated here.
"""

from __future__ import annotations

from typing import Final, Literal

import barcode
import numpy as np
import numpy.typing as npt
import qrcode
import qrcode.constants
from barcode.errors import BarcodeError
from PIL import Image

__all__ = [
    "CODE128_QUIET_MODULES",
    "QR_QUIET_MODULES",
    "BoolArray",
    "ErrorLevel",
    "SymbolError",
    "bits_to_image",
    "code128_bits",
    "code128_image",
    "code128_module_dots",
    "code128_modules",
    "qr_bits",
    "qr_image",
    "qr_matrix",
]

BoolArray = npt.NDArray[np.bool_]
ErrorLevel = Literal["L", "M", "Q", "H"]

CODE128_QUIET_MODULES: Final = 10
QR_QUIET_MODULES: Final = 4
_QR_LEVELS: Final = {
    "L": qrcode.constants.ERROR_CORRECT_L,
    "M": qrcode.constants.ERROR_CORRECT_M,
    "Q": qrcode.constants.ERROR_CORRECT_Q,
    "H": qrcode.constants.ERROR_CORRECT_H,
}


class SymbolError(ValueError):
    """Data that cannot be drawn as the requested symbol, or a symbol that does not fit."""

    code = "symbol_error"


def code128_modules(data: str) -> str:
    """Return the Code 128 module string ('1' = bar) with start, check and stop, no quiet zone."""
    if not data:
        raise SymbolError("a barcode needs at least one character")
    try:
        built = barcode.get_barcode_class("code128")(data).build()
    except (BarcodeError, KeyError, RuntimeError) as error:
        raise SymbolError(f"{data!r} cannot be encoded as Code 128: {error}") from None
    modules = str(built[0])
    if set(modules) - {"0", "1"}:
        raise SymbolError(f"{data!r} cannot be encoded as Code 128")
    return modules


def code128_module_dots(
    data: str, width_dots: int, *, max_dots: int = 4, quiet_modules: int = CODE128_QUIET_MODULES
) -> int:
    """Return the widest whole-dot module (up to ``max_dots``) at which ``data`` fits the width."""
    total = len(code128_modules(data)) + 2 * quiet_modules
    dots = min(max_dots, width_dots // total)
    if dots < 1:
        raise SymbolError(
            f"the barcode for {data!r} needs {total} dots at one dot per module, "
            f"but only {width_dots} are available"
        )
    return dots


def code128_bits(
    data: str, module_dots: int, height_dots: int, *, quiet_modules: int = CODE128_QUIET_MODULES
) -> BoolArray:
    """Return the symbol as a (height, width) array, True = black, with quiet zones included."""
    if module_dots < 1 or height_dots < 1:
        raise SymbolError("module width and bar height must be at least one dot")
    modules = np.frombuffer(code128_modules(data).encode("ascii"), dtype=np.uint8) == ord("1")
    quiet = np.zeros(quiet_modules, dtype=bool)
    row = np.repeat(np.concatenate([quiet, modules, quiet]), module_dots)
    return np.repeat(row[np.newaxis, :], height_dots, axis=0)


def qr_matrix(data: str, level: ErrorLevel = "M") -> BoolArray:
    """Return the QR modules (True = dark), no quiet zone, in the smallest version that fits."""
    if not data:
        raise SymbolError("a QR code needs at least one character")
    code = qrcode.QRCode(version=None, error_correction=_QR_LEVELS[level], border=0)
    code.add_data(data.encode("utf-8"))
    try:
        code.make(fit=True)
    except (ValueError, qrcode.exceptions.DataOverflowError) as error:
        raise SymbolError(f"QR data does not fit: {error}") from None
    return np.array(code.get_matrix(), dtype=bool)


def qr_bits(
    data: str, module_dots: int, *, level: ErrorLevel = "M", quiet_modules: int = QR_QUIET_MODULES
) -> BoolArray:
    """Return the QR symbol as an array of whole-dot modules, True = black, quiet zone included."""
    if module_dots < 1:
        raise SymbolError("a QR module must be at least one dot")
    matrix = np.pad(qr_matrix(data, level), quiet_modules, constant_values=False)
    return np.repeat(np.repeat(matrix, module_dots, axis=0), module_dots, axis=1)


def bits_to_image(bits: BoolArray) -> Image.Image:
    """Return a 1-bit PIL image of ``bits`` (True = black)."""
    return Image.fromarray(np.logical_not(bits)).convert("1")


def code128_image(data: str, module_dots: int, height_dots: int) -> Image.Image:
    """Return a 1-bit image of the Code 128 symbol for ``data``."""
    return bits_to_image(code128_bits(data, module_dots, height_dots))


def qr_image(data: str, module_dots: int, *, level: ErrorLevel = "M") -> Image.Image:
    """Return a 1-bit image of the QR symbol for ``data``."""
    return bits_to_image(qr_bits(data, module_dots, level=level))
