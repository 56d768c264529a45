"""Label layouts: what each label says, how it is drawn, and that its barcode scans."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labels.fonts import FONT_PACKAGE, FontMissing, drawable, font_path
from labels.identity import ALPHABET, Kind, make_id
from labels.layouts import (
    A4_LABEL,
    A4_PAGE,
    RECEIPT_58,
    RECEIPT_80,
    BoxLabel,
    Label,
    LabelError,
    Language,
    LoadItem,
    LoadSheet,
    Media,
    PackLabel,
    SetTag,
    StaffBadge,
    compose,
    render,
)
from labels.symbols import code128_modules
from tests.labels.label_support import CHINA, label_id, sample_labels, zbar_texts

LABELS = sample_labels()


@pytest.mark.parametrize("language", list(Language))
@pytest.mark.parametrize("media", [RECEIPT_58, RECEIPT_80, A4_LABEL], ids=lambda m: m.name)
@pytest.mark.parametrize("kind", ["pack", "box", "set", "badge"])
def test_labels_render_to_the_medium_and_scan(kind: str, media: Media, language: Language) -> None:
    label = LABELS[kind]
    image = render(label, media, language, qr=True)
    assert image.mode == "1"
    assert image.width == media.width_dots
    if media.height_dots is not None:
        assert image.height == media.height_dots
    assert zbar_texts(image) == [label_id(label)]
    assert zbar_texts(image, qr=True).count(label_id(label)) == 2


def test_load_sheet_renders_on_rolls_and_a4_pages() -> None:
    sheet = LABELS["load"]
    assert isinstance(sheet, LoadSheet)
    for media in (RECEIPT_58, RECEIPT_80, A4_PAGE):
        assert zbar_texts(render(sheet, media)) == [sheet.load_id]
    packs = tuple(LoadItem(make_id(Kind.PACK, f"{n:08d}"), "换药包") for n in range(12))
    with pytest.raises(LabelError, match="but a a4-label cell has 701"):
        render(replace(sheet, packs=packs), A4_LABEL)


def test_pack_label_shows_every_required_field() -> None:
    doc = compose(LABELS["pack"], Language.ZH)
    fields = {f.caption: f.value for f in doc.fields}
    assert doc.title == "无菌物品包"
    assert fields == {
        "包名": "腹部手术包",
        "包号": label_id(LABELS["pack"]),
        "包装者": "张敏",
        "灭菌器": "1号脉动真空灭菌器",
        "锅次": "20261122-03",
        "灭菌日期": "2026-11-22",
        "失效日期": "2027-05-21",
        "包装材料": "无纺布",
        "发往": "城关镇卫生院",
    }
    assert doc.code == label_id(LABELS["pack"])


def test_box_label_shows_every_required_field_in_english() -> None:
    doc = compose(LABELS["box"], Language.EN)
    fields = {f.caption: f.value for f in doc.fields}
    assert doc.title == "SPECIMEN BOX"
    assert fields == {
        "Box": label_id(LABELS["box"]),
        "From": "城关镇卫生院",
        "To": "区域检验中心",
        "Temp.": "Chilled 2-8 °C",
        "Seal": "S0012345",
        "Sealed": "2026-11-22 09:30",
        "Count": "12",
    }


def test_load_sheet_lists_its_packs() -> None:
    doc = compose(LABELS["load"], Language.ZH)
    assert doc.heading == ("序", "包号", "包名")
    assert [row[2] for row in doc.table] == ["换药包", "缝合包"]
    assert ("包数", "2") in {(f.caption, f.value) for f in doc.fields}


def _bar_runs(image_row: np.ndarray) -> list[int]:
    edges = np.flatnonzero(np.diff(image_row.astype(np.int8))) + 1
    runs = np.diff(np.concatenate([[0], edges, [len(image_row)]]))
    return [int(r) for r in runs]


@pytest.mark.parametrize(("media", "module"), [(RECEIPT_58, 2), (RECEIPT_80, 3), (A4_LABEL, 5)])
def test_every_module_is_a_whole_number_of_dots(media: Media, module: int) -> None:
    label = LABELS["set"]
    black = np.asarray(render(label, media).convert("L")) < 128
    modules = code128_modules(label_id(label))
    # The barcode row is the one whose black runs match the symbol exactly.
    expected = [len(run) * module for run in _runs_of(modules)]
    found = False
    for row in black:
        runs = _bar_runs(row)
        if len(runs) >= len(expected) and runs[1 : 1 + len(expected)] == expected:
            found = True
            break
    assert found


def _runs_of(modules: str) -> list[str]:
    runs: list[str] = []
    for char in modules:
        if runs and runs[-1][-1] == char:
            runs[-1] += char
        else:
            runs.append(char)
    return runs


def test_label_data_is_validated() -> None:
    pack = LABELS["pack"]
    assert isinstance(pack, PackLabel)
    with pytest.raises(LabelError, match=r"pack ID: .* is a specimen box, expected a pack"):
        replace(pack, pack_id=make_id(Kind.SPECIMEN_BOX, "12345678"))
    bad_check = pack.pack_id[:-1] + ("0" if pack.pack_id[-1] != "0" else "1")
    with pytest.raises(LabelError, match="check character is wrong"):
        replace(pack, pack_id=bad_check)
    with pytest.raises(LabelError, match="expiry 2026-11-22 must be after"):
        replace(pack, expires_on=date(2026, 11, 22))
    with pytest.raises(LabelError, match="packer must not be empty"):
        replace(pack, packer="  ")
    with pytest.raises(LabelError, match="control characters"):
        replace(pack, destination="城关\n卫生院")
    box = LABELS["box"]
    assert isinstance(box, BoxLabel)
    with pytest.raises(LabelError, match="must not be negative"):
        replace(box, count=-1)
    with pytest.raises(LabelError, match="listed twice"):
        item = LoadItem(make_id(Kind.PACK, "0MH0ZXCN"), "换药包")
        LoadSheet(make_id(Kind.CYCLE, "7JZ3XA00"), "s", "p", datetime.now(CHINA), "o", (item, item))
    with pytest.raises(LabelError, match="instrument count must be positive"):
        SetTag(make_id(Kind.INSTRUMENT_SET, "3F0XVCDK"), "包", "院", 0)


def test_text_the_font_lacks_is_substituted_or_refused() -> None:
    assert drawable("134℃") == "134°C"
    badge = LABELS["badge"]
    assert isinstance(badge, StaffBadge)
    with pytest.raises(LabelError, match="cannot draw '🙂'"):
        render(replace(badge, name="王芳🙂"), RECEIPT_80)


def test_missing_font_names_the_debian_package(monkeypatch: pytest.MonkeyPatch) -> None:
    assert font_path().is_file()
    monkeypatch.setenv("HANDOFF_LABEL_FONT", "/nonexistent/font.ttc")
    with pytest.raises(FontMissing, match="is not a font file"):
        font_path()
    monkeypatch.delenv("HANDOFF_LABEL_FONT")
    monkeypatch.setattr("labels.fonts.FONT_PATH", Path("/nonexistent.ttc"))
    with pytest.raises(FontMissing, match=FONT_PACKAGE):
        font_path()


_LABEL_KINDS = [Kind.PACK, Kind.SPECIMEN_BOX, Kind.INSTRUMENT_SET, Kind.PERSON, Kind.CYCLE]


def _label_for(ident: str, kind: Kind) -> Label:
    pack, box = LABELS["pack"], LABELS["box"]
    assert isinstance(pack, PackLabel) and isinstance(box, BoxLabel)
    if kind == Kind.PACK:
        return replace(pack, pack_id=ident)
    if kind == Kind.SPECIMEN_BOX:
        return replace(box, box_id=ident)
    if kind == Kind.INSTRUMENT_SET:
        return SetTag(ident, "口腔器械包", "城关镇卫生院")
    if kind == Kind.PERSON:
        return StaffBadge(ident, "王芳", "物流专员", "县人民医院")
    return LoadSheet(ident, "1号灭菌器", "134 °C", datetime(2026, 11, 22, 10, tzinfo=CHINA), "李强")


@settings(max_examples=25, deadline=None)
@given(
    kind=st.sampled_from(_LABEL_KINDS),
    body=st.text(alphabet=ALPHABET, min_size=8, max_size=8),
    language=st.sampled_from(list(Language)),
)
def test_any_valid_id_renders_at_both_widths_and_scans_back(
    kind: Kind, body: str, language: Language
) -> None:
    ident = make_id(kind, body)
    label = _label_for(ident, kind)
    for media in (RECEIPT_58, RECEIPT_80):
        assert zbar_texts(render(label, media, language)) == [ident]
