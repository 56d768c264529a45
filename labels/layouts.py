"""What each label shows, and how it is drawn for a given medium.

A label is a frozen dataclass of its facts (PackLabel, BoxLabel, SetTag, StaffBadge, LoadSheet,
CycleCard).
``compose`` turns it into a LabelDoc (title, captioned fields, table, barcode data) in Chinese or
English; ``render`` draws that document as a 1-bit image at the medium's dot pitch, and the
ESC/POS native route prints the same document with the printer's own text and symbols.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from PIL import Image, ImageDraw, ImageFont

from labels.fonts import GlyphMissing, drawable, font
from labels.identity import Kind, parse_id
from labels.symbols import BoolArray, bits_to_image, code128_bits, code128_module_dots, qr_bits

__all__ = [
    "A4_LABEL",
    "A4_PAGE",
    "MEDIA",
    "RECEIPT_58",
    "RECEIPT_80",
    "BoxLabel",
    "CycleCard",
    "Field",
    "Label",
    "LabelDoc",
    "LabelError",
    "Language",
    "LoadItem",
    "LoadSheet",
    "Media",
    "PackLabel",
    "SetTag",
    "StaffBadge",
    "compose",
    "render",
    "render_doc",
]


class Language(StrEnum):
    """Language of captions and titles; Chinese is the default."""

    ZH = "zh"
    EN = "en"


@dataclass(frozen=True, slots=True)
class Media:
    """A printable area: width in dots at ``dpi``; ``height_dots`` is set for fixed-size labels."""

    name: str
    width_dots: int
    dpi: int
    margin_dots: int
    height_dots: int | None = None
    text_mm: float = 3.0
    title_mm: float = 4.2
    bar_height_mm: float = 10.0

    def dots(self, mm: float) -> int:
        """Convert millimetres to whole dots at this medium's resolution."""
        return max(1, round(mm * self.dpi / 25.4))

    @property
    def printable_width(self) -> int:
        return self.width_dots - 2 * self.margin_dots


# Thermal heads print 48 mm of a 58 mm roll and 72 mm of an 80 mm roll at 8 dots/mm.
RECEIPT_58: Final = Media("58mm", 384, 203, margin_dots=8)
RECEIPT_80: Final = Media("80mm", 576, 203, margin_dots=12)
# One cell of an A4 sheet of 2 × 5 labels (105 × 59.4 mm), drawn at 300 dpi for office printers.
A4_LABEL: Final = Media(
    "a4-label",
    1240,
    300,
    margin_dots=47,
    height_dots=701,
    text_mm=2.5,
    title_mm=3.5,
    bar_height_mm=8,
)
# A whole A4 page (for load sheets), 10 mm margins; pdf.py splits it into pages.
A4_PAGE: Final = Media("a4-page", 2480, 300, margin_dots=118)
MEDIA: Final[Mapping[str, Media]] = MappingProxyType(
    {m.name: m for m in (RECEIPT_58, RECEIPT_80, A4_LABEL, A4_PAGE)}
)


class LabelError(ValueError):
    """Label data that cannot be printed, with a reason a person can act on."""

    code = "label_error"


def _check_id(value: str, kind: Kind, what: str) -> None:
    # InvalidId is a ValueError with a readable reason; it is re-raised as a LabelError so
    # callers catch one exception type for bad label data.
    try:
        parse_id(value, kind)
    except ValueError as error:
        raise LabelError(f"{what}: {error}") from None


def _check_text(value: str, what: str, *, required: bool = True) -> None:
    if required and not value.strip():
        raise LabelError(f"{what} must not be empty")
    if any(ord(c) < 32 for c in value):
        raise LabelError(f"{what} must not contain control characters")


@dataclass(frozen=True, slots=True)
class PackLabel:
    """A sterile pack (one processing cycle of an instrument set)."""

    pack_id: str
    set_name: str
    packer: str
    sterilizer: str
    load_number: str
    sterilized_on: date
    expires_on: date
    destination: str
    packaging: str = ""

    def __post_init__(self) -> None:
        _check_id(self.pack_id, Kind.PACK, "pack ID")
        for name in ("set_name", "packer", "sterilizer", "load_number", "destination"):
            _check_text(getattr(self, name), name.replace("_", " "))
        _check_text(self.packaging, "packaging", required=False)
        if self.expires_on <= self.sterilized_on:
            raise LabelError(
                f"expiry {self.expires_on} must be after sterilization {self.sterilized_on}"
            )


