"""decode(): rendered labels photographed badly still read, and only valid codes count."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image

from labels.decode import Content, Symbology, classify, decode
from labels.identity import Kind, make_id
from labels.layouts import RECEIPT_80, Language, render
from labels.symbols import code128_bits, qr_bits
from tests.labels.label_support import label_id, sample_labels, zbar_texts

LABELS = sample_labels()
Gray = npt.NDArray[np.uint8]


def _photo(
    label_image: Image.Image,
    *,
    module_px: float = 2.2,
    module_dots: int = 3,
    angle: float = 0.0,
    blur: float = 0.0,
    span: float = 255.0,
    noise: float = 0.0,
) -> Gray:
    """Place a label in a 640 x 480 grey frame as a camera would see it."""
    scale = module_px / module_dots
    label: npt.NDArray[np.float64] = np.asarray(
        cv2.resize(
            np.asarray(label_image.convert("L"), dtype=np.float32),
            None,
            fx=scale,
            fy=scale,
            interpolation=cv2.INTER_AREA,
        ),
        dtype=np.float64,
    )
    h, w = label.shape
    rotation = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    rotation[:, 2] += np.array([320 - w / 2, 240 - h / 2])
    paper = np.asarray(cv2.warpAffine(np.ones_like(label), rotation, (640, 480)), np.float64)
    ink = np.asarray(cv2.warpAffine(label, rotation, (640, 480)), np.float64)
    frame: npt.NDArray[np.float64] = 160.0 * (1 - paper) + ink * paper
    if blur:
        frame = np.asarray(cv2.GaussianBlur(frame, (0, 0), blur), np.float64)
    frame = 128 - span / 2 + frame * span / 255
    if noise:
        frame += np.random.default_rng(3).normal(0, noise, frame.shape)
    return np.clip(frame, 0, 255).astype(np.uint8)


def _texts(frame: Gray | Image.Image, **options: object) -> list[str]:
    return [read.text for read in decode(frame, **options)]  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def box_label() -> Image.Image:
    return render(LABELS["box"], RECEIPT_80, Language.ZH)


def test_rotated_blurred_low_contrast_label_is_decoded(box_label: Image.Image) -> None:
    frame = _photo(box_label, angle=20, blur=1.2, span=50, noise=4)
    assert zbar_texts(frame) == []  # plain zbar gives up on this frame
    reads = decode(frame)
    assert [r.text for r in reads] == [label_id(LABELS["box"])]
    read = reads[0]
    assert read.symbology == Symbology.CODE128
    assert read.content == Content.HANDOFF_ID
    assert read.handoff_id is not None and read.handoff_id.kind == Kind.SPECIMEN_BOX


@pytest.mark.parametrize(
    "degradation",
    [
        {"angle": 20},
        {"angle": -35},
        {"angle": 180},
        {"angle": 90},
        {"blur": 1.6},
        {"span": 30},
        {"noise": 35},
        {"module_px": 1.3},
    ],
    ids=repr,
)
def test_each_degradation_alone(box_label: Image.Image, degradation: dict[str, float]) -> None:
    frame = _photo(box_label, **degradation)  # type: ignore[arg-type]
    assert _texts(frame) == [label_id(LABELS["box"])]


def test_bad_check_character_is_not_a_read() -> None:
    good = make_id(Kind.PACK, "4JWTR283")
    bad = good[:-1] + ("0" if good[-1] != "0" else "1")
    bars = code128_bits(bad, 3, 90)
    image = Image.fromarray(np.pad(~bars, 40, constant_values=True)).convert("L")
    assert zbar_texts(image) == [bad]  # the symbol itself is fine
    assert decode(image) == []
    # Not even a caller who accepts any other text gets a Handoff-like code with a bad check.
    assert decode(image, accept_other=lambda text: True) == []
    assert classify(bad) is None and classify(good) is not None


def test_other_codes_are_reads_only_when_the_caller_accepts_them() -> None:
    bars = code128_bits("LOT-2026-0042", 3, 90)
    image = Image.fromarray(np.pad(~bars, 40, constant_values=True)).convert("L")
    assert decode(image) == []
    reads = decode(image, accept_other=lambda text: text.startswith("LOT-"))
    assert [(r.text, r.content) for r in reads] == [("LOT-2026-0042", Content.OTHER)]


def test_gs1_128_data_is_parsed() -> None:
    text = "0109501101530003" + "17261231" + "10LOT42"
    bars = code128_bits(text, 3, 90)
    image = Image.fromarray(np.pad(~bars, 40, constant_values=True)).convert("L")
    reads = decode(image)
    assert len(reads) == 1 and reads[0].content == Content.GS1
    assert reads[0].gs1 is not None and reads[0].gs1.gtin == "09501101530003"


def test_qr_only_when_asked(box_label: Image.Image) -> None:
    ident = label_id(LABELS["badge"])
    symbol = Image.fromarray(~qr_bits(ident, 4)).convert("L")
    frame = Image.new("L", (640, 480), 150)
    frame.paste(symbol.rotate(30, expand=True, fillcolor=150), (200, 120))
    assert decode(frame) == []
    reads = decode(frame, symbologies=frozenset({Symbology.QRCODE, Symbology.CODE128}))
    assert [(r.symbology, r.text) for r in reads] == [(Symbology.QRCODE, ident)]


def test_colour_frames_and_empty_frames() -> None:
    label = render(LABELS["set"], RECEIPT_80)
    bgr = np.asarray(cv2.cvtColor(_photo(label, angle=10), cv2.COLOR_GRAY2BGR), np.uint8)
    assert _texts(bgr) == [label_id(LABELS["set"])]
    noise = np.random.default_rng(5).integers(0, 256, (480, 640), dtype=np.uint8)
    assert decode(noise) == []
    assert decode(np.full((480, 640), 200, dtype=np.uint8)) == []
    assert decode(np.zeros((4, 4), dtype=np.uint8)) == []
    with pytest.raises(TypeError, match="8-bit"):
        decode(np.zeros((10, 10), dtype=np.float32))


def test_two_labels_in_one_frame() -> None:
    frame = np.full((480, 640), 170, dtype=np.uint8)
    for row, key in ((60, "pack"), (300, "set")):
        bars = code128_bits(label_id(LABELS[key]), 2, 60)
        frame[row : row + 60, 60 : 60 + bars.shape[1]] = np.where(bars, 20, 250)
    assert sorted(_texts(frame)) == sorted([label_id(LABELS["pack"]), label_id(LABELS["set"])])
