"""The one CJK font labels are drawn with: WenQuanYi Micro Hei from Debian's fonts-wqy-microhei.

It covers GB18030's common hanzi and Latin, is ~5 MB installed and stays legible at 203 dpi.
``make run``/``make test`` install the package; ``HANDOFF_LABEL_FONT`` may name another file.
"""

from __future__ import annotations

import os
import unicodedata
from functools import lru_cache
from pathlib import Path
from typing import Final

from PIL import Image, ImageDraw, ImageFont

__all__ = [
    "FONT_ENV",
    "FONT_PACKAGE",
    "FONT_PATH",
    "FontMissing",
    "GlyphMissing",
    "drawable",
    "font",
    "font_path",
    "has_glyph",
]

FONT_PACKAGE: Final = "fonts-wqy-microhei"
FONT_PATH: Final = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
FONT_ENV: Final = "HANDOFF_LABEL_FONT"


class FontMissing(RuntimeError):
    """The label font file is not installed."""

    code = "font_missing"


def font_path() -> Path:
    """Return the font file, or raise FontMissing naming the Debian package to install."""
    override = os.environ.get(FONT_ENV)
    path = Path(override) if override else FONT_PATH
    if not path.is_file():
        if override:
            raise FontMissing(f"{FONT_ENV}={override} is not a font file")
        raise FontMissing(
            f"the label font {FONT_PATH} is missing; install the Debian package {FONT_PACKAGE} "
            f"(sudo apt-get install -y {FONT_PACKAGE}, or run make test / make run as root)"
        )
    return path


class GlyphMissing(ValueError):
    """Text with a character the label font cannot draw."""

    code = "glyph_missing"


@lru_cache(maxsize=64)
def font(size: int) -> ImageFont.FreeTypeFont:
    """Return the label font at ``size`` pixels (em height)."""
    return ImageFont.truetype(str(font_path()), size)


# A plane-15 private-use character: no font has it, so it shows what "missing" looks like.
_SURELY_MISSING: Final = "\U000f0000"


def _ink(char: str) -> bytes:
    canvas = Image.new("L", (48, 32), 0)
    ImageDraw.Draw(canvas).text((4, 2), char, font=font(24), fill=255)
    return canvas.tobytes()


@lru_cache(maxsize=8192)
def has_glyph(char: str) -> bool:
    """Return whether the font really draws ``char`` (whitespace counts as drawable).

    A missing character comes out either blank or as the font's "missing" box.
    """
    if char.isspace():
        return True
    ink = _ink(char)
    return any(ink) and ink != _ink(_SURELY_MISSING)


def drawable(text: str) -> str:
    """Return ``text`` with characters the font lacks replaced by their compatibility form.

    WenQuanYi Micro Hei has no "℃", for example, but NFKC turns it into "°C", which it has.
    Raises GlyphMissing when no such form exists, rather than printing a blank.
    """
    if all(has_glyph(c) for c in text):
        return text
    out = []
    for char in text:
        if has_glyph(char):
            out.append(char)
            continue
        substitute = unicodedata.normalize("NFKC", char)
        if substitute == char or not all(has_glyph(c) for c in substitute):
            raise GlyphMissing(f"the label font cannot draw {char!r} (U+{ord(char):04X})")
        out.append(substitute)
    return "".join(out)