@dataclass(frozen=True, slots=True)
class BoxLabel:
    """A sealed specimen transport box."""

    box_id: str
    origin: str
    destination: str
    temperature_class: str
    seal_number: str
    sealed_at: datetime
    count: int

    def __post_init__(self) -> None:
        _check_id(self.box_id, Kind.SPECIMEN_BOX, "box ID")
        for name in ("origin", "destination", "temperature_class", "seal_number"):
            _check_text(getattr(self, name), name.replace("_", " "))
        if self.count < 0:
            raise LabelError(f"specimen count must not be negative, got {self.count}")


@dataclass(frozen=True, slots=True)
class SetTag:
    """A durable tag for a reusable instrument set (tray)."""

    set_id: str
    set_name: str
    owner: str
    instrument_count: int | None = None

    def __post_init__(self) -> None:
        _check_id(self.set_id, Kind.INSTRUMENT_SET, "set ID")
        _check_text(self.set_name, "set name")
        _check_text(self.owner, "owner")
        if self.instrument_count is not None and self.instrument_count < 1:
            raise LabelError(f"instrument count must be positive, got {self.instrument_count}")


@dataclass(frozen=True, slots=True)
class StaffBadge:
    """A person's badge; couriers scan it before each handoff."""

    badge_id: str
    name: str
    role: str
    site: str

    def __post_init__(self) -> None:
        _check_id(self.badge_id, Kind.PERSON, "badge ID")
        for name in ("name", "role", "site"):
            _check_text(getattr(self, name), name)


@dataclass(frozen=True, slots=True)
class LoadItem:
    """One pack in a sterilizer load."""

    pack_id: str
    set_name: str

    def __post_init__(self) -> None:
        _check_id(self.pack_id, Kind.PACK, "pack ID in load")
        _check_text(self.set_name, "set name in load")


@dataclass(frozen=True, slots=True)
class LoadSheet:
    """The sheet that travels with a sterilizer load: the cycle and every pack in it."""

    load_id: str
    sterilizer: str
    program: str
    started_at: datetime
    operator: str
    packs: tuple[LoadItem, ...] = ()

    def __post_init__(self) -> None:
        _check_id(self.load_id, Kind.CYCLE, "load ID")
        for name in ("sterilizer", "program", "operator"):
            _check_text(getattr(self, name), name)
        seen: set[str] = set()
        for item in self.packs:
            if item.pack_id in seen:
                raise LabelError(f"pack {item.pack_id} is listed twice in load {self.load_id}")
            seen.add(item.pack_id)


@dataclass(frozen=True, slots=True)
class CycleCard:
    """The card of a washer cycle or sterilizer load just opened, scanned at its later steps
    (washed; start, unload, release)."""

    cycle_id: str
    number: str
    wash: bool  # a washer cycle; else a sterilizer load
    machine: str
    program: str
    opened_at: datetime
    operator: str

    def __post_init__(self) -> None:
        _check_id(self.cycle_id, Kind.CYCLE, "cycle ID")
        for name in ("number", "machine", "program", "operator"):
            _check_text(getattr(self, name), name)


Label = PackLabel | BoxLabel | SetTag | StaffBadge | LoadSheet | CycleCard


@dataclass(frozen=True, slots=True)
class Field:
    """One captioned line of a label."""

    caption: str
    value: str


@dataclass(frozen=True, slots=True)
class LabelDoc:
    """A label as text and symbols, independent of the medium it is printed on."""

    title: str
    fields: tuple[Field, ...]
    code: str
    table: tuple[tuple[str, ...], ...] = field(default=())
    heading: tuple[str, ...] = field(default=())


_CAPTIONS: Final[Mapping[Language, Mapping[str, str]]] = MappingProxyType(
    {
        Language.ZH: MappingProxyType(
            {
                "pack.title": "无菌物品包",
                "set": "包名",
                "pack": "包号",
                "packer": "包装者",
                "sterilizer": "灭菌器",
                "load": "锅次",
                "sterilized": "灭菌日期",
                "expires": "失效日期",
                "packaging": "包装材料",
                "destination": "发往",
                "box.title": "标本转运箱",
                "box": "箱号",
                "origin": "发出机构",
                "to": "送达中心",
                "temperature": "温度要求",
                "seal": "封条号",
                "sealed": "封箱时间",
                "count": "标本数量",
                "set.title": "器械包标识",
                "set_id": "器械包号",
                "owner": "所属机构",
                "instruments": "器械件数",
                "badge.title": "工作证",
                "name": "姓名",
                "role": "岗位",
                "site": "单位",
                "badge": "工号",
                "load.title": "灭菌装载单",
                "load_id": "装载号",
                "program": "程序",
                "started": "开始时间",
                "operator": "操作员",
                "packs": "包数",
                "col.no": "序",
                "col.pack": "包号",
                "col.set": "包名",
                "wash.title": "清洗批次卡",
                "loadcard.title": "灭菌锅次卡",
                "number": "批次号",
                "machine": "设备",
            }
        ),
        Language.EN: MappingProxyType(
            {
                "pack.title": "STERILE PACK",
                "set": "Set",
                "pack": "Pack",
                "packer": "Packer",
                "sterilizer": "Sterilizer",
                "load": "Load",
                "sterilized": "Sterilized",
                "expires": "Expires",
                "packaging": "Wrap",
                "destination": "To",
                "box.title": "SPECIMEN BOX",
                "box": "Box",
                "origin": "From",
                "to": "To",
                "temperature": "Temp.",
                "seal": "Seal",
                "sealed": "Sealed",
                "count": "Count",
                "set.title": "INSTRUMENT SET",
                "set_id": "Set ID",
                "owner": "Owner",
                "instruments": "Items",
                "badge.title": "STAFF BADGE",
                "name": "Name",
                "role": "Role",
                "site": "Site",
                "badge": "Badge",
                "load.title": "STERILIZER LOAD",
                "load_id": "Load",
                "program": "Program",
                "started": "Started",
                "operator": "Operator",
                "packs": "Packs",
                "col.no": "#",
                "col.pack": "Pack",
                "col.set": "Set",
                "wash.title": "WASH CYCLE CARD",
                "loadcard.title": "STERILIZER LOAD CARD",
                "number": "Number",
                "machine": "Machine",
            }
        ),
    }
)

# Common temperature classes get their wording; anything else is printed as given.
_TEMPERATURES: Final[Mapping[str, tuple[str, str]]] = MappingProxyType(
    {
        "ambient": ("常温", "Ambient"),
        "2-8C": ("冷藏 2-8 °C", "Chilled 2-8 °C"),
        "frozen": ("冷冻 ≤ -20 °C", "Frozen ≤ -20 °C"),
    }
)


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M")


def compose(label: Label, language: Language = Language.ZH) -> LabelDoc:
    """Return the text and barcode data of ``label`` in ``language``."""
    c = _CAPTIONS[Language(language)]

    def row(key: str, value: object) -> Field:
        return Field(c[key], str(value))

    match label:
        case PackLabel():
            fields = [
                row("set", label.set_name),
                row("pack", label.pack_id),
                row("packer", label.packer),
                row("sterilizer", label.sterilizer),
                row("load", label.load_number),
                row("sterilized", label.sterilized_on.isoformat()),
                row("expires", label.expires_on.isoformat()),
            ]
            if label.packaging:
                fields.append(row("packaging", label.packaging))
            fields.append(row("destination", label.destination))
            return LabelDoc(c["pack.title"], tuple(fields), label.pack_id)
        case BoxLabel():
            zh, en = _TEMPERATURES.get(label.temperature_class, (label.temperature_class,) * 2)
            temperature = zh if language == Language.ZH else en
            fields = [
                row("box", label.box_id),
                row("origin", label.origin),
                row("to", label.destination),
                row("temperature", temperature),
                row("seal", label.seal_number),
                row("sealed", _stamp(label.sealed_at)),
                row("count", label.count),
            ]
            return LabelDoc(c["box.title"], tuple(fields), label.box_id)
        case SetTag():
            fields = [row("set", label.set_name), row("set_id", label.set_id)]
            fields.append(row("owner", label.owner))
            if label.instrument_count is not None:
                fields.append(row("instruments", label.instrument_count))
            return LabelDoc(c["set.title"], tuple(fields), label.set_id)
        case StaffBadge():
            fields = [
                row("name", label.name),
                row("role", label.role),
                row("site", label.site),
                row("badge", label.badge_id),
            ]
            return LabelDoc(c["badge.title"], tuple(fields), label.badge_id)
        case LoadSheet():
            fields = [
                row("load_id", label.load_id),
                row("sterilizer", label.sterilizer),
                row("program", label.program),
                row("started", _stamp(label.started_at)),
                row("operator", label.operator),
                row("packs", len(label.packs)),
            ]
            table = tuple(
                (str(n), item.pack_id, item.set_name) for n, item in enumerate(label.packs, 1)
            )
            heading = (c["col.no"], c["col.pack"], c["col.set"])
            return LabelDoc(c["load.title"], tuple(fields), label.load_id, table, heading)
        case CycleCard():
            fields = [
                row("number", label.number),
                row("machine", label.machine),
                row("program", label.program),
                row("started", _stamp(label.opened_at)),
                row("operator", label.operator),
            ]
            title = c["wash.title"] if label.wash else c["loadcard.title"]
            return LabelDoc(title, tuple(fields), label.cycle_id)
    raise TypeError(f"not a label: {type(label).__name__}")


# Sizes in millimetres, so that a label looks alike at 203 and at 300 dpi.
_MODULE_MAX_MM: Final = 0.4
_QR_MODULE_MM: Final = 0.5
_GAP_MM: Final = 0.8


class _Canvas:
    """A growing 1-bit drawing surface; y advances as blocks are added."""

    def __init__(self, media: Media) -> None:
        self.media = media
        self.image = Image.new("1", (media.width_dots, media.height_dots or 1024), 1)
        self.draw = self._drawer()
        self.y = media.margin_dots
        self.left = media.margin_dots
        self.right = media.width_dots - media.margin_dots

    def _drawer(self) -> ImageDraw.ImageDraw:
        draw = ImageDraw.Draw(self.image)
        draw.fontmode = "1"  # no anti-aliasing: thermal dots are on or off
        return draw

    def ensure(self, rows: int) -> None:
        """Grow a continuous canvas so that ``rows`` more rows fit below y."""
        needed = self.y + rows + self.media.margin_dots
        if self.media.height_dots is not None or needed <= self.image.height:
            return
        grown = Image.new("1", (self.media.width_dots, max(needed, self.image.height * 2)), 1)
        grown.paste(self.image, (0, 0))
        self.image = grown
        self.draw = self._drawer()

    def text(self, x: int, text: str, face: ImageFont.FreeTypeFont, *, bold: bool = False) -> None:
        self.ensure(_line_height(face))
        self.draw.text((x, self.y), text, font=face, fill=0)
        if bold:
            self.draw.text((x + 1, self.y), text, font=face, fill=0)

    def rule(self) -> None:
        self.ensure(2)
        self.draw.line((self.left, self.y, self.right, self.y), fill=0, width=2)

    def paste(self, bits: BoolArray, x: int) -> None:
        self.ensure(bits.shape[0])
        self.image.paste(bits_to_image(bits), (x, self.y))

    def finish(self) -> Image.Image:
        bottom = self.y + self.media.margin_dots
        if self.media.height_dots is not None:
            if self.y > self.media.height_dots - self.media.margin_dots:
                raise LabelError(
                    f"the label needs {self.y + self.media.margin_dots} dots but a "
                    f"{self.media.name} cell has {self.media.height_dots}; shorten the text or "
                    "print on a roll"
                )
            return self.image
        return self.image.crop((0, 0, self.media.width_dots, bottom))


def _wrap(text: str, face: ImageFont.FreeTypeFont, width: int) -> list[str]:
    """Break ``text`` into lines no wider than ``width``: at spaces when possible, else anywhere."""
    lines: list[str] = []
    current = ""
    for char in text:
        candidate = current + char
        if current and face.getlength(candidate) > width:
            cut = current.rfind(" ")
            if cut > 0 and char != " ":
                lines.append(current[:cut])
                current = current[cut + 1 :] + char
            else:
                lines.append(current.rstrip())
                current = char.lstrip()
        else:
            current = candidate
    if current or not lines:
        lines.append(current)
    return lines


def _line_height(face: ImageFont.FreeTypeFont) -> int:
    ascent, descent = face.getmetrics()
    return int(ascent + descent)


def _captioned(caption: str) -> str:
    return caption + (": " if caption.isascii() else "：")


def _draw_fields(canvas: _Canvas, fields: Sequence[Field], width: int) -> None:
    media = canvas.media
    face = font(media.dots(media.text_mm))
    step = _line_height(face) + media.dots(_GAP_MM) // 2
    caption_width = max(int(face.getlength(_captioned(f.caption))) for f in fields)
    stacked = caption_width > width * 0.45
    for item in fields:
        if stacked:
            canvas.text(canvas.left, item.caption, face, bold=True)
            canvas.y += step
            indent = canvas.left + media.dots(3)
            for line in _wrap(item.value, face, width - (indent - canvas.left)):
                canvas.text(indent, line, face)
                canvas.y += step
            continue
        canvas.text(canvas.left, _captioned(item.caption), face, bold=True)
        x = canvas.left + caption_width
        for line in _wrap(item.value, face, width - caption_width):
            canvas.text(x, line, face)
            canvas.y += step


def _draw_table(canvas: _Canvas, heading: Sequence[str], table: Sequence[Sequence[str]]) -> None:
    media = canvas.media
    face = font(media.dots(media.text_mm))
    step = _line_height(face) + media.dots(_GAP_MM) // 2
    width = canvas.right - canvas.left
    number_width = int(face.getlength(str(max(len(table), 1)) + "  "))
    id_width = int(face.getlength("W" * 11 + "  "))
    columns = (canvas.left, canvas.left + number_width, canvas.left + number_width + id_width)
    canvas.rule()
    canvas.y += media.dots(_GAP_MM)
    for index, cells in enumerate((tuple(heading), *table)):
        names = _wrap(cells[2], face, width - (columns[2] - canvas.left))
        for x, cell in zip(columns[:2], cells[:2], strict=True):
            canvas.text(x, cell, face, bold=index == 0)
        for line in names:
            canvas.text(columns[2], line, face, bold=index == 0)
            canvas.y += step


def _drawable_doc(doc: LabelDoc) -> LabelDoc:
    try:
        return LabelDoc(
            title=drawable(doc.title),
            fields=tuple(Field(drawable(f.caption), drawable(f.value)) for f in doc.fields),
            code=doc.code,
            table=tuple(tuple(drawable(cell) for cell in row) for row in doc.table),
            heading=tuple(drawable(cell) for cell in doc.heading),
        )
    except GlyphMissing as error:
        raise LabelError(str(error)) from None


def render_doc(doc: LabelDoc, media: Media, *, qr: bool = False) -> Image.Image:
    """Draw ``doc`` as a 1-bit image exactly ``media.width_dots`` wide."""
    doc = _drawable_doc(doc)
    canvas = _Canvas(media)
    width = canvas.right - canvas.left
    title_face = font(media.dots(media.title_mm))
    for line in _wrap(doc.title, title_face, width):
        x = canvas.left + (width - int(title_face.getlength(line))) // 2
        canvas.text(x, line, title_face, bold=True)
        canvas.y += _line_height(title_face)
    canvas.y += media.dots(_GAP_MM)
    canvas.rule()
    canvas.y += media.dots(_GAP_MM) * 2

    qr_symbol = None
    if qr:
        qr_symbol = qr_bits(doc.code, media.dots(_QR_MODULE_MM), quiet_modules=2)
    side_qr = qr_symbol is not None and qr_symbol.shape[1] <= width * 0.2
    fields_top = canvas.y
    field_width = width - (qr_symbol.shape[1] if side_qr and qr_symbol is not None else 0)
    _draw_fields(canvas, doc.fields, field_width)
    if side_qr and qr_symbol is not None:
        bottom = canvas.y
        canvas.y = fields_top
        canvas.paste(qr_symbol, canvas.right - qr_symbol.shape[1])
        canvas.y = max(bottom, fields_top + qr_symbol.shape[0])

    canvas.y += media.dots(_GAP_MM) * 2
    module = code128_module_dots(
        doc.code, width, max_dots=max(1, round(_MODULE_MAX_MM * media.dpi / 25.4))
    )
    bars = code128_bits(doc.code, module, media.dots(media.bar_height_mm))
    canvas.paste(bars, canvas.left + (width - bars.shape[1]) // 2)
    canvas.y += bars.shape[0] + media.dots(_GAP_MM) // 2
    hri_face = font(media.dots(media.text_mm))
    canvas.text(canvas.left + (width - int(hri_face.getlength(doc.code))) // 2, doc.code, hri_face)
    canvas.y += _line_height(hri_face)

    if qr_symbol is not None and not side_qr:
        canvas.y += media.dots(_GAP_MM)
        canvas.paste(qr_symbol, canvas.left + (width - qr_symbol.shape[1]) // 2)
        canvas.y += qr_symbol.shape[0]
    if doc.table or doc.heading:
        canvas.y += media.dots(_GAP_MM) * 2
        _draw_table(canvas, doc.heading, doc.table)
    return canvas.finish()


def render(
    label: Label, media: Media, language: Language = Language.ZH, *, qr: bool = False
) -> Image.Image:
    """Draw ``label`` for ``media`` in ``language``; a pure function of its arguments."""
    return render_doc(compose(label, language), media, qr=qr)
